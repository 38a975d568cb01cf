"""Malformed messages sent by a foreign peer into a running flowgraph's wire edge are counted
and dropped; the receiving block keeps running and valid frames still arrive."""

from __future__ import annotations

import time

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from semradio.blocks import CollectSink, CountingSource, Throttle
from semradio.runtime import Flowgraph, Frame, wire


def _valid_parts(seq: int) -> list[bytes]:
    return [bytes(p) for p in wire.encode_frame(Frame(np.full((1, 4), seq, np.float32), {"seq": seq}))]


def _garbage() -> st.SearchStrategy[list[bytes]]:
    good = _valid_parts(1)
    header = msgpack.unpackb(good[0])
    bad_headers = st.one_of(
        st.just({**header, "v": 99}),
        st.just({**header, "dt": "object"}),
        st.just({**header, "sh": [2**40, 2**40]}),
        st.just({**header, "sh": [-1, 4]}),
        st.just({**header, "sh": [1, 5]}),          # size mismatch with the payload
        st.just({k: v for k, v in header.items() if k != "dt"}),
        st.just({**header, "tags": {"h": msgpack.ExtType(1, b"\x00\x01")}}),
    )
    return st.one_of(
        st.lists(st.binary(min_size=0, max_size=64), min_size=1, max_size=3).filter(
            lambda ps: not ps[0].startswith(good[0][:4])),
        bad_headers.map(lambda h: [msgpack.packb(h, use_bin_type=True), good[1]]),
        st.integers(1, len(good[1]) - 1).map(lambda n: [good[0], good[1][:n]]),   # truncated payload
        st.just([good[0]]),                                                        # missing payload
        st.just([good[0], good[1], b"extra"]),                                     # extra part
        st.integers(0, len(good[0]) - 1).map(
            lambda i: [good[0][:i] + bytes([good[0][i] ^ 0xFF]) + good[0][i + 1:], good[1]]).filter(
            lambda ps: _is_invalid(ps)),
    )


def _is_invalid(parts: list[bytes]) -> bool:
    try:
        wire.decode_message(parts)
    except wire.WireError:
        return True
    return False


@pytest.fixture(scope="module")
def live_graph():
    src = CountingSource(frames=-1, size=4)
    thr = Throttle(rate=200.0)
    sink = CollectSink(max_frames=1000)
    fg = Flowgraph()
    fg.connect(src, thr)
    (edge,) = fg.connect(thr, sink, transport="tcp")
    fg.start()
    ctx = zmq.Context()
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.LINGER, 0)
    push.connect(edge.endpoint)
    state = {"sent": 0}
    yield fg, edge, sink, push, state
    push.close()
    ctx.term()
    fg.stop()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=_garbage())
def test_garbage_is_counted_and_dropped(live_graph, parts):
    fg, edge, sink, push, state = live_graph
    push.send_multipart(parts)
    state["sent"] += 1


def test_graph_survived_and_counted_every_malformed_message(live_graph):
    fg, edge, sink, push, state = live_graph
    assert state["sent"] > 0, "run after the fuzz test (same module)"
    deadline = time.monotonic() + 10
    while edge.malformed < state["sent"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert edge.malformed == state["sent"]
    st_ = fg.stats()[sink.name]
    assert st_["state"] == "running"
    assert sum(v for k, v in st_["drops_by_reason"].items() if k.startswith("malformed:")) == state["sent"]
    n0 = len(sink.seqs)
    time.sleep(0.3)
    assert len(sink.seqs) > n0, "valid frames keep arriving"
    # a valid frame from the foreign peer is accepted too
    push.send_multipart(_valid_parts(10**9))
    deadline = time.monotonic() + 5
    while 10**9 not in sink.seqs and time.monotonic() < deadline:
        time.sleep(0.02)
    assert 10**9 in sink.seqs
