"""Flowgraph runtime: ordering, loss, drops, fan-out, alignment, EOS, errors, stop, messages."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from semradio.blocks import ArraySource, CollectSink, CountingSource, NullSink, PassThrough, Throttle
from semradio.runtime import WORK_DONE, Block, Flowgraph, FlowgraphError, Frame, SinkBlock, SourceBlock


class FailAt(Block):
    """Raises ValueError on the frame with seq == ``at``."""

    def __init__(self, at: int, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.at = at

    def work(self, frame: Frame) -> Frame:
        if frame.seq == self.at:
            raise ValueError("bad frame on purpose")
        return frame


class Adder(Block):
    """Two inputs aligned by seq; output a + b."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("a")
        self.add_input("b")
        self.add_output("out")
        self.pairs: list[tuple[int, int]] = []

    def work(self, a: Frame, b: Frame) -> Frame:
        self.pairs.append((a.seq, b.seq))
        return a.replace(a.data + b.data)


class SeqListSource(SourceBlock):
    """Emits frames whose seq are the given list (gaps allowed)."""

    def __init__(self, seqs: list[int], name: str | None = None) -> None:
        super().__init__(name)
        self.add_output("out", "float32", (1,))
        self.seqs = list(seqs)

    def work(self):
        if not self.seqs:
            return WORK_DONE
        s = self.seqs.pop(0)
        return Frame.new(np.full((1, 1), s, np.float32), s)


class SlowSink(SinkBlock):
    def __init__(self, delay_s: float, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.delay_s = delay_s
        self.seqs: list[int] = []

    def work(self, frame: Frame) -> None:
        time.sleep(self.delay_s)
        self.seqs.append(frame.seq)


class BlockingSink(SinkBlock):
    """Stalls in work() until released: its input queue fills up."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.release = threading.Event()

    def work(self, frame: Frame) -> None:
        self.release.wait(30)


@pytest.mark.parametrize("transport", ["inproc", "ipc", "tcp"])
def test_lossless_in_order_no_loss(transport):
    n = 500
    src = CountingSource(frames=n, size=16)
    hop = PassThrough()
    sink = CollectSink()
    fg = Flowgraph(hwm=4)
    fg.connect(src, hop, transport=transport)
    fg.connect(hop, sink, transport=transport)
    fg.run(timeout=60)
    assert sink.seqs == list(range(n))
    for f in sink.frames:
        assert np.all(f.data == f.seq)
    st = fg.stats()
    assert st[sink.name]["frames_in"] == n and st[src.name]["frames_out"] == n
    assert st[src.name]["drops"] == 0


def test_lossless_slow_consumer_backpressure_no_loss():
    src = CountingSource(frames=60)
    sink = SlowSink(0.002)
    fg = Flowgraph(hwm=1)
    fg.connect(src, sink)
    fg.run(timeout=60)
    assert sink.seqs == list(range(60))


def test_inproc_edge_passes_reference_not_copy():
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    src = ArraySource(data, batch=3)
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(src, PassThrough(), sink)
    fg.run(timeout=30)
    assert len(sink.frames) == 1
    assert np.shares_memory(sink.frames[0].data, data)


def test_realtime_edge_drops_are_counted():
    n = 300
    src = CountingSource(frames=n)
    sink = SlowSink(0.005)
    fg = Flowgraph()
    (edge,) = fg.connect(src, sink, policy="realtime", hwm=2)
    fg.run(timeout=60)
    got = len(sink.seqs)
    assert edge.dropped > 0, "a slow consumer behind a real-time edge must cause drops"
    assert got + edge.dropped == n, "every frame is either delivered or counted as dropped"
    assert sink.seqs == sorted(sink.seqs)
    assert fg.stats()[src.name]["drops"] == edge.dropped


def test_fan_out_every_branch_gets_every_frame_with_own_tags():
    class Tagger(PassThrough):
        def work(self, frame):
            frame.tags["mark"] = self.name  # in-place edit must not leak into the other branch
            return frame

    src = CountingSource(frames=50)
    a, b = Tagger(name="ta"), Tagger(name="tb")
    sa, sb = CollectSink(name="sa"), CollectSink(name="sb")
    fg = Flowgraph()
    fg.connect(src, a, sa)
    fg.connect(src, b, sb)
    fg.run(timeout=30)
    assert sa.seqs == list(range(50)) and sb.seqs == list(range(50))
    assert {f.tags["mark"] for f in sa.frames} == {"ta"}
    assert {f.tags["mark"] for f in sb.frames} == {"tb"}


def test_multi_input_aligns_by_seq_and_counts_stragglers():
    left = SeqListSource(list(range(20)))
    right = SeqListSource([s for s in range(20) if s % 4 != 1])  # seq 1, 5, 9, ... missing
    add = Adder()
    add.align_timeout_s = 0.2
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(left, (add, "a"))
    fg.connect(right, (add, "b"))
    fg.connect(add, sink)
    fg.run(timeout=30)
    expected = [s for s in range(20) if s % 4 != 1]
    assert sink.seqs == expected
    assert all(a == b for a, b in add.pairs)
    for f in sink.frames:
        assert f.data[0, 0] == 2 * f.seq
    drops = fg.stats()[add.name]["drops_by_reason"]
    assert drops.get("unaligned", 0) == 5


def test_eos_propagates_through_chain_and_wait_returns():
    src = CountingSource(frames=5)
    chain = [PassThrough() for _ in range(6)]
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(src, *chain, sink)
    fg.start()
    assert fg.wait(timeout=30)
    assert all(c["state"] == "done" for c in fg.stats().values())
    assert sink.seqs == list(range(5))


def test_block_exception_stops_graph_naming_block_and_seq():
    src = CountingSource(frames=-1)  # endless: only the error can end the run
    bad = FailAt(7, name="decoder")
    fg = Flowgraph()
    fg.connect(src, bad, NullSink())
    t0 = time.monotonic()
    with pytest.raises(FlowgraphError) as ei:
        fg.run(timeout=30)
    assert time.monotonic() - t0 < 10
    msg = str(ei.value)
    assert "'decoder'" in msg and "seq=7" in msg and "bad frame on purpose" in msg
    assert ei.value.errors[0].seq == 7


def test_source_exception_named_too():
    class Broken(SourceBlock):
        def __init__(self, name=None):
            super().__init__(name)
            self.add_output("out")

        def work(self):
            raise RuntimeError("device gone")

    fg = Flowgraph()
    fg.connect(Broken(name="sdr"), NullSink())
    with pytest.raises(FlowgraphError, match="'sdr'.*device gone"):
        fg.run(timeout=30)


@pytest.mark.parametrize("transport", ["inproc", "tcp"])
def test_stop_returns_quickly_with_blocked_sockets(transport):
    src = CountingSource(frames=-1, size=256)
    sink = BlockingSink()
    fg = Flowgraph(hwm=2)
    fg.connect(src, sink, transport=transport)
    fg.start()
    time.sleep(0.5)  # queue and (tcp) kernel buffers fill up: the source blocks
    before = fg.stats()[src.name]["frames_out"]
    time.sleep(0.2)
    assert fg.stats()[src.name]["frames_out"] == before, "the lossless edge must block the source"
    t0 = time.monotonic()
    fg.stop()
    assert time.monotonic() - t0 < 2.0
    sink.release.set()


def test_validate_names_both_ends():
    src = ArraySource(np.zeros((4, 8), np.float32), name="enc")

    class Needs(SinkBlock):
        def __init__(self, name=None):
            super().__init__(name)
            self.add_input("sym", "complex64", (8,))
            self.add_input("ref", "float32")

        def work(self, a, b):
            return None

    dst = Needs(name="chan")
    fg = Flowgraph()
    fg.connect(src, (dst, "sym"))
    with pytest.raises(ValueError) as ei:
        fg.validate()
    text = str(ei.value)
    assert "enc.out" in text and "chan.sym" in text and "float32 != complex64" in text
    assert "chan.ref" in text and "not connected" in text
    with pytest.raises(ValueError, match="no input port 'nope'"):
        fg.connect(src, (dst, "nope"))


def test_input_fed_twice_is_rejected():
    a, b = CountingSource(name="a"), CountingSource(name="b")
    s = NullSink(name="s")
    fg = Flowgraph()
    fg.connect(a, s)
    fg.connect(b, s)
    with pytest.raises(ValueError, match="fed twice"):
        fg.validate()


def test_runtime_params_and_ctrl_messages():
    src = CountingSource(frames=-1)
    thr = Throttle(rate=200.0)
    sink = NullSink()
    fg = Flowgraph()
    fg.connect(src, thr, sink)
    fg.start()
    try:
        fg.set_param(thr, "rate", 1000.0)
        deadline = time.monotonic() + 5
        while thr.param("rate") != 1000.0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert thr.param("rate") == 1000.0
        fg.post(thr, "ctrl", {"set_rate": -1})  # rejected by the converter: counted, not fatal
        fg.post(thr, "ctrl", "not a dict")
        time.sleep(0.3)
        st = fg.stats()[thr.name]
        assert st["state"] == "running"
        assert st["drops_by_reason"].get("bad_message") == 2
        assert thr.param("rate") == 1000.0
    finally:
        fg.stop()


def test_message_ports_route_between_blocks():
    class Knob(SourceBlock):
        def __init__(self, name=None):
            super().__init__(name)
            self.add_output("out")
            self.add_message_output("cmd")

        def work(self):
            if self._seq == 3:
                self.post_message("cmd", {"delay_s": 0.0005})
            if self._seq >= 10:
                return WORK_DONE
            return self.make_frame(np.zeros((1, 1)))

    knob = Knob()
    hop = PassThrough()
    fg = Flowgraph()
    fg.connect(knob, hop, NullSink())
    fg.msg_connect(knob, "cmd", hop, "ctrl")
    fg.run(timeout=30)
    assert hop.param("delay_s") == 0.0005


def test_throttle_paces_frames():
    n, rate = 20, 100.0
    src = CountingSource(frames=n)
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(src, Throttle(rate), sink)
    t0 = time.monotonic()
    fg.run(timeout=30)
    elapsed = time.monotonic() - t0
    assert len(sink.frames) == n
    assert elapsed >= (n - 1) / rate * 0.9
    gaps = np.diff([f.tags["t_ns"] for f in sink.frames])  # stamped by the source, paced by throttle
    assert gaps.size == n - 1


def test_sink_latency_percentiles_from_t_ns():
    src = CountingSource(frames=50)
    sink = SlowSink(0.001)
    fg = Flowgraph()
    fg.connect(src, PassThrough(delay_s=0.002), sink)
    fg.run(timeout=30)
    lat = fg.stats()[sink.name]["latency"]
    assert lat["p50_ms"] >= 2.0  # at least the pass-through delay
    assert lat["p99_ms"] >= lat["p50_ms"]


def test_stats_readable_while_running():
    src = CountingSource(frames=-1)
    sink = SlowSink(0.001)
    fg = Flowgraph(hwm=4)
    fg.connect(src, sink)
    with fg:
        fg.start()
        time.sleep(0.3)
        st = fg.stats()
        assert st[src.name]["state"] == "running"
        assert st[sink.name]["frames_in"] > 10
        assert 0 <= st[sink.name]["queue_depth"] <= 8
        assert "block" in fg.format_stats()


def test_tags_roundtrip_over_wire_edges():
    h = (np.arange(6) + 1j * np.arange(6)).astype(np.complex64).reshape(2, 3)
    src = ArraySource(np.ones((2, 3), np.complex64), batch=2,
                      tags={"h": h, "snr_db": 7.5, "channel": "rayleigh", "nested": {"a": [1, 2]}})
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(src, sink, transport="ipc")
    fg.run(timeout=30)
    (f,) = sink.frames
    assert f.tags["h"].dtype == np.complex64 and np.array_equal(f.tags["h"], h)
    assert f.tags["snr_db"] == 7.5 and f.tags["channel"] == "rayleigh" and f.tags["nested"] == {"a": [1, 2]}
    assert f.data.dtype == np.complex64 and f.data.shape == (2, 3)


def test_a_flowgraph_runs_once():
    fg = Flowgraph()
    fg.connect(CountingSource(frames=1), NullSink())
    fg.run(timeout=10)
    with pytest.raises(RuntimeError, match="runs once"):
        fg.start()


def test_torch_payload_passes_by_reference_inproc_and_rebuilt_over_wire():
    torch = pytest.importorskip("torch")
    t = torch.arange(8, dtype=torch.float32).reshape(2, 4)
    a, b = CollectSink(name="a_inproc"), CollectSink(name="b_wire")
    fg = Flowgraph()

    class TorchSource(SourceBlock):
        def __init__(self, name=None):
            super().__init__(name)
            self.add_output("out", "float32", (4,))
            self.done = False

        def work(self):
            if self.done:
                return WORK_DONE
            self.done = True
            return self.make_frame(t)

    ts = TorchSource()
    fg.connect(ts, a)
    fg.connect(ts, b, transport="ipc")
    fg.run(timeout=30)
    assert a.frames[0].data is t
    got = b.frames[0].data
    assert isinstance(got, torch.Tensor) and torch.equal(got, t)


def test_cuda_tensor_stays_on_gpu_between_blocks():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine")
    t = torch.randn(4, 1024, device="cuda")

    class CudaSource(SourceBlock):
        def __init__(self, name=None):
            super().__init__(name)
            self.add_output("out", "float32", (1024,), domain="cuda")
            self.n = 0

        def work(self):
            if self.n == 3:
                return WORK_DONE
            self.n += 1
            return self.make_frame(t)

    class Double(Block):
        def __init__(self, name=None):
            super().__init__(name)
            self.add_input("in", "float32", (1024,), domain="cuda")
            self.add_output("out", "float32", (1024,), domain="cuda")

        def work(self, f):
            return f.replace(f.data * 2)

    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(CudaSource(), Double(), sink)
    fg.run(timeout=60)
    assert all(f.data.is_cuda for f in sink.frames)
    assert torch.equal(sink.frames[0].data, t * 2)


def test_unconnected_optional_input_gets_none():
    class MaybeTwo(Block):
        def __init__(self, name=None):
            super().__init__(name)
            self.add_input("a")
            self.add_input("b", optional=True)
            self.add_output("out")
            self.seen_b: list = []

        def work(self, a, b):
            self.seen_b.append(b)
            return a

    blk = MaybeTwo()
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(CountingSource(frames=3), blk, sink)
    fg.run(timeout=30)
    assert blk.seen_b == [None, None, None] and sink.seqs == [0, 1, 2]


def test_blocks_count_drops_into_the_stats_and_see_the_stop_event():
    class Picky(Block):
        def __init__(self, name=None):
            super().__init__(name)
            self.add_input("in")
            self.add_output("out")
            self.saw_event = None

        def work(self, frame):
            self.saw_event = self.stop_event
            self.stopping_during_work = self.stop_requested
            if frame.seq % 2:
                self.count_drop("odd_seq")
                return None
            return frame

    blk = Picky()
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(CountingSource(frames=10), blk, sink)
    fg.run(timeout=30)
    assert sink.seqs == [0, 2, 4, 6, 8]
    st = fg.stats()[blk.name]
    assert st["drops_by_reason"] == {"odd_seq": 5} and st["drops"] == 5
    assert blk.saw_event is not None and blk.stopping_during_work is False
    assert blk.stop_requested  # run() stops the graph at the end


class _SleepBlock(Block):
    """Pass-through that works ``seconds`` per frame (a block with a known cost)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.add_input("in")
        self.add_output("out")

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        time.sleep(self.seconds)
        return frame


def test_per_block_work_and_frame_age_in_the_stats():
    """Each block reports its work per call and the frame's age when its work starts (p50/p99),
    so the latency of a chain can be split into work and hops."""
    src = CountingSource(frames=20)
    slow = _SleepBlock(0.01)
    sink = NullSink()
    fg = Flowgraph()
    fg.connect(src, slow)
    fg.connect(slow, sink)
    fg.run(timeout=30)
    st = fg.stats()
    work = st[slow.name]["work_per_call"]
    assert 9.0 <= work["p50_ms"] <= work["p99_ms"]
    age_slow, age_sink = st[slow.name]["entry_age"], st[sink.name]["entry_age"]
    assert age_sink["p50_ms"] >= age_slow["p50_ms"] + 9.0         # the sink sees the frame after the work
    assert st[sink.name]["latency"]["p50_ms"] >= age_sink["p50_ms"]
