"""TR 38.901 TDL/CDL taps from Sionna (semradio.dsp.tdl): the profile against the standard's table,
unit mean power and the discretised power delay profile over many draws, equality with Sionna's
``cir_to_time_channel`` and with Sionna's own time evolution, continuity of the series across
calls, the Doppler spectrum (Jakes autocorrelation), seeding.

Statistical bounds: the sample mean of N i.i.d. draws lies within 5 sample standard deviations
of the mean over sqrt(N) (fixed seeds: deterministic).
"""

from __future__ import annotations

import doctest
import math
import subprocess
import sys

import numpy as np
import pytest
import scipy.special

from semradio.dsp import tdl
from semradio.dsp.tdl import TR38901Taps

SIGMAS = 5.0
FS = 20e6
DS = 100e-9

#: 3GPP TR 38.901 Table 7.7.2-1, TDL-A: normalised delays and powers (dB).
TDL_A_DELAYS = [0.0000, 0.3819, 0.4025, 0.5868, 0.4610, 0.5375, 0.6708, 0.5750, 0.7618, 1.5375, 1.8978,
                2.2242, 2.1718, 2.4942, 2.5119, 3.0582, 4.0810, 4.4579, 4.5695, 4.7966, 5.0066, 5.3043,
                9.6586]
TDL_A_POWERS_DB = [-13.4, 0.0, -2.2, -4.0, -6.0, -8.2, -9.9, -10.5, -7.5, -15.9, -6.6, -16.7, -12.4, -15.2,
                   -10.8, -11.3, -12.7, -16.2, -18.3, -18.9, -16.6, -19.9, -29.7]


def within_mean(samples: np.ndarray, expected: np.ndarray) -> None:
    """Column means of ``samples`` (N, ...) within SIGMAS standard errors of ``expected``."""
    n = samples.shape[0]
    mean, sd = samples.mean(axis=0), samples.std(axis=0, ddof=1)
    bound = SIGMAS * sd / math.sqrt(n) + 1e-12
    assert np.all(np.abs(mean - expected) <= bound), (mean, expected, bound)


@pytest.fixture(scope="module")
def tdl_a() -> TR38901Taps:
    return TR38901Taps("tdl-a", FS, DS, 3.5e9, speed=30.0, update_period=64, seed=3)


def test_module_imports_without_torch():
    code = ("import sys, semradio.dsp.tdl, semradio.dsp.impairments, semradio.blocks.channels.sample_channel; "
            "assert 'torch' not in sys.modules and 'sionna' not in sys.modules")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_profile_names():
    assert tdl.normalize_profile("TDL-A") == tdl.normalize_profile("tdla") == tdl.normalize_profile("tdl_a") == "tdl-a"
    assert tdl.normalize_profile("CDL-e") == "cdl-e"
    assert tdl.normalize_profile("tdl-a30") == "tdl-a30"
    with pytest.raises(ValueError, match="unknown channel profile"):
        tdl.normalize_profile("tdl-f")


def test_tdl_a_profile_matches_tr38901_table(tdl_a):
    """Path delays are the table's normalised delays times the delay spread, powers the table's
    (normalised to sum 1); the tap PDP is their sinc discretisation at the sample rate."""
    delays = np.array(TDL_A_DELAYS) * DS
    powers = 10 ** (np.array(TDL_A_POWERS_DB) / 10)
    powers /= powers.sum()
    np.testing.assert_allclose(tdl_a.path_delays, delays, rtol=1e-12, atol=1e-18)
    np.testing.assert_allclose(tdl_a.path_powers, powers, rtol=1e-12)
    lags = np.arange(-6, math.ceil(delays.max() * FS) + 7)
    np.testing.assert_array_equal(tdl_a.lags, lags)
    assert tdl_a.lag0 == 6 and tdl_a.num_taps == lags.size
    pdp = powers @ np.sinc(lags[None, :] - delays[:, None] * FS) ** 2
    np.testing.assert_allclose(tdl_a.tap_powers, pdp / pdp.sum(), rtol=1e-10, atol=1e-15)
    assert tdl_a.max_doppler == pytest.approx(30.0 * 3.5e9 / 299792458.0)
    assert tdl_a.continuity == "exact"


@pytest.mark.parametrize("profile", ["tdl-a", "tdl-b", "tdl-c", "tdl-d", "tdl-e", "tdl-a30"])
def test_tdl_unit_mean_power_and_pdp_over_draws(profile):
    ch = TR38901Taps(profile, FS, DS, speed=3.0, seed=11)
    h = ch.draw(4000)
    assert h.shape == (4000, ch.num_taps) and h.dtype == np.complex128
    p = np.abs(h) ** 2
    within_mean(p.sum(axis=1), np.array(1.0))
    within_mean(p, ch.tap_powers)
    assert ch.tap_powers.sum() == pytest.approx(1.0)
    assert np.argmax(ch.tap_powers) >= ch.lag0            # nothing arrives before lag 0


def test_nearest_interpolation_puts_each_path_on_one_lag():
    ch = TR38901Taps("tdl-a", FS, DS, interpolation="nearest", seed=1)
    on = np.unique(np.rint(ch.path_delays * FS)).astype(int)
    assert ch.lag0 == 0 and ch.l_max == on.max()
    assert set(np.flatnonzero(ch.tap_powers)) == set(on)
    h = ch.draw(2000)
    np.testing.assert_array_equal(h[:, np.setdiff1d(np.arange(ch.num_taps), on)], 0)
    within_mean(np.abs(h) ** 2, ch.tap_powers)


def test_taps_equal_sionna_cir_to_time_channel(tdl_a):
    S = tdl._sionna()
    torch = S["torch"]
    tdl_a._model._semradio_rng = torch.Generator().manual_seed(7)
    a, tau = tdl_a._model(batch_size=3, num_time_steps=2, sampling_frequency=1e4)
    hm = S["cir_to_time_channel"](FS, a, tau, tdl_a.l_min, tdl_a.l_max)[:, 0, 0, 0, 0].numpy()   # (3, 2, L)
    mine = tdl_a.taps_from_paths(a[:, 0, 0, 0, 0].permute(0, 2, 1).numpy())
    sinc2 = np.sinc(tdl_a.lags[None] - tdl_a.path_delays[:, None] * FS) ** 2
    gain = 1.0 / math.sqrt(tdl_a.path_powers @ sinc2.sum(axis=1))
    np.testing.assert_allclose(mine, gain * hm, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("profile", ["tdl-a", "tdl-d"])
def test_replayed_series_equals_sionnas_own_time_evolution(profile):
    """The continuing series is Sionna's realisation: same seed -> same path gains at every
    time Sionna evaluates (NLoS TDL-A and LoS TDL-D)."""
    ch = TR38901Taps(profile, FS, DS, speed=50.0, update_period=64, seed=5)
    assert ch.continuity == "exact"
    rate = FS / 64
    a, _ = ch._sionna_paths(1234, 1, 200, rate)
    mine = ch._evaluate(*ch._tdl_draws(1234), 0.0, 1.0 / rate, 200)
    np.testing.assert_allclose(mine, a[0], rtol=0, atol=1e-9)


def test_series_continues_across_calls_and_seeds_reproduce(tdl_a):
    one = TR38901Taps("tdl-a", FS, DS, speed=30.0, update_period=64, seed=3)
    whole = one.series(300)
    two = TR38901Taps("tdl-a", FS, DS, speed=30.0, update_period=64, seed=3)
    parts = np.concatenate([two.series(k) for k in (1, 0, 117, 64, 118)])
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-9)
    assert two.row == 300
    other = TR38901Taps("tdl-a", FS, DS, speed=30.0, update_period=64, seed=4).series(300)
    assert np.abs(other - whole).max() > 0.1
    two.reset(3)
    np.testing.assert_allclose(two.series(300), whole, rtol=0, atol=1e-9)
    # the rows change slowly: 300 rows of 64 samples at 20 MHz are 1 ms, f_D = 350 Hz
    steps = np.abs(np.diff(whole, axis=0)).max()
    assert 0 < steps < 0.05


def test_static_without_doppler():
    ch = TR38901Taps("tdl-c", FS, DS, speed=0.0, seed=2)
    assert ch.continuity == "static" and ch.max_doppler == 0.0
    s = np.concatenate([ch.series(10), ch.series(5)])
    np.testing.assert_array_equal(s, np.repeat(s[:1], 15, axis=0))


def test_doppler_autocorrelation_is_jakes():
    """TDL-A (NLoS): each tap's autocorrelation over time is J0(2 pi f_D tau) (Clarke/Jakes,
    which Sionna's sum of sinusoids approximates), averaged over taps and realisations."""
    fs, period, f_d = 1e6, 100, 100.0                  # rows at 10 kHz, 100 rows per Doppler cycle
    speed = f_d * 299792458.0 / 3.5e9
    lags = np.array([0, 10, 20, 38, 50, 70])
    acc = np.zeros(lags.size, dtype=complex)
    for seed in range(6):
        ch = TR38901Taps("tdl-a", fs, 1e-6, speed=speed, update_period=period, seed=seed)
        h = ch.series(2000)
        for i, k in enumerate(lags):
            acc[i] += np.mean(np.sum(h[:h.shape[0] - k] * np.conj(h[k:]), axis=1))
    rho = (acc / acc[0]).real
    np.testing.assert_allclose(rho, scipy.special.j0(2 * np.pi * f_d * lags / (fs / period)), atol=0.12)


@pytest.mark.parametrize("profile", ["cdl-a", "cdl-d"])
def test_cdl_unit_mean_power_and_pdp(profile):
    ch = TR38901Taps(profile, FS, DS, speed=3.0, seed=1)
    assert ch.continuity == "segments"
    h = ch.draw(1500)
    p = np.abs(h) ** 2
    within_mean(p.sum(axis=1), np.array(1.0))
    within_mean(p, ch.tap_powers)


def _cdl(seed: int, **kw) -> TR38901Taps:
    # f_D = 50 Hz, grid of 20 points per Doppler period: grid step 1 ms = 10 rows of 100 us
    speed = 50.0 * 299792458.0 / 3.5e9
    return TR38901Taps("cdl-c", 1e6, DS, speed=speed, update_period=100, seed=seed, **kw)


def test_cdl_segments_follow_sionnas_realisation():
    """Outside the cross-fades a row is Sionna's realisation at the row's time (grid point i is
    the time (i - 1) step of the realisation), interpolated from the grid within -50 dB."""
    ch = _cdl(9)
    assert ch.continuity == "segments"
    step, S, W = ch._grid()
    assert step == pytest.approx(1e-3) and (S, W) == (800, 200)
    rows = ch.series(S * 10)                                   # the whole first realisation
    series_ss, _ = np.random.SeedSequence(9).spawn(2)
    seed0 = int(np.random.default_rng(series_ss).integers(0, 2**63 - 1))
    a, _ = ch._sionna_paths(seed0, 1, S * 10 + 10, 1e4)        # Sionna at the row rate
    ref = ch.taps_from_paths(a[0, 10:])
    err = np.sum(np.abs(rows - ref) ** 2) / np.sum(np.abs(ref) ** 2)
    assert 10 * np.log10(err) < -50


def test_cdl_segments_cross_fade_is_continuous_and_keeps_the_power():
    ch = _cdl(4, segment_cycles=2.0, overlap_cycles=1.0)       # 40-point realisations, 20-point fades
    step, S, W = ch._grid()
    rows = np.concatenate([ch.series(k) for k in (1000, 1, 1999)])     # 3000 rows = 7.5 realisations
    twin = _cdl(4, segment_cycles=2.0, overlap_cycles=1.0)
    np.testing.assert_allclose(twin.series(3000), rows, rtol=0, atol=1e-12)     # any split
    # inside a fade: cos/sin mix of the end of the previous realisation and the start of the next
    fresh = _cdl(4, segment_cycles=2.0, overlap_cycles=1.0)
    g0, g1 = fresh._segment(0), fresh._segment(1)
    r = S * 10 + 50                                            # 5 grid steps into the first fade
    u = 5.0
    th = 0.5 * np.pi * u / W
    mix = np.cos(th) * TR38901Taps._lagrange4(g0, np.array([u + S + 1.0])) + \
        np.sin(th) * TR38901Taps._lagrange4(g1, np.array([u + 1.0]))
    np.testing.assert_allclose(rows[r], fresh.taps_from_paths(mix)[0], rtol=0, atol=1e-12)
    # no jumps: the largest step between rows is of the order of the Doppler steps
    steps = np.linalg.norm(np.diff(rows, axis=0), axis=1)
    in_fade = ((np.arange(1, rows.shape[0]) / 10.0) % S) < W
    assert steps[in_fade].max() < 3 * steps[~in_fade].max()
    # E|h|^2 = 1 along the whole series (cos^2 + sin^2 = 1), within the fading's fluctuation
    assert 0.5 < np.mean(np.sum(np.abs(rows) ** 2, axis=1)) < 1.5


def test_errors():
    with pytest.raises(ValueError):
        TR38901Taps("tdl-a", 0.0)
    with pytest.raises(ValueError):
        TR38901Taps("tdl-a", FS, speed=-1.0)
    with pytest.raises(ValueError):
        TR38901Taps("tdl-a", FS, interpolation="cubic")
    with pytest.raises(ValueError):
        TR38901Taps("tdl-a", FS, seed=-1)


def test_fixed_delay_profile():
    ch = TR38901Taps("tdl-a30", FS, delay_spread=1e-6, seed=0)
    assert ch.delay_spread == pytest.approx(30e-9)


def test_docstring_example():
    result = doctest.testmod(tdl, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
