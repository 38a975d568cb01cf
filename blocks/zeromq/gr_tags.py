"""Mapping between semradio frame tags and GNU Radio stream tags (pure functions).

Frame -> GNU Radio (what :class:`~semradio.blocks.zeromq.bridge.ZMQSink` sends with
``format="gnuradio", pass_tags=True``). A frame of ``n`` items starting at absolute stream
offset ``o`` becomes ``n`` items with these tags, all at offset ``o``, srcid = the sink's
``srcid`` symbol:

* ``packet_len`` (the sink's ``packet_len_tag``): int32 ``n``, so GNU Radio tagged-stream
  blocks see one packet per frame;
* every frame tag ``key: value`` as symbol ``key`` -> PMT ``value``: int -> int32 / int64
  (uint64 above 2**63-1), float -> double, complex -> complex, bool -> #t/#f, None -> nil,
  str -> symbol, 1-D arrays (numpy or torch) -> uniform vectors of the same dtype (bool -> u8,
  float16 -> f32), lists -> vector, tuples -> tuple (an empty one -> vector), dicts -> dict (str keys -> symbols);
* an array with 2 or more dims (``h`` is (B, k)) is flattened (C order) and its shape is sent
  as an extra tag ``"<key>:shape"`` = tuple of int32, which the receiving side uses to restore
  it; a 0-d array becomes a scalar;
* a tag whose value has no PMT form is skipped (and counted by the block).

GNU Radio -> frame (what :class:`~semradio.blocks.zeromq.bridge.ZMQSource` does): for a frame
covering absolute items ``[o, o + n)``,

* every GNU Radio tag inside that range is listed in ``tags["gr_tags"]`` as a dict
  ``{"offset": absolute offset, "key", "value", "srcid"}`` (+ ``"raw": [key, value, srcid]``
  serialized bytes when asked), values converted by :func:`pmt_to_tag_value`;
* tags at the frame's first item with a symbol key are also merged into the frame tags
  (``key: value``; the later one wins), so the ``seq``, ``t_ns``, ``snr_db``, ``noise_var``,
  ``h`` ... that a semradio sink sent come back as ordinary frame tags; ``"<key>:shape"``
  companions reshape their array and are removed;
* ``gr_offset`` = ``o``, the absolute offset of the frame's first item in the sender's stream
  (from the tag header; the receiver's own item count when the stream has no headers).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Sequence

import numpy as np

from semradio.blocks.zeromq import pmt
from semradio.blocks.zeromq.tag_header import GrTag

__all__ = ["SHAPE_SUFFIX", "tag_value_to_pmt", "pmt_to_tag_value", "frame_tags_to_gr",
           "gr_tags_to_frame_tags"]

#: Suffix of the companion tag that carries the shape of a flattened N-d array tag.
SHAPE_SUFFIX = ":shape"


def _to_numpy(v: Any) -> Any:
    if type(v).__module__.startswith("torch"):
        import torch  # noqa: F401 - only when a tensor is present

        if isinstance(v, torch.Tensor):
            return v.numpy(force=True)
    return v


def tag_value_to_pmt(v: Any) -> Any:
    """A frame tag value in the Python form :func:`semradio.blocks.zeromq.pmt.encode` takes.

    Arrays must be at most 1-D here (:func:`frame_tags_to_gr` flattens N-d arrays).

    Raises:
        TypeError / ValueError: no PMT form (unsupported type, int out of range, N-d array).
    """
    v = _to_numpy(v)
    if isinstance(v, np.ndarray):
        if v.ndim == 0:
            return tag_value_to_pmt(v[()])
        return v
    if isinstance(v, np.generic):
        return v.item() if not isinstance(v, np.bool_) else bool(v)
    if isinstance(v, list):
        return [tag_value_to_pmt(x) for x in v]
    if isinstance(v, tuple):  # () -> empty vector: GNU Radio cannot read an empty tuple
        return tuple(tag_value_to_pmt(x) for x in v) if v else []
    if isinstance(v, dict):
        return {tag_value_to_pmt(k): tag_value_to_pmt(x) for k, x in v.items()}
    return v


def pmt_to_tag_value(v: Any) -> Any:
    """A decoded PMT as a frame tag value that the native wire format can carry.

    Int64/UInt64 -> int; arrays, scalars, str, None unchanged; a proper list (pairs ending in
    nil) -> list of its items; any other pair -> ``[car, cdr]`` (nested for longer chains); tuple -> list; vector -> list;
    dict -> dict when every key is a str, else a list of ``[key, value]``.
    """
    t = type(v)
    if t is pmt.Int64 or t is pmt.UInt64:
        return int(v)
    if t is pmt.Pair:
        items = []
        node = v
        while type(node) is pmt.Pair:
            items.append(pmt_to_tag_value(node.car))
            node = node.cdr
        if node is None:
            return items
        out: Any = pmt_to_tag_value(node)
        for x in reversed(items):  # improper chain (a b . c) -> [a, [b, c]]
            out = [x, out]
        return out
    if t is list or t is tuple:
        return [pmt_to_tag_value(x) for x in v]
    if t is dict:
        if all(type(k) is str for k in v):
            return {k: pmt_to_tag_value(x) for k, x in v.items()}
        return [[pmt_to_tag_value(k), pmt_to_tag_value(x)] for k, x in v.items()]
    return v


def frame_tags_to_gr(tags: dict[str, Any], offset: int, nitems: int, packet_len_tag: str | None = "packet_len",
                     srcid: Any = False, keys: Iterable[str] | None = None,
                     exclude: Iterable[str] = ()) -> tuple[list[GrTag], list[str]]:
    """GNU Radio tags for one outgoing frame (see the module docstring).

    Args:
        tags: the frame's tags.
        offset: absolute offset of the frame's first item in the outgoing stream.
        nitems: items in the frame (the ``packet_len`` value).
        packet_len_tag: key of the packet-length tag (None: no such tag).
        srcid: the tags' srcid (a PMT value, GNU Radio default #f).
        keys: only these frame tags (None: all); ``exclude``: never these.
    Returns:
        ``(gr_tags, skipped)``: the tags, each value already serialized
        (:class:`~semradio.blocks.zeromq.pmt.Serialized`), and the keys that had no PMT form.
    """
    out: list[GrTag] = []
    skipped: list[str] = []
    src = pmt.Serialized(pmt.encode(srcid))
    if packet_len_tag:
        out.append(GrTag(offset, packet_len_tag, int(nitems), src))
    excluded = set(exclude)
    wanted = None if keys is None else set(keys)
    for k, v in tags.items():
        if type(k) is not str or k in excluded or (wanted is not None and k not in wanted):
            continue
        if packet_len_tag and k == packet_len_tag:
            continue
        try:
            v = _to_numpy(v)
            shape = None
            if isinstance(v, np.ndarray) and v.ndim >= 2:
                shape = tuple(int(s) for s in v.shape)
                v = v.reshape(-1)
            value = pmt.Serialized(pmt.encode(tag_value_to_pmt(v)))
            out.append(GrTag(offset, k, value, src))
            if shape is not None:
                out.append(GrTag(offset, k + SHAPE_SUFFIX, shape, src))
        except (TypeError, ValueError, OverflowError):
            skipped.append(k)
    return out, skipped


def gr_tags_to_frame_tags(gr_tags: Sequence[GrTag], start: int, keep_raw: bool = False) -> dict[str, Any]:
    """Frame tags from the GNU Radio tags that fall inside one frame (see the module
    docstring); ``start`` is the absolute offset of the frame's first item. Does not set
    ``gr_offset`` (the caller does)."""
    out: dict[str, Any] = {}
    entries = []
    for t in gr_tags:
        value = pmt_to_tag_value(t.value)
        entry = {"offset": int(t.offset), "key": pmt_to_tag_value(t.key), "value": value,
                 "srcid": pmt_to_tag_value(t.srcid)}
        if keep_raw and t.raw is not None:
            entry["raw"] = list(t.raw)
        entries.append(entry)
        if t.offset == start and type(t.key) is str:
            out[t.key] = value
    for k in [k for k in out if k.endswith(SHAPE_SUFFIX)]:
        base = k[: -len(SHAPE_SUFFIX)]
        shape = out[k]
        arr = out.get(base)
        if (isinstance(arr, np.ndarray) and isinstance(shape, list) and 0 < len(shape) <= 32
                and all(type(s) is int and s >= 0 for s in shape) and math.prod(shape) == arr.size):
            out[base] = arr.reshape(shape)
            del out[k]
    if entries:
        out["gr_tags"] = entries
    return out
