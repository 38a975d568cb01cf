"""OFDM modulation, synchronisation and estimation against closed forms (and Sionna PHY's LS
estimator)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from semradio.dsp.ofdm.estimation import estimate_channel, noise_var_from_lts, smooth, track_phase
from semradio.dsp.ofdm.modem import build_grid, demodulate, ifft_symbols, modulate_burst, preamble
from semradio.dsp.ofdm.numerology import Header, OFDMConfig
from semradio.dsp.ofdm.sync import derotate, detect, fine_timing, lts_cfo, schmidl_cox

CFG = OFDMConfig()


def _latents(n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)


@pytest.mark.parametrize("backoff", [0, 3, 8])
def test_noiseless_roundtrip_and_window_backoff(backoff):
    """Demodulating a burst at its symbol boundaries gives back the grid; starting the FFT window
    ``b`` samples early multiplies carrier k by ``exp(-j 2 pi k b / N)`` (the ramp the estimators
    remove)."""
    x = _latents(500)
    h = Header(seq=1, items=5, length=100)
    burst, grid = modulate_burst(CFG, x, h)
    s = CFG.header_symbols + CFG.data_symbols(500)
    y = demodulate(CFG, burst, CFG.header_offset, s, backoff)
    ramp = np.exp(-2j * np.pi * CFG.used * backoff / CFG.fft_size)
    np.testing.assert_allclose(y, grid * ramp[None, :], atol=1e-12)
    assert np.allclose(build_grid(CFG, x, h), grid)


def test_burst_power_is_one_per_sample():
    burst, _ = modulate_burst(CFG, _latents(38 * 400), Header(seq=0, items=1, length=38 * 400))
    body = burst[CFG.preamble_len:]
    assert np.mean(np.abs(body) ** 2) == pytest.approx(1.0, abs=0.02)
    # Parseval for one symbol: unit-power carriers -> unit power per sample
    vals = np.exp(2j * np.pi * np.random.default_rng(1).random((1, len(CFG.used))))
    t = ifft_symbols(CFG, vals)[0, CFG.cp_len:]
    assert np.mean(np.abs(t) ** 2) == pytest.approx(1.0, rel=1e-12)


@settings(max_examples=100, deadline=None)
@given(arrays(np.complex128, st.integers(0, 400),
              elements=st.complex_numbers(max_magnitude=1e6, allow_nan=False, allow_infinity=False)))
def test_metric_is_bounded_for_any_input(x):
    m, p = schmidl_cox(x, 32, 64)
    assert m.size == max(0, x.size - 32 - 64 + 1) or (m.size == 0 and x.size < 97)
    assert np.all(m >= 0) and np.all(m <= 1 + 1e-9)


def test_quiet_after_loud_is_not_a_detection():
    """Rounding errors of the running sums after a loud stretch do not turn faint noise into a
    periodic-looking signal."""
    rng = np.random.default_rng(3)
    quiet = 1e-7 * (rng.standard_normal(3000) + 1j * rng.standard_normal(3000))
    x = np.concatenate([np.full(50, 16.0 + 0j), quiet])
    m, _ = schmidl_cox(x, 32, 320)
    # windows holding the loud (constant, hence periodic) stretch may score; none after it
    assert detect(m[50:], 0.03, 8) is None and np.all(m[50:] < 0.05)


def test_an_outlier_does_not_blind_the_detector():
    """A single huge (finite) sample spoils only the windows near it: a burst 1,000 samples later
    is still found (one running sum over the whole input lost it)."""
    rng = np.random.default_rng(4)
    noise = 0.1 * (rng.standard_normal(1500) + 1j * rng.standard_normal(1500))
    noise[10] = 1e12
    x = np.concatenate([noise, preamble(CFG), 0.1 * (rng.standard_normal(500) + 1j * rng.standard_normal(500))])
    m, _ = schmidl_cox(x, CFG.fft_size // 2, CFG.detection_window)
    d = detect(m, 0.03, 8)
    assert d is not None and 1500 - 352 < d < 1500                      # the plateau's rising edge
    assert 1500 <= int(np.argmax(m)) <= 1500 + 32 and m.max() > 0.9     # its peak: the STS start


def test_metric_on_noise_is_exponential_with_mean_one_over_window():
    rng = np.random.default_rng(0)
    w = CFG.detection_window
    x = rng.standard_normal(400_000) + 1j * rng.standard_normal(400_000)
    m, _ = schmidl_cox(x, 32, w)
    assert m.mean() == pytest.approx(1 / w, rel=0.05)
    assert np.mean(m > 3 / w) == pytest.approx(np.exp(-3), rel=0.15)


@settings(max_examples=40, deadline=None)
@given(eps=st.floats(-0.95, 0.95), phase=st.floats(0, 2 * np.pi))
def test_cfo_estimates_are_exact_without_noise(eps, phase):
    pre = preamble(CFG)
    n = np.arange(pre.size)
    r = pre * np.exp(1j * (2 * np.pi * eps * n / CFG.fft_size + phase))
    m, p = schmidl_cox(r, CFG.fft_size // 2, CFG.detection_window)
    assert np.angle(p[16]) / np.pi == pytest.approx(eps, abs=1e-9)
    assert m[16] == pytest.approx(1.0, abs=1e-9)
    lts = CFG.lts_offset
    resid = derotate(r, eps - 0.2 * np.sign(eps), CFG.fft_size)
    got = lts_cfo(resid[lts: lts + 64], resid[lts + 64: lts + 128])
    assert got == pytest.approx(0.2 * np.sign(eps), abs=1e-9)


@pytest.mark.parametrize("delay", [0, 1, 17, 40])
def test_fine_timing_finds_the_first_path(delay):
    pre = preamble(CFG)
    taps = np.array([0.9, 0, 0, 1.0, 0, 0.5])        # the first path is weaker than the strongest
    r = np.convolve(np.concatenate([np.zeros(100 + delay), pre, np.zeros(200)]), taps)
    t, peak = fine_timing(CFG, r, 100 + CFG.lts_offset + 20, 48)
    assert t == 100 + delay + CFG.lts_offset and peak > 0.5


def test_ls_estimate_matches_sionna():
    """Pilot LS with linear interpolation equals Sionna PHY's ``LSChannelEstimator`` on the same
    grid, except next to the DC null: Sionna interpolates over the index of the effective carriers
    (k = -1 and +1 get weights 1/3, 2/3 between the pilots at -2 and 2), this estimator over
    frequency (1/4, 3/4)."""
    torch = pytest.importorskip("torch")
    ofdm = pytest.importorskip("sionna.phy.ofdm")
    s = 6
    est = ofdm.LSChannelEstimator(CFG.to_sionna_resource_grid(s), interpolation_type="lin")
    rng = np.random.default_rng(0)
    y_full = rng.standard_normal((s, 64)) + 1j * rng.standard_normal((s, 64))
    theirs = est(torch.tensor(y_full[None, None, None], dtype=torch.complex64), torch.tensor(0.1))[0]
    theirs = theirs.numpy()[0, 0, 0, 0, 0]
    ours, _ = estimate_channel(CFG, y_full[:, CFG.used + 32], CFG.pilot_values(s), "ls")
    near_dc = np.isin(CFG.used, (-1, 1))
    np.testing.assert_allclose(ours[:, ~near_dc], theirs[:, ~near_dc], atol=1e-5)
    assert not np.allclose(ours[:, near_dc], theirs[:, near_dc])


def test_lmmse_smoother_error_matches_its_closed_form():
    """For channels drawn from the smoother's own prior (taps i.i.d. CN(0, 1/L) on the first L
    samples) the posterior is Gaussian: the empirical error per carrier equals the predicted
    ``diag(R - R (R + v I)^-1 R)``, below the LS error v."""
    rng = np.random.default_rng(0)
    L, v, trials = CFG.cp_len, 0.05, 4000
    f = np.exp(-2j * np.pi * np.outer(CFG.used, np.arange(L)) / CFG.fft_size)
    taps = (rng.standard_normal((trials, L)) + 1j * rng.standard_normal((trials, L))) / np.sqrt(2 * L)
    h = taps @ f.T
    noise = np.sqrt(v / 2) * (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape))
    err = np.empty(h.shape)
    for i in range(trials):
        est, var = smooth(CFG, "lmmse", v, h[i] + noise[i])
        err[i] = np.abs(est - h[i]) ** 2
    np.testing.assert_allclose(err.mean(axis=0), var, rtol=0.12)
    assert err.mean() < 0.5 * v
    est, var = smooth(CFG, "ls", v, h[0] + noise[0])
    assert np.array_equal(est, h[0] + noise[0]) and np.all(var == v)


def test_noise_variance_from_the_two_lts_copies_is_unbiased():
    rng = np.random.default_rng(2)
    v = 0.3
    h = rng.standard_normal(52) + 1j * rng.standard_normal(52)
    est = [noise_var_from_lts(h + np.sqrt(v / 2) * (rng.standard_normal(52) + 1j * rng.standard_normal(52)),
                              h + np.sqrt(v / 2) * (rng.standard_normal(52) + 1j * rng.standard_normal(52)))
           for _ in range(3000)]
    assert np.mean(est) == pytest.approx(v, rel=0.02)


@settings(max_examples=30, deadline=None)
@given(a=st.floats(-3, 3), b=st.floats(-0.05, 0.05), seed=st.integers(0, 1000))
def test_phase_tracking_recovers_common_phase_and_slope(a, b, seed):
    rng = np.random.default_rng(seed)
    s = 5
    h = rng.standard_normal(52) + 1j * rng.standard_normal(52) + 2.0
    pil = CFG.pilot_values(s)
    x = np.exp(2j * np.pi * rng.random((s, 52)))
    x[:, CFG.pilot_pos] = pil
    rot = np.exp(1j * (a + b * CFG.used))
    y = h[None, :] * rot[None, :] * x
    got = track_phase(CFG, y, pil, h, window=1)
    np.testing.assert_allclose(got, np.broadcast_to(rot, (s, 52)), atol=1e-9)
