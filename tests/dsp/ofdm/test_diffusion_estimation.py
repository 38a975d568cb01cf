"""The diffusion channel estimator's math against closed forms (Gaussian channels: the posterior
is known exactly), and a tiny network trained on Gaussian channels against LMMSE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semradio.dsp.ofdm import diffusion as dm
from semradio.models.channel_denoiser import ChannelDenoiserNet, DiffusionChannelEstimator


def _cov(d: int, rank: int, seed: int = 0) -> np.ndarray:
    """A low-rank-plus-floor Hermitian covariance with unit mean diagonal (a few-path channel)."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((d, rank)) + 1j * rng.standard_normal((d, rank))
    r = a @ a.conj().T + 1e-3 * np.eye(d)
    return r / np.mean(np.real(np.diag(r)))


def _draw(cov: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    w, u = np.linalg.eigh(cov)
    root = u * np.sqrt(np.maximum(w, 0.0))
    z = (rng.standard_normal((n, cov.shape[0])) + 1j * rng.standard_normal((n, cov.shape[0]))) / np.sqrt(2.0)
    return z @ root.T


def _noisy(h: np.ndarray, v: float, rng: np.random.Generator) -> np.ndarray:
    return h + (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape)) * np.sqrt(v / 2.0)


def test_lmmse_matches_its_error_formula() -> None:
    rng = np.random.default_rng(1)
    cov = _cov(12, 3)
    h = _draw(cov, 40000, rng)
    v = 0.3
    est = dm.lmmse(_noisy(h, v, rng), cov, v)
    mse = np.mean(np.abs(est - h) ** 2, axis=0)
    np.testing.assert_allclose(mse, dm.lmmse_error(cov, v), rtol=0.05, atol=2e-3)


def test_tweedie_with_the_exact_score_is_lmmse() -> None:
    """Done-when: with Gaussian channels and the exact score the estimator equals LMMSE (through
    the estimator class, grids and levels per row included)."""
    rng = np.random.default_rng(2)
    rows, k = 2, 8
    cov = _cov(rows * k, 4)
    h = _draw(cov, 64, rng)
    v = rng.uniform(0.01, 2.0, 64)
    y = np.stack([_noisy(h[i:i + 1], v[i], rng)[0] for i in range(64)])
    est = DiffusionChannelEstimator(dm.gaussian_denoiser(cov), {}, shape=(rows, k))
    got, err = est.estimate(y.reshape(64, rows, k), v)
    ref = np.stack([dm.lmmse(y[i:i + 1], cov, v[i])[0] for i in range(64)])
    np.testing.assert_allclose(got.reshape(64, -1), ref, rtol=1e-5, atol=1e-5)
    assert err.shape == (64,) and np.allclose(err, v)      # no table: the LS error, never less


def test_score_form_of_tweedie() -> None:
    """Tweedie's formula: D(y) = y + v grad log p_v(y), p_v = CN(0, R + v I)."""
    cov = _cov(6, 2)
    y = np.random.default_rng(3).standard_normal((5, 6)) + 0j
    v = 0.4
    score = -np.linalg.solve(cov + v * np.eye(6), y.T).T
    np.testing.assert_allclose(dm.tweedie(dm.gaussian_denoiser(cov), y, v), y + v * score, atol=1e-12)


@pytest.mark.parametrize("steps", [1, 4, 30])
def test_ancestral_mean_is_lmmse_at_any_step_count(steps: int) -> None:
    rng = np.random.default_rng(4)
    cov = _cov(6, 2)
    y = _noisy(_draw(cov, 3, rng), 0.5, rng)
    draws = dm.ancestral(dm.gaussian_denoiser(cov), y, 0.5, steps, samples=4000, rng=rng)
    ref = dm.lmmse(y, cov, 0.5)
    post_sd = np.sqrt(dm.lmmse_error(cov, 0.5).max())
    assert np.max(np.abs(draws.mean(axis=0) - ref)) < 5 * post_sd / np.sqrt(4000)


def test_ancestral_spread_approaches_the_posterior_covariance() -> None:
    rng = np.random.default_rng(5)
    cov = _cov(4, 2)
    v = 0.5
    y = _noisy(_draw(cov, 1, rng), v, rng)
    post = cov - cov @ np.linalg.solve(cov + v * np.eye(4), cov)
    errs = []
    for steps in (4, 200):
        d = dm.ancestral(dm.gaussian_denoiser(cov), y, v, steps, samples=6000, rng=rng)[:, 0]
        errs.append(np.max(np.abs(dm.covariance(d - d.mean(axis=0)) - post)))
    assert errs[1] < 0.05 * np.max(np.abs(post)) + 0.02
    assert errs[1] < errs[0]                             # more steps, closer to the posterior


def test_ladder_and_levels() -> None:
    assert dm.ladder(0.5, 1).tolist() == [0.5, 0.0]
    lad = dm.ladder(0.5, 5)
    assert lad[0] == 0.5 and lad[-1] == 0.0 and np.all(np.diff(lad) < 0)
    with pytest.raises(ValueError):
        dm.ladder(0.5, 0)
    with pytest.raises(ValueError):
        dm.as_levels([0.1, np.nan], 2)
    with pytest.raises(ValueError):
        dm.as_levels(-1.0, 3)
    assert dm.nmse_db(np.zeros(4), np.ones(4)) == pytest.approx(0.0)


def test_a_small_network_trained_on_gaussian_channels_reaches_lmmse() -> None:
    """The network, its preconditioning and the loss: trained on CN(0, R) grids it must come
    within 1 dB of the LMMSE estimator (the MMSE for Gaussian data) at 0 and 10 dB."""
    torch.manual_seed(0)
    torch.set_num_threads(1)
    rng = np.random.default_rng(6)
    rows, k = 1, 16
    cov = _cov(k, 3, seed=7)
    bank = torch.from_numpy(_draw(cov, 20000, rng).astype(np.complex64))
    net = ChannelDenoiserNet(rows, k, width=128, blocks=2)
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for step in range(700):
        h = bank[torch.randint(0, bank.shape[0], (256,))]
        v = 10.0 ** (-(torch.rand(256) * 30.0 - 5.0) / 10.0)
        y = h + torch.randn(h.shape, dtype=torch.complex64) * torch.sqrt(v)[:, None]
        x = torch.cat([y.real, y.imag], -1)
        t = torch.cat([h.real, h.imag], -1)
        loss = torch.mean(ChannelDenoiserNet.loss_weight(v) * ((net(x, v) - t) ** 2).mean(-1))
        for g in opt.param_groups:
            g["lr"] = 2e-3 * (1 - step / 700) + 1e-5
        opt.zero_grad()
        loss.backward()
        opt.step()
    est = DiffusionChannelEstimator(net.eval(), {}, device="cpu")
    test = _draw(cov, 3000, rng)
    for snr in (0.0, 10.0):
        v = 10 ** (-snr / 10)
        y = _noisy(test, v, rng)
        got = dm.nmse_db(est.estimate(y.reshape(-1, rows, k).astype(np.complex64), v)[0].reshape(-1, k), test)
        ref = dm.nmse_db(dm.lmmse(y, cov, v), test)
        assert got < ref + 1.0, (snr, got, ref)
        assert got < dm.nmse_db(y, test) - 3.0


def test_gaussian_skip_path_is_lmmse_with_the_prior_covariance():
    """With ``gaussian_skip`` and the output layer at its zero initialisation the network is
    exactly ``R (R + v I)^-1 x``: training only adds the non-Gaussian part."""
    rng = np.random.default_rng(8)
    rows, k = 2, 4
    cov = _cov(rows * k, 3, seed=9)
    net = ChannelDenoiserNet(rows, k, width=16, blocks=1, gaussian_skip=True)
    net.set_prior(cov)
    assert net.config()["gaussian_skip"] is True
    est = DiffusionChannelEstimator(net, {}, device="cpu")
    y = rng.standard_normal((6, rows * k)) + 1j * rng.standard_normal((6, rows * k))
    v = rng.uniform(0.05, 1.0, 6)
    got = est.estimate(y.reshape(6, rows, k).astype(np.complex64), v)[0].reshape(6, -1)
    ref = np.stack([dm.lmmse(y[i:i + 1], cov, v[i])[0] for i in range(6)])
    np.testing.assert_allclose(got, ref, atol=1e-5)
    with pytest.raises(ValueError):
        ChannelDenoiserNet(rows, k).set_prior(cov)


@pytest.mark.parametrize("skip", [False, True])
def test_numpy_forward_matches_torch(skip):
    from semradio.models.channel_denoiser import NumpyDenoiser

    torch.manual_seed(3)
    net = ChannelDenoiserNet(2, 8, width=32, blocks=2, gaussian_skip=skip)
    if skip:
        net.set_prior(_cov(16, 4, seed=1))
    for prm in net.parameters():                         # non-trivial weights everywhere (out starts at 0)
        torch.nn.init.normal_(prm, std=0.2)
    for rows in (5, 20):                                 # one grid at a time, and the BLAS-limited path
        x = torch.randn(rows, 32)
        v = torch.tensor([1e-3, 0.01, 0.1, 1.0, 5.0] * (rows // 5))
        with torch.no_grad():
            ref = net(x, v).numpy()
        got = NumpyDenoiser(net)(x.numpy(), v.numpy())
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
