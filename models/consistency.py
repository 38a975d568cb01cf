"""End-to-end consistency distillation (EECD) of the VE latent teacher (seed 003, Section IV-C,
Alg. 4). Units, grid and weights as in :mod:`semradio.models.ve` (diffusion units,
``H_z = diag(W_s)``, ``H_n = diag(W_n)``).

Consistency function with the boundary parameterization (Song et al. 2023):

    f_theta(z, t) = c_skip(t) z + c_out(t) F_theta(z, t),
    c_skip(t) = sigma_d^2 / ((t - t_min)^2 + sigma_d^2),
    c_out(t)  = sigma_d (t - t_min) / sqrt(sigma_d^2 + t^2),

so ``f_theta(z, t_min) = z`` exactly (c_skip = 1, c_out = 0 in floating point). The free function
is ``F_theta = (1 - c_skip)/c_out * D_theta`` with ``D_theta(z, t) = z - t H_n G_theta(z, t)`` a
denoiser head on a :class:`~semradio.models.ve.VENoiseNet` ``G_theta`` (``F := 0`` at t_min,
where its factor vanishes continuously). Hence ``f = c_skip z + (1 - c_skip) D_theta``: at
initialization from the teacher's weights, ``f`` is the teacher's one-shot denoiser away from
t_min.

Distillation loss (one teacher ODE step between adjacent grid points, EMA target): with
``n ~ U{1..n_max-1}``, ``z_{n+1} = H_z z_R + t_{n+1} H_n eps`` (eq. 25) and ``z^_n`` one Heun
step of the teacher PF-ODE (eq. 27) from ``t_{n+1}`` to ``t_n``,

    L_CD = d( G(out(f_theta(z_{n+1}, t_{n+1}))), G(out(f_ema(z^_n, t_n))) ),

where ``out`` maps to the codec's latent (:func:`semradio.models.ve.to_output`) and ``G`` is the
frozen JSCC decoder: the distance is measured on decoded images (the seed uses LPIPS, which has
no offline weights here; ``d`` is the per-pixel squared error, optionally plus ``1 - SSIM``;
MS-SSIM is not usable on 32x32 images with pytorch_msssim, whose four downsamplings need a side
> 16 (win - 1)). An optional direct image-space term ``||G(out(f_theta(.)))- x||^2`` against the
transmitted image can be added (``semradio train eecd --direct``).

Sampling (Alg. 4): ``z^ = f(y~, t_m)``; for s = 2, ``z_{tau_2} = z^ + t_{tau_2} H_n eps`` and
``z^ = f(z_{tau_2}, t_{tau_2})``; output ``H_z^{-1} z^`` (:func:`to_output`). NFE = s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .ve import VENoiseNet, karras_grid, match_index, to_output


def boundary_coefficients(t: torch.Tensor, t_min: float, sigma_data: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``(c_skip(t), c_out(t))`` of the consistency parameterization (shapes of ``t``).

    At ``t <= t_min`` the values are set to exactly 1 and 0 (floating-point division need not
    return exactly 1 there), so ``f(z, t_min) = z`` holds bit for bit."""
    d = t - t_min
    c_skip = sigma_data**2 / (d * d + sigma_data**2)
    c_out = sigma_data * d / torch.sqrt(sigma_data**2 + t * t)
    at_min = t <= t_min
    return torch.where(at_min, torch.ones_like(c_skip), c_skip), torch.where(at_min, torch.zeros_like(c_out), c_out)


class ConsistencyNet(nn.Module):
    """``f_theta(z, t, H_z, H_n)`` (B, D) -> (B, D), diffusion units; see the module docstring.

    Args:
        latent_shape, width, blocks, emb: the inner :class:`VENoiseNet` ``G_theta``.
        t_min: the boundary time (grid t_1); sigma_data: data scale of ``c_skip``/``c_out``.
    """

    def __init__(self, latent_shape: tuple[int, int, int], width: int = 64, blocks: int = 4, emb: int = 128,
                 t_min: float = 0.002, sigma_data: float = 0.5) -> None:
        super().__init__()
        self.g = VENoiseNet(latent_shape, width=width, blocks=blocks, emb=emb)
        self.latent_shape = self.g.latent_shape
        self.t_min = float(t_min)
        self.sigma_data = float(sigma_data)
        self.config = dict(self.g.config, t_min=self.t_min, sigma_data=self.sigma_data)

    def forward(self, z: torch.Tensor, t: torch.Tensor, w_s: torch.Tensor, w_n: torch.Tensor) -> torch.Tensor:
        t = t.to(z.dtype).reshape(-1)
        tt = t.reshape(-1, 1)
        c_skip, c_out = boundary_coefficients(tt, self.t_min, self.sigma_data)
        denoised = z - tt * w_n * self.g(z, t, w_s, w_n)
        ratio = torch.where(c_out > 0, (1.0 - c_skip) / torch.where(c_out > 0, c_out, torch.ones_like(c_out)),
                            torch.zeros_like(c_out))
        return c_skip * z + c_out * (ratio * denoised)


def heun_step_batched(teacher: VENoiseNet, z: torch.Tensor, t_cur: torch.Tensor, t_next: torch.Tensor,
                      w_s: torch.Tensor, w_n: torch.Tensor) -> torch.Tensor:
    """One Heun step of the teacher PF-ODE ``dz/dt = H_n eps(z, t)`` with per-sample times (B,)."""
    dt = (t_next - t_cur).reshape(-1, 1)
    d1 = w_n * teacher(z, t_cur, w_s, w_n)
    z1 = z + dt * d1
    d2 = w_n * teacher(z1, t_next, w_s, w_n)
    return z + dt * 0.5 * (d1 + d2)


Decode = Callable[[torch.Tensor], torch.Tensor]


def image_distance(a: torch.Tensor, b: torch.Tensor, ssim_weight: float = 0.0) -> torch.Tensor:
    """Mean squared error between image batches (B, C, H, W), plus ``ssim_weight (1 - SSIM)``
    (pytorch_msssim single-scale SSIM, Gaussian window 7, sigma 1.5)."""
    loss = torch.mean((a - b) ** 2)
    if ssim_weight > 0:
        from pytorch_msssim import ssim

        loss = loss + ssim_weight * (1.0 - ssim(a.clamp(0, 1), b.clamp(0, 1), data_range=1.0, win_size=7))
    return loss


def consistency_distillation_loss(student: ConsistencyNet, target: ConsistencyNet, teacher: VENoiseNet,
                                  decode: Decode, x: torch.Tensor, w_s: torch.Tensor, w_n: torch.Tensor,
                                  grid: torch.Tensor, n_max: int, output: str = "latent", ws_floor: float = 0.05,
                                  ssim_weight: float = 0.0, generator: torch.Generator | None = None,
                                  shard: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
    """EECD loss ``L_CD`` (module docstring) for one batch.

    Args:
        decode: frozen decoder, equalizer-scale latent (B, D) -> images (B, C, H, W).
        x: (B, D) transmitted latents in diffusion units (``z_R``); w_s, w_n: (B, D).
        grid: Karras grid (N+1,); n ~ U{1..n_max-1}.
        shard: this rank's rows of a data-parallel batch: n and eps are drawn for the global batch
            and sliced (:func:`semradio.models.link.sharded_draw`).
    Returns: (the loss, the student's decoded images at t_{n+1} (B, C, H, W))."""
    from semradio.models.link import sharded_draw

    B = x.shape[0]
    g = grid.to(x.device, x.dtype)
    n = sharded_draw(lambda shp: torch.randint(1, n_max, shp, device=x.device, generator=generator), (B,), shard)
    t_hi, t_lo = g[n + 1], g[n]
    eps = sharded_draw(lambda shp: torch.randn(shp, device=x.device, dtype=x.dtype, generator=generator),
                       tuple(x.shape), shard)
    z_hi = w_s * x + t_hi.reshape(-1, 1) * w_n * eps
    with torch.no_grad():
        z_lo = heun_step_batched(teacher, z_hi, t_hi, t_lo, w_s, w_n)
        img_target = decode(to_output(target(z_lo, t_lo, w_s, w_n), w_s, output, ws_floor))
    img_student = decode(to_output(student(z_hi, t_hi, w_s, w_n), w_s, output, ws_floor))
    return image_distance(img_student, img_target, ssim_weight), img_student


def tau2_index(grid: torch.Tensor, m: int, ratio: float = 0.3) -> int:
    """Alg. 4's second subsequence point for s = 2: the grid index ``< m`` (and >= 1) whose time
    is closest to ``ratio * t_m``."""
    if m <= 1:
        return 1
    target = ratio * float(grid[m])
    idx = int(torch.argmin((grid[1:m] - target).abs())) + 1
    return max(1, min(idx, m - 1))


@torch.no_grad()
def eecd_sample(net: ConsistencyNet, y: torch.Tensor, w_s: torch.Tensor, w_n: torch.Tensor, grid: torch.Tensor,
                m: int, s: int = 1, tau2_ratio: float = 0.3,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, int]:
    """Algorithm 4 in diffusion units: ``z^ = f(y~, t_m)``; for s = 2 re-noise to ``t_{tau_2}``
    and apply f again. Returns (estimate of ``z_0 = H_z z_R`` (B, D), NFE = s)."""
    if s not in (1, 2):
        raise ValueError(f"subsequence length s must be 1 or 2, got {s}")
    B = y.shape[0]
    if m == 0:
        return y, 0
    t = torch.full((B,), float(grid[m]), dtype=y.dtype, device=y.device)
    z = net(y, t, w_s, w_n)
    if s == 2:
        k = tau2_index(grid, m, tau2_ratio)
        tk = float(grid[k])
        eps = torch.randn(y.shape, dtype=y.dtype, device=y.device, generator=generator)
        z = net(z + tk * w_n * eps, torch.full((B,), tk, dtype=y.dtype, device=y.device), w_s, w_n)
    return z, s


def update_ema(target: nn.Module, online: nn.Module, decay: float) -> None:
    """``theta^- <- decay theta^- + (1 - decay) theta`` (parameters and buffers)."""
    with torch.no_grad():
        for pt, po in zip(target.parameters(), online.parameters()):
            pt.mul_(decay).add_(po, alpha=1.0 - decay)


# ------------------------------------------------------------------------ checkpoints
ARCHITECTURE = "eecd_consistency_net"


def save_eecd(net: ConsistencyNet, grid_config: dict[str, Any], path: str | Path, config: dict[str, Any], overwrite: bool = False) -> Path:
    """Write ``path.safetensors`` + ``path.json``; returns the JSON path."""
    from .checkpoint import save_weights

    return save_weights(net, path, dict(config, grid=grid_config), ARCHITECTURE, net.config, overwrite)


def load_eecd(name_or_path: str | Path, device: Any = None) -> tuple[ConsistencyNet, torch.Tensor, dict[str, Any]]:
    """A trained EECD consistency net (eval mode on ``device``), its grid and JSON config."""
    from .checkpoint import load_weights

    net, cfg = load_weights(name_or_path, ARCHITECTURE,
                            lambda kw: ConsistencyNet(tuple(kw.pop("latent_shape")), **kw), device, "EECD")
    return net, karras_grid(**cfg["grid"]), cfg


__all__ = ["ARCHITECTURE", "ConsistencyNet", "boundary_coefficients", "consistency_distillation_loss",
           "eecd_sample", "heun_step_batched", "image_distance", "load_eecd", "match_index", "save_eecd",
           "tau2_index", "update_ema"]
