"""Finding 2: ZMQSink -> ZMQSource delivers every frame and the end of stream over ipc:// as over
tcp://, whichever side binds, with small or large queues and a slow consumer (2,000 frames)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from semradio.blocks import ArraySource, CollectSink, PassThrough, ZMQSink, ZMQSource
from semradio.runtime import Flowgraph

N = 2000
CONFIGS = list(itertools.product(("ipc", "tcp"), (2, 16), (True, False), (0.0, 0.001, 0.002)))


def _transfer(address: str, hwm: int, sink_binds: bool, delay_s: float) -> tuple[list[int], bool, dict]:
    data = np.arange(N, dtype=np.float32).reshape(N, 1)
    sink = ZMQSink(address, bind=sink_binds, hwm=hwm, policy="lossless", name="zsink")
    source = ZMQSource(address, bind=not sink_binds, hwm=hwm, dtype="float32", shape=(1,), name="zsource")
    col = CollectSink(name="col")
    rx = Flowgraph("rx")
    rx.connect(source, PassThrough(delay_s=delay_s, name="slow"), col)
    tx = Flowgraph("tx")
    tx.connect(ArraySource(data, batch=1, name="src"), sink)
    rx.start()
    tx.start()
    assert tx.wait(120), "the sender did not finish"
    ended = rx.wait(60)
    if not ended:
        rx.stop()
    return [f.tags["seq"] for f in col.frames], ended, sink.stats


@pytest.mark.slow
@pytest.mark.parametrize("transport, hwm, sink_binds, delay_s", CONFIGS,
                         ids=[f"{t}-hwm{h}-{'sink' if b else 'source'}binds-{d * 1e3:g}ms" for t, h, b, d in CONFIGS])
def test_every_frame_and_the_end_of_stream_arrive(endpoint, transport, hwm, sink_binds, delay_s) -> None:
    seqs, ended, stats = _transfer(endpoint(transport), hwm, sink_binds, delay_s)
    assert ended, f"end of stream never arrived ({len(seqs)} frames)"
    assert seqs == list(range(N))
    assert stats["drain_timeouts"] == 0


def test_a_sink_without_a_peer_does_not_wait(endpoint) -> None:
    """No receiver ever connected: the sink closes at once (nothing to hand over)."""
    import time

    tx = Flowgraph("tx")
    sink = ZMQSink(endpoint("ipc"), pattern="pub", name="zsink")
    tx.connect(ArraySource(np.zeros((3, 1), np.float32), name="src"), sink)
    t0 = time.monotonic()
    tx.run(timeout=30)
    assert time.monotonic() - t0 < 5 and sink.stats["peers"] == 0
