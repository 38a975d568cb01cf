"""Channel blocks: statistics against closed forms, commpy and scipy; fading modes; CSI;
interference; reproducibility; errors; numpy/torch parity.

Statistical bounds (5 sigma, fixed seeds and derandomized hypothesis, so nothing flakes):

* the sample mean of N i.i.d. values with std s has std s/sqrt(N);
* |n|^2 / s2 ~ Exp(1) for n ~ CN(0, s2) (mean 1, std 1): the sample noise power of N complex
  Gaussians has relative std 1/sqrt(N);
* the sample correlation of N independent pairs has std ~ 1/sqrt(N);
* a sample variance has relative std sqrt((kurtosis - 1)/N); for N(0, v) (kurtosis 3) that is
  sqrt(2/N), so a ratio of two independent ones has relative std <= 2/sqrt(N);
* |h|^2 of a Rician gain is a scaled non-central chi-square with 2 degrees of freedom, whose
  kurtosis is 3 + 6(1+2l)/(1+l)^2 <= 9: its sample variance has relative std <= sqrt(8/N).
"""

from __future__ import annotations

import math

import commpy
import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.blocks import (AWGNChannel, InterferenceChannel, RayleighChannel, RicianChannel, make_channel)
from semradio.dsp import channel as cm
from semradio.runtime import Frame

STATS = settings(max_examples=20, deadline=None, derandomize=True)
SIGMAS = 5.0
P_MIN = 1e-3  # KS significance (with fixed seeds the outcome is deterministic)


def unit_symbols(batch: int, k: int, seed: int = 0) -> np.ndarray:
    """Power-normalized Gaussian symbols (each item has average power exactly 1)."""
    x = np.random.default_rng(seed).standard_normal((batch, 2 * k)).astype(np.float32)
    return cm.normalize_power(x)


def frame(x, seq: int = 0, **tags) -> Frame:
    return Frame(x, {"seq": seq, **tags})


def c128(a) -> np.ndarray:
    return np.asarray(a, dtype=np.complex128)


# --------------------------------------------------------------------------------- AWGN
@STATS
@given(snr_db=st.floats(-10.0, 40.0), seed=st.integers(0, 2**31))
def test_awgn_empirical_snr_within_bound(snr_db, seed):
    x = unit_symbols(4, 4096, seed % 97)
    out = AWGNChannel(snr_db=snr_db, seed=seed, keep_noise=True).work(frame(x))
    n = c128(out.data) - c128(x)
    np.testing.assert_allclose(n, out.tags["eval_noise"], atol=1e-5 * math.sqrt(out.tags["noise_var"]) + 1e-6)
    s2 = cm.noise_var_from_snr(snr_db)
    assert out.tags["noise_var"] == pytest.approx(s2) == commpy.mimo_noise_variance(snr_db)
    big_n = n.size
    measured = np.mean(np.abs(n) ** 2)
    assert abs(measured / s2 - 1.0) <= SIGMAS / math.sqrt(big_n)
    snr_measured = 10 * np.log10(np.mean(np.abs(x) ** 2) / measured)
    rel = SIGMAS / math.sqrt(big_n)
    assert abs(snr_measured - snr_db) <= max(10 * np.log10(1 + rel), -10 * np.log10(1 - rel))
    # circular: Re and Im uncorrelated and of equal variance s2/2
    re, im = n.real.ravel(), n.imag.ravel()
    assert abs(np.corrcoef(re, im)[0, 1]) <= SIGMAS / math.sqrt(big_n)
    assert abs(np.var(re) / np.var(im) - 1.0) <= SIGMAS * 2.0 / math.sqrt(big_n)
    assert abs(np.mean(n)) <= SIGMAS * math.sqrt(s2 / big_n)
    assert out.tags["snr_db"] == out.tags["sinr_db"] == snr_db
    assert out.tags["channel"] == "awgn" and out.tags["channel_model"] == "awgn"
    np.testing.assert_array_equal(out.tags["h"], np.ones_like(x))


def test_awgn_matches_commpy_noise_statistics():
    snr_db, n_sym = 7.0, 1 << 15
    x = (np.ones(n_sym) * (1 + 1j) / math.sqrt(2)).astype(np.complex64)
    ours = c128(AWGNChannel(snr_db=snr_db, seed=11).work(frame(x[None])).data[0]) - x
    theirs = commpy.Channels.awgn(x.astype(np.complex128), snr_db, rng=np.random.default_rng(12)) - x
    for part in (np.real, np.imag):
        assert scipy.stats.ks_2samp(part(ours), part(theirs)).pvalue > P_MIN
    assert abs(np.var(ours) / np.var(theirs) - 1) <= SIGMAS * 2 / math.sqrt(n_sym)


def test_seeded_runs_reproduce_and_seeds_differ():
    x = unit_symbols(2, 256)
    for make in (lambda s: AWGNChannel(seed=s), lambda s: RayleighChannel(seed=s, csi_error_var=0.1),
                 lambda s: RicianChannel(seed=s, fading="block"), lambda s: InterferenceChannel(seed=s, sinr_db=3)):
        a, b, c = make(5), make(5), make(6)
        ya = [a.work(frame(x, i)) for i in range(3)]
        yb = [b.work(frame(x, i)) for i in range(3)]
        yc = c.work(frame(x, 0))
        for fa, fb in zip(ya, yb):
            np.testing.assert_array_equal(fa.data, fb.data)
            np.testing.assert_array_equal(fa.tags["h"], fb.tags["h"])
        assert not np.array_equal(ya[0].data, ya[1].data), "the stream must move on between frames"
        assert not np.array_equal(ya[0].data, yc.data), "different seeds must differ"
        a.set_param("seed", 5)  # restarts the streams
        np.testing.assert_array_equal(a.work(frame(x, 0)).data, ya[0].data)


# ----------------------------------------------------------------------------- Rayleigh
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rayleigh_gain_power_is_exponential(seed):
    n_sym = 1 << 14
    out = RayleighChannel(seed=seed).work(frame(unit_symbols(1, n_sym)))
    h = c128(out.tags["h"]).ravel()
    np.testing.assert_array_equal(out.tags["h"], out.tags["eval_h_true"])  # perfect CSI
    a2 = np.abs(h) ** 2
    assert scipy.stats.kstest(a2, "expon").pvalue > P_MIN
    assert abs(h.mean().real) <= SIGMAS * math.sqrt(0.5 / n_sym)
    assert abs(h.mean().imag) <= SIGMAS * math.sqrt(0.5 / n_sym)
    assert abs(a2.mean() - 1) <= SIGMAS / math.sqrt(n_sym)
    # cross-check against commpy's independent Rayleigh generator
    ref = commpy.rayleigh_channel_matrix(n_sym, 1, rng=np.random.default_rng(100 + seed)).ravel()
    assert scipy.stats.ks_2samp(a2, np.abs(ref) ** 2).pvalue > P_MIN
    assert scipy.stats.ks_2samp(np.angle(h), np.angle(ref)).pvalue > P_MIN


def test_rayleigh_output_is_h_times_x_plus_noise():
    x = unit_symbols(3, 100)
    out = RayleighChannel(snr_db=5.0, seed=4, keep_noise=True, px=2.0).work(frame(x))
    t = out.tags
    expected = math.sqrt(2.0) * c128(t["h"]) * c128(x) + c128(t["eval_noise"])
    np.testing.assert_allclose(out.data, expected, rtol=1e-5, atol=1e-6)
    assert t["noise_var"] == pytest.approx(2.0 / 10 ** 0.5)


# ------------------------------------------------------------------------------- Rician
def rician_k_moment_estimate(a2: np.ndarray) -> float:
    """Moment estimator of K from |h|^2: r = var/mean^2 = (1+2K)/(K+1)^2 -> K."""
    r = float(np.var(a2) / np.mean(a2) ** 2)
    return (1 - r + math.sqrt(max(1 - r, 0.0))) / r


def rician_r(k: float) -> float:
    return (1 + 2 * k) / (k + 1) ** 2


@STATS
@given(k_factor=st.floats(0.5, 30.0), phase=st.floats(-math.pi, math.pi), seed=st.integers(0, 2**31))
def test_rician_power_and_k_factor_moments(k_factor, phase, seed):
    n_sym = 1 << 16
    out = RicianChannel(k_factor=k_factor, los_phase=phase, seed=seed).work(frame(unit_symbols(4, n_sym // 4)))
    h = c128(out.tags["h"]).ravel()
    a2 = np.abs(h) ** 2
    assert abs(a2.mean() - 1.0) <= SIGMAS / math.sqrt(n_sym)  # std(|h|^2) <= 1
    # K from the moments: r-hat has relative std <= (sqrt(8) + 2)/sqrt(N) (see module doc)
    delta = SIGMAS * (math.sqrt(8) + 2) / math.sqrt(n_sym)
    r_hat = float(np.var(a2) / np.mean(a2) ** 2)
    assert abs(r_hat / rician_r(k_factor) - 1) <= delta
    k_hat = rician_k_moment_estimate(a2)
    k_lo = rician_k_moment_estimate_from_r(rician_r(k_factor) * (1 + delta))
    k_hi = rician_k_moment_estimate_from_r(rician_r(k_factor) * (1 - delta))
    assert k_lo <= k_hat <= k_hi
    # the mean is the line-of-sight component sqrt(K/(K+1)) e^{j phase}
    los = math.sqrt(k_factor / (k_factor + 1)) * complex(math.cos(phase), math.sin(phase))
    scatter_std = math.sqrt(0.5 / (k_factor + 1) / n_sym)
    assert abs(h.mean() - los) <= SIGMAS * math.sqrt(2) * scatter_std


def rician_k_moment_estimate_from_r(r: float) -> float:
    r = min(r, 1.0)
    return (1 - r + math.sqrt(1 - r)) / r


@pytest.mark.parametrize("k_factor", [1.0, 10.0])
def test_rician_matches_commpy_and_scipy_rice(k_factor):
    n_sym = 1 << 14
    h = c128(RicianChannel(k_factor=k_factor, seed=21).work(frame(unit_symbols(1, n_sym))).tags["h"]).ravel()
    # commpy's Rician channel on x = 1 at a huge SNR returns its gains (LOS phase 0)
    ref = commpy.Channels.rician(np.ones(n_sym, complex), snr_db=300.0, k_factor=k_factor,
                                 rng=np.random.default_rng(22))
    assert scipy.stats.ks_2samp(np.abs(h), np.abs(ref)).pvalue > P_MIN
    # |h| ~ Rice(nu = sqrt(K/(K+1)), sigma = sqrt(1/(2(K+1))))
    sigma = math.sqrt(0.5 / (k_factor + 1))
    nu = math.sqrt(k_factor / (k_factor + 1))
    assert scipy.stats.kstest(np.abs(h), "rice", args=(nu / sigma, 0, sigma)).pvalue > P_MIN


def test_rician_limits():
    x = unit_symbols(2, 64)
    inf_k = RicianChannel(k_factor=math.inf, los_phase=0.3, snr_db=math.inf, seed=0).work(frame(x))
    np.testing.assert_allclose(inf_k.tags["h"], np.exp(0.3j) * np.ones_like(x), rtol=1e-6)
    np.testing.assert_allclose(inf_k.data, np.exp(0.3j) * x, rtol=1e-5, atol=1e-6)
    assert inf_k.tags["noise_var"] == 0.0
    k0 = RicianChannel(k_factor=0.0, seed=3).work(frame(x)).tags["h"]
    ray = RayleighChannel(seed=3).work(frame(x)).tags["h"]
    np.testing.assert_array_equal(k0, ray)  # K = 0 is Rayleigh, draw for draw


# ------------------------------------------------------------------------- fading modes
def block_correlation(a: np.ndarray, b: np.ndarray) -> float:
    return abs(np.mean(a * np.conj(b))) / math.sqrt(np.mean(np.abs(a) ** 2) * np.mean(np.abs(b) ** 2))


@pytest.mark.parametrize("cls", [RayleighChannel, RicianChannel])
def test_block_fading_per_item(cls):
    batch, k = 2048, 16
    ch = cls(fading="block", seed=8, k_factor=2.0) if cls is RicianChannel else cls(fading="block", seed=8)
    out = ch.work(frame(unit_symbols(batch, k)))
    h = c128(out.tags["h"])
    np.testing.assert_array_equal(h, np.repeat(h[:, :1], k, axis=1))  # constant over the item
    assert out.tags["coherence"] == k and out.tags["fading"] == "block"
    # independent across items: remove the mean (Rician LOS) and correlate neighbours
    g = h[:, 0] - h[:, 0].mean()
    assert block_correlation(g[:-1], g[1:]) <= SIGMAS / math.sqrt(batch - 1)
    # and across frames
    g2 = c128(ch.work(frame(unit_symbols(batch, k), 1)).tags["h"])[:, 0]
    assert block_correlation(g, g2 - g2.mean()) <= SIGMAS / math.sqrt(batch)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(k=st.integers(1, 64), coherence=st.integers(1, 80), seed=st.integers(0, 1000))
def test_block_fading_over_coherence_length(k, coherence, seed):
    out = RayleighChannel(fading="block", coherence=coherence, seed=seed, csi_error_var=0.01).work(
        frame(unit_symbols(3, k)))
    L = min(coherence, k)
    assert out.tags["coherence"] == L
    for key in ("eval_h_true", "h"):  # the estimate is constant per block too
        h = out.tags[key]
        starts = (np.arange(k) // L) * L
        np.testing.assert_array_equal(h, h[:, starts])
        assert len(np.unique(h[0])) == -(-k // L)


def test_coherence_blocks_are_independent():
    batch, k, L = 512, 64, 8
    h = c128(RayleighChannel(fading="block", coherence=L, seed=9).work(frame(unit_symbols(batch, k))).tags["h"])
    blocks = h[:, ::L]  # one gain per block: (batch, k/L)
    a, b = blocks[:, :-1].ravel(), blocks[:, 1:].ravel()
    assert block_correlation(a, b) <= SIGMAS / math.sqrt(a.size)
    assert scipy.stats.kstest(np.abs(blocks.ravel()) ** 2, "expon").pvalue > P_MIN


def test_fast_fading_adjacent_symbols_uncorrelated():
    h = c128(RayleighChannel(seed=10).work(frame(unit_symbols(4, 8192))).tags["h"])
    a, b = h[:, :-1].ravel(), h[:, 1:].ravel()
    assert block_correlation(a, b) <= SIGMAS / math.sqrt(a.size)


# ------------------------------------------------------------------------ imperfect CSI
@pytest.mark.parametrize("cls", [RayleighChannel, RicianChannel])
def test_imperfect_csi_error_statistics_and_common_random_numbers(cls):
    var_e, n_sym = 0.05, 1 << 15
    x = unit_symbols(2, n_sym // 2)
    noisy = cls(csi_error_var=var_e, seed=12, keep_noise=True).work(frame(x))
    clean = cls(seed=12, keep_noise=True).work(frame(x))
    # the link draws (h, n) are the same whatever the CSI error: it has its own stream
    np.testing.assert_array_equal(noisy.tags["eval_h_true"], clean.tags["h"])
    np.testing.assert_array_equal(noisy.data, clean.data)
    e = c128(noisy.tags["h"]) - c128(noisy.tags["eval_h_true"])
    assert abs(np.mean(np.abs(e) ** 2) / var_e - 1) <= SIGMAS / math.sqrt(n_sym)
    assert abs(np.corrcoef(e.real.ravel(), e.imag.ravel())[0, 1]) <= SIGMAS / math.sqrt(n_sym)
    assert noisy.tags["csi_error_var"] == var_e


# ------------------------------------------------------------------------- interference
@STATS
@given(snr_db=st.floats(0.0, 30.0), margin_db=st.floats(0.5, 20.0), model=st.sampled_from(["awgn", "rayleigh", "rician"]),
       seed=st.integers(0, 2**31))
def test_interference_measured_sinr_matches(snr_db, margin_db, model, seed):
    sinr_db = snr_db - margin_db
    n_sym = 1 << 15
    x = unit_symbols(4, n_sym // 4, seed % 13)
    out = InterferenceChannel(snr_db=snr_db, sinr_db=sinr_db, model=model, seed=seed, keep_noise=True,
                              k_factor=3.0).work(frame(x))
    t = out.tags
    imp = c128(out.data) - c128(t["h"]) * c128(x)  # sqrt(Pz) h_z z + n
    measured = np.mean(np.abs(x) ** 2) / np.mean(np.abs(imp) ** 2)
    # var|w + n|^2 <= 3 (Pz + s2)^2 for circular w = sqrt(Pz) h_z z, n (see the closed form)
    assert abs(measured / cm.db_to_linear(sinr_db) - 1) <= SIGMAS * math.sqrt(3.0 / n_sym) / (
        1 - SIGMAS * math.sqrt(3.0 / n_sym))
    assert t["sinr_db"] == pytest.approx(sinr_db)
    assert t["pz"] == pytest.approx(10 ** (-sinr_db / 10) - 10 ** (-snr_db / 10))
    # the impairment is exactly the interference plus the kept noise
    expected = math.sqrt(t["pz"]) * c128(t["eval_h_z"]) * c128(t["eval_z"]) + c128(t["eval_noise"])
    np.testing.assert_allclose(imp, expected, atol=1e-5)
    np.testing.assert_allclose(np.mean(np.abs(t["eval_z"]) ** 2, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("model", ["awgn", "rayleigh", "rician"])
@pytest.mark.parametrize("fading", ["fast", "block"])
def test_interference_with_zero_power_equals_plain_channel(model, fading):
    x = unit_symbols(3, 128)
    kw = dict(snr_db=6.0, seed=77, keep_noise=True)
    fkw = {} if model == "awgn" else dict(fading=fading, coherence=16, csi_error_var=0.02)
    plain = make_channel(model, k_factor=4.0, **kw, **fkw)
    by_pz = InterferenceChannel(pz=0.0, model=model, k_factor=4.0, **kw, **fkw)
    by_sinr = InterferenceChannel(sinr_db=6.0, model=model, k_factor=4.0, **kw, **fkw)
    for seq in range(3):
        ref = plain.work(frame(x, seq))
        for ch in (by_pz, by_sinr):
            out = ch.work(frame(x, seq))
            np.testing.assert_array_equal(out.data, ref.data)
            np.testing.assert_array_equal(out.tags["h"], ref.tags["h"])
            assert out.tags["pz"] == 0.0 and out.tags["sinr_db"] == pytest.approx(6.0)


def test_interference_from_port_latents_and_generator():
    rng = np.random.default_rng(5)
    x = unit_symbols(2, 32)
    z_in = (rng.standard_normal((2, 32)) * 3 + 1j * rng.standard_normal((2, 32))).astype(np.complex64)
    ch = InterferenceChannel(pz=0.5, model="awgn", interferer_model="rayleigh", seed=1, keep_noise=True)
    out = ch.work(frame(x, 0, mine="kept"), frame(z_in, 0, theirs="dropped"))
    t = out.tags
    assert t["interference"] == "port" and t["mine"] == "kept" and "theirs" not in t
    np.testing.assert_allclose(t["eval_z"], cm.normalize_complex_power(z_in), rtol=1e-6)
    np.testing.assert_allclose(c128(out.data), c128(x) + math.sqrt(0.5) * c128(t["eval_h_z"]) * c128(t["eval_z"])
                               + c128(t["eval_noise"]), atol=1e-5)
    # stored latent set: rows drawn from it, normalized
    latent_set = rng.standard_normal((10, 64)).astype(np.float32)
    ch2 = InterferenceChannel(pz=1.0, latents=latent_set, seed=2)
    z = ch2.work(frame(x)).tags["eval_z"]
    table = cm.normalize_power(latent_set)
    assert all(any(np.array_equal(row, t_row) for t_row in table) for row in z)
    assert ch2.work(frame(x)).tags["interference"] == "latents"
    # Gaussian generator
    t3 = InterferenceChannel(pz=1.0, seed=3).work(frame(x)).tags
    assert t3["interference"] == "gaussian" and t3["eval_z"].shape == x.shape
    with pytest.raises(ValueError, match="'z' has shape"):
        ch.work(frame(x), frame(z_in[:, :16]))
    with pytest.raises(ValueError, match="latent set has k = 32"):
        ch2.work(frame(unit_symbols(2, 16)))


def test_interference_power_params_and_ctrl():
    ch = InterferenceChannel(snr_db=10.0, sinr_db=5.0, seed=0, name="ic")
    x = unit_symbols(1, 16)
    assert ch.work(frame(x)).tags["sinr_db"] == pytest.approx(5.0)
    ch.handle_message("ctrl", {"pz": 0.25})
    assert ch.param("sinr_db") is None
    t = ch.work(frame(x)).tags
    assert t["pz"] == 0.25 and t["sinr_db"] == pytest.approx(10 * math.log10(1 / 0.35))
    ch.handle_message("ctrl", {"set_sinr_db": 2.0, "snr_db": 20.0})
    assert ch.param("pz") is None
    t = ch.work(frame(x)).tags
    assert t["sinr_db"] == pytest.approx(2.0) and t["snr_db"] == 20.0 and t["noise_var"] == pytest.approx(0.01)
    ch.handle_message("ctrl", {"sinr_db": 25.0})  # above the SNR: cannot be met
    t = ch.work(frame(x)).tags  # a live graph keeps running: no interference, SINR = SNR
    assert t["pz"] == 0.0 and t["sinr_db"] == pytest.approx(20.0)
    assert InterferenceChannel().param("pz") == 1.0
    with pytest.raises(ValueError, match="not both"):
        InterferenceChannel(sinr_db=1.0, pz=1.0)


def test_snr_settable_through_ctrl():
    ch = RayleighChannel(snr_db=10.0, seed=0)
    ch.handle_message("ctrl", {"snr_db": 0.0})
    assert ch.work(frame(unit_symbols(1, 8))).tags["noise_var"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ch.handle_message("ctrl", {"snr_db": float("nan")})
    with pytest.raises(ValueError):
        ch.set_param("fading", "slow")


# ------------------------------------------------------------------------------- errors
@pytest.mark.parametrize("cls", [AWGNChannel, RayleighChannel, RicianChannel, InterferenceChannel])
@pytest.mark.parametrize("bad, why", [
    (np.ones((2, 4), np.float32), "complex64"),
    (np.ones((2, 4), np.complex128), "complex64"),
    (np.ones((2, 2, 4), np.complex64), "shape"),
    (np.array([[1, np.nan]], np.complex64), "NaN"),
    (np.array([[1, complex(0, np.inf)]], np.complex64), "NaN"),
    (np.ones((0, 4), np.complex64), "empty"),
])
def test_bad_input_raises_naming_the_block(cls, bad, why):
    with pytest.raises(ValueError, match=why) as info:
        cls(name="under_test").work(frame(bad))
    assert f"{cls.__name__} 'under_test'" in str(info.value)


def test_tags_pass_through_and_shapes_preserved():
    x = unit_symbols(3, 10)
    for ch in (AWGNChannel(), RayleighChannel(), RicianChannel(), InterferenceChannel()):
        out = ch.work(frame(x, 4, t_ns=123, custom=[1]))
        assert out.data.dtype == np.complex64 and out.data.shape == x.shape
        assert out.tags["seq"] == 4 and out.tags["t_ns"] == 123 and out.tags["custom"] == [1]
        assert out.tags["h"].dtype == np.complex64 and out.tags["h"].shape == x.shape
        assert "eval_noise" not in out.tags


# ---------------------------------------------------------------------- numpy vs torch
def test_pure_functions_same_math_numpy_and_torch():
    rng = np.random.default_rng(3)
    x = unit_symbols(2, 50)
    h = (rng.standard_normal((2, 50)) + 1j * rng.standard_normal((2, 50))).astype(np.complex64)
    n = (0.1 * (rng.standard_normal((2, 50)) + 1j * rng.standard_normal((2, 50)))).astype(np.complex64)
    w = (0.3 * (rng.standard_normal((2, 50)) + 1j * rng.standard_normal((2, 50)))).astype(np.complex64)
    t = torch.from_numpy
    y_np = cm.channel_output(x, h, n, 1.7, cm.interference_term(h, w, 0.4))
    y_t = cm.channel_output(t(x), t(h), t(n), 1.7, cm.interference_term(t(h), t(w), 0.4))
    assert isinstance(y_t, torch.Tensor) and y_t.dtype == torch.complex64
    np.testing.assert_allclose(y_t.numpy(), y_np, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cm.expand_coherence(t(h[:, :7]), 50, 8).numpy(), cm.expand_coherence(h[:, :7], 50, 8))
    np.testing.assert_allclose(cm.average_power(t(x)).numpy(), cm.average_power(x), rtol=1e-6)


@pytest.mark.parametrize("cls", [AWGNChannel, RayleighChannel, RicianChannel, InterferenceChannel])
def test_torch_input_stays_torch(cls):
    x = torch.from_numpy(unit_symbols(4, 4096))
    out = cls(snr_db=3.0, seed=1, keep_noise=True).work(frame(x))
    assert isinstance(out.data, torch.Tensor) and out.data.dtype == torch.complex64 and out.data.device == x.device
    for key in ("h", "eval_h_true", "eval_noise") + (("eval_h_z", "eval_z") if cls is InterferenceChannel else ()):
        assert isinstance(out.tags[key], torch.Tensor), key
    s2 = out.tags["noise_var"]
    measured = out.tags["eval_noise"].abs().square().mean().item()
    assert abs(measured / s2 - 1) <= SIGMAS / math.sqrt(x.numel())
    again = cls(snr_db=3.0, seed=1, keep_noise=True).work(frame(x))
    assert torch.equal(again.data, out.data)  # torch.Generator seeded too


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("cls", [AWGNChannel, RayleighChannel, RicianChannel, InterferenceChannel])
def test_cuda_input_stays_on_device(cls):
    x = torch.from_numpy(unit_symbols(2, 1024)).cuda()
    out = cls(seed=1, keep_noise=True, fading="block", coherence=64).work(frame(x)) if cls is not AWGNChannel \
        else cls(seed=1, keep_noise=True).work(frame(x))
    assert out.data.device.type == "cuda"
    assert all(v.device.type == "cuda" for v in out.tags.values() if isinstance(v, torch.Tensor))
    measured = out.tags["eval_noise"].abs().square().mean().item()
    assert abs(measured / out.tags["noise_var"] - 1) <= SIGMAS / math.sqrt(x.numel())
