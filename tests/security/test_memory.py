"""Finding 5: bounded memory. A hostile message may cost about its own size, not a multiple of it:
every format has ``max_bytes``, a GNU Radio message is cut into frames one at a time, and the
tag decoders build at most 65,536 objects per message (PMT and msgpack alike). Peak RSS growth
of a receiving process under each 4 MB hostile message (20 MB for the native list of nils)
stays below 4x the message's size."""

from __future__ import annotations

import struct
import sys
import time

import msgpack
import numpy as np
import pytest

from semradio.blocks.zeromq import pmt
from semradio.blocks.zeromq import tag_header as grh
from semradio.cli.bench.hostile import memory_messages, peak_rss_growth
from semradio.runtime import wire

MB4 = 4 * 2**20


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads the peak RSS from /proc (VmHWM, reset by clear_refs)")
@pytest.mark.parametrize("case", list(memory_messages()))
def test_peak_rss_growth_stays_below_4x_the_message(case: str, tmp_path) -> None:
    fmt, parts = memory_messages()[case]
    size = sum(len(p) for p in parts)
    out = peak_rss_growth(fmt, parts)
    ratio = out["growth_kb"] * 1024 / size
    print(f"{case}: {size / 2**20:.1f} MB message, peak RSS growth {out['growth_kb'] / 1024:.1f} MB "
          f"({ratio:.2f}x), malformed {out['stats']['malformed_by_kind']}, frames {out['sink']}")
    assert ratio < 4.0, f"{case}: peak RSS grew by {ratio:.1f}x the message size"
    if "samples" in case:
        assert out["sink"] == MB4 // 8 // 4  # every frame delivered, one at a time
    else:
        assert sum(out["stats"]["malformed_by_kind"].values()) == 1  # refused, counted


def test_decoders_refuse_more_than_the_object_budget() -> None:
    with pytest.raises(pmt.PmtError, match="budget|more than"):
        pmt.decode(b"\x08" + struct.pack(">I", pmt.MAX_ITEMS + 1) + b"\x06" * (pmt.MAX_ITEMS + 1))
    with pytest.raises(pmt.PmtError, match="more than"):
        pmt.decode(b"\x07\x06" * (pmt.MAX_ITEMS + 1) + b"\x06")
    nested = msgpack.packb({"x": [[None] * 40000, [None] * 40000]})
    with pytest.raises(wire.WireError, match="list items"):
        wire.decode_tags(nested)
    assert pmt.decode(b"\x08" + struct.pack(">I", 1000) + b"\x06" * 1000) == [None] * 1000
    with pytest.raises(grh.GrFormatError, match="at most"):
        grh.decode_tag_header(struct.pack("<HBQQ", grh.GR_HEADER_MAGIC, 1, 0, grh.MAX_TAGS + 1)
                              + (struct.pack("<Q", 0) + b"\x06\x06\x06") * (grh.MAX_TAGS + 1))


def test_gnuradio_max_bytes_is_enforced(tmp_path) -> None:
    from semradio.blocks import ZMQSource

    src = ZMQSource("ipc:///tmp/semradio-unused", format="gnuradio", max_bytes=1024, frame_len=8)

    class Part:
        def __init__(self, b: bytes) -> None:
            self.buffer = memoryview(b)

    src._on_gnuradio([Part(np.zeros(200, np.complex64).tobytes())])
    assert src.stats["malformed_by_kind"] == {"too_large": 1}
    time.sleep(0)
