"""ICDM samplers (seed 000, section III-C): the p-order ConJPC sampler (Algorithms 2 and 3,
eqs. 41-49) and DDIM (deterministic, or ancestral with eta = 1) / DDPM samplers with the same
joint gradients (the speed comparison of section IV-B), plus :class:`ICDMPriors` (the two
trained priors and their tuned weights) and :func:`simulate_interference` (one simulated
transmission for training and evaluation).

ConJPC is UniPC (Zhao et al., [33]) in its noise-prediction form, run jointly on (x, z):

* predictor (eqs. 41-42): from the last p joint gradients ``r`` (eq. 40, noise units)
  ``x_i+1 = (alpha_{i+1}/alpha_i) x_i - sigma_{i+1} (e^h - 1) r_i - sigma_{i+1} B(h) sum_m
  rho_m D_m`` with ``alpha = sqrt(abar)``, ``sigma = sqrt(1 - abar)``, ``lambda = log(alpha /
  sigma)`` (the seed's rho_t), ``h = lambda_{i+1} - lambda_i`` (the seed's eta_t), ``D_m =
  (r_{i-m} - r_i) / r_m`` with ``r_m = (lambda_{i-m} - lambda_i)/h`` (the seed's w_{m,t}) and
  the coefficients of eqs. (43-44) (``B(h) = e^h - 1``, "bh2"; or ``h``, "bh1");
* corrector (eqs. 47-49): the *unconditional* noise predictions at the predicted sample,
  ``D_p = s(x_bar_{i+1}) - r_i``, refine the step to order p+1. As in UniPC the network
  output at the predicted sample is reused for the next predictor (one network call per
  prior and step), whose joint gradient adds the guidance at the corrected sample;
* the first steps use lower orders (Algorithm 3 lines 2-6), and with ``lower_order_final``
  the last steps too (UniPC's default for few steps).

With beta = gamma = 0 this is exactly diffusers' ``UniPCMultistepScheduler(predict_x0=False,
solver_type="bh2", final_sigmas_type="sigma_min", timestep_spacing="linspace")`` on the same
betas (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .icdm import VARIANTS, EpsFn, Link, joint_eps
from .schedulers import NoiseSchedule, ddim_step, spaced_timesteps

SAMPLERS = ("conjpc", "ddim", "ddpm")
SOLVER_TYPES = ("bh1", "bh2")
CORRECTORS = ("unconditional", "joint")


def _unipc_coefficients(h: float, rks: list[float], order: int, solver: str) -> tuple[float, float, list[float], list[float]]:
    """UniPC's ``(e^h - 1, B(h), rhos_p, rhos_c)`` for a step of size h (noise form) with the
    ratios ``rks`` (last one 1): eqs. (43-44) with ``b_k = (phi_k(h) k!) / B(h)``."""
    h_phi_1 = math.expm1(h)
    B_h = h if solver == "bh1" else h_phi_1
    h_phi_k = h_phi_1 / h - 1.0
    fact = 1
    R, b = [], []
    r = np.asarray(rks, dtype=np.float64)
    for i in range(1, order + 1):
        R.append(r ** (i - 1))
        b.append(h_phi_k * fact / B_h)
        fact *= i + 1
        h_phi_k = h_phi_k / h - 1.0 / fact
    Rm, bv = np.stack(R), np.asarray(b)
    if order == 1:
        rhos_p: list[float] = []
        rhos_c = [0.5]
    else:
        rhos_p = [0.5] if order == 2 else list(np.linalg.solve(Rm[:-1, :-1], bv[:-1]))
        rhos_c = list(np.linalg.solve(Rm, bv))
    return h_phi_1, B_h, rhos_p, rhos_c


@dataclass
class _Point:
    """Tables of one trajectory point: abar, alpha = sqrt(abar), sigma, lambda."""

    t: int
    abar: float

    @property
    def alpha(self) -> float:
        return math.sqrt(self.abar)

    @property
    def sigma(self) -> float:
        return math.sqrt(1.0 - self.abar)

    @property
    def lam(self) -> float:
        return math.log(self.alpha) - math.log(self.sigma)


def _trajectory(schedule: NoiseSchedule, steps: int) -> list[_Point]:
    abars = schedule.alpha_bars
    ts = spaced_timesteps(schedule, steps)
    return [_Point(t, float(abars[t])) for t in ts] + [_Point(0, float(abars[0]))]


GuideFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float],
                   tuple[torch.Tensor, torch.Tensor]]


def _guide(link: Link | None, variant: str, beta: float, gamma: float,
           generator: torch.Generator | None) -> GuideFn:
    def g(x: torch.Tensor, z: torch.Tensor, ex: torch.Tensor, ez: torch.Tensor, abar: float
          ) -> tuple[torch.Tensor, torch.Tensor]:
        if link is None:
            return ex, ez
        return joint_eps(variant, link, x, z, ex, ez, abar, beta, gamma, generator)

    return g


def _init(shape: tuple[int, ...], device: Any, dtype: torch.dtype, generator: torch.Generator | None,
          x_init: torch.Tensor | None) -> torch.Tensor:
    if x_init is not None:
        return x_init.to(device, dtype).clone()
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


@torch.no_grad()
def conjpc_sample(eps_x: EpsFn, eps_z: EpsFn | None, link: Link | None, schedule: NoiseSchedule,
                  steps: int = 40, order: int = 2, guidance: str = "icdm", beta: float = 1.0,
                  gamma: float = 1.0, shape: tuple[int, int] | None = None,
                  generator: torch.Generator | None = None, x_init: torch.Tensor | None = None,
                  z_init: torch.Tensor | None = None, solver: str = "bh2", lower_order_final: bool = True,
                  corrector: str = "unconditional", dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """p-order ConJPC (Algorithm 3): estimates of (x, z) from ``x_0, z_0 ~ N(0, I)``.

    Args:
        eps_x, eps_z: noise predictors ``f(v_t, t) -> eps`` (t a (B,) long tensor) of the
            signal and interference priors; ``eps_z=None`` runs the signal alone (then
            ``link`` must be None: unconditional UniPC sampling).
        link: the received frame (:class:`Link`, diffusion units) or None (no guidance).
        steps: number of steps N (T of the seed); order: p in 1..3.
        guidance: gradient variant (``semradio.models.icdm.VARIANTS``); beta, gamma: eq. (40).
        shape: (B, D) when no ``link``/init gives it.
        corrector: ``"unconditional"`` (Algorithm 2 line 11: ``D_p = s(x_bar) - r``, the seed's
            choice) or ``"joint"`` (``D_p = r(x_bar) - r``: UniPC on the guided ODE itself; with
            exact Gaussian scores it samples the exact posterior, see the tests).
    Returns:
        ``(x_hat, z_hat or None, network evaluations per prior)``, diffusion units.
    """
    if order not in (1, 2, 3):
        raise ValueError(f"order must be 1, 2 or 3, got {order}")
    if solver not in SOLVER_TYPES:
        raise ValueError(f"solver must be one of {SOLVER_TYPES}, got {solver!r}")
    if guidance not in VARIANTS:
        raise ValueError(f"guidance must be one of {VARIANTS}, got {guidance!r}")
    if eps_z is None and link is not None:
        raise ValueError("a link needs both priors")
    if corrector not in CORRECTORS:
        raise ValueError(f"corrector must be one of {CORRECTORS}, got {corrector!r}")
    ref = link.y if link is not None else (x_init if x_init is not None else None)
    shp = tuple(ref.shape) if ref is not None else tuple(shape or ())
    if len(shp) != 2:
        raise ValueError("give a link, an initial sample or shape=(B, D)")
    device = ref.device if ref is not None else torch.device("cpu")
    x = _init(shp, device, dtype, generator, x_init)
    z = _init(shp, device, dtype, generator, z_init) if eps_z is not None else None
    pts = _trajectory(schedule, steps)
    guide = _guide(link, guidance, beta, gamma, generator)
    hist_x: list[torch.Tensor] = []
    hist_z: list[torch.Tensor] = []
    lams: list[float] = []
    last_x = last_z = None
    x_prev_pt = pts[0]  # the point of the last predictor step (set before its first use)
    this_order = 0
    lower = 0
    B = shp[0]
    for i in range(steps):
        p = pts[i]
        tt = torch.full((B,), p.t, dtype=torch.long, device=device)
        ex = eps_x(x, tt).to(dtype)
        ez = eps_z(z, tt).to(dtype) if z is not None else None
        if i > 0:  # corrector (eqs. 47-49) with the outputs at the predicted sample
            cx, cz = (ex, ez) if corrector == "unconditional" or z is None else guide(x, z, ex, ez, p.abar)
            x = _correct(x_prev_pt, p, last_x, hist_x, lams, cx, this_order, solver)
            if z is not None:
                z = _correct(x_prev_pt, p, last_z, hist_z, lams, cz, this_order, solver)
        rx, rz = guide(x, z, ex, ez, p.abar) if z is not None else (ex, None)
        hist_x = (hist_x + [rx])[-order:]
        if z is not None:
            hist_z = (hist_z + [rz])[-order:]
        lams = (lams + [p.lam])[-order:]
        this_order = min(order, steps - i) if lower_order_final else order
        this_order = min(this_order, lower + 1)
        last_x, last_z, x_prev_pt = x, z, p
        x = _predict(p, pts[i + 1], x, hist_x, lams, this_order, solver)
        if z is not None:
            z = _predict(p, pts[i + 1], z, hist_z, lams, this_order, solver)
        lower = min(lower + 1, order)
    return x, z, steps


def _predict(p0: _Point, p1: _Point, x: torch.Tensor, hist: list[torch.Tensor], lams: list[float],
             order: int, solver: str) -> torch.Tensor:
    """UniPC predictor (eq. 41) from point p0 to p1 with the last ``order`` joint gradients."""
    h = p1.lam - p0.lam
    m0 = hist[-1]
    rks, d1s = [], []
    for k in range(1, order):
        rk = (lams[-(k + 1)] - lams[-1]) / h
        rks.append(rk)
        d1s.append((hist[-(k + 1)] - m0) / rk)
    rks.append(1.0)
    h_phi_1, B_h, rhos_p, _ = _unipc_coefficients(h, rks, order, solver)
    out = (p1.alpha / p0.alpha) * x - p1.sigma * h_phi_1 * m0
    if d1s:
        out = out - p1.sigma * B_h * sum(float(r) * d for r, d in zip(rhos_p, d1s))
    return out


def _correct(p0: _Point, p1: _Point, last: torch.Tensor, hist: list[torch.Tensor], lams: list[float],
             model_t: torch.Tensor, order: int, solver: str) -> torch.Tensor:
    """UniPC corrector (eqs. 47-49): redo the step p0 -> p1 adding ``D_p = model_t - r(p0)``."""
    h = p1.lam - p0.lam
    m0 = hist[-1]
    rks, d1s = [], []
    for k in range(1, order):
        rk = (lams[-(k + 1)] - lams[-1]) / h
        rks.append(rk)
        d1s.append((hist[-(k + 1)] - m0) / rk)
    rks.append(1.0)
    h_phi_1, B_h, _, rhos_c = _unipc_coefficients(h, rks, order, solver)
    res = sum(float(r) * d for r, d in zip(rhos_c[:-1], d1s)) if d1s else 0.0
    res = res + float(rhos_c[-1]) * (model_t - m0)
    return (p1.alpha / p0.alpha) * last - p1.sigma * h_phi_1 * m0 - p1.sigma * B_h * res


@torch.no_grad()
def ddim_sample(eps_x: EpsFn, eps_z: EpsFn, link: Link, schedule: NoiseSchedule, steps: int = 200,
                guidance: str = "icdm", beta: float = 1.0, gamma: float = 1.0,
                generator: torch.Generator | None = None, x_init: torch.Tensor | None = None,
                z_init: torch.Tensor | None = None, eta: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, int]:
    """DDIM (Song et al., eq. 12) with the joint gradients of eq. (40), from step tau to tau'::

        v0_hat = (v - sqrt(1 - abar) r) / sqrt(abar)
        s      = eta sqrt((1 - abar') / (1 - abar)) sqrt(1 - abar / abar')
        v'     = sqrt(abar') v0_hat + sqrt(1 - abar' - s^2) r + s noise

    ``eta = 0``: deterministic (the Euler step of the probability-flow ODE in lambda);
    ``eta = 1``: ancestral (the DDPM posterior step over the skipped interval), whose fresh
    noise lets later steps correct the errors of the approximate guidance. ``steps``
    evaluations per prior; the last step lands on the schedule's step 0."""
    if not 0.0 <= eta <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {eta}")
    x = _init(tuple(link.y.shape), link.y.device, link.y.dtype, generator, x_init)
    z = _init(tuple(link.y.shape), link.y.device, link.y.dtype, generator, z_init)
    pts = _trajectory(schedule, steps)
    guide = _guide(link, guidance, beta, gamma, generator)
    B = x.shape[0]
    for i in range(steps):
        p, q = pts[i], pts[i + 1]
        tt = torch.full((B,), p.t, dtype=torch.long, device=x.device)
        rx, rz = guide(x, z, eps_x(x, tt), eps_z(z, tt), p.abar)
        x, z = (ddim_step(v, r, p.abar, q.abar, eta,
                          lambda v=v: torch.randn(v.shape, generator=generator, device=v.device, dtype=v.dtype))
                for v, r in ((x, rx), (z, rz)))
    return x, z, steps


@torch.no_grad()
def ddpm_sample(eps_x: EpsFn, eps_z: EpsFn, link: Link, schedule: NoiseSchedule, guidance: str = "icdm",
                beta: float = 1.0, gamma: float = 1.0, generator: torch.Generator | None = None,
                x_init: torch.Tensor | None = None, z_init: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Ancestral DDPM over all T steps with the joint gradients: ``v_{t-1} = (v_t - beta_t r /
    sqrt(1 - abar_t)) / sqrt(alpha_t) + sigma_t noise`` (sigma_t^2 = posterior variance; no
    noise at t = 0)."""
    x = _init(tuple(link.y.shape), link.y.device, link.y.dtype, generator, x_init)
    z = _init(tuple(link.y.shape), link.y.device, link.y.dtype, generator, z_init)
    guide = _guide(link, guidance, beta, gamma, generator)
    betas, alphas, abars = schedule.betas, schedule.alphas, schedule.alpha_bars
    B = x.shape[0]
    for t in range(schedule.T - 1, -1, -1):
        ab, a, bt = float(abars[t]), float(alphas[t]), float(betas[t])
        tt = torch.full((B,), t, dtype=torch.long, device=x.device)
        rx, rz = guide(x, z, eps_x(x, tt), eps_z(z, tt), ab)
        x = (x - bt * rx / math.sqrt(1 - ab)) / math.sqrt(a)
        z = (z - bt * rz / math.sqrt(1 - ab)) / math.sqrt(a)
        if t > 0:
            var = bt * (1 - float(abars[t - 1])) / (1 - ab)
            x = x + math.sqrt(var) * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            z = z + math.sqrt(var) * torch.randn(z.shape, generator=generator, device=z.device, dtype=z.dtype)
    return x, z, schedule.T


# --------------------------------------------------------------------------- the priors
class ICDMPriors:
    """The signal prior s_theta and the interference prior s_phi of one channel type, their
    schedule and the guidance weights tuned per SINR (stored in the signal prior's JSON)."""

    def __init__(self, signal: torch.nn.Module, interference: torch.nn.Module, schedule: NoiseSchedule,
                 signal_config: dict[str, Any], interference_config: dict[str, Any]) -> None:
        self.signal, self.interference, self.schedule = signal, interference, schedule
        self.signal_config, self.interference_config = signal_config, interference_config
        self.device = next(signal.parameters()).device

    @classmethod
    def load(cls, channel: str = "rayleigh", device: Any = None, signal: str | None = None,
             interference: str | None = None, fading: str = "fast") -> "ICDMPriors":
        """Shipped priors ``icdm_{signal,interference}_natural32_<channel>_cbr1-6`` (or paths).
        ``fading="block"`` (Rayleigh): the interference prior is the unfaded one
        (:data:`semradio.models.icdm_fading.BLOCK_INTERFERENCE_PRIOR`), since the block's gain
        is estimated and applied in the link (:mod:`semradio.models.icdm_fading`)."""
        from .icdm import load_prior
        from .icdm_fading import BLOCK_INTERFERENCE_PRIOR, FADINGS

        if fading not in FADINGS:
            raise ValueError(f"fading must be one of {FADINGS}, got {fading!r}")
        if interference is None and fading == "block" and channel != "awgn":
            interference = BLOCK_INTERFERENCE_PRIOR
        s, sched, scfg = load_prior(signal or f"icdm_signal_natural32_{channel}_cbr1-6", device)
        i, sched_i, icfg = load_prior(interference or f"icdm_interference_natural32_{channel}_cbr1-6", device)
        if sched.to_config() != sched_i.to_config():
            raise ValueError("the two priors were trained on different schedules")
        return cls(s, i, sched, scfg, icfg)

    def block_link(self, link: Link, snr_db: float, coherence: int | None = None) -> tuple[Link, torch.Tensor]:
        """Under block fading: the link with the estimated interferer gain applied (and the
        gains (B, nb)); moments of the two priors' codecs at ``snr_db``
        (:func:`semradio.models.icdm_fading.estimate_block_link`)."""
        from .icdm_fading import estimate_block_link, latent_moments

        mx = latent_moments(self.signal_config["codec"], round(float(snr_db) * 2) / 2)
        mz = latent_moments(self.interference_config["codec"], round(float(snr_db) * 2) / 2)
        return estimate_block_link(link.to(self.device), mx, mz, coherence)

    def guidance_for(self, sinr_db: float, variant: str = "icdm", sampler: str = "conjpc",
                     eta: float = 0.0, samples: int = 1) -> tuple[float, float]:
        """Tuned (beta, gamma) nearest to ``sinr_db`` (see :func:`models.icdm.default_guidance`)."""
        from .icdm import default_guidance

        return default_guidance(self.signal_config, sinr_db, variant, sampler, eta, samples)

    def weights(self, link: Link, guidance: str = "icdm", sampler: str = "conjpc", eta: float = 0.0,
                beta: float | None = None, gamma: float | None = None, sinr_db: float | None = None,
                samples: int = 1) -> tuple[float, float]:
        """``(beta, gamma)``: the given ones, else those tuned for (guidance, sampler, eta,
        one draw or an average of ``samples``) at ``sinr_db`` (default: the link's
        ``10 log10(Px / (Pz + s2))``)."""
        if beta is not None and gamma is not None:
            return beta, gamma
        if sinr_db is None:
            sinr_db = 10 * math.log10(link.px / max(link.pz + link.s2, 1e-30))
        b, g = self.guidance_for(sinr_db, guidance, sampler, eta, samples)
        return (b if beta is None else beta), (g if gamma is None else gamma)

    @torch.no_grad()
    def cancel(self, link: Link, steps: int = 40, order: int = 2, guidance: str = "icdm",
               beta: float | None = None, gamma: float | None = None, sampler: str = "conjpc",
               seed: int | None = 0, sinr_db: float | None = None, samples: int = 1,
               corrector: str = "unconditional", eta: float = 0.0,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Signal and interference estimates (diffusion units) for ``link``; beta/gamma default
        to the weights tuned for (guidance, sampler, eta) at ``sinr_db`` (computed from the link
        when None). ``sampler``: "conjpc" (order, corrector), "ddim" (eta: 0 deterministic, 1
        ancestral) or "ddpm" (all T steps). ``samples`` > 1 averages that many independent draws
        (a Monte Carlo posterior mean; NFE x samples). Draws come from ``generator`` or else a
        fresh one seeded with ``seed``. Returns ``(x_hat, z_hat, NFE per prior)``."""
        beta, gamma = self.weights(link, guidance, sampler, eta, beta, gamma, sinr_db, samples)
        link = repeat_link(link.to(self.device), samples)
        gen = generator
        if gen is None and seed is not None:
            gen = torch.Generator(device=self.device)
            gen.manual_seed(int(seed))
        if sampler == "conjpc":
            x, z, n = conjpc_sample(self.signal, self.interference, link, self.schedule, steps=steps, order=order,
                                    guidance=guidance, beta=beta, gamma=gamma, generator=gen, corrector=corrector)
        elif sampler == "ddim":
            x, z, n = ddim_sample(self.signal, self.interference, link, self.schedule, steps=steps,
                                  guidance=guidance, beta=beta, gamma=gamma, generator=gen, eta=eta)
        elif sampler == "ddpm":
            x, z, n = ddpm_sample(self.signal, self.interference, link, self.schedule, guidance=guidance,
                                  beta=beta, gamma=gamma, generator=gen)
        else:
            raise ValueError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        return average_draws(x, samples), average_draws(z, samples), n * samples


@dataclass
class InterferenceDraw:
    """One simulated transmission with interference (equalizer scale, real (B, 2k)):
    ``x_eq``/``z_eq`` the transmitted signal and ``h_z z_c`` real forms, ``y_eq`` the MMSE (or
    identity, AWGN) output, ``link`` the same in diffusion units, and ``h_z`` the interferer's
    complex gains (B, k) (None under AWGN; for evaluation only: the receiver does not know them)."""

    x_eq: torch.Tensor
    z_eq: torch.Tensor
    y_eq: torch.Tensor
    link: Link
    h_z: torch.Tensor | None = None


def repeat_link(link: Link, k: int) -> Link:
    """``link`` with every item repeated k times (k blocks of B rows), for k posterior draws."""
    if k == 1:
        return link
    return Link(*(t.repeat(k, 1) for t in (link.y, link.w_x, link.w_n, link.w_z)), s2=link.s2, px=link.px,
                pz=link.pz)


def average_draws(v: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over the k blocks of :func:`repeat_link` (an estimate of the posterior mean)."""
    return v if k == 1 else v.reshape(k, -1, v.shape[-1]).mean(0)


@torch.no_grad()
def simulate_interference(codec: Any, interferer: Any, images: Any, images_z: Any, channel: str, snr_db: float,
                          sinr_db: float, seed: int = 1234, device: Any = "cpu", fading: str = "fast",
                          coherence: int | None = None) -> InterferenceDraw:
    """Encode both image sets, normalize power, pass eq. (1) (AWGN or Rayleigh h_x, h_z) at the
    SNR and SINR, equalize (MMSE; identity under AWGN). ``fading``: "fast" (a new h_x, h_z per
    symbol, as in the ICDM paper) or "block" (one per item, or per ``coherence`` symbols; the
    receiver knows h_x, not h_z: the link's ``w_z`` is the equalizer's, without h_z).
    Deterministic in ``seed``."""
    from semradio.dsp import channel as cm
    from .link import make_generator

    if fading not in ("fast", "block"):
        raise ValueError(f"fading must be 'fast' or 'block', got {fading!r}")
    gen = make_generator(seed, device)
    to = (lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)) if isinstance(images, np.ndarray) else (lambda a: a.to(device))
    x_c = cm.normalize_power(codec.encode(to(images), snr_db))
    z_c = cm.normalize_power(interferer.encode(to(images_z), snr_db))
    s2 = cm.noise_var_from_snr(snr_db)
    pz = max(1.0 / 10 ** (sinr_db / 10) - s2, 0.0)
    n = cm.complex_noise(gen, tuple(x_c.shape), s2, x_c)
    if channel == "awgn":
        hz_z = z_c
        y_c = cm.channel_output(x_c, None, n, interference=cm.interference_term(None, z_c, pz))
        y, w_s, w_n, w_z = cm.identity_weights(y_c)
    else:
        B, k = x_c.shape
        L = 1 if fading == "fast" else (k if coherence is None else int(coherence))
        nb = cm.coherence_blocks(k, L)
        h = cm.expand_coherence(cm.rayleigh_gains(gen, (B, nb), x_c), k, L)
        h_z = cm.expand_coherence(cm.rayleigh_gains(gen, (B, nb), x_c), k, L)
        hz_z = h_z * z_c
        y_c = cm.channel_output(x_c, h, n, interference=cm.interference_term(h_z, z_c, pz))
        y, w_s, w_n, w_z = cm.equalize(y_c, h, s2, "mmse")
    r2 = math.sqrt(2.0)
    link = Link(y * r2, w_s, w_n, w_z, s2=s2, px=1.0, pz=pz)
    return InterferenceDraw(cm.complex_to_real(x_c), cm.complex_to_real(hz_z), y, link,
                            None if channel == "awgn" else h_z)


__all__ = ["CORRECTORS", "ICDMPriors", "InterferenceDraw", "SAMPLERS", "average_draws", "conjpc_sample",
           "ddim_sample", "ddpm_sample", "repeat_link", "simulate_interference", "spaced_timesteps"]
