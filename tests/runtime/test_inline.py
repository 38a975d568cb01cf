"""Inline blocks (operator fusion): cheap single-input blocks run on their producer's thread."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from semradio.blocks import CollectSink, CountingSource, NullSink, PassThrough
from semradio.runtime import WORK_DONE, Block, Flowgraph, FlowgraphError, Frame, SinkBlock, SourceBlock


class Recorder(Block):
    """An inline 1-in/1-out block that notes the thread of every call and its lifecycle."""

    def __init__(self, fail_at: int | None = None, done_at: int | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.declare_param("gain", 1.0, "multiplies the data", float)
        self.inline = True
        self.fail_at, self.done_at = fail_at, done_at
        self.threads: set[str] = set()
        self.events: list[str] = []
        self.gains: list[float] = []

    def start(self) -> None:
        self.events.append("start")

    def stop(self) -> None:
        self.events.append("stop")

    def work(self, frame: Frame):
        self.threads.add(threading.current_thread().name)
        if frame.seq == self.fail_at:
            raise ValueError("bad frame on purpose")
        if frame.seq == self.done_at:
            return WORK_DONE
        g = self.param("gain")
        self.gains.append(g)
        return frame.replace(frame.data * g)


class GatedSource(SourceBlock):
    """Emits ``frames`` frames; waits for ``gate`` before frame ``pause_at``."""

    def __init__(self, frames: int, pause_at: int, name: str | None = None) -> None:
        super().__init__(name)
        self.add_output("out", "float32", (1,))
        self.frames, self.pause_at = frames, pause_at
        self.gate = threading.Event()
        self.paused = threading.Event()

    def work(self):
        if self._seq >= self.frames:
            return WORK_DONE
        if self._seq == self.pause_at:
            self.paused.set()
            self.gate.wait(30)
        return self.make_frame(np.ones((1, 1), np.float32))


class TagScribbler(SinkBlock):
    """An inline sink that (against the rules) edits the tags of the frame it was given."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.inline = True

    def work(self, frame: Frame) -> None:
        frame.tags["scribbled"] = True


def test_a_chain_of_inline_blocks_runs_on_the_source_thread_in_order():
    n = 200
    src = CountingSource(frames=n, size=4)
    hops = [PassThrough() for _ in range(3)]
    rec = Recorder()
    sink = CollectSink()
    fg = Flowgraph(hwm=2)
    fg.connect(src, *hops, rec, sink)
    fg.run(timeout=30)
    assert sink.seqs == list(range(n))
    assert rec.threads == {f"semradio:{src.name}"}, "inline blocks run on the thread of their first threaded producer"
    assert rec.events == ["start", "stop"]
    st = fg.stats()
    assert [st[h.name]["inline_in"] for h in hops] == [src.name, hops[0].name, hops[1].name]
    assert st[rec.name]["inline_in"] == hops[2].name and "inline_in" not in st[sink.name]
    for b in (*hops, rec):
        assert st[b.name]["state"] == "done"
        assert st[b.name]["frames_in"] == st[b.name]["frames_out"] == st[b.name]["work_calls"] == n
    for e in fg.edges:
        assert e.sent == e.received == n and e.dropped == 0


def test_fuse_false_and_delays_keep_a_thread_per_block():
    src, hop, slow, sink = CountingSource(frames=20), PassThrough(), PassThrough(delay_s=0.001), NullSink()
    assert hop.inline and not slow.inline and sink.inline and not NullSink(n_inputs=2).inline
    fg = Flowgraph(fuse=False)
    fg.connect(src, hop, slow, sink)
    fg.run(timeout=30)
    assert all("inline_in" not in c for c in fg.stats().values())
    fg = Flowgraph()
    fg.connect(CountingSource(frames=20), hop2 := PassThrough(), slow2 := PassThrough(delay_s=0.001), sink2 := NullSink())
    fg.run(timeout=30)
    st = fg.stats()
    assert "inline_in" in st[hop2.name] and "inline_in" not in st[slow2.name]
    assert st[sink2.name]["inline_in"] == slow2.name and st[sink2.name]["frames_in"] == 20


def test_an_inline_block_failure_names_that_block_and_stops_the_graph():
    src, rec, sink = CountingSource(frames=50), Recorder(fail_at=7), CollectSink()
    fg = Flowgraph()
    fg.connect(src, rec, sink)
    with pytest.raises(FlowgraphError) as info:
        fg.run(timeout=30)
    errors = info.value.errors
    assert [(e.block, e.seq, e.exc_type) for e in errors] == [(rec.name, 7, "ValueError")]
    st = fg.stats()
    assert st[rec.name]["state"] == "failed" and st[src.name]["state"] != "failed"
    assert sink.seqs == list(range(len(sink.seqs))) and len(sink.seqs) <= 7  # the stop may leave some queued
    assert rec.events == ["start", "stop"], "a failed inline block is still stopped"


def test_an_inline_block_that_ends_passes_end_of_stream_and_counts_later_frames():
    src, rec, sink = CountingSource(frames=30), Recorder(done_at=10), CollectSink()
    fg = Flowgraph()
    (e_in,) = fg.connect(src, rec)
    fg.connect(rec, sink)
    fg.run(timeout=30)
    assert sink.seqs == list(range(10))
    assert fg.stats()[rec.name]["state"] == "done" and fg.stats()[sink.name]["state"] == "done"
    assert e_in.sent == 11 and e_in.dropped == 19, "frames sent after the block ended are counted, not lost"


def test_parameters_set_while_running_reach_an_inline_block_before_its_next_frame():
    src, rec, sink = GatedSource(frames=10, pause_at=5), Recorder(), CollectSink()
    fg = Flowgraph()
    fg.connect(src, rec, sink)
    fg.start()
    assert src.paused.wait(10)
    fg.set_param(rec, "gain", 3.0)
    src.gate.set()
    fg.wait(30)
    assert rec.gains == [1.0] * 5 + [3.0] * 5
    assert [float(f.data[0, 0]) for f in sink.frames] == [1.0] * 5 + [3.0] * 5


def test_fan_out_copies_the_tags_before_an_inline_branch_runs():
    src, scribbler, sink = CountingSource(frames=5), TagScribbler(), CollectSink()
    fg = Flowgraph()
    fg.connect(src, scribbler)
    fg.connect(src, sink)
    fg.run(timeout=30)
    assert sink.seqs == list(range(5))
    assert not any("scribbled" in f.tags for f in sink.frames)


def test_a_cycle_of_inline_blocks_keeps_its_threads():
    a, b = Recorder(name="a"), Recorder(name="b")
    fg = Flowgraph()
    fg.connect(a, b)
    fg.connect(b, a)
    tail = PassThrough(name="tail")
    fg.connect(a, tail)
    local = {n: None for n in fg.blocks}
    fused = fg._inline_edges(local)  # type: ignore[arg-type]
    assert [e.dst.name for e in fg.edges if e.id in fused] == ["tail"], "only the block fed by a threaded one fuses"


def test_an_edge_to_a_worker_process_is_never_inline():
    src, hop, sink = CountingSource(frames=5), PassThrough(), CollectSink()
    fg = Flowgraph()
    fg.connect(src, hop, sink)
    fg.add(src, placement="process")
    local = {n: None for n in fg.blocks if fg.placements[n] == "thread"}
    fused = fg._inline_edges(local)  # type: ignore[arg-type]
    assert [e.dst.name for e in fg.edges if e.id in fused] == [], "hop is fed from another process"


class FailingStartSource(SourceBlock):
    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_output("out")

    def start(self) -> None:
        raise RuntimeError("no device")

    def work(self):
        return WORK_DONE


def test_an_inline_block_whose_host_cannot_start_is_never_stopped_either():
    src, rec = FailingStartSource(), Recorder()
    fg = Flowgraph()
    fg.connect(src, rec, NullSink())
    with pytest.raises(FlowgraphError, match="no device"):
        fg.run(timeout=30)
    assert rec.events == [] and fg.stats()[rec.name]["state"] == "created", "never started, never stopped"


def test_an_inline_block_that_cannot_start_is_reported():
    class BadStart(Recorder):
        def start(self) -> None:
            raise OSError("cannot open")

    src, bad = CountingSource(frames=5), BadStart()
    fg = Flowgraph()
    fg.connect(src, bad, NullSink())
    with pytest.raises(FlowgraphError) as info:
        fg.run(timeout=30)
    assert [(e.block, e.exc_type) for e in info.value.errors] == [(bad.name, "OSError")]


def test_a_realtime_edge_keeps_its_queue_and_drops_instead_of_holding_up_the_producer():
    src, hop, slow = CountingSource(frames=200), PassThrough(), PassThrough(delay_s=0.002)
    fg = Flowgraph()
    (rt,) = fg.connect(src, hop, policy="realtime", hwm=2)
    fg.connect(hop, slow, NullSink())
    fg.run(timeout=60)
    assert "inline_in" not in fg.stats()[hop.name], "a real-time edge is never fused"
    assert rt.dropped > 0 and rt.sent + rt.dropped == 200


def test_a_delay_set_before_the_start_keeps_the_pass_through_on_its_own_thread():
    src, hop = CountingSource(frames=5), PassThrough()
    hop.set_param("delay_s", 0.001)  # as a graph file's params do, after construction
    fg = Flowgraph()
    fg.connect(src, hop, NullSink())
    fg.run(timeout=30)
    assert "inline_in" not in fg.stats()[hop.name]


def test_messages_reach_an_idle_inline_block_through_its_host_loop():
    src, rec = GatedSource(frames=3, pause_at=10**6), Recorder()
    src.frames = 10**6  # never ends by itself; it idles in its own loop (returns None)
    src.work = lambda: None  # type: ignore[method-assign]
    fg = Flowgraph()
    fg.connect(src, rec, NullSink())
    fg.start()
    try:
        fg.set_param(rec, "gain", 5.0)
        for _ in range(200):
            if rec.param("gain") == 5.0:
                break
            threading.Event().wait(0.01)
        assert rec.param("gain") == 5.0, "delivered without a frame"
    finally:
        fg.stop()


class StuckSource(SourceBlock):
    """Its third frame takes ``hold_s``."""

    def __init__(self, hold_s: float, name: str | None = None) -> None:
        super().__init__(name)
        self.add_output("out")
        self.hold_s = hold_s

    def work(self):
        if self._seq == 2:
            threading.Event().wait(self.hold_s)
        if self._seq >= 4:
            return WORK_DONE
        return self.make_frame(np.zeros((1, 1), np.float32))


@pytest.mark.parametrize("fuse", [True, False])
def test_stopping_while_the_host_is_busy_leaves_its_inline_blocks_alone(fuse):
    src, hop, sink = StuckSource(1.0), PassThrough(), CollectSink()
    fg = Flowgraph(fuse=fuse)
    fg.connect(src, hop)
    fg.connect(hop, sink)
    fg.start()
    threading.Event().wait(0.2)
    fg.stop(timeout=0.2)
    threading.Event().wait(1.2)  # the host wakes up and sends through the inline block's sender
    assert fg.errors() == [], "an inline block's sockets stay open while its host runs"
