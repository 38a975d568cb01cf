"""ZMQSink / ZMQSource without GNU Radio: native and GNU Radio formats between semradio
flowgraphs, patterns, policies, malformed input, loopback policy, CURVE."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import zmq

from semradio.blocks import ArraySource, CollectSink, CountingSource, ZMQSink, ZMQSource
from semradio.blocks.zeromq import tag_header as grh
from semradio.blocks.zeromq.security import check_bind_endpoint, generate_keys, is_loopback_endpoint
from semradio.runtime import WORK_DONE, Flowgraph, Frame, SourceBlock
from semradio.runtime import wire


class SeqSource(SourceBlock):
    """Emits one (1, 4) float32 frame per given seq (for gap counting)."""

    def __init__(self, seqs: list[int], name: str | None = None) -> None:
        super().__init__(name)
        self.seqs = list(seqs)
        self.add_output("out", "float32", (4,))
        self._i = 0

    def work(self):
        if self._i >= len(self.seqs):
            return WORK_DONE
        s = self.seqs[self._i]
        self._i += 1
        return Frame(np.full((1, 4), s, np.float32), {"seq": s, "t_ns": time.time_ns()})


def ipc(tmp_path, name: str) -> str:
    return f"ipc://{tmp_path}/{name}"


def test_native_push_pull_carries_frames_and_tags(tmp_path) -> None:
    h = (np.arange(8) * (1 + 1j)).astype(np.complex64).reshape(2, 4)
    data = np.random.default_rng(0).standard_normal((10, 16)).astype(np.float32)
    src = ArraySource(data, batch=2, tags={"h": h, "snr_db": 5.0, "channel": "awgn"})
    addr = ipc(tmp_path, "a")
    sink = ZMQSink(addr)
    rx = ZMQSource(addr, dtype="float32", shape=(16,))
    col = CollectSink()
    fg = Flowgraph("native")
    fg.connect(src, sink)
    fg.connect(rx, col)
    fg.run(timeout=20)
    assert col.seqs == [0, 1, 2, 3, 4]
    got = np.concatenate([f.data for f in col.frames])
    np.testing.assert_array_equal(got, data)
    t = col.frames[0].tags
    np.testing.assert_array_equal(t["h"], h)
    assert t["snr_db"] == 5.0 and t["channel"] == "awgn" and isinstance(t["t_ns"], int)
    assert rx.stats["frames"] == 5 and rx.stats["lost"] == 0 and rx.stats["malformed"] == 0
    assert sink.stats["frames"] == 5


def test_pub_sub_topic_filter(tmp_path) -> None:
    addr = ipc(tmp_path, "pub")
    sink = ZMQSink(addr, pattern="pub", topic="alpha", min_subscribers=2)
    yes = ZMQSource(addr, pattern="sub", topic="alpha")
    no = ZMQSource(addr, pattern="sub", topic="beta", idle_timeout_s=0.3, max_frames=1)
    c1, c2 = CollectSink(), CollectSink()
    fg = Flowgraph("pubsub")
    fg.connect(CountingSource(frames=6, size=3), sink)
    fg.connect(yes, c1)
    fg.connect(no, c2)
    fg.start()
    deadline = time.monotonic() + 15
    while len(c1.frames) < 6 and time.monotonic() < deadline:
        time.sleep(0.02)
    fg.stop()
    assert c1.seqs == list(range(6))
    assert c2.frames == []
    assert sink.stats["subscriptions"] >= 2


def test_realtime_policy_counts_drops(tmp_path) -> None:
    sink = ZMQSink(ipc(tmp_path, "nobody"), policy="realtime", hwm=1)  # nobody connects
    fg = Flowgraph("drops")
    fg.connect(CountingSource(frames=20, size=4), sink)
    fg.run(timeout=10)
    assert sink.stats["dropped"] == 20 and sink.stats["frames"] == 0


def test_seq_gaps_count_as_lost(tmp_path) -> None:
    addr = ipc(tmp_path, "gaps")
    rx = ZMQSource(addr)
    col = CollectSink()
    fg = Flowgraph("gaps")
    fg.connect(SeqSource([0, 1, 2, 5, 6, 9, 0, 1]), ZMQSink(addr))
    fg.connect(rx, col)
    fg.run(timeout=10)
    assert col.seqs == [0, 1, 2, 5, 6, 9, 0, 1]
    assert rx.stats["lost"] == 2 + 2 and rx.stats["seq_resets"] == 1


def _garbage_messages() -> list[list[bytes]]:
    good_header = grh.encode_tag_header(0, [])
    return [
        [b""], [b"\x00" * 7], [os.urandom(33)], [b"\x81\xa1v\x09"],                  # native garbage
        [b"x", b"y", b"z"],
        [b"\xf1\x5f\x01" + bytes(16) + bytes(8)],                                   # bad magic
        [good_header[:-8] + (2**40).to_bytes(8, "little")],                          # ntags too large
        [grh.encode_tag_header(0, []) [:11] + bytes(8) + b"\x01" + bytes(8) + b"\x0e" + bytes(8)],  # bad PMT
        [good_header + b"\x00" * 5],                                                # not whole items
    ]


@pytest.mark.parametrize("fmt", ["native", "gnuradio"])
def test_malformed_input_is_counted_and_dropped(tmp_path, fmt: str) -> None:
    addr = ipc(tmp_path, f"fuzz-{fmt}")
    kw = dict(format=fmt, pass_tags=True, frame_len=4, idle_timeout_s=0.5) if fmt == "gnuradio" else {}
    rx = ZMQSource(addr, bind=True, **kw)
    col = CollectSink()
    fg = Flowgraph("fuzz")
    fg.connect(rx, col)
    fg.start()
    assert rx.ready.wait(5)
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.connect(addr)
    bad = _garbage_messages()
    for parts in bad:
        push.send_multipart(parts)
    if fmt == "native":
        frame = Frame(np.ones((1, 4), np.float32), {"seq": 0})
        push.send_multipart(wire.encode_frame(frame))
        push.send_multipart(wire.encode_eos())
    else:
        push.send(grh.encode_tag_header(0, [grh.GrTag(0, "seq", 0)]) + np.ones(4, np.complex64).tobytes())
    assert fg.wait(10)
    push.close(0)
    ctx.term()
    assert len(col.frames) == 1 and col.frames[0].tags["seq"] == 0
    st = rx.stats
    assert st["malformed"] >= len(bad) - 2  # a few garbage messages may be valid in the other format
    assert sum(st["malformed_by_kind"].values()) == st["malformed"]


def test_gnuradio_format_between_semradio_graphs_tagged_stream(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 100)) + 1j * rng.standard_normal((6, 100))).astype(np.complex64)
    h = np.exp(1j * np.arange(300)).astype(np.complex64).reshape(3, 100)
    addr = ipc(tmp_path, "gr")
    sink = ZMQSink(addr, format="gnuradio", pass_tags=True)
    rx = ZMQSource(addr, format="gnuradio", pass_tags=True, packet_len_tag="packet_len", idle_timeout_s=0.5)
    col = CollectSink()
    fg = Flowgraph("gr-format")
    fg.connect(ArraySource(x, batch=3, tags={"h": h, "snr_db": 7.0}), sink)
    fg.connect(rx, col)
    fg.run(timeout=20)
    assert len(col.frames) == 2
    for i, f in enumerate(col.frames):
        assert f.data.shape == (1, 300)
        np.testing.assert_array_equal(f.data.reshape(3, 100), x[3 * i:3 * i + 3])
        assert f.tags["seq"] == i and f.tags["gr_offset"] == 300 * i and f.tags["packet_len"] == 300
        np.testing.assert_array_equal(f.tags["h"], h)
        assert f.tags["snr_db"] == 7.0
    assert rx.stats["lost"] == 0 and rx.stats["malformed"] == 0


def test_gnuradio_format_fixed_frames_rechunk_without_tags(tmp_path) -> None:
    x = np.arange(1000, dtype=np.float32).reshape(10, 100)
    addr = ipc(tmp_path, "fixed")
    rx = ZMQSource(addr, format="gnuradio", item_format="float32", frame_len=64, batch=2, idle_timeout_s=0.5)
    col = CollectSink()
    fg = Flowgraph("fixed")
    fg.connect(ArraySource(x, batch=1), ZMQSink(addr, format="gnuradio", item_format="float32"))
    fg.connect(rx, col)
    fg.run(timeout=20)
    got = np.concatenate([f.data.reshape(-1) for f in col.frames])
    assert [f.data.shape for f in col.frames] == [(2, 64)] * 7
    np.testing.assert_array_equal(got, x.reshape(-1)[:896])
    assert [f.tags["gr_offset"] for f in col.frames] == [128 * i for i in range(7)]
    assert rx.stats["partial_items_dropped"] == 104


def test_ci16_and_req_rep(tmp_path) -> None:
    x = (np.arange(-64, 64) / 128 + 1j * np.arange(64, -64, -1) / 128).astype(np.complex64).reshape(4, 32)
    addr = ipc(tmp_path, "rep")
    sink = ZMQSink(addr, pattern="rep", format="gnuradio", item_format="ci16", pass_tags=True)
    rx = ZMQSource(addr, pattern="req", format="gnuradio", item_format="ci16", pass_tags=True, frame_len=16,
                   request_items=16, max_frames=8)
    col = CollectSink()
    fg = Flowgraph("reqrep")
    fg.connect(ArraySource(x, batch=1), sink)
    fg.connect(rx, col)
    fg.run(timeout=20)
    got = np.concatenate([f.data.reshape(-1) for f in col.frames])
    np.testing.assert_array_equal(got, x.reshape(-1))  # exact: multiples of 1/128 survive int16
    assert sink.stats["requests"] == 8
    assert [f.tags["seq"] for f in col.frames] == [0, 1, 1, 2, 2, 3, 3, 4]  # sender's seq where a frame
    assert rx.stats["lost"] == 0  # starts at a sender frame, else previous + 1 (not counted)


def test_loopback_policy() -> None:
    assert is_loopback_endpoint("tcp://127.0.0.1:5555") and is_loopback_endpoint("tcp://[::1]:1")
    assert is_loopback_endpoint("tcp://localhost:1") and is_loopback_endpoint("ipc:///tmp/x")
    assert not is_loopback_endpoint("tcp://0.0.0.0:5555") and not is_loopback_endpoint("tcp://*:5555")
    with pytest.raises(ValueError, match="allow_remote"):
        ZMQSink("tcp://*:5555")
    with pytest.raises(ValueError, match="allow_remote"):
        ZMQSource("tcp://0.0.0.0:5555", bind=True)
    check_bind_endpoint("tcp://0.0.0.0:5555", allow_remote=True)
    ZMQSource("tcp://10.1.2.3:5555")  # connecting anywhere is fine
    with pytest.raises(ValueError):
        ZMQSink("ipc:///tmp/x", pattern="rep")  # REQ/REP is GNU Radio format only


def _curve_trial(server_secret: str, authorized: str, **client) -> int:
    tx = ZMQSink("tcp://127.0.0.1:*", curve_server_secret=server_secret, curve_authorized=authorized, linger_ms=0)
    fg = Flowgraph("curve-server")
    fg.connect(CountingSource(frames=5, size=4), tx)
    fg.start()
    try:
        assert tx.ready.wait(5)
        rx = ZMQSource(tx.endpoint, max_frames=5, **client)
        col = CollectSink()
        fg2 = Flowgraph("curve-client")
        fg2.connect(rx, col)
        fg2.start()
        fg2.wait(1.0)
        fg2.stop()
        return len(col.frames)
    finally:
        fg.stop()


def test_curve_rejects_clients_without_the_key(tmp_path) -> None:
    _, server_secret = generate_keys(str(tmp_path / "server"), "server")
    server_public = str(tmp_path / "server" / "server.key")
    _, client_secret = generate_keys(str(tmp_path / "clients"), "client")
    _, other_secret = generate_keys(str(tmp_path / "others"), "other")
    authorized = str(tmp_path / "clients")
    assert _curve_trial(server_secret, authorized, curve_server_public=server_public,
                        curve_client_secret=client_secret) == 5
    assert _curve_trial(server_secret, authorized) == 0                               # no CURVE at all
    assert _curve_trial(server_secret, authorized, curve_server_public=server_public,
                        curve_client_secret=other_secret) == 0                        # key not authorized


def test_blocks_listing_describes_bridges() -> None:
    from semradio.cli.blocks import block_classes, describe_block

    names = {c.__name__ for c in block_classes()}
    assert {"ZMQSink", "ZMQSource", "IQFileSource", "IQFileSink", "SigMFSource", "SigMFSink"} <= names
    for cls in block_classes():
        if cls.__name__ in {"ZMQSink", "ZMQSource", "IQFileSource", "IQFileSink", "SigMFSource", "SigMFSink"}:
            assert "error" not in describe_block(cls)


# ------------------------------------------------------------- message-level fuzzing
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


class _Part:
    """Stands in for a received zmq.Frame (``.bytes``, ``.buffer``)."""

    def __init__(self, raw: bytes) -> None:
        self.bytes = raw
        self.buffer = memoryview(raw)


_values = st.one_of(st.integers(-(2**63), 2**64 - 1), st.floats(), st.text(max_size=4), st.none(), st.booleans(),
                    st.lists(st.integers(-3, 2**20), max_size=3), st.lists(st.integers(0, 5), min_size=1, max_size=3).map(tuple),
                    st.integers(0, 8).map(lambda n: np.arange(n, dtype=np.complex64)))
_tags = st.builds(grh.GrTag, st.integers(0, 300), st.sampled_from(["packet_len", "seq", "t_ns", "h", "h:shape", "x"]),
                  _values)


@st.composite
def _gr_messages(draw) -> bytes:
    kind = draw(st.sampled_from(["valid", "random", "mutated"]))
    if kind == "random":
        return draw(st.binary(max_size=120))
    offset = draw(st.integers(0, 300))
    raw = grh.encode_tag_header(offset, draw(st.lists(_tags, max_size=5))) + bytes(8 * draw(st.integers(0, 40)))
    if kind == "mutated":
        raw = bytearray(raw)
        for _ in range(draw(st.integers(1, 3))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        raw = bytes(raw[: draw(st.integers(0, len(raw)))])
    return raw


@settings(max_examples=300, deadline=None)
@given(st.lists(_gr_messages(), max_size=6), st.booleans())
def test_fuzz_gnuradio_source_messages_never_raise(messages: list[bytes], tagged: bool) -> None:
    src = ZMQSource("ipc:///tmp/semradio-unused", format="gnuradio", pass_tags=True, frame_len=8, batch=2,
                    packet_len_tag="packet_len" if tagged else None, max_packet_items=64)
    frames = []
    for raw in messages:
        src._on_gnuradio([_Part(raw)])  # no safety net: any exception fails the test
        while (f := src._next_frame()) is not None:
            frames.append(f)
    for frame in frames:
        assert frame.data.dtype == np.complex64 and type(frame.tags["seq"]) is int
        wire.encode_frame(frame)  # every produced frame can travel on the native wire
    assert "internal" not in src.stats["malformed_by_kind"]
