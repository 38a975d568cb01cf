"""Finding 3: one message that the decoders accept must not stop a graph or a worker. Values
become frames only after validation (dtype and shape against the source's declaration; ``seq``
an int in 0..2^63-1, ``t_ns`` an int64, one nesting limit everywhere); anything else is counted
by kind and dropped."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time

import msgpack
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semradio.blocks import CollectSink, MMSEEqualizer, NullSink, PassThrough, ZMQSource
from semradio.blocks.zeromq import pmt
from semradio.blocks.zeromq import tag_header as grh
from semradio.runtime import Flowgraph, Frame, wire
from semradio.runtime.frame import reserved_tag_problem


def native(data: np.ndarray, **tags) -> list[bytes]:
    return [bytes(p) for p in wire.encode_frame(Frame(data, tags))]


def with_header(parts: list[bytes], **changes) -> list[bytes]:
    """A valid message with header fields replaced (what a hostile encoder can send)."""
    h = msgpack.unpackb(parts[0])
    h.update(changes)
    return [msgpack.packb(h, use_bin_type=True), parts[1]]


def run_receiver(fg: Flowgraph, send, timeout: float = 30.0) -> None:
    fg.start()
    time.sleep(0.2)
    send()
    assert fg.wait(timeout), "the flowgraph did not end"


# --------------------------------------------------------------------------- native format
@pytest.mark.parametrize("placement", ["thread", "process"])
def test_extreme_t_ns_keeps_stats_and_sinks_alive(endpoint, raw_push, placement: str) -> None:
    """t_ns = -2^63 is an int64, but now - t_ns is not: the latency is not recorded, the stats
    stay readable, and a process-placed sink does not die."""
    addr = endpoint()
    src = ZMQSource(addr, bind=True, dtype="float32", shape=(4,), name="src")
    sink = NullSink(name="sink")
    fg = Flowgraph("rx")
    fg.connect(src, sink)
    fg.add(sink, placement=placement)

    def send() -> None:
        push = raw_push(addr)
        for seq, t in enumerate([-(2**63), 2**63 - 1, time.time_ns()]):
            push.send_multipart(native(np.zeros((1, 4), np.float32), seq=seq, t_ns=t))
        push.send_multipart(wire.encode_eos())

    run_receiver(fg, send)
    assert fg.stats()["sink"]["frames_in"] == 3
    assert "sink" in fg.format_stats()
    json.dumps(fg.stats(), default=str)


def test_a_bad_seq_in_the_tag_map_is_dropped_before_a_two_input_block(endpoint, raw_push) -> None:
    from semradio.blocks import MetricSink

    a, b = endpoint(name="a"), endpoint(name="b")
    ref = ZMQSource(a, bind=True, dtype="float32", shape=(3, 8, 8), name="ref")
    rec = ZMQSource(b, bind=True, dtype="float32", shape=(3, 8, 8), name="rec")
    sink = MetricSink(ms_ssim=False, name="sink")
    fg = Flowgraph("rx")
    fg.connect(ref, (sink, "ref"))
    fg.connect(rec, (sink, "rec"))
    img = np.full((1, 3, 8, 8), 0.5, np.float32)

    def send() -> None:
        pa, pb = raw_push(a), raw_push(b)
        for seq in range(3):
            pa.send_multipart(native(img, seq=seq))
            pb.send_multipart(native(img, seq=seq))
        good = native(img, seq=3)
        pb.send_multipart(with_header(good, seq=None, tags={"seq": [1]}))  # unhashable seq in the tag map
        pb.send_multipart(with_header(good, seq=-5))
        pb.send_multipart(with_header(good, seq=2**64 - 1))
        pa.send_multipart(native(img, seq=3))
        pb.send_multipart(native(img, seq=3))
        pa.send_multipart(wire.encode_eos())
        pb.send_multipart(wire.encode_eos())

    run_receiver(fg, send)
    assert sink.seqs == [0, 1, 2, 3]
    assert sum(rec.stats["malformed_by_kind"].values()) == 3


def test_declared_dtype_is_enforced_before_the_equalizer(endpoint, raw_push) -> None:
    """float32 frames into a complex64 source: dropped and counted; the equalizer never sees
    them and the good frames after them arrive."""
    addr = endpoint()
    src = ZMQSource(addr, bind=True, dtype="complex64", shape=(None,), name="src")
    eq = MMSEEqualizer(name="eq")
    col = CollectSink(name="col")
    fg = Flowgraph("rx")
    fg.connect(src, eq, col)
    good = np.ones((2, 8), np.complex64)

    def send() -> None:
        push = raw_push(addr)
        push.send_multipart(native(good, seq=0, h=good, noise_var=0.1))
        push.send_multipart(native(np.ones((2, 8), np.float32), seq=1, h=good, noise_var=0.1))
        push.send_multipart(native(np.ones((2, 8, 2), np.complex64), seq=2, h=good, noise_var=0.1))
        for seq in (3, 4):
            push.send_multipart(native(good, seq=seq, h=good, noise_var=0.1))
        push.send_multipart(wire.encode_eos())

    run_receiver(fg, send)
    assert col.seqs == [0, 3, 4]
    assert src.stats["malformed_by_kind"] == {"dtype": 1, "shape": 1}


@given(tags=st.dictionaries(st.sampled_from(["seq", "t_ns", "x", "h"]),
                            st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
                            | st.text(max_size=3) | st.lists(st.integers(0, 5), max_size=3), max_size=4),
       header_seq=st.none() | st.integers(-(2**63), 2**64 - 1))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_whatever_the_decoder_accepts_is_a_usable_frame(tags: dict, header_seq) -> None:
    parts = with_header(native(np.zeros((1, 2), np.float32)), seq=header_seq, tags=tags)
    try:
        frame = wire.decode_message(parts)
    except wire.WireError:
        return
    assert reserved_tag_problem(frame.tags) is None
    wire.decode_message(wire.encode_frame(frame))  # it can cross a process edge again


# --------------------------------------------------------------------------- GNU Radio format
def gr_message(offset: int, nitems: int, tags: list[tuple[int, str, bytes]]) -> bytes:
    """A gr-zeromq message with tags given as (offset, key, serialized PMT value)."""
    head = struct.pack("<HBQQ", grh.GR_HEADER_MAGIC, grh.GR_HEADER_VERSION, offset, len(tags))
    body = b"".join(struct.pack("<Q", o) + pmt.encode(k) + v + pmt.encode(False) for o, k, v in tags)
    return head + body + np.zeros(nitems, np.complex64).tobytes()


def improper_chain(depth: int) -> bytes:
    """(0 1 2 ... depth-1 . 99) as serialized PMT: nests ``depth`` levels once made a list."""
    return b"".join(b"\x07" + pmt.encode(np.int32(i).item()) for i in range(depth)) + pmt.encode(99)


def nested_vector(depth: int) -> bytes:
    return b"\x08\x00\x00\x00\x01" * depth + pmt.encode(1)


def gr_graph(addr: str, placement: str) -> tuple[Flowgraph, ZMQSource, CollectSink]:
    src = ZMQSource(addr, bind=True, format="gnuradio", pass_tags=True, frame_len=8, idle_timeout_s=1.0, name="src")
    hop = PassThrough(name="hop")
    col = CollectSink(name="col")
    fg = Flowgraph("rx")
    fg.connect(src, hop, col)
    fg.add(hop, placement=placement)
    return fg, src, col


@pytest.mark.parametrize("placement", ["thread", "process"])
def test_deep_gnuradio_tags_never_fail_a_process_edge(endpoint, raw_push, placement: str) -> None:
    """A 40-deep improper pair chain becomes a 40-deep list: the tag is dropped and counted, the
    frame crosses the process edge. A 40-deep PMT vector exceeds the one nesting limit (32, as on
    the native wire): that message is dropped as malformed; the stream goes on."""
    addr = endpoint()
    fg, src, col = gr_graph(addr, placement)

    def send() -> None:
        push = raw_push(addr)
        push.send(gr_message(0, 8, [(0, "deep", improper_chain(40)), (0, "ok", pmt.encode(1.5))]))
        push.send(gr_message(8, 8, [(8, "deeper", nested_vector(40))]))
        push.send(gr_message(16, 8, [(16, "fine", improper_chain(10))]))

    run_receiver(fg, send)
    assert [f.data.shape for f in col.frames] == [(1, 8), (1, 8)]
    assert "deep" not in col.frames[0].tags and col.frames[0].tags["ok"] == 1.5
    assert col.frames[1].tags["fine"][0] == 0
    assert src.stats["bad_tags"] == 1 and src.stats["malformed_by_kind"].get("pmt") == 1


@pytest.mark.parametrize("placement", ["thread", "process"])
def test_gnuradio_counters_out_of_range_never_fail_the_source(endpoint, raw_push, placement: str) -> None:
    """A seq tag of 2^64-1 and then an untagged frame; a t_ns tag of 2^64-1; a tag-header offset
    near 2^64: counted, replaced or dropped; every frame that leaves has an int64 seq and t_ns
    and crosses a process edge."""
    addr = endpoint()
    fg, src, col = gr_graph(addr, placement)

    def send() -> None:
        push = raw_push(addr)
        push.send(gr_message(0, 8, [(0, "seq", pmt.encode(pmt.UInt64(2**64 - 1)))]))
        push.send(gr_message(8, 8, []))
        push.send(gr_message(16, 8, [(16, "t_ns", pmt.encode(pmt.UInt64(2**64 - 1)))]))
        push.send(gr_message(2**64 - 4, 8, []))
        push.send(gr_message(24, 8, []))

    run_receiver(fg, send)
    assert len(col.frames) == 4
    for f in col.frames:
        assert reserved_tag_problem(f.tags) is None
    assert len({f.tags["seq"] for f in col.frames}) == 4
    assert src.stats["bad_tags"] == 2 and src.stats["malformed_by_kind"].get("offset") == 1


@pytest.mark.slow
def test_worker_forever_survives_a_hostile_t_ns(tmp_path, raw_push) -> None:
    """`semradio worker --forever` keeps serving after a frame whose t_ns overflows the latency."""
    addr = f"ipc://{tmp_path / 'in'}"
    spec = tmp_path / "w.toml"
    spec.write_text(f'connections = []\n[blocks.sink]\nclass = "NullSink"\n'
                    f'[inputs.rx]\nto = "sink.in"\nendpoint = "{addr}"\ndtype = "float32"\n')
    proc = subprocess.Popen([sys.executable, "-m", "semradio.cli", "worker", str(spec), "--forever"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert json.loads(proc.stdout.readline())["event"] == "ready"
        push = raw_push(addr)
        push.send_multipart(native(np.zeros((1, 4), np.float32), seq=0, t_ns=-(2**63)))
        push.send_multipart(wire.encode_eos())
        done = json.loads(proc.stdout.readline())
        assert done["event"] == "done" and done["stats"]["sink"]["frames_in"] == 1
        assert json.loads(proc.stdout.readline())["event"] == "ready"  # serving the next stream
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.wait(10)
