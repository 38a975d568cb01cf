"""Adaptive-CBR encoder and the seed's benchmark decoders for the CDiff decoder (seed 001,
appendices C-D).

:class:`AdaptiveCBRCodec` is one network family with three uses:

* the **adaptive-CBR encoder**: a shared stack of stride-2 3x3 convolutions (ReLU, BatchNorm
  optional) down to a ``widths[-1] x h' x w'`` feature map, flattened and projected to a shared
  ``head_dim`` feature vector (linear + ReLU), then one dedicated linear head per CBR in
  ``cbrs`` giving a real latent of length ``2k``, ``k = int(C H W cbr)`` complex symbols (seed
  001: ``latent_dim = 2 int(input_dim cbr)``). The shared projection is ours: the seed's heads
  map the flattened map directly, which for six CBRs costs millions of parameters per head set;
  with ``head_dim`` = 128 the shipped checkpoints stay at a few MB. The latent is *not* power
  normalized here: the link (:func:`semradio.models.link.simulate_link` or the
  ``PowerNormalizer`` block) scales it to unit average symbol power, which is the seed's
  ``l2`` normalization up to the constant ``sqrt(k)``.
* the **matched autoencoder** benchmark (``variant="ae"``): the decoder mirrors the encoder
  (one linear head per CBR back to the feature map, then transposed convolutions) and is
  trained jointly with it. ``decode`` picks the head from the latent's length, so one object
  decodes every CBR of its set.
* the **VAE** benchmark (``variant="vae"``): the same encoder with two parallel heads per CBR,
  ``mu`` and ``log sigma^2``; training samples ``z = mu + sigma * eps`` (reparameterization)
  and adds ``KL(N(mu, sigma^2) || N(0, I))`` to the MSE with equal weights (both as means per
  element). At inference :meth:`encode` sends ``mu``.

The codec object follows the :class:`semradio.models.jscc.DeepJSCC` interface used by the
blocks (``encode(images, snr_db)``, ``decode(latent, snr_db, image_size)``, ``in_channels``,
``image_size``, ``k``, ``cbr``, ``latent_length()``, ``snr_adaptive = False``); the CBR used by
``encode`` is the *active* one (:meth:`set_cbr`, or the ``cbr=`` argument).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from .jscc import OUTPUTS, output_layer

#: Architecture name in checkpoint configs.
ARCHITECTURE = "adaptive_cbr_codec"
VARIANTS = ("ae", "vae")


def symbols_for(cbr: float, image_shape: Sequence[int]) -> int:
    """Complex symbols ``k = int(C H W cbr)`` for images of ``image_shape`` = (C, H, W)."""
    c, h, w = (int(s) for s in image_shape)
    k = int(c * h * w * float(cbr) + 1e-9)
    if k < 1:
        raise ValueError(f"CBR {cbr} gives no symbol for images {tuple(image_shape)}")
    return k


def _conv_sizes(size: int, n: int) -> list[int]:
    """Spatial sizes after n stride-2 3x3 convolutions with padding 1: s -> ceil(s / 2)."""
    out = [size]
    for _ in range(n):
        out.append((out[-1] + 1) // 2)
    return out


class AdaptiveCBRCodec(nn.Module):
    """Adaptive-CBR encoder with the matched (``"ae"``) or VAE (``"vae"``) decoder.

    Args:
        in_channels: image channels C.
        image_size: (H, W).
        cbrs: the CBR set (k / (C H W) each); one encoder head (and decoder head) per value.
        widths: output channels of the stride-2 convolutions (seed 001 MNIST: 8, 16, 32).
        batchnorm: BatchNorm after each convolution (seed 001 CIFAR-10 encoder).
        head_dim: width of the shared feature vector the per-CBR heads read (and the decoder
            heads write).
        variant: "ae" (matched autoencoder) or "vae".
        output: decoder output layer (see :func:`semradio.models.jscc.output_layer`).

    Shapes: images (B, C, H, W) in [0, 1]; latents (B, 2k) real, first half real parts.
    """

    def __init__(self, in_channels: int = 1, image_size: Sequence[int] = (28, 28),
                 cbrs: Sequence[float] = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45), widths: Sequence[int] = (8, 16, 32),
                 batchnorm: bool = False, variant: str = "ae", output: str = "sigmoid", head_dim: int = 128) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"AdaptiveCBRCodec: variant must be one of {VARIANTS}, got {variant!r}")
        if output not in OUTPUTS:
            raise ValueError(f"AdaptiveCBRCodec: output must be one of {OUTPUTS}, got {output!r}")
        if not cbrs or len(set(cbrs)) != len(cbrs):
            raise ValueError(f"AdaptiveCBRCodec: cbrs must be distinct values, got {cbrs}")
        self.in_channels = int(in_channels)
        self.image_size = tuple(int(s) for s in image_size)
        self.cbrs = tuple(sorted(float(c) for c in cbrs))
        self.widths = tuple(int(w) for w in widths)
        self.batchnorm = bool(batchnorm)
        self.variant = variant
        self.output = output
        self.head_dim = int(head_dim)
        self.snr_adaptive = False
        shape = (self.in_channels, *self.image_size)
        self.lengths = tuple(2 * symbols_for(c, shape) for c in self.cbrs)
        if len(set(self.lengths)) != len(self.lengths):
            raise ValueError(f"AdaptiveCBRCodec: two CBRs of {self.cbrs} give the same latent length {self.lengths}")
        self._active = self.cbrs[0]
        hs = _conv_sizes(self.image_size[0], len(self.widths))
        ws = _conv_sizes(self.image_size[1], len(self.widths))
        self._sizes = list(zip(hs, ws))
        self.feat = self.widths[-1] * hs[-1] * ws[-1]

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm2d(c) if self.batchnorm else nn.Identity()

        layers: list[nn.Module] = []
        c_prev = self.in_channels
        for c in self.widths:
            layers += [nn.Conv2d(c_prev, c, 3, stride=2, padding=1), norm(c), nn.ReLU()]
            c_prev = c
        self.trunk = nn.Sequential(*layers, nn.Flatten(1), nn.Linear(self.feat, self.head_dim), nn.ReLU())
        hd = self.head_dim
        self.heads = nn.ModuleList([nn.Linear(hd, n) for n in self.lengths])
        self.logvar_heads = nn.ModuleList([nn.Linear(hd, n) for n in self.lengths]) if variant == "vae" else None
        self.dec_heads = nn.ModuleList([nn.Linear(n, hd) for n in self.lengths])
        self.dec_shared = nn.Linear(hd, self.feat)
        ups: list[nn.Module] = []
        chans = list(self.widths[::-1]) + [self.in_channels]
        for i in range(len(self.widths)):
            ups.append(nn.ConvTranspose2d(chans[i], chans[i + 1], 3, stride=2, padding=1))
        self.ups = nn.ModuleList(ups)
        self.up_norms = nn.ModuleList([norm(chans[i + 1]) for i in range(len(self.widths) - 1)])

    # ----------------------------------------------------------------- config
    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-serializable)."""
        return {"in_channels": self.in_channels, "image_size": list(self.image_size), "cbrs": list(self.cbrs),
                "widths": list(self.widths), "batchnorm": self.batchnorm, "variant": self.variant,
                "output": self.output, "head_dim": self.head_dim}

    def set_cbr(self, cbr: float) -> "AdaptiveCBRCodec":
        """Make ``cbr`` (one of :attr:`cbrs`) the one :meth:`encode` uses; returns self."""
        self._active = self.cbrs[self.cbr_index(cbr)]
        return self

    def cbr_index(self, cbr: float) -> int:
        """Index of ``cbr`` in :attr:`cbrs` (to 1e-6); ValueError when it is not in the set."""
        for i, c in enumerate(self.cbrs):
            if abs(c - float(cbr)) < 1e-6:
                return i
        raise ValueError(f"CBR {cbr} is not in this codec's set {self.cbrs}")

    @property
    def cbr(self) -> float:
        """The active CBR."""
        return self._active

    def latent_length(self, image_size: Sequence[int] | None = None, cbr: float | None = None) -> int:
        """2k of the active (or given) CBR; ``image_size`` must be the codec's."""
        if image_size is not None and tuple(int(s) for s in image_size) != self.image_size:
            raise ValueError(f"this codec only codes {self.image_size} images, not {tuple(image_size)}")
        return self.lengths[self.cbr_index(self._active if cbr is None else cbr)]

    @property
    def max_length(self) -> int:
        """Longest latent (largest CBR)."""
        return max(self.lengths)

    @property
    def k(self) -> int:
        """Complex symbols per image at the active CBR."""
        return self.latent_length() // 2

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    # ------------------------------------------------------------------ coding
    def _check_images(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != self.in_channels or tuple(images.shape[2:]) != self.image_size:
            raise ValueError(f"AdaptiveCBRCodec.encode: expected images (B, {self.in_channels}, "
                             f"{self.image_size[0]}, {self.image_size[1]}), got {tuple(images.shape)}")

    def encode_stats(self, images: torch.Tensor, cbr: float | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(mu, logvar)`` of the CBR's head, each (B, 2k); logvar is None for the AE."""
        self._check_images(images)
        i = self.cbr_index(self._active if cbr is None else cbr)
        f = self.trunk(images)
        mu = self.heads[i](f)
        logvar = None if self.logvar_heads is None else self.logvar_heads[i](f).clamp(-10.0, 10.0)
        return mu, logvar

    def encode(self, images: torch.Tensor, snr_db: Any = None, cbr: float | None = None) -> torch.Tensor:
        """Images (B, C, H, W) in [0, 1] -> real latents (B, 2k) at the active (or given) CBR.
        ``snr_db`` is accepted for interface compatibility and ignored. The VAE sends ``mu``."""
        return self.encode_stats(images, cbr)[0]

    def decode(self, latent: torch.Tensor, snr_db: Any = None,
               image_size: Sequence[int] | None = None) -> torch.Tensor:
        """Real latents (B, 2k) -> images (B, C, H, W) in [0, 1]; the head is chosen by 2k."""
        if latent.ndim != 2:
            raise ValueError(f"AdaptiveCBRCodec.decode: expected latents (B, 2k), got {tuple(latent.shape)}")
        if image_size is not None and tuple(int(s) for s in image_size) != self.image_size:
            raise ValueError(f"this codec only decodes {self.image_size} images, not {tuple(image_size)}")
        n = int(latent.shape[1])
        if n not in self.lengths:
            raise ValueError(f"latent length {n} matches no CBR of this codec (lengths {self.lengths} for "
                             f"CBRs {self.cbrs})")
        h = F.relu(self.dec_shared(F.relu(self.dec_heads[self.lengths.index(n)](latent))))
        h = h.reshape(-1, self.widths[-1], *self._sizes[-1])
        for j, up in enumerate(self.ups):
            h = up(h, output_size=self._sizes[-2 - j])
            if j < len(self.up_norms):
                h = F.relu(self.up_norms[j](h))
        return output_layer(h, self.output)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Mean over elements of ``KL(N(mu, e^logvar) || N(0, 1)) = (mu^2 + e^logvar - 1 - logvar) / 2``."""
    return 0.5 * torch.mean(mu.pow(2) + logvar.exp() - 1.0 - logvar)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None,
                   shard: Any = None) -> torch.Tensor:
    """``mu + exp(logvar / 2) * eps``, eps ~ N(0, I) (the reparameterization trick); ``shard``:
    this rank's rows of a data-parallel batch (:func:`semradio.models.link.sharded_draw`)."""
    from semradio.models.link import sharded_draw

    eps = sharded_draw(lambda shp: torch.randn(shp, generator=generator, device=mu.device, dtype=mu.dtype),
                       tuple(mu.shape), shard)
    return mu + torch.exp(0.5 * logvar) * eps
