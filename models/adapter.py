"""Latent adapter for out-of-distribution (OOD) sources, learned one-shot at the transmitter.

From *Latent Diffusion Model-Enabled Real-Time Semantic Communication Considering Semantic
Ambiguities and Channel Noises* (Section III-D, eqs. 13-14, Algorithm 2, Fig. 3): a codec trained
on one kind of image decodes an OOD image into something that looks like its training data. A
lightweight map ``g_w`` placed before the decoder,

    z_hat = g_w(y) = w^T y + b,      w = 1 (identity) in domain          (eq. 14)

is fitted at the transmitter (which holds the image) so that ``G(g_w(y))`` reproduces it, and its
few parameters are sent to the receiver, whose encoder, decoder and denoisers stay untouched.

Here ``y`` is the *received* real latent (B, 2k) of a Deep JSCC codec (:mod:`semradio.models.jscc`:
2k = c (H/4)(W/4), channel-major, e.g. c = 16 maps of 8x8 for CBR 1/6 on 32x32 images) after
:func:`semradio.models.link.simulate_link` (power normalise -> channel -> MMSE), i.e. exactly the
decoder's input. :class:`LatentAdapter` has five kinds (:data:`KINDS`), all initialised to the
identity so an untrained or disabled adapter leaves the codec's output bit-identical:

``"affine"``
    eq. 14 read literally, element-wise over the whole latent: ``z_hat = w * y + b``, w = 1,
    b = 0 (2 * 2k parameters: 2,048 for 2k = 1024), tied to one image size.
``"channel"``
    a single layer shared over positions: a 1x1 convolution over the c latent maps,
    ``z_hat[:, i, p] = sum_j W[i, j] y[:, j, p] + b[i]``, W = I, b = 0 (c^2 + c = 272 parameters).
``"mlp2"``
    the authors' public code (two linear layers with a tanh on the flattened latent), made
    residual so it starts at the identity: ``z_hat = y + W2 tanh(W1 y + b1) + b2``, W2, b2 = 0
    (h = 2k / 4: 525,568 parameters for 2k = 1024).
``"conv"``
    a residual 3x3 convolution over the latent grid, ``z_hat = y + K * y`` (K = 0 at init; 2,320).
``"conv2"`` (default)
    the authors' two layers + tanh made convolutional, i.e. shared over positions:
    ``z_hat = y + C2 tanh(C1 * y)`` with C1 a 3x3 convolution c -> 2c and C2 a 1x1
    convolution 2c -> c, C2 = 0 at init (5,168 parameters, 20 KiB of float32 to send).

What was measured (``semradio eval adapter``, codec ``jscc_natural32_awgn_cbr1-6``, AWGN 10 dB,
one CPU thread; docs/results/adapter.md has the full table and commands): the codec, trained on
natural photos, already codes these grey sources fairly well (21.6 dB on MNIST, 24.4 dB on LFW
faces, 33.1 dB on brick), and the best latent the frozen decoder can be given at all (per-image
inversion, eq. 13) is only 0.7-1.4 dB better for grass, gravel and faces. From ONE image the
per-element maps overfit the shot: ``affine`` loses 1.3-5.1 dB, ``mlp2`` 0.1-2.8 dB (at lr 1e-3; it
diverges at 1e-2), ``conv2`` up to 0.4 dB; ``channel`` is the only kind that does not hurt
(MNIST +0.30 dB, brick +0.51 dB, the others within +-0.1 dB). With a handful of shots (16, with
mirror images and random 3-pixel shifts as augmentation) ``conv2`` is the best: MNIST +0.76 dB,
brick +0.89 dB (``channel``: +0.50 / +0.57), the others +0.02..+0.07 dB, in a 7 s budget. Hence
the default: ``conv2``, fitted at the operating SNR (a 0..20 dB range gave 0.0-0.2 dB less).
More shots help more than more time: 64 shots in 9 s give +0.94 dB (MNIST) / +0.88 dB (brick);
16 digits over 30 s give +0.68 dB (overfitting); 512 digits over 22 s give +1.00 dB.

Training (:func:`fit_adapter`): minimise the reconstruction distance ``d(x'', G(g_w(y)))`` (MSE)
of eq. 13 over fresh channel draws of the shots' latents, encoder and decoder frozen. Algorithm 2
as printed is purely adversarial: it samples ``z ~ N(0, I)`` (not the OOD image's latent),
updates a critic head ``d_nu`` against real OOD images and ``w`` to fool it, and has no
reconstruction term, so it pulls the decoder's outputs towards the OOD *distribution* but not
towards the transmitted image; from one shot, with a critic the codec does not have (our Deep
JSCC codecs are trained without one), that gives no fidelity guarantee, while the transmitter
does hold the image. So the fit uses eq. 13's reconstruction term; an optional adversarial term
``adv_weight * (-critic(G(g_w(y))).mean())`` (Alg. 2 line 6, the generator step only, with a
frozen critic) is added when a critic callable is given.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

#: Adapter kinds (see the module docstring).
KINDS = ("channel", "affine", "mlp2", "conv", "conv2")
#: The kind used when none is given (best measured, docs/results/adapter.md).
DEFAULT_KIND = "conv2"
#: Fewer shots than this fit the few-parameter ``"channel"`` kind instead of :data:`DEFAULT_KIND`
#: (``kind="auto"`` of the command lines): from one image ``conv2`` overfits its shot (10 dB,
#: ``semradio eval adapter --snr-db 10 --kind conv2 --shots 1``: MNIST -1.01 dB, brick -0.39 dB)
#: where ``channel`` gains (+0.30 / +0.51 dB); from 4 shots on ``conv2`` is ahead.
FEW_SHOTS = 4


def kind_for_shots(kind: str, shots: int) -> str:
    """Resolve ``kind="auto"``: ``"channel"`` below :data:`FEW_SHOTS` shots, else
    :data:`DEFAULT_KIND`; any other kind is returned unchanged.

    >>> kind_for_shots("auto", 1), kind_for_shots("auto", 16), kind_for_shots("affine", 1)
    ('channel', 'conv2', 'affine')
    """
    if kind != "auto":
        return kind
    return "channel" if int(shots) < FEW_SHOTS else DEFAULT_KIND


#: Architecture name stored in adapter checkpoints.
ARCHITECTURE = "latent_adapter"


class LatentAdapter(nn.Module):
    """``g_w``: received real latents (B, 2k) -> adapted latents (B, 2k), identity at init.

    Parameters
    ----------
    latent_channels : int
        c, the codec's latent feature maps (2k = c * H/4 * W/4, channel-major).
    spatial : (int, int)
        (H/4, W/4) of the latent grid the adapter is built for (``"affine"`` and ``"mlp2"``,
        whose parameters are per element, need it; the convolutional kinds take any grid, a
        non-default one square).
    kind : {"channel", "affine", "mlp2", "conv", "conv2"}
        See the module docstring; default :data:`DEFAULT_KIND`.
    hidden : int, optional
        Hidden width of ``"mlp2"`` (default 2k / 4) and ``"conv2"`` (default 2c).
    enabled : bool
        False: :meth:`forward` returns its input object unchanged (the in-domain case, w = 1).

    Examples
    --------
    >>> import torch
    >>> g = LatentAdapter(16, (8, 8))
    >>> y = torch.randn(2, 1024)
    >>> bool(torch.equal(g(y), y)), g.num_parameters()
    (True, 5168)
    """

    def __init__(self, latent_channels: int, spatial: Sequence[int] = (8, 8), kind: str = DEFAULT_KIND,
                 hidden: int | None = None, enabled: bool = True) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"LatentAdapter: kind must be one of {KINDS}, got {kind!r}")
        c = int(latent_channels)
        h, w = (int(s) for s in spatial)
        if c < 1 or h < 1 or w < 1:
            raise ValueError(f"LatentAdapter: latent_channels and spatial must be positive, got {c}, {(h, w)}")
        self.kind, self.latent_channels, self.spatial = kind, c, (h, w)
        self.enabled = bool(enabled)
        n = c * h * w
        self.hidden = int(hidden) if hidden else max(1, n // 4)
        if kind == "channel":
            self.weight = nn.Parameter(torch.eye(c))
            self.bias = nn.Parameter(torch.zeros(c))
        elif kind == "affine":
            self.weight = nn.Parameter(torch.ones(n))
            self.bias = nn.Parameter(torch.zeros(n))
        elif kind == "conv":
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            nn.init.zeros_(self.conv.weight)
            nn.init.zeros_(self.conv.bias)
        elif kind == "conv2":
            self.hidden = int(hidden) if hidden else 2 * c
            self.conv1 = nn.Conv2d(c, self.hidden, 3, padding=1)
            self.conv2 = nn.Conv2d(self.hidden, c, 1)
            nn.init.zeros_(self.conv2.weight)
            nn.init.zeros_(self.conv2.bias)
        else:
            self.fc1 = nn.Linear(n, self.hidden)
            self.fc2 = nn.Linear(self.hidden, n)
            nn.init.zeros_(self.fc2.weight)
            nn.init.zeros_(self.fc2.bias)

    @property
    def latent_length(self) -> int:
        """2k of the grid the adapter was built for."""
        return self.latent_channels * self.spatial[0] * self.spatial[1]

    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-serializable; ``enabled`` is not stored)."""
        return {"latent_channels": self.latent_channels, "spatial": list(self.spatial), "kind": self.kind,
                "hidden": self.hidden if self.kind in ("mlp2", "conv2") else None}

    def num_parameters(self) -> int:
        """Number of parameters (what is sent to the receiver)."""
        return sum(p.numel() for p in self.parameters())

    def grid_for(self, length: int) -> tuple[int, int]:
        """The latent grid (H/4, W/4) of a latent of ``length`` reals for the convolutional kinds:
        the grid the adapter was built for when the length is its own, else a square grid
        (ValueError otherwise: a guessed non-square grid would scramble the positions)."""
        n = length // self.latent_channels
        if n == self.spatial[0] * self.spatial[1]:
            return self.spatial
        side = math.isqrt(n)
        if side * side != n:
            raise ValueError(f"latent length {length} is {self.latent_channels} maps of {n} positions: neither the "
                             f"adapter's {self.spatial[0]}x{self.spatial[1]} grid nor a square one")
        return side, side

    def check_length(self, length: int) -> None:
        """ValueError unless a latent of ``length`` reals fits this adapter."""
        if self.kind in ("channel", "conv", "conv2"):
            if length <= 0 or length % self.latent_channels:
                raise ValueError(f"latent length {length} is not a multiple of the adapter's "
                                 f"{self.latent_channels} latent channels")
            if self.kind != "channel":
                self.grid_for(length)
        elif length != self.latent_length:
            raise ValueError(f"latent length {length} does not fit this {self.kind!r} adapter "
                             f"(built for {self.latent_length} = {self.latent_channels}x{self.spatial[0]}x"
                             f"{self.spatial[1]})")

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """(B, 2k) -> (B, 2k); the input itself when disabled."""
        if not self.enabled:
            return y
        if y.ndim != 2:
            raise ValueError(f"LatentAdapter: expected latents (B, 2k), got {tuple(y.shape)}")
        self.check_length(int(y.shape[1]))
        if self.kind == "channel":
            return channel_map(y, self.weight, self.bias)
        if self.kind == "affine":
            return y * self.weight + self.bias
        if self.kind in ("conv", "conv2"):
            v = y.reshape(y.shape[0], self.latent_channels, *self.grid_for(int(y.shape[1])))
            d = self.conv(v) if self.kind == "conv" else self.conv2(torch.tanh(self.conv1(v)))
            return y + d.reshape(y.shape)
        return y + self.fc2(torch.tanh(self.fc1(y)))


def channel_map(y: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """1x1 convolution of a channel-major latent: (B, c*P) -> (B, c*P),
    ``out[:, i, p] = sum_j weight[i, j] y[:, j, p] + bias[i]`` (weight (c, c), bias (c,))."""
    c = weight.shape[0]
    v = y.reshape(y.shape[0], c, -1)
    return (torch.einsum("ij,bjp->bip", weight, v) + bias[None, :, None]).reshape(y.shape)


def affine_least_squares(y: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The element-wise affine correction minimising ``E ||w * y + b - target||^2`` per
    coordinate over the rows (N, D) of ``y`` and ``target``, in closed form::

        w = Cov(y, t) / Var(y),   b = E[t] - w E[y]

    (the linear MMSE estimate of each target coordinate from its received coordinate). Returns
    (w, b), each (D,)."""
    my, mt = y.mean(0), target.mean(0)
    cov = ((y - my) * (target - mt)).mean(0)
    var = ((y - my) ** 2).mean(0)
    w = cov / var.clamp_min(1e-12)
    return w, mt - w * my


def fit_latent_map(adapter: nn.Module, decode: Callable[[torch.Tensor, float], torch.Tensor],
                   draw: Callable[[int], tuple[torch.Tensor, float, torch.Tensor]], steps: int, lr: float,
                   max_seconds: float | None = None,
                   extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
                   cosine: bool = False) -> dict[str, Any]:
    """Adam on ``adapter``'s parameters: each step ``(y, snr, target) = draw(step)``, loss
    ``mean((decode(adapter(y), snr) - target)^2)`` (+ ``extra_loss(output)``). Stops after
    ``steps`` steps or ``max_seconds`` of wall time. Returns ``{"steps", "seconds", "loss_first",
    "loss_last"}`` (means of the first and of the last 10 steps' losses)."""
    opt = torch.optim.Adam(adapter.parameters(), lr=lr)
    losses: list[float] = []
    t0 = time.perf_counter()
    done = 0
    budget = None if max_seconds is None else max(float(max_seconds), 1e-9)
    for step in range(int(steps)):
        if cosine:  # progress: the larger of the step and the time fractions
            u = step / max(1, int(steps))
            if budget is not None:
                u = max(u, (time.perf_counter() - t0) / budget)
            for g in opt.param_groups:
                g["lr"] = lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * min(1.0, u))))
        y, snr, target = draw(step)
        out = decode(adapter(y), snr)
        loss = torch.mean((out - target) ** 2)
        if extra_loss is not None:
            loss = loss + extra_loss(out)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        done = step + 1
        if max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
            break
    seconds = time.perf_counter() - t0
    return {"steps": done, "seconds": seconds, "loss_first": float(np.mean(losses[:10])) if losses else math.nan,
            "loss_last": float(np.mean(losses[-10:])) if losses else math.nan}


def random_shifts(x: torch.Tensor, shift: int, rng: np.random.Generator) -> torch.Tensor:
    """Each image (N, C, H, W) translated by an integer offset drawn uniformly in
    [-shift, shift]^2, the uncovered border filled by edge replication (black for MNIST)."""
    n, _, h, w = x.shape
    pad = torch.nn.functional.pad(x, (shift, shift, shift, shift), mode="replicate")
    off = rng.integers(0, 2 * shift + 1, size=(n, 2))
    return torch.stack([pad[i, :, a:a + h, b:b + w] for i, (a, b) in enumerate(off)])


def _as_images(images: Any) -> torch.Tensor:
    t = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    if t.ndim == 3:
        t = t[None]
    if t.ndim != 4 or t.shape[0] == 0:
        raise ValueError(f"fit_adapter: images must be (N, C, H, W), got {tuple(t.shape)}")
    return t.to(torch.float32)


def fit_adapter(codec: nn.Module, images: Any, channel: str = "awgn", snr_db: float | Sequence[float] = 10.0,
                steps: int = 400, lr: float = 1e-2, kind: str = DEFAULT_KIND, seed: int = 0, batch: int = 16,
                max_seconds: float | None = 7.0, flips: bool = True, critic: Callable[[torch.Tensor], torch.Tensor]
                | None = None, adv_weight: float = 0.0, shift: int = 3, pool_size: int = 256,
                cosine: bool = False) \
        -> tuple[LatentAdapter, dict[str, Any]]:
    """Fit a :class:`LatentAdapter` one-shot (or few-shot) at the transmitter.

    Each step draws ``batch`` rows from the shots (and, with ``flips``, their horizontal mirror
    images: the adapter should not learn where the shot's strokes are), one SNR (uniform in
    ``snr_db = (lo, hi)``, or the fixed operating SNR), passes the frozen encoder's latents
    through :func:`semradio.models.link.simulate_link` (fresh noise per row) and minimises
    ``MSE(x, G(g_w(y)))`` (eq. 13's distance; ``+ adv_weight * -critic(G(g_w(y))).mean()`` when a
    critic is given, Alg. 2 line 6) with Adam. The encoder's latents are computed once per SNR
    value used (the codec is frozen).

    Parameters
    ----------
    codec : DeepJSCC
        The frozen codec (its parameters are not touched; gradients flow through its decoder).
    images : array or tensor (N, C, H, W) in [0, 1]
        The shots (the images the transmitter holds).
    channel : {"awgn", "rayleigh"}
    snr_db : float or (lo, hi)
        Operating SNR in dB, or a range drawn uniformly per step.
    steps, lr, seed, batch
        Adam steps, learning rate, seed of the noise/SNR/row draws, rows per step.
    max_seconds : float, optional
        Wall-time budget of the whole fit (the loop stops after the step that spends it); None:
        no limit.
    kind : {"channel", "affine", "mlp2", "conv", "conv2"}
    flips : bool
        Add the shots' horizontal mirror images.
    shift : int
        Random translations of up to ``shift`` pixels (edge-replicated, :func:`random_shifts`);
        at a fixed SNR a pool of ``pool_size`` shifted copies is drawn and encoded once.
    cosine : bool
        Cosine learning-rate decay from ``lr`` to ``lr / 20`` over the steps or the time budget
        (whichever runs out first).
    critic, adv_weight
        Optional frozen critic ``critic(images) -> (B,)`` and the weight of the adversarial
        term ``-adv_weight * critic(G(g_w(y))).mean()`` (Alg. 2 line 6).

    Returns
    -------
    adapter : LatentAdapter
        In eval mode, requires_grad off.
    report : dict
        ``kind, parameters, shots, steps, seconds, cpu_seconds, loss_first, loss_last, snr_db,
        channel, lr, batch`` (``seconds``: wall time of the whole fit, encoding included;
        ``cpu_seconds``: the process's CPU time, which other processes on the machine do not inflate).
    """
    from semradio.models.link import make_generator, simulate_link

    t0, c0 = time.perf_counter(), time.process_time()
    x = _as_images(images).to(next(codec.parameters()).device)
    if x.shape[1] != codec.in_channels:
        raise ValueError(f"fit_adapter: the codec codes {codec.in_channels}-channel images, got {tuple(x.shape)}")
    if flips:
        x = torch.cat([x, x.flip(-1)])
    lo, hi = (float(snr_db), float(snr_db)) if np.ndim(snr_db) == 0 else (float(snr_db[0]), float(snr_db[1]))
    spatial = (int(x.shape[2]) // 4, int(x.shape[3]) // 4)
    adapter = LatentAdapter(codec.latent_channels, spatial, kind).to(x.device)
    codec_params = [p.requires_grad for p in codec.parameters()]
    codec.requires_grad_(False)
    was_training = codec.training
    codec.eval()
    gen = make_generator(seed, x.device)
    rng = np.random.default_rng(seed)
    cache: dict[float, torch.Tensor] = {}

    # at a fixed SNR with shifts: a pool of shifted copies (each shot and mirror image at least
    # pool_size / len(x) times), encoded once; with an SNR range the batch is shifted per step
    pool = None
    if shift > 0 and hi == lo:
        reps = max(1, math.ceil(pool_size / len(x)))
        pool = random_shifts(x.repeat(reps, 1, 1, 1), shift, rng)

    def latents(snr: float) -> torch.Tensor:
        if snr not in cache:
            if len(cache) > 64:
                cache.clear()
            src = pool if pool is not None else x
            with torch.no_grad():
                cache[snr] = torch.cat([codec.encode(src[i:i + 256], snr) for i in range(0, len(src), 256)])
        return cache[snr]

    def draw(_: int) -> tuple[torch.Tensor, float, torch.Tensor]:
        snr = float(rng.uniform(lo, hi)) if hi > lo else lo
        snr = round(snr, 1) if hi > lo else snr  # SNRs on a 0.1 dB grid: the encoder runs once per value
        if pool is not None:  # fixed SNR: the shifted copies were encoded once
            rows = torch.from_numpy(rng.integers(len(pool), size=batch))
            return simulate_link(latents(snr)[rows], channel, snr, gen), snr, pool[rows]
        rows = torch.from_numpy(rng.integers(len(x), size=batch))
        if shift > 0:
            target = random_shifts(x[rows], shift, rng)
            with torch.no_grad():
                z = codec.encode(target, snr)
        else:
            z, target = latents(snr)[rows], x[rows]
        return simulate_link(z, channel, snr, gen), snr, target

    def decode(y: torch.Tensor, snr: float) -> torch.Tensor:
        return codec.decode(y, snr, tuple(x.shape[2:]))

    def adversarial(out: torch.Tensor) -> torch.Tensor:
        return -adv_weight * critic(out).mean()  # type: ignore[misc]

    extra = adversarial if critic is not None and adv_weight > 0 else None
    try:
        rep = fit_latent_map(adapter, decode, draw, steps, lr,
                             None if max_seconds is None else max(0.0, max_seconds - (time.perf_counter() - t0)), extra,
                             cosine=cosine)
    finally:
        for p, r in zip(codec.parameters(), codec_params):
            p.requires_grad_(r)
        codec.train(was_training)
    adapter.eval().requires_grad_(False)
    report = {"kind": kind, "parameters": adapter.num_parameters(), "shots": int(len(x) // (2 if flips else 1)),
              "flips": bool(flips), "steps": rep["steps"], "seconds": round(time.perf_counter() - t0, 3),
              "cpu_seconds": round(time.process_time() - c0, 3),
              "loss_first": rep["loss_first"], "loss_last": rep["loss_last"], "snr_db": [lo, hi],
              "channel": channel, "lr": lr, "batch": batch, "seed": seed,
              "adversarial": bool(critic is not None and adv_weight > 0), "cosine": bool(cosine)}
    return adapter, report


# --------------------------------------------------------------------------- checkpoints
def codec_identity(codec: nn.Module) -> dict[str, Any]:
    """What an adapter checkpoint records of its codec: name, weights SHA-256, latent shape."""
    cfg = getattr(codec, "codec_config", None) or {}
    return {"name": cfg.get("name"), "sha256": cfg.get("sha256"),
            "latent_channels": int(getattr(codec, "latent_channels", 0))}


def save_adapter(adapter: LatentAdapter, path: Any, codec: nn.Module, extra: dict[str, Any] | None = None,
                 overwrite: bool = False) -> Any:
    """Write ``path.safetensors`` + ``path.json`` (kind, constructor arguments, the codec it
    belongs to, and ``extra``: command, seconds, report) via
    :func:`semradio.models.checkpoint.save_weights`; never replaces a file without ``overwrite``."""
    from semradio.models.checkpoint import save_weights

    cfg = dict(extra or {}, kind=adapter.kind, parameters=adapter.num_parameters(), codec=codec_identity(codec))
    return save_weights(adapter, path, cfg, ARCHITECTURE, adapter.config(), overwrite)


def codec_identity_from_config(codec_cfg: dict[str, Any]) -> dict[str, Any]:
    """:func:`codec_identity` from a codec's JSON config (no weights loaded)."""
    return {"name": codec_cfg.get("name"), "sha256": codec_cfg.get("sha256"),
            "latent_channels": int((codec_cfg.get("kwargs") or {}).get("latent_channels", 0))}


def check_belongs(cfg: dict[str, Any], codec: nn.Module | dict[str, Any]) -> None:
    """ValueError unless the adapter checkpoint config ``cfg`` was fitted for ``codec`` (a codec
    module, or its JSON config): same weights SHA-256 when both are known, else the same name,
    and the same latent channels."""
    own = codec_identity_from_config(codec) if isinstance(codec, dict) else codec_identity(codec)
    rec = cfg.get("codec") or {}
    where = cfg.get("_path", cfg.get("name", "adapter"))
    if rec.get("latent_channels") and int(rec["latent_channels"]) != own["latent_channels"]:
        raise ValueError(f"{where}: adapter for {rec['latent_channels']} latent channels, the codec has "
                         f"{own['latent_channels']}")
    if rec.get("sha256") and own["sha256"]:
        if rec["sha256"] != own["sha256"]:
            raise ValueError(f"{where}: adapter fitted for codec {rec.get('name')!r} (sha256 {rec['sha256'][:12]}...), "
                             f"not for {own['name']!r} (sha256 {own['sha256'][:12]}...)")
    elif rec.get("name") != own["name"]:
        raise ValueError(f"{where}: adapter fitted for codec {rec.get('name')!r}, not for {own['name']!r}")


#: Upper bounds of a checkpoint's constructor arguments (a file is untrusted: no huge allocations).
MAX_LATENT_CHANNELS, MAX_SIDE, MAX_HIDDEN = 1024, 256, 1 << 16


def _from_kwargs(kw: dict[str, Any]) -> LatentAdapter:
    """A :class:`LatentAdapter` from a checkpoint's ``kwargs``: only the four constructor
    arguments a checkpoint stores (never ``enabled``: a file cannot switch the adapter off while
    frames are tagged as adapted), each type-checked and bounded (ValueError otherwise)."""
    if not isinstance(kw, dict) or set(kw) - {"latent_channels", "spatial", "kind", "hidden"}:
        raise ValueError(f"adapter kwargs must hold only latent_channels, spatial, kind, hidden; got {kw!r}")

    def whole(v: Any, hi: int, what: str) -> int:
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= hi:
            raise ValueError(f"adapter kwargs: {what} must be an integer in 1..{hi}, got {v!r}")
        return v

    c = whole(kw.get("latent_channels"), MAX_LATENT_CHANNELS, "latent_channels")
    spatial = kw.get("spatial", [8, 8])
    if not isinstance(spatial, (list, tuple)) or len(spatial) != 2:
        raise ValueError(f"adapter kwargs: spatial must be two integers, got {spatial!r}")
    grid = tuple(whole(v, MAX_SIDE, "spatial") for v in spatial)
    kind = kw.get("kind", DEFAULT_KIND)
    if kind not in KINDS:
        raise ValueError(f"adapter kwargs: kind must be one of {KINDS}, got {kind!r}")
    hidden = kw.get("hidden")
    hidden = None if hidden is None else whole(hidden, MAX_HIDDEN, "hidden")
    return LatentAdapter(c, grid, kind, hidden)


def load_adapter(name_or_path: Any, codec: nn.Module | dict[str, Any] | None = None, device: Any = "cpu") \
        -> tuple[LatentAdapter, dict[str, Any]]:
    """An adapter checkpoint (name along the checkpoint search path, or a path) and its JSON
    config; with ``codec``, first checked to belong to it (:func:`check_belongs`)."""
    from semradio.models.checkpoint import load_weights, read_config

    if codec is not None:
        cfg = read_config(name_or_path, kind="adapter checkpoint")
        if cfg.get("architecture") != ARCHITECTURE:
            raise ValueError(f"{cfg['_path']}: architecture {cfg.get('architecture')!r} is not {ARCHITECTURE!r}")
        check_belongs(cfg, codec)
    net, cfg = load_weights(name_or_path, ARCHITECTURE, _from_kwargs, device, kind="adapter")
    if codec is not None:
        own = codec_identity_from_config(codec) if isinstance(codec, dict) else codec_identity(codec)
        if own["latent_channels"] and net.latent_channels != own["latent_channels"]:
            raise ValueError(f"{cfg.get('_path', name_or_path)}: adapter built for {net.latent_channels} latent "
                             f"channels, the codec has {own['latent_channels']}")
    net.requires_grad_(False)
    return net, cfg  # type: ignore[return-value]


__all__ = ["KINDS", "DEFAULT_KIND", "FEW_SHOTS", "kind_for_shots", "ARCHITECTURE", "LatentAdapter", "channel_map",
           "affine_least_squares",
           "fit_latent_map", "fit_adapter", "random_shifts", "codec_identity", "codec_identity_from_config",
           "save_adapter", "check_belongs", "load_adapter"]
