"""ICDM math (seed 000 eqs. 3, 24-54; Algorithms 2-3) against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from semradio.dsp import channel as cm
from semradio.models.icdm import (VARIANTS, Link, PriorNet, apply_w_z, apply_w_z_t, default_guidance,
                                  gaussian_prior_eps, guidance_key, guidance_terms, interference_power, joint_eps,
                                  joint_lmmse, likelihood_terms, prior_loss, tweedie_x0)
from semradio.models.icdm_sampler import (_unipc_coefficients, conjpc_sample, ddim_sample, spaced_timesteps)
from semradio.models.schedulers import NoiseSchedule

SCHED = NoiseSchedule.make("linear", T=1000, beta_1=1e-4, beta_T=0.02)


def make_link(channel: str, B: int = 3, k: int = 2, snr_db: float = 10.0, sinr_db: float = 0.0,
              seed: int = 0, y: torch.Tensor | None = None) -> Link:
    """A small Lemma 1 link in diffusion units with y drawn from unit Gaussian x, z."""
    g = torch.Generator().manual_seed(seed)
    s2 = cm.noise_var_from_snr(snr_db)
    pz = interference_power(sinr_db, s2)
    ones = torch.ones(B, k, dtype=torch.complex64)
    if channel == "awgn":
        yc = torch.zeros(B, k, dtype=torch.complex64)
        _, w_s, w_n, w_z = cm.identity_weights(yc)
    else:
        h = cm.rayleigh_gains(g, (B, k), ones)
        _, w_s, w_n, w_z = cm.equalize(torch.zeros(B, k, dtype=torch.complex64), h, s2, "mmse")
    link = Link(torch.zeros(B, 2 * k), w_s.float(), w_n.float(), w_z.float(), s2=s2, px=1.0, pz=pz)
    if y is None:
        x = torch.randn(B, 2 * k, generator=g)
        z = torch.randn(B, 2 * k, generator=g)
        n = torch.randn(B, 2 * k, generator=g) * math.sqrt(s2)
        y = link.predict(x, z) + link.w_n * n
    link.y = y
    return link


def test_w_z_transpose_matches_dense_matrix() -> None:
    g = torch.Generator().manual_seed(1)
    w_z = torch.randn(2, 6, generator=g)
    v = torch.randn(2, 6, generator=g)
    M = cm.w_z_matrix(w_z)
    assert torch.allclose(apply_w_z(w_z, v), (M @ v[..., None])[..., 0], atol=1e-6)
    assert torch.allclose(apply_w_z_t(w_z, v), (M.transpose(1, 2) @ v[..., None])[..., 0], atol=1e-6)
    assert torch.allclose(apply_w_z(w_z, v), cm.apply_w_z(w_z, v), atol=1e-6)


def test_interference_power_meets_sinr() -> None:
    s2 = 0.01
    for sinr in (-7.0, 0.0, 7.0):
        pz = interference_power(sinr, s2)
        assert 10 * math.log10(1.0 / (pz + s2)) == pytest.approx(sinr, abs=1e-9)
    assert interference_power(30.0, s2) == 0.0


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_likelihood_terms_eq38_by_hand(channel: str) -> None:
    link = make_link(channel, B=2, k=3, snr_db=15.0, sinr_db=2.0)
    g = torch.Generator().manual_seed(3)
    x, z = torch.randn(2, 6, generator=g), torch.randn(2, 6, generator=g)
    abar = 0.3
    rx, rz = likelihood_terms(link, x, z, abar, "icdm")
    # hand-derived with dense matrices: zeta = 1/(2-abar), Theta = s2 W_n^2
    zeta = 1.0 / (2.0 - abar)
    Wx = torch.diag_embed(link.w_x.double())
    Wz = cm.w_z_matrix(link.w_z.double())
    theta_inv = torch.diag_embed(1.0 / (link.s2 * link.w_n.double() ** 2))
    res = link.y.double() / zeta - math.sqrt(link.px) * (Wx @ x.double()[..., None])[..., 0] \
        - math.sqrt(link.pz) * (Wz @ z.double()[..., None])[..., 0]
    ex = math.sqrt(link.px) * zeta ** 2 * (Wx.transpose(1, 2) @ theta_inv @ res[..., None])[..., 0]
    ez = math.sqrt(link.pz) * zeta ** 2 * (Wz.transpose(1, 2) @ theta_inv @ res[..., None])[..., 0]
    assert torch.allclose(rx.double(), ex, rtol=1e-4, atol=1e-4)
    assert torch.allclose(rz.double(), ez, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_exact_likelihood_is_gradient_of_gaussian_marginal(channel: str) -> None:
    """mode='exact' = grad log N(y; sqrt(abar) W v_t, s2 W_n^2 + (1-abar) W W^T) (autograd)."""
    link = make_link(channel, B=2, k=2, snr_db=10.0, sinr_db=0.0)
    link = Link(*(t.double() for t in (link.y, link.w_x, link.w_n, link.w_z)), s2=link.s2, px=link.px, pz=link.pz)
    g = torch.Generator().manual_seed(4)
    x = torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    z = torch.randn(2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    abar = 0.6
    Wx = torch.diag_embed(link.w_x) * math.sqrt(link.px)
    Wz = cm.w_z_matrix(link.w_z) * math.sqrt(link.pz)
    W = torch.cat([Wx, Wz], -1)
    cov = torch.diag_embed(link.s2 * link.w_n ** 2) + (1 - abar) * W @ W.transpose(1, 2)
    mean = math.sqrt(abar) * (W @ torch.cat([x, z], -1)[..., None])[..., 0]
    logp = torch.distributions.MultivariateNormal(mean, cov).log_prob(link.y).sum()
    gx, gz = torch.autograd.grad(logp, (x, z))
    rx, rz = likelihood_terms(link, x.detach(), z.detach(), abar, "exact")
    assert torch.allclose(rx, gx, atol=1e-8) and torch.allclose(rz, gz, atol=1e-8)


def test_joint_eps_eq40_and_zero_weights() -> None:
    link = make_link("rayleigh")
    g = torch.Generator().manual_seed(5)
    x, z, ex, ez = (torch.randn(3, 4, generator=g) for _ in range(4))
    rx, rz = joint_eps("icdm", link, x, z, ex, ez, 0.5, 0.0, 0.0)
    assert rx is ex and rz is ez
    gx, gz = likelihood_terms(link, x, z, 0.5)
    rx, rz = joint_eps("icdm", link, x, z, ex, ez, 0.5, 0.2, 0.7)  # as printed: r = s - beta rbar
    assert torch.allclose(rx, ex - 0.2 * gx)
    assert torch.allclose(rz, ez - 0.7 * gz)
    gx, gz = likelihood_terms(link, x, z, 0.5, "exact")
    rx, rz = joint_eps("exact", link, x, z, ex, ez, 0.5, 0.2, 0.7)  # score units: sqrt(1-abar) written out
    assert torch.allclose(rx, ex - 0.2 * math.sqrt(0.5) * gx)
    assert torch.allclose(rz, ez - 0.7 * math.sqrt(0.5) * gz)


def test_variants_dps_gdm_projection_by_hand() -> None:
    link = make_link("rayleigh", B=2, k=2)
    g = torch.Generator().manual_seed(6)
    x, z, ex, ez = (torch.randn(2, 4, generator=g) for _ in range(4))
    ab = 0.4
    x0, z0 = tweedie_x0(x, ex, ab), tweedie_x0(z, ez, ab)
    assert torch.allclose(x0, (x - math.sqrt(0.6) * ex) / math.sqrt(0.4))
    res = link.y - link.predict(x0, z0)
    # DPS (eq. 51): -kappa grad ||res||^2 = W^T res / ||res||
    dx, dz = guidance_terms("dps", link, x, z, ex, ez, ab)
    xr = x0.clone().requires_grad_(True)
    zr = z0.clone().requires_grad_(True)
    nrm = (link.y - link.predict(xr, zr)).pow(2).sum(-1)
    kappa = 1.0 / (2 * nrm.detach().sqrt())
    gx, gz = torch.autograd.grad((kappa * nrm).sum(), (xr, zr))
    assert torch.allclose(dx, -gx, atol=1e-5) and torch.allclose(dz, -gz, atol=1e-5)
    # GDM (eq. 52)
    gx2, _ = guidance_terms("gdm", link, x, z, ex, ez, ab)
    c = (2 - ab) * (link.y ** 2).sum(-1, keepdim=True) / (1 - ab)
    assert torch.allclose(gx2, link.w_x * (res / (link.wwt() + c)), atol=1e-6)
    # Projection (eqs. 53-54) with the same noise draw
    px, _ = guidance_terms("projection", link, x, z, ex, ez, ab, torch.Generator().manual_seed(9))
    eps_y = torch.randn(link.y.shape, generator=torch.Generator().manual_seed(9))
    y_t = math.sqrt(ab) * link.y + math.sqrt(1 - ab) * eps_y
    assert torch.allclose(px, link.w_x * (y_t - link.predict(x, z)), atol=1e-5)
    with pytest.raises(ValueError):
        guidance_terms("nope", link, x, z, ex, ez, ab)


def test_unipc_coefficients_order_conditions() -> None:
    """rhos_c solve R rho = b (eq. 43-44); order 1 corrector 1/2; order 2 predictor 1/2."""
    h = 0.3
    _, B_h, rp, rc = _unipc_coefficients(h, [1.0], 1, "bh2")
    assert rp == [] and rc == [0.5] and B_h == pytest.approx(math.expm1(h))
    _, _, rp, rc = _unipc_coefficients(h, [-0.8, 1.0], 2, "bh2")
    assert rp == [0.5]
    # b_1 = (phi_1 - 1)/B(h) with phi_1 = (e^h-1)/h: sum(rhos_c) = b_1
    assert sum(rc) == pytest.approx((math.expm1(h) / h - 1) / math.expm1(h), rel=1e-9)


def test_spaced_timesteps_match_linspace() -> None:
    ts = spaced_timesteps(SCHED, 40)
    assert len(ts) == 40 and ts[0] == 999 and ts == sorted(ts, reverse=True) and ts[-1] == 25


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_conjpc_with_exact_gaussian_scores_reaches_joint_lmmse(channel: str) -> None:
    """x, z ~ N(0, I): exact prior scores + the exact likelihood term (beta = gamma = 1) and the
    joint corrector make ConJPC sample the posterior: the mean of many runs is the joint LMMSE
    estimate and their spread the posterior covariance. (The seed's unconditional corrector
    drops part of the guidance at every step, so it does not; beta, gamma are tuned for it.)"""
    base = make_link(channel, B=2, k=2, snr_db=10.0, sinr_db=0.0, seed=11)
    M = 1500
    rep = lambda t: t.repeat_interleave(M, 0)  # noqa: E731
    link = Link(rep(base.y), rep(base.w_x), rep(base.w_n), rep(base.w_z), s2=base.s2, px=base.px, pz=base.pz)
    link = Link(*(t.double() for t in (link.y, link.w_x, link.w_n, link.w_z)), s2=link.s2, px=1.0, pz=link.pz)
    eps = gaussian_prior_eps(SCHED)
    x, z, nfe = conjpc_sample(eps, eps, link, SCHED, steps=40, order=2, guidance="exact", beta=1.0, gamma=1.0,
                              corrector="joint", generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert nfe == 40
    xm, zm, cov = joint_lmmse(base)
    v = torch.cat([x, z], -1).reshape(2, M, 8)
    mean = v.mean(1)
    post_sd = torch.diagonal(cov, dim1=1, dim2=2).sqrt()
    # standard error of the mean is post_sd / sqrt(M) ~ 0.026 post_sd: allow ~4 of them
    err = (mean - torch.cat([xm, zm], -1)).abs() / post_sd
    assert float(err.max()) < 0.1, err
    emp_sd = v.std(1)
    assert torch.allclose(emp_sd, post_sd, rtol=0.12), (emp_sd, post_sd)
    # the estimate beats the MMSE equalizer output as an estimate of x (posterior mean vs y)
    assert float(((xm - mean[:, :4]) ** 2).mean()) < float(((xm - base.y.double()) ** 2).mean())


@pytest.mark.parametrize("channel", ["awgn", "rayleigh"])
def test_ancestral_ddim_with_exact_gaussian_scores_samples_the_posterior(channel: str) -> None:
    """x, z ~ N(0, I), exact scores and the exact likelihood (beta = gamma = 1): DDIM with
    eta = 1 (ancestral steps) draws from the joint posterior: mean of the draws = joint LMMSE
    estimate, spread = posterior standard deviation. eta = 0 from the same starts is a
    different (deterministic) map, so the two runs must differ."""
    base = make_link(channel, B=2, k=2, snr_db=10.0, sinr_db=0.0, seed=13)
    M = 1500
    rep = lambda t: t.repeat_interleave(M, 0).double()  # noqa: E731
    link = Link(rep(base.y), rep(base.w_x), rep(base.w_n), rep(base.w_z), s2=base.s2, px=1.0, pz=base.pz)
    eps = gaussian_prior_eps(SCHED)
    g = torch.Generator().manual_seed(3)
    x0 = torch.randn(2 * M, 4, generator=g, dtype=torch.float64)
    z0 = torch.randn(2 * M, 4, generator=g, dtype=torch.float64)
    x, z, nfe = ddim_sample(eps, eps, link, SCHED, steps=100, guidance="exact", x_init=x0, z_init=z0, eta=1.0,
                            generator=torch.Generator().manual_seed(4))
    assert nfe == 100
    xm, zm, cov = joint_lmmse(base)
    v = torch.cat([x, z], -1).reshape(2, M, 8)
    post_sd = torch.diagonal(cov, dim1=1, dim2=2).sqrt()
    err = (v.mean(1) - torch.cat([xm, zm], -1)).abs() / post_sd
    assert float(err.max()) < 0.12, err
    assert torch.allclose(v.std(1), post_sd, rtol=0.12), (v.std(1), post_sd)
    xd, _, _ = ddim_sample(eps, eps, link, SCHED, steps=100, guidance="exact", x_init=x0, z_init=z0, eta=0.0)
    assert float((xd - x).abs().max()) > 0.1
    with pytest.raises(ValueError):
        ddim_sample(eps, eps, link, SCHED, steps=10, eta=1.5)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_conjpc_orders_run_and_converge_on_gaussian(order: int) -> None:
    """Every order runs; with a fixed start the deterministic ODE solution agrees across orders
    and with a 400-step DDIM reference."""
    base = make_link("rayleigh", B=1, k=2, seed=12)
    M = 64
    rep = lambda t: t.repeat_interleave(M, 0).double()  # noqa: E731
    link = Link(rep(base.y), rep(base.w_x), rep(base.w_n), rep(base.w_z), s2=base.s2, pz=base.pz)
    g = torch.Generator().manual_seed(1)
    x0, z0 = torch.randn(M, 4, generator=g, dtype=torch.float64), torch.randn(M, 4, generator=g, dtype=torch.float64)
    eps = gaussian_prior_eps(SCHED)
    x, z, _ = conjpc_sample(eps, eps, link, SCHED, steps=40, order=order, guidance="exact", beta=1.0, gamma=1.0,
                            x_init=x0, z_init=z0, corrector="joint", dtype=torch.float64)
    xr, zr, _ = ddim_sample(eps, eps, link, SCHED, steps=400, guidance="exact", x_init=x0, z_init=z0)
    assert torch.isfinite(x).all() and torch.isfinite(z).all()
    assert float((x - xr).abs().max()) < 0.05 and float((z - zr).abs().max()) < 0.05


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_is_selectable_and_finite(variant: str) -> None:
    link = make_link("rayleigh", B=4, k=2, snr_db=20.0, sinr_db=0.0)
    eps = gaussian_prior_eps(SCHED)
    x, z, _ = conjpc_sample(eps, eps, link, SCHED, steps=10, order=2, guidance=variant, beta=0.01, gamma=0.01,
                            generator=torch.Generator().manual_seed(0))
    assert x.shape == z.shape == (4, 4) and torch.isfinite(x).all() and torch.isfinite(z).all()
    with pytest.raises(ValueError):
        conjpc_sample(eps, eps, link, SCHED, steps=10, order=4)


def test_prior_net_and_loss_shapes_and_gradient() -> None:
    torch.manual_seed(0)
    net = PriorNet((16, 2, 2), width=16, blocks=1)
    x = torch.randn(5, 64)
    loss = prior_loss(net, x, SCHED, torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.ndim == 0 and float(loss.detach()) > 0
    assert net.inp.weight.grad is not None
    # noise prediction of the exact Gaussian prior has loss below 1 (the trivial eps = 0 scores 1)
    g = torch.Generator().manual_seed(2)
    t = torch.randint(0, 1000, (4096,), generator=g)
    e = torch.randn(4096, 8, generator=g)
    x0 = torch.randn(4096, 8, generator=g)
    ab = SCHED.alpha_bars[t].float()[:, None]
    xt = ab.sqrt() * x0 + (1 - ab).sqrt() * e
    assert float(((gaussian_prior_eps(SCHED)(xt, t) - e) ** 2).mean()) < 0.8


def test_default_guidance_nearest_sinr() -> None:
    cfg = {"guidance": {"icdm": [{"sinr_db": -5, "beta": 0.1, "gamma": 0.2}, {"sinr_db": 5, "beta": 0.3, "gamma": 0.4}]}}
    assert default_guidance(cfg, -3.0) == (0.1, 0.2)
    assert default_guidance(cfg, 4.0) == (0.3, 0.4)
    assert default_guidance({}, 0.0) == (1.0, 1.0)
    # a sampler-specific table wins; without one the variant's (ConJPC) table serves
    cfg["guidance"]["icdm@ddim-eta1"] = [{"sinr_db": 0, "beta": 7.0, "gamma": 8.0}]
    assert guidance_key("icdm", "ddim", 1.0) == "icdm@ddim-eta1" and guidance_key("dps") == "dps"
    assert default_guidance(cfg, 4.0, "icdm", "ddim", 1.0) == (7.0, 8.0)
    assert default_guidance(cfg, 4.0, "icdm", "ddim", 0.0) == (0.3, 0.4)
    # averaged draws (a posterior mean) have their own table, else the one-draw table serves
    assert guidance_key("icdm", "ddim", 1.0, samples=8) == "icdm@ddim-eta1-mean"
    assert guidance_key("icdm", samples=1) == "icdm"
    assert default_guidance(cfg, 4.0, "icdm", "ddim", 1.0, samples=8) == (7.0, 8.0)
    cfg["guidance"]["icdm@ddim-eta1-mean"] = [{"sinr_db": 0, "beta": 5.0, "gamma": 5.0}]
    assert default_guidance(cfg, 4.0, "icdm", "ddim", 1.0, samples=8) == (5.0, 5.0)
    assert default_guidance(cfg, 4.0, "icdm", "ddim", 1.0, samples=1) == (7.0, 8.0)


def test_unguided_conjpc_reproduces_diffusers_unipc() -> None:
    """beta = gamma = 0, one prior: ConJPC is UniPC; compare with diffusers' scheduler."""
    diffusers = pytest.importorskip("diffusers", reason="diffusers not installed (dev extra)")
    from diffusers import UniPCMultistepScheduler

    torch.manual_seed(0)
    net = PriorNet((16, 2, 2), width=16, blocks=1).eval()
    for p in net.parameters():
        p.data.normal_(0, 0.05)
    x_init = torch.randn(3, 64, generator=torch.Generator().manual_seed(3))
    for order, steps in ((1, 12), (2, 20), (3, 15)):
        sch = UniPCMultistepScheduler(num_train_timesteps=1000, beta_start=1e-4, beta_end=0.02,
                                      beta_schedule="linear", solver_order=order, prediction_type="epsilon",
                                      predict_x0=False, solver_type="bh2", lower_order_final=True,
                                      final_sigmas_type="sigma_min", timestep_spacing="linspace")
        sch.set_timesteps(steps)
        x = x_init.clone()
        with torch.no_grad():
            for t in sch.timesteps:
                eps = net(x, torch.full((3,), int(t), dtype=torch.long))
                x = sch.step(eps, t, x).prev_sample
            ours, _, nfe = conjpc_sample(net, None, None, SCHED, steps=steps, order=order, beta=0.0, gamma=0.0,
                                         x_init=x_init)
        assert list(sch.timesteps.tolist()) == spaced_timesteps(SCHED, steps)
        assert nfe == steps
        assert torch.allclose(ours, x, rtol=1e-4, atol=1e-4), (order, float((ours - x).abs().max()))
    assert diffusers.__version__


def test_per_symbol_lmmse_mse_and_genie_bound() -> None:
    """Per-symbol LMMSE: empirical MSE equals the closed form v_x v_in / (|h|^2 v_x + v_in), with
    Gaussian x and a Rayleigh interferer h_z z of known |z|; knowing each symbol's |z| (genie)
    beats treating the interference as noise of its average power (Jensen), by the closed-form
    amount."""
    from semradio.models.icdm import per_symbol_lmmse

    g = torch.Generator().manual_seed(3)
    shape = (4000, 16)

    def cn(*s):
        return torch.complex(torch.randn(s, generator=g, dtype=torch.float64),
                             torch.randn(s, generator=g, dtype=torch.float64)) / math.sqrt(2)

    s2, pz = 0.01, 0.99
    x, h, h_z, n = cn(*shape), cn(*shape), cn(*shape), cn(*shape) * math.sqrt(s2)
    mag = torch.rand(shape, generator=g, dtype=torch.float64) * 2.0  # |z| profile, E|z|^2 = 4/3
    z = mag * torch.exp(1j * 2 * math.pi * torch.rand(shape, generator=g, dtype=torch.float64))
    y = h * x + math.sqrt(pz) * h_z * z + n
    avg = pz * float((mag ** 2).mean()) + s2
    for v_in in (torch.full(shape, avg, dtype=torch.float64), pz * mag ** 2 + s2):
        x_hat, mse = per_symbol_lmmse(y, h, 1.0, v_in)
        emp = float((x_hat - x).abs().pow(2).mean())
        assert emp == pytest.approx(float(mse.mean()), rel=0.03)
    _, mse_avg = per_symbol_lmmse(y, h, 1.0, torch.full(shape, avg, dtype=torch.float64))
    _, mse_genie = per_symbol_lmmse(y, h, 1.0, pz * mag ** 2 + s2)
    assert float(mse_genie.mean()) < float(mse_avg.mean()) - 0.02
