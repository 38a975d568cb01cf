"""VE latent diffusion and EECD math (seed 003 eqs. 25-27, Alg. 4) against closed forms."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.models.cddm import LatentScoreNet
from semradio.models.consistency import (ConsistencyNet, boundary_coefficients, consistency_distillation_loss,
                                         eecd_sample, load_eecd, save_eecd, tau2_index, update_ema)
from semradio.models.ve import (VENoiseNet, gaussian_exact_eps, gaussian_flow_solution, karras_grid, load_ve,
                                match_index, save_ve, to_output, ve_diffuse, ve_loss, ve_sample,
                                vp_reference_schedule)

SHAPE = (4, 2, 2)  # D = 16
D = 16


def rayleigh_weights(B: int, s2: float, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    h2 = -torch.log(torch.rand((B, D // 2), generator=g, dtype=torch.float64))  # |h|^2 ~ Exp(1)
    d = h2 + s2
    ws, wn = h2 / d, h2.sqrt() / d
    return torch.cat([ws, ws], 1), torch.cat([wn, wn], 1)


# ------------------------------------------------------------------------- Karras grid
def test_karras_grid_endpoints_and_formula() -> None:
    g = karras_grid(100, 0.002, 2.0, 7.0)
    assert g.shape == (101,) and g.dtype == torch.float64
    assert g[0] == 0.0 and g[1] == 0.002 and g[100] == 2.0
    assert bool(torch.all(g[1:] > g[:-1]))
    a, b = 0.002 ** (1 / 7), 2.0 ** (1 / 7)
    for n in (2, 37, 50, 99):
        assert math.isclose(float(g[n]), (a + (n - 1) / 99 * (b - a)) ** 7, rel_tol=1e-12)
    # rho = 1 is a uniform grid
    u = karras_grid(5, 1.0, 5.0, 1.0)
    assert torch.allclose(u, torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], dtype=torch.float64))


@pytest.mark.parametrize("kw", [{"n": 1}, {"t_min": 0.0}, {"t_min": 3.0, "t_max": 2.0}, {"rho": 0.0}])
def test_karras_grid_rejects_bad_arguments(kw: dict) -> None:
    with pytest.raises(ValueError):
        karras_grid(**kw)


@settings(max_examples=60, deadline=None)
@given(st.floats(1e-6, 10.0))
def test_match_index_is_the_argmin(s2: float) -> None:
    g = karras_grid()
    m = match_index(g, s2)
    assert 1 <= m <= 100
    errs = (g[1:] ** 2 - s2).abs()
    assert float(errs[m - 1]) == float(errs.min())


def test_match_index_known_points() -> None:
    g = karras_grid()
    for n in (1, 45, 63, 85, 100):
        assert match_index(g, float(g[n]) ** 2) == n
    assert match_index(g, 0.0) == 0
    assert match_index(g, 1e6) == 100
    # 0/10/20 dB: s2 lies between the neighbours of t_m^2 (indices 85, 63, 45 on the default grid)
    for snr, want in ((0.0, 85), (10.0, 63), (20.0, 45)):
        s2 = 10 ** (-snr / 10)
        m = match_index(g, s2)
        assert m == want and float(g[m - 1]) ** 2 < s2 < float(g[m + 1]) ** 2


# ------------------------------------------------------------------------- forward / time embedding
def test_ve_diffuse_is_eq25() -> None:
    z0, wn, eps = torch.randn(3, D), torch.rand(3, D), torch.randn(3, D)
    t = torch.tensor([0.1, 0.5, 2.0])
    assert torch.allclose(ve_diffuse(z0, wn, eps, t), z0 + t[:, None] * wn * eps)


def test_tau_hits_the_reference_steps_and_is_monotone() -> None:
    net = VENoiseNet(SHAPE, width=8, blocks=1, emb=8)
    ab = vp_reference_schedule().alpha_bars
    ks = torch.tensor([0, 5, 73, 150, 199])
    t = torch.sqrt((1 - ab[ks]) / ab[ks])
    assert torch.allclose(net.tau(t), ks.float(), atol=1e-3)
    tt = torch.logspace(-3, 1, 200)
    assert bool(torch.all(net.tau(tt)[1:] > net.tau(tt)[:-1]))


def test_ve_net_wraps_cddm_exactly() -> None:
    """c_in z_t is the VP-diffused latent, so a CDDM eps net is a VE eps net (warm start)."""
    torch.manual_seed(0)
    net = VENoiseNet(SHAPE, width=8, blocks=1, emb=16)
    cddm = LatentScoreNet(SHAPE, width=8, blocks=1, emb=16)
    for p in cddm.parameters():
        torch.nn.init.normal_(p, std=0.2)
    net.inner.load_state_dict(cddm.state_dict())
    ab = vp_reference_schedule().alpha_bars
    k = 60
    t = float(torch.sqrt((1 - ab[k]) / ab[k]))
    x_vp, ws, wn = torch.randn(2, D), torch.rand(2, D), torch.rand(2, D)
    z = x_vp * math.sqrt(1 + t * t)
    got = net(z, torch.full((2,), t), ws, wn)
    want = cddm(x_vp, torch.full((2,), k), ws, wn)
    assert torch.allclose(got, want, atol=1e-4)


# ------------------------------------------------------------------------- closed-form Gaussian checks
@pytest.mark.parametrize("solver,tol", [("heun", 2e-3), ("euler", 3e-2)])
@pytest.mark.parametrize("snr_db", [0.0, 10.0, 20.0])
def test_ode_solution_matches_gaussian_flow(solver: str, tol: float, snr_db: float) -> None:
    s2 = 10 ** (-snr_db / 10)
    g = karras_grid()
    m = match_index(g, s2)
    var_x = 1.0
    ws, wn = rayleigh_weights(64, s2)
    z_tm = torch.randn(64, D, dtype=torch.float64) * torch.sqrt(ws**2 * var_x + float(g[m]) ** 2 * wn**2)
    z0, nfe = ve_sample(gaussian_exact_eps(var_x, ws, wn), z_tm, wn, g, m, solver)
    assert nfe == (m if solver == "euler" else 2 * m - 1)
    exact = gaussian_flow_solution(z_tm, float(g[m]), var_x, ws, wn)
    rel = float(torch.linalg.norm(z0 - exact) / torch.linalg.norm(exact))
    assert rel < tol


def test_exact_denoiser_is_the_lmmse_estimate() -> None:
    """z - t H_n E[eps|z] equals Cov(z0, z_t)/Var(z_t) z_t for Gaussian z_R."""
    ws, wn = rayleigh_weights(8, 0.1)
    z = torch.randn(8, D, dtype=torch.float64)
    t = 0.7
    den = z - t * wn * gaussian_exact_eps(2.0, ws, wn)(z, torch.tensor(t, dtype=torch.float64))
    a = ws**2 * 2.0
    assert torch.allclose(den, a / (a + t * t * wn**2) * z)


class _Oracle(torch.nn.Module):
    def __init__(self, var_x: float) -> None:
        super().__init__()
        self.var_x = var_x

    def forward(self, z: torch.Tensor, t: torch.Tensor, ws: torch.Tensor, wn: torch.Tensor) -> torch.Tensor:
        return gaussian_exact_eps(self.var_x, ws, wn)(z, t)


def test_ve_loss_at_the_optimum_is_the_posterior_variance() -> None:
    """With the exact E[eps|z_t], eq. (26) equals E_t mean a/(a + t^2 W_n^2), a = W_s^2 var_x."""
    torch.manual_seed(1)
    B = 20000
    g = karras_grid().to(torch.float64)
    ws = torch.full((B, D), 0.8, dtype=torch.float64)
    wn = torch.full((B, D), 0.4, dtype=torch.float64)
    x = torch.randn(B, D, dtype=torch.float64)
    n_max = 85
    loss = ve_loss(_Oracle(1.0), x, ws, wn, g, n_max, torch.Generator().manual_seed(2))
    t = g[1:n_max + 1]
    want = float(torch.mean(0.64 / (0.64 + t**2 * 0.16)))
    assert loss.shape == ()
    assert abs(float(loss) - want) < 0.01


def test_to_output_modes() -> None:
    z0, ws = torch.randn(2, D), torch.rand(2, D) + 0.1
    assert torch.allclose(to_output(z0, ws, "latent"), z0 / ws / math.sqrt(2))
    assert torch.allclose(to_output(z0, ws, "equalizer"), z0 / math.sqrt(2))
    tiny = torch.full((2, D), 1e-6)
    assert torch.allclose(to_output(z0, tiny, "latent", ws_floor=0.05), z0 / 0.05 / math.sqrt(2))
    with pytest.raises(ValueError):
        to_output(z0, ws, "bogus")


# ------------------------------------------------------------------------- consistency function
def test_boundary_coefficients_values() -> None:
    t = torch.tensor([0.002, 0.5, 2.0], dtype=torch.float64)
    c_skip, c_out = boundary_coefficients(t, 0.002, 0.5)
    assert c_skip[0] == 1.0 and c_out[0] == 0.0
    assert math.isclose(float(c_skip[1]), 0.25 / (0.498**2 + 0.25), rel_tol=1e-12)
    assert math.isclose(float(c_out[2]), 0.5 * 1.998 / math.sqrt(0.25 + 4.0), rel_tol=1e-12)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.1, 2.0))
def test_consistency_boundary_is_exact(seed: int, sigma_data: float) -> None:
    torch.manual_seed(seed)
    net = ConsistencyNet(SHAPE, width=8, blocks=1, emb=8, t_min=0.002, sigma_data=sigma_data)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.5)
    z, ws, wn = torch.randn(3, D) * 3, torch.rand(3, D), torch.rand(3, D)
    out = net(z, torch.full((3,), 0.002), ws, wn)
    assert torch.equal(out, z)
    assert not torch.allclose(net(z, torch.full((3,), 0.5), ws, wn), z)


def test_consistency_equals_skip_plus_denoiser_head() -> None:
    """f = c_skip z + (1 - c_skip) (z - t H_n G(z, t)) away from t_min."""
    torch.manual_seed(3)
    net = ConsistencyNet(SHAPE, width=8, blocks=1, emb=8)
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.3)
    z, ws, wn = torch.randn(2, D), torch.rand(2, D), torch.rand(2, D)
    t = torch.tensor([0.3, 1.2])
    c_skip, _ = boundary_coefficients(t[:, None], 0.002, 0.5)
    want = c_skip * z + (1 - c_skip) * (z - t[:, None] * wn * net.g(z, t, ws, wn))
    assert torch.allclose(net(z, t, ws, wn), want, atol=1e-6)


def test_distillation_loss_shapes_and_gradients() -> None:
    torch.manual_seed(4)
    student = ConsistencyNet(SHAPE, width=8, blocks=1, emb=8)
    target = ConsistencyNet(SHAPE, width=8, blocks=1, emb=8)
    target.load_state_dict(student.state_dict())
    for p in target.parameters():
        p.requires_grad_(False)
    teacher = VENoiseNet(SHAPE, width=8, blocks=1, emb=8)

    def decode(lat: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(lat.reshape(-1, 1, 4, 4)).repeat(1, 3, 1, 1)

    ws, wn = rayleigh_weights(5, 0.1)
    loss, imgs = consistency_distillation_loss(student, target, teacher, decode, torch.randn(5, D), ws.float(),
                                               wn.float(), karras_grid(), 85, generator=torch.Generator().manual_seed(0))
    assert loss.shape == () and float(loss.detach()) >= 0 and imgs.shape == (5, 3, 4, 4)
    loss.backward()
    assert any(p.grad is not None and float(p.grad.abs().sum()) > 0 for p in student.parameters())
    assert all(p.grad is None for p in target.parameters())


def test_update_ema() -> None:
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    wa, wb = a.weight.detach().clone(), b.weight.detach().clone()
    update_ema(a, b, 0.9)
    assert torch.allclose(a.weight, 0.9 * wa + 0.1 * wb)


def test_eecd_sample_nfe_and_tau2() -> None:
    g = karras_grid()
    net = ConsistencyNet(SHAPE, width=8, blocks=1, emb=8)
    y, ws, wn = torch.randn(2, D), torch.rand(2, D), torch.rand(2, D)
    for s in (1, 2):
        z, nfe = eecd_sample(net, y, ws, wn, g, 63, s, generator=torch.Generator().manual_seed(0))
        assert nfe == s and z.shape == (2, D)
    with pytest.raises(ValueError):
        eecd_sample(net, y, ws, wn, g, 63, 3)
    k = tau2_index(g, 63, 0.3)
    assert 1 <= k < 63 and abs(float(g[k]) - 0.3 * float(g[63])) <= float(g[k + 1] - g[k - 1])
    assert tau2_index(g, 1) == 1


def test_save_load_roundtrip(tmp_path) -> None:
    torch.manual_seed(5)
    ve = VENoiseNet(SHAPE, width=8, blocks=1, emb=8)
    cm = ConsistencyNet(SHAPE, width=8, blocks=1, emb=8, sigma_data=0.7)
    for p in list(ve.parameters()) + list(cm.parameters()):
        torch.nn.init.normal_(p, std=0.3)
    grid_cfg = {"n": 50, "t_min": 0.002, "t_max": 2.0, "rho": 7.0}
    save_ve(ve, grid_cfg, tmp_path / "ve_x", {"output": "latent"})
    save_eecd(cm, grid_cfg, tmp_path / "cm_x", {"output": "latent"})
    ve2, g2, cfg = load_ve(tmp_path / "ve_x", "cpu")
    cm2, g3, _ = load_eecd(tmp_path / "cm_x.json", "cpu")
    z, ws, wn, t = torch.randn(2, D), torch.rand(2, D), torch.rand(2, D), torch.tensor([0.1, 1.0])
    assert torch.equal(ve2(z, t, ws, wn), ve(z, t, ws, wn)) and torch.equal(cm2(z, t, ws, wn), cm(z, t, ws, wn))
    assert g2.shape == (51,) and torch.equal(g2, g3) and cfg["output"] == "latent" and cm2.sigma_data == 0.7
    with pytest.raises(ValueError):
        load_ve(tmp_path / "cm_x", "cpu")
    with pytest.raises(FileNotFoundError):
        load_eecd(tmp_path / "missing", "cpu")
