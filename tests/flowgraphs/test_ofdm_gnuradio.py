"""``ofdm_link.py --gnuradio``: the OFDM link's IQ through a real GNU Radio 3.10 ``channel_model``
flowgraph over gr-zeromq (``semradio.flowgraphs.ofdm_gnuradio``), and the peer's noise calibration.

The GNU Radio tests spawn ``/usr/bin/python3`` (or ``$SEMRADIO_GR_PYTHON``) and skip with the
reason when it has no GNU Radio; the others need nothing but semradio.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from semradio.blocks.zeromq import gnuradio_peer
from semradio.flowgraphs import ofdm_gnuradio as G
from semradio.flowgraphs.ofdm_link import OFDMLinkConfig, run
from semradio.runtime import WORK_DONE, Frame

ROOT = Path(__file__).resolve().parents[2]
GR_PYTHON = __import__("os").environ.get("SEMRADIO_GR_PYTHON", "/usr/bin/python3")


# ------------------------------------------------------------------ no GNU Radio needed
def test_option_mapping():
    a = G.gr_channel_args(OFDMLinkConfig(channel="taps", cfo=0.256, sro_ppm=20.0, snr_db=15.0, seed=3))
    assert a["frequency_offset"] == pytest.approx(0.004) and a["epsilon"] == pytest.approx(1.00002)
    assert len(a["taps"]) == 3 and sum(abs(t) ** 2 for t in a["taps"]) == pytest.approx(1.0)
    assert a["noise_voltage"] ** 2 == pytest.approx(10 ** -1.5) and a["noise_seed"] == 3
    assert G.gr_channel_args(OFDMLinkConfig(channel="awgn"))["taps"] == [1 + 0j]
    assert gnuradio_peer.noise_voltage(math.inf) == 0.0


@pytest.mark.parametrize("kw, match", [
    ({"channel": "tdl-a"}, "TDL/CDL"), ({"channel": "cdl-c"}, "TDL/CDL"), ({"channel": "awgn", "delay": 0.5}, "delay"),
    ({"channel": "awgn", "phase_noise": 100.0}, "phase noise"), ({"channel": "awgn", "cfo": 40.0}, "frequency_offset"),
    ({"channel": "awgn", "sro_ppm": 1e7}, "epsilon"), ({"channel": "awgn", "snr_db": math.nan}, "snr-db"),
    ({"channel": "awgn", "seed": -1}, "seed"), ({"channel": "taps", "taps": "0,0"}, "tap"),
])
def test_what_channel_model_cannot_do_is_a_clear_error(kw, match):
    with pytest.raises(ValueError, match=match):
        G.gr_channel_args(OFDMLinkConfig(**kw))


def test_burst_gaps():
    g = G.BurstGaps(gap_min=5, gap_max=9, seed=1)
    lens = []
    for i in range(50):
        out = g.work(Frame(np.ones((1, 3), np.complex64), {"packet_len": 3, "seq": i}))
        gap = out.tags["gap"]
        assert 5 <= gap <= 9 and out.data.shape == (1, gap + 3) and out.tags["packet_len"] == gap + 3
        assert not out.data[0, :gap].any() and (out.data[0, gap:] == 1).all()
        lens.append(gap)
    assert len(set(lens)) > 1 and g.gaps == 50 and g.gap_samples == sum(lens)
    with pytest.raises(ValueError, match="gap_min"):
        G.BurstGaps(gap_min=10, gap_max=2)
    with pytest.raises(ValueError, match="one burst"):
        g.work(Frame(np.ones((2, 3), np.complex64), {}))
    with pytest.raises(ValueError, match="complex64"):
        g.work(Frame(np.ones((1, 3), np.float32), {}))


def test_source_rejects_zmq_idle_timeout():
    with pytest.raises(ValueError, match="idle_s"):
        G.GrStreamSource("tcp://127.0.0.1:1", idle_timeout_s=1.0)


FAKE_PEER = """#!{python}
import json, sys
argv = sys.argv
with open(argv[argv.index("--report") + 1], "w") as f:
    json.dump({{"running": True, "tx": {tx!r}}}, f)
sys.stdin.buffer.read()
"""


@pytest.mark.parametrize("tx", ["tcp://127.0.0.1:*", ""])
def test_a_peer_that_names_no_bound_port_fails_and_frees_ours(tmp_path, tx):
    """A GNU Radio side whose report has no bound ``tx`` port: a clear error, its process
    stopped, and the port our sink bound for it free again (no socket left open)."""
    fake = tmp_path / "fake_python"
    fake.write_text(FAKE_PEER.format(python=sys.executable, tx=tx))
    fake.chmod(0o755)
    blocks: dict = {}
    with pytest.raises(RuntimeError, match="no bound endpoint"):
        G.gnuradio_channel(G.Flowgraph("t"), OFDMLinkConfig(gnuradio=True, channel="awgn", gr_python=str(fake)),
                           G.BurstGaps(), blocks)
    peer = blocks["gnuradio_peer"]
    assert not peer.alive()
    to_gr = peer.argv[peer.argv.index("--rx") + 1]
    import socket

    with socket.socket() as s:  # our sink's port: closed, so it binds again
        s.bind(("127.0.0.1", int(to_gr.rsplit(":", 1)[1])))


def test_release_closes_a_sink_no_flowgraph_started_and_leaves_a_started_one():
    from semradio.flowgraphs.ofdm_link import release_gnuradio

    idle = G.GrStreamSink("tcp://127.0.0.1:*")
    idle.bind_now()
    release_gnuradio({"gr_sink": idle})
    assert idle._sock.closed
    running = G.GrStreamSink("tcp://127.0.0.1:*", tail=0, linger_ms=0)  # no GNU Radio: nothing to wait for
    running.bind_now()
    running.start()  # a flowgraph started it: its own stop() closes it, in its thread
    release_gnuradio({"gr_sink": running})
    assert not running._sock.closed
    running.stop()
    assert running._sock.closed and running.done.is_set()


def test_missing_interpreter_is_a_clear_error():
    with pytest.raises(RuntimeError, match="GNU Radio"):
        G.GnuRadioProcess(["/nonexistent/python3", gnuradio_peer.SCRIPT, "check"]).start(ready_timeout_s=5)


# ------------------------------------------------------------------ real GNU Radio
def _push_through(peer_args: list[str], x: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, dict]:
    """Send ``x`` through a spawned ``gnuradio_peer.py channel``; what came back and its report."""
    sink = G.GrStreamSink("tcp://127.0.0.1:*", tail=0)
    peer = src = None
    got: list[np.ndarray] = []
    try:
        to_gr = sink.bind_now()  # both ends bind port 0: no free-port race
        peer = G.GnuRadioProcess([GR_PYTHON, gnuradio_peer.SCRIPT, "channel", "--rx", to_gr,
                                  "--tx", "tcp://127.0.0.1:*", *peer_args]).start()
        from_gr = peer.read_report(force=True)["tx"]
        assert from_gr.startswith("tcp://127.0.0.1:") and from_gr.rsplit(":", 1)[1].isdigit()
        src = G.GrStreamSource(from_gr, chunk=chunk, upstream=sink, peer=peer, peer_timeout_s=None)
        sink.start()
        src.start()
        for i in range(0, x.size, chunk):
            sink.work(Frame(x[None, i:i + chunk], {}))
        sink.stop()  # the end of the stream: closes the socket and sets sink.done
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            out = src.work()
            if out is WORK_DONE:
                break
            if out is not None:
                got.append(np.asarray(out.data).reshape(-1))
        else:
            pytest.fail("the source did not end within 30 s")
        assert src.ended_by == "drained"
    finally:
        if src is not None:
            src.stop()
        sink.close_unstarted()  # only when it failed before sink.start()
        if peer is not None:
            peer.close()
    return np.concatenate(got), peer.report()


@pytest.mark.gnuradio
@pytest.mark.slow
def test_noise_voltage_gives_the_per_sample_snr():
    """channel_model's complex noise has total variance noise_voltage^2: --snr-db 15 on unit-power
    QPSK measures 15 dB per sample (channel_model's resampler shifts the stream by a few samples)."""
    rng = np.random.default_rng(0)
    n = 4096 * 40
    x = ((rng.choice([-1, 1], n) + 1j * rng.choice([-1, 1], n)) / np.sqrt(2)).astype(np.complex64)
    y, rep = _push_through(["--snr-db", "15"], x)
    assert rep["items_in"] == n and rep["items_out"] == y.size and n - 16 <= y.size <= n
    assert rep["noise_voltage"] == pytest.approx(10 ** (-15 / 20)) and rep["returncode"] == 0
    m = y.size - 32
    snrs = {d: 10 * np.log10(1 / np.mean(np.abs(y[d:d + m] - x[:m]) ** 2)) if d >= 0 else
            10 * np.log10(1 / np.mean(np.abs(y[:m] - x[-d:-d + m]) ** 2)) for d in range(-12, 13)}
    best = max(snrs, key=snrs.get)
    assert abs(snrs[best] - 15.0) < 0.15, (best, snrs[best])


@pytest.mark.gnuradio
@pytest.mark.slow
def test_ofdm_link_through_gnuradio_channel_model():
    """The done-line's settings (frequency_offset 0.004, epsilon 1.00002, 3 taps, 15 dB) with few
    frames: every burst decoded through GNU Radio, PSNR within 1 dB of the genie-CSI chain."""
    out = run(OFDMLinkConfig(gnuradio=True, channel="taps", cfo=0.256, sro_ppm=20.0, snr_db=15.0, frames=4, batch=8,
                             device="cpu", gr_python=GR_PYTHON, timeout=120))
    est, genie = out["branches"]["estimated"], out["branches"]["genie"]
    assert est["frames_sent"] == 4 and est["frames_decoded"] == 4 and est["images"] == 32
    assert isinstance(est["header_crc_failures"], int) and est["header_crc_failures"] == 0
    assert est["detections"] >= 4
    assert abs(est["cfo_mean"] - 0.256) < 0.02
    assert abs(est["psnr_db"] - genie["psnr_db"]) < 1.0 and est["psnr_db"] > 25
    p = out["gnuradio_peer"]
    assert p["returncode"] == 0 and p["gnuradio_version"].startswith("3.10")
    assert p["frequency_offset"] == pytest.approx(0.004) and p["epsilon"] == pytest.approx(1.00002)
    assert len(p["taps"]) == 3 and p["noise_voltage"] == pytest.approx(10 ** (-15 / 20))
    s = p["semradio"]
    assert s["ended_by"] == "drained" and s["bursts"] == 4 and p["items_in"] == s["items_sent"]
    assert s["items_received"] == p["items_out"] and s["gr_items_lost"] == 0 and s["malformed"] == 0
    # both ends bound port 0, and the ports the OS chose are reported (no free-port race)
    assert all(e.startswith("tcp://127.0.0.1:") and e.rsplit(":", 1)[1].isdigit() for e in (p["rx"], p["tx"]))
    json.dumps(out)


@pytest.mark.gnuradio
@pytest.mark.slow
def test_script_json_has_the_peer_report():
    r = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / "ofdm_link.py"), "--gnuradio", "--channel", "awgn",
                        "--snr-db", "20", "--frames", "2", "--batch", "4", "--csi", "estimated", "--device", "cpu",
                        "--gr-python", GR_PYTHON, "--json"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(out["branches"]) == ["estimated"] and out["branches"]["estimated"]["frames_decoded"] == 2
    assert out["gnuradio_peer"]["taps"] == [[1.0, 0.0]] and out["gnuradio_peer"]["stopped_by"] == "stdin"


def test_docstring_examples():
    import doctest

    result = doctest.testmod(G, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
