"""PMT codec: known GNU Radio bytes, property-based round trips, fuzzing."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from semradio.blocks.zeromq import pmt
from semradio.blocks.zeromq.pmt import Int64, Pair, PmtError, UInt64

# Serialized with GNU Radio 3.10.5 (pmt.serialize_str(...).hex()), see semradio.blocks.zeromq.gnuradio_peer.
GR_BYTES = {
    "#t": ("00", True),
    "#f": ("01", False),
    "nil": ("06", None),
    "sym": ("02000a7061636b65745f6c656e", "packet_len"),
    "i32": ("03fffffff9", -7),
    "i32max": ("037fffffff", 2**31 - 1),
    "i64": ("0dffffff0000000000", -(2**40)),
    "u64": ("0bffffffffffffffff", UInt64(2**64 - 1)),
    "dbl": ("04be8421f5f40d8376", -1.5e-7),
    "cplx": ("053ff4000000000000c004000000000000", 1.25 - 2.5j),
    "pair": ("070200016b044000000000000000", Pair("k", 2.0)),
    "list": ("0703000000010702000374776f0704400800000000000006", Pair.from_list([1, "two", 3.0])),
    # dict_add(dict_add({}, a, 1), b, "x"): GNU Radio prepends, so b comes first
    "dict": ("09070200016202000178090702000161030000000106", {"b": "x", "a": 1}),
    "tuple": ("0c000000030300000001000200017a", (1, True, "z")),
    "vector": ("0800000002030000000502000176", [5, "v"]),
    "u8": ("0a000000000301000001ff", np.array([0, 1, 255], np.uint8)),
    "s8": ("0a0100000003010080007f", np.array([-128, 0, 127], np.int8)),
    "u16": ("0a020000000201000000ffff", np.array([0, 65535], np.uint16)),
    "s16": ("0a0300000002010080007fff", np.array([-32768, 32767], np.int16)),
    "u32": ("0a0400000002010000000000ffffffff", np.array([0, 2**32 - 1], np.uint32)),
    "s32": ("0a05000000020100800000007fffffff", np.array([-(2**31), 2**31 - 1], np.int32)),
    "u64v": ("0a060000000201000000000000000000ffffffffffffffff", np.array([0, 2**64 - 1], np.uint64)),
    "s64v": ("0a0700000002010080000000000000007fffffffffffffff", np.array([-(2**63), 2**63 - 1], np.int64)),
    "f32": ("0a080000000201003fc0000080000000", np.array([1.5, -0.0], np.float32)),
    "f64": ("0a0900000002010001a56e1fc2f8f359c000000000000000", np.array([1e-300, -2.0])),
    "c32": ("0a0a0000000201003f80000040000000c0600000be800000", np.array([1 + 2j, -3.5 - 0.25j], np.complex64)),
    "c64": ("0a0b0000000101008000000000000000bff0000000000000", np.array([-1j], np.complex128)),
    "empty_f32": ("0a08000000000100", np.zeros(0, np.float32)),
}


def assert_same(a, b) -> None:
    """Structural equality that tells PMT types apart (arrays by dtype and bits, floats by bits)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), (a, b)
        assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, b.dtype)
        assert a.tobytes() == b.tobytes()
        return
    if isinstance(a, float) and isinstance(b, float):
        assert struct.pack("<d", a) == struct.pack("<d", b)
        return
    if isinstance(a, dict):
        assert type(b) is dict and list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
        return
    if isinstance(a, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b)
        for x, y in zip(a, b):
            assert_same(x, y)
        return
    if isinstance(a, Pair):
        assert type(b) is Pair
        assert_same(a.car, b.car)
        assert_same(a.cdr, b.cdr)
        return
    assert type(a) is type(b) or (isinstance(a, int) and isinstance(b, int) and type(a) is not bool
                                  and type(b) is not bool), (a, b)
    assert a == b


@pytest.mark.parametrize("name", sorted(GR_BYTES))
def test_known_gnuradio_bytes(name: str) -> None:
    hexstr, value = GR_BYTES[name]
    raw = bytes.fromhex(hexstr)
    assert pmt.encode(value) == raw
    decoded = pmt.decode(raw)
    assert_same(decoded, value)
    assert pmt.encode(decoded) == raw


def test_integer_width_rules() -> None:
    assert pmt.encode(2**31 - 1)[0] == 0x03
    assert pmt.encode(2**31)[0] == 0x0D
    assert pmt.encode(-(2**31))[0] == 0x03
    assert pmt.encode(2**63)[0] == 0x0B          # beyond int64: uint64
    assert pmt.encode(Int64(3)) == bytes.fromhex("0d0000000000000003")
    assert type(pmt.decode(bytes.fromhex("0d0000000000000003"))) is Int64
    with pytest.raises(ValueError):
        pmt.encode(2**64)
    with pytest.raises(ValueError):
        pmt.encode(-(2**63) - 1)


def test_encode_conversions_and_errors() -> None:
    assert pmt.encode(np.float32(1.5)) == pmt.encode(1.5)
    assert pmt.encode(np.int16(-3)) == pmt.encode(-3)
    assert pmt.encode(np.bool_(True)) == b"\x00"
    assert pmt.encode({}) == b"\x06"
    assert pmt.encode(b"\x00\xff") == pmt.encode(np.array([0, 255], np.uint8))
    assert pmt.encode(np.array([True, False])) == pmt.encode(np.array([1, 0], np.uint8))
    assert pmt.encode(pmt.Serialized(b"\x06")) == b"\x06"
    with pytest.raises(TypeError):
        pmt.encode(object())
    with pytest.raises(ValueError, match="1-D"):
        pmt.encode(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="symbol"):
        pmt.encode("x" * 1025)
    with pytest.raises(ValueError, match="empty tuple"):
        pmt.encode(())
    assert pmt.decode(bytes.fromhex("0c00000000")) == ()  # what GNU Radio writes for make_tuple()
    cyclic: list = []
    cyclic.append(cyclic)
    with pytest.raises(ValueError, match="deeper"):
        pmt.encode(cyclic)


# ------------------------------------------------------------------------- properties
_UV_DTYPES = ["u1", "i1", "<u2", "<i2", "<u4", "<i4", "<u8", "<i8", "<f4", "<f8", "<c8", "<c16"]

leaves = st.one_of(
    st.none(), st.booleans(), st.text(max_size=20),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1).map(Int64),
    st.integers(0, 2**64 - 1).map(UInt64),
    st.floats(allow_nan=False), st.complex_numbers(allow_nan=False),
    st.sampled_from(_UV_DTYPES).flatmap(
        lambda dt: hnp.arrays(np.dtype(dt).newbyteorder("="), st.integers(0, 6),
                              elements={"allow_nan": False} if np.dtype(dt).kind in "fc" else None)),
)
pmt_values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, min_size=1, max_size=4).map(tuple),
        st.dictionaries(st.one_of(st.text(max_size=8), st.integers(-5, 5)), inner, min_size=1, max_size=4),
        st.builds(Pair, inner, inner),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pmt_values)
def test_roundtrip_value(value) -> None:
    raw = pmt.encode(value)
    decoded = pmt.decode(raw)
    assert_same(decoded, value)
    assert pmt.encode(decoded) == raw


@settings(max_examples=300, deadline=None)
@given(pmt_values)
def test_roundtrip_bytes_fixpoint(value) -> None:
    raw = pmt.encode(value)
    assert pmt.encode(pmt.decode(raw)) == raw
    # decode_from reports the end, so values can be concatenated
    joined = raw + raw
    first, end = pmt.decode_from(joined, 0)
    assert end == len(raw)
    second, end2 = pmt.decode_from(joined, end)
    assert end2 == len(joined)


def test_nan_bits_survive() -> None:
    raw = bytes.fromhex("047ff8000000000001")  # a NaN with a payload
    assert pmt.encode(pmt.decode(raw)) == raw
    assert math.isnan(pmt.decode(raw))


# ------------------------------------------------------------------------------ fuzzing
@settings(max_examples=1500, deadline=None)
@given(st.binary(max_size=64))
def test_fuzz_random_bytes_only_pmt_error(raw: bytes) -> None:
    try:
        pmt.decode(raw)
    except PmtError:
        pass


@settings(max_examples=500, deadline=None)
@given(pmt_values, st.data())
def test_fuzz_mutated_encodings(value, data) -> None:
    raw = bytearray(pmt.encode(value))
    op = data.draw(st.sampled_from(["truncate", "flip", "insert"]))
    if op == "truncate":
        raw = raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))]
    elif op == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    else:
        raw.insert(data.draw(st.integers(0, len(raw))), data.draw(st.integers(0, 255)))
    try:
        pmt.decode(bytes(raw))
    except PmtError:
        pass


@pytest.mark.parametrize("raw,kind", [
    (b"", "truncated"),
    (b"\x02\x00\x05ab", "truncated"),
    (b"\x03\x00", "truncated"),
    (b"\x08\xff\xff\xff\xff", "truncated"),                  # 4 G items announced, no bytes
    (b"\x0a\x08\xff\xff\xff\xff\x01\x00", "truncated"),      # huge uniform vector
    (b"\x0a\x0c\x00\x00\x00\x01\x01\x00\x00", "type"),       # unknown subtype
    (b"\x0e", "type"),
    (b"\x02\x00\x01\xff", "symbol"),                         # not UTF-8
    (b"\x09\x03\x00\x00\x00\x01\x06", "dict"),               # entry not a pair
    (b"\x09\x07\x08\x00\x00\x00\x00\x06\x06", "dict"),       # unhashable (vector) key
    (b"\x09\x07\x02\x00\x01a\x06\x03\x00\x00\x00\x01", "dict"),  # chain not ended by nil
    (b"\x08\x00\x00\x00\x01" * 100 + b"\x06", "depth"),
    (b"\x06\x06", "trailing"),
])
def test_malformed_kinds(raw: bytes, kind: str) -> None:
    with pytest.raises(PmtError) as ei:
        pmt.decode(raw)
    assert ei.value.kind == kind


def test_long_list_is_not_recursive() -> None:
    value = Pair.from_list(list(range(5000)))
    raw = pmt.encode(value)
    back = pmt.decode(raw)
    n = 0
    while back is not None:
        assert back.car == n
        back, n = back.cdr, n + 1
    assert n == 5000
