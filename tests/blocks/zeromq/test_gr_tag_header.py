"""gr-zeromq tag header and message framing; frame-tag <-> GNU Radio tag mapping."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.blocks.zeromq import tag_header as grh
from semradio.blocks.zeromq import pmt
from semradio.blocks.zeromq.tag_header import GrFormatError, GrTag
from semradio.blocks.zeromq.gr_tags import SHAPE_SUFFIX, frame_tags_to_gr, gr_tags_to_frame_tags, pmt_to_tag_value

# One message captured from GNU Radio 3.10.5: vector_source_c([1+2j, -1j, 0.5, 3]) with tags
# (1, snr_db, 10.0, srcid 'chan') and (3, seq, 42, #f) -> zeromq.push_sink(pass_tags=True).
GR_MESSAGE = bytes.fromhex(
    "f05f010000000000000000020000000000000001000000000000000200"
    "06736e725f64620440240000000000000200046368616e"
    "0300000000000000020003736571030000002a01"
    "0000803f0000004000000080000080bf0000003f000000000000404000000000")


def test_decode_captured_gnuradio_message() -> None:
    msg = grh.split_message(GR_MESSAGE, 8, pass_tags=True)
    assert msg.offset == 0
    assert msg.tags == [GrTag(1, "snr_db", 10.0, "chan"), GrTag(3, "seq", 42, False)]
    samples = np.frombuffer(msg.payload, np.complex64)
    np.testing.assert_array_equal(samples, np.array([1 + 2j, -1j, 0.5, 3], np.complex64))


def test_encode_matches_captured_gnuradio_message() -> None:
    header = grh.encode_tag_header(0, [GrTag(1, "snr_db", 10.0, "chan"), GrTag(3, "seq", 42, False)])
    payload = np.array([1 + 2j, -1j, 0.5, 3], np.complex64).tobytes()
    assert header + payload == GR_MESSAGE


def test_header_layout() -> None:
    h = grh.encode_tag_header(0x0102030405060708, [])
    assert h == bytes.fromhex("f05f01" "0807060504030201" "0000000000000000")
    assert grh.decode_tag_header(h) == (0x0102030405060708, [], grh.HEADER_SIZE)


def test_keep_raw_bytes() -> None:
    _, tags, _ = grh.decode_tag_header(GR_MESSAGE, keep_raw=True)
    assert tags[0].raw == (pmt.encode("snr_db"), pmt.encode(10.0), pmt.encode("chan"))


tag_values = st.one_of(st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False), st.text(max_size=10),
                       st.booleans(), st.none(), st.complex_numbers(allow_nan=False))
gr_tags = st.lists(st.builds(GrTag, st.integers(0, 2**64 - 1), st.text(max_size=12), tag_values,
                             st.one_of(st.just(False), st.text(max_size=6))), max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1), gr_tags, st.binary(max_size=64).map(lambda b: b[: len(b) // 8 * 8]))
def test_header_roundtrip(offset: int, tags: list[GrTag], payload: bytes) -> None:
    raw = grh.encode_tag_header(offset, tags) + payload
    msg = grh.split_message(raw, 8, pass_tags=True)
    assert msg.offset == offset
    assert [(t.offset, t.key, t.srcid) for t in msg.tags] == [(t.offset, t.key, t.srcid) for t in tags]
    for a, b in zip(msg.tags, tags):
        assert pmt.encode(a.value) == pmt.encode(b.value)
    assert bytes(msg.payload) == payload


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=80), st.sampled_from([1, 2, 4, 8]), st.booleans())
def test_fuzz_only_format_errors(raw: bytes, item: int, tags: bool) -> None:
    try:
        grh.split_message(raw, item, tags)
    except GrFormatError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_fuzz_mutated_captured_message(data) -> None:
    raw = bytearray(GR_MESSAGE)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    raw = raw[: data.draw(st.integers(0, len(raw)))]
    try:
        grh.split_message(bytes(raw), 8, True)
    except GrFormatError:
        pass


@pytest.mark.parametrize("raw,kind", [
    (b"\xf0\x5f\x01", "truncated"),
    (b"\xf1\x5f\x01" + bytes(16), "magic"),
    (b"\xf0\x5f\x02" + bytes(16), "version"),
    (b"\xf0\x5f\x01" + bytes(8) + (2**40).to_bytes(8, "little"), "ntags"),
    (b"\xf0\x5f\x01" + bytes(8) + (1).to_bytes(8, "little") + bytes(8) + b"\x0e\x06\x06", "pmt"),
    (b"\xf0\x5f\x01" + bytes(16) + b"\x00" * 7, "item_size"),
])
def test_format_error_kinds(raw: bytes, kind: str) -> None:
    with pytest.raises(GrFormatError) as ei:
        grh.split_message(raw, 8, True)
    assert ei.value.kind == kind


def test_request_encoding() -> None:
    assert grh.encode_request(8191) == (8191).to_bytes(4, "little")
    assert grh.decode_request(grh.encode_request(5)) == 5
    assert grh.decode_request(b"\x01") is None


# --------------------------------------------------------------------- frame tag mapping
def test_frame_tags_to_gr_and_back() -> None:
    h = (np.arange(6) + 1j).astype(np.complex64).reshape(2, 3)
    tags = {"seq": 7, "t_ns": 2**62, "snr_db": 3.5, "noise_var": np.float32(0.25), "h": h, "channel": "rayleigh",
            "ok": True, "none": None, "nested": {"a": [1, 2.0]}, "bad": object()}
    out, skipped = frame_tags_to_gr(tags, offset=100, nitems=6, srcid="tx")
    assert skipped == ["bad"]
    assert out[0].key == "packet_len" and pmt.decode(pmt.encode(out[0].value)) == 6
    assert all(t.offset == 100 for t in out)
    keys = [t.key for t in out]
    assert "h" + SHAPE_SUFFIX in keys
    # through the wire format and back
    raw = grh.encode_tag_header(100, out)
    _, decoded, _ = grh.decode_tag_header(raw)
    back = gr_tags_to_frame_tags(decoded, start=100)
    assert back["seq"] == 7 and back["t_ns"] == 2**62 and back["snr_db"] == 3.5 and back["noise_var"] == 0.25
    np.testing.assert_array_equal(back["h"], h)
    assert back["h"].dtype == np.complex64
    assert back["channel"] == "rayleigh" and back["ok"] is True and back["none"] is None
    assert back["nested"] == {"a": [1, 2.0]}
    assert back["packet_len"] == 6
    assert "h" + SHAPE_SUFFIX not in back
    assert len(back["gr_tags"]) == len(out)
    assert {e["srcid"] for e in back["gr_tags"]} == {"tx"}


def test_only_frame_start_tags_merge() -> None:
    tags = [GrTag(10, "a", 1), GrTag(12, "b", 2), GrTag(10, pmt.Pair(1, 2), 3)]
    out = gr_tags_to_frame_tags(tags, start=10)
    assert out["a"] == 1 and "b" not in out
    assert [e["offset"] for e in out["gr_tags"]] == [10, 12, 10]
    assert out["gr_tags"][2]["key"] == [1, 2]


def test_pmt_to_tag_value() -> None:
    assert pmt_to_tag_value(pmt.Pair.from_list([1, 2, 3])) == [1, 2, 3]
    assert pmt_to_tag_value(pmt.Pair(1, pmt.Pair(2, 3))) == [1, [2, 3]]
    assert pmt_to_tag_value((1, pmt.Int64(2))) == [1, 2]
    assert type(pmt_to_tag_value(pmt.UInt64(5))) is int
    assert pmt_to_tag_value({1: "x"}) == [[1, "x"]]
    assert pmt_to_tag_value({"k": (1,)}) == {"k": [1]}
