"""Typed stream ports and the compatibility rules ``Flowgraph.validate()`` applies."""

from __future__ import annotations

from dataclasses import dataclass

DOMAINS = ("cpu", "cuda", "any")


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A named, typed stream port.

    Attributes:
        name: port name, unique among the block's inputs (or outputs).
        dtype: numpy-style dtype name of the payload (``"float32"``, ``"complex64"``, ...) or
            None for any dtype.
        shape: per-item shape (the frame's ``data.shape[1:]``); None for any shape, and a None
            entry for a free dimension, e.g. ``(3, None, None)`` for images of any size.
        domain: where the payload lives: ``"cpu"``, ``"cuda"`` or ``"any"``.
        optional: an input that may stay unconnected.
    """

    name: str
    dtype: str | None = None
    shape: tuple[int | None, ...] | None = None
    domain: str = "any"
    optional: bool = False

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"port {self.name!r}: domain must be one of {DOMAINS}, got {self.domain!r}")
        if self.shape is not None and not isinstance(self.shape, tuple):
            object.__setattr__(self, "shape", tuple(self.shape))

    def describe(self) -> str:
        """Short text such as ``float32[3,None,None]@any``."""
        dt = self.dtype or "any"
        sh = "*" if self.shape is None else "[" + ",".join("?" if s is None else str(s) for s in self.shape) + "]"
        return f"{dt}{sh}@{self.domain}"


def incompatibility(out: PortSpec, inp: PortSpec) -> str | None:
    """Why an output port cannot feed an input port, or None when it can."""
    if out.dtype is not None and inp.dtype is not None and out.dtype != inp.dtype:
        return f"dtype {out.dtype} != {inp.dtype}"
    if out.shape is not None and inp.shape is not None:
        if len(out.shape) != len(inp.shape):
            return f"item rank {len(out.shape)} != {len(inp.shape)} ({out.shape} vs {inp.shape})"
        for i, (a, b) in enumerate(zip(out.shape, inp.shape)):
            if a is not None and b is not None and a != b:
                return f"item shape {out.shape} != {inp.shape} (dimension {i})"
    if out.domain != "any" and inp.domain != "any" and out.domain != inp.domain:
        return f"domain {out.domain} != {inp.domain}"
    return None


def payload_problem(port: PortSpec, data: object) -> str | None:
    """Why a payload does not match a port's declared dtype and per-item shape (a frame is
    ``(B, *item_shape)``), or None when it does; what sources of untrusted frames check before a
    frame enters the flowgraph."""
    from .frame import data_dtype

    shape = getattr(data, "shape", None)
    if shape is None or len(shape) < 1:
        return f"payload has no leading batch dimension (shape {shape})"
    if port.dtype is not None:
        got = data_dtype(data)
        if got != port.dtype:
            return f"dtype {got} is not the declared {port.dtype}"
    if port.shape is not None:
        item = tuple(int(v) for v in shape[1:])
        if len(item) != len(port.shape) or any(w is not None and w != g for w, g in zip(port.shape, item)):
            return f"item shape {item} is not the declared {port.shape}"
    return None
