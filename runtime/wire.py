"""Native wire format for frames on cross-process / cross-host edges (``ipc://``, ``tcp://``).

Layout
======

Every message is a ZeroMQ multipart message.

Data frame (two parts)::

    part 0  msgpack map (the header)
            "v"    int        wire version, ``WIRE_VERSION`` (1)
            "k"    "f"        kind: frame
            "seq"  int | nil  the frame's ``tags["seq"]`` (nil when untagged)
            "dt"   str        dtype name from the whitelist (``"float32"``, ``"complex64"``, ...)
            "sh"   [int, ...] full shape of ``data`` including the batch dim (0..8 dims)
            "c"    "np"|"pt"  container: numpy array or (CPU) torch tensor
            "tags" map        the remaining tags (str keys), see *Tags* below
    part 1  raw payload: prod(sh) * itemsize bytes, C order, little-endian

Small data frame, packed (one part; what edges send for payloads below
``PACK_THRESHOLD`` bytes — one ZeroMQ part costs markedly less than two)::

    byte 0       0xC1 (a byte msgpack never uses, so it cannot start a header part)
    bytes 1..4   uint32 little-endian: header length H
    bytes 5..    the msgpack header (as part 0 above), then the raw payload (as part 1)

End of stream (one part)::

    part 0  msgpack map {"v": 1, "k": "e", "seq": int | nil}

Unknown extra header keys are ignored (room for additive changes within one version).

Dtypes
------
``bool, int8, int16, int32, int64, uint8, uint16, uint32, uint64, float16, float32, float64,
complex64, complex128``. Big-endian input arrays are converted; the wire is always little-endian.

Tags
----
A tag map has str keys; values may be ``None``, ``bool``, ``int`` (msgpack range: -2**63 ..
2**64-1), ``float``, ``str``, ``bytes`` (bytearray/memoryview come back as ``bytes``),
``complex``, numpy scalars, numpy arrays (whitelisted dtype, any shape incl. 0-d, at most 32
dims), torch tensors, lists/tuples and nested dicts (str keys) of these, nested at most
``MAX_TAG_DEPTH`` levels. On decode:

* numpy scalars come back as the equivalent Python scalar (``np.float32(1.5)`` -> ``1.5``,
  ``np.complex64`` -> ``complex``, ``np.bool_`` -> ``bool``);
* torch tensors (any device) come back as **numpy arrays** of the same dtype and shape;
* tuples come back as lists;
* arrays come back as fresh, writable, native little-endian numpy arrays.

Non-native values use msgpack ExtType:

* code 1 (ndarray): payload = msgpack ``[dtype_name: str, shape: [int, ...], raw: bin]`` with
  ``raw`` the C-order little-endian bytes;
* code 2 (complex): payload = 16 bytes, real and imaginary part as little-endian float64.

Any other ext code (including msgpack's timestamp, -1) is rejected when decoding.

Robustness
==========
:func:`decode_message` treats its input as untrusted: every size is checked against
``max_bytes`` before anything is allocated (msgpack is unpacked with length limits bounded by
the header size), and every failure is raised as :class:`WireError` with a ``kind``. No pickle
is used anywhere.

Zero copy
=========
:func:`encode_frame` returns the payload as a ``memoryview`` of the array itself (no copy) when
it is a C-contiguous little-endian numpy array or CPU tensor; :func:`decode_message` wraps the
received payload buffer with ``np.frombuffer`` (no copy; the array is read-only for immutable
buffers such as ``bytes`` and ``zmq.Frame``). A ``"pt"`` payload is copied once so the torch
tensor owns writable memory.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from typing import Any, Final

import msgpack
import numpy as np

from .frame import Frame, is_torch_tensor, is_valid_seq, is_valid_t_ns

__all__ = [
    "WIRE_VERSION", "DEFAULT_MAX_BYTES", "MAX_DIMS", "MAX_TAG_DIMS", "MAX_TAG_DEPTH", "MAX_TAG_ITEMS", "DTYPES",
    "WIRE_ERROR_KINDS",
    "WireError", "EOS", "EndOfStream",
    "encode_frame", "encode_frame_packed", "encode_eos", "decode_message", "encode_tags", "decode_tags",
    "PACK_THRESHOLD",
]

#: Version written in (and required from) every header.
WIRE_VERSION: Final = 1
#: Default cap on a whole message (header + payload), in bytes.
DEFAULT_MAX_BYTES: Final = 256 * 2**20
#: Most dims a frame payload may have.
MAX_DIMS: Final = 8
#: Most dims an array *tag* may have.
MAX_TAG_DIMS: Final = 32
#: Payloads below this many bytes travel packed in one part (:func:`encode_frame_packed`).
PACK_THRESHOLD: Final = 65536
_PACKED_MARK: Final = 0xC1
_PACKED_PREFIX: Final = struct.Struct("<BI")
#: Deepest nesting of lists/dicts inside the tag map (the tag map itself is level 0).
MAX_TAG_DEPTH: Final = 32
#: Most list items + map entries one decoded message may hold (arrays count as one item): a
#: hostile tag map of millions of nils would otherwise cost ~8 bytes of RAM per byte received.
MAX_TAG_ITEMS: Final = 65536

#: Whitelisted dtype names.
DTYPES: Final = (
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
)
_LE: Final[dict[str, np.dtype]] = {n: np.dtype(n).newbyteorder("<") for n in DTYPES}
# dtype -> (name, already little-endian); ``dtype.name`` is slow (computed in Python).
_DTYPE_INFO: Final[dict[np.dtype, tuple[str, bool]]] = {
    d: (n, d == _LE[n])
    for n in DTYPES
    for d in (np.dtype(n), np.dtype(n).newbyteorder("<"), np.dtype(n).newbyteorder(">"))
}

_EXT_NDARRAY: Final = 1
_EXT_COMPLEX: Final = 2
_CPLX: Final = struct.Struct("<dd")
_INT64_MAX: Final = 2**63 - 1
_MSGPACK_INT_MIN: Final = -(2**63)
_MSGPACK_INT_MAX: Final = 2**64 - 1

WIRE_ERROR_KINDS: Final = frozenset({
    "truncated", "msgpack", "version", "header", "dtype", "shape", "size", "too_large", "tags",
})


class WireError(ValueError):
    """A message that cannot be encoded/decoded.

    Attributes:
        kind: one of ``"truncated"`` (wrong number of parts, empty or non-bytes part),
            ``"msgpack"`` (header not msgpack or not a map), ``"version"`` (missing or unknown
            version), ``"header"`` (missing or ill-typed field), ``"dtype"`` (dtype not
            whitelisted), ``"shape"`` (negative / non-int dims, more than ``MAX_DIMS`` dims,
            product overflow), ``"size"`` (payload length != prod(shape) * itemsize),
            ``"too_large"`` (declared or actual size above ``max_bytes``), ``"tags"`` (tag map
            or ext payload malformed).
    """

    def __init__(self, kind: str, message: str = "") -> None:
        if kind not in WIRE_ERROR_KINDS:
            raise ValueError(f"unknown WireError kind {kind!r}")
        self.kind: str = kind
        super().__init__(f"{kind}: {message}" if message else kind)


class EndOfStream:
    """Type of the :data:`EOS` singleton that :func:`decode_message` returns for an EOS message."""

    _instance: EndOfStream | None = None
    __slots__ = ()

    def __new__(cls) -> EndOfStream:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "EOS"

    def __reduce__(self) -> str:
        return "EOS"


#: End-of-stream sentinel (singleton; compare with ``is``).
EOS: Final = EndOfStream()


# --------------------------------------------------------------------------------------------
# Tags: encoding
# --------------------------------------------------------------------------------------------

def _array_ext(a: np.ndarray) -> msgpack.ExtType:
    """ExtType code 1 for a numpy array (any whitelisted dtype, any byte order / layout)."""
    info = _DTYPE_INFO.get(a.dtype)
    if info is None:
        raise TypeError(f"array dtype {a.dtype} is not supported on the wire")
    name = info[0]
    if a.ndim > MAX_TAG_DIMS:
        raise TypeError(f"array tag has {a.ndim} dims (at most {MAX_TAG_DIMS})")
    raw = np.ascontiguousarray(a, dtype=_LE[name]).tobytes()
    return msgpack.ExtType(_EXT_NDARRAY, _inner_pack([name, list(a.shape), raw]))


def _default(obj: Any) -> Any:
    """msgpack ``default`` hook: complex, numpy scalars/arrays and torch tensors."""
    if isinstance(obj, complex):  # includes np.complex128
        return msgpack.ExtType(_EXT_COMPLEX, _CPLX.pack(obj.real, obj.imag))
    if isinstance(obj, np.ndarray):
        return _array_ext(obj)
    if isinstance(obj, np.generic):
        kind = obj.dtype.kind
        if kind == "c":
            return msgpack.ExtType(_EXT_COMPLEX, _CPLX.pack(float(obj.real), float(obj.imag)))
        if kind in "biuf" and obj.dtype in _DTYPE_INFO:
            return obj.item()
    elif is_torch_tensor(obj):
        return _array_ext(obj.numpy(force=True))
    raise TypeError(f"cannot encode a value of type {type(obj).__name__}")


class _Packers(threading.local):
    """Per-thread msgpack packers (a Packer is not safe to share between threads)."""

    def __init__(self) -> None:
        self.outer = msgpack.Packer(default=_default, use_bin_type=True)
        self.inner = msgpack.Packer(use_bin_type=True)


_PACKERS = _Packers()


def _inner_pack(obj: Any) -> bytes:
    return _PACKERS.inner.pack(obj)


# Leaf types that need no walk (checked with ``type(v) in``: a fast path for flat tag maps).
_FLAT_TYPES: Final = frozenset({
    type(None), bool, int, float, str, bytes, complex, np.ndarray,
    np.float32, np.int64, np.int32, np.complex64, np.bool_,
})


def _check_keys(tags: Any, depth: int, top: str | None) -> None:
    """Check str keys and nesting depth of a tag map (values are type-checked by msgpack)."""
    for k, v in tags.items():
        if type(k) is not str:
            raise TypeError(f"tag {top or k!r}: map key {k!r} is not a str")
        if type(v) in _FLAT_TYPES:
            continue
        if isinstance(v, (dict, list, tuple)):
            _check_nested(v, depth + 1, top if top is not None else k)


def _check_nested(v: Any, depth: int, top: str) -> None:
    if depth > MAX_TAG_DEPTH:
        raise TypeError(f"tag {top!r}: nested deeper than {MAX_TAG_DEPTH} levels")
    if isinstance(v, dict):
        _check_keys(v, depth, top)
    else:
        for x in v:
            if isinstance(x, (dict, list, tuple)):
                _check_nested(x, depth + 1, top)


def _blame(tags: dict, exc: Exception) -> TypeError:
    """Find the tag whose value made packing fail; a TypeError naming its key."""
    probe = msgpack.Packer(default=_default, use_bin_type=True)
    for k, v in tags.items():
        try:
            probe.pack(v)
        except Exception as e:  # noqa: BLE001 - any failure blames this key
            return TypeError(
                f"tag {k!r}: cannot encode value of type {type(v).__name__} on the wire ({e})")
    return TypeError(f"cannot encode message header: {exc}")


def _pack_checked(obj: dict, tags: dict) -> bytes:
    try:
        return _PACKERS.outer.pack(obj)
    except (TypeError, ValueError, OverflowError) as e:
        raise _blame(tags, e) from e


def encode_tags(tags: dict[str, Any]) -> bytes:
    """Tags -> msgpack bytes (a map; see the module docstring for the value types).

    Raises:
        TypeError: a key is not a str, or a value (anywhere inside tag ``key``) cannot be
            encoded; the message names the key.
    """
    if not isinstance(tags, dict):
        raise TypeError(f"tags must be a dict, not {type(tags).__name__}")
    _check_keys(tags, 0, None)
    return _pack_checked(tags, tags)


# --------------------------------------------------------------------------------------------
# Tags: decoding
# --------------------------------------------------------------------------------------------

class _ItemBudget:
    """Counts the list items and map entries of one decode; raises past :data:`MAX_TAG_ITEMS`."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_TAG_ITEMS

    def take(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise WireError("too_large", f"more than {MAX_TAG_ITEMS} list items / map entries in one message")

    def list_hook(self, v: list) -> list:
        self.take(len(v))
        return v

    def object_hook(self, v: dict) -> dict:
        self.take(len(v))
        return v


def _bounded_unpackb(buf: Any, ext_hook: Any = None) -> Any:
    """``msgpack.unpackb`` with every length limit bounded by the buffer size, and at most
    :data:`MAX_TAG_ITEMS` list items and map entries in all.

    An n-byte buffer cannot legitimately hold a str/bin/ext longer than n bytes, an array of
    more than n items or a map of more than n/2 pairs, so a hostile length prefix is rejected
    before msgpack allocates for it; one container is capped at the item budget before it is
    built, and the budget is counted as containers complete. Nesting is bounded by msgpack's own
    parser stack.

    Every list item and every map entry takes at least one byte of the buffer, so a buffer of
    at most :data:`MAX_TAG_ITEMS` bytes cannot exceed the budget: it is decoded without the
    counting hooks (two Python calls per container, most of the cost of a small header).
    """
    n = len(buf)
    if n <= MAX_TAG_ITEMS:
        return msgpack.unpackb(buf, raw=False, use_list=True, strict_map_key=True, max_str_len=n,
                               max_bin_len=n, max_ext_len=n, max_array_len=n, max_map_len=n // 2,
                               ext_hook=ext_hook if ext_hook is not None else msgpack.ExtType)
    budget = _ItemBudget()
    kw: dict[str, Any] = dict(raw=False, use_list=True, strict_map_key=True, max_str_len=n, max_bin_len=n,
                              max_ext_len=n, max_array_len=min(n, MAX_TAG_ITEMS),
                              max_map_len=min(n // 2, MAX_TAG_ITEMS), list_hook=budget.list_hook,
                              object_hook=budget.object_hook)
    if ext_hook is not None:
        kw["ext_hook"] = ext_hook
    return msgpack.unpackb(buf, **kw)


def _check_shape(sh: Any, itemsize: int, max_dims: int) -> int:
    """Validate a shape list; returns prod(shape) * itemsize. Raises WireError("shape")."""
    if len(sh) > max_dims:
        raise WireError("shape", f"{len(sh)} dims (at most {max_dims})")
    n = 1
    guard = itemsize
    for d in sh:
        if type(d) is not int:
            raise WireError("shape", f"dim {d!r} is not an int")
        if d < 0:
            raise WireError("shape", f"negative dim {d}")
        n *= d
        if d > 1:
            guard *= d
            if guard > _INT64_MAX:
                raise WireError("shape", "shape product overflows")
    return n * itemsize


def _decode_array_ext(data: bytes) -> np.ndarray:
    try:
        obj = _bounded_unpackb(data)
    except Exception as e:  # noqa: BLE001
        raise WireError("tags", f"ndarray ext is not msgpack ({e})") from None
    if type(obj) is not list or len(obj) != 3:
        raise WireError("tags", "ndarray ext is not [dtype, shape, raw]")
    name, sh, raw = obj
    if type(name) is not str or type(sh) is not list or type(raw) is not bytes:
        raise WireError("tags", "ndarray ext fields have wrong types")
    le = _LE.get(name)
    if le is None:
        raise WireError("tags", f"ndarray ext dtype {name!r} not supported")
    try:
        nbytes = _check_shape(sh, le.itemsize, MAX_TAG_DIMS)
    except WireError as e:
        raise WireError("tags", f"ndarray ext shape: {e}") from None
    if nbytes != len(raw):
        raise WireError("tags", f"ndarray ext has {len(raw)} bytes, shape needs {nbytes}")
    return np.frombuffer(raw, dtype=le).reshape(sh).copy()


def _ext_hook(code: int, data: bytes) -> Any:
    if code == _EXT_COMPLEX:
        if len(data) != _CPLX.size:
            raise WireError("tags", f"complex ext has {len(data)} bytes, expected 16")
        return complex(*_CPLX.unpack(data))
    if code == _EXT_NDARRAY:
        return _decode_array_ext(data)
    raise WireError("tags", f"unknown ext type {code}")


_TAG_LEAVES: Final = frozenset({type(None), bool, int, float, str, bytes, complex, np.ndarray})


def _validate_tags(m: dict, depth: int) -> None:
    """Check a decoded tag map: str keys, known leaf types only, bounded nesting."""
    for k, v in m.items():
        if type(k) is not str:
            raise WireError("tags", f"tag key {k!r} is not a str")
        t = type(v)
        if t in _TAG_LEAVES:
            continue
        if t is dict or t is list:
            _validate_nested(v, depth + 1)
        else:
            raise WireError("tags", f"tag {k!r} has unsupported type {t.__name__}")


def _validate_nested(v: Any, depth: int) -> None:
    if depth > MAX_TAG_DEPTH:
        raise WireError("tags", f"tags nested deeper than {MAX_TAG_DEPTH} levels")
    if type(v) is dict:
        _validate_tags(v, depth)
        return
    for x in v:
        t = type(x)
        if t in _TAG_LEAVES:
            continue
        if t is dict or t is list:
            _validate_nested(x, depth + 1)
        else:
            raise WireError("tags", f"tag list item has unsupported type {t.__name__}")


def _unpack(buf: Any, kind: str) -> Any:
    """Bounded msgpack unpack; errors become WireError(kind) (ext errors stay "tags")."""
    try:
        return _bounded_unpackb(buf, _ext_hook)
    except WireError:
        raise
    except Exception as e:  # noqa: BLE001 - anything msgpack raises on garbage
        raise WireError(kind, f"undecodable msgpack ({type(e).__name__}: {e})") from None


def decode_tags(b: bytes | bytearray | memoryview, max_bytes: int = DEFAULT_MAX_BYTES
                ) -> dict[str, Any]:
    """msgpack bytes from :func:`encode_tags` -> tag dict. Raises WireError("tags"/"too_large")."""
    try:
        mv = memoryview(b).cast("B") if not isinstance(b, bytes) else b
    except Exception as e:  # noqa: BLE001
        raise WireError("tags", f"not a bytes-like object ({e})") from None
    if len(mv) > max_bytes:
        raise WireError("too_large", f"{len(mv)} bytes > max_bytes {max_bytes}")
    if len(mv) == 0:
        raise WireError("tags", "empty tag buffer")
    tags = _unpack(mv, "tags")
    if type(tags) is not dict:
        raise WireError("tags", "tags are not a msgpack map")
    _validate_tags(tags, 0)
    return tags


# --------------------------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------------------------

def _payload_array(data: Any, max_bytes: int) -> tuple[np.ndarray, str, str]:
    """(C-contiguous little-endian array, dtype name, container) for a frame's data."""
    if isinstance(data, np.ndarray):
        arr, container = data, "np"
    elif is_torch_tensor(data):
        name = str(data.dtype).removeprefix("torch.")
        if name not in _LE:
            raise WireError("dtype", f"torch dtype {name} is not supported on the wire")
        nbytes = data.numel() * data.element_size()
        if nbytes > max_bytes:
            raise WireError("too_large", f"payload {nbytes} bytes > max_bytes {max_bytes}")
        arr, container = data.numpy(force=True), "pt"  # detach, .cpu(), resolve conj/neg
    else:
        arr, container = np.asarray(data), "np"
    info = _DTYPE_INFO.get(arr.dtype)
    if info is None:
        raise WireError("dtype", f"dtype {arr.dtype} is not supported on the wire")
    name, little = info
    if arr.ndim > MAX_DIMS:
        raise WireError("shape", f"{arr.ndim} dims (at most {MAX_DIMS})")
    if arr.nbytes > max_bytes:
        raise WireError("too_large", f"payload {arr.nbytes} bytes > max_bytes {max_bytes}")
    if not little or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=_LE[name])
    return arr, name, container


def _header_seq(tags: dict) -> tuple[int | None, dict]:
    """Move the ``seq`` tag into the header (None: dropped); other tags stay in the tag map.

    Raises:
        TypeError: ``seq`` is not None or an int in 0..2^63-1.
    """
    if "seq" not in tags:
        return None, tags
    seq = tags["seq"]
    if seq is None:  # no frame counter: the key does not travel
        return None, {k: v for k, v in tags.items() if k != "seq"}
    if type(seq) is int or (isinstance(seq, (int, np.integer)) and not isinstance(seq, bool)):
        seq = int(seq)
        if not is_valid_seq(seq):
            raise TypeError(f"tag 'seq': {seq} is not in 0..2^63-1")
        rest = dict(tags)
        del rest["seq"]
        return seq, rest
    raise TypeError(f"tag 'seq' must be an int or None, not {type(seq).__name__}")


def encode_frame(frame: Frame, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Any]:
    """Frame -> ``[header: bytes, payload: memoryview]`` for ``send_multipart(copy=False)``.

    The payload is a byte memoryview of the array itself (zero copy) unless the data is
    non-contiguous, big-endian or a torch tensor that is not on the CPU, in which case it is
    converted first. A torch tensor is marked ``"c": "pt"`` and comes back as a CPU tensor.

    Raises:
        WireError: ``"dtype"`` / ``"shape"`` for data the wire cannot carry, ``"too_large"``
            when the payload or the whole message exceeds ``max_bytes``.
        TypeError: a tag cannot be encoded (the message names the key).
    """
    tags = frame.tags
    if not isinstance(tags, dict):
        raise TypeError(f"frame tags must be a dict, not {type(tags).__name__}")
    arr, name, container = _payload_array(frame.data, max_bytes)
    seq, tags = _header_seq(tags)
    _check_keys(tags, 0, None)
    header = _pack_checked(
        {"v": WIRE_VERSION, "k": "f", "seq": seq, "dt": name, "sh": list(arr.shape),
         "c": container, "tags": tags},
        tags,
    )
    nbytes = arr.nbytes
    if len(header) + nbytes > max_bytes:
        raise WireError("too_large",
                        f"message {len(header) + nbytes} bytes > max_bytes {max_bytes}")
    payload = arr.data.cast("B") if nbytes else memoryview(b"")
    return [header, payload]


def encode_frame_packed(frame: Frame, max_bytes: int = DEFAULT_MAX_BYTES,
                        threshold: int = PACK_THRESHOLD) -> list[Any]:
    """Like :func:`encode_frame`, but a payload below ``threshold`` bytes is packed with its
    header into one part (``0xC1``, uint32-LE header length, header, payload: one copy of the
    small payload); larger payloads keep the two-part zero-copy form."""
    header, payload = encode_frame(frame, max_bytes)
    if len(payload) >= threshold:
        return [header, payload]
    return [b"".join((_PACKED_PREFIX.pack(_PACKED_MARK, len(header)), header, payload))]


def encode_eos(seq: int | None = None) -> list[bytes]:
    """End-of-stream message: ``[msgpack {"v": 1, "k": "e", "seq": seq}]``."""
    if seq is not None:
        if isinstance(seq, bool) or not isinstance(seq, (int, np.integer)):
            raise TypeError(f"EOS seq must be an int or None, not {type(seq).__name__}")
        seq = int(seq)
    return [_PACKERS.inner.pack({"v": WIRE_VERSION, "k": "e", "seq": seq})]


def _as_bytes_view(p: Any, i: int) -> Any:
    """A flat byte buffer for one received part (bytes, bytearray, memoryview, zmq.Frame)."""
    t = type(p)
    if t is bytes:
        return p
    if t is not memoryview and t is not bytearray:
        buf = getattr(p, "buffer", None)  # zmq.Frame (duck-typed: zmq need not be imported)
        if isinstance(buf, memoryview):
            p = buf
    try:
        mv = p if t is memoryview else memoryview(p)
        if mv.ndim != 1 or mv.format != "B":
            mv = mv.cast("B") if mv.nbytes else memoryview(b"")
    except Exception as e:  # noqa: BLE001
        raise WireError("truncated", f"part {i} is not a contiguous bytes-like object ({e})"
                        ) from None
    return mv


def _decode(parts: Sequence[Any], max_bytes: int) -> Frame | EndOfStream:
    # The common case (a list of bytes parts, a flat tag map) runs through few Python calls:
    # this is the per-frame cost of every cross-process hop.
    t = type(parts)
    if t is not list and t is not tuple:
        if isinstance(parts, (bytes, bytearray, memoryview, str)):
            raise WireError("truncated", "expected a sequence of message parts, got one buffer")
        try:
            n = len(parts)
        except TypeError:
            raise WireError("truncated", "parts is not a sequence") from None
    else:
        n = len(parts)
    if n == 0:
        raise WireError("truncated", "no parts")
    if n > 2:
        raise WireError("truncated", f"{n} parts (at most 2)")
    hb = parts[0]
    if type(hb) is not bytes:
        hb = _as_bytes_view(hb, 0)
    if n == 2:
        pb = parts[1]
        if type(pb) is not bytes:
            pb = _as_bytes_view(pb, 1)
    else:
        pb = b""
        if len(hb) and hb[0] == _PACKED_MARK:  # packed small frame: split it
            if len(hb) > max_bytes:
                raise WireError("too_large", f"message {len(hb)} bytes > max_bytes {max_bytes}")
            if len(hb) < 5:
                raise WireError("truncated", "packed frame shorter than its 5-byte prefix")
            hl = int.from_bytes(hb[1:5], "little")
            if hl == 0 or 5 + hl > len(hb):
                raise WireError("truncated", f"packed frame: header length {hl} does not fit {len(hb)} bytes")
            mv = memoryview(hb)
            hb, pb = mv[5:5 + hl], mv[5 + hl:]
            n = 2
    total = len(hb) + len(pb)
    if total > max_bytes:
        raise WireError("too_large", f"message {total} bytes > max_bytes {max_bytes}")
    if len(hb) == 0:
        raise WireError("truncated", "empty header part")

    h = _unpack(hb, "msgpack")
    if type(h) is not dict:
        raise WireError("msgpack", f"header is a {type(h).__name__}, not a map")
    get = h.get
    v = get("v")
    if type(v) is not int:
        raise WireError("version", "missing or non-int version")
    if v != WIRE_VERSION:
        raise WireError("version", f"unsupported wire version {v} (this is {WIRE_VERSION})")
    k = get("k")
    seq = get("seq")
    if seq is not None and not is_valid_seq(seq):
        raise WireError("header", "seq is not an int in 0..2^63-1 or nil")
    if k == "e":
        if n != 1:
            raise WireError("truncated", f"EOS message has {n} parts (expected 1)")
        return EOS
    if k != "f":
        raise WireError("header", f"unknown message kind {k!r}")
    if n != 2:
        raise WireError("truncated", "frame message without payload part")

    dt = get("dt")
    if type(dt) is not str:
        raise WireError("header", "dt missing or not a str")
    le = _LE.get(dt)
    if le is None:
        raise WireError("dtype", f"dtype {dt!r} is not supported")
    sh = get("sh")
    if type(sh) is not list:
        raise WireError("header", "sh missing or not a list")
    nbytes = _check_shape(sh, le.itemsize, MAX_DIMS)
    if nbytes > max_bytes:
        raise WireError("too_large", f"declared payload {nbytes} bytes > max_bytes {max_bytes}")
    c = get("c")
    if c != "np" and c != "pt":
        raise WireError("header", f"unknown container {c!r}")
    if "tags" not in h:
        raise WireError("header", "tags missing")
    tags = h["tags"]
    if type(tags) is not dict:
        raise WireError("tags", "tags are not a map")
    _validate_tags(tags, 0)
    if "seq" in tags:
        raise WireError("tags", "seq belongs in the header, not in the tag map")
    if "t_ns" in tags and not is_valid_t_ns(tags["t_ns"]):
        raise WireError("tags", "t_ns is not an int64")

    if len(pb) != nbytes:
        raise WireError("size", f"payload has {len(pb)} bytes, shape needs {nbytes}")
    # an array over the received buffer (read-only, no copy); its length was checked above
    arr = np.ndarray(sh, le, pb) if nbytes else np.empty(0, dtype=le).reshape(sh)
    data: Any = arr
    if c == "pt":
        try:
            import torch
        except ImportError:
            raise WireError("header", "torch payload but torch is not installed") from None
        data = torch.from_numpy(arr.copy())
    if seq is not None:
        tags["seq"] = seq
    return Frame(data, tags)


def decode_message(parts: Sequence[Any], max_bytes: int = DEFAULT_MAX_BYTES
                   ) -> Frame | EndOfStream:
    """Received multipart message -> :class:`Frame` or :data:`EOS`.

    ``parts`` items may be ``bytes``, ``bytearray``, ``memoryview`` or ``zmq.Frame`` (its
    ``.buffer`` is used, no copy). Everything is validated before any allocation; the payload
    becomes ``np.frombuffer(...).reshape(sh)`` sharing memory with the received part (a torch
    tensor, copied once, for ``"c": "pt"``). ``tags["seq"]`` is set from the header's seq.

    Raises:
        WireError: for any malformed, hostile or oversized input (never another exception).
    """
    try:
        return _decode(parts, max_bytes)
    except WireError:
        raise
    except Exception as e:  # noqa: BLE001 - last line of defence: malformed input only
        raise WireError("header", f"malformed message ({type(e).__name__}: {e})") from e
