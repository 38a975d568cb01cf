"""Blocks placed in worker processes: ipc edges, errors, control messages, counters, stop."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest

from semradio.blocks import CollectSink, CountingSource, NullSink, PassThrough
from semradio.runtime import Block, Flowgraph, FlowgraphError, Frame


class ScaleAndMark(Block):
    """out = gain * in; tags the frame with the worker's pid; raises on seq == fail_at."""

    def __init__(self, gain: float = 1.0, fail_at: int = -1, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.declare_param("gain", float(gain), "multiplier", float)
        self.fail_at = fail_at

    def work(self, frame: Frame) -> Frame:
        if frame.seq == self.fail_at:
            raise ArithmeticError("worker-side failure")
        return frame.replace(frame.data * self.param("gain"), pid=os.getpid())


def test_block_in_worker_process_moves_frames_over_ipc():
    src = CountingSource(frames=200, size=8)
    mid = ScaleAndMark(gain=3.0, name="scaler")
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(src, mid, sink)
    fg.add(mid, placement="process")
    fg.run(timeout=120)
    assert sink.seqs == list(range(200))
    pids = {f.tags["pid"] for f in sink.frames}
    assert len(pids) == 1 and pids != {os.getpid()}
    for f in sink.frames:
        np.testing.assert_array_equal(f.data, np.full((1, 8), 3.0 * f.seq, np.float32))
    st = fg.stats()["scaler"]
    assert st["placement"] == "process" and st["frames_in"] == 200 and st["frames_out"] == 200
    assert all(e["transport"] == "ipc" for e in fg.edge_stats().values())


def test_worker_chain_of_two_processes_and_source_in_process():
    src = CountingSource(frames=50, size=4, name="src_p")
    a = ScaleAndMark(gain=2.0, name="a")
    b = PassThrough(name="b")
    sink = CollectSink()
    fg = Flowgraph()
    fg.connect(src, a, b, sink)
    for blk in (src, a, b):
        fg.add(blk, placement="process")
    fg.run(timeout=120)
    assert sink.seqs == list(range(50))
    assert sink.frames[7].data[0, 0] == 14.0


def test_worker_error_names_block_and_seq():
    src = CountingSource(frames=-1)
    bad = ScaleAndMark(fail_at=11, name="remote_decoder")
    fg = Flowgraph()
    fg.connect(src, bad, NullSink())
    fg.add(bad, placement="process")
    with pytest.raises(FlowgraphError) as ei:
        fg.run(timeout=120)
    msg = str(ei.value)
    assert "'remote_decoder'" in msg and "seq=11" in msg and "worker-side failure" in msg


def test_ctrl_message_reaches_worker_and_counters_update():
    src = CountingSource(frames=-1, size=2)
    mid = ScaleAndMark(gain=1.0, name="g")
    sink = CollectSink(max_frames=5)
    fg = Flowgraph(hwm=2)
    fg.connect(src, mid, sink)
    fg.add(mid, placement="process")
    fg.start()
    try:
        fg.set_param("g", "gain", -2.0)
        deadline = time.monotonic() + 20
        ok = False
        while time.monotonic() < deadline:
            with sink.lock:
                last = sink.frames[-1] if sink.frames else None
            if last is not None and last.seq > 0 and last.data[0, 0] == -2.0 * last.seq:
                ok = True
                break
            time.sleep(0.02)
        assert ok, "the gain set through ctrl must take effect in the worker"
        while fg.stats()["g"].get("frames_in", 0) == 0 and time.monotonic() < deadline:
            time.sleep(0.02)  # counters arrive from the worker every 100 ms
        st = fg.stats()["g"]
        assert st["frames_in"] > 0 and st["pid"] != os.getpid()
    finally:
        t0 = time.monotonic()
        fg.stop()
        assert time.monotonic() - t0 < 2.5


def test_unserializable_constructor_args_give_clear_error():
    class Local(PassThrough):
        pass

    fg = Flowgraph()
    blk = Local()
    fg.connect(CountingSource(frames=1), blk, NullSink())
    fg.add(blk, placement="process")
    with pytest.raises(ValueError, match="defined inside a function"):
        fg.start()
