"""SampleChannel: the stream is continuous (the same seed and stream cut into different frame
sizes give the same output), each impairment through the block against its closed form, gaps,
the noiseless copy, tags, parameters and errors.

Statistical bounds: chi-square at a two-sided 1e-6 level (fixed seeds, derandomized hypothesis:
deterministic).
"""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.blocks import SampleChannel
from semradio.blocks.channels import sample_channel as sc
from semradio.runtime import Frame

P_TAIL = 1e-6
FULL = dict(snr_db=15.0, cfo=3e-4, sro_ppm=50.0, delay=2.3, profile="tdl-a", sample_rate=10e6, speed=30.0,
            update_period=32, phase_noise_linewidth=500.0, seed=7)


def stream(n: int, seed: int = 0) -> np.ndarray:
    """Unit-power complex64 samples (n,)."""
    r = np.random.default_rng(seed)
    return ((r.standard_normal(n) + 1j * r.standard_normal(n)) / math.sqrt(2)).astype(np.complex64)


def run(ch: SampleChannel, pieces: list[np.ndarray], **tags) -> list[Frame]:
    outs = []
    for i, p in enumerate(pieces):
        data = p if p.ndim == 2 else p.reshape(1, -1)
        out = ch.work(Frame(data, {"seq": i, **tags}))
        if out is not None:
            outs.append(out)
    return outs


def joined(outs: list[Frame], key: str | None = None) -> np.ndarray:
    return np.concatenate([(o.data if key is None else o.tags[key]).reshape(-1) for o in outs])


def chi2_ok(sum_sq_over_var: float, dof: int) -> bool:
    lo, hi = scipy.stats.chi2.ppf([P_TAIL / 2, 1 - P_TAIL / 2], dof)
    return lo < sum_sq_over_var < hi


def split(x: np.ndarray, fractions: list[float]) -> list[np.ndarray]:
    cuts = sorted({int(f * x.size) for f in fractions} - {0, x.size})
    return np.split(x, cuts)


# ------------------------------------------------------------------------ stream continuity
@settings(max_examples=8, deadline=None, derandomize=True)
@given(fractions=st.lists(st.floats(0, 1), min_size=1, max_size=7), batched=st.booleans())
def test_same_seed_any_frame_sizes_same_output(fractions, batched):
    """TDL-A with Doppler, SRO, delay, CFO, phase noise and noise: cutting the stream
    differently (and packing pieces as (B, n) frames) does not change the output stream."""
    x = stream(6000)
    ref = joined(run(SampleChannel(**FULL), [x]))
    pieces = split(x, fractions)
    if batched:
        pieces = [p.reshape(2, -1) if p.size % 2 == 0 else p for p in pieces]
    out = joined(run(SampleChannel(**FULL), pieces))
    assert out.size == ref.size
    np.testing.assert_allclose(out, ref, rtol=0, atol=2e-5)


def test_cdl_and_explicit_taps_are_split_invariant_too():
    x = stream(3000, 1)
    for kw in (dict(profile="cdl-b", sample_rate=1e6, speed=100.0, snr_db=20.0, seed=3),
               dict(taps=[1.0, 0.4 - 0.2j, 0.1j], cfo=-0.01, epsilon=0.9995, seed=2)):
        ref = joined(run(SampleChannel(**kw), [x]))
        out = joined(run(SampleChannel(**kw), split(x, [0.1, 0.11, 0.5, 0.77])))
        np.testing.assert_allclose(out, ref, rtol=0, atol=2e-5)


def test_start_restarts_the_stream():
    ch = SampleChannel(**FULL)
    x = stream(2000, 2)
    first = joined(run(ch, [x]))
    ch.start()
    np.testing.assert_array_equal(joined(run(ch, [x])), first)
    second = joined(run(ch, [x]))
    assert np.abs(second[:100] - first[:100]).max() > 0.01          # the stream went on


# ------------------------------------------------------------------------ each impairment
def test_identity_by_default():
    x = stream(500)
    out = SampleChannel().work(Frame(x.reshape(1, -1), {"seq": 0}))
    np.testing.assert_array_equal(out.data[0], x)
    assert out.data.dtype == np.complex64 and not np.shares_memory(out.data, x)


def test_cfo_is_phase_continuous_across_frames():
    f = 1.7e-3
    x = stream(3000, 3)
    out = joined(run(SampleChannel(cfo=f), split(x, [0.2, 0.21, 0.6])))
    np.testing.assert_allclose(out, x * np.exp(2j * np.pi * f * np.arange(x.size)), atol=2e-6)


def test_cfo_change_at_run_time_keeps_the_phase():
    x = np.ones(200, dtype=np.complex64)
    ch = SampleChannel(cfo=0.01)
    a = run(ch, [x[:100]])[0].data[0]
    ch.handle_message("ctrl", {"cfo": -0.02})
    b = run(ch, [x[100:]])[0].data[0]
    phi = 2 * np.pi * 0.01 * 100
    np.testing.assert_allclose(b, np.exp(1j * (phi - 2 * np.pi * 0.02 * np.arange(100))), atol=2e-6)
    assert abs(np.angle(b[0] / a[-1]) - 2 * np.pi * 0.01) < 1e-5


def test_explicit_taps_equal_the_convolution_of_the_stream():
    h = np.array([0.8, 0.5j, -0.2, 0.05 + 0.05j])
    x = stream(1000, 4)
    outs = run(SampleChannel(taps=h), split(x, [0.3, 0.31, 0.9]))
    np.testing.assert_allclose(joined(outs), np.convolve(x, h)[:x.size], atol=2e-6)
    np.testing.assert_allclose(outs[0].tags["eval_taps"], h.astype(np.complex64))
    assert outs[0].tags["eval_lag0"] == 0


def test_awgn_variance_is_signal_power_over_snr():
    x = stream(40000, 5)
    out = SampleChannel(snr_db=7.0, signal_power=2.0, seed=1, keep_noiseless=True).work(Frame(x[None], {}))
    s2 = 2.0 / 10 ** 0.7
    assert out.tags["eval_noise_var"] == pytest.approx(s2)
    noise = out.data[0].astype(np.complex128) - x
    assert chi2_ok(np.sum(np.abs(noise) ** 2) / (s2 / 2), 2 * x.size)


def test_resampler_tone_through_the_block():
    f, ppm = 0.1, 1000.0
    x = np.exp(2j * np.pi * f * np.arange(8000)).astype(np.complex64)
    outs = run(SampleChannel(sro_ppm=ppm, delay=1.5), split(x, [0.25, 0.5, 0.75]))
    y = joined(outs)
    eps = 1 + ppm * 1e-6
    assert abs(y.size - (x.size - 4 + 1.5) / eps) <= 1
    k = np.arange(10, y.size)
    np.testing.assert_allclose(y[10:], np.exp(2j * np.pi * f * (eps * k - 1.5)), atol=2e-2)
    assert all(o.tags["eval_epsilon"] == pytest.approx(eps) and o.tags["eval_delay"] == 1.5 for o in outs)


def test_phase_noise_through_the_block():
    fs, lw = 1e6, 2e3
    x = np.ones(30000, dtype=np.complex64)
    y = joined(run(SampleChannel(phase_noise_linewidth=lw, sample_rate=fs, seed=3), split(x, [0.5])))
    inc = np.diff(np.unwrap(np.angle(y.astype(np.complex128))))
    assert chi2_ok(np.sum(inc ** 2) / (2 * np.pi * lw / fs), inc.size)


def test_profile_static_and_block_fading():
    x = stream(400, 6)
    static = run(SampleChannel(profile="tdl-c", sample_rate=20e6, seed=1), [x[:200], x[200:]])
    np.testing.assert_allclose(static[0].tags["eval_taps"], static[1].tags["eval_taps"])
    assert static[0].tags["eval_lag0"] == 6
    block = run(SampleChannel(profile="tdl-c", sample_rate=20e6, fading="block", seed=1), [x[:200], x[200:]])
    assert np.abs(block[0].tags["eval_taps"] - block[1].tags["eval_taps"]).max() > 1e-3


def test_profile_taps_follow_the_update_period():
    """eval_taps is the row in force at the frame's first sample; with Doppler the row changes."""
    ch = SampleChannel(profile="tdl-a", sample_rate=1e6, speed=300.0, update_period=50, seed=2)
    outs = run(ch, [stream(75), stream(25), stream(100)])      # starts at samples 0, 75, 100
    taps = [o.tags["eval_taps"] for o in outs]
    ref = sc.TR38901Taps("tdl-a", 1e6, 100e-9, 3.5e9, 300.0, 50, sc.A.derive_seed(2, sc.FADING_STREAM)).series(3)
    np.testing.assert_allclose(taps[0], ref[0], atol=1e-6)
    np.testing.assert_allclose(taps[1], ref[1], atol=1e-6)
    np.testing.assert_allclose(taps[2], ref[2], atol=1e-6)


def test_fading_parameters_change_at_run_time():
    """Changing the fading mode, the speed or the seed mid-stream rebuilds the fading process
    from the next frame on; the stream goes on."""
    ch = SampleChannel(profile="tdl-b", sample_rate=1e6, speed=50.0, update_period=16, seed=1)
    x = stream(100)
    outs = run(ch, [x])
    for change in ({"fading": "block"}, {"fading": "continuous"}, {"speed": 0.0}, {"speed": 80.0},
                   {"seed": 5}, {"update_period": 7}, {"profile": "cdl-a"}, {"taps": [1.0, 0.5]}):
        ch.handle_message("ctrl", change)
        outs += run(ch, [x, x])
    assert all(o.data.shape == (1, 100) for o in outs)
    assert outs[-1].tags["eval_taps"].tolist() == [1.0, 0.5]


# ------------------------------------------------------------------------ gaps, noiseless copy, tags
def test_gaps_within_range_and_zero_before_the_burst():
    ch = SampleChannel(gap_min=5, gap_max=40, seed=3)
    gaps = []
    for i in range(60):
        x = stream(50, i)
        out = ch.work(Frame(x[None], {"seq": i, "packet_len": 50}))
        g = out.tags["eval_gap"]
        gaps.append(g)
        assert 5 <= g <= 40 and out.data.shape == (1, g + 50) and out.tags["packet_len"] == g + 50
        np.testing.assert_array_equal(out.data[0, :g], 0)
        np.testing.assert_array_equal(out.data[0, g:], x)
        assert out.tags["eval_burst_start"] == g
    assert len(set(gaps)) > 10
    assert SampleChannel(gap_min=7, gap_max=7).work(Frame(stream(3)[None], {})).tags["eval_gap"] == 7


def test_burst_start_with_delay_and_sro():
    """The burst's first input sample is read at output index (gap + d) / epsilon."""
    eps = 1 + 500e-6
    ch = SampleChannel(epsilon=eps, delay=2.5, gap_min=10, gap_max=10)
    imp_ = np.zeros(64, dtype=np.complex64)
    imp_[0] = 1.0
    outs = run(ch, [imp_, imp_])
    assert outs[0].tags["eval_burst_start"] == pytest.approx(12.5 / eps)
    # second frame: its burst starts at input 74 + 10, its first output is the 61st overall
    first_out = outs[0].data.shape[1]
    assert outs[1].tags["eval_burst_start"] == pytest.approx((74 + 10 + 2.5) / eps - first_out)
    peak = np.argmax(np.abs(outs[0].data[0]))
    assert abs(peak - 12.5 / eps) <= 0.5


def test_keep_noiseless_is_the_output_minus_the_noise():
    x = stream(20000, 8)
    outs = run(SampleChannel(**FULL, keep_noiseless=True), split(x, [0.4]))
    noise = joined(outs).astype(np.complex128) - joined(outs, "eval_noiseless")
    s2 = outs[0].tags["eval_noise_var"]
    assert s2 == pytest.approx(10 ** -1.5)
    assert chi2_ok(np.sum(np.abs(noise) ** 2) / (s2 / 2), 2 * noise.size)
    # without noise, the same stream as the noiseless copy
    kw = {**FULL, "snr_db": math.inf}
    outs = run(SampleChannel(**kw, keep_noiseless=True), split(x, [0.4]))
    np.testing.assert_array_equal(joined(outs), joined(outs, "eval_noiseless"))
    # and that stream is the noisy one minus its noise (same seeds, streams independent)
    noisy = joined(run(SampleChannel(**FULL, keep_noiseless=True), split(x, [0.4])), "eval_noiseless")
    np.testing.assert_allclose(noisy, joined(outs), atol=1e-6)


def test_tags_written_and_passed_through():
    x = stream(300, 9)
    out = SampleChannel(**FULL, gap_max=20, keep_noiseless=True).work(
        Frame(x[None], {"seq": 4, "packet_len": 300, "burst_len": 290, "sample_rate": 10e6, "mine": "kept"}))
    t = out.tags
    for key in ("eval_cfo", "eval_epsilon", "eval_delay", "eval_noise_var", "eval_taps", "eval_lag0", "eval_gap",
                "eval_burst_start", "eval_phase", "eval_noiseless"):
        assert key in t and key in sc.SAMPLE_CHANNEL_TAG_KEYS, key
    assert t["channel"] == "sample" and t["snr_db"] == 15.0 and t["mine"] == "kept" and t["seq"] == 4
    assert t["packet_len"] == out.data.shape[1] and t["burst_len"] == 290
    assert t["eval_cfo"] == 3e-4 and t["eval_epsilon"] == pytest.approx(1 + 50e-6) and t["eval_delay"] == 2.3
    assert t["eval_taps"].dtype == np.complex64 and t["eval_taps"].ndim == 1
    assert t["eval_noiseless"].shape == out.data.shape
    assert -math.pi <= t["eval_phase"] <= math.pi
    no_len = SampleChannel().work(Frame(x[None], {"seq": 0}))
    assert "packet_len" not in no_len.tags and no_len.tags["eval_taps"].tolist() == [1]


# ------------------------------------------------------------------------ parameters and errors
def test_sro_ppm_and_epsilon_are_one_parameter():
    ch = SampleChannel(sro_ppm=20.0)
    assert ch.param("epsilon") == pytest.approx(1 + 20e-6)
    ch.set_param("epsilon", 0.999)
    assert ch.param("sro_ppm") == pytest.approx(-1000.0)
    ch.handle_message("ctrl", {"sro_ppm": 5.0})
    assert ch.param("epsilon") == pytest.approx(1 + 5e-6)
    with pytest.raises(ValueError, match="disagree"):
        SampleChannel(epsilon=1.1, sro_ppm=3.0)


def test_taps_and_profile_are_exclusive():
    with pytest.raises(ValueError, match="either taps or profile"):
        SampleChannel(taps=[1.0], profile="tdl-a")
    ch = SampleChannel(taps=[1.0, 0.5])
    ch.set_param("profile", "TDL-B")
    assert ch.param("profile") == "tdl-b" and ch.param("taps") is None
    ch.set_param("taps", [1.0])
    assert ch.param("profile") is None
    with pytest.raises(ValueError):
        ch.set_param("profile", "tdl-z")
    with pytest.raises(ValueError):
        ch.set_param("taps", [])


def test_sample_rate_from_the_tag_or_an_error():
    x = stream(100)[None]
    with pytest.raises(ValueError, match="sample rate"):
        SampleChannel(profile="tdl-a").work(Frame(x, {}))
    with pytest.raises(ValueError, match="sample rate"):
        SampleChannel(phase_noise_linewidth=10.0).work(Frame(x, {}))
    out = SampleChannel(profile="tdl-a", seed=0).work(Frame(x, {"sample_rate": 10e6}))
    assert out.tags["eval_taps"].shape == (sc.TR38901Taps("tdl-a", 10e6).num_taps,)


@pytest.mark.parametrize("data, match", [
    (np.ones((1, 10), dtype=np.complex128), "complex64"),
    (np.ones((1, 10), dtype=np.float32), "complex64"),
    (np.ones((1, 2, 5), dtype=np.complex64), "shape"),
    (np.full((1, 10), np.nan, dtype=np.complex64), "NaN"),
])
def test_bad_input(data, match):
    with pytest.raises(ValueError, match=match):
        SampleChannel(name="ch").work(Frame(data, {}))


def test_bad_params():
    with pytest.raises(ValueError):
        SampleChannel(delay=-1.0)
    with pytest.raises(ValueError):
        SampleChannel(epsilon=0.0)
    with pytest.raises(ValueError):
        SampleChannel(update_period=0)
    with pytest.raises(ValueError):
        SampleChannel(fading="sometimes")
    with pytest.raises(ValueError):
        SampleChannel(resampler_taps=7)
    with pytest.raises(ValueError, match="gap_min"):
        SampleChannel(gap_min=5, gap_max=2).work(Frame(stream(4)[None], {}))


def test_torch_input_gives_the_numpy_result():
    x = stream(500, 10)
    a = SampleChannel(snr_db=10.0, cfo=0.01, seed=4).work(Frame(x[None], {}))
    b = SampleChannel(snr_db=10.0, cfo=0.01, seed=4).work(Frame(torch.from_numpy(x[None].copy()), {}))
    assert isinstance(b.data, np.ndarray)
    np.testing.assert_array_equal(a.data, b.data)


def test_example_and_listing():
    from semradio.cli.blocks import describe_block

    info = describe_block(SampleChannel)
    assert "error" not in info and {p["name"] for p in info["params"]} >= {"snr_db", "cfo", "epsilon", "profile"}
    out = SampleChannel.example().work(Frame(stream(1000)[None], {"seq": 0}))
    assert out.data.shape[1] > 990


def test_docstring_example():
    result = doctest.testmod(sc, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


def test_profile_without_sionna_says_what_to_install(monkeypatch):
    import semradio.blocks.channels.sample_channel as sc

    monkeypatch.setattr(sc, "sionna_available", lambda: False)
    with pytest.raises(ValueError, match=r"semradio\[phy\]"):
        sc.SampleChannel(profile="tdl-a", sample_rate=10e6)
    sc.SampleChannel(taps=[1.0, 0.5j])   # explicit taps need no Sionna
