"""CDiff (seed 001) math: eq. 5 schedule and marginals, eq. 6 loss, eqs. 7-8 sampler, latent padding."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.models.cdiff import (
    CDiffSchedule,
    CDiffUNet,
    bind_condition,
    cdiff_loss,
    cdiff_sample,
    eps_from_x0,
    forward_diffuse,
    image_cond,
    timestep_schedule,
)
from semradio.models.cdiff_latent import cond_channels_for, pad_latent, stochastic_mask, unpad_latent

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def sched() -> CDiffSchedule:
    return CDiffSchedule.make()


# ------------------------------------------------------------------ schedule (eq. 5)
@pytest.mark.parametrize("w_max", [0.0, 0.5, 0.9, 1.0])
def test_schedule_tables(w_max: float) -> None:
    s = CDiffSchedule.make(T=200, beta_1=1e-4, beta_T=0.0095, w_max=w_max)
    assert s.T == 200 and s.betas.shape == (201,)
    assert float(s.betas[1]) == pytest.approx(1e-4) and float(s.betas[200]) == pytest.approx(0.0095)
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1])  # abar strictly decreasing
    assert float(s.alpha_bars[0]) == 1.0 and float(s.delta[0]) == 0.0
    assert torch.allclose(s.w, torch.arange(201, dtype=torch.float64) * w_max / 200)
    assert torch.allclose(s.delta, 1 - s.alpha_bars - s.w ** 2 * s.alpha_bars)
    assert torch.all(s.delta[1:] > 0)
    assert torch.all(s.transition_var(torch.arange(1, 201), torch.arange(0, 200)) > 0)
    # total variance 1 - abar_t = delta_t + w_t^2 abar_t grows strictly; delta_t is monotone
    # increasing for these betas (checked here so a schedule change that breaks it is noticed)
    assert torch.all(torch.diff(s.delta) > 0)


def test_schedule_rejects_negative_variance() -> None:
    with pytest.raises(ValueError, match="delta_t <= 0"):
        CDiffSchedule.make(T=200, beta_1=1e-4, beta_T=1e-3, w_max=1.0)
    with pytest.raises(ValueError):
        CDiffSchedule.make(w_max=1.2)


def test_chain_of_transitions_gives_eq5_marginal(sched: CDiffSchedule) -> None:
    """Push mean/variance through q(x_t | x_{t-1}, y) analytically: eq. 5 at every t."""
    x0, y = 0.7, -1.3
    m, v = x0, 0.0
    for t in range(1, sched.T + 1):
        tt, ss = torch.tensor(t), torch.tensor(t - 1)
        A = float(sched.transition_gain(tt, ss))
        a_t, b_t = (float(c) for c in sched.mean_coefs(tt))
        _, b_s = (float(c) for c in sched.mean_coefs(ss))
        c = b_t - A * b_s  # (w_t - r_t w_{t-1}) sqrt(abar_t)
        m, v = A * m + c * y, A * A * v + float(sched.transition_var(tt, ss))
        assert m == pytest.approx(a_t * x0 + b_t * y, abs=1e-12)
        assert v == pytest.approx(float(sched.delta[t]), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("t", [1, 37, 120, 200])
def test_forward_marginal_monte_carlo(sched: CDiffSchedule, t: int) -> None:
    g = torch.Generator().manual_seed(t)
    n = 200_000
    x0 = torch.full((n, 1, 1, 1), 0.6, dtype=torch.float64)
    y = torch.full_like(x0, -2.0)
    eps = torch.randn(x0.shape, generator=g, dtype=torch.float64)
    xt = forward_diffuse(x0, y, torch.full((n,), t), eps, sched)
    ab, w = float(sched.alpha_bars[t]), float(sched.w[t])
    mean = (1 - w) * math.sqrt(ab) * 0.6 + w * math.sqrt(ab) * -2.0
    var = (1 - ab) - w * w * ab
    se = math.sqrt(var / n)
    assert float(xt.mean()) == pytest.approx(mean, abs=5 * se)
    assert float(xt.var()) == pytest.approx(var, rel=5 * math.sqrt(2 / n))
    # eq. 8 (conditional form) recovers eps exactly from the true x0
    assert torch.allclose(eps_from_x0(xt, x0, y, torch.full((n,), t), sched), eps, atol=1e-8)


# ------------------------------------------------------------------ eq. 7 coefficients
@pytest.mark.parametrize("t", [2, 50, 150, 199])
def test_eq7_coefficients_are_the_gaussian_posterior(sched: CDiffSchedule, t: int) -> None:
    """psi_x x_t + psi_y y - psi_eps eps == Bayes posterior mean of x_{t-1} given x_t, x0, y."""
    co = sched.eq7_coefficients(t)
    x0, y, xt = 0.3, 1.1, -0.4
    tt, ss = torch.tensor(t), torch.tensor(t - 1)
    a_t, b_t = (float(c) for c in sched.mean_coefs(tt))
    a_s, b_s = (float(c) for c in sched.mean_coefs(ss))
    A, v = float(sched.transition_gain(tt, ss)), float(sched.transition_var(tt, ss))
    d_s, d_t = float(sched.delta[ss]), float(sched.delta[tt])
    c = b_t - A * b_s  # transition offset coefficient on y
    prec = 1 / d_s + A * A / v
    post_mean = ((a_s * x0 + b_s * y) / d_s + A * (xt - c * y) / v) / prec
    eps = (xt - a_t * x0 - b_t * y) / math.sqrt(d_t)
    assert co["psi_x"] * xt + co["psi_y"] * y - co["psi_eps"] * eps == pytest.approx(post_mean, rel=1e-9, abs=1e-12)
    assert co["sigma"] ** 2 == pytest.approx(1 / prec, rel=1e-9)


def test_eq7_coefficients_undefined_where_w_is_one(sched: CDiffSchedule) -> None:
    with pytest.raises(ValueError, match="w_t = 1"):
        sched.eq7_coefficients(sched.T)
    co = CDiffSchedule.make(w_max=0.9).eq7_coefficients(200)
    assert all(math.isfinite(v) for v in co.values()) and co["sigma"] > 0


# ------------------------------------------------------------------ sampler (eqs. 7-8)
@pytest.mark.parametrize("eta,steps", [(1.0, 200), (1.0, 25), (0.5, 40), (0.0, 10)])
def test_sampler_keeps_eq5_marginals_with_exact_x0(sched: CDiffSchedule, eta: float, steps: int) -> None:
    """With the exact x0 predictor (point-mass data), every visited x_t ~ q(x_t | x0, y) (eq. 5)."""
    n, x0v, yv = 20_000, 0.5, -0.8
    y = torch.full((n, 1, 1, 1), yv, dtype=torch.float64)
    seen: dict[int, torch.Tensor] = {}

    def oracle(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        seen[int(t[0])] = x.clone()
        return torch.full_like(x, x0v)

    g = torch.Generator().manual_seed(7)
    out = cdiff_sample(oracle, y, sched, steps=steps, eta=eta, generator=g)  # start: exact for w_T = 1
    assert torch.allclose(out, torch.full_like(out, x0v))
    assert sorted(seen, reverse=True) == timestep_schedule(sched.T, steps)
    for t, x in seen.items():
        a, b = (float(c) for c in sched.mean_coefs(torch.tensor(t)))
        var = float(sched.delta[t])
        assert float(x.mean()) == pytest.approx(a * x0v + b * yv, abs=5 * math.sqrt(var / n) + 1e-9)
        assert float(x.var()) == pytest.approx(var, rel=6 * math.sqrt(2 / n))


def test_ancestral_sampler_gaussian_data_matches_distribution(sched: CDiffSchedule) -> None:
    """Gaussian data x0 ~ N(m0, s0^2) with the exact posterior-mean predictor E[x0 | x_t, y]:
    the full ancestral chain (eq. 7) returns xhat = E[x0 | x_1, y], whose law is close to N(m0, s0^2)
    (exact as T -> infinity; the 200-step chain is within a few percent)."""
    n, m0, s0, yv = 20_000, 0.2, 0.5, 0.9
    y = torch.full((n, 1, 1, 1), yv, dtype=torch.float64)

    def oracle(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        a, b = sched.mean_coefs(t)
        a, b = a.reshape(-1, 1, 1, 1), b.reshape(-1, 1, 1, 1)
        var_t = a ** 2 * s0 ** 2 + sched.delta[t].reshape(-1, 1, 1, 1)
        return m0 + s0 ** 2 * a / var_t * (x - a * m0 - b * yv)

    g = torch.Generator().manual_seed(3)
    # start from the exact law of x_T under Gaussian data (w_T = 1: independent of x0)
    x_T = float(sched.mean_coefs(torch.tensor(sched.T))[1]) * y + math.sqrt(float(sched.delta[sched.T])) * \
        torch.randn(y.shape, generator=g, dtype=torch.float64)
    out = cdiff_sample(oracle, y, sched, eta=1.0, generator=g, x_T=x_T, clip=None)
    assert float(out.mean()) == pytest.approx(m0, abs=0.02)
    assert float(out.std()) == pytest.approx(s0, rel=0.05)


def test_gaussian_oracle_attains_bayes_loss(sched: CDiffSchedule) -> None:
    """Eq. 6 with the posterior-mean predictor equals the closed-form Bayes risk
    E_t[s0^2 delta_t / (a_t^2 s0^2 + delta_t)] (checks forward_diffuse + t sampling of the loss)."""
    m0, s0, yv = -0.1, 0.7, 0.4

    class Oracle(torch.nn.Module):
        def forward(self, x, y_maps, mask, t):  # noqa: ANN001, ANN201
            a, b = sched.mean_coefs(t)
            a, b = a.reshape(-1, 1, 1, 1).float(), b.reshape(-1, 1, 1, 1).float()
            var_t = a ** 2 * s0 ** 2 + sched.delta[t].reshape(-1, 1, 1, 1).float()
            return m0 + s0 ** 2 * a / var_t * (x - a * m0 - b * y_maps)

    g = torch.Generator().manual_seed(11)
    n = 100_000
    x0 = m0 + s0 * torch.randn(n, 1, 2, 2, generator=g)
    y = torch.full_like(x0, yv)
    loss = float(cdiff_loss(Oracle(), x0, y, torch.ones_like(y), sched, g))
    a_all = sched.mean_coefs(torch.arange(1, sched.T + 1))[0]
    risk = float(torch.mean(s0 ** 2 * sched.delta[1:] / (a_all ** 2 * s0 ** 2 + sched.delta[1:])))
    assert loss == pytest.approx(risk, rel=0.03)


def test_timestep_schedule() -> None:
    assert timestep_schedule(200, 200) == list(range(200, 0, -1))
    seq = timestep_schedule(200, 20)
    assert len(seq) == 20 and seq[0] == 200 and seq[-1] == 1 and all(a > b for a, b in zip(seq, seq[1:]))
    with pytest.raises(ValueError):
        timestep_schedule(200, 0)


# ------------------------------------------------------------------ network, loss, sampler shapes
@pytest.mark.parametrize("c_img,size,n_lat", [(1, 28, 98), (3, 32, 1024)])
def test_unet_loss_sampler_shapes(sched: CDiffSchedule, c_img: int, size: int, n_lat: int) -> None:
    torch.manual_seed(0)
    cc = cond_channels_for(n_lat, (size, size))
    net = CDiffUNet(c_img, cc, width=16, mults=(1, 2, 2))
    assert sum(p.numel() for p in net.parameters()) < 1_000_000
    y = torch.randn(3, n_lat)
    maps, mask = pad_latent(y, (cc, size, size))
    x0 = torch.rand(3, c_img, size, size) * 2 - 1
    out = net(x0, maps, mask, torch.tensor([1, 100, 200]))
    assert out.shape == x0.shape
    loss = cdiff_loss(net, x0, maps, mask, sched, torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())
    net.eval()
    img = cdiff_sample(bind_condition(net, maps, mask), image_cond(maps, c_img), sched, steps=3, eta=1.0,
                       generator=torch.Generator().manual_seed(1))
    assert img.shape == x0.shape and float(img.abs().max()) <= 1.0


def test_wide_unet_for_32x32_stays_under_a_million() -> None:
    net = CDiffUNet(3, 1, width=24, mults=(1, 2, 2))
    assert sum(p.numel() for p in net.parameters()) < 1_000_000


# ------------------------------------------------------------------ padding / masking
@settings(max_examples=60, deadline=None)
@given(b=st.integers(1, 4), c=st.integers(1, 3), h=st.integers(1, 8), w=st.integers(1, 8), frac=st.floats(0, 1),
       seed=st.integers(0, 2 ** 16))
def test_pad_unpad_round_trip(b: int, c: int, h: int, w: int, frac: float, seed: int) -> None:
    total = c * h * w
    n = int(round(frac * total))
    y = torch.randn(b, n, generator=torch.Generator().manual_seed(seed))
    maps, mask = pad_latent(y, (c, h, w))
    assert maps.shape == mask.shape == (b, c, h, w)
    assert torch.equal(unpad_latent(maps, n), y)
    assert torch.all(mask.reshape(b, -1).sum(1) == n)
    assert torch.all(maps.reshape(b, -1)[:, n:] == 0)
    assert cond_channels_for(max(n, 1), (h, w)) * h * w >= max(n, 1)


@settings(max_examples=40, deadline=None)
@given(lengths=st.lists(st.integers(0, 48), min_size=1, max_size=5), seed=st.integers(0, 2 ** 16))
def test_mixed_lengths_mask(lengths: list[int], seed: int) -> None:
    n = 48
    y = torch.randn(len(lengths), n, generator=torch.Generator().manual_seed(seed))
    lens = torch.tensor(lengths)
    maps, mask = pad_latent(y, (1, 7, 7), lens)
    flat, fm = maps.reshape(len(lengths), -1), mask.reshape(len(lengths), -1)
    for i, k in enumerate(lengths):
        assert torch.equal(flat[i, :k], y[i, :k]) and torch.all(flat[i, k:] == 0)
        assert torch.all(fm[i, :k] == 1) and torch.all(fm[i, k:] == 0)


def test_pad_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="exceeds"):
        pad_latent(torch.zeros(2, 50), (1, 7, 7))
    with pytest.raises(ValueError):
        pad_latent(torch.zeros(2, 3, 4), (1, 7, 7))
    with pytest.raises(ValueError):
        pad_latent(torch.zeros(2, 10), (1, 7, 7), torch.tensor([3, 11]))


def test_stochastic_mask_keeps_power() -> None:
    g = torch.Generator().manual_seed(0)
    z = torch.randn(8, 200, generator=g)
    out = stochastic_mask(z, 0.6, g)
    assert torch.allclose(out.pow(2).mean(1), z.pow(2).mean(1), rtol=1e-5)
    ratio = out / z  # kept entries: the common renormalization gain; dropped: a smaller factor
    gain = ratio.max(dim=1, keepdim=True).values
    kept = torch.isclose(ratio, gain, rtol=1e-5).float().mean()
    assert 0.5 < float(kept) < 0.7  # keep = 0.6 of 1600 entries
    assert torch.all(ratio >= 0) and torch.all(gain > 1)
    assert torch.allclose(stochastic_mask(z, 1.0, g), z, rtol=1e-6)


class _RecordT(torch.nn.Module):
    """x0 predictor that predicts 0 and records the steps it was asked about."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def forward(self, x_t, y_maps, mask, t):  # noqa: ANN001
        self.seen += t.tolist()
        return torch.zeros_like(x_t)


def test_loss_focus_steps_draw_the_sampler_grid():
    sched = CDiffSchedule.make()
    x0 = torch.rand(4000, 1, 2, 2) * 2 - 1
    y = torch.randn(4000, 1, 2, 2)
    mask = torch.ones_like(y)
    g = torch.Generator().manual_seed(0)
    probe = _RecordT()
    loss = cdiff_loss(probe, x0, y, mask, sched, g, focus_steps=[sched.T], focus_frac=1.0)
    assert set(probe.seen) == {sched.T}
    assert float(loss) == pytest.approx(float(torch.mean(x0 ** 2)), rel=1e-6)  # zero prediction
    probe.seen.clear()
    grid = timestep_schedule(sched.T, 4)
    cdiff_loss(probe, x0, y, mask, sched, g, focus_steps=grid, focus_frac=0.5)
    seen = torch.tensor(probe.seen)
    on_grid = torch.isin(seen, torch.tensor(grid)).float().mean().item()
    # half the items on the 4-step grid, the other half uniform on 1..T (4 of 200 also on the grid)
    assert on_grid == pytest.approx(0.5 + 0.5 * 4 / sched.T, abs=0.03)
    with pytest.raises(ValueError, match="focus"):
        cdiff_loss(probe, x0, y, mask, sched, g, focus_steps=[sched.T + 1], focus_frac=0.5)
