"""Tests for the native wire format (runtime/wire.py): round trips, zero copy, fuzzing."""

from __future__ import annotations

import copy
import math
import struct
import threading
import time
import tracemalloc
from typing import Any

import msgpack
import numpy as np
import pytest
import torch
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from semradio.runtime import wire
from semradio.runtime.frame import Frame
from semradio.runtime.wire import (
    DEFAULT_MAX_BYTES,
    DTYPES,
    EOS,
    WIRE_VERSION,
    WireError,
    decode_message,
    decode_tags,
    encode_eos,
    encode_frame,
    encode_tags,
)

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
ROUND = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TORCH_DTYPES = [
    torch.bool, torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8,
    torch.float16, torch.float32, torch.float64, torch.complex64, torch.complex128,
]


def pack(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


def le_bytes(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()


def same_float(a: float, b: float) -> bool:
    return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))


def expected(v: Any) -> Any:
    """What a tag value looks like after a round trip."""
    if isinstance(v, torch.Tensor):
        return v.numpy(force=True)
    if isinstance(v, np.ndarray):
        return v
    if isinstance(v, np.generic):
        return complex(v) if v.dtype.kind == "c" else v.item()
    if isinstance(v, (list, tuple)):
        return [expected(x) for x in v]
    if isinstance(v, dict):
        return {k: expected(x) for k, x in v.items()}
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    return v


def assert_same(exp: Any, got: Any, path: str = "") -> None:
    """Strict structural equality (types included, NaN == NaN, arrays bit-exact)."""
    if isinstance(exp, np.ndarray):
        assert isinstance(got, np.ndarray), path
        assert got.dtype.name == exp.dtype.name, path
        assert got.shape == exp.shape, path
        assert le_bytes(got) == le_bytes(exp), path
        assert got.flags.writeable, path
        return
    assert type(got) is type(exp), f"{path}: {type(got)} != {type(exp)}"
    if isinstance(exp, float):
        assert same_float(exp, got), path
    elif isinstance(exp, complex):
        assert same_float(exp.real, got.real) and same_float(exp.imag, got.imag), path
    elif isinstance(exp, list):
        assert len(exp) == len(got), path
        for i, (a, b) in enumerate(zip(exp, got)):
            assert_same(a, b, f"{path}[{i}]")
    elif isinstance(exp, dict):
        assert sorted(exp) == sorted(got), path
        for k in exp:
            assert_same(exp[k], got[k], f"{path}.{k}")
    else:
        assert exp == got, path


def assert_frame_data(sent: Any, got: Any) -> None:
    if isinstance(sent, torch.Tensor):
        assert isinstance(got, torch.Tensor)
        assert got.dtype == sent.dtype and got.device.type == "cpu"
        assert tuple(got.shape) == tuple(sent.shape)
        assert got.numpy().tobytes() == sent.numpy(force=True).tobytes()
    else:
        assert isinstance(got, np.ndarray)
        assert got.dtype.name == sent.dtype.name and got.shape == sent.shape
        assert le_bytes(got) == le_bytes(sent)


def good_parts(data: Any = None, **tags: Any) -> list[bytes]:
    data = np.arange(12, dtype=np.float32).reshape(3, 4) if data is None else data
    parts = encode_frame(Frame(data, {"seq": 3, **tags}))
    return [bytes(p) for p in parts]


def header(**over: Any) -> dict:
    h = {"v": WIRE_VERSION, "k": "f", "seq": 1, "dt": "float32", "sh": [2, 3], "c": "np",
         "tags": {}}
    h.update(over)
    return {k: v for k, v in h.items() if v is not _DROP}


_DROP = object()


def raises_wire(parts: Any, kind: str | None = None, **kw: Any) -> WireError:
    with pytest.raises(WireError) as ei:
        decode_message(parts, **kw)
    if kind is not None:
        assert ei.value.kind == kind, str(ei.value)
    return ei.value


def decode_or_wire_error(parts: Any, **kw: Any) -> Any:
    """Decode; a WireError is fine, anything else fails the test."""
    try:
        out = decode_message(parts, **kw)
    except WireError as e:
        assert e.kind in {"truncated", "msgpack", "version", "header", "dtype", "shape",
                          "size", "too_large", "tags"}
        return e
    assert out is EOS or isinstance(out, Frame)
    return out


# ------------------------------------------------------------------------------------------
# strategies
# ------------------------------------------------------------------------------------------

shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5)
any_dtype = st.sampled_from(DTYPES).flatmap(
    lambda n: st.sampled_from([np.dtype(n), np.dtype(n).newbyteorder(">")]))


@st.composite
def arrays(draw: Any, min_dims: int = 1, max_dims: int = 4) -> np.ndarray:
    dt = draw(any_dtype)
    a = draw(hnp.arrays(dt, hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0,
                                             max_side=5)))
    if a.ndim and a.shape[-1] > 1 and draw(st.booleans()):
        a = a[..., ::2]  # non-contiguous view
    return a


np_scalars = st.sampled_from(DTYPES).flatmap(
    lambda n: hnp.from_dtype(np.dtype(n)).map(np.dtype(n).type))

leaves = (
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=8)
    | st.binary(max_size=8) | st.complex_numbers(allow_nan=True, allow_infinity=True)
    | np_scalars | arrays(min_dims=0, max_dims=3)
)
tag_values = st.recursive(
    leaves,
    lambda kids: st.lists(kids, max_size=3) | st.tuples(kids, kids)
    | st.dictionaries(st.text(max_size=4), kids, max_size=3),
    max_leaves=8,
)
tag_maps = st.dictionaries(st.text(max_size=6).filter(lambda k: k not in ("seq", "t_ns")), tag_values,
                           max_size=4)

msgpack_plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats()
    | st.text(max_size=8) | st.binary(max_size=8),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=4), kids,
                                                              max_size=3),
    max_leaves=6,
)


# ------------------------------------------------------------------------------------------
# round trips
# ------------------------------------------------------------------------------------------

@ROUND
@given(data=arrays(), seq=st.none() | st.integers(0, 2**63 - 1))
def test_numpy_round_trip_every_dtype(data: np.ndarray, seq: int | None) -> None:
    tags = {} if seq is None else {"seq": seq}
    got = decode_message(encode_frame(Frame(data, tags)))
    assert isinstance(got, Frame)
    assert_frame_data(data, got.data)
    assert got.seq == seq
    assert got.tags == tags


@pytest.mark.parametrize("name", DTYPES)
def test_every_whitelisted_dtype_explicitly(name: str) -> None:
    data = (np.arange(24) % 3).astype(name).reshape(2, 3, 4)
    got = decode_message(encode_frame(Frame(data)))
    assert got.data.dtype == np.dtype(name)
    np.testing.assert_array_equal(got.data, data)
    h = msgpack.unpackb(encode_frame(Frame(data))[0])
    assert h["dt"] == name and h["sh"] == [2, 3, 4] and h["c"] == "np" and h["v"] == 1


def test_big_endian_is_little_endian_on_the_wire() -> None:
    data = np.arange(6, dtype=">i4").reshape(2, 3)
    parts = encode_frame(Frame(data))
    assert bytes(parts[1]) == np.arange(6, dtype="<i4").tobytes()
    got = decode_message(parts)
    np.testing.assert_array_equal(got.data, data)


@ROUND
@given(dtype=st.sampled_from(TORCH_DTYPES),
       shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4),
       seed=st.integers(0, 2**31 - 1))
def test_torch_round_trip(dtype: torch.dtype, shape: tuple, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    t = (torch.randn(*shape, generator=g, dtype=torch.float64) * 50).to(dtype)
    got = decode_message(encode_frame(Frame(t, {"seq": 9})))
    assert isinstance(got.data, torch.Tensor)
    assert_frame_data(t, got.data)
    assert got.seq == 9
    got.data.add_(1) if dtype != torch.bool else None  # writable, no warning


def test_torch_noncontiguous_conj_and_grad() -> None:
    base = torch.randn(4, 6, dtype=torch.complex64)
    for t in (base.t(), base.conj(), base[:, ::2], torch.randn(3, 3, requires_grad=True)):
        got = decode_message(encode_frame(Frame(t)))
        assert isinstance(got.data, torch.Tensor)
        assert torch.equal(got.data, t.detach().resolve_conj())


def test_torch_unsupported_dtype() -> None:
    with pytest.raises(WireError) as ei:
        encode_frame(Frame(torch.zeros(2, 2, dtype=torch.bfloat16)))
    assert ei.value.kind == "dtype"


@ROUND
@given(tags=tag_maps, seq=st.none() | st.integers(0, 2**63 - 1))
def test_tags_round_trip(tags: dict, seq: int | None) -> None:
    full = dict(tags)
    if seq is not None:
        full["seq"] = seq
    got = decode_message(encode_frame(Frame(np.zeros((1, 2), np.float32), full)))
    exp = expected(full)
    assert_same(exp, got.tags)
    assert got.seq == seq
    # the public helpers agree
    assert_same(exp, decode_tags(encode_tags(full)))


def test_documented_tags_round_trip() -> None:
    rng = np.random.default_rng(0)
    tags = {
        "seq": 42, "t_ns": time.time_ns(), "snr_db": 7.5, "sinr_db": np.float32(3.25),
        "noise_var": np.float64(0.125), "channel": "rayleigh", "denoiser": None,
        "h": (rng.standard_normal((4, 8)) + 1j * rng.standard_normal((4, 8))).astype(np.complex64),
        "h128": rng.standard_normal((2, 3)) + 1j * rng.standard_normal((2, 3)),
        "c": 1 - 2j, "c64": np.complex64(0.5 + 0.25j), "zero_d": np.array(3.5),
        "zero_d_c": np.array(1 + 1j, dtype=np.complex64), "b": b"\x00\xff",
        "nested": {"a": [1, (2.5, "x")], "b": {"c": np.arange(3, dtype=np.uint16)}},
        "flags": np.array([True, False]), "i8": np.int8(-3), "u64": np.uint64(2**64 - 1),
        "torch": torch.arange(4, dtype=torch.int32), "be": np.arange(3, dtype=">f8"),
        "empty": np.zeros((0, 5), np.complex128), "ba": bytearray(b"xy"),
    }
    got = decode_message(encode_frame(Frame(np.zeros((4, 2), np.float32), tags)))
    assert_same(expected(tags), got.tags)
    assert got.tags["h"].dtype == np.complex64 and got.tags["h"].shape == (4, 8)
    assert type(got.tags["c64"]) is complex and got.tags["c64"] == 0.5 + 0.25j
    assert isinstance(got.tags["torch"], np.ndarray)  # documented: tensors come back as numpy
    assert got.tags["zero_d"].shape == ()
    assert got.tags["nested"]["a"] == [1, [2.5, "x"]]
    assert got.tags["u64"] == 2**64 - 1


def test_seq_is_a_non_negative_int64_or_nothing() -> None:
    """A frame counter that is not an int in 0..2^63-1 is refused by the sender, and a message
    that carries one (in the header or in the tag map) is refused by the receiver."""
    got = decode_message(encode_frame(Frame(np.zeros((1,)), {"seq": None})))
    assert got.tags == {}
    got = decode_message(encode_frame(Frame(np.zeros((1,)), {"seq": np.int64(5)})))
    assert got.tags == {"seq": 5} and type(got.seq) is int
    for seq in ("s-1", 2.5, [1], -1, 2**63, True):
        with pytest.raises(TypeError, match="seq"):
            encode_frame(Frame(np.zeros((1,)), {"seq": seq}))
    header, payload = encode_frame(Frame(np.zeros((1,), np.float32), {}))
    h = msgpack.unpackb(header)
    for bad_header_seq in (-1, 2**64 - 1, [1], 1.5):
        with pytest.raises(WireError, match="seq"):
            decode_message([msgpack.packb(dict(h, seq=bad_header_seq)), payload])
    with pytest.raises(WireError, match="seq belongs in the header"):
        decode_message([msgpack.packb(dict(h, tags={"seq": [1]})), payload])
    for t_ns in (2**63, 2**64 - 1, "now", 1.5):
        with pytest.raises(WireError, match="t_ns"):
            decode_message([msgpack.packb(dict(h, tags={"t_ns": t_ns})), payload])


def test_encode_does_not_mutate_tags() -> None:
    tags = {"seq": 1, "x": 2}
    encode_frame(Frame(np.zeros(1), tags))
    assert tags == {"seq": 1, "x": 2}


def test_eos_round_trip() -> None:
    assert decode_message(encode_eos()) is EOS
    assert decode_message(encode_eos(17)) is EOS
    assert decode_message(encode_eos(np.int32(3))) is EOS
    assert repr(EOS) == "EOS"
    assert copy.copy(EOS) is EOS and copy.deepcopy(EOS) is EOS
    assert type(EOS)() is EOS
    [part] = encode_eos(5)
    assert msgpack.unpackb(part) == {"v": 1, "k": "e", "seq": 5}
    with pytest.raises(TypeError):
        encode_eos("x")  # type: ignore[arg-type]
    raises_wire(encode_eos() + [b""], "truncated")


def test_zmq_socket_round_trip_zero_copy() -> None:
    ctx = zmq.Context.instance()
    a, b = ctx.socket(zmq.PAIR), ctx.socket(zmq.PAIR)
    try:
        a.bind("inproc://wire-test")
        b.connect("inproc://wire-test")
        data = np.random.default_rng(1).standard_normal((8, 4096)).astype(np.complex64)
        a.send_multipart(encode_frame(Frame.new(data, 5, snr_db=3.0)), copy=False)
        a.send_multipart(encode_frame(Frame(torch.ones(2, 3))), copy=False)
        a.send_multipart(encode_eos(6), copy=False)
        msgs = [b.recv_multipart(copy=False) for _ in range(3)]
    finally:
        a.close(linger=0)
        b.close(linger=0)
    assert all(isinstance(p, zmq.Frame) for p in msgs[0])
    f = decode_message(msgs[0])
    np.testing.assert_array_equal(f.data, data)
    assert f.seq == 5 and f.tags["snr_db"] == 3.0
    assert np.shares_memory(f.data, np.frombuffer(msgs[0][1].buffer, np.uint8))
    assert torch.equal(decode_message(msgs[1]).data, torch.ones(2, 3))
    assert decode_message(msgs[2]) is EOS


def test_zmq_frame_parts_without_socket() -> None:
    parts = [zmq.Frame(p) for p in good_parts()]
    f = decode_message(parts)
    np.testing.assert_array_equal(f.data, np.arange(12, dtype=np.float32).reshape(3, 4))


def test_concurrent_encoders() -> None:
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(200):
                h = np.full((2, 3), i + j * 1j, np.complex64)
                tags = {"seq": j, "h": h, "c": complex(i, j), "l": [np.float32(i)] * 3}
                got = decode_message(encode_frame(Frame(np.full((1, 4), i, np.int32), tags)))
                assert got.seq == j and np.array_equal(got.tags["h"], h)
                assert got.tags["c"] == complex(i, j) and got.tags["l"] == [float(i)] * 3
                assert (got.data == i).all()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


# ------------------------------------------------------------------------------------------
# zero copy
# ------------------------------------------------------------------------------------------

def test_encode_is_zero_copy_for_contiguous_arrays() -> None:
    data = np.random.default_rng(2).standard_normal((4, 256)).astype(np.float32)
    parts = encode_frame(Frame(data))
    assert isinstance(parts[0], bytes)
    assert isinstance(parts[1], memoryview) and parts[1].nbytes == data.nbytes
    assert np.shares_memory(np.frombuffer(parts[1], np.uint8), data)
    t = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    parts = encode_frame(Frame(t))
    assert np.shares_memory(np.frombuffer(parts[1], np.uint8), t.numpy())


def test_encode_copies_only_when_needed() -> None:
    data = np.arange(24, dtype=np.float64).reshape(4, 6)
    for view in (data[:, ::2], data.T, data.astype(">f8")):
        parts = encode_frame(Frame(view))
        assert not np.shares_memory(np.frombuffer(parts[1], np.uint8), data)
        np.testing.assert_array_equal(decode_message(parts).data, view)


def test_decode_is_zero_copy() -> None:
    hdr, payload = good_parts()
    buf = bytearray(payload)
    f = decode_message([hdr, buf])
    assert np.shares_memory(f.data, np.frombuffer(buf, np.uint8))
    buf[:4] = np.float32(99).tobytes()
    assert f.data[0, 0] == 99
    f = decode_message([hdr, memoryview(buf)])
    assert np.shares_memory(f.data, np.frombuffer(buf, np.uint8))
    f = decode_message([hdr, payload])  # immutable bytes: a read-only view is fine
    assert not f.data.flags.writeable
    assert f.data.base is not None


def test_empty_payload() -> None:
    for data in (np.zeros((0, 3), np.float32), np.zeros((0,), np.complex128),
                 torch.zeros(0, 2)):
        got = decode_message(encode_frame(Frame(data)))
        assert tuple(got.data.shape) == tuple(data.shape)


# ------------------------------------------------------------------------------------------
# encode errors
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    object(), {1, 2}, np.datetime64("2020-01-01"), np.array([object()], dtype=object),
    np.array(["a"]), torch.zeros(2, dtype=torch.bfloat16), 2**70, -(2**64),
    np.zeros(2, dtype=[("a", "f4")]), lambda: 0,
])
def test_unsupported_tag_type_names_the_key(value: Any) -> None:
    with pytest.raises(TypeError, match="the_key"):
        encode_frame(Frame(np.zeros(2), {"ok": 1, "the_key": value}))
    with pytest.raises(TypeError, match="the_key"):
        encode_frame(Frame(np.zeros(2), {"the_key": {"inner": [1, value]}}))
    with pytest.raises(TypeError, match="the_key"):
        encode_tags({"the_key": value})


def test_bad_tag_keys_and_nesting() -> None:
    with pytest.raises(TypeError, match="5"):
        encode_frame(Frame(np.zeros(2), {5: "x"}))  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="the_key"):
        encode_frame(Frame(np.zeros(2), {"the_key": {1: "x"}}))
    deep: Any = 1
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TypeError, match="the_key"):
        encode_frame(Frame(np.zeros(2), {"the_key": deep}))
    cyc: list = []
    cyc.append(cyc)
    with pytest.raises(TypeError, match="the_key"):
        encode_frame(Frame(np.zeros(2), {"the_key": cyc}))
    with pytest.raises(TypeError):
        encode_tags([1, 2])  # type: ignore[arg-type]


def test_encode_data_errors() -> None:
    with pytest.raises(WireError) as ei:
        encode_frame(Frame(np.array(["a", "b"])))
    assert ei.value.kind == "dtype"
    with pytest.raises(WireError) as ei:
        encode_frame(Frame(np.zeros((1,) * 9, np.float32)))
    assert ei.value.kind == "shape"
    with pytest.raises(WireError) as ei:
        encode_frame(Frame(np.zeros(1000, np.float32)), max_bytes=3999)
    assert ei.value.kind == "too_large"
    with pytest.raises(WireError) as ei:  # payload fits, header + payload does not
        encode_frame(Frame(np.zeros(1000, np.float32)), max_bytes=4000)
    assert ei.value.kind == "too_large"
    with pytest.raises(WireError) as ei:
        encode_frame(Frame(torch.zeros(1000)), max_bytes=100)
    assert ei.value.kind == "too_large"
    assert isinstance(ei.value, ValueError)


# ------------------------------------------------------------------------------------------
# decode errors and fuzzing
# ------------------------------------------------------------------------------------------

def test_part_count_errors() -> None:
    hdr, payload = good_parts()
    raises_wire([], "truncated")
    raises_wire([hdr], "truncated")
    raises_wire([hdr, payload, b""], "truncated")
    raises_wire([b"", payload], "truncated")
    raises_wire(hdr, "truncated")  # a bare buffer, not a list of parts
    raises_wire(None, "truncated")
    raises_wire([hdr, 5], "truncated")
    raises_wire([hdr, np.zeros((4, 4))[:, ::2]], "truncated")  # non-contiguous buffer


@FUZZ
@given(delta=st.integers(-48, 48).filter(lambda d: d != 0))
def test_payload_cut_or_extended(delta: int) -> None:
    hdr, payload = good_parts()
    p = payload[:delta] if delta < 0 else payload + b"\x00" * delta
    raises_wire([hdr, p], "size")


@FUZZ
@given(v=st.integers(-(2**63), 2**64 - 1).filter(lambda v: v != WIRE_VERSION)
       | st.none() | st.text(max_size=3) | st.floats() | st.booleans() | st.just(_DROP))
def test_wrong_version(v: Any) -> None:
    raises_wire([pack(header(v=v)), bytes(24)], "version")
    raises_wire([pack({"k": "e"} if v is _DROP else {"v": v, "k": "e"})], "version")


@FUZZ
@given(garbage=st.binary(max_size=64), payload=st.none() | st.binary(max_size=32))
def test_garbage_header(garbage: bytes, payload: bytes | None) -> None:
    parts = [garbage] if payload is None else [garbage, payload]
    decode_or_wire_error(parts)


@FUZZ
@given(obj=msgpack_plain.filter(lambda o: not isinstance(o, dict)))
def test_header_not_a_map(obj: Any) -> None:
    raises_wire([pack(obj), bytes(24)], "msgpack")


@FUZZ
@given(field=st.sampled_from(["k", "seq", "dt", "sh", "c", "tags"]),
       value=msgpack_plain | st.just(_DROP))
def test_header_field_types(field: str, value: Any) -> None:
    h = header(**{field: value})
    out = decode_or_wire_error([pack(h), bytes(24)])
    if isinstance(out, Frame):  # the value happened to be valid for the field
        ok = {
            "k": value == "f", "seq": value is None or value is _DROP or type(value) is int,
            "dt": value in DTYPES, "sh": isinstance(value, list), "c": value in ("np", "pt"),
            "tags": isinstance(value, dict),
        }[field]
        assert ok, (field, value)
        return
    expect = {
        "k": {"header", "truncated"},  # "e" with a payload part is a part-count error
        "seq": {"header"}, "dt": {"header", "dtype", "size"},
        "sh": {"header", "shape", "size", "too_large"}, "c": {"header"},
        "tags": {"header", "tags"},
    }[field]
    assert out.kind in expect, (field, value, out)


@FUZZ
@given(dt=st.text(max_size=12).filter(lambda s: s not in DTYPES)
       | st.sampled_from(["float128", "bfloat16", "object", "<f4", "f4", "str", "U8", "V4"]))
def test_unknown_dtype(dt: str) -> None:
    raises_wire([pack(header(dt=dt)), bytes(24)], "dtype")


def test_tag_arrays_unknown_dtype_never_decoded() -> None:
    raw = pack(["object", [1], b"\x00" * 8])
    raises_wire([pack(header(tags={"x": msgpack.ExtType(1, raw)})), bytes(24)], "tags")


@pytest.mark.parametrize("sh, kind", [
    ([2**40, 2**40], "shape"), ([2**62], "shape"), ([2**63], "shape"), ([2**64 - 1], "shape"),
    ([0, 2**62, 2**62], "shape"), ([-1, 6], "shape"), ([2, -3], "shape"),
    ([1] * 9, "shape"), ([2.0, 3], "shape"), (["2", 3], "shape"), ([True, 6], "shape"),
    ([None], "shape"), ([[2], 3], "shape"), ([2**40], "too_large"),
    ([2**20, 2**20], "too_large"), ([7], "size"), ([2, 3, 0], "size"), ("23", "header"),
    (6, "header"), (None, "header"), (_DROP, "header"),
])
def test_bad_shapes_rejected_fast_without_allocating(sh: Any, kind: str) -> None:
    parts = [pack(header(sh=sh)), bytes(24)]
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        raises_wire(parts, kind)
        dt = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert dt < 0.05
    assert peak < 1 << 20


@FUZZ
@given(sh=st.lists(st.integers(-(2**63), 2**64 - 1) | st.integers(-3, 8), max_size=10))
def test_random_shapes(sh: list[int]) -> None:
    out = decode_or_wire_error([pack(header(sh=sh)), bytes(24)])
    if isinstance(out, Frame):
        assert out.data.shape == tuple(sh) and out.data.nbytes == 24


@FUZZ
@given(data=st.data())
def test_bit_flips_of_a_valid_header(data: Any) -> None:
    hdr, payload = good_parts(snr_db=1.5, h=np.ones((3, 2), np.complex64), c=1j,
                              nested={"a": [1, 2]})
    buf = bytearray(hdr)
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] ^= 1 << data.draw(st.integers(0, 7))
    decode_or_wire_error([bytes(buf), payload])


@FUZZ
@given(data=st.data())
def test_byte_overwrites_and_truncations_of_a_valid_header(data: Any) -> None:
    hdr, payload = good_parts(h=np.ones((3, 2), np.complex128), t=[1.5, "x"])
    buf = bytearray(hdr)
    i = data.draw(st.integers(0, len(buf) - 1))
    buf[i] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        buf = buf[: data.draw(st.integers(0, len(buf)))]
    decode_or_wire_error([bytes(buf), payload])


def test_oversized_vs_max_bytes() -> None:
    hdr, payload = good_parts()
    total = len(hdr) + len(payload)
    assert isinstance(decode_message([hdr, payload], max_bytes=total), Frame)
    raises_wire([hdr, payload], "too_large", max_bytes=total - 1)
    raises_wire([hdr, payload], "too_large", max_bytes=len(payload) - 1)
    raises_wire([pack(header(sh=[1024, 1024])), b""], "too_large", max_bytes=2**20)
    with pytest.raises(WireError) as ei:
        decode_tags(encode_tags({"a": "x" * 100}), max_bytes=50)
    assert ei.value.kind == "too_large"


def test_hostile_msgpack_length_prefixes() -> None:
    # array / map / str / bin / ext headers declaring ~4 GiB in a handful of bytes
    for hb in (b"\xdd\xff\xff\xff\xff", b"\xdf\xff\xff\xff\xff", b"\xdb\xff\xff\xff\xff",
               b"\xc6\xff\xff\xff\xff", b"\xc9\xff\xff\xff\xff\x01",
               b"\x81\xa4tags\xdd\xff\xff\xff\xff"):
        tracemalloc.start()
        try:
            e = raises_wire([hb, b""])
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert e.kind in {"msgpack", "tags", "truncated"}
        assert peak < 1 << 20


def test_deeply_nested_header() -> None:
    deep = b"\x91" * 5000 + b"\x01"
    decode_or_wire_error([deep, b""])
    tags = {"a": 1}
    t: Any = tags
    for _ in range(200):
        t["a"] = {"a": 1}
        t = t["a"]
    raises_wire([pack(header(tags=tags)), bytes(24)], "tags")
    raises_wire([pack(header(tags={"a": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]})),
                 bytes(24)], "tags")


@pytest.mark.parametrize("ext", [
    msgpack.ExtType(2, b"\x00" * 15), msgpack.ExtType(2, b"\x00" * 17), msgpack.ExtType(2, b""),
    msgpack.ExtType(1, b""), msgpack.ExtType(1, b"\xc1"), msgpack.ExtType(1, pack([1, 2])),
    msgpack.ExtType(1, pack(["float32", [2]])),
    msgpack.ExtType(1, pack(["float32", [2], b"\x00" * 8, 1])),
    msgpack.ExtType(1, pack(["float32", [2], b"\x00" * 7])),
    msgpack.ExtType(1, pack(["float32", [-2], b""])),
    msgpack.ExtType(1, pack(["float32", [2**40, 2**40], b""])),
    msgpack.ExtType(1, pack(["float32", [0, 2**62, 2**62], b""])),
    msgpack.ExtType(1, pack(["float32", [1] * 40, b"\x00" * 4])),
    msgpack.ExtType(1, pack(["float32", "2", b"\x00" * 8])),
    msgpack.ExtType(1, pack(["float32", [2.0], b"\x00" * 8])),
    msgpack.ExtType(1, pack([b"float32", [2], b"\x00" * 8])),
    msgpack.ExtType(1, pack(["float32", [2], "\x00" * 8])),
    msgpack.ExtType(1, pack(["datetime64", [1], b"\x00" * 8])),
    msgpack.ExtType(1, pack(["float32", [1], msgpack.ExtType(2, b"\x00" * 16)])),
    msgpack.ExtType(1, pack({"dtype": "float32"})),
    msgpack.ExtType(1, pack(["float32", [2], b"\x00" * 8]) + b"\x00"),
    msgpack.ExtType(3, b"\x00" * 16), msgpack.ExtType(0, b""), msgpack.ExtType(127, b"x"),
    msgpack.Timestamp(1, 2), msgpack.Timestamp(2**40, 999),
])
def test_malformed_ext_payloads_in_tags(ext: Any) -> None:
    for tags in ({"x": ext}, {"x": [1, {"y": ext}]}):
        raises_wire([pack(header(tags=tags)), bytes(24)], "tags")
        with pytest.raises(WireError) as ei:
            decode_tags(pack(tags))
        assert ei.value.kind == "tags"


def raw_ext(code: int, data: bytes) -> bytes:
    """msgpack ext8 bytes for any code in -128..127 (ExtType only allows 0..127)."""
    assert len(data) < 256
    return b"\xc7" + bytes([len(data)]) + struct.pack("b", code) + data


def header_with_raw_tag(raw_value: bytes) -> bytes:
    h = pack(header())
    assert h.endswith(pack("tags") + b"\x80")  # empty tag map is the last entry
    return h[:-1] + b"\x81" + pack("x") + raw_value


def test_negative_ext_codes_rejected() -> None:
    for code, data in ((-5, b"x"), (-1, b"\x00" * 4), (-1, b"\x00" * 3), (-128, b"")):
        raises_wire([header_with_raw_tag(raw_ext(code, data)), bytes(24)])
        with pytest.raises(WireError):
            decode_tags(b"\x81" + pack("x") + raw_ext(code, data))


@FUZZ
@given(code=st.integers(-128, 127), payload=st.binary(max_size=40))
def test_random_ext_payloads(code: int, payload: bytes) -> None:
    out = decode_or_wire_error([header_with_raw_tag(raw_ext(code, payload)), bytes(24)])
    if isinstance(out, Frame):
        assert code in (1, 2)
        assert type(out.tags["x"]) is (complex if code == 2 else np.ndarray)


@FUZZ
@given(inner=msgpack_plain, code=st.sampled_from([1, 2]))
def test_structured_ext_payloads(inner: Any, code: int) -> None:
    decode_or_wire_error([pack(header(tags={"x": msgpack.ExtType(code, pack(inner))})),
                          bytes(24)])


@FUZZ
@given(tags=msgpack_plain)
def test_tags_field_any_msgpack(tags: Any) -> None:
    out = decode_or_wire_error([pack(header(tags=tags)), bytes(24)])
    if isinstance(out, Frame):
        assert isinstance(tags, dict)


def test_bad_tag_maps() -> None:
    raises_wire([pack(header(tags={b"k": 1})), bytes(24)], "tags")  # bytes key
    raises_wire([pack(header(tags={"a": {b"k": 1}})), bytes(24)], "tags")
    raises_wire([pack(header(tags=[1])), bytes(24)], "tags")
    e = raises_wire([pack(header(tags={1: 2})), bytes(24)])  # int keys: strict_map_key
    assert e.kind in {"msgpack", "tags"}
    for b in (b"", b"\x91\x01", b"\xc1", b"\x81\xa1a"):
        with pytest.raises(WireError) as ei:
            decode_tags(b)
        assert ei.value.kind == "tags"


def test_wire_error_kinds() -> None:
    e = WireError("size", "boom")
    assert isinstance(e, ValueError) and e.kind == "size" and "boom" in str(e)
    with pytest.raises(ValueError):
        WireError("nonsense")


def test_defaults() -> None:
    assert WIRE_VERSION == 1
    assert DEFAULT_MAX_BYTES == 256 * 2**20
    assert set(DTYPES) == {
        "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float16", "float32", "float64", "complex64", "complex128"}


def test_nesting_limit_is_the_same_on_both_ends() -> None:
    for make in (lambda v: [v], lambda v: {"a": v}):
        v: Any = 1
        for _ in range(32):
            v = make(v)
        got = decode_message(encode_frame(Frame(np.zeros(1), {"x": v})))
        assert got.tags["x"] == v
        with pytest.raises(TypeError, match="'x'"):
            encode_frame(Frame(np.zeros(1), {"x": make(v)}))
        raises_wire([pack(header(tags={"x": make(v)})), bytes(24)], "tags")


# ---------------------------------------------------------------- packed small frames
def test_packed_small_frame_is_one_part_and_round_trips():
    data = np.arange(24, dtype=np.complex64).reshape(2, 12)
    h = (np.arange(12) * 1j).astype(np.complex64).reshape(1, 12)
    frame = Frame(data, {"seq": 9, "h": h, "snr_db": 3.5})
    parts = wire.encode_frame_packed(frame)
    assert len(parts) == 1 and parts[0][0] == 0xC1
    out = wire.decode_message(parts)
    assert out.tags["seq"] == 9 and out.tags["snr_db"] == 3.5
    np.testing.assert_array_equal(out.data, data)
    np.testing.assert_array_equal(out.tags["h"], h)


def test_large_payload_keeps_two_zero_copy_parts():
    data = np.zeros((1, wire.PACK_THRESHOLD // 4), np.float32)
    parts = wire.encode_frame_packed(Frame(data, {"seq": 1}))
    assert len(parts) == 2 and np.shares_memory(np.frombuffer(parts[1], np.uint8), data)
    assert wire.decode_message(parts).data.shape == data.shape


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_packed_frames_only_raise_wire_errors(data):
    frame = Frame(np.ones((2, 8), np.float32), {"seq": 3, "snr_db": 1.0})
    (packed,) = wire.encode_frame_packed(frame)
    buf = bytearray(packed)
    mode = data.draw(st.sampled_from(["cut", "flip", "hlen", "extra_part"]))
    if mode == "cut":
        buf = buf[:data.draw(st.integers(0, len(buf) - 1))]
        parts = [bytes(buf)]
    elif mode == "flip":
        i = data.draw(st.integers(1, len(buf) - 1))
        buf[i] ^= data.draw(st.integers(1, 255))
        parts = [bytes(buf)]
    elif mode == "hlen":
        buf[1:5] = data.draw(st.integers(0, 2**32 - 1)).to_bytes(4, "little")
        parts = [bytes(buf)]
    else:
        parts = [bytes(buf), b"x"]
    try:
        out = wire.decode_message(parts)
    except wire.WireError:
        return
    # a mutation that still decodes must give a well-formed frame
    assert isinstance(out, Frame) and out.data.size * out.data.itemsize <= len(packed)
