"""CDDM math against closed forms: schedules, start step, sampler with the exact Gaussian score."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semradio.models.cddm import (LatentScoreNet, cddm_loss, cddm_sample, forward_diffuse, gaussian_exact_eps,
                                  latent_shape_for, start_step)
from semradio.models.schedulers import NoiseSchedule, cosine_betas, linear_betas


def test_linear_and_cosine_schedules():
    b = linear_betas(1000)
    assert b[0].item() == pytest.approx(1e-4) and b[-1].item() == pytest.approx(0.02)
    s = NoiseSchedule.make("cosine", T=500)
    assert torch.all(s.alpha_bars[1:] < s.alpha_bars[:-1])
    assert torch.all((cosine_betas(500) > 0) & (cosine_betas(500) <= 0.999))
    assert NoiseSchedule.from_config(s.to_config()).alpha_bars.equal(s.alpha_bars)


@pytest.mark.parametrize("snr_db", [0.0, 5.0, 10.0, 20.0])
def test_start_step_matches_abar_to_channel_snr(snr_db):
    sch = NoiseSchedule.make("linear", T=1000)
    s2 = 10 ** (-snr_db / 10)
    m = start_step(sch, s2)
    ratio = (1 - sch.alpha_bars) / sch.alpha_bars
    assert m == int(torch.argmin((torch.log(ratio) - math.log(s2)).abs()))
    assert sch.alpha_bars[m].item() == pytest.approx(1 / (1 + s2), rel=0.02)


def _rayleigh_weights(gen: torch.Generator, n: int, d: int, s2: float) -> tuple[torch.Tensor, torch.Tensor]:
    h = (torch.randn(n, d // 2, generator=gen, dtype=torch.float64)
         + 1j * torch.randn(n, d // 2, generator=gen, dtype=torch.float64)) / math.sqrt(2)
    a = h.abs()
    w_s = torch.cat([a**2 / (a**2 + s2)] * 2, dim=1)
    w_n = torch.cat([a / (a**2 + s2)] * 2, dim=1)
    return w_s, w_n


@pytest.mark.parametrize("rule,nfe_of_m", [("cddm", lambda m: m + 1), ("tweedie", lambda m: 1)])
def test_cddm_rule_with_exact_score_equals_linear_mmse_estimate(rule, nfe_of_m):
    """Gaussian x~: the CDDM reverse process with the exact eps is the LMMSE estimator of
    x_0 = W_s x~ from y~ (exactly when abar_m = 1/(1 + s2)); so is one Tweedie step, since
    the exact eps gives E[x_0 | x_m] directly."""
    sch = NoiseSchedule.make("linear", T=1000)
    m = 120
    s2 = float((1 - sch.alpha_bars[m]) / sch.alpha_bars[m])  # exactly on the grid
    gen = torch.Generator().manual_seed(0)
    n, d = 4000, 32
    var_x = 0.5 + 1.5 * torch.rand(1, d, generator=gen, dtype=torch.float64)
    w_s, w_n = _rayleigh_weights(gen, n, d, s2)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * var_x.sqrt()
    y = w_s * x + w_n * math.sqrt(s2) * torch.randn(n, d, generator=gen, dtype=torch.float64)
    out, nfe = cddm_sample(gaussian_exact_eps(var_x, w_s, w_n, sch), y, w_n, s2, sch, rule=rule)
    assert nfe == nfe_of_m(m)
    # LMMSE of x0 = W_s x from y = W_s x + W_n n:  W_s^2 var_x / (W_s^2 var_x + W_n^2 s2) * y
    lmmse = w_s**2 * var_x / (w_s**2 * var_x + w_n**2 * s2) * y
    torch.testing.assert_close(out, lmmse, rtol=1e-6, atol=1e-9)
    mse_out = torch.mean((out - w_s * x) ** 2).item()
    mse_y = torch.mean((y - w_s * x) ** 2).item()
    assert mse_out < mse_y


@pytest.mark.parametrize("rule", ["cddm", "tweedie"])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 17.0])
def test_cddm_rule_reaches_lmmse_mse_for_off_grid_snr(snr_db, rule):
    sch = NoiseSchedule.make("linear", T=1000)
    s2 = 10 ** (-snr_db / 10)
    gen = torch.Generator().manual_seed(1)
    n, d = 3000, 16
    var_x = torch.ones(1, d, dtype=torch.float64)
    w_s, w_n = _rayleigh_weights(gen, n, d, s2)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    y = w_s * x + w_n * math.sqrt(s2) * torch.randn(n, d, generator=gen, dtype=torch.float64)
    out, _ = cddm_sample(gaussian_exact_eps(var_x, w_s, w_n, sch), y, w_n, s2, sch, rule=rule)
    lmmse = w_s**2 / (w_s**2 + w_n**2 * s2) * y
    mse_out = torch.mean((out - w_s * x) ** 2).item()
    mse_lmmse = torch.mean((lmmse - w_s * x) ** 2).item()
    assert mse_out == pytest.approx(mse_lmmse, rel=0.02)


def test_ddim_rule_with_exact_score_preserves_the_marginal_variance():
    """The probability-flow (DDIM, eta=0) map sends x_m ~ N(0, V_m) to N(0, W_s^2 var_x)."""
    sch = NoiseSchedule.make("linear", T=1000)
    m = 200
    s2 = float((1 - sch.alpha_bars[m]) / sch.alpha_bars[m])
    gen = torch.Generator().manual_seed(2)
    n, d = 20000, 4
    var_x = torch.tensor([[0.5, 1.0, 1.5, 2.0]], dtype=torch.float64)
    w_s = torch.full((n, d), 0.8, dtype=torch.float64)
    w_n = torch.full((n, d), 0.6, dtype=torch.float64)
    x = torch.randn(n, d, generator=gen, dtype=torch.float64) * var_x.sqrt()
    y = w_s * x + w_n * math.sqrt(s2) * torch.randn(n, d, generator=gen, dtype=torch.float64)
    out, _ = cddm_sample(gaussian_exact_eps(var_x, w_s, w_n, sch), y, w_n, s2, sch, rule="ddim")
    target_var = (0.8**2 * var_x).squeeze(0)
    np.testing.assert_allclose(out.var(0).numpy(), target_var.numpy(), rtol=0.05)


def test_forward_diffuse_matches_received_vector_at_start_step():
    sch = NoiseSchedule.make("linear", T=1000)
    m = 80
    s2 = float((1 - sch.alpha_bars[m]) / sch.alpha_bars[m])
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(8, 6, generator=gen, dtype=torch.float64)
    w_s, w_n = _rayleigh_weights(gen, 8, 6, s2)
    n = torch.randn(8, 6, generator=gen, dtype=torch.float64) * math.sqrt(s2)
    y = w_s * x + w_n * n
    eps = n / math.sqrt(s2)
    torch.testing.assert_close(forward_diffuse(w_s * x, w_n, eps, sch.alpha_bars[m]), y / math.sqrt(1 + s2))


def test_score_net_shapes_and_loss():
    torch.manual_seed(0)
    net = LatentScoreNet((4, 4, 4), width=16, blocks=1, emb=32)
    x = torch.randn(5, 64)
    w_s, w_n = torch.rand(5, 64), torch.rand(5, 64)
    out = net(x, torch.arange(5), w_s, w_n)
    assert out.shape == (5, 64)
    sch = NoiseSchedule.make("linear", T=100)
    loss = cddm_loss(net, x, w_s, w_n, sch, t_max=50)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


def test_latent_shape_for():
    assert latent_shape_for(1024) == (16, 8, 8)
    assert latent_shape_for(1024, {"latent_shape": [64, 4, 4]}) == (64, 4, 4)
    assert latent_shape_for(7) == (7, 1, 1)
