"""Flow control: a pass-through hop and a real-time throttle."""

from __future__ import annotations

import time
from typing import Any

from semradio.runtime import Frame, SyncBlock


class PassThrough(SyncBlock):
    """Forwards frames unchanged (a hop for benchmarks and tests); optional fixed delay.

    Parameters
    ----------
    delay_s : float, default 0.0
        Sleep per frame, in seconds. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Notes
    -----
    **Inputs**

    ``in`` : any

    **Outputs**

    ``out`` : any
        The input frame, unchanged (tags pass through).

    **Run-time parameters**

    ``delay_s``.

    Examples
    --------
    >>> from semradio.blocks import PassThrough
    >>> PassThrough(delay_s=0.01).param("delay_s")
    0.01
    """

    def __init__(self, delay_s: float = 0.0, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.declare_param("delay_s", float(delay_s), "sleep per frame, seconds", float)

    @property
    def inline(self) -> bool:  # type: ignore[override]
        """Without a delay when the flowgraph starts it is the cheapest block there is, so it runs
        on its producer's thread (a delay set later sleeps there, delaying the stream all the
        same)."""
        return self.param("delay_s") == 0.0

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        d = self.param("delay_s")
        if d > 0:
            time.sleep(d)
        return frame


class Throttle(SyncBlock):
    """Paces frames to ``rate`` frames/s (real-time pacing for file or array sources).

    Frame i leaves no earlier than ``t0 + i / rate``; a late frame leaves at once and the
    schedule does not try to catch up by bursting more than ``max_burst`` frames.

    Parameters
    ----------
    rate : float
        Frames per second (> 0). Settable at run time (``{"rate": 30}`` on ``ctrl``).
    max_burst : int, default 2
        Most frames sent back to back to catch up after a late frame.
    restamp : bool, default False
        Restamp ``t_ns`` so that latency downstream excludes the time spent waiting here.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    slept_s : float
        Seconds slept pacing the stream (left out of the block's ``work_ms``).

    Notes
    -----
    **Inputs**

    ``in`` : any

    **Outputs**

    ``out`` : any
        The input frame, paced.

    **Tags written**

    - ``t_ns`` (restamped, only with ``restamp=True``). Other tags pass through.

    **Run-time parameters**

    ``rate``.

    Examples
    --------
    >>> from semradio.blocks import Throttle
    >>> Throttle(30.0).param("rate")                 # 30 frames/s
    30.0
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
        #: seconds slept pacing the stream (left out of the block's ``work_ms``)
        self.slept_s = 0.0

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
            self.slept_s += time.perf_counter() - now
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


__all__ = ["PassThrough", "Throttle"]
