"""Finding 6: a silent peer is reported (``Flowgraph.stats()``, the scopes' monitor) and, when
asked, stops the graph; endpoints other hosts can reach need ``allow_remote``."""

from __future__ import annotations

import time

import numpy as np
import pytest

from semradio.blocks import CollectSink, ZMQSink, ZMQSource, ArraySource
from semradio.blocks.qtgui.monitor import block_rates
from semradio.blocks.zeromq.security import check_bind_endpoint, is_loopback_endpoint
from semradio.runtime import Flowgraph, FlowgraphError, wire, Frame


def _sender(addr: str, frames: int) -> Flowgraph:
    tx = Flowgraph("tx")
    tx.connect(ArraySource(np.zeros((frames, 2), np.float32), name="src"),
               ZMQSink(addr, bind=False, send_eos=False, drain_timeout_s=0, name="zsink"))
    return tx


def test_a_silent_peer_is_reported_as_stalled(endpoint) -> None:
    addr = endpoint()
    src = ZMQSource(addr, bind=True, dtype="float32", peer_timeout_s=0.3, name="zsrc")
    fg = Flowgraph("rx")
    fg.connect(src, CollectSink(name="col"))
    fg.start()
    try:
        assert fg.stats()["zsrc"]["status"]["peer"] == "waiting"
        _sender(addr, 3).run(timeout=30)  # sends 3 frames, no end of stream, then goes away
        time.sleep(0.8)
        status = fg.stats()["zsrc"]["status"]
        assert status["peer"] == "stalled" and status["silent_s"] >= 0.3 and status["stalled_since"] < time.time()
        (row,) = [r for r in block_rates(None, fg.stats(), 1.0) if r.block == "zsrc"]
        assert row.state.startswith("stalled")
    finally:
        fg.stop()


def test_fail_on_peer_loss_stops_the_graph_with_an_error_naming_the_block(endpoint) -> None:
    addr = endpoint()
    src = ZMQSource(addr, bind=True, dtype="float32", peer_timeout_s=0.3, fail_on_peer_loss=True, name="zsrc")
    fg = Flowgraph("rx")
    fg.connect(src, CollectSink(name="col"))
    fg.start()
    _sender(addr, 2).run(timeout=30)
    with pytest.raises(FlowgraphError, match="zsrc.*peer silent"):
        fg.wait(10)
    fg.stop()


@pytest.mark.parametrize("address, ok", [
    ("tcp://LOCALHOST:5555", True), ("tcp://127.0.0.1:*", True), ("tcp://[::1]:5", True), ("ipc:///tmp/x", True),
    ("inproc://x", True), ("TCP://localhost:1", True), ("tcp://lo:5555", True),
    ("tcp://*:5555", False), ("tcp://0.0.0.0:5555", False), ("tcp://eth0:5", False), ("tipc://{5560,0,0}", False),
    ("udp://127.0.0.1:5", False), ("ws://127.0.0.1:5", False), ("pgm://eth0;239.192.1.1:5555", False),
    ("vmci://1:5", False), ("nonsense://x", False), ("no-scheme", False),
])
def test_binding_needs_allow_remote_for_anything_other_hosts_can_reach(address: str, ok: bool) -> None:
    if ok:
        check_bind_endpoint(address, allow_remote=False)
        assert is_loopback_endpoint(address)
    else:
        with pytest.raises(ValueError):
            check_bind_endpoint(address, allow_remote=False)
