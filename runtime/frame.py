"""Frames: one batch of data plus its tags.

A :class:`Frame` is the unit that travels along every edge of a flowgraph. Its ``data`` is a
numpy array or a torch tensor whose leading dimension is the batch size ``B``; its ``tags`` are
a dict of metadata. Documented tag keys (see ``TAG_KEYS``) are shared by all blocks; a block
passes through the tags it does not own.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from time import time_ns
from typing import Any

import numpy as np

#: Tag keys with a meaning fixed across the project.
TAG_KEYS: dict[str, str] = {
    "seq": "int, frame counter per source (0, 1, 2, ...); multi-input blocks align on it",
    "t_ns": "int, time.time_ns() when the source created the frame; sinks derive latency",
    "snr_db": "float, configured SNR Px/s2 of the channel in dB",
    "sinr_db": "float, configured SINR Px/(Pz + s2) in dB",
    "h": "complex array (B, k), CSI the receiver knows (an estimate if CSI is imperfect)",
    "noise_var": "float, complex noise variance s2 = E|n|^2",
    "channel": "str, channel model name (awgn, rayleigh, rician, ...)",
    "denoiser": "str, denoiser name applied to the frame (none, cddm, ...)",
}


#: Range of ``seq``: a non-negative int64.
SEQ_MAX = 2**63 - 1
#: Range of ``t_ns`` and of other stream counters: int64.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def is_valid_seq(seq: Any) -> bool:
    """``seq`` is an int (not a bool) in ``0 .. 2**63 - 1``."""
    return type(seq) is int and 0 <= seq <= SEQ_MAX


def is_valid_t_ns(t_ns: Any) -> bool:
    """``t_ns`` is an int (not a bool) in the int64 range."""
    return type(t_ns) is int and INT64_MIN <= t_ns <= INT64_MAX


def reserved_tag_problem(tags: dict[str, Any]) -> str | None:
    """Why the reserved tags of an incoming frame are unusable (``seq`` must be absent or an
    int in 0..2^63-1, ``t_ns`` absent or an int64), or None when they are fine. Every bridge and
    wire decoder applies this before a frame enters a flowgraph."""
    seq = tags.get("seq")
    if seq is not None and not is_valid_seq(seq):
        return f"seq {seq!r:.40} is not an int in 0..2^63-1"
    t_ns = tags.get("t_ns")
    if t_ns is not None and not is_valid_t_ns(t_ns):
        return f"t_ns {t_ns!r:.40} is not an int64"
    return None


def is_torch_tensor(x: Any) -> bool:
    """True when ``x`` is a torch tensor (without importing torch if it is not loaded)."""
    tensor = getattr(sys.modules.get("torch"), "Tensor", None)  # None while torch is mid-import
    return tensor is not None and isinstance(x, tensor)


def data_device(x: Any) -> str:
    """Domain of a payload: ``"cuda"`` for a CUDA tensor, ``"cpu"`` otherwise."""
    if is_torch_tensor(x) and x.device.type == "cuda":
        return "cuda"
    return "cpu"


def data_dtype(x: Any) -> str:
    """Canonical dtype name of a payload (numpy spelling: ``float32``, ``complex64``, ...)."""
    if is_torch_tensor(x):
        return str(x.dtype).removeprefix("torch.")
    return np.asarray(x).dtype.name


@dataclass(slots=True)
class Frame:
    """One batch travelling between blocks.

    Attributes:
        data: numpy array or torch tensor of shape ``(B, *item_shape)``.
        tags: metadata dict; ``seq`` and ``t_ns`` are set by sources (see ``TAG_KEYS``).
    """

    data: Any
    tags: dict[str, Any] = field(default_factory=dict)

    @property
    def seq(self) -> int | None:
        """The frame's sequence number (``tags['seq']``), or None if untagged."""
        return self.tags.get("seq")

    @property
    def batch(self) -> int:
        """Batch size B (leading dimension of ``data``)."""
        return int(self.data.shape[0])

    @property
    def item_shape(self) -> tuple[int, ...]:
        """Shape of one item: ``data.shape[1:]``."""
        return tuple(int(s) for s in self.data.shape[1:])

    @property
    def dtype(self) -> str:
        """Canonical dtype name of ``data``."""
        return data_dtype(self.data)

    @property
    def device(self) -> str:
        """``"cuda"`` or ``"cpu"``."""
        return data_device(self.data)

    def replace(self, data: Any = None, **tags: Any) -> "Frame":
        """New frame with ``data`` replaced (if given) and tags updated; the input is unchanged.

        The tag dict is copied (shallow), so downstream blocks of a fan-out never see each
        other's tag edits.
        """
        new_tags = dict(self.tags)
        new_tags.update(tags)
        return Frame(self.data if data is None else data, new_tags)

    @classmethod
    def new(cls, data: Any, seq: int, **tags: Any) -> "Frame":
        """Frame stamped with ``seq`` and the current ``t_ns`` (what a source emits)."""
        if "t_ns" not in tags:
            tags["t_ns"] = time_ns()
        tags["seq"] = int(seq)
        return cls(data, tags)


class Frames(list):
    """Several frames for a single-output block's one ``work()`` call, sent in order (a block
    that turns one input frame into zero or more output frames, e.g. a receiver that finds
    several bursts in one chunk of samples, returns ``Frames([...])``)."""

    __slots__ = ()
