"""The scope block base: a sink that keeps only the latest data, under a lock, for a GUI.

Scopes never slow a flowgraph:

* they are sinks fed through real-time (dropping) edges (``fg.connect(..., policy="realtime",
  hwm=2)``, see :func:`connect_scope`): a producer never waits for a scope;
* a scope accepts at most ``max_rate_hz`` frames per second (default 10, the GUI's redraw
  rate; GNU Radio's Qt sinks also update every 0.1 s by default): after storing a frame its
  thread sleeps out the rest of the period,
  its input queues fill and the producers drop the frames meanwhile (a failed non-blocking
  send, counted as a drop of the real-time edge). So a scope costs the flowgraph about 10
  frame hand-overs per second whatever the frame rate, instead of one per frame — what
  matters under the GIL. A multi-input scope then consumes every frame from waking up until
  one ``seq`` is complete on all its inputs (the pipeline's lag between them), and sleeps again;
* ``work()`` only stores references to the newest frame (no copies, no drawing) and bumps a
  version counter; the Qt side redraws from :meth:`ScopeBlock.latest` on its own timer at a
  bounded rate, and does everything expensive (host copies, decimation, histograms, image
  tiling) there, at most once per redraw.

Bad input (a wrong dtype, shape or container) is counted by reason and dropped, never raised:
a scope cannot stop the flowgraph. :attr:`ScopeBlock.rejected` holds the counts.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from semradio.runtime import WORK_DONE, Block, Frame, SinkBlock
from semradio.runtime.stats import DropCounter

log = logging.getLogger("semradio")

#: Queue bound of the real-time edges that feed scopes (frames).
SCOPE_HWM = 2


class ScopeInputError(ValueError):
    """Raised by a scope's checks; :meth:`ScopeBlock.work` counts it and drops the frame."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class ScopeBlock(SinkBlock):
    """Base of the scope sinks: thread-safe "latest data" store with a version counter.

    Subclasses implement :meth:`accept` (called by ``work`` on the block's thread with the
    frames of one ``seq``, ``None`` for unconnected optional inputs) and return the dict to
    store, or raise :class:`ScopeInputError` to drop the frames. After storing a frame,
    ``work`` sleeps out the rest of the period ``1 / max_rate_hz`` (see the module docstring).

    Parameters
    ----------
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).
    max_rate_hz : float, optional
        Frames accepted per second at most (None: the class's :attr:`default_max_rate_hz`, 10;
        ``inf``: every frame — only for tests and slow graphs). Settable at run time.

    Attributes
    ----------
    frames : int
        Frames (aligned sets) received by ``work``.
    accepted : int
        Frames stored (``frames`` minus the rejected ones).
    version : int
        Incremented at every stored frame; the GUI redraws only when it changes.
    rejected : DropCounter
        Rejected frames by reason (``dtype``, ``shape``, ...).
    t_start : float or None
        ``time.monotonic()`` of the first stored frame (None before).
    slept_s : float
        Time spent waiting out the rate limit inside ``work()`` (the runtime leaves it out of
        the block's ``work_ms``).

    Raises
    ------
    ValueError
        At construction or when set, for ``max_rate_hz <= 0``. Bad input never raises:
        ``work()`` counts a :class:`ScopeInputError` (or any other error of :meth:`accept`) in
        :attr:`rejected` and drops the frames.

    Notes
    -----
    **Inputs**

    Those the subclass adds; a scope is fed through real-time edges (:func:`connect_scope`).

    **Outputs**

    None (a sink).

    **Tags read**

    Those the subclass's :meth:`accept` reads.

    **Tags written**

    None.

    **Run-time parameters**

    ``max_rate_hz`` (and the subclass's).

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Frame
    >>> from semradio.blocks.qtgui import ScopeBlock, ScopeInputError
    >>> class LastRows(ScopeBlock):
    ...     def __init__(self, **kw):
    ...         super().__init__(**kw)
    ...         self.add_input("in")
    ...     def accept(self, frame):
    ...         if frame.data.ndim != 2:
    ...             raise ScopeInputError("shape", f"want (B, n), got {frame.data.shape}")
    ...         return {"data": frame.data}
    >>> scope = LastRows(max_rate_hz=float("inf"))
    >>> scope.work(Frame.new(np.zeros((2, 4)), seq=0)), scope.work(Frame.new(np.zeros(3), seq=1))
    (None, None)
    >>> scope.latest()[0], scope.counters()
    (1, {'frames': 2, 'accepted': 1, 'rejected': {'shape': 1}})
    """

    #: Stop waiting for a partner frame after this long: a scope's inputs are real-time
    #: edges, a frame dropped on one of them leaves its partners unmatched.
    #: It must exceed the pipeline's lag between the inputs: a saturated chain with lossless
    #: edges queues many seconds of frames between a source and a slow denoiser's decoder.
    scope_align_timeout_s = 60.0
    #: Incomplete ``seq`` kept while waiting for partners: must exceed that lag in frames
    #: (frames are references: cheap to hold).
    scope_align_depth = 128
    #: Default of the ``max_rate_hz`` parameter.
    default_max_rate_hz = 10.0
    #: Which view draws the scope (``constellation``, ``time``, ``image``, ``metric``).
    scope_kind = "scope"

    def __init__(self, name: str | None = None, max_rate_hz: float | None = None) -> None:
        super().__init__(name)
        self.align_timeout_s = self.scope_align_timeout_s
        self.align_depth = self.scope_align_depth
        self.declare_param("max_rate_hz", self.default_max_rate_hz if max_rate_hz is None else max_rate_hz,
                           "frames accepted per second at most (the rest are dropped upstream)", _positive_rate)
        self._lock = threading.Lock()
        self._latest: dict[str, Any] = {}
        self.frames = 0
        self.accepted = 0
        self.version = 0
        self.rejected = DropCounter(self.name)
        self.t_start: float | None = None
        self.slept_s = 0.0

    # --------------------------------------------------------------- block side
    def work(self, *frames: Frame | None) -> Any:  # type: ignore[override]
        if not frames:  # no input connected: the runtime runs the block as a source
            return WORK_DONE
        if all(f is None for f in frames):
            return None
        t0 = time.monotonic()
        self.frames += 1
        try:
            item = self.accept(*frames)
        except ScopeInputError as exc:
            self.rejected.add(exc.reason, detail=exc.detail)
            return None
        except Exception as exc:  # noqa: BLE001 - a scope never stops the flowgraph
            self.rejected.add(f"error:{type(exc).__name__}", detail=str(exc))
            return None
        if item is None:
            return None
        now = time.monotonic()
        with self._lock:
            self._latest = item
            self.accepted += 1
            self.version += 1
            if self.t_start is None:
                self.t_start = now
        rate = self.param("max_rate_hz")
        if rate != math.inf:
            # sleep out the period: meanwhile the real-time edges drop (cheaply, upstream)
            wait = t0 + 1.0 / rate - time.monotonic()
            if wait > 0:
                time.sleep(wait)
                self.slept_s += wait
        return None

    def accept(self, *frames: Frame | None) -> dict[str, Any] | None:
        """Check the frames of one ``seq`` and return what to store (references, not copies).

        Raises:
            ScopeInputError: the frames are dropped and counted under its ``reason``.
        """
        raise NotImplementedError(f"{type(self).__name__}.accept")

    # ----------------------------------------------------------------- GUI side
    def latest(self) -> tuple[int, dict[str, Any]]:
        """``(version, stored dict)`` of the newest accepted frame (any thread)."""
        with self._lock:
            return self.version, self._latest

    @property
    def rejected_total(self) -> int:
        """Frames dropped as bad input."""
        return self.rejected.total

    def counters(self) -> dict[str, Any]:
        """Frames received / accepted / rejected (by reason)."""
        return {"frames": self.frames, "accepted": self.accepted, "rejected": self.rejected.snapshot()}


def _positive_rate(v: Any) -> float:
    x = float(v)
    if not x > 0:
        raise ValueError(f"max_rate_hz must be > 0 (inf: no limit), got {v!r}")
    return x


def connect_scope(fg: Any, src: Block | tuple[Block, str | int], scope: Block, port: str | int = 0,
                  hwm: int = SCOPE_HWM) -> None:
    """Feed ``scope``'s input ``port`` from ``src`` through a real-time (dropping) edge."""
    fg.connect(src, (scope, port), policy="realtime", hwm=hwm)


__all__ = ["ScopeBlock", "ScopeInputError", "connect_scope", "SCOPE_HWM"]
