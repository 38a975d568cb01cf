"""flowgraphs/channel_scope.py end to end (in-process), the ChannelMeter, and channel blocks
inside a running flowgraph (errors name the block and seq)."""

from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest

from semradio.blocks import (ArraySource, ChannelMeter, CollectSink, InterferenceChannel, MMSEEqualizer, NullSink,
                             RayleighChannel, SymbolSource, ZFEqualizer)
from semradio.dsp import channel as cm
from semradio.flowgraphs import channel_scope
from semradio.runtime import Flowgraph, FlowgraphError, Frame


def run_scope(capsys, *args: str) -> dict:
    assert channel_scope.main([*args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def db_bound(n_symbols: int, kurtosis_minus_one: float = 1.0) -> float:
    """5-sigma bound in dB on a measured power ratio over n symbols."""
    rel = 5 * math.sqrt(kurtosis_minus_one / n_symbols)
    return max(10 * math.log10(1 + rel), -10 * math.log10(1 - rel))


@pytest.mark.parametrize("channel, extra", [
    ("awgn", []),
    ("rayleigh", ["--fading", "block", "--coherence", "64"]),
    ("rician", ["--equalizer", "zf", "--symbols", "gaussian"]),
    ("interference", ["--sinr-db", "3"]),
    ("interference", ["--interferer", "port", "--model", "rician", "--equalizer", "zf"]),
])
def test_scope_runs_headless_and_measures(capsys, channel, extra):
    out = run_scope(capsys, "--channel", channel, "--frames", "6", "--batch", "2", "--k", "512",
                    "--snr-db", "12", *extra)
    assert out["frames"] == 6 and out["symbols"] == 6 * 2 * 512
    m, c = out["measured"], out["configured"]
    assert set(m) >= {"snr_db", "sinr_db", "evm_percent", "evm_db"}
    n = out["symbols"]
    assert abs(m["snr_db"] - 12.0) <= db_bound(n)
    assert abs(m["sinr_db"] - c["sinr_db"]) <= db_bound(n, 3.0)
    assert m["evm_db"] == pytest.approx(20 * math.log10(m["evm_percent"] / 100))
    if channel == "awgn":  # identity equalizer: EVM^2 = 1/SNR exactly
        assert m["evm_db"] == pytest.approx(-m["snr_db"], abs=1e-6)
    assert all(b["state"] == "done" for b in out["blocks"].values())


def test_scope_text_output(capsys):
    assert channel_scope.main(["--channel", "awgn", "--frames", "2", "--k", "64"]) == 0
    text = capsys.readouterr().out
    assert "SNR" in text and "EVM" in text


def test_scope_from_a_typed_config():
    """The config's defaults are the command line's; a SINR left unset is SNR - 6 dB."""
    config = channel_scope.ChannelScopeConfig(channel="interference", snr_db=12.0, frames=2, batch=2, k=64)
    out = channel_scope.run(config)
    assert out["frames"] == 2 and out["configured"]["sinr_db"] == pytest.approx(6.0)
    assert out["config"]["equalizer"] == "mmse" and out["config"]["sinr_db"] is None
    assert "SINR  configured 6.00 dB" in channel_scope.format_summary(out)


@pytest.mark.parametrize("eq", [MMSEEqualizer, ZFEqualizer])
@pytest.mark.parametrize("make", [
    lambda keep: RayleighChannel(snr_db=8.0, seed=3, keep_noise=keep),
    lambda keep: InterferenceChannel(snr_db=12.0, sinr_db=4.0, seed=3, keep_noise=keep, fading="block", coherence=8),
])
def test_meter_recovers_impairment_without_eval_tags(eq, make):
    x = SymbolSource(batch=2, k=256, seed=1).draw()
    res = {}
    for keep in (True, False):
        meter = ChannelMeter()
        rx = eq().work(make(keep).work(Frame(x, {"seq": 0})))
        if not keep:
            rx = Frame(rx.data, {k: v for k, v in rx.tags.items() if not k.startswith("eval_")})
        meter.work(rx, Frame(x, {"seq": 0}))
        res[keep] = meter.summary()
    assert res[False]["sinr_db"] == pytest.approx(res[True]["sinr_db"], abs=1e-3)
    assert res[False]["evm_percent"] == pytest.approx(res[True]["evm_percent"], rel=1e-9)
    if res[True]["configured"].get("pz"):
        assert res[False]["snr_db"] is None  # noise cannot be separated from interference
    else:
        assert res[False]["snr_db"] == pytest.approx(res[True]["snr_db"], abs=1e-3)


def test_meter_on_raw_channel_output():
    x = SymbolSource(batch=1, k=4096, seed=2, kind="gaussian").draw()
    rx = RayleighChannel(snr_db=5.0, seed=4).work(Frame(x, {"seq": 0}))
    meter = ChannelMeter()
    meter.work(rx, Frame(x, {"seq": 0}))
    s = meter.summary()
    assert abs(s["snr_db"] - 5.0) <= db_bound(4096) + 0.3  # x is CN(0,1), not exactly unit power
    assert s["post_eq_sinr_db"] is None
    with pytest.raises(ValueError, match="ChannelMeter"):
        meter.work(rx, Frame(x[:, :10], {"seq": 0}))


def test_bad_frame_in_flowgraph_names_block_and_seq():
    data = np.ones((4, 8), np.complex64)
    data[2, 3] = np.nan
    fg = Flowgraph("nan_test")
    fg.connect(ArraySource(data, batch=1, name="src"), RayleighChannel(seed=0, name="chan"), NullSink(name="sink"))
    with pytest.raises(FlowgraphError) as info:
        fg.run(timeout=30)
    msg = str(info.value)
    assert "chan" in msg and "NaN" in msg and "2" in msg


def test_port_types_validate():
    fg = Flowgraph("types")
    fg.connect(SymbolSource(k=8, frames=1), MMSEEqualizer(), RayleighChannel())  # float32 -> complex64
    with pytest.raises(ValueError, match="float32 != complex64"):
        fg.validate()


def test_pure_evm_helper():
    x = np.ones((1, 4), np.complex64)
    assert cm.evm(x * 1.1, x) == pytest.approx(0.1, rel=1e-5)


def test_channel_block_in_worker_process():
    """Constructor args are plain data, and the array tags (h, eval_*) cross the ipc wire."""
    src = SymbolSource(batch=2, k=256, frames=4, seed=0)
    chan = InterferenceChannel(snr_db=15.0, sinr_db=6.0, fading="block", coherence=16, seed=2, keep_noise=True,
                               name="chan_proc")
    meter = ChannelMeter()
    fg = Flowgraph("placed")
    fg.add(chan, placement="process")
    fg.connect(src, chan, MMSEEqualizer(), (meter, "rx"))
    fg.connect(src, (meter, "ref"))
    fg.run(timeout=120)
    s = meter.summary()
    assert s["frames"] == 4 and s["configured"]["sinr_db"] == pytest.approx(6.0)
    assert abs(s["snr_db"] - 15.0) <= db_bound(s["symbols"])


def test_snr_and_sinr_retuned_while_running():
    """ctrl messages reach a running channel between two frames (a scope slider's path)."""
    src = SymbolSource(batch=1, k=64, frames=None, seed=0)
    chan = InterferenceChannel(snr_db=20.0, sinr_db=10.0, seed=1, name="chan_live")
    sink = CollectSink(max_frames=50)
    fg = Flowgraph("live", hwm=2)
    fg.connect(src, chan, sink)
    fg.start()
    try:
        fg.post(chan, "ctrl", {"snr_db": 5.0, "sinr_db": 1.0})
        deadline = time.monotonic() + 20
        seen = None
        while time.monotonic() < deadline and seen is None:
            with sink.lock:
                seen = next((f.tags for f in sink.frames if f.tags["snr_db"] == 5.0), None)
            time.sleep(0.01)
    finally:
        fg.stop()
    assert seen is not None
    assert seen["sinr_db"] == pytest.approx(1.0) and seen["noise_var"] == pytest.approx(10 ** -0.5)
