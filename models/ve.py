"""VE latent diffusion teacher for channel denoising (seed 003, "EECD", Section IV-A/B,
eqs. 17-28).

Units and the mapping to the equalizer's Lemma 1 weights. The MMSE equalizer emits the real
vector ``y = W_s x + W_n n'`` (seed 000 Lemma 1; :func:`semradio.dsp.channel.equalize`)
with ``x`` the real form of unit-power complex symbols (per-component variance ~1/2) and
``n'`` the rotated channel noise (per-component variance ``s2/2``). Multiplying by sqrt(2)
(:func:`semradio.models.cddm.to_diffusion_units`) gives, per component,

    y~ = W_s x~ + W_n sigma eps,   x~ = sqrt(2) x,  sigma = sqrt(s2),  eps ~ N(0, I),

which is seed 003 eq. (22) ``y_R = H_z z_R + H_n sigma eps`` with ``H_z = diag(W_s)`` (eq. 20)
and ``H_n = diag(W_n)`` (eq. 21; the seed writes ``Re(h^H)/(|h|^2+s2)`` for the noise weight of
the unrotated noise; after the rotation ``conj(h) n / |h|``, which has the law of ``n``, the
weight is ``|h|/(|h|^2+s2)``, the same for both halves). For AWGN frames the equalizer's
identity convention gives ``H_z = H_n = I``. All functions here work in these diffusion units.

Forward process (eq. 25): ``z_0 = H_z z_R`` and ``z_t = z_0 + t H_n eps`` (VE, ``sigma(t) =
H_n t``), so the received ``y~`` *is* ``z_t`` at ``t = sigma``; the start point of the reverse
process is the Karras grid point ``t_m = argmin |t_m^2 - s2|`` (eq. 28 text, Alg. 4 line 4).

Time grid (Karras et al. 2022; Section IV-B): ``t_0 = 0`` and for n = 1..N
``t_n = (t_1^(1/rho) + (n-1)/(N-1) (t_N^(1/rho) - t_1^(1/rho)))^rho`` (t_1 = 0.002, t_N = 2,
rho = 7, N = 100 by default).

Network (eq. 26): ``eps_theta(z_t, t, H_z, H_n)`` predicts eps; the score is
``-eps_theta / (H_n t)``. Loss ``E ||eps_theta(H_z z_R + H_n t_n eps, t_n) - eps||^2`` with n
uniform on the grid indices 1..n_max. The net is :class:`semradio.models.cddm.LatentScoreNet`
wrapped with an input scaling ``c_in = 1/sqrt(1 + t^2)`` and a continuous time embedding
``tau(t)``: the (fractional) step of a reference VP schedule whose noise ratio
``(1 - abar)/abar`` equals ``t^2`` (a monotone function of ``log t``, linear in ``log t``
outside the table). With this choice ``c_in z_t`` is exactly the VP-diffused latent
``sqrt(abar) z_0 + sqrt(1 - abar) H_n eps`` of the CDDM (seed 002) at that step, so a trained
CDDM is a valid initialization of the VE teacher (``semradio train ve-ldm --init-cddm``).

Probability-flow ODE (eqs. 24, 27): with ``u = 0`` and ``g(t) = sqrt(2t) H_n``,
``dz/dt = -H_n^2 t grad log p(z_t) = H_n eps_theta(z_t, t)`` (eq. 27 omits the ``H_n``; it is
needed when H_n != I). Euler or Heun (EDM Alg. 1, deterministic; no second-order correction on
the last step to t_0 = 0) from ``t_m`` down the grid; NFE = m (Euler) or 2m - 1 (Heun).

Output: ``z_0`` estimates ``H_z z_R``; :func:`to_output` returns either ``H_z^{-1} z_0`` (with
``W_s`` floored at ``ws_floor``: where a deep fade makes ``W_s`` tiny the inverse is not well
defined and is replaced by ``z_0 / ws_floor``) or ``z_0`` itself (the equalizer's scale, what
the codec's decoder was trained on), back in the equalizer's units (divided by sqrt(2)).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from .cddm import LatentScoreNet
from .schedulers import NoiseSchedule, gaussian_eps, karras_grid, match_index

#: Solvers of :func:`ve_sample`.
SOLVERS = ("euler", "heun")
#: Output conventions of :func:`to_output`.
OUTPUTS = ("latent", "equalizer")

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------- time grid
# ---------------------------------------------------------------------------- forward
def ve_diffuse(z0: torch.Tensor, w_n: torch.Tensor, eps: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Eq. (25): ``z_t = z_0 + t H_n eps``; z0, w_n, eps (B, D); t (B,) or scalar."""
    tt = torch.as_tensor(t, dtype=z0.dtype, device=z0.device).reshape(-1, *([1] * (z0.dim() - 1)))
    return z0 + tt * w_n * eps


def to_output(z0: torch.Tensor, w_s: torch.Tensor, mode: str = "latent", ws_floor: float = 0.05) -> torch.Tensor:
    """Diffusion-unit estimate of ``z_0 = H_z z_R`` -> equalizer-scale output (B, D).

    ``"latent"``: ``H_z^{-1} z_0 / sqrt(2)`` with ``W_s`` floored at ``ws_floor``;
    ``"equalizer"``: ``z_0 / sqrt(2)`` (the estimate of ``W_s x``)."""
    if mode == "latent":
        return z0 / w_s.clamp_min(ws_floor) / math.sqrt(2.0)
    if mode == "equalizer":
        return z0 / math.sqrt(2.0)
    raise ValueError(f"output must be one of {OUTPUTS}, got {mode!r}")


# ---------------------------------------------------------------------------- network
def vp_reference_schedule() -> NoiseSchedule:
    """The VP schedule that defines the time embedding (the CDDM default: linear, T = 200,
    beta 1e-4..0.05)."""
    return NoiseSchedule.make("linear", T=200, beta_1=1e-4, beta_T=0.05)


class VENoiseNet(nn.Module):
    """``eps_theta(z_t, t, H_z, H_n)`` for the VE process (eq. 26).

    Input ``z`` (B, D) in diffusion units, ``t`` (B,) float (VE time), ``w_s``, ``w_n`` (B, D)
    (H_z, H_n diagonals). Computes ``LatentScoreNet(z / sqrt(1 + t^2), tau(t), w_s, w_n)`` with
    ``tau(t)`` the continuous reference-VP step of noise ratio ``t^2`` (module docstring).
    Output (B, D): predicted eps.
    """

    def __init__(self, latent_shape: tuple[int, int, int], width: int = 64, blocks: int = 4, emb: int = 128) -> None:
        super().__init__()
        self.inner = LatentScoreNet(latent_shape, width=width, blocks=blocks, emb=emb)
        self.latent_shape = self.inner.latent_shape
        self.config = dict(self.inner.config)
        ab = vp_reference_schedule().alpha_bars
        self.register_buffer("log_ratio", torch.log((1.0 - ab) / ab).float(), persistent=False)

    def tau(self, t: torch.Tensor) -> torch.Tensor:
        """Continuous step index for VE time t (B,): piecewise-linear in ``log t^2`` through the
        reference table, extended linearly beyond its ends."""
        lr = self.log_ratio
        x = torch.log(t.float().clamp_min(1e-12)) * 2.0
        # searchsorted(lr, x) written as a count (the same index: lr is sorted), which ONNX exports
        idx = (lr[None, :] < x[:, None]).sum(dim=1).clamp(1, lr.numel() - 1)
        x0, x1 = lr[idx - 1], lr[idx]
        return (idx - 1).float() + (x - x0) / (x1 - x0)

    def forward(self, z: torch.Tensor, t: torch.Tensor, w_s: torch.Tensor, w_n: torch.Tensor) -> torch.Tensor:
        tt = t.to(z.dtype).reshape(-1, 1)
        return self.inner(z / torch.sqrt(1.0 + tt * tt), self.tau(t), w_s, w_n)


def ve_loss(net: VENoiseNet, x: torch.Tensor, w_s: torch.Tensor, w_n: torch.Tensor, grid: torch.Tensor,
            n_max: int, generator: torch.Generator | None = None, shard: Any = None) -> torch.Tensor:
    """Eq. (26): ``E ||eps_theta(H_z x~ + H_n t_n eps, t_n) - eps||^2``, n ~ U{1..n_max}.

    Args:
        x: (B, D) transmitted latents in diffusion units (``z_R = x~``).
        w_s, w_n: (B, D) Lemma 1 weights (H_z, H_n) of the simulated channel.
        shard: this rank's rows of a data-parallel batch: n and eps are drawn for the global batch
            and sliced (:func:`semradio.models.link.sharded_draw`).
    Returns: scalar loss."""
    from semradio.models.link import sharded_draw

    B = x.shape[0]
    n = sharded_draw(lambda shp: torch.randint(1, n_max + 1, shp, device=x.device, generator=generator), (B,), shard)
    t = grid.to(x.device)[n].to(x.dtype)
    eps = sharded_draw(lambda shp: torch.randn(shp, device=x.device, dtype=x.dtype, generator=generator),
                       tuple(x.shape), shard)
    z_t = ve_diffuse(w_s * x, w_n, eps, t)
    return torch.mean((net(z_t, t, w_s, w_n) - eps) ** 2)


def bind(net: VENoiseNet, w_s: torch.Tensor, w_n: torch.Tensor) -> EpsFn:
    """``eps_fn(z, t)`` (t a float scalar) with the CSI bound, for :func:`ve_sample`."""

    def eps(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return net(z, t.expand(z.shape[0]), w_s, w_n)

    return eps


@torch.no_grad()
def ode_step(eps_fn: EpsFn, z: torch.Tensor, w_n: torch.Tensor, t_cur: float, t_next: float,
             solver: str = "heun") -> tuple[torch.Tensor, int]:
    """One PF-ODE step ``dz/dt = H_n eps(z, t)`` from ``t_cur`` to ``t_next``; Heun adds the
    trapezoidal correction unless ``t_next == 0``. Returns (z_next, NFE)."""
    if solver not in SOLVERS:
        raise ValueError(f"solver must be one of {SOLVERS}, got {solver!r}")
    tc = torch.tensor(t_cur, dtype=z.dtype, device=z.device)
    d = w_n * eps_fn(z, tc)
    z_next = z + (t_next - t_cur) * d
    if solver == "euler" or t_next == 0.0:
        return z_next, 1
    tn = torch.tensor(t_next, dtype=z.dtype, device=z.device)
    d2 = w_n * eps_fn(z_next, tn)
    return z + (t_next - t_cur) * 0.5 * (d + d2), 2


@torch.no_grad()
def ve_sample(eps_fn: EpsFn, y: torch.Tensor, w_n: torch.Tensor, grid: torch.Tensor, m: int,
              solver: str = "heun") -> tuple[torch.Tensor, int]:
    """Solve the PF-ODE (eq. 27) from ``z_{t_m} = y~`` down the grid to ``t_0 = 0``.

    Args:
        eps_fn: ``eps_fn(z, t)`` (CSI bound), see :func:`bind`.
        y: (B, D) equalizer output in diffusion units (``y~``), taken as ``z_{t_m}``.
        w_n: (B, D) H_n.
        grid: Karras grid (N+1,), ``m``: start index (:func:`match_index`).
    Returns: (estimate of ``z_0 = H_z z_R`` (B, D), NFE)."""
    z, nfe = y, 0
    g = [float(v) for v in grid]
    for n in range(m, 0, -1):
        z, k = ode_step(eps_fn, z, w_n, g[n], g[n - 1], solver)
        nfe += k
    return z, nfe


def gaussian_exact_eps(var_x: torch.Tensor | float, w_s: torch.Tensor, w_n: torch.Tensor) -> EpsFn:
    """Exact ``E[eps | z_t]`` when ``z_R ~ N(0, var_x I)``: on the VE process ``a = 1``,
    ``sigma = t`` of :func:`semradio.models.schedulers.gaussian_eps` (closed-form oracle for tests)."""

    def eps(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        tt = torch.as_tensor(t, dtype=z.dtype, device=z.device).reshape(-1, *([1] * (z.dim() - 1)))
        return gaussian_eps(z, 1.0, tt, var_x, w_s, w_n)

    return eps


def gaussian_flow_solution(z_tm: torch.Tensor, t_m: float, var_x: torch.Tensor | float, w_s: torch.Tensor,
                           w_n: torch.Tensor) -> torch.Tensor:
    """Exact PF-ODE solution at t = 0 for Gaussian ``z_R ~ N(0, var_x)``: the flow is linear,
    ``z_0 = z_{t_m} sqrt(H_z^2 var_x / (H_z^2 var_x + t_m^2 H_n^2))``."""
    a = w_s**2 * var_x
    return z_tm * torch.sqrt(a / (a + t_m**2 * w_n**2))


# ------------------------------------------------------------------------ checkpoints
ARCHITECTURE = "ve_latent_noise_net"


def save_ve(net: VENoiseNet, grid_config: dict[str, Any], path: str | Path, config: dict[str, Any], overwrite: bool = False) -> Path:
    """Write ``path.safetensors`` + ``path.json`` (config + grid + architecture). Returns the JSON path."""
    from .checkpoint import save_weights

    return save_weights(net, path, dict(config, grid=grid_config), ARCHITECTURE, net.config, overwrite)





def load_ve(name_or_path: str | Path, device: Any = None) -> tuple[VENoiseNet, torch.Tensor, dict[str, Any]]:
    """A trained VE teacher (eval mode on ``device``), its Karras grid (float64) and JSON config;
    from a shipped name (``models/checkpoints/NAME.json``) or a path; safetensors only."""
    from .checkpoint import load_weights

    net, cfg = load_weights(name_or_path, ARCHITECTURE, lambda kw: VENoiseNet(tuple(kw.pop("latent_shape")), **kw),
                            device, "VE teacher")
    return net, karras_grid(**cfg["grid"]), cfg