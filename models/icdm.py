"""ICDM: interference cancellation diffusion models (Wu et al.; seed 000, sections II-III).

Units. Like :mod:`semradio.models.cddm`, the math here works in *diffusion units*: the
equalizer's real output (per-component signal power ~1/2) times sqrt(2). With ``x``, ``z`` the
unit-variance real forms of the signal and of the interference ``h_z z_c`` (Lemma 1), eq. (3)
reads::

    y = sqrt(Px) W_x x + sqrt(Pz) W_z z + W_n n,    n ~ N(0, s2 I)        (eq. 3, x sqrt(2))

so the seed's ``(s2/2) W_n^2`` becomes ``s2 W_n^2`` here. ``W_x`` (= the tag ``W_s``) and
``W_n`` are diagonals (B, 2k); ``W_z`` is the compact (B, 2k) form of
:func:`semradio.dsp.channel.apply_w_z` (real form of multiplying by conj(c)).

Time. The seed runs from noise (t = 0) to clean (t = T) with ``alpha_t`` the *cumulative*
signal fraction; here a trajectory is a decreasing list of DDPM steps ``tau_0 > ... > tau_{N-1}``
of a :class:`NoiseSchedule` (abar = the seed's alpha) and ends at the schedule's least noisy
step 0 (diffusers' ``final_sigmas_type="sigma_min"``).

Priors (eqs. 24-29, Algorithm 1). :class:`PriorNet` predicts the noise ``eps`` of
``x_t = sqrt(abar_t) x + sqrt(1 - abar_t) eps``; ``grad log p(x_t) = -eps / sqrt(1 - abar_t)``
(eq. 29). One net learns the signal latents (s_theta), one the interference per channel type
(s_phi; under Rayleigh its data include the unknown gain h_z, Lemma 1).

Guidance (eqs. 38, 40). Everything a sampler consumes is in the noise-prediction form; the
joint gradient of eq. (40) is ``r_x = eps_x - beta rbar_x`` as printed (see :func:`joint_eps`;
for ``exact`` the score-to-noise factor sqrt(1 - abar_t) of eq. 29 is written out, so beta =
gamma = 1 with the exact Gaussian terms is the exact posterior score). Variants
(Table I): ``icdm`` (eq. 38 with zeta_t = 1/(2 - abar_t), Theta_t = s2 W_n^2, eqs. 36-37),
``exact`` (eqs. 34-35 for unit Gaussian priors under the VP forward process: zeta_t =
sqrt(abar_t), Theta_t = s2 W_n^2 + (1 - abar_t) W W^T), ``dps`` (eq. 51), ``gdm`` (eq. 52),
``projection`` (eqs. 53-54). The samplers live in :mod:`semradio.models.icdm_sampler`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from semradio.dsp.channel import apply_w_z, apply_w_z_t

from .cddm import _ResBlock
from .embeddings import timestep_embedding
from .schedulers import NoiseSchedule, gaussian_eps

#: Gradient estimates of the channel transition term (seed 000 Table I) plus the exact one.
VARIANTS = ("icdm", "exact", "dps", "gdm", "projection")
#: Default schedule of the priors (DDPM linear, T = 1000; diffusers' "linear" betas).
DEFAULT_SCHEDULE = {"kind": "linear", "T": 1000, "beta_1": 1e-4, "beta_T": 0.02}
THETA_FLOOR = 1e-12

EpsFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ------------------------------------------------------------------------------ priors
class PriorNet(nn.Module):
    """Unconditional noise predictor ``s(x_t, t)`` (seed 000 eq. 27) over a (C, h, w) latent.

    Same residual FiLM blocks as :class:`semradio.models.cddm.LatentScoreNet`, without the
    channel-weight inputs (a prior does not see the channel). Input/output (B, D), t (B,) long.
    """

    def __init__(self, latent_shape: tuple[int, int, int], width: int = 64, blocks: int = 4,
                 emb: int = 128) -> None:
        super().__init__()
        C, h, w = (int(v) for v in latent_shape)
        self.latent_shape = (C, h, w)
        self.config = {"latent_shape": [C, h, w], "width": width, "blocks": blocks, "emb": emb}
        self.emb_dim = emb
        self.t_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Conv2d(C, width, 3, padding=1)
        self.blocks = nn.ModuleList(_ResBlock(width, emb) for _ in range(blocks))
        self.out_norm = nn.GroupNorm(8, width)
        self.out = nn.Conv2d(width, C, 3, padding=1)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        B = x.shape[0]
        e = self.t_mlp(timestep_embedding(t, self.emb_dim))
        h = self.inp(x.reshape(B, *self.latent_shape))
        for blk in self.blocks:
            h = blk(h, e)
        return self.out(torch.nn.functional.silu(self.out_norm(h))).reshape(B, -1)


def prior_loss(net: nn.Module, x0: torch.Tensor, schedule: NoiseSchedule,
               generator: torch.Generator | None = None, shard: Any = None) -> torch.Tensor:
    """Eq. (27) / Algorithm 1: ``E ||s(sqrt(abar_t) x0 + sqrt(1-abar_t) eps, t) - eps||^2``,
    t uniform on 0..T-1; ``x0`` (B, D) in diffusion units; ``shard``: this rank's rows of a
    data-parallel batch (t and eps drawn for the global batch, :func:`semradio.models.link.sharded_draw`)."""
    from semradio.models.link import sharded_draw

    B = x0.shape[0]
    t = sharded_draw(lambda shp: torch.randint(0, schedule.T, shp, device=x0.device, generator=generator), (B,),
                     shard)
    eps = sharded_draw(lambda shp: torch.randn(shp, device=x0.device, dtype=x0.dtype, generator=generator),
                       tuple(x0.shape), shard)
    ab = schedule.alpha_bars.to(x0.device)[t].to(x0.dtype)[:, None]
    return torch.mean((net(ab.sqrt() * x0 + (1 - ab).sqrt() * eps, t) - eps) ** 2)


def gaussian_prior_eps(schedule: NoiseSchedule, var: float = 1.0) -> EpsFn:
    """Exact noise prediction for a ``N(0, var I)`` prior: ``E[eps | x_t] = sqrt(1-abar) x_t /
    (abar var + 1 - abar)`` (:func:`semradio.models.schedulers.gaussian_eps` with W = 1; a
    closed-form oracle)."""
    abars = schedule.alpha_bars

    def eps(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        ab = abars.to(x.device)[t].to(x.dtype).reshape(-1, 1)
        return gaussian_eps(x, ab.sqrt(), (1 - ab).sqrt(), var)

    return eps


# ----------------------------------------------------------------------------- the link
@dataclass
class Link:
    """What the receiver knows about one frame, in diffusion units.

    Attributes:
        y: (B, 2k) received vector ``sqrt(2) * equalizer output``.
        w_x, w_n, w_z: (B, 2k) Lemma 1 weights (tags ``W_s``, ``W_n``, compact ``W_z``).
        s2: complex noise variance; px, pz: transmit powers (Pz from the SINR).
    """

    y: torch.Tensor
    w_x: torch.Tensor
    w_n: torch.Tensor
    w_z: torch.Tensor
    s2: float
    px: float = 1.0
    pz: float = 1.0

    def predict(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Noise-free part of eq. (3): ``sqrt(Px) W_x x + sqrt(Pz) W_z z``."""
        return math.sqrt(self.px) * self.w_x * x + math.sqrt(self.pz) * apply_w_z(self.w_z, z)

    def back(self, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``W^T v`` split into its x and z parts: ``(sqrt(Px) W_x v, sqrt(Pz) W_z^T v)``."""
        return math.sqrt(self.px) * self.w_x * v, math.sqrt(self.pz) * apply_w_z_t(self.w_z, v)

    def wwt(self) -> torch.Tensor:
        """Diagonal of ``W W^T = Px W_x^2 + Pz W_z W_z^T`` (B, 2k) (W_z W_z^T = |c|^2 I)."""
        k = self.w_z.shape[-1] // 2
        c2 = self.w_z[..., :k] ** 2 + self.w_z[..., k:] ** 2
        return self.px * self.w_x ** 2 + self.pz * torch.cat([c2, c2], dim=-1)

    def to(self, device: Any, dtype: torch.dtype = torch.float32) -> "Link":
        return Link(*(v.to(device, dtype) for v in (self.y, self.w_x, self.w_n, self.w_z)),
                    s2=self.s2, px=self.px, pz=self.pz)


def interference_power(sinr_db: float, noise_var: float, px: float = 1.0) -> float:
    """``Pz = Px / 10^(SINR/10) - s2`` (SINR = Px/(Pz + s2)), floored at 0."""
    return max(px / 10 ** (sinr_db / 10) - noise_var, 0.0)


def joint_lmmse(link: Link) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Joint linear MMSE estimate of (x, z) given y for x, z ~ N(0, I) (closed form; the
    limit the samplers must reach with exact Gaussian scores). Returns ``(x_hat, z_hat,
    posterior covariance (B, 4k, 4k))`` in float64."""
    y = link.y.double()
    B, D = y.shape
    k = D // 2
    Wx = torch.diag_embed(link.w_x.double()) * math.sqrt(link.px)
    cr, ci = link.w_z.double()[:, :k], link.w_z.double()[:, k:]
    dr, di = torch.diag_embed(cr), torch.diag_embed(ci)
    Wz = torch.cat([torch.cat([dr, di], -1), torch.cat([-di, dr], -1)], -2) * math.sqrt(link.pz)
    W = torch.cat([Wx, Wz], dim=-1)  # (B, D, 2D)
    N = torch.diag_embed(link.s2 * link.w_n.double() ** 2)
    S = W @ W.transpose(1, 2) + N
    G = W.transpose(1, 2) @ torch.linalg.inv(S)  # (B, 2D, D)
    v = (G @ y[:, :, None])[..., 0]
    cov = torch.eye(2 * D, dtype=torch.float64) - G @ W
    return v[:, :D], v[:, D:], cov


def per_symbol_lmmse(y_c: torch.Tensor, h: torch.Tensor, v_x: torch.Tensor | float,
                     v_in: torch.Tensor | float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-symbol linear MMSE of complex symbols x from ``y = h x + u``, with x ~ CN(0, v_x)
    and the interference plus noise u ~ CN(0, v_in) independent, h known (all broadcast to the
    shape of y, complex (..., k))::

        x_hat = conj(h) v_x / (|h|^2 v_x + v_in) * y,    E|x_hat - x|^2 = v_x v_in / (|h|^2 v_x + v_in)

    Under fast Rayleigh interference ``h_z z`` with h_z ~ CN(0, 1) unknown, u given |z| is
    exactly CN(0, Pz |z|^2 + s2): ``v_in`` set from the true |z| is a genie bound on what any
    prior of the interference can add to a Gaussian signal model, ``Pz + s2`` what treating it
    as noise gets. Returns ``(x_hat, mse per symbol)``.
    """
    v_x = torch.as_tensor(v_x, dtype=y_c.real.dtype)
    v_in = torch.as_tensor(v_in, dtype=y_c.real.dtype)
    den = h.abs() ** 2 * v_x + v_in
    return h.conj() * v_x / den * y_c, v_x * v_in / den


# ------------------------------------------------------------------ guidance (eqs. 38-54)
def likelihood_terms(link: Link, x_t: torch.Tensor, z_t: torch.Tensor, abar: float,
                     mode: str = "icdm") -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (38): ``rbar_x = sqrt(Px) zeta^2 W_x^T Theta^-1 (y/zeta - sqrt(Px) W_x x_t -
    sqrt(Pz) W_z z_t)`` and ``rbar_z`` likewise with ``sqrt(Pz) W_z^T``.

    ``mode="icdm"``: zeta = 1/(2 - abar) (eq. 37), Theta = s2 W_n^2 (eq. 36, diffusion units).
    ``mode="exact"``: zeta = sqrt(abar), Theta = s2 W_n^2 + (1 - abar) W W^T: the exact
    ``grad log p(y | x_t, z_t)`` for unit Gaussian priors under the VP process (eqs. 32-35
    with the sqrt(abar) of eq. 24 kept).
    """
    if mode == "icdm":
        zeta = 1.0 / (2.0 - abar)
        theta = link.s2 * link.w_n ** 2
    elif mode == "exact":
        zeta = math.sqrt(abar)
        theta = link.s2 * link.w_n ** 2 + (1.0 - abar) * link.wwt()
    else:
        raise ValueError(f"likelihood mode must be 'icdm' or 'exact', got {mode!r}")
    res = (link.y / zeta - link.predict(x_t, z_t)) / theta.clamp_min(THETA_FLOOR)
    gx, gz = link.back(res)
    return zeta ** 2 * gx, zeta ** 2 * gz


def tweedie_x0(x_t: torch.Tensor, eps: torch.Tensor, abar: float) -> torch.Tensor:
    """Eq. (50): ``x_hat = (x_t - sqrt(1 - abar) eps) / sqrt(abar)``."""
    return (x_t - math.sqrt(1.0 - abar) * eps) / math.sqrt(abar)


def guidance_terms(variant: str, link: Link, x_t: torch.Tensor, z_t: torch.Tensor, eps_x: torch.Tensor,
                   eps_z: torch.Tensor, abar: float, generator: torch.Generator | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(rbar_x, rbar_z)``: the estimate of ``grad log p(y | x_t, z_t)`` of ``variant``.

    * ``icdm`` / ``exact``: :func:`likelihood_terms` (eq. 38).
    * ``dps`` (eq. 51): ``-kappa grad_{x_hat} ||y - W v_hat||^2`` with ``kappa = 1/(2||res||)``
      per item, i.e. ``W^T res / ||res||``, at the Tweedie estimates of eq. (50).
    * ``gdm`` (eq. 52): ``W^T (W W^T + c_t I)^-1 res`` with ``c_t = (2 - abar) ||y||^2 /
      (1 - abar)`` per item, at the Tweedie estimates.
    * ``projection`` (eqs. 53-54): ``W^T (y_t - W v_t)`` with ``y_t = sqrt(abar) y +
      sqrt(1 - abar) eps_y`` (the factor 2 of the gradient folds into beta, gamma).
    The signs make every variant an ascent direction of the likelihood (eq. 51-54 as printed
    are gradients of the residual norm, i.e. their negatives).
    """
    if variant in ("icdm", "exact"):
        return likelihood_terms(link, x_t, z_t, abar, variant)
    if variant in ("dps", "gdm"):
        x0, z0 = tweedie_x0(x_t, eps_x, abar), tweedie_x0(z_t, eps_z, abar)
        res = link.y - link.predict(x0, z0)
        if variant == "dps":
            res = res / res.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        else:
            c = (2.0 - abar) * (link.y ** 2).sum(-1, keepdim=True) / max(1.0 - abar, 1e-12)
            res = res / (link.wwt() + c)
        return link.back(res)
    if variant == "projection":
        eps_y = torch.randn(link.y.shape, generator=generator, device=link.y.device, dtype=link.y.dtype)
        y_t = math.sqrt(abar) * link.y + math.sqrt(1.0 - abar) * eps_y
        return link.back(y_t - link.predict(x_t, z_t))
    raise ValueError(f"guidance must be one of {VARIANTS}, got {variant!r}")


def joint_eps(variant: str, link: Link, x_t: torch.Tensor, z_t: torch.Tensor, eps_x: torch.Tensor,
              eps_z: torch.Tensor, abar: float, beta: float, gamma: float,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. (40): ``r_theta = eps_x - beta c_t rbar_x``, ``r_phi = eps_z - gamma c_t rbar_z``.

    ``c_t = 1`` as printed in eq. (40) for the seed's variants (icdm, dps, gdm, projection):
    the noise prediction is shifted by the weighted gradient, so in score units the guidance
    grows like 1/sqrt(1 - abar_t) towards the clean end. For ``exact`` ``c_t = sqrt(1 - abar_t)``
    (eq. 29's score-to-noise factor), so beta = gamma = 1 is the exact posterior score.
    """
    if beta == 0.0 and gamma == 0.0:
        return eps_x, eps_z
    gx, gz = guidance_terms(variant, link, x_t, z_t, eps_x, eps_z, abar, generator)
    s = math.sqrt(1.0 - abar) if variant == "exact" else 1.0
    return eps_x - beta * s * gx, eps_z - gamma * s * gz


# ------------------------------------------------------------------------- checkpoints
ARCHITECTURE = "icdm_prior_net"


def save_prior(net: PriorNet, schedule: NoiseSchedule, path: Any, config: dict[str, Any], overwrite: bool = False) -> Any:
    """Write ``path.safetensors`` + ``path.json`` (config + schedule + architecture)."""
    from .checkpoint import save_weights

    return save_weights(net, path, dict(config, schedule=schedule.to_config()), ARCHITECTURE, net.config, overwrite)


def load_prior(name_or_path: Any, device: Any = None) -> tuple[PriorNet, NoiseSchedule, dict[str, Any]]:
    """A trained prior (eval mode on ``device``), its schedule and JSON config, from a shipped
    name (``models/checkpoints/NAME.json``) or a path; safetensors only."""
    from .checkpoint import load_weights

    net, cfg = load_weights(name_or_path, ARCHITECTURE, lambda kw: PriorNet(tuple(kw.pop("latent_shape")), **kw),
                            device, "ICDM prior")
    return net, NoiseSchedule.from_config(cfg["schedule"]), cfg


def sampler_tag(sampler: str = "conjpc", eta: float = 0.0) -> str:
    """The sampler's name, plus ``"-eta<eta>"`` for a stochastic DDIM (e.g. ``ddim-eta1``)."""
    return sampler + (f"-eta{eta:g}" if sampler == "ddim" and eta > 0 else "")


def guidance_key(variant: str, sampler: str = "conjpc", eta: float = 0.0, samples: int = 1) -> str:
    """Key of a tuned-weights table: the variant for ConJPC (the seed's sampler), else
    ``"<variant>@<sampler_tag>"`` (e.g. ``dps@ddim-eta1``); with ``samples`` > 1 (draws averaged
    into a posterior mean, which wants weaker guidance than one draw) ``"-mean"`` is appended."""
    key = variant if sampler == "conjpc" else f"{variant}@{sampler_tag(sampler, eta)}"
    return key + ("-mean" if samples > 1 else "")


def default_guidance(config: dict[str, Any], sinr_db: float, variant: str = "icdm", sampler: str = "conjpc",
                     eta: float = 0.0, samples: int = 1) -> tuple[float, float]:
    """(beta, gamma) stored by ``semradio train icdm-tune`` in a signal prior's config
    (``guidance[key]`` = list of {"sinr_db", "beta", "gamma"}, key from :func:`guidance_key`;
    falling back from the averaged table to the one-draw table of the sampler, then to the
    variant's ConJPC table), nearest SINR; (1, 1) when none was tuned."""
    tables = config.get("guidance") or {}
    table = (tables.get(guidance_key(variant, sampler, eta, samples)) or tables.get(guidance_key(variant, sampler, eta))
             or tables.get(variant) or [])
    if not table:
        return 1.0, 1.0
    best = min(table, key=lambda r: abs(float(r["sinr_db"]) - sinr_db))
    return float(best["beta"]), float(best["gamma"])


__all__ = ["ARCHITECTURE", "DEFAULT_SCHEDULE", "Link", "PriorNet", "VARIANTS", "apply_w_z", "apply_w_z_t",
           "default_guidance", "gaussian_prior_eps", "guidance_key", "guidance_terms", "interference_power",
           "joint_eps", "joint_lmmse", "likelihood_terms", "load_prior", "per_symbol_lmmse", "prior_loss",
           "sampler_tag", "save_prior", "tweedie_x0"]
