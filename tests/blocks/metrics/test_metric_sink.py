"""MetricSink in a flowgraph: per-seq alignment, metrics equal to the pure functions, grouping by
tags, latency, CSV/JSON output, and errors that name the block."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from semradio.blocks import ArraySource, MetricSink
from semradio.models import metrics as M
from semradio.runtime import Flowgraph, FlowgraphError, Frame, SyncBlock


class AddNoise(SyncBlock):
    """Test block: adds seeded noise whose level depends on the frame's seq, and tags it with
    a channel/SNR group (seq even -> 10 dB, odd -> 20 dB)."""

    def __init__(self, name=None):
        super().__init__(name)
        self.add_input("in", "float32")
        self.add_output("out", "float32")

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        rng = np.random.default_rng(frame.seq)
        snr = 10.0 if frame.seq % 2 == 0 else 20.0
        sigma = 0.1 if snr == 10.0 else 0.03
        y = np.clip(frame.data + sigma * rng.standard_normal(frame.data.shape), 0, 1).astype(np.float32)
        return frame.replace(y, channel="awgn", snr_db=snr, sinr_db=snr)


def expected(images, batch):
    rows = []
    for seq, i in enumerate(range(0, len(images), batch)):
        ref = images[i:i + batch]
        rec = AddNoise().work(Frame(ref, {"seq": seq})).data
        rows.append((seq, ref, rec))
    return rows


def test_metric_sink_measures_every_seq_and_groups(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.random((24, 3, 32, 32)).astype(np.float32)
    src = ArraySource(images, batch=4)
    sink = MetricSink(csv_path=str(tmp_path / "m.csv"), json_path=str(tmp_path / "m.json"))
    fg = Flowgraph("metrics")
    fg.connect(src, AddNoise(), (sink, "rec"))
    fg.connect(src, (sink, "ref"))
    fg.run(timeout=60)
    assert sorted(sink.seqs) == list(range(6))
    exp = {seq: (ref, rec) for seq, ref, rec in expected(images, 4)}
    for row in sink.rows:
        ref, rec = exp[row["seq"]]
        assert row["psnr_db"] == pytest.approx(M.psnr(ref, rec).mean())
        assert row["ssim"] == pytest.approx(M.ssim(ref, rec).mean())
        assert row["ms_ssim"] is None  # 32x32 is too small for 5-scale MS-SSIM
        assert row["latency_ms"] is not None and row["latency_ms"] >= 0
    s = sink.summary()
    assert s["frames"] == 6 and s["images"] == 24
    groups = {g["snr_db"]: g for g in s["groups"]}
    assert set(groups) == {10.0, 20.0}
    for snr, g in groups.items():
        seqs = [q for q in exp if (q % 2 == 0) == (snr == 10.0)]
        psnrs = np.concatenate([M.psnr(*exp[q]) for q in seqs])
        mses = np.concatenate([M.mse(*exp[q]) for q in seqs])
        assert g["frames"] == 3 and g["images"] == 12 and g["channel"] == "awgn" and g["denoiser"] == "none"
        assert g["psnr_db"] == pytest.approx(psnrs.mean())
        assert g["psnr_of_mean_mse_db"] == pytest.approx(10 * np.log10(1 / mses.mean()))
        assert g["mse_db"] == pytest.approx(10 * np.log10(mses.mean()))
        assert g["latency_p50_ms"] <= g["latency_p99_ms"]
    assert groups[20.0]["psnr_db"] > groups[10.0]["psnr_db"]
    with open(tmp_path / "m.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 6 and {int(r["seq"]) for r in rows} == set(range(6))
    js = json.loads((tmp_path / "m.json").read_text())
    assert js["images"] == 24 and len(js["groups"]) == 2


def test_identical_images_report_inf_psnr(tmp_path):
    images = np.random.default_rng(1).random((4, 3, 16, 16)).astype(np.float32)
    src = ArraySource(images, batch=2)
    sink = MetricSink(json_path=str(tmp_path / "s.json"))
    fg = Flowgraph("identity")
    fg.connect(src, (sink, "rec"))
    fg.connect(src, (sink, "ref"))
    fg.run(timeout=30)
    g = sink.summary()["groups"][0]
    assert g["psnr_db"] == float("inf") and g["ssim"] == pytest.approx(1.0)
    assert json.loads((tmp_path / "s.json").read_text())["groups"][0]["psnr_db"] == "inf"


def test_shape_mismatch_names_the_block():
    a = ArraySource(np.zeros((2, 3, 16, 16), np.float32), name="ref_src")
    b = ArraySource(np.zeros((2, 3, 8, 8), np.float32), name="rec_src")
    sink = MetricSink(name="quality")
    fg = Flowgraph("bad")
    fg.connect(a, (sink, "ref"))
    fg.connect(b, (sink, "rec"))
    with pytest.raises(FlowgraphError, match="quality.*differ in shape"):
        fg.run(timeout=30)
