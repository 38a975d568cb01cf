"""Array and counting sources: frames from an array, or cheap checkable frames for tests and
benchmarks."""

from __future__ import annotations

from typing import Any

import numpy as np

from semradio.runtime import WORK_DONE, Frame, SourceBlock


class ArraySource(SourceBlock):
    """Emits the rows of an array as frames of ``batch`` items, ``repeat`` times, then ends.

    Parameters
    ----------
    data : array_like
        Array of shape ``(N, *item)``; frames take consecutive slices of ``batch`` rows (the last one
        may be shorter).
    batch : int, default 1
        Items per frame.
    repeat : int, default 1
        Passes over the data (``-1``: forever).
    tags : dict, optional
        Extra tags put on every frame.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        For an empty array (or one without a leading item axis), or ``batch < 1``.

    Notes
    -----
    **Outputs**

    ``out`` : ``(B, *item)``, the array's dtype
        Consecutive rows of ``data``.

    **Tags written**

    - ``seq``, ``t_ns``, and the ``tags`` given.

    **Run-time parameters**

    None.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.blocks import ArraySource
    >>> src = ArraySource(np.zeros((100, 16), np.float32), batch=10)   # 10 frames of (10, 16)
    >>> [p.name for p in src.outputs]
    ['out']
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

    Parameters
    ----------
    frames : int, default 10
        Frames to emit (``-1``: forever).
    size : int, default 1
        Items per row.
    dtype : str, default "float32"
        Payload dtype.
    batch : int, default 1
        Rows per frame.
    reuse : bool, default False
        Send the same preallocated buffer each time (benchmarks: no allocation cost; the content
        then is not per-frame).
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Notes
    -----
    **Outputs**

    ``out`` : ``dtype`` (batch, size)
        Filled with the frame's ``seq`` (zeros with ``reuse``).

    **Tags written**

    - ``seq``, ``t_ns``.

    **Run-time parameters**

    None.

    Examples
    --------
    >>> from semradio.blocks import CountingSource
    >>> src = CountingSource(frames=5, size=8, batch=2)    # 5 frames of (2, 8) holding 0, 1, 2, ...
    >>> src.outputs[0].dtype
    'float32'
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


__all__ = ["ArraySource", "CountingSource"]
