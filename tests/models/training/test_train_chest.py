"""semradio train chest / semradio eval chest: a tiny run writes a checkpoint with its held-out
error table, resumes where it stopped, refuses to overwrite, and the evaluation writes its CSV,
PNG and checks (skipped without Sionna PHY, which generates the channels)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

pytest.importorskip("sionna.phy", reason="needs Sionna PHY (pip install -e '.[phy]')")

from semradio.models.channel_denoiser import DiffusionChannelEstimator  # noqa: E402
from semradio.models.training import cli  # noqa: E402


@pytest.fixture(autouse=True)
def user_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEMRADIO_CHECKPOINTS", raising=False)


def argv(out, *extra):
    return ["chest", "--scenario", "inh-28", "--train-grids", "600", "--val-grids", "64", "--steps", "40",
            "--batch", "64", "--width", "64", "--blocks", "1", "--threads", "1", "--warmup", "5",
            "--out-dir", str(out), "--name", "tiny", *extra]


def test_train_resume_refuse_and_evaluate(tmp_path, capsys):
    out = tmp_path / "ckpt"
    assert cli.main(argv(out, "--stop-after", "15")) == 0
    assert not (out / "tiny.json").exists()
    assert cli.main(argv(out)) == 0                               # resumes at step 15
    cfg = json.loads((out / "tiny.json").read_text())
    assert cfg["scenario"] == "inh-28" and cfg["architecture"] == "channel_denoiser_mlp"
    assert cfg["train"]["steps"] == 40 and "semradio train chest" in cfg["train"]["command"]
    table = cfg["error_table"]
    assert len(table["v"]) == len(table["mse"]) == len(table["snr_db"])
    # even 40 steps of a tiny net beat LS at low pilot SNR (the skip path alone shrinks)
    assert table["nmse_db"][table["snr_db"].index(0.0)] < table["nmse_db_ls"][table["snr_db"].index(0.0)]
    est = DiffusionChannelEstimator.load(out / "tiny.json", device="cpu")
    assert est.shape == (1, 64) and est.scenario == "inh-28"
    v = np.array([1.0, 1e-3])
    e = est.expected_error(v)
    assert np.all(e <= v) and e[0] > e[1]
    with pytest.raises(SystemExit, match="exists"):
        cli.main(argv(out))
    from semradio.models.evaluation import chest as ev

    ev_out = tmp_path / "ev"
    assert ev.main(["--scenarios", "inh-28", "--models", str(out / "tiny.json"), "--n", "40", "--cov-grids", "300",
                    "--snr-db", "0", "10", "--steps", "2", "--samples", "2", "--out", str(ev_out), "--json"]) == 0
    rows = list(csv.DictReader(open(ev_out / "chest_nmse.csv")))
    assert {r["estimator"] for r in rows} == {"ls", "lmmse-true", "lmmse-mismatch", "diffusion", "diffusion-ms"}
    ls0 = [float(r["nmse_db"]) for r in rows if r["estimator"] == "ls" and r["snr_db"] == "0.0"][0]
    assert abs(ls0) < 0.5                                          # LS NMSE = -SNR
    assert (ev_out / "chest_nmse.png").stat().st_size > 1000
    summary = json.loads((ev_out / "chest_summary.json").read_text())
    assert set(summary["checks"]["inh-28"]) >= {"min_gain_over_ls_db_at_snr_le_10", "max_gap_to_lmmse_true_db", "ok"}
