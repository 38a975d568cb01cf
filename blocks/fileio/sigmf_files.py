"""SigMF recordings (https://sigmf.org): replay one as frames, record frames as one.

Metadata goes through the ``sigmf`` package (validation, checksums); samples are the raw
``.sigmf-data`` file in the recording's ``core:datatype`` (see :mod:`semradio.blocks.fileio.iq_files`
for the formats and their scaling, the same as ``sigmf``'s ``autoscale``).

Tags <-> annotations:

* :class:`SigMFSink` writes one annotation per frame (``annotate="frames"``):
  ``core:sample_start`` / ``core:sample_count`` = the frame's samples, ``core:label`` = the
  frame's ``label`` tag when it is a str, and every other tag with a JSON scalar value (bool,
  int, float, str; numpy scalars included) as ``semradio:<key>`` (``t_ns`` excluded by default;
  arrays such as ``h`` are not written). The ``semradio`` extension is declared in
  ``core:extensions``.
* :class:`SigMFSource` reads them back: for a frame covering samples ``[s, s + n)``,
  ``tags["annotations"]`` lists every annotation overlapping it (a dict of its fields, sample
  start absolute), and the annotations that cover sample ``s`` are merged into the frame tags:
  ``semradio:<key>`` -> ``key`` (except ``seq`` and ``t_ns``: the replay numbers its own
  frames), ``core:label`` -> ``label``, ``core:comment`` -> ``comment``,
  ``core:freq_lower_edge`` / ``core:freq_upper_edge`` -> ``freq_lower_edge`` /
  ``freq_upper_edge``. From the capture segment holding ``s``: ``core:frequency`` ->
  ``center_freq``, ``core:datetime`` -> ``datetime``. Always: ``sample_offset`` = ``s`` and
  ``sample_rate`` (``core:sample_rate``, when present).
"""

from __future__ import annotations

import bisect
import datetime as _dt
import os
from typing import Any

import numpy as np

from semradio.runtime import WORK_DONE, Frame, SinkBlock, SourceBlock

from semradio.blocks.fileio.iq_files import IQ_FORMATS, _positive, _Replay, encode_iq

__all__ = ["SigMFSource", "SigMFSink", "sigmf_paths", "annotation_tags", "frame_annotation"]

_MERGE = {"core:label": "label", "core:comment": "comment", "core:freq_lower_edge": "freq_lower_edge",
          "core:freq_upper_edge": "freq_upper_edge"}
_NS = "semradio:"


def sigmf_paths(path: str) -> tuple[str, str]:
    """``(meta, data)`` file names of a recording given its base name or either file."""
    from sigmf.sigmffile import get_sigmf_filenames

    names = get_sigmf_filenames(path)
    return str(names["meta_fn"]), str(names["data_fn"])


def _json_scalar(v: Any) -> Any:
    """The JSON scalar form of a tag value, or None when it has none."""
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return f if np.isfinite(f) else None
    if isinstance(v, str):
        return v
    return None


def frame_annotation(tags: dict[str, Any], start: int, count: int, exclude: tuple[str, ...] = ("t_ns",)) -> dict:
    """The SigMF annotation of a frame of ``count`` samples at sample ``start`` (see the module
    docstring)."""
    ann: dict[str, Any] = {"core:sample_start": int(start), "core:sample_count": int(count)}
    for k, v in tags.items():
        if k in exclude or type(k) is not str:
            continue
        if k == "label" and isinstance(v, str):
            ann["core:label"] = v
            continue
        j = _json_scalar(v)
        if j is not None:
            ann[_NS + k] = j
    return ann


def annotation_tags(annotations: list[dict], start: int) -> dict[str, Any]:
    """Frame tags from the annotations covering sample ``start`` (see the module docstring)."""
    out: dict[str, Any] = {}
    for a in annotations:
        s = a.get("core:sample_start", 0)
        c = a.get("core:sample_count")
        if not (s <= start and (c is None or start < s + c)):
            continue
        for k, v in a.items():
            if k.startswith(_NS):
                key = k[len(_NS):]
                if key not in ("seq", "t_ns"):
                    out[key] = v
            elif k in _MERGE:
                out[_MERGE[k]] = v
    return out


class SigMFSource(SourceBlock):
    """Replays a SigMF recording as frames of ``batch`` x ``frame_len`` samples.

    Parameters
    ----------
    path : str
        The recording (base name, ``.sigmf-meta`` or ``.sigmf-data``).
    frame_len : int, default 1024
        Samples per row.
    batch : int, default 1
        Rows per frame; an incomplete last frame is dropped (counted in ``dropped_samples``).
    realtime : bool, default False
        Pace frames at the capture's ``core:sample_rate`` times ``rate_scale``; else as fast as
        possible.
    rate_scale : float, default 1.0
        Real-time replay speed (1 = capture rate). Settable at run time.
    repeat : int, default 1
        Passes over the recording (-1: forever).
    skip_checksum : bool, default False
        Do not verify ``core:sha512`` when opening.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    dropped_samples : int
        Samples of an incomplete last frame not replayed.
    sample_rate : float or None
        ``core:sample_rate`` of the recording (None when absent or not readable yet).

    Raises
    ------
    ValueError
        At construction for ``frame_len`` or ``batch`` below 1; when the graph starts (naming the
        block) for a multi-channel recording, an unsupported datatype, a datatype changed since
        the block was built, or ``realtime`` without ``core:sample_rate``.

    Notes
    -----
    **Outputs**

    ``out`` : complex64 or float32 (batch, frame_len)
        complex64 for complex datatypes, float32 for real ones.

    **Tags written**

    - ``seq``, ``t_ns``, ``sample_offset``, ``sample_rate``, ``center_freq``, ``datetime``;
    - ``annotations`` and the merged annotation fields (module docstring).

    **Run-time parameters**

    ``rate_scale``.

    Examples
    --------
    >>> from semradio.blocks import SigMFSource
    >>> src = SigMFSource("recording", frame_len=1024)          # opened when the graph starts
    >>> src.outputs[0].dtype
    'complex64'
    """

    def __init__(self, path: str, frame_len: int = 1024, batch: int = 1, realtime: bool = False,
                 rate_scale: float = 1.0, repeat: int = 1, skip_checksum: bool = False,
                 name: str | None = None) -> None:
        super().__init__(name)
        if frame_len < 1 or batch < 1:
            raise ValueError(f"{self.name}: frame_len and batch must be >= 1")
        self.path = path
        self.frame_len = int(frame_len)
        self.batch = int(batch)
        self.realtime = bool(realtime)
        self.repeat = int(repeat)
        self.skip_checksum = bool(skip_checksum)
        self.declare_param("rate_scale", float(rate_scale), "real-time replay speed (1 = capture rate)", _positive)
        # the port type needs the datatype: read the metadata (cheap) now when it exists
        self._is_complex = True
        #: ``core:sample_rate`` of the recording (None when absent or not readable yet).
        self.sample_rate: float | None = None
        meta, _ = sigmf_paths(path)
        if os.path.isfile(meta):
            import json

            with open(meta) as f:
                glob = json.load(f).get("global", {})
            self._is_complex = str(glob.get("core:datatype", "cf32_le")).startswith("c")
            self.sample_rate = glob.get("core:sample_rate")
        self.add_output("out", "complex64" if self._is_complex else "float32", (self.frame_len,))
        self.dropped_samples = 0
        self._rec: Any = None
        self._pos = 0
        self._pass = 0
        self._emitted = 0
        self._pace = _Replay()

    @classmethod
    def example(cls) -> "SigMFSource":
        return cls("recording")

    def start(self) -> None:
        from sigmf.sigmffile import fromfile

        meta, _ = sigmf_paths(self.path)
        rec = fromfile(meta, skip_checksum=self.skip_checksum)
        channels = getattr(rec, "num_channels", None) or rec.get_global_field("core:num_channels", 1)
        if channels != 1:
            raise ValueError(f"{self.name}: only single-channel recordings are supported ({channels} channels)")
        dt = rec.get_global_field("core:datatype")
        if dt.split("_")[0] not in {f.split("_")[0] for f in IQ_FORMATS}:
            raise ValueError(f"{self.name}: datatype {dt!r} not supported; known: {sorted(IQ_FORMATS)}")
        if dt.startswith("c") != self._is_complex:
            raise ValueError(f"{self.name}: the recording changed datatype since the block was built")
        self._rec = rec
        self.sample_rate = rec.get_global_field("core:sample_rate")
        if self.realtime and not self.sample_rate:
            raise ValueError(f"{self.name}: realtime replay needs core:sample_rate in the recording")
        self.total = int(rec.sample_count)
        anns = sorted(rec.get_annotations(), key=lambda a: a.get("core:sample_start", 0))
        self._ann = anns
        self._ann_starts = [a.get("core:sample_start", 0) for a in anns]
        self._ann_lo = 0
        self._captures = sorted(rec.get_captures(), key=lambda c: c.get("core:sample_start", 0))
        self._cap_starts = [c.get("core:sample_start", 0) for c in self._captures]

    def _overlapping(self, s: int, n: int) -> list[dict]:
        hi = bisect.bisect_left(self._ann_starts, s + n)
        anns, lo = self._ann, self._ann_lo
        while lo < hi and anns[lo].get("core:sample_count") is not None \
                and anns[lo].get("core:sample_start", 0) + anns[lo]["core:sample_count"] <= s:
            lo += 1  # frames move forward: annotations that ended before s never overlap again
        self._ann_lo = lo
        out = []
        for a in anns[lo:hi]:
            c = a.get("core:sample_count")
            if c is None or a.get("core:sample_start", 0) + c > s:
                out.append(dict(a))
        return out

    def work(self) -> Any:
        per = self.frame_len * self.batch
        if self._pos + per > self.total:
            self.dropped_samples += self.total - self._pos
            self._pass += 1
            self._pos = 0
            self._ann_lo = 0
            if (self.repeat >= 0 and self._pass >= self.repeat) or self.total < per:
                return WORK_DONE
        s = self._pos
        data = np.asarray(self._rec.read_samples(start_index=s, count=per))
        data = data.astype(np.complex64 if self._is_complex else np.float32, copy=False)
        self._pos += per
        if self.realtime:
            self._pace.wait(self._emitted, float(self.sample_rate), self.param("rate_scale"))
        self._emitted += per
        anns = self._overlapping(s, per)
        tags = annotation_tags(anns, s)
        if anns:
            tags["annotations"] = anns
        i = bisect.bisect_right(self._cap_starts, s) - 1
        if i >= 0:
            cap = self._captures[i]
            if "core:frequency" in cap:
                tags["center_freq"] = cap["core:frequency"]
            if "core:datetime" in cap:
                tags["datetime"] = cap["core:datetime"]
        tags["sample_offset"] = s
        if self.sample_rate:
            tags["sample_rate"] = float(self.sample_rate)
        return self.make_frame(data.reshape(self.batch, self.frame_len), **tags)


class SigMFSink(SinkBlock):
    """Records frames as a SigMF recording (``.sigmf-data`` + ``.sigmf-meta``).

    The metadata file is written by ``sigmf`` when the stream ends (validated, with
    ``core:sha512``).

    Parameters
    ----------
    path : str
        Base name (or either file name) of the recording.
    datatype : str, default "cf32_le"
        SigMF ``core:datatype`` (see ``IQ_FORMATS``).
    sample_rate : float, optional
        ``core:sample_rate`` in Hz.
    center_freq : float, optional
        ``core:frequency`` of the capture.
    description, author, hw : str, optional
        Global fields.
    annotate : {"frames", "none"}, default "frames"
        ``"frames"``: one annotation per frame; ``"none"``: none.
    exclude_tags : sequence of str, default ("t_ns",)
        Tags never written to annotations.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    samples : int
        Samples written so far.

    Raises
    ------
    ValueError
        At construction for an unknown datatype or ``annotate`` value.

    Notes
    -----
    **Inputs**

    ``in`` : complex or real samples, any shape
        Complex for complex datatypes (real for ``rf32_le``/``ri16_le``), flattened in C order.

    **Tags read**

    All scalar tags go into per-frame annotations (module docstring).

    **Run-time parameters**

    None.

    Examples
    --------
    >>> from semradio.blocks import SigMFSink
    >>> sink = SigMFSink("recording", sample_rate=10e6, center_freq=2.4e9)   # recording.sigmf-{data,meta}
    >>> sink.inputs[0].dtype
    'complex64'
    """

    def __init__(self, path: str, datatype: str = "cf32_le", sample_rate: float | None = None,
                 center_freq: float | None = None, description: str | None = None, author: str | None = None,
                 hw: str | None = None, annotate: str = "frames", exclude_tags: tuple[str, ...] | list[str] = ("t_ns",),
                 name: str | None = None) -> None:
        super().__init__(name)
        if datatype not in IQ_FORMATS:
            raise ValueError(f"{self.name}: datatype must be one of {sorted(IQ_FORMATS)}, got {datatype!r}")
        if annotate not in ("frames", "none"):
            raise ValueError(f"{self.name}: annotate must be 'frames' or 'none', got {annotate!r}")
        self.path = path
        self.datatype = datatype
        self.fmt = IQ_FORMATS[datatype]
        self.sample_rate = sample_rate
        self.center_freq = center_freq
        self.description = description
        self.author = author
        self.hw = hw
        self.annotate = annotate
        self.exclude_tags = tuple(exclude_tags)
        self.add_input("in", self.fmt.out_dtype.name)
        self.samples = 0
        self._annotations: list[dict] = []
        self._fh: Any = None
        self._started_at: str | None = None

    @classmethod
    def example(cls) -> "SigMFSink":
        return cls("recording", sample_rate=1e6)

    def start(self) -> None:
        meta, data = sigmf_paths(self.path)
        os.makedirs(os.path.dirname(os.path.abspath(data)), exist_ok=True)
        self._fh = open(data, "wb")
        self.samples = 0
        self._annotations = []

    def work(self, frame: Frame) -> None:  # type: ignore[override]
        data = frame.data
        if type(data).__module__.startswith("torch"):
            data = data.numpy(force=True)
        if self._started_at is None:
            self._started_at = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        comp = encode_iq(data, self.fmt)
        n = comp.size // (2 if self.fmt.is_complex else 1)
        self._fh.write(comp.tobytes())
        if self.annotate == "frames" and n:
            self._annotations.append(frame_annotation(frame.tags, self.samples, n, self.exclude_tags))
        self.samples += n

    def stop(self) -> None:
        if self._fh is None:
            return
        self._fh.close()
        self._fh = None
        self.write_metadata()

    def write_metadata(self) -> str:
        """Write the ``.sigmf-meta`` file for the samples recorded so far; returns its path."""
        import sigmf
        from sigmf import SigMFFile

        meta, data = sigmf_paths(self.path)
        info: dict[str, Any] = {"core:datatype": self.datatype, "core:version": sigmf.__specification__,
                                "core:recorder": "semradio",
                                "core:extensions": [{"name": "semradio", "version": "0.1.0", "optional": True}]}
        if self.sample_rate:
            info["core:sample_rate"] = float(self.sample_rate)
        for key, value in (("core:description", self.description), ("core:author", self.author),
                           ("core:hw", self.hw)):
            if value:
                info[key] = value
        rec = SigMFFile(data_file=data, global_info=info)
        cap: dict[str, Any] = {}
        if self.center_freq is not None:
            cap["core:frequency"] = float(self.center_freq)
        if self._started_at:
            cap["core:datetime"] = self._started_at
        rec.add_capture(0, metadata=cap)
        for a in self._annotations:
            md = {k: v for k, v in a.items() if k not in ("core:sample_start", "core:sample_count")}
            rec.add_annotation(a["core:sample_start"], a["core:sample_count"], metadata=md)
        if os.path.exists(meta):  # rewrite (older sigmf releases have no overwrite flag)
            os.remove(meta)
        rec.tofile(meta)
        return meta
