"""Raw IQ files: a source that replays them as frames and a sink that records frames.

Sample formats (SigMF ``core:datatype`` names; ``_le`` = little-endian)::

    cf32_le  complex float32, I then Q (8 bytes/sample)   -> complex64 as is
    cf64_le  complex float64 (16 bytes)                     -> complex64 (rounded)
    ci16_le  complex int16 (4 bytes)                        -> complex64, each part / 2**15
    ci8      complex int8 (2 bytes)                         -> complex64, each part / 2**7
    cu8      complex uint8 (2 bytes, RTL-SDR)               -> complex64, (part - 2**7) / 2**7
    rf32_le  real float32 (4 bytes)                         -> float32
    ri16_le  real int16 (2 bytes)                           -> float32, / 2**15

Scaling matches the ``sigmf`` package's ``autoscale`` so a file reads the same here and there.
Writing is the inverse: fixed-point parts are ``round(x * 2**(bits-1))`` (+ 2**(bits-1) for
unsigned) clipped to the type's range.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from semradio.runtime import WORK_DONE, Frame, SinkBlock, SourceBlock

__all__ = ["IQFormat", "IQ_FORMATS", "decode_iq", "encode_iq", "IQFileSource", "IQFileSink"]


@dataclass(frozen=True, slots=True)
class IQFormat:
    """A sample format: the on-disk component dtype, complex or real, fixed point or not."""

    name: str
    component: np.dtype
    is_complex: bool

    @property
    def sample_bytes(self) -> int:
        """Bytes per sample (both components for complex formats)."""
        return self.component.itemsize * (2 if self.is_complex else 1)

    @property
    def fixed_point(self) -> bool:
        return self.component.kind in "iu"

    @property
    def out_dtype(self) -> np.dtype:
        """dtype of the decoded samples: complex64 or float32."""
        return np.dtype(np.complex64 if self.is_complex else np.float32)


IQ_FORMATS: dict[str, IQFormat] = {f.name: f for f in (
    IQFormat("cf32_le", np.dtype("<f4"), True),
    IQFormat("cf64_le", np.dtype("<f8"), True),
    IQFormat("ci16_le", np.dtype("<i2"), True),
    IQFormat("ci8", np.dtype("i1"), True),
    IQFormat("cu8", np.dtype("u1"), True),
    IQFormat("rf32_le", np.dtype("<f4"), False),
    IQFormat("ri16_le", np.dtype("<i2"), False),
)}


def _format(fmt: str | IQFormat) -> IQFormat:
    if isinstance(fmt, IQFormat):
        return fmt
    try:
        return IQ_FORMATS[fmt]
    except KeyError:
        raise ValueError(f"unknown IQ format {fmt!r}; known: {sorted(IQ_FORMATS)}") from None


def decode_iq(raw: Any, fmt: str | IQFormat) -> np.ndarray:
    """Raw file bytes -> 1-D samples (complex64 or float32; see the module table).

    Raises:
        ValueError: the byte count is not a whole number of samples.
    """
    f = _format(fmt)
    buf = memoryview(raw).cast("B") if not isinstance(raw, (bytes, np.ndarray)) else raw
    nbytes = len(buf) if not isinstance(buf, np.ndarray) else buf.nbytes
    if nbytes % f.sample_bytes:
        raise ValueError(f"{nbytes} bytes is not a whole number of {f.name} samples ({f.sample_bytes} bytes each)")
    comp = np.frombuffer(buf, dtype=f.component).astype(np.float32)
    if f.fixed_point:
        bits = f.component.itemsize * 8
        if f.component.kind == "u":
            comp -= np.float32(2 ** (bits - 1))
        comp *= np.float32(2.0 ** -(bits - 1))
    return comp.view(np.complex64) if f.is_complex else comp


def encode_iq(samples: Any, fmt: str | IQFormat) -> np.ndarray:
    """Samples (any shape, flattened in C order) -> the on-disk component array (its
    ``tobytes()`` is the file content)."""
    f = _format(fmt)
    x = np.asarray(samples).reshape(-1)
    if f.is_complex:
        comp = np.empty(2 * x.size, dtype=np.float64)
        comp[0::2] = x.real
        comp[1::2] = x.imag
    else:
        if np.iscomplexobj(x):
            raise ValueError(f"{f.name} is a real format; got complex samples")
        comp = x.astype(np.float64)
    if f.fixed_point:
        bits = f.component.itemsize * 8
        comp = np.rint(comp * 2.0 ** (bits - 1))
        if f.component.kind == "u":
            comp += 2 ** (bits - 1)
        info = np.iinfo(f.component)
        comp = np.clip(comp, info.min, info.max)
    return np.ascontiguousarray(comp, dtype=f.component)


class _Replay:
    """Real-time pacing: the frame starting at sample ``s`` leaves at ``t0 + s / rate``."""

    def __init__(self) -> None:
        self._t0: float | None = None
        self._s0 = 0

    def wait(self, sample_offset: int, sample_rate: float, scale: float) -> None:
        now = time.perf_counter()
        if self._t0 is None:
            self._t0, self._s0 = now, sample_offset
            return
        due = self._t0 + (sample_offset - self._s0) / (sample_rate * scale)
        if due > now:
            time.sleep(due - now)


class IQFileSource(SourceBlock):
    """Replays a raw IQ file as frames of ``batch`` x ``frame_len`` samples.

    Parameters
    ----------
    path : str
        The file (opened when the graph starts).
    format : str, default "cf32_le"
        Sample format, see ``IQ_FORMATS``.
    sample_rate : float, optional
        Samples/s (needed for ``realtime``).
    frame_len : int, default 1024
        Samples per row.
    batch : int, default 1
        Rows per frame.
    realtime : bool, default False
        Pace frames at ``sample_rate * rate_scale``; else as fast as possible.
    rate_scale : float, default 1.0
        Real-time replay speed (1 = capture rate). Settable at run time.
    repeat : int, default 1
        Passes over the file (-1: forever).
    partial : {"drop", "pad"}, default "drop"
        Last incomplete frame: dropped, or padded with zeros (tag ``valid_samples``).
    start : int, default 0
        First sample to replay.
    count : int, optional
        Number of samples to replay (None: to the end).
    tags : dict, optional
        Extra tags on every frame.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    dropped_samples : int
        Samples of incomplete last frames not replayed (``partial="drop"``).

    Raises
    ------
    ValueError
        At construction for an unknown format, ``frame_len`` or ``batch`` below 1, an unknown
        ``partial``, or ``realtime`` without ``sample_rate``.

    Notes
    -----
    **Outputs**

    ``out`` : complex64 or float32 (batch, frame_len)
        complex64 for complex formats, float32 for real formats.

    **Tags written**

    - ``seq``, ``t_ns``;
    - ``sample_offset`` (index in the file of the frame's first sample);
    - ``sample_rate`` (when given);
    - ``valid_samples`` (padded last frame, ``partial="pad"``);
    - plus the ``tags`` given.

    **Run-time parameters**

    ``rate_scale``.

    Examples
    --------
    >>> from semradio.blocks import IQFileSource
    >>> src = IQFileSource("capture.cf32", format="cf32_le", frame_len=1024, sample_rate=1e6, realtime=True)
    >>> src.outputs[0].dtype
    'complex64'
    """

    def __init__(self, path: str, format: str = "cf32_le", sample_rate: float | None = None,
                 frame_len: int = 1024, batch: int = 1, realtime: bool = False, rate_scale: float = 1.0,
                 repeat: int = 1, partial: str = "drop", start: int = 0, count: int | None = None,
                 tags: dict | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.fmt = _format(format)
        if frame_len < 1 or batch < 1:
            raise ValueError(f"{self.name}: frame_len and batch must be >= 1")
        if partial not in ("drop", "pad"):
            raise ValueError(f"{self.name}: partial must be 'drop' or 'pad', got {partial!r}")
        if realtime and not sample_rate:
            raise ValueError(f"{self.name}: realtime replay needs sample_rate")
        self.path = path
        self.sample_rate = sample_rate
        self.frame_len = int(frame_len)
        self.batch = int(batch)
        self.realtime = bool(realtime)
        self.repeat = int(repeat)
        self.partial = partial
        self.start_sample = int(start)
        self.count = count
        self.extra_tags = dict(tags or {})
        self.declare_param("rate_scale", float(rate_scale), "real-time replay speed (1 = capture rate)",
                           _positive)
        self.add_output("out", self.fmt.out_dtype.name, (self.frame_len,))
        self._pos = 0
        self._pass = 0
        self._pace = _Replay()
        self._fh: Any = None
        self._total = 0
        self._emitted = 0
        #: Samples of incomplete last frames not replayed (``partial="drop"``).
        self.dropped_samples = 0

    @classmethod
    def example(cls) -> "IQFileSource":
        return cls("capture.cf32", "cf32_le")

    def start(self) -> None:
        size = os.path.getsize(self.path)
        total = size // self.fmt.sample_bytes - self.start_sample
        if self.count is not None:
            total = min(total, int(self.count))
        self._total = max(0, total)
        self._fh = open(self.path, "rb")
        self._pos = 0

    def stop(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def read(self, first: int, n: int) -> np.ndarray:
        """Samples ``first .. first+n`` of the replayed range (file offset ``start`` added)."""
        self._fh.seek((self.start_sample + first) * self.fmt.sample_bytes)
        raw = self._fh.read(n * self.fmt.sample_bytes)
        return decode_iq(raw, self.fmt)

    def work(self) -> Any:
        per = self.frame_len * self.batch
        while True:
            remaining = self._total - self._pos
            if remaining >= per or (remaining > 0 and self.partial == "pad"):
                break
            self.dropped_samples += remaining  # an incomplete last frame with partial="drop"
            self._pass += 1
            self._pos = 0
            if (self.repeat >= 0 and self._pass >= self.repeat) or self._total == 0 \
                    or (self._total < per and self.partial == "drop"):
                return WORK_DONE
        first = self._pos
        n = min(per, self._total - first)
        data = self.read(first, n)
        tags = dict(self.extra_tags)
        if n < per:
            data = np.concatenate([data, np.zeros(per - n, data.dtype)])
            tags["valid_samples"] = n
        self._pos += n
        if self.realtime:
            self._pace.wait(self._emitted, float(self.sample_rate), self.param("rate_scale"))
        self._emitted += n
        tags["sample_offset"] = self.start_sample + first
        if self.sample_rate:
            tags["sample_rate"] = float(self.sample_rate)
        return self.make_frame(data.reshape(self.batch, self.frame_len), **tags)


class IQFileSink(SinkBlock):
    """Writes every frame's samples (flattened, C order) to a raw IQ file.

    Parameters
    ----------
    path : str
        Output file (created or truncated when the graph starts; ``append=True`` appends).
    format : str, default "cf32_le"
        Sample format, see ``IQ_FORMATS`` (fixed-point formats clip at full scale 1.0).
    append : bool, default False
        Append to an existing file instead of truncating it.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    samples : int
        Samples written so far.

    Raises
    ------
    ValueError
        At construction for an unknown format; in ``work`` for complex samples given to a real
        format.

    Notes
    -----
    **Inputs**

    ``in`` : complex or real samples, any shape
        Complex for the complex formats, real for the real ones.

    **Tags read**

    None.

    **Run-time parameters**

    None.

    Examples
    --------
    >>> from semradio.blocks import IQFileSink
    >>> sink = IQFileSink("capture.ci16", format="ci16_le")    # the file is opened when the graph starts
    >>> sink.inputs[0].dtype
    'complex64'
    """

    def __init__(self, path: str, format: str = "cf32_le", append: bool = False, name: str | None = None) -> None:
        super().__init__(name)
        self.fmt = _format(format)
        self.path = path
        self.append = bool(append)
        self.add_input("in", self.fmt.out_dtype.name)
        self.samples = 0
        self._fh: Any = None

    @classmethod
    def example(cls) -> "IQFileSink":
        return cls("capture.cf32", "cf32_le")

    def start(self) -> None:
        self._fh = open(self.path, "ab" if self.append else "wb")

    def stop(self) -> None:
        if self._fh is not None:
            self._fh.close()

    def work(self, frame: Frame) -> None:  # type: ignore[override]
        data = frame.data
        if type(data).__module__.startswith("torch"):
            data = data.numpy(force=True)
        comp = encode_iq(data, self.fmt)
        self._fh.write(comp.tobytes())
        self.samples += comp.size // (2 if self.fmt.is_complex else 1)


def _positive(x: Any) -> float:
    v = float(x)
    if not v > 0:
        raise ValueError(f"must be > 0, got {x!r}")
    return v
