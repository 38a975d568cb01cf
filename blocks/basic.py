"""General-purpose blocks: array source, collecting/null sinks, throttle, pass-through."""

from __future__ import annotations

import threading
import time
from typing import Any, Sequence

import numpy as np

from semradio.runtime import WORK_DONE, Frame, SinkBlock, SourceBlock, SyncBlock


class ArraySource(SourceBlock):
    """Emits the rows of an array as frames of ``batch`` items, ``repeat`` times, then ends.

    Output ``out``: (B, *item) with the array's dtype; tags ``seq``, ``t_ns`` and ``tags``.

    Args:
        data: array of shape (N, *item); frames take consecutive slices of ``batch`` rows
            (the last one may be shorter).
        batch: items per frame.
        repeat: passes over the data (``-1``: forever).
        tags: extra tags put on every frame.
    """

    def __init__(self, data: Any, batch: int = 1, repeat: int = 1, tags: dict | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        arr = np.asarray(data)
        if arr.ndim < 1 or arr.shape[0] == 0:
            raise ValueError(f"ArraySource needs a non-empty array with a leading item axis, got shape {arr.shape}")
        if batch < 1:
            raise ValueError(f"batch must be >= 1, got {batch}")
        self.data = arr
        self.batch = int(batch)
        self.repeat = int(repeat)
        self.extra_tags = dict(tags or {})
        self.add_output("out", arr.dtype.name, arr.shape[1:])
        self._pos = 0
        self._pass = 0

    @classmethod
    def example(cls) -> "ArraySource":
        return cls(np.zeros((4, 16), np.float32), batch=2)

    def work(self) -> Frame | Any:
        if self._pos >= self.data.shape[0]:
            self._pass += 1
            self._pos = 0
            if self.repeat >= 0 and self._pass >= self.repeat:
                return WORK_DONE
        chunk = self.data[self._pos:self._pos + self.batch]
        self._pos += self.batch
        return self.make_frame(chunk, **self.extra_tags)


class CountingSource(SourceBlock):
    """Emits ``frames`` frames whose payload is a (batch, size) array filled with the frame's
    ``seq`` (cheap, checkable content for runtime tests and benchmarks).

    Args:
        frames: frames to emit (``-1``: forever).
        size: items per row; ``dtype``: payload dtype; ``batch``: rows per frame.
        reuse: send the same preallocated buffer each time (benchmarks: no allocation cost;
            the content then is not per-frame).
    """

    def __init__(self, frames: int = 10, size: int = 1, dtype: str = "float32", batch: int = 1,
                 reuse: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.frames = int(frames)
        self.size = int(size)
        self.dtype = np.dtype(dtype)
        self.batch = int(batch)
        self.reuse = bool(reuse)
        self._buf = np.zeros((self.batch, self.size), self.dtype)
        self.add_output("out", self.dtype.name, (self.size,))

    def work(self) -> Frame | Any:
        if self.frames >= 0 and self._seq >= self.frames:
            return WORK_DONE
        if self.reuse:
            return self.make_frame(self._buf)
        return self.make_frame(np.full((self.batch, self.size), self._seq, self.dtype))


class CollectSink(SinkBlock):
    """Keeps every frame it receives (tests, notebooks). Input ``in``: any.

    Attributes:
        frames: received frames in arrival order (thread-safe to read after ``wait()``).
    """

    def __init__(self, name: str | None = None, max_frames: int | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.frames: list[Frame] = []
        self.max_frames = max_frames
        self.lock = threading.Lock()

    def work(self, frame: Frame) -> None:
        with self.lock:
            self.frames.append(frame)
            if self.max_frames is not None and len(self.frames) > self.max_frames:
                del self.frames[0]

    @property
    def seqs(self) -> list[int]:
        """The ``seq`` tags received, in order."""
        with self.lock:
            return [f.tags.get("seq") for f in self.frames]


class NullSink(SinkBlock):
    """Discards frames (counts them; latency percentiles still appear in the stats)."""

    def __init__(self, name: str | None = None, n_inputs: int = 1) -> None:
        super().__init__(name)
        for i in range(n_inputs):
            self.add_input("in" if n_inputs == 1 else f"in{i}")

    def work(self, *frames: Frame) -> None:
        return None


class PassThrough(SyncBlock):
    """Forwards frames unchanged (a hop for benchmarks and tests); optional fixed delay."""

    def __init__(self, delay_s: float = 0.0, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.declare_param("delay_s", float(delay_s), "sleep per frame, seconds", float)

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        d = self.param("delay_s")
        if d > 0:
            time.sleep(d)
        return frame


class Throttle(SyncBlock):
    """Paces frames to ``rate`` frames/s (real-time pacing for file or array sources).

    Frame i leaves no earlier than ``t0 + i / rate``; a late frame leaves at once and the
    schedule does not try to catch up by bursting more than ``max_burst`` frames. ``rate`` is
    settable at run time (``{"rate": 30}`` on ``ctrl``).

    Ports: ``in`` -> ``out`` (any). Tags pass through; ``t_ns`` is restamped when
    ``restamp=True`` so latency downstream excludes the time spent waiting here.
    """

    def __init__(self, rate: float, max_burst: int = 2, restamp: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.declare_param("rate", float(rate), "frames per second", _positive)
        self.max_burst = int(max_burst)
        self.restamp = bool(restamp)
        self._next: float | None = None
        self._rate_used: float | None = None

    @classmethod
    def example(cls) -> "Throttle":
        return cls(30.0)

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        rate = self.param("rate")
        period = 1.0 / rate
        now = time.perf_counter()
        if self._next is None or rate != self._rate_used:
            self._next = now
            self._rate_used = rate
        if self._next > now:
            time.sleep(self._next - now)
        else:
            self._next = max(self._next, now - self.max_burst * period)
        self._next += period
        if self.restamp:
            return frame.replace(t_ns=time.time_ns())
        return frame


def _positive(x: Any) -> float:
    v = float(x)
    if not v > 0:
        raise ValueError(f"must be > 0, got {x!r}")
    return v


__all__: Sequence[str] = ["ArraySource", "CountingSource", "CollectSink", "NullSink", "PassThrough", "Throttle"]
