"""Sample-level impairments (semradio.dsp.impairments) against their closed forms.

Every property is checked on random inputs (derandomized hypothesis: the same examples on every
run, so nothing flakes) and on arbitrary cuts of the stream (the state carries over):

* CFO: ``y[n] = x[n] exp(j (2 pi f n + phi))``;
* FIR: ``np.convolve`` (static taps) and the per-sample sum with the row in force (time-varying);
* resampler: a tone at f comes out at ``f * epsilon`` (least-squares phase slope) and a
  band-limited signal delayed by a fractional d matches the analytic ``x(epsilon k - d)``;
* Wiener phase noise: the increments' sum of squares over ``N`` samples is ``var * chi2_N``;
* AWGN: ``sum |n|^2 / (s2/2)`` is ``chi2_2N``.

Chi-square bounds at a two-sided 1e-6 level.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.dsp import impairments as imp

PROPS = settings(max_examples=25, deadline=None, derandomize=True)
P_TAIL = 1e-6


def cgauss(n: int, seed: int, dtype=np.complex128) -> np.ndarray:
    r = np.random.default_rng(seed)
    return (r.standard_normal(n) + 1j * r.standard_normal(n)).astype(dtype)


def cut(n: int, fractions: list[float]) -> list[int]:
    """Sorted cut points in [0, n] from fractions (duplicates allowed: empty pieces)."""
    return sorted(int(f * n) for f in fractions)


def chi2_bounds(dof: int) -> tuple[float, float]:
    return scipy.stats.chi2.ppf(P_TAIL / 2, dof), scipy.stats.chi2.ppf(1 - P_TAIL / 2, dof)


def tone_error_db(y: np.ndarray, ref: np.ndarray) -> float:
    return 10 * math.log10(max(np.mean(np.abs(y - ref) ** 2) / np.mean(np.abs(ref) ** 2), 1e-30))


# ---------------------------------------------------------------------------------- CFO
@PROPS
@given(n=st.integers(1, 3000), f=st.floats(-0.5, 0.5), phi=st.floats(-10.0, 10.0), seed=st.integers(0, 999))
def test_cfo_equals_closed_form(n, f, phi, seed):
    x = cgauss(n, seed)
    y, nxt = imp.frequency_offset(x, f, phi)
    k = np.arange(n)
    np.testing.assert_allclose(y, x * np.exp(1j * (2 * np.pi * f * k + phi)), rtol=0, atol=1e-9 * np.abs(x).max())
    assert math.isclose(math.cos(nxt), math.cos(phi + 2 * np.pi * f * n), abs_tol=1e-9)
    assert math.isclose(math.sin(nxt), math.sin(phi + 2 * np.pi * f * n), abs_tol=1e-9)


@PROPS
@given(n=st.integers(1, 4000), f=st.floats(-0.5, 0.5), cuts=st.lists(st.floats(0, 1), max_size=6),
       complex64=st.booleans())
def test_cfo_phase_continuous_across_any_split(n, f, cuts, complex64):
    dtype = np.complex64 if complex64 else np.complex128
    x = cgauss(n, 1, dtype)
    whole, _ = imp.frequency_offset(x, f)
    pieces, phase = [], 0.0
    for part in np.split(x, cut(n, cuts)):
        y, phase = imp.frequency_offset(part, f, phase)
        assert y.dtype == dtype
        pieces.append(y)
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=0, atol=(2e-6 if complex64 else 1e-9) * 8)


def test_cfo_extra_phase_and_phasor_precision():
    x = np.ones(5, dtype=np.complex64)
    theta = np.array([0.0, 0.1, -0.2, 3.0, 1e6])
    y, nxt = imp.frequency_offset(x, 0.0, 0.5, extra_phase=theta)
    np.testing.assert_allclose(y, np.exp(1j * (0.5 + theta)), atol=1e-6)
    assert nxt == pytest.approx(0.5)
    # a large phase keeps complex64 accuracy (reduced mod 2 pi in float64 first)
    big = 2 * np.pi * 0.123 * 1e9
    assert abs(imp.phasor(np.array([big]))[0] - np.exp(1j * big)) < 1e-6
    with pytest.raises(ValueError):
        imp.frequency_offset(x, 0.1, extra_phase=np.zeros(4))


# ---------------------------------------------------------------------------------- FIR
@PROPS
@given(n=st.integers(1, 2000), L=st.integers(1, 24), cuts=st.lists(st.floats(0, 1), max_size=6),
       seed=st.integers(0, 999))
def test_fir_equals_convolve_and_any_split(n, L, cuts, seed):
    x, h = cgauss(n, seed), cgauss(L, seed + 1)
    ref = np.convolve(x, h)[:n]
    whole, _ = imp.fir_filter(x, h)
    np.testing.assert_allclose(whole, ref, rtol=0, atol=1e-10 * L)
    pieces, hist = [], None
    for part in np.split(x, cut(n, cuts)):
        y, hist = imp.fir_filter(part, h, hist)
        pieces.append(y)
    np.testing.assert_allclose(np.concatenate(pieces), ref, rtol=0, atol=1e-10 * L)
    # the tail: the history holds the last L-1 inputs, so zeros flush the convolution's tail
    tail, _ = imp.fir_filter(np.zeros(L - 1, dtype=x.dtype), h, hist)
    np.testing.assert_allclose(tail, np.convolve(x, h)[n:], rtol=0, atol=1e-10 * L)


def test_fir_complex64_stays_complex64_and_taps_may_change():
    x = cgauss(100, 3, np.complex64)
    y, hist = imp.fir_filter(x[:50], [1.0, 0.5])
    assert y.dtype == np.complex64 and hist.shape == (1,)
    y2, _ = imp.fir_filter(x[50:], [1.0, 0.0, 0.25j], hist)    # longer taps: missing history reads 0
    ref = x[50:] + 0.25j * np.concatenate([[0, x[49]], x[50:98]])
    np.testing.assert_allclose(y2, ref, atol=1e-6)


@PROPS
@given(n=st.integers(1, 1500), L=st.integers(1, 12), period=st.integers(1, 200),
       offset=st.integers(0, 500), cuts=st.lists(st.floats(0, 1), max_size=5), seed=st.integers(0, 999))
def test_time_varying_fir_uses_the_row_in_force_and_any_split(n, L, period, offset, cuts, seed):
    """Rows change every ``period`` samples of the absolute stream (the stream starts at
    ``offset``); y[i] = sum_l h_{r(i)}[l] x[i - l] with r(i) = (offset + i) // period."""
    x = cgauss(n, seed)
    rows_total = (offset + n - 1) // period + 1
    H = cgauss(rows_total * L, seed + 7).reshape(rows_total, L)
    xp = np.concatenate([np.zeros(L - 1), x])
    r_of = (offset + np.arange(n)) // period
    ref = np.array([np.dot(H[r_of[i]], xp[i:i + L][::-1]) for i in range(n)])
    pieces, hist, pos = [], None, offset
    for part in np.split(x, cut(n, cuts)):
        first, count, starts = imp.piecewise_rows(pos, part.size, period)
        if count == 0:
            continue
        y, hist = imp.fir_filter_tv(part, H[first:first + count], starts, hist)
        pieces.append(y)
        pos += part.size
    np.testing.assert_allclose(np.concatenate(pieces), ref, rtol=0, atol=1e-10 * L)


def test_time_varying_fir_with_one_row_is_the_static_fir():
    x, h = cgauss(300, 5), cgauss(7, 6)
    np.testing.assert_allclose(imp.fir_filter_tv(x, h[None], [0])[0], imp.fir_filter(x, h)[0], atol=1e-12)
    with pytest.raises(ValueError):
        imp.fir_filter_tv(x, h[None], [3])


def test_piecewise_rows():
    assert imp.piecewise_rows(10, 30, 16) == (0, 3, pytest.approx(np.array([0, 6, 22])))
    first, count, starts = imp.piecewise_rows(32, 16, 16)
    assert (first, count, list(starts)) == (2, 1, [0])
    assert imp.piecewise_rows(5, 0, 4)[1] == 0


# ---------------------------------------------------------------------------------- resampler
def test_interpolator_table_rows():
    T = imp.interpolator_table()
    assert T.shape == (imp.RESAMPLER_NSTEPS + 1, imp.RESAMPLER_NTAPS)
    np.testing.assert_array_equal(T[0], np.eye(8)[3])
    np.testing.assert_array_equal(T[-1], np.eye(8)[4])
    np.testing.assert_allclose(T.sum(axis=1), 1.0, atol=1e-12)      # unit gain at DC
    # half a sample: symmetric taps
    np.testing.assert_allclose(T[imp.RESAMPLER_NSTEPS // 2], T[imp.RESAMPLER_NSTEPS // 2][::-1], atol=1e-12)
    with pytest.raises(ValueError):
        imp.interpolator_table(7)


@PROPS
@given(f=st.floats(-0.35, 0.35), ppm=st.floats(-5000.0, 5000.0), delay=st.floats(0.0, 8.0))
def test_resampler_turns_tone_f_into_f_times_epsilon(f, ppm, delay):
    """GNU Radio's ratio: epsilon input samples per output sample, so a tone at f cycles/sample
    comes out at f * epsilon (and N inputs give about N / epsilon outputs); up to 0.2
    cycles/sample (a signal occupying 0.4 of the sample rate) it is the tone
    ``exp(j 2 pi f (epsilon k - d))`` within -40 dB (the worst tone and mu: -43 dB)."""
    eps = 1.0 + ppm * 1e-6
    n = 8192
    x = np.exp(2j * np.pi * f * np.arange(n))
    y, state = imp.resample(x, eps, delay)
    assert abs(y.size - (n - 4 + delay) / eps) <= 1.0
    k = np.arange(y.size)
    skip = int(delay) + 8                          # outputs that read before the stream start
    slope = np.polyfit(k[skip:], np.unwrap(np.angle(y[skip:])), 1)[0] / (2 * np.pi)
    assert slope == pytest.approx(f * eps, abs=1e-7)
    if abs(f) <= 0.2:
        assert tone_error_db(y[skip:], np.exp(2j * np.pi * f * (eps * k[skip:] - delay))) < -40.0


def test_resampler_direction_is_gnu_radios():
    """epsilon = 1.001: a tone at 0.25 comes out at 0.25025 (f * epsilon), not 0.24975 (f /
    epsilon): GNU Radio's mmse_resampler_cc steps epsilon input samples per output."""
    x = np.exp(2j * np.pi * 0.25 * np.arange(8192))
    y, _ = imp.resample(x, 1.001)
    spec = np.abs(np.fft.fft(y[16:8016] * np.hanning(8000), 1 << 20))
    f_peak = np.fft.fftfreq(1 << 20)[np.argmax(spec)]
    assert f_peak == pytest.approx(0.25 * 1.001, abs=2e-6)


def band_limited(n: int, bandwidth: float, seed: int, tones: int = 64):
    """A sum of random tones in |f| <= bandwidth/2 (cycles/sample) and its analytic form."""
    r = np.random.default_rng(seed)
    freqs = r.uniform(-bandwidth / 2, bandwidth / 2, tones)
    amps = (r.standard_normal(tones) + 1j * r.standard_normal(tones)) / math.sqrt(2 * tones)

    def at(t):
        return np.exp(2j * np.pi * np.outer(np.asarray(t, dtype=np.float64), freqs)) @ amps

    return at(np.arange(n)), at


@PROPS
@given(delay=st.floats(0.0, 20.0), bandwidth=st.floats(0.05, 0.4), seed=st.integers(0, 999))
def test_fractional_delay_matches_analytic_signal(delay, bandwidth, seed):
    """Signals occupying up to 0.4 of the sample rate (|f| <= 0.2) delayed by a fractional d:
    the 8-tap interpolator is within -40 dB of x(k - d) (it reaches about -50 dB)."""
    x, at = band_limited(2048, bandwidth, seed)
    y, _ = imp.resample(x, 1.0, delay)
    k = np.arange(y.size)
    skip = int(delay) + 8
    assert tone_error_db(y[skip:], at(k[skip:] - delay)) < -40.0


@pytest.mark.parametrize("ntaps, f_max, bound_db", [(8, 0.35, -40.0), (16, 0.42, -45.0)])
def test_wideband_delay_error(ntaps, f_max, bound_db):
    """Wider signals: |f| <= 0.35 with 8 taps, |f| <= 0.42 with 16 (an OFDM burst with 52 of 64
    carriers reaches 0.41)."""
    errs = []
    for seed in range(4):
        x, at = band_limited(2048, 2 * f_max, seed)
        for d in (0.13, 0.5, 0.77):
            y, _ = imp.resample(x, 1.0, d, ntaps=ntaps)
            k = np.arange(16, y.size)
            errs.append(tone_error_db(y[16:], at(k - d)))
    assert max(errs) < bound_db


@PROPS
@given(n=st.integers(1, 3000), ppm=st.floats(-5000.0, 5000.0), delay=st.floats(0.0, 10.0),
       cuts=st.lists(st.floats(0, 1), max_size=8))
def test_resampler_any_split_gives_the_same_stream(n, ppm, delay, cuts):
    x = cgauss(n, 11, np.complex64)
    eps = 1.0 + ppm * 1e-6
    whole, st_whole = imp.resample(x, eps, delay)
    pieces, state = [], None
    for part in np.split(x, cut(n, cuts)):
        y, state = imp.resample(part, eps, delay, state)
        pieces.append(y)
    joined = np.concatenate(pieces)
    assert state.k_next == st_whole.k_next
    np.testing.assert_array_equal(joined, whole)


def test_resampler_identity_and_integer_delay_are_exact():
    x = cgauss(500, 2, np.complex64)
    y, _ = imp.resample(x, 1.0, 0.0)
    np.testing.assert_array_equal(y, x[:y.size])
    assert y.size == x.size - 4                    # 4 samples wait for the next piece
    y, _ = imp.resample(x, 1.0, 3.0)
    np.testing.assert_array_equal(y[:3], 0)
    np.testing.assert_array_equal(y[3:], x[:y.size - 3])


def test_resampler_retune_moves_the_position_line():
    """Changing epsilon/delay between calls: the next output reads position t_next + (old delay -
    new delay), then advances by the new epsilon."""
    f = 0.05
    x = np.exp(2j * np.pi * f * np.arange(4000))
    y1, st1 = imp.resample(x[:2000], 1.001, 0.5)
    t_next = float(st1.position(st1.k_next))
    y2, st2 = imp.resample(x[2000:], 0.999, 2.0, st1)
    k = np.arange(y2.size)
    ref = np.exp(2j * np.pi * f * (t_next + 0.5 - 2.0 + 0.999 * k))
    assert tone_error_db(y2, ref) < -40.0
    with pytest.raises(ValueError):
        imp.resample(x, 0.0)
    with pytest.raises(ValueError):
        imp.resample(x, 1.0, -1.0)


# ---------------------------------------------------------------------------------- phase noise
@PROPS
@given(linewidth=st.floats(1.0, 1e5), fs=st.floats(1e5, 1e8), seed=st.integers(0, 2**31))
def test_phase_noise_increment_variance_chi_square(linewidth, fs, seed):
    n = 20000
    theta, last = imp.wiener_phase_noise(np.random.default_rng(seed), n, linewidth, fs, phase=0.3)
    var = 2 * np.pi * linewidth / fs
    assert imp.phase_noise_variance(linewidth, fs) == pytest.approx(var)
    inc = np.diff(np.concatenate([[0.3], theta]))
    lo, hi = chi2_bounds(n)
    assert lo < np.sum(inc ** 2) / var < hi
    assert last == theta[-1]


@PROPS
@given(n=st.integers(1, 3000), cuts=st.lists(st.floats(0, 1), max_size=6))
def test_phase_noise_is_continuous_across_any_split(n, cuts):
    whole, _ = imp.wiener_phase_noise(np.random.default_rng(5), n, 1e3, 1e6)
    gen, phase, pieces = np.random.default_rng(5), 0.0, []
    for k in np.diff([0, *cut(n, cuts), n]):
        th, phase = imp.wiener_phase_noise(gen, int(k), 1e3, 1e6, phase)
        pieces.append(th)
    np.testing.assert_array_equal(np.concatenate(pieces), whole)


def test_phase_noise_zero_linewidth_is_constant():
    th, last = imp.wiener_phase_noise(np.random.default_rng(0), 10, 0.0, 1e6, phase=1.5)
    np.testing.assert_array_equal(th, 1.5)
    with pytest.raises(ValueError):
        imp.wiener_phase_noise(np.random.default_rng(0), 10, 1.0, 0.0)


# ---------------------------------------------------------------------------------- AWGN
@PROPS
@given(var=st.floats(1e-4, 1e3), seed=st.integers(0, 2**31), complex64=st.booleans())
def test_awgn_variance_chi_square(var, seed, complex64):
    n = 20000
    dtype = np.complex64 if complex64 else np.complex128
    z = imp.awgn(np.random.default_rng(seed), n, var, dtype).astype(np.complex128)
    assert z.shape == (n,)
    lo, hi = chi2_bounds(2 * n)
    assert lo < np.sum(np.abs(z) ** 2) / (var / 2) < hi
    # the real and imaginary parts each carry half of it
    lo1, hi1 = chi2_bounds(n)
    assert lo1 < np.sum(z.real ** 2) / (var / 2) < hi1
    assert lo1 < np.sum(z.imag ** 2) / (var / 2) < hi1


def test_awgn_split_and_zero_variance():
    whole = imp.awgn(np.random.default_rng(1), 1000, 2.0)
    g = np.random.default_rng(1)
    np.testing.assert_array_equal(np.concatenate([imp.awgn(g, 333, 2.0), imp.awgn(g, 667, 2.0)]), whole)
    g = np.random.default_rng(1)
    np.testing.assert_array_equal(imp.awgn(g, 5, 0.0), 0)
    assert g.standard_normal() == np.random.default_rng(1).standard_normal()   # nothing drawn
