"""Collecting and null sinks."""

from __future__ import annotations

import threading

from semradio.runtime import Frame, SinkBlock


class CollectSink(SinkBlock):
    """Keeps every frame it receives (tests, notebooks).

    Parameters
    ----------
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).
    max_frames : int, optional
        Keep only the last ``max_frames`` frames (None: all of them).

    Attributes
    ----------
    frames : list of Frame
        Received frames in arrival order (thread-safe to read after ``wait()``).
    seqs : list of int
        The ``seq`` tags received, in order.

    Notes
    -----
    **Inputs**

    ``in`` : any
        Frames to keep.

    **Tags read**

    None (``seqs`` reads ``seq``).

    **Run-time parameters**

    None.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Flowgraph
    >>> from semradio.blocks import ArraySource, CollectSink
    >>> sink = CollectSink()
    >>> fg = Flowgraph("collect")
    >>> _ = fg.connect(ArraySource(np.zeros((3, 2), np.float32)), sink)
    >>> fg.run()
    >>> sink.seqs
    [0, 1, 2]
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
    """Discards frames (counts them; latency percentiles still appear in the stats).

    Parameters
    ----------
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).
    n_inputs : int, default 1
        Number of inputs: ``in`` for one, else ``in0`` ... ``in{n-1}``.

    Notes
    -----
    **Inputs**

    ``in`` (or ``in0`` ... ``in{n-1}``) : any
        Frames to discard.

    **Run-time parameters**

    None.

    Examples
    --------
    >>> from semradio.blocks import NullSink
    >>> [p.name for p in NullSink(n_inputs=2).inputs]
    ['in0', 'in1']
    """

    def __init__(self, name: str | None = None, n_inputs: int = 1) -> None:
        super().__init__(name)
        for i in range(n_inputs):
            self.add_input("in" if n_inputs == 1 else f"in{i}")
        self.inline = n_inputs == 1  # nothing to do: it runs on its producer's thread

    def work(self, *frames: Frame) -> None:
        return None


__all__ = ["CollectSink", "NullSink"]
