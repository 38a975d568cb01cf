"""CDDM: channel denoising diffusion model (Wu et al., IEEE TWC 2024; seed 002, "CDDM").

Units. The MMSE equalizer emits the real vector ``y = W_s x + W_n n`` (seed 000 Lemma 1) where
``x`` is the real form of unit-power complex symbols (per-component variance ~1/2) and ``n``
has per-component variance ``s2/2``. CDDM works on the rescaled ``y~ = sqrt(2) y = W_s x~ +
W_n n~`` with ``x~ = sqrt(2) x`` (unit per-component variance) and ``n~ ~ N(0, s2 I)``;
:func:`to_diffusion_units` / :func:`from_diffusion_units` convert.

Forward process (seed 002, "前向过程"): ``x_0 = W_s x~``,
``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) W_n eps``. Since
``y~ / sqrt(1 + s2) = W_s x~/sqrt(1+s2) + W_n n~/sqrt(1+s2)``, the received vector *is* a
sample of the forward process at the step m with ``abar_m = 1/(1 + s2)`` (the KL between the
two conditionals is zero there). Training minimizes ``||eps - eps_theta(x_t, t, W)||^2``.

Reverse process (seed 002, "采样过程"): ``x_m = y~ / sqrt(1 + s2)`` then for t = m..0
``x_{t-1} = (x_t - (1 - alpha_t) W_n eps_theta / sqrt(1 - abar_t)) / sqrt(alpha_t)`` (the
DDPM posterior mean without injected noise), or DDIM (eta = 0) as an option, or one
Tweedie step ``x_0 = (x_m - sqrt(1 - abar_m) W_n eps_theta(x_m, m)) / sqrt(abar_m)``: since
``eps_theta`` estimates ``E[eps | x_m]``, this is the posterior mean ``E[x_0 | x_m]`` in a single
network evaluation (DDIM with one step from m). For Gaussian
``x~`` and the exact eps the CDDM rule returns exactly the linear MMSE estimate of ``x_0``
(tested): the denoiser estimates ``W_s x~``, in the scale the decoder already sees.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
from torch import nn

from .embeddings import timestep_embedding
from .schedulers import NoiseSchedule, ddim_step, gaussian_eps

RULES = ("cddm", "ddim", "tweedie")
EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def to_diffusion_units(y: torch.Tensor) -> torch.Tensor:
    """Equalizer output (per-component signal power ~1/2) -> unit per-component scale."""
    return y * math.sqrt(2.0)


def from_diffusion_units(x: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`to_diffusion_units`."""
    return x / math.sqrt(2.0)


def forward_diffuse(x0: torch.Tensor, w_n: torch.Tensor, eps: torch.Tensor,
                    alpha_bar_t: torch.Tensor) -> torch.Tensor:
    """``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) W_n eps``; x0 = W_s x~, all (B, D);
    ``alpha_bar_t`` (B,) or scalar."""
    ab = torch.as_tensor(alpha_bar_t, dtype=x0.dtype, device=x0.device).reshape(-1, *([1] * (x0.dim() - 1)))
    return ab.sqrt() * x0 + (1.0 - ab).sqrt() * w_n * eps


def start_step(schedule: NoiseSchedule, noise_var: float) -> int:
    """KL-matched start step m: ``(1 - abar_m)/abar_m`` closest to ``s2`` (noise_var)."""
    if not noise_var > 0:
        return 0
    return int(schedule.step_for_noise_ratio(noise_var)[0])


@torch.no_grad()
def cddm_sample(eps_fn: EpsFn, y: torch.Tensor, w_n: torch.Tensor, noise_var: float,
                schedule: NoiseSchedule, rule: str = "cddm", m: int | None = None) -> tuple[torch.Tensor, int]:
    """Run the reverse process from the received vector.

    Args:
        eps_fn: ``eps_fn(x_t, t) -> eps`` with t a (B,) long tensor (the condition W is bound).
        y: (B, D) equalizer output in diffusion units (``y~``).
        w_n: (B, D) Lemma 1 noise weights.
        noise_var: channel s2 (complex noise variance; per real component s2/2 before the
            sqrt(2) rescale, s2 after).
        rule: ``"cddm"`` (seed 002 sampling rule), ``"ddim"`` (eta = 0) or ``"tweedie"`` (one
            network evaluation at m: ``E[x_0 | x_m]``).
        m: start step (default: KL-matched from ``noise_var``).
    Returns:
        (estimate of ``x_0 = W_s x~`` (B, D), number of network evaluations).
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if m is None:
        m = start_step(schedule, noise_var)
    dtype = y.dtype
    alphas = schedule.alphas.to(y.device)
    abars = schedule.alpha_bars.to(y.device)
    x = (y.double() / math.sqrt(1.0 + noise_var)).to(dtype)
    wn = w_n.to(dtype)
    B = y.shape[0]
    if rule == "tweedie":
        tt = torch.full((B,), m, dtype=torch.long, device=y.device)
        ab = float(abars[m])
        return (x - math.sqrt(1.0 - ab) * wn * eps_fn(x, tt).to(dtype)) / math.sqrt(ab), 1
    for t in range(m, -1, -1):
        tt = torch.full((B,), t, dtype=torch.long, device=y.device)
        eps = eps_fn(x, tt).to(dtype)
        a, ab = float(alphas[t]), float(abars[t])
        if rule == "cddm":
            x = (x - (1.0 - a) * wn * eps / math.sqrt(1.0 - ab)) / math.sqrt(a)
        elif t == 0:
            x = (x - math.sqrt(1.0 - ab) * wn * eps) / math.sqrt(ab)
        else:
            x = ddim_step(x, wn * eps, ab, float(abars[t - 1]))
    return x, m + 1


def gaussian_exact_eps(var_x: torch.Tensor, w_s: torch.Tensor, w_n: torch.Tensor,
                       schedule: NoiseSchedule) -> EpsFn:
    """The exact ``E[eps | x_t]`` when ``x~ ~ N(0, diag(var_x))``, on this schedule
    (:func:`semradio.models.schedulers.gaussian_eps` with ``a = sqrt(abar_t)``,
    ``sigma = sqrt(1 - abar_t)``; a closed-form oracle for testing samplers)."""
    abars = schedule.alpha_bars

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = abars.to(x.device)[t].to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        return gaussian_eps(x, ab.sqrt(), (1.0 - ab).sqrt(), var_x, w_s, w_n)

    return eps


# --------------------------------------------------------------------------- network
class _ResBlock(nn.Module):
    def __init__(self, ch: int, emb: int, groups: int = 8) -> None:
        super().__init__()
        self.n1 = nn.GroupNorm(groups, ch)
        self.c1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.e = nn.Linear(emb, 2 * ch)
        self.n2 = nn.GroupNorm(groups, ch)
        self.c2 = nn.Conv2d(ch, ch, 3, padding=1)
        nn.init.zeros_(self.c2.weight)
        nn.init.zeros_(self.c2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.c1(torch.nn.functional.silu(self.n1(x)))
        scale, shift = self.e(emb)[:, :, None, None].chunk(2, dim=1)
        h = self.n2(h) * (1 + scale) + shift
        return x + self.c2(torch.nn.functional.silu(h))


class LatentScoreNet(nn.Module):
    """``eps_theta(x_t, t, W_s, W_n)`` for latents shaped as a (C, h, w) map.

    Input (B, D) with D = C*h*w (the codec's latent layout; the real/imaginary halves are
    channel halves), the Lemma 1 weights W_s, W_n (B, D) as two extra maps per channel
    (they carry |h| and s2), and the step t embedded sinusoidally. Residual conv blocks with
    FiLM conditioning on the step. Output (B, D).
    """

    def __init__(self, latent_shape: tuple[int, int, int], width: int = 64, blocks: int = 4,
                 emb: int = 128) -> None:
        super().__init__()
        C, h, w = latent_shape
        self.latent_shape = (int(C), int(h), int(w))
        self.config = {"latent_shape": list(self.latent_shape), "width": width, "blocks": blocks, "emb": emb}
        self.emb_dim = emb
        self.t_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv2d(3 * C, width, 3, padding=1)
        self.blocks = nn.ModuleList(_ResBlock(width, emb) for _ in range(blocks))
        self.out_norm = nn.GroupNorm(8, width)
        self.out = nn.Conv2d(width, C, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor, w_s: torch.Tensor, w_n: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        shp = (B, *self.latent_shape)
        z = torch.cat([x.reshape(shp), w_s.reshape(shp), w_n.reshape(shp)], dim=1)
        e = self.t_mlp(timestep_embedding(t, self.emb_dim))
        hdn = self.inp(z)
        for blk in self.blocks:
            hdn = blk(hdn, e)
        return self.out(torch.nn.functional.silu(self.out_norm(hdn))).reshape(B, -1)


def cddm_loss(net: LatentScoreNet, x: torch.Tensor, w_s: torch.Tensor, w_n: torch.Tensor,
              schedule: NoiseSchedule, t_max: int, generator: torch.Generator | None = None,
              shard: Any = None) -> torch.Tensor:
    """Noise-prediction loss ``E ||eps - eps_theta(x_t, t, W)||^2`` with t ~ U{0..t_max}.

    Args:
        x: (B, D) transmitted latents in diffusion units (x~).
        w_s, w_n: (B, D) Lemma 1 weights of the simulated channel.
        shard: this rank's rows of a data-parallel batch: t and eps are drawn for the global batch
            and sliced (:func:`semradio.models.link.sharded_draw`).
    """
    from semradio.models.link import sharded_draw

    B = x.shape[0]
    t = sharded_draw(lambda shp: torch.randint(0, t_max + 1, shp, device=x.device, generator=generator), (B,), shard)
    eps = sharded_draw(lambda shp: torch.randn(shp, device=x.device, dtype=x.dtype, generator=generator),
                       tuple(x.shape), shard)
    ab = schedule.alpha_bars.to(x.device)[t].to(x.dtype)
    x_t = forward_diffuse(w_s * x, w_n, eps, ab)
    return torch.mean((net(x_t, t, w_s, w_n) - eps) ** 2)


def bind_condition(net: LatentScoreNet, w_s: torch.Tensor, w_n: torch.Tensor) -> EpsFn:
    """``eps_fn(x, t)`` for :func:`cddm_sample` with the weights bound."""

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return net(x, t, w_s, w_n)

    return eps


def latent_shape_for(dim: int, config: dict[str, Any] | None = None) -> tuple[int, int, int]:
    """(C, h, w) for a latent of length ``dim``: from the codec config when it states one,
    else the largest square h = w with at least 8 channels (when possible)."""
    if config and config.get("latent_shape"):
        shp = tuple(int(v) for v in config["latent_shape"])
        if len(shp) == 3 and shp[0] * shp[1] * shp[2] == dim:
            return shp  # type: ignore[return-value]
    side = int(math.isqrt(max(dim // 8, 1)))  # at least 8 channels when possible
    while side > 1:
        if dim % (side * side) == 0:
            return (dim // (side * side), side, side)
        side -= 1
    return (dim, 1, 1)


# ------------------------------------------------------------------------ checkpoints
ARCHITECTURE = "cddm_latent_score_net"


def save_cddm(net: LatentScoreNet, schedule: NoiseSchedule, path: str | Any, config: dict[str, Any], overwrite: bool = False) -> Any:
    """Write ``path.safetensors`` + ``path.json`` (``config`` plus the schedule, architecture,
    network kwargs, weights file name and SHA-256). Returns the JSON path."""
    from .checkpoint import save_weights

    return save_weights(net, path, dict(config, schedule=schedule.to_config()), ARCHITECTURE, net.config, overwrite)


def load_cddm(name_or_path: str | Any, device: Any = None) -> tuple[LatentScoreNet, NoiseSchedule, dict[str, Any]]:
    """A trained CDDM (network in eval mode on ``device``, its schedule, its JSON config) from a
    shipped name (``models/checkpoints/NAME.json``) or a path; safetensors only."""
    from .checkpoint import load_weights

    net, cfg = load_weights(name_or_path, ARCHITECTURE, lambda kw: LatentScoreNet(tuple(kw.pop("latent_shape")), **kw),
                            device, "CDDM")
    return net, NoiseSchedule.from_config(cfg["schedule"]), cfg