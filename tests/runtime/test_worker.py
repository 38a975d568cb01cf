"""``semradio worker``: spec parsing, a worker killed and restarted mid-stream, CURVE."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from semradio.blocks import CollectSink, CountingSource, Throttle, ZMQSink, ZMQSource
from semradio.blocks.zeromq.security import generate_keys
from semradio.runtime import Flowgraph
from semradio.cli import main as cli_main
from semradio.runtime.worker import build_graph, load_spec
from semradio.runtime.net import free_port


def write_relay_spec(path, port_in: int, port_out: int, toml: bool = True) -> str:
    if toml:
        text = f"""
name = "relay"
connections = [["hop", "hop2.in"]]
[blocks.hop]
class = "semradio.blocks.PassThrough"
[blocks.hop2]
class = "semradio.blocks:PassThrough"
kwargs = {{ delay_s = 0.008 }}  # the worker falls behind: frames queue inside it
[inputs.in]
to = "hop.in"
endpoint = "tcp://127.0.0.1:{port_in}"
[outputs.out]
from = "hop2.out"
endpoint = "tcp://127.0.0.1:{port_out}"
"""
        p = path / "relay.toml"
        p.write_text(text)
    else:
        p = path / "relay.json"
        p.write_text(json.dumps({
            "name": "relay", "blocks": {"hop": {"class": "semradio.blocks.PassThrough"}},
            "inputs": {"in": {"to": "hop.in", "endpoint": f"tcp://127.0.0.1:{port_in}"}},
            "outputs": {"out": {"from": "hop.out", "endpoint": f"tcp://127.0.0.1:{port_out}"}}}))
    return str(p)


def spawn_worker(spec: str, *extra: str) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen([sys.executable, "-m", "semradio.cli", "worker", spec, *extra],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line, f"worker exited with {proc.wait()}"
    event = json.loads(line)
    assert event["event"] == "ready", event
    return proc, event


def test_spec_errors(tmp_path) -> None:
    spec = load_spec(write_relay_spec(tmp_path, free_port(), free_port()))
    wg = build_graph(spec)
    assert set(wg.inputs) == {"in"} and set(wg.outputs) == {"out"} and set(wg.blocks) == {"hop", "hop2"}
    bad = [
        ({"blocks": {"x": {"class": "semradio.blocks.NoSuchBlock"}}}, "'x'"),
        ({"blocks": {"x": {"klass": "a.B"}}}, "class"),
        ({"blocks": {"x": {"class": "semradio.blocks.PassThrough"}}, "connections": [["x", "y.in"]]}, "no block"),
        ({"blocks": {"x": {"class": "semradio.blocks.PassThrough"}}, "inputs": {"i": {"to": "x.in"}}}, "endpoint"),
        ({"blocks": {"x": {"class": "semradio.blocks.PassThrough"}},
          "inputs": {"i": {"to": "x.in", "endpoint": "tcp://0.0.0.0:1"}}}, "allow-remote|allow_remote"),
        ({"blocks": {"x": {"class": "semradio.blocks.PassThrough"}},
          "inputs": {"i": {"to": "x.in", "endpoint": "ipc:///tmp/x", "frobnicate": 1}}}, "bad option"),
        ({"blokcs": {}}, "unknown top-level"),
    ]
    for s, match in bad:
        with pytest.raises(ValueError, match=match):
            build_graph(s)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(bad[0][0]))
    assert cli_main(["worker", str(p)]) == 2
    p.write_text("{not json")
    assert cli_main(["worker", str(p)]) == 2


def test_worker_killed_and_restarted_mid_stream(tmp_path) -> None:
    """The flowgraph keeps running across a worker restart; the frames lost in the dead worker
    show up as one gap in ``seq``, counted as ``lost``; nothing else is lost."""
    port_in, port_out = free_port(), free_port()
    spec = write_relay_spec(tmp_path, port_in, port_out)
    worker, _ = spawn_worker(spec)
    n = 240
    tx = ZMQSink(f"tcp://127.0.0.1:{port_in}", bind=False)
    rx = ZMQSource(f"tcp://127.0.0.1:{port_out}")
    col = CollectSink()
    fg = Flowgraph("split")
    fg.connect(CountingSource(frames=n, size=32), Throttle(200.0), tx)
    fg.connect(rx, col)
    fg.start()
    try:
        deadline = time.monotonic() + 20
        while len(col.frames) < 60 and time.monotonic() < deadline:
            time.sleep(0.005)
        worker.kill()
        worker.wait()
        killed_at = len(col.frames)
        time.sleep(0.2)
        worker, _ = spawn_worker(spec)
        assert fg.wait(30), "flowgraph did not finish after the worker restart"
    finally:
        fg.stop()
        worker.kill()
        worker.wait()
    seqs = col.seqs
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert 60 <= killed_at < n and seqs[-1] == n - 1  # killed mid-stream, the stream went on
    missing = sorted(set(range(n)) - set(seqs))
    assert missing, "frames queued in the killed worker must be missing"
    assert rx.stats["lost"] == len(missing) and rx.stats["seq_resets"] == 0
    assert missing == list(range(missing[0], missing[-1] + 1))  # one contiguous gap at the kill
    assert missing[0] >= killed_at
    assert rx.stats["malformed"] == 0 and tx.stats["frames"] == n


def test_worker_with_curve_keys(tmp_path) -> None:
    _, server_secret = generate_keys(str(tmp_path / "server"), "server")
    _, client_secret = generate_keys(str(tmp_path / "clients"), "client")
    port_in, port_out = free_port(), free_port()
    spec = write_relay_spec(tmp_path, port_in, port_out, toml=False)
    worker, event = spawn_worker(spec, "--curve-secret", server_secret, "--curve-authorized",
                                 str(tmp_path / "clients"))
    keys = dict(curve_server_public=str(tmp_path / "server" / "server.key"), curve_client_secret=client_secret)
    try:
        col = CollectSink()
        fg = Flowgraph("curve")
        fg.connect(CountingSource(frames=20, size=8), ZMQSink(event["endpoints"]["in"], bind=False, **keys))
        fg.connect(ZMQSource(event["endpoints"]["out"], **keys), col)
        fg.run(timeout=20)
        assert col.seqs == list(range(20))
        done = json.loads(worker.stdout.readline())
        assert done["event"] == "done" and done["bridges"]["out"]["frames"] == 20
        assert worker.wait(10) == 0
    finally:
        worker.kill()
        worker.wait()
