"""GNU Radio gr-zeromq messages: the v1 stream-tag header and the raw item payload.

A gr-zeromq stream sink (``pub_sink``, ``push_sink``, ``rep_sink``) sends one ZeroMQ message per
``work()`` call (``gr-zeromq/lib/base_impl.cc``, ``tag_headers.cc``, GNU Radio 3.10)::

    [key frame]              PUB/SUB only, when a key (topic) is set: the key bytes
    data frame               [tag header, only with pass_tags=True] + raw items

Tag header v1 (native byte order = little-endian on every GNU Radio host we talk to)::

    offset  size  field
    0       2     u16 magic 0x5FF0          (bytes f0 5f)
    2       1     u8  version 0x01
    3       8     u64 offset: absolute index (in items) of the message's first item
    11      8     u64 ntags
    19      ...   ntags times: u64 absolute item offset of the tag (little-endian), then
                  PMT key, PMT value, PMT srcid (:mod:`semradio.blocks.zeromq.pmt`, big-endian)

Raw items follow the header: ``n * itemsize * vlen`` bytes (complex64 = 8 bytes per item,
little-endian); a message whose payload is not a whole number of items is malformed (GNU
Radio's source throws; :func:`split_message` raises :class:`GrFormatError`).

A REQ source asks a REP sink for data with a 4-byte request: u32 (native, little-endian) =
the number of items it can take; the REP sink answers one message of at most that many items.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Final, Sequence

from semradio.blocks.zeromq import pmt
__all__ = [
    "GR_HEADER_MAGIC", "GR_HEADER_VERSION", "HEADER_SIZE", "MAX_TAGS", "GrTag", "GrMessage", "GrFormatError",
    "encode_tag_header", "decode_tag_header", "split_message", "encode_request", "decode_request",
]

GR_HEADER_MAGIC: Final = 0x5FF0
GR_HEADER_VERSION: Final = 0x01
_HEAD = struct.Struct("<HBQQ")
#: Size of the fixed part of the tag header (magic, version, offset, ntags).
HEADER_SIZE: Final = _HEAD.size  # 19
_U64LE = struct.Struct("<Q")
_REQ = struct.Struct("<I")
#: Smallest encoded tag: u64 offset + three one-byte PMTs.
_MIN_TAG = 8 + 3


#: Most stream tags one message may carry (GNU Radio puts a handful per work() call).
MAX_TAGS: Final = 4096


class GrFormatError(ValueError):
    """A gr-zeromq message that cannot be decoded. ``kind``: ``"truncated"``, ``"magic"``,
    ``"version"``, ``"ntags"`` (more tags than bytes), ``"pmt"`` (a key/value/srcid is not a
    valid PMT), ``"item_size"`` (payload not a multiple of the item size), ``"request"``."""

    def __init__(self, kind: str, message: str = "") -> None:
        self.kind = kind
        super().__init__(f"gr-zeromq {kind}: {message}" if message else f"gr-zeromq {kind}")


@dataclass(slots=True)
class GrTag:
    """A GNU Radio stream tag: absolute item ``offset`` and PMT ``key``, ``value``, ``srcid``
    (Python values per :mod:`semradio.blocks.zeromq.pmt`; GNU Radio's default srcid is #f).

    ``raw`` (decode only): the exact serialized bytes ``(key, value, srcid)`` as received.
    """

    offset: int
    key: Any
    value: Any
    srcid: Any = False
    raw: tuple[bytes, bytes, bytes] | None = field(default=None, compare=False, repr=False)


@dataclass(slots=True)
class GrMessage:
    """A decoded data frame: ``offset`` (header offset, None without a header), ``tags`` and
    the raw item bytes ``payload`` (a memoryview into the message, no copy)."""

    offset: int | None
    tags: list[GrTag]
    payload: memoryview


def encode_tag_header(offset: int, tags: Sequence[GrTag]) -> bytes:
    """The v1 tag header for a message whose first item has absolute index ``offset``.

    Raises:
        TypeError / ValueError: a tag key/value/srcid cannot be serialized as a PMT, or an
            offset is outside [0, 2**64).
    """
    parts = [_HEAD.pack(GR_HEADER_MAGIC, GR_HEADER_VERSION, offset, len(tags))]
    for t in tags:
        parts.append(_U64LE.pack(t.offset))
        parts.append(pmt.encode(t.key))
        parts.append(pmt.encode(t.value))
        parts.append(pmt.encode(t.srcid))
    return b"".join(parts)


def decode_tag_header(buf: bytes | memoryview, keep_raw: bool = False) -> tuple[int, list[GrTag], int]:
    """Parse the tag header at the start of ``buf``.

    Returns:
        ``(offset, tags, header_length)``; the items start at ``buf[header_length:]``.
    Raises:
        GrFormatError: truncated header, wrong magic or version, impossible tag count or
            malformed PMT (never another exception).
    """
    n = len(buf)
    if n < HEADER_SIZE:
        raise GrFormatError("truncated", f"message of {n} bytes cannot hold the {HEADER_SIZE}-byte tag header")
    magic, version, offset, ntags = _HEAD.unpack_from(buf, 0)
    if magic != GR_HEADER_MAGIC:
        raise GrFormatError("magic", f"tag header magic 0x{magic:04x} != 0x{GR_HEADER_MAGIC:04x}")
    if version != GR_HEADER_VERSION:
        raise GrFormatError("version", f"tag header version {version} (only {GR_HEADER_VERSION} is known)")
    pos = HEADER_SIZE
    if ntags > (n - pos) // _MIN_TAG:
        raise GrFormatError("ntags", f"{ntags} tags cannot fit in {n - pos} bytes")
    if ntags > MAX_TAGS:
        raise GrFormatError("ntags", f"{ntags} tags in one message (at most {MAX_TAGS})")
    budget = [pmt.MAX_ITEMS]  # PMT objects of all the tags together
    tags = []
    for i in range(ntags):
        if pos + 8 > n:
            raise GrFormatError("truncated", f"tag {i}: offset truncated")
        (toff,) = _U64LE.unpack_from(buf, pos)
        pos += 8
        try:
            start = pos
            key, pos = pmt.decode_from(buf, pos, budget)
            kend = pos
            value, pos = pmt.decode_from(buf, pos, budget)
            vend = pos
            srcid, pos = pmt.decode_from(buf, pos, budget)
        except pmt.PmtError as e:
            raise GrFormatError("pmt", f"tag {i}: {e}") from None
        raw = (bytes(buf[start:kend]), bytes(buf[kend:vend]), bytes(buf[vend:pos])) if keep_raw else None
        tags.append(GrTag(toff, key, value, srcid, raw))
    return offset, tags, pos


def split_message(data: bytes | memoryview, item_bytes: int, pass_tags: bool,
                  keep_raw: bool = False) -> GrMessage:
    """Decode a gr-zeromq data frame (the key frame already removed).

    Args:
        data: the data frame.
        item_bytes: bytes per item (itemsize * vlen).
        pass_tags: whether the sender put a tag header in front of the items.
        keep_raw: keep each tag's serialized bytes in ``GrTag.raw``.
    Raises:
        GrFormatError: bad header, or a payload that is not a whole number of items.
    """
    mv = memoryview(data).cast("B") if not isinstance(data, memoryview) or data.format != "B" else data
    if pass_tags:
        offset, tags, hlen = decode_tag_header(mv, keep_raw)
    else:
        offset, tags, hlen = None, [], 0
    payload = mv[hlen:]
    if len(payload) % item_bytes:
        raise GrFormatError("item_size", f"{len(payload)} payload bytes is not a multiple of the "
                                         f"{item_bytes}-byte item")
    return GrMessage(offset, tags, payload)


def encode_request(nitems: int) -> bytes:
    """A REQ source's request for up to ``nitems`` items (u32 little-endian)."""
    return _REQ.pack(nitems)


def decode_request(msg: bytes | memoryview) -> int | None:
    """Items asked for by a REQ message (None when it has fewer than 4 bytes: GNU Radio's REP
    sink then sends whatever it has)."""
    if len(msg) < 4:
        return None
    return _REQ.unpack_from(msg, 0)[0]
