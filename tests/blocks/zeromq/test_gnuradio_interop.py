"""Interop with a real GNU Radio 3.10 (gr-zeromq): samples and tags bit-exact both ways.

GNU Radio runs in its own interpreter (Debian's ``/usr/bin/python3``; override with
``SEMRADIO_GR_PYTHON``) through ``semradio.blocks.zeromq.gnuradio_peer``. Every test skips with the reason when
that interpreter cannot ``import gnuradio.zeromq`` (CI installs Debian's ``gnuradio`` package
when it can).
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from semradio.blocks.zeromq import gnuradio_peer

from semradio.blocks import ArraySource, CollectSink, ZMQSink, ZMQSource
from semradio.blocks.zeromq import pmt
from semradio.blocks.zeromq.gr_tags import frame_tags_to_gr
from semradio.runtime import Flowgraph
from semradio.runtime.net import free_port

PEER = gnuradio_peer.SCRIPT
GR_PYTHON = os.environ.get("SEMRADIO_GR_PYTHON", "/usr/bin/python3")
pytestmark = pytest.mark.gnuradio


def gr(*args: str, timeout: float = 60) -> None:
    r = subprocess.run([GR_PYTHON, PEER, *args], capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"gr_peer {args[0]} failed ({r.returncode}): {r.stderr[-3000:]}"


def load_dump(prefix: str) -> tuple[np.ndarray, list[dict]]:
    data = np.fromfile(prefix + ".c64", np.complex64)
    with open(prefix + ".json") as f:
        return data, json.load(f)["tags"]


def bits(x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x, np.complex64).view(np.uint64)


def run_receiver(source: ZMQSource) -> tuple[Flowgraph, CollectSink]:
    col = CollectSink()
    fg = Flowgraph("from-gnuradio")
    fg.connect(source, col)
    fg.start()
    return fg, col


# ------------------------------------------------------------------------------- codec
def test_gnuradio_reads_back_our_pmt_bytes(tmp_path) -> None:
    """GNU Radio deserializes and re-serializes every value we encode to the same bytes."""
    rng = np.random.default_rng(5)
    values = [
        True, False, None, "", "packet_len", "ünïcode", 0, -1, 2**31 - 1, -(2**31), 2**31, -(2**63), 2**63 - 1,
        pmt.UInt64(0), pmt.UInt64(2**64 - 1), pmt.Int64(3), 0.0, -0.0, 1e308, float("inf"), 1.5 - 2j,
        pmt.Pair("a", 1), pmt.Pair.from_list([1, "x", 2.5]), pmt.Pair(1, pmt.Pair(2, 3)),
        {"snr_db": 10.0, "h": np.ones(3, np.complex64)}, {1: "x", "k": pmt.Pair(1, None)},
        [1, [2, [3]], []], (1, (2.0, "z"), [None]),
    ]
    for dt in ("u1", "i1", "u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8", "c8", "c16"):
        raw = rng.integers(0, 256, 5 * np.dtype(dt).itemsize, dtype=np.uint8).tobytes()
        arr = np.frombuffer(raw, dt)
        values.append(arr if arr.dtype.kind not in "fc" else np.nan_to_num(arr))
        values.append(np.zeros(0, dt))
    encoded = [pmt.encode(v).hex() for v in values]
    (tmp_path / "in.json").write_text(json.dumps(encoded))
    code = ("import json, sys, pmt\n"
            f"vals = json.load(open({str(tmp_path / 'in.json')!r}))\n"
            "out = [pmt.serialize_str(pmt.deserialize_str(bytes.fromhex(h))).hex() for h in vals]\n"
            f"json.dump(out, open({str(tmp_path / 'out.json')!r}, 'w'))\n")
    r = subprocess.run([GR_PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    back = json.loads((tmp_path / "out.json").read_text())
    for v, ours, theirs in zip(values, encoded, back):
        if type(v) is pmt.Int64 and -(2**31) <= v < 2**31:  # GNU Radio writes a small long as int32
            ours = pmt.encode(int(v)).hex()
        assert ours == theirs, f"{v!r}: ours {ours} != GNU Radio {theirs}"


# --------------------------------------------------------------- GNU Radio -> semradio
@pytest.mark.parametrize("pattern", ["push", "pub"])
def test_gnuradio_sink_with_tags_feeds_zmqsource(tmp_path, pattern: str) -> None:
    n = 4096
    addr = f"tcp://127.0.0.1:{free_port()}"
    src = ZMQSource(addr, "pull" if pattern == "push" else "sub", "gnuradio", pass_tags=True, frame_len=512,
                    batch=2, idle_timeout_s=0.5, keep_raw_tags=True)
    fg, col = run_receiver(src)
    try:
        gr("send", "--address", addr, "--pattern", pattern, "--pass-tags", "--items", str(n),
           "--tag-set", "all", "--out", str(tmp_path / "sent"), *(["--delay", "0.5"] if pattern == "pub" else []))
        assert fg.wait(20)
    finally:
        fg.stop()
    sent, sent_tags = load_dump(str(tmp_path / "sent"))
    got = np.concatenate([f.data.reshape(-1) for f in col.frames])
    assert np.array_equal(bits(got), bits(sent))
    assert [f.tags["gr_offset"] for f in col.frames] == [1024 * i for i in range(4)]
    expected = sorted((t["offset"], t["key"], t["value"], t["srcid"]) for t in sent_tags)
    received = sorted((e["offset"], e["raw"][0].hex(), e["raw"][1].hex(), e["raw"][2].hex())
                      for f in col.frames for e in f.tags.get("gr_tags", []))
    assert received == expected and len(expected) >= 26
    first = col.frames[0].tags  # tags at offset 0 merged into the frame tags
    assert first["int32"] == 7
    assert first["list"] == [1, "two", 3.0]
    assert src.stats["malformed"] == 0 and src.stats["gr_items_lost"] == 0


def test_gnuradio_pub_without_tags_with_key(tmp_path) -> None:
    n = 3000
    addr = f"tcp://127.0.0.1:{free_port()}"
    src = ZMQSource(addr, "sub", "gnuradio", topic="iq", frame_len=1000, idle_timeout_s=0.5)
    fg, col = run_receiver(src)
    try:
        gr("send", "--address", addr, "--pattern", "pub", "--key", "iq", "--items", str(n), "--tag-set", "none",
           "--delay", "0.5", "--out", str(tmp_path / "sent"))
        assert fg.wait(20)
    finally:
        fg.stop()
    sent, _ = load_dump(str(tmp_path / "sent"))
    got = np.concatenate([f.data.reshape(-1) for f in col.frames])
    assert np.array_equal(bits(got), bits(sent))
    assert [f.tags["seq"] for f in col.frames] == [0, 1, 2]
    assert all("gr_tags" not in f.tags for f in col.frames)


def test_gnuradio_tagged_stream_cut_into_packets(tmp_path) -> None:
    n, plen = 2000, 300  # the last packet is 200 items
    addr = f"tcp://127.0.0.1:{free_port()}"
    src = ZMQSource(addr, "pull", "gnuradio", pass_tags=True, packet_len_tag="packet_len", idle_timeout_s=0.5)
    fg, col = run_receiver(src)
    try:
        gr("send", "--address", addr, "--pattern", "push", "--pass-tags", "--items", str(n), "--tag-set", "packets",
           "--packet-len", str(plen), "--out", str(tmp_path / "sent"))
        assert fg.wait(20)
    finally:
        fg.stop()
    sent, _ = load_dump(str(tmp_path / "sent"))
    assert [f.data.shape[1] for f in col.frames] == [300] * 6 + [200]
    assert [f.tags["packet_len"] for f in col.frames] == [300] * 6 + [200]
    assert [f.tags["gr_offset"] for f in col.frames] == list(range(0, n, plen))
    got = np.concatenate([f.data.reshape(-1) for f in col.frames])
    assert np.array_equal(bits(got), bits(sent))
    assert src.stats["untagged_items"] == 0


def test_gnuradio_rep_sink_feeds_req_source(tmp_path) -> None:
    n = 2048
    addr = f"tcp://127.0.0.1:{free_port()}"
    src = ZMQSource(addr, "req", "gnuradio", pass_tags=True, frame_len=256, max_frames=n // 256, request_items=256,
                    keep_raw_tags=True)
    fg, col = run_receiver(src)
    try:
        gr("send", "--address", addr, "--pattern", "rep", "--pass-tags", "--items", str(n), "--tag-set", "all",
           "--out", str(tmp_path / "sent"))
        assert fg.wait(20)
    finally:
        fg.stop()
    sent, sent_tags = load_dump(str(tmp_path / "sent"))
    got = np.concatenate([f.data.reshape(-1) for f in col.frames])
    assert np.array_equal(bits(got), bits(sent))
    received = sorted((e["offset"], e["raw"][1].hex()) for f in col.frames for e in f.tags.get("gr_tags", []))
    assert received == sorted((t["offset"], t["value"]) for t in sent_tags)


# --------------------------------------------------------------- semradio -> GNU Radio
def _frames(rows: int, k: int) -> tuple[np.ndarray, dict]:
    rng = np.random.default_rng(11)
    x = ((rng.standard_normal((rows, k)) + 1j * rng.standard_normal((rows, k))) * 10.0 ** rng.integers(-3, 4, (rows, k)))
    tags = {"snr_db": 12.5, "noise_var": np.float32(0.0625), "h": (np.arange(2 * k) * (1 - 1j)).astype(np.complex64)
            .reshape(2, k), "channel": "rayleigh", "keep": True, "big": 2**40, "neg": -3, "none": None,
            "w": np.linspace(0, 1, 5)}
    return x.astype(np.complex64), tags


@pytest.mark.parametrize("pattern,gr_pattern", [("push", "pull"), ("pub", "sub"), ("rep", "req")])
def test_zmqsink_with_tags_feeds_gnuradio(tmp_path, pattern: str, gr_pattern: str) -> None:
    rows, k, batch = 8, 128, 2
    x, extra = _frames(rows, k)
    addr = f"tcp://127.0.0.1:{free_port()}"
    source = ArraySource(x, batch=batch, tags=extra)
    sink = ZMQSink(addr, pattern, "gnuradio", pass_tags=True, srcid="semradio", min_subscribers=1)
    fg = Flowgraph("to-gnuradio")
    fg.connect(source, sink)
    fg.start()
    try:
        gr("recv", "--address", addr, "--pattern", gr_pattern, "--pass-tags", "--items", str(x.size),
           "--out", str(tmp_path / "recv"))
        assert fg.wait(20)
    finally:
        fg.stop()
    got, tags = load_dump(str(tmp_path / "recv"))
    assert np.array_equal(bits(got), bits(x.reshape(-1)))
    n = batch * k
    expected = []
    for i in range(rows // batch):
        ftags = dict(extra, seq=i, t_ns=0)
        gtags, skipped = frame_tags_to_gr(ftags, i * n, n, "packet_len", "semradio", exclude=("t_ns",))
        assert skipped == []
        expected += [(t.offset, pmt.encode(t.key).hex(), pmt.encode(t.value).hex(), pmt.encode(t.srcid).hex())
                     for t in gtags]
    received = [(t["offset"], t["key"], t["value"], t["srcid"]) for t in tags
                if pmt.decode(bytes.fromhex(t["key"])) != "t_ns"]
    assert sorted(received) == sorted(expected)
    assert sum(1 for t in tags if pmt.decode(bytes.fromhex(t["key"])) == "t_ns") == rows // batch


def test_zmqsink_without_tags_feeds_gnuradio_sub(tmp_path) -> None:
    x, _ = _frames(6, 100)
    addr = f"tcp://127.0.0.1:{free_port()}"
    fg = Flowgraph("to-gnuradio")
    fg.connect(ArraySource(x, batch=3), ZMQSink(addr, "pub", "gnuradio", min_subscribers=1, topic="k"))
    fg.start()
    try:
        gr("recv", "--address", addr, "--pattern", "sub", "--key", "k", "--items", str(x.size),
           "--out", str(tmp_path / "recv"))
        assert fg.wait(20)
    finally:
        fg.stop()
    got, tags = load_dump(str(tmp_path / "recv"))
    assert np.array_equal(bits(got), bits(x.reshape(-1))) and tags == []
