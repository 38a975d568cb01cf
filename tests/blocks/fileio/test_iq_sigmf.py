"""Raw IQ and SigMF files: formats against the ``sigmf`` package, round trips both ways."""

from __future__ import annotations

import time

import numpy as np
import pytest
import sigmf
from sigmf import SigMFFile
from sigmf.sigmffile import fromfile

from semradio.blocks import ArraySource, CollectSink, IQFileSink, IQFileSource, SigMFSink, SigMFSource
from semradio.blocks.fileio.iq_files import IQ_FORMATS, decode_iq, encode_iq
from semradio.runtime import Flowgraph


@pytest.mark.parametrize("fmt", sorted(IQ_FORMATS))
def test_decode_matches_sigmf_autoscale(tmp_path, fmt: str) -> None:
    f = IQ_FORMATS[fmt]
    rng = np.random.default_rng(3)
    if f.fixed_point:
        info = np.iinfo(f.component)
        comp = rng.integers(info.min, info.max, 2 * 50 if f.is_complex else 50, endpoint=True).astype(f.component)
    else:
        comp = rng.standard_normal(2 * 50 if f.is_complex else 50).astype(f.component)
    path = tmp_path / "x.sigmf-data"
    comp.tofile(path)
    rec = SigMFFile(data_file=str(path), global_info={"core:datatype": fmt, "core:version": sigmf.__specification__})
    ours = decode_iq(comp.tobytes(), fmt)
    theirs = rec.read_samples()
    assert ours.dtype == theirs.dtype
    np.testing.assert_array_equal(ours, theirs)
    # and back: encoding the decoded samples gives the same bytes
    if fmt != "cf64_le":  # cf64 decodes to complex64 (as sigmf does): not invertible
        assert encode_iq(ours, fmt).tobytes() == comp.tobytes()


def test_encode_clips_and_rejects() -> None:
    assert encode_iq(np.array([2.0 - 2.0j], np.complex64), "ci16_le").tolist() == [32767, -32768]
    assert encode_iq(np.array([0j], np.complex64), "cu8").tolist() == [128, 128]
    with pytest.raises(ValueError):
        encode_iq(np.array([1j]), "rf32_le")
    with pytest.raises(ValueError):
        decode_iq(b"\x00" * 7, "cf32_le")
    with pytest.raises(ValueError):
        IQFileSource("x", "cf17")


def test_iq_file_roundtrip_and_partial_frames(tmp_path) -> None:
    x = (np.arange(1000) * (1 - 1j) / 1000).astype(np.complex64)
    path = str(tmp_path / "cap.ci16")
    fg = Flowgraph("rec")
    fg.connect(ArraySource(x.reshape(10, 100), batch=3), IQFileSink(path, "ci16_le"))
    fg.run(timeout=10)
    col = CollectSink()
    src = IQFileSource(path, "ci16_le", frame_len=128, batch=2, sample_rate=1e3)
    fg = Flowgraph("play")
    fg.connect(src, col)
    fg.run(timeout=10)
    assert [f.data.shape for f in col.frames] == [(2, 128)] * 3
    got = np.concatenate([f.data.reshape(-1) for f in col.frames])
    np.testing.assert_allclose(got, x[:768], atol=1 / 32768)
    assert [f.tags["sample_offset"] for f in col.frames] == [0, 256, 512]
    assert col.frames[0].tags["sample_rate"] == 1e3
    assert src.dropped_samples == 1000 - 768
    col = CollectSink()
    fg = Flowgraph("pad")
    fg.connect(IQFileSource(path, "ci16_le", frame_len=300, partial="pad", start=150), col)
    fg.run(timeout=10)
    assert [f.tags.get("valid_samples") for f in col.frames] == [None, None, 250]
    assert col.frames[-1].data.shape == (1, 300) and not col.frames[-1].data[0, 250:].any()
    assert col.frames[0].tags["sample_offset"] == 150


def test_iq_realtime_replay_paces_at_the_sample_rate(tmp_path) -> None:
    path = str(tmp_path / "cap.cf32")
    np.zeros(4000, np.complex64).tofile(path)
    col = CollectSink()
    fg = Flowgraph("rt")
    fg.connect(IQFileSource(path, sample_rate=20_000, frame_len=1000, realtime=True), col)
    t0 = time.perf_counter()
    fg.run(timeout=10)
    elapsed = time.perf_counter() - t0
    assert len(col.frames) == 4
    assert elapsed >= 0.14  # frames 1..3 leave 50, 100, 150 ms after frame 0


def test_sigmf_written_by_semradio_read_by_sigmf(tmp_path) -> None:
    rng = np.random.default_rng(0)
    x = ((rng.standard_normal((6, 64)) + 1j * rng.standard_normal((6, 64))) * 0.1).astype(np.complex64)
    base = str(tmp_path / "rec")
    sink = SigMFSink(base, "cf32_le", sample_rate=2e6, center_freq=915e6, description="test", author="semradio")
    fg = Flowgraph("write")
    fg.connect(ArraySource(x, batch=2, tags={"snr_db": 4.5, "label": "qpsk", "channel": "awgn",
                                             "h": np.ones((2, 64), np.complex64)}), sink)
    fg.run(timeout=10)
    rec = fromfile(base)  # validates the metadata and checks core:sha512
    np.testing.assert_array_equal(rec.read_samples(), x.reshape(-1))
    assert rec.get_global_field("core:sample_rate") == 2e6
    assert rec.get_global_field("core:datatype") == "cf32_le"
    assert rec.get_captures()[0]["core:frequency"] == 915e6
    anns = rec.get_annotations()
    assert [(a["core:sample_start"], a["core:sample_count"]) for a in anns] == [(0, 128), (128, 128), (256, 128)]
    assert anns[1]["core:label"] == "qpsk" and anns[1]["semradio:snr_db"] == 4.5
    assert anns[1]["semradio:seq"] == 1 and anns[1]["semradio:channel"] == "awgn"
    assert "semradio:h" not in anns[1] and "semradio:t_ns" not in anns[1]


def test_sigmf_written_by_sigmf_replayed_by_semradio(tmp_path) -> None:
    comp = (np.arange(2 * 512) - 512).astype("<i2") * 16
    data = tmp_path / "ext.sigmf-data"
    comp.tofile(data)
    rec = SigMFFile(data_file=str(data), global_info={
        "core:datatype": "ci16_le", "core:sample_rate": 48_000.0, "core:version": sigmf.__specification__,
        "core:extensions": [{"name": "semradio", "version": "0.1.0", "optional": True}]})
    rec.add_capture(0, metadata={"core:frequency": 100e6, "core:datetime": "2024-05-01T12:00:00Z"})
    rec.add_capture(256, metadata={"core:frequency": 101e6})
    rec.add_annotation(0, 200, metadata={"core:label": "preamble", "core:freq_lower_edge": 99.9e6,
                                         "core:freq_upper_edge": 100.1e6})
    rec.add_annotation(300, 50, metadata={"core:comment": "burst", "semradio:snr_db": 12.0})
    rec.tofile(str(tmp_path / "ext.sigmf-meta"))
    col = CollectSink()
    fg = Flowgraph("replay")
    fg.connect(SigMFSource(str(tmp_path / "ext"), frame_len=128), col)
    fg.run(timeout=10)
    expected = rec.read_samples()
    got = np.concatenate([f.data.reshape(-1) for f in col.frames])
    np.testing.assert_array_equal(got, expected)
    t = [f.tags for f in col.frames]
    assert t[0]["label"] == "preamble" and t[0]["freq_lower_edge"] == 99.9e6 and t[0]["center_freq"] == 100e6
    assert t[0]["datetime"] == "2024-05-01T12:00:00Z" and t[0]["sample_rate"] == 48_000.0
    assert t[1]["label"] == "preamble"                      # 128 in [0, 200)
    assert "label" not in t[2] and t[2]["center_freq"] == 101e6
    assert [a["core:sample_start"] for a in t[2]["annotations"]] == [300]  # frame [256, 384)
    assert "snr_db" not in t[2]                             # starts after the frame start
    assert [f.tags["sample_offset"] for f in col.frames] == [0, 128, 256, 384]
