"""PMT serialization (GNU Radio's ``pmt::serialize`` / ``pmt::deserialize``), pure functions.

GNU Radio puts polymorphic types (PMTs) on the wire in stream-tag headers (gr-zeromq,
:mod:`semradio.blocks.zeromq.tag_header`) and in message ports. This module reads and writes that
byte format without GNU Radio (reference: ``gnuradio-runtime/lib/pmt/pmt_serialize.cc``,
GNU Radio 3.10). Every multi-byte number is **big-endian**.

Byte layout (one type byte, then the body)::

    0x00 #t                       0x01 #f                        0x06 nil (also the empty dict)
    0x02 symbol     u16 len, len bytes (UTF-8 here)
    0x03 int32      i32             0x0d int64  i64              0x0b uint64  u64
    0x04 double     f64             0x05 complex  f64 re, f64 im
    0x07 pair       car, then cdr; a cdr that is itself a pair continues with its own 0x07
                    (so the list (1 2) is 07 <1> 07 <2> 06)
    0x09 dict       GNU Radio's dict is a chain of dict cells whose cars are (key . value)
                    pairs: 09 07 <k1> <v1> 09 07 <k2> <v2> 06; ``dict_add`` prepends, so the
                    most recently added key comes first
    0x08 vector     u32 n, n PMTs          0x0c tuple    u32 n, n PMTs
    0x0a uniform vector  u8 subtype, u32 n, u8 npad (=1), npad pad bytes (0), n elements

Uniform-vector subtypes: 0x00 u8, 0x01 s8, 0x02 u16, 0x03 s16, 0x04 u32, 0x05 s32, 0x06 u64,
0x07 s64, 0x08 f32, 0x09 f64, 0x0a c32 (pairs of f32), 0x0b c64 (pairs of f64).

Integers: GNU Radio writes a ``long`` as int32 when it fits and as int64 otherwise; uint64 has
its own code.

Python mapping (``decode`` returns, ``encode`` accepts):

=============== ======================== ================================================
PMT             decoded as               encoded from
=============== ======================== ================================================
#t / #f         ``bool``                 ``bool``, ``np.bool_``
nil             ``None``                 ``None``, an empty ``dict``
symbol          ``str``                  ``str`` (UTF-8, at most ``MAX_SYMBOL_BYTES``)
int32           ``int``                  ``int`` / ``np.integer`` in int32 range
int64           :class:`Int64` (an int)  ``int`` outside int32 but in int64 range; ``Int64``
uint64          :class:`UInt64` (an int) :class:`UInt64`; ``int`` in [2**63, 2**64)
double          ``float``                ``float``, ``np.floating``
complex         ``complex``              ``complex``, ``np.complexfloating``
pair            :class:`Pair`            :class:`Pair`
dict            ``dict`` (wire order)    ``dict`` (iteration order = wire order)
vector          ``list``                 ``list``
tuple           ``tuple``                non-empty ``tuple`` (GNU Radio cannot read ())
uniform vector  1-D ``np.ndarray``       1-D ``np.ndarray`` of a subtype's dtype (native
                (native byte order)      or any byte order; bool as u8); ``bytes`` as u8
=============== ======================== ================================================

So ``encode(decode(b)) == b`` for every byte string GNU Radio's serializer produces (this is
tested against bytes from GNU Radio itself), and ``decode(encode(x)) == x`` for the values in
the right-hand column (modulo the stated conversions).

Robustness: :func:`decode` treats its input as untrusted. Every count is checked against the
bytes left before anything is allocated, nesting is bounded by ``MAX_DEPTH``, and every
failure is a :class:`PmtError` (never another exception).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from semradio.runtime.wire import MAX_TAG_DEPTH, MAX_TAG_ITEMS

__all__ = [
    "PmtError", "Int64", "UInt64", "Pair", "Serialized", "encode", "decode", "decode_from", "MAX_DEPTH", "MAX_ITEMS",
    "MAX_SYMBOL_BYTES", "UVECTOR_DTYPES",
]

# Type bytes (pmt_serial_tags.h)
PST_TRUE: Final = 0x00
PST_FALSE: Final = 0x01
PST_SYMBOL: Final = 0x02
PST_INT32: Final = 0x03
PST_DOUBLE: Final = 0x04
PST_COMPLEX: Final = 0x05
PST_NULL: Final = 0x06
PST_PAIR: Final = 0x07
PST_VECTOR: Final = 0x08
PST_DICT: Final = 0x09
PST_UNIFORM_VECTOR: Final = 0x0A
PST_UINT64: Final = 0x0B
PST_TUPLE: Final = 0x0C
PST_INT64: Final = 0x0D

#: Uniform-vector subtype byte -> big-endian numpy dtype of the elements.
UVECTOR_DTYPES: Final[dict[int, np.dtype]] = {
    0x00: np.dtype(">u1"), 0x01: np.dtype(">i1"), 0x02: np.dtype(">u2"), 0x03: np.dtype(">i2"),
    0x04: np.dtype(">u4"), 0x05: np.dtype(">i4"), 0x06: np.dtype(">u8"), 0x07: np.dtype(">i8"),
    0x08: np.dtype(">f4"), 0x09: np.dtype(">f8"), 0x0A: np.dtype(">c8"), 0x0B: np.dtype(">c16"),
}
_SUBTYPE_OF_KIND: Final[dict[tuple[str, int], int]] = {
    (d.kind, d.itemsize): code for code, d in UVECTOR_DTYPES.items()
}

#: Deepest nesting of containers (vector, tuple, dict, pair car) decode/encode accept.
#: Deepest nesting accepted, the same limit as the native wire format's tags (GNU Radio allows 64).
MAX_DEPTH: Final = MAX_TAG_DEPTH
#: Most PMT objects one :func:`decode_from` call (or one shared budget) may build, as the wire
#: format's tag maps: a message of millions of nils in a vector or a pair chain would otherwise
#: cost tens of bytes of RAM per byte received. A uniform vector counts as one object.
MAX_ITEMS: Final = MAX_TAG_ITEMS
#: Longest symbol encode writes: GNU Radio's deserializer rejects symbols over 1024 bytes.
MAX_SYMBOL_BYTES: Final = 1024

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_I64 = struct.Struct(">q")
_U64 = struct.Struct(">Q")
_F64 = struct.Struct(">d")
_C128 = struct.Struct(">dd")
_UVHEAD = struct.Struct(">BBIBB")  # type, subtype, n, npad(=1), pad(=0)

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_UINT64_MAX = 2**64 - 1


class PmtError(ValueError):
    """Malformed PMT bytes. ``kind``: ``"truncated"``, ``"type"`` (unknown type/subtype byte),
    ``"symbol"`` (not UTF-8), ``"dict"`` (malformed dict chain or unhashable key),
    ``"depth"`` (nested deeper than ``MAX_DEPTH``), ``"trailing"`` (bytes left after the
    value, :func:`decode` only)."""

    def __init__(self, kind: str, message: str = "") -> None:
        self.kind = kind
        super().__init__(f"pmt {kind}: {message}" if message else f"pmt {kind}")


class Int64(int):
    """An int serialized as PMT int64 (0x0d) even when it fits int32 (what ``decode``
    returns for int64 bytes, so re-encoding is bit-exact)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int64({int(self)})"


class UInt64(int):
    """An int serialized as PMT uint64 (0x0b), 0 <= value < 2**64."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"UInt64({int(self)})"


@dataclass(frozen=True, slots=True)
class Pair:
    """A PMT pair ``(car . cdr)``; the list ``(a b)`` is ``Pair(a, Pair(b, None))``."""

    car: Any
    cdr: Any

    @classmethod
    def from_list(cls, items: list[Any]) -> "Pair | None":
        """The proper PMT list of ``items`` (None for an empty list)."""
        out: Any = None
        for x in reversed(items):
            out = cls(x, out)
        return out


class Serialized(bytes):
    """Bytes that are already one serialized PMT: :func:`encode` copies them verbatim (lets a
    caller serialize a large value once, e.g. to check it, and reuse the bytes)."""

    __slots__ = ()


# --------------------------------------------------------------------------------- encoding
def encode(obj: Any) -> bytes:
    """Serialize a Python value as PMT bytes (see the module table).

    Raises:
        TypeError: a value of an unsupported type (anywhere inside ``obj``).
        ValueError: an int outside [-2**63, 2**64), a too long symbol, a multi-dimensional
            array, an empty tuple, nesting deeper than ``MAX_DEPTH``.
    """
    out: list[bytes] = []
    _enc(obj, out, 0)
    return b"".join(out)


def _enc(obj: Any, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValueError(f"PMT value nested deeper than {MAX_DEPTH} levels")
    while True:
        t = type(obj)
        if t is Serialized:
            out.append(obj)
        elif obj is None:
            out.append(b"\x06")
        elif t is bool or t is np.bool_:
            out.append(b"\x00" if obj else b"\x01")
        elif t is str:
            raw = obj.encode("utf-8")
            if len(raw) > MAX_SYMBOL_BYTES:
                raise ValueError(f"symbol of {len(raw)} bytes (GNU Radio reads at most {MAX_SYMBOL_BYTES})")
            out.append(b"\x02" + _U16.pack(len(raw)) + raw)
        elif isinstance(obj, (int, np.integer)):
            _enc_int(obj, out)
        elif isinstance(obj, (float, np.floating)):
            out.append(b"\x04" + _F64.pack(float(obj)))
        elif isinstance(obj, (complex, np.complexfloating)):
            c = complex(obj)
            out.append(b"\x05" + _C128.pack(c.real, c.imag))
        elif t is Pair:
            out.append(b"\x07")
            _enc(obj.car, out, depth + 1)
            obj = obj.cdr  # tail: a pair cdr continues the chain (as GNU Radio writes it)
            continue
        elif isinstance(obj, dict):
            for k, v in obj.items():
                out.append(b"\x09\x07")
                _enc(k, out, depth + 1)
                _enc(v, out, depth + 1)
            out.append(b"\x06")
        elif isinstance(obj, list):
            out.append(b"\x08" + _U32.pack(len(obj)))
            for x in obj:
                _enc(x, out, depth + 1)
        elif isinstance(obj, tuple):
            if not obj:  # GNU Radio 3.10 writes () but its deserializer throws on it
                raise ValueError("an empty tuple cannot be read by GNU Radio; use an empty list (vector)")
            out.append(b"\x0c" + _U32.pack(len(obj)))
            for x in obj:
                _enc(x, out, depth + 1)
        elif isinstance(obj, np.ndarray):
            out.append(_enc_uvector(obj))
        elif isinstance(obj, (bytes, bytearray, memoryview)):
            out.append(_enc_uvector(np.frombuffer(bytes(obj), np.uint8)))
        else:
            raise TypeError(f"cannot serialize a {t.__name__} as a PMT")
        return


def _enc_int(obj: Any, out: list[bytes]) -> None:
    i = int(obj)
    if type(obj) is UInt64 or (i > _INT64_MAX):
        if not 0 <= i <= _UINT64_MAX:
            raise ValueError(f"{i} is out of the uint64 range")
        out.append(b"\x0b" + _U64.pack(i))
    elif i < _INT64_MIN:
        raise ValueError(f"{i} is out of the int64 range")
    elif type(obj) is Int64 or not _INT32_MIN <= i <= _INT32_MAX:
        out.append(b"\x0d" + _I64.pack(i))
    else:
        out.append(b"\x03" + _I32.pack(i))


def _enc_uvector(a: np.ndarray) -> bytes:
    if a.ndim != 1:
        raise ValueError(f"a PMT uniform vector is 1-D; got an array of shape {a.shape} (flatten it)")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8)
    code = _SUBTYPE_OF_KIND.get((a.dtype.kind, a.dtype.itemsize))
    if code is None:
        if a.dtype == np.float16:
            a, code = a.astype(np.float32), 0x08
        else:
            raise TypeError(f"no PMT uniform vector holds dtype {a.dtype}")
    be = np.ascontiguousarray(a, dtype=UVECTOR_DTYPES[code])
    return _UVHEAD.pack(PST_UNIFORM_VECTOR, code, a.shape[0], 1, 0) + be.tobytes()


# --------------------------------------------------------------------------------- decoding
def decode(buf: bytes | bytearray | memoryview) -> Any:
    """Deserialize exactly one PMT that fills ``buf``.

    Raises:
        PmtError: malformed input, or bytes left over (kind ``"trailing"``).
    """
    mv = memoryview(buf).cast("B") if not isinstance(buf, bytes) else buf
    obj, end = decode_from(mv, 0)
    if end != len(mv):
        raise PmtError("trailing", f"{len(mv) - end} bytes after the value")
    return obj


def decode_from(buf: bytes | memoryview, pos: int = 0, budget: list[int] | None = None) -> tuple[Any, int]:
    """Deserialize one PMT starting at ``buf[pos]``; returns ``(value, end position)``.

    ``budget``: a one-item list holding how many more objects may be built, shared across calls
    (e.g. every tag of one message); None: a fresh budget of :data:`MAX_ITEMS`.

    Raises:
        PmtError: malformed or truncated input, or too many objects (kind ``"too_many"``; never
            another exception).
    """
    budget = [MAX_ITEMS] if budget is None else budget
    try:
        return _dec(buf, pos, len(buf), 0, budget)
    except PmtError:
        raise
    except RecursionError:
        raise PmtError("depth", "nesting too deep") from None
    except Exception as e:  # noqa: BLE001 - last line of defence: malformed input only
        raise PmtError("type", f"malformed PMT ({type(e).__name__}: {e})") from None


def _need(pos: int, n: int, end: int, what: str) -> None:
    if pos + n > end:
        raise PmtError("truncated", f"{what} needs {n} bytes at offset {pos}, {max(0, end - pos)} left")


def _dec(buf: Any, pos: int, end: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    if depth > MAX_DEPTH:
        raise PmtError("depth", f"nested deeper than {MAX_DEPTH} levels")
    budget[0] -= 1
    if budget[0] < 0:
        raise PmtError("too_many", f"more than {MAX_ITEMS} PMT objects in one message")
    _need(pos, 1, end, "type byte")
    tag = buf[pos]
    pos += 1
    if tag == PST_TRUE:
        return True, pos
    if tag == PST_FALSE:
        return False, pos
    if tag == PST_NULL:
        return None, pos
    if tag == PST_SYMBOL:
        _need(pos, 2, end, "symbol length")
        (n,) = _U16.unpack_from(buf, pos)
        pos += 2
        _need(pos, n, end, "symbol")
        try:
            s = bytes(buf[pos:pos + n]).decode("utf-8")
        except UnicodeDecodeError as e:
            raise PmtError("symbol", f"symbol is not UTF-8 ({e})") from None
        return s, pos + n
    if tag == PST_INT32:
        _need(pos, 4, end, "int32")
        return _I32.unpack_from(buf, pos)[0], pos + 4
    if tag == PST_INT64:
        _need(pos, 8, end, "int64")
        return Int64(_I64.unpack_from(buf, pos)[0]), pos + 8
    if tag == PST_UINT64:
        _need(pos, 8, end, "uint64")
        return UInt64(_U64.unpack_from(buf, pos)[0]), pos + 8
    if tag == PST_DOUBLE:
        _need(pos, 8, end, "double")
        return _F64.unpack_from(buf, pos)[0], pos + 8
    if tag == PST_COMPLEX:
        _need(pos, 16, end, "complex")
        re, im = _C128.unpack_from(buf, pos)
        return complex(re, im), pos + 16
    if tag == PST_PAIR:
        return _dec_pair(buf, pos, end, depth, budget)
    if tag == PST_DICT:
        return _dec_dict(buf, pos, end, depth, budget)
    if tag == PST_VECTOR or tag == PST_TUPLE:
        _need(pos, 4, end, "vector length")
        (n,) = _U32.unpack_from(buf, pos)
        pos += 4
        if n > end - pos:  # every element takes at least one byte
            raise PmtError("truncated", f"vector of {n} items in {end - pos} bytes")
        if n > budget[0]:
            raise PmtError("too_many", f"vector of {n} items exceeds the budget of {MAX_ITEMS} PMT objects")
        items = []
        for _ in range(n):
            x, pos = _dec(buf, pos, end, depth + 1, budget)
            items.append(x)
        return (items if tag == PST_VECTOR else tuple(items)), pos
    if tag == PST_UNIFORM_VECTOR:
        _need(pos, 6, end, "uniform vector header")
        sub = buf[pos]
        (n,) = _U32.unpack_from(buf, pos + 1)
        npad = buf[pos + 5]
        pos += 6
        dt = UVECTOR_DTYPES.get(sub)
        if dt is None:
            raise PmtError("type", f"unknown uniform vector subtype 0x{sub:02x}")
        _need(pos, npad, end, "uniform vector padding")
        pos += npad
        nbytes = n * dt.itemsize
        _need(pos, nbytes, end, f"uniform vector of {n} items")
        arr = np.frombuffer(buf, dtype=dt, count=n, offset=pos).astype(dt.newbyteorder("="))
        return arr, pos + nbytes
    raise PmtError("type", f"unknown type byte 0x{tag:02x} at offset {pos - 1}")


def _dec_pair(buf: Any, pos: int, end: int, depth: int, budget: list[int]) -> tuple[Any, int]:
    """After a 0x07: car, then either 0x07 (the chain goes on), 0x06 (nil cdr) or any cdr."""
    cars = []
    while True:
        car, pos = _dec(buf, pos, end, depth + 1, budget)
        cars.append(car)
        _need(pos, 1, end, "pair cdr")
        nxt = buf[pos]
        if nxt == PST_PAIR:
            pos += 1
            continue
        if nxt == PST_NULL:
            cdr, pos = None, pos + 1
        else:
            cdr, pos = _dec(buf, pos, end, depth + 1, budget)
        break
    out = cdr
    for car in reversed(cars):
        out = Pair(car, out)
    return out, pos


def _dec_dict(buf: Any, pos: int, end: int, depth: int, budget: list[int]) -> tuple[dict, int]:
    """After a 0x09: (key . value) pair, then 0x09 or 0x07 (more entries) or 0x06 (end)."""
    out: dict = {}
    while True:
        entry, pos = _dec(buf, pos, end, depth + 1, budget)
        if type(entry) is not Pair:
            raise PmtError("dict", f"dict entry is a {type(entry).__name__}, not a (key . value) pair")
        try:
            out[entry.car] = entry.cdr
        except TypeError:
            raise PmtError("dict", f"unhashable dict key of type {type(entry.car).__name__}") from None
        _need(pos, 1, end, "dict continuation")
        nxt = buf[pos]
        pos += 1
        if nxt == PST_NULL:
            return out, pos
        if nxt not in (PST_DICT, PST_PAIR):
            raise PmtError("dict", f"dict chain continues with type byte 0x{nxt:02x} (expected 0x09 or 0x06)")
