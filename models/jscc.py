"""Deep JSCC image codecs: convolutional encoder/decoder with PReLU, optional GDN/IGDN and the
SNR-adaptive attention-feature (AF) modules of ADJSCC.

* Deep JSCC: Bourtsoulatze, Burth Kurka, Gündüz, "Deep joint source-channel coding for
  wireless image transmission", IEEE TCCN 2019 (Fig. 2: five 5x5 convolutions, two of stride 2,
  PReLU; the decoder mirrors it with transposed convolutions and ends in a sigmoid).
* ADJSCC: Xu, Ai, Chen, Yang, Sun, Rodrigues, "Wireless image transmission using deep source
  channel coding with attention modules", IEEE TCSVT 2021 (seed 003, ref. [17]): GDN after each
  convolution and an AF module after each layer, which rescales the C feature maps by
  ``a = sigmoid(W2 relu(W1 [mean_hw(F); snr]))`` so one model serves a range of SNRs.

Shapes and the channel bandwidth ratio (CBR). An image ``s`` (B, C, H, W) with H and W divisible
by 4 maps to ``c`` latent feature maps of (H/4, W/4), flattened channel-major to a real latent
``x`` (B, 2k) with::

    2k = c * (H/4) * (W/4),        CBR = k / (C H W)

so CBR = c / (32 C): for 3x32x32 images c = 16 gives k = 512 (CBR 1/6) and c = 8 gives k = 256
(CBR 1/12). The networks are fully convolutional: one model codes any H, W divisible by 4 at
the same CBR. The encoder output is *not* power normalized: the channel side does that
(:func:`semradio.dsp.channel.normalize_power`, first half real, second half imaginary).
The decoder maps a real (B, 2k) vector (the equalized channel output) back to (B, C, H, W)
images in [0, 1].
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from .gdn import GDN

#: Name of the architecture stored in checkpoint configs.
ARCHITECTURE = "deep_jscc"
#: SNR scale of the AF context: the modules see ``snr_db / SNR_SCALE_DB``.
SNR_SCALE_DB = 10.0


def latent_channels_for(cbr: float, in_channels: int = 3) -> int:
    """Latent feature maps ``c`` giving ``cbr`` (``CBR = c / (32 C)``); ValueError if not whole."""
    c = cbr * 32 * in_channels
    if c < 1 or abs(c - round(c)) > 1e-6:
        raise ValueError(f"CBR {cbr:g} with {in_channels} image channels needs c = 32*C*CBR = {c:g} latent "
                         f"feature maps; choose a CBR that makes it a positive integer (e.g. 1/6, 1/12)")
    return int(round(c))


def cbr_of(k: int, image_shape: Sequence[int]) -> float:
    """``CBR = k / (C H W)`` for complex channel uses ``k`` and an image shape (C, H, W)."""
    c, h, w = (int(s) for s in image_shape[-3:])
    return k / float(c * h * w)


def _snr_tensor(snr_db: Any, batch: int, like: torch.Tensor) -> torch.Tensor:
    """SNR in dB as a (B,) float tensor on ``like``'s device (a scalar is broadcast)."""
    t = torch.as_tensor(snr_db, dtype=torch.float32, device=like.device)
    if t.ndim == 0:
        t = t.expand(batch)
    t = t.reshape(-1)
    if t.shape[0] != batch:
        raise ValueError(f"snr_db has {t.shape[0]} entries for a batch of {batch}")
    return t


class AttentionFeature(nn.Module):
    """ADJSCC attention-feature module: channel-wise scaling conditioned on the SNR.

    ``a = sigmoid(W2 relu(W1 [mean_hw(F); snr_db / 10]))`` (C,) per item, output ``a * F``.
    F: (B, C, H, W); snr_db: (B,) tensor in dB.
    """

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or max(16, channels // 2)
        self.fc1 = nn.Linear(channels + 1, hidden)
        self.fc2 = nn.Linear(hidden, channels)
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> torch.Tensor:
        ctx = torch.cat([x.mean(dim=(2, 3)), (snr_db / SNR_SCALE_DB).unsqueeze(1).to(x.dtype)], dim=1)
        a = torch.sigmoid(self.fc2(self.act(self.fc1(ctx))))
        return x * a[:, :, None, None]


class _Stage(nn.Module):
    """conv -> [GDN/IGDN] -> PReLU -> [AF]  (the last stage of an encoder has no activation)."""

    def __init__(self, conv: nn.Module, out_ch: int, gdn: bool, inverse: bool, activation: bool,
                 af: bool) -> None:
        super().__init__()
        self.conv = conv
        self.norm = GDN(out_ch, inverse=inverse) if gdn and activation else None
        self.act = nn.PReLU(out_ch) if activation else None
        self.af = AttentionFeature(out_ch) if af and activation else None

    def forward(self, x: torch.Tensor, snr_db: torch.Tensor | None) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        if self.act is not None:
            x = self.act(x)
        if self.af is not None:
            x = self.af(x, snr_db)
        return x


class DeepJSCCEncoder(nn.Module):
    """Image (B, C, H, W) in [0, 1] -> real latent (B, 2k), 2k = c (H/4)(W/4).

    Layers: 5x5 conv stride 2 (``channels[0]``), 5x5 conv stride 2 (``channels[1]``),
    ``middle`` 5x5 convs stride 1 (``channels[1]``), then a linear 5x5 conv to ``c`` maps.
    """

    def __init__(self, in_channels: int, latent_channels: int, channels: Sequence[int], middle: int,
                 gdn: bool, snr_adaptive: bool) -> None:
        super().__init__()
        c1, c2 = channels
        convs = [(in_channels, c1, 2), (c1, c2, 2)] + [(c2, c2, 1)] * middle
        self.stages = nn.ModuleList(
            _Stage(nn.Conv2d(a, b, 5, s, 2), b, gdn, False, True, snr_adaptive) for a, b, s in convs)
        self.out = nn.Conv2d(c2, latent_channels, 5, 1, 2)
        self.snr_adaptive = snr_adaptive

    def forward(self, images: torch.Tensor, snr_db: torch.Tensor | None = None) -> torch.Tensor:
        x = images - 0.5
        for stage in self.stages:
            x = stage(x, snr_db)
        return self.out(x).flatten(1)


#: Decoder output layers (:func:`output_layer`).
OUTPUTS = ("sigmoid", "clamp")


def output_layer(t: torch.Tensor, kind: str = "sigmoid") -> torch.Tensor:
    """Map the decoder's last feature map to [0, 1].

    ``"sigmoid"``: ``1 / (1 + e^-t)`` (Deep JSCC). ``"clamp"``: ``clamp(t + 1/2, 0, 1)`` in the
    forward pass with an identity gradient (straight-through). For mostly-black images (MNIST)
    a sigmoid output under MSE keeps pushing background pixels towards 0 until it saturates and
    the gradient of every pixel vanishes (the decoder then outputs a black image); the clamp
    stops pushing once a pixel reaches 0 and never blocks the gradient.
    """
    if kind == "sigmoid":
        return torch.sigmoid(t)
    if kind == "clamp":
        u = t + 0.5
        return u + (u.clamp(0.0, 1.0) - u).detach()
    raise ValueError(f"unknown decoder output {kind!r}; expected one of {OUTPUTS}")


class DeepJSCCDecoder(nn.Module):
    """Real latent (B, 2k) -> images (B, C, H, W) in [0, 1] (:func:`output_layer`).

    Mirror of :class:`DeepJSCCEncoder` with transposed convolutions (IGDN instead of GDN).
    """

    def __init__(self, out_channels: int, latent_channels: int, channels: Sequence[int], middle: int,
                 gdn: bool, snr_adaptive: bool, output: str = "sigmoid") -> None:
        super().__init__()
        c1, c2 = channels
        self.latent_channels = latent_channels
        self.output = output
        layers = [(latent_channels, c2, 1, 0)] + [(c2, c2, 1, 0)] * middle + [(c2, c1, 2, 1)]
        self.stages = nn.ModuleList(
            _Stage(nn.ConvTranspose2d(a, b, 5, s, 2, output_padding=op), b, gdn, True, True, snr_adaptive)
            for a, b, s, op in layers)
        self.out = nn.ConvTranspose2d(c1, out_channels, 5, 2, 2, output_padding=1)

    def forward(self, latent: torch.Tensor, spatial: tuple[int, int], snr_db: torch.Tensor | None = None) -> torch.Tensor:
        x = latent.reshape(latent.shape[0], self.latent_channels, spatial[0], spatial[1])
        for stage in self.stages:
            x = stage(x, snr_db)
        return output_layer(self.out(x), self.output)


class DeepJSCC(nn.Module):
    """A Deep JSCC / ADJSCC codec: :meth:`encode` images -> real latents, :meth:`decode` back.

    Args:
        in_channels: image channels C (3 colour, 1 grey).
        image_size: (H, W) the codec was built for (used to reshape latents when decoding;
            any H, W divisible by 4 works).
        latent_channels: c; CBR = c / (32 C) (see :func:`latent_channels_for`).
        channels: widths of the two stride-2 stages (the second also of the middle layers).
        middle: number of stride-1 5x5 layers between (Deep JSCC: 2).
        gdn: GDN/IGDN after each convolution (ADJSCC) instead of plain PReLU stacks.
        snr_adaptive: AF modules conditioned on ``snr_db`` (ADJSCC); encode/decode then need it.
        output: decoder output layer, "sigmoid" (Deep JSCC) or "clamp" (straight-through
            clamp, for mostly-black images such as MNIST; see :func:`output_layer`).

    ``config()`` returns these keyword arguments (stored in checkpoints; ``DeepJSCC(**config)``
    rebuilds the network).
    """

    def __init__(self, in_channels: int = 3, image_size: Sequence[int] = (32, 32), latent_channels: int = 16,
                 channels: Sequence[int] = (64, 128), middle: int = 2, gdn: bool = False,
                 snr_adaptive: bool = False, output: str = "sigmoid") -> None:
        super().__init__()
        h, w = (int(s) for s in image_size)
        if h % 4 or w % 4:
            raise ValueError(f"DeepJSCC: image size must be divisible by 4, got {h}x{w}")
        if len(channels) != 2:
            raise ValueError(f"DeepJSCC: channels must be two widths, got {channels}")
        self.in_channels = int(in_channels)
        self.image_size = (h, w)
        self.latent_channels = int(latent_channels)
        self.channels = tuple(int(c) for c in channels)
        self.middle = int(middle)
        self.gdn = bool(gdn)
        self.snr_adaptive = bool(snr_adaptive)
        if output not in OUTPUTS:
            raise ValueError(f"DeepJSCC: output must be one of {OUTPUTS}, got {output!r}")
        self.output = output
        args = (self.latent_channels, self.channels, self.middle, self.gdn, self.snr_adaptive)
        self.encoder = DeepJSCCEncoder(self.in_channels, *args)
        self.decoder = DeepJSCCDecoder(self.in_channels, *args, output=output)

    # ----------------------------------------------------------------- config
    def config(self) -> dict[str, Any]:
        """Architecture keyword arguments (JSON-serializable)."""
        return {"in_channels": self.in_channels, "image_size": list(self.image_size),
                "latent_channels": self.latent_channels, "channels": list(self.channels),
                "middle": self.middle, "gdn": self.gdn, "snr_adaptive": self.snr_adaptive, "output": self.output}

    def latent_length(self, image_size: Sequence[int] | None = None) -> int:
        """2k for images of ``image_size`` (default: the codec's)."""
        h, w = image_size or self.image_size
        return self.latent_channels * (h // 4) * (w // 4)

    @property
    def k(self) -> int:
        """Complex channel uses per image of the codec's size."""
        return self.latent_length() // 2

    @property
    def cbr(self) -> float:
        """Channel bandwidth ratio ``k / (C H W)`` (size independent)."""
        return self.latent_channels / (32.0 * self.in_channels)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ coding
    def _snr(self, snr_db: Any, batch: int, like: torch.Tensor) -> torch.Tensor | None:
        if not self.snr_adaptive:
            return None
        if snr_db is None:
            raise ValueError("this codec is SNR-adaptive (ADJSCC): encode/decode need snr_db")
        return _snr_tensor(snr_db, batch, like)

    def encode(self, images: torch.Tensor, snr_db: Any = None) -> torch.Tensor:
        """Images (B, C, H, W) float in [0, 1] -> real latents (B, 2k), 2k = c (H/4)(W/4)."""
        if images.ndim != 4 or images.shape[1] != self.in_channels:
            raise ValueError(f"DeepJSCC.encode: expected images (B, {self.in_channels}, H, W), "
                             f"got {tuple(images.shape)}")
        if images.shape[2] % 4 or images.shape[3] % 4:
            raise ValueError(f"DeepJSCC.encode: H and W must be divisible by 4, got {tuple(images.shape[2:])}")
        return self.encoder(images, self._snr(snr_db, images.shape[0], images))

    def spatial_for(self, length: int, image_size: Sequence[int] | None = None) -> tuple[int, int]:
        """Latent grid (H/4, W/4) for a latent of ``length`` reals (the codec's size, the given
        ``image_size``, or a square grid)."""
        if image_size is not None:
            h, w = (int(s) for s in image_size)
            if self.latent_length((h, w)) != length:
                raise ValueError(f"latent length {length} does not fit images of {h}x{w} "
                                 f"(needs {self.latent_length((h, w))})")
            return h // 4, w // 4
        if length == self.latent_length():
            return self.image_size[0] // 4, self.image_size[1] // 4
        n, rem = divmod(length, self.latent_channels)
        side = math.isqrt(n) if rem == 0 else 0
        if side == 0 or side * side != n:
            raise ValueError(f"latent length {length} is not c*(H/4)*(W/4) for c={self.latent_channels} "
                             f"and a square image; pass image_size")
        return side, side

    def decode(self, latent: torch.Tensor, snr_db: Any = None,
               image_size: Sequence[int] | None = None) -> torch.Tensor:
        """Real latents (B, 2k) -> images (B, C, H, W) in [0, 1]."""
        if latent.ndim != 2:
            raise ValueError(f"DeepJSCC.decode: expected latents (B, 2k), got {tuple(latent.shape)}")
        spatial = self.spatial_for(int(latent.shape[1]), image_size)
        return self.decoder(latent, spatial, self._snr(snr_db, latent.shape[0], latent))

    def forward(self, images: torch.Tensor, channel: Any = None, snr_db: Any = None) -> torch.Tensor:
        """``decode(channel(encode(images)))``; ``channel`` maps (B, 2k) -> (B, 2k) (None: ideal)."""
        z = self.encode(images, snr_db)
        y = z if channel is None else channel(z)
        return self.decode(y, snr_db, images.shape[2:])


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
