"""The diffusion channel estimator as a block and as the OFDM receiver's estimator (the shipped
``chest_tdllink``): shapes and tags, hostile tags, and a receiver whose estimate beats LS."""

from __future__ import annotations

import numpy as np
import pytest

from semradio.blocks import DiffusionChannelEstimator, OFDMReceiver, OFDMTransmitter
from semradio.runtime import Frame


def _latents(b, k, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal((b, k)) + 1j * rng.standard_normal((b, k))) / np.sqrt(2)).astype(np.complex64)


def test_block_cleans_ls_grids_and_tags_the_error():
    blk = DiffusionChannelEstimator()
    rows, k = blk.shape
    rng = np.random.default_rng(0)
    h = np.exp(-2j * np.pi * np.arange(k) * 5 / 64)[None, :] * np.array([[1.0], [0.5j]])   # one path each
    v = np.array([0.1, 0.01])
    y = (h + (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape)) * np.sqrt(v[:, None] / 2))
    out = blk.work(Frame(y.astype(np.complex64), {"noise_var": v, "seq": 3}))
    assert out.data.shape == (2, rows * k) and out.data.dtype == np.complex64 and out.tags["seq"] == 3
    err = np.mean(np.abs(out.data - h) ** 2, axis=1)
    assert np.all(err < 0.5 * v)                         # better than LS (error v) by > 3 dB
    e = out.tags["est_error_var"]
    assert e.shape == (2,) and np.all(e <= v) and e[0] > e[1]


@pytest.mark.parametrize("tags", [{}, {"noise_var": -1.0}, {"noise_var": float("nan")}, {"noise_var": "x"},
                                  {"noise_var": [0.1, 0.2, 0.3]}])
def test_block_rejects_bad_noise_tags(tags):
    blk = DiffusionChannelEstimator()
    with pytest.raises(ValueError, match="DiffusionChannelEstimator"):
        blk.work(Frame(np.ones((2, 52), np.complex64), tags))


def test_block_rejects_wrong_shapes_and_methods():
    blk = DiffusionChannelEstimator(method="ancestral", steps=3, samples=2)
    with pytest.raises(ValueError, match="LS grids"):
        blk.work(Frame(np.ones((2, 51), np.complex64), {"noise_var": 0.1}))
    assert blk.work(Frame(np.ones((1, 52), np.complex64), {"noise_var": 0.1})).data.shape == (1, 52)
    with pytest.raises(ValueError):
        DiffusionChannelEstimator(method="magic")


def test_receiver_with_the_diffusion_estimator_beats_ls():
    """Same bursts through a multipath channel at 5 dB: the diffusion receiver's channel is closer
    to the true one than the LS receiver's, and it tags its expected error variance."""
    pytest.importorskip("scipy")
    from semradio.blocks import SampleChannel

    tx = OFDMTransmitter(gap=100)
    nm = {}
    for est in ("ls", "diffusion"):
        ch = SampleChannel(snr_db=5.0, taps=[0.8, 0.5j, 0.3, -0.2], gap_min=300, gap_max=300, seed=1,
                           keep_noiseless=True)
        rx = OFDMReceiver(estimator=est)
        genie = OFDMReceiver(csi="genie")
        errs = []
        for i in range(4):
            y = ch.work(tx.work(Frame(_latents(4, 128, i), {"seq": i})))
            fe, fg = rx.work(y)[0], genie.work(y)[0]
            errs.append(np.sum(np.abs(fe.tags["h"] - fg.tags["h"]) ** 2) / np.sum(np.abs(fg.tags["h"]) ** 2))
            if est == "diffusion":
                assert 0 < fe.tags["csi_error_var"] < fe.tags["noise_var"]
        nm[est] = 10 * np.log10(np.mean(errs))
    assert nm["diffusion"] < nm["ls"] - 1.0, nm


def test_receiver_needs_a_model_for_diffusion():
    from semradio.dsp.ofdm.numerology import OFDMConfig
    from semradio.dsp.ofdm.receiver import BurstReceiver

    with pytest.raises(ValueError, match="diffusion_model"):
        BurstReceiver(OFDMConfig(), estimator="diffusion")
    with pytest.raises(ValueError):
        OFDMReceiver(estimator="kalman")


def test_cuda_gives_the_cpu_estimate():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    from semradio.models.channel_denoiser import DiffusionChannelEstimator as Estimator

    x = (np.random.default_rng(1).standard_normal((64, 1, 52)) * (1 + 1j)).astype(np.complex64)
    a = Estimator.load("chest_tdllink", device="cpu").estimate(x, 0.05)[0]
    b = Estimator.load("chest_tdllink", device="cuda").estimate(x, 0.05)[0]
    np.testing.assert_allclose(a, b, atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("scenario", ["umi-28", "umi-73", "inh-28", "inh-73", "ris-28", "tdl-link"])
def test_shipped_estimators_meet_their_marks(scenario):
    """Each shipped checkpoint on fresh grids of its scenario: >= 3 dB better than LS at 0 and
    10 dB pilot SNR and within 1 dB of LMMSE with the scenario's own covariance."""
    pytest.importorskip("sionna.phy", reason="needs Sionna PHY (pip install -e '.[phy]')")
    from semradio.dsp.ofdm import diffusion as dm
    from semradio.dsp.ofdm.channel_grids import generate_grids
    from semradio.models.channel_denoiser import DiffusionChannelEstimator as Estimator
    from semradio.models.training.chest import default_name

    est = Estimator.load(default_name(scenario), device="cpu")
    assert est.scenario == scenario
    h = generate_grids(scenario, 300, seed=99).astype(np.complex128)
    cov = dm.covariance(generate_grids(scenario, 3000, seed=98).reshape(3000, -1))
    rng = np.random.default_rng(0)
    for snr in (0.0, 10.0):
        v = 10 ** (-snr / 10)
        y = h + (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape)) * np.sqrt(v / 2)
        got = dm.nmse_db(est.estimate(y, v)[0], h)
        assert got < dm.nmse_db(y, h) - 3.0
        assert got < dm.nmse_db(dm.lmmse(y.reshape(300, -1), cov, v), h.reshape(300, -1)) + 1.0
