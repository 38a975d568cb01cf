"""semradio digital: the compare sweep's helpers (tiles, adaptive MCS, the checks) and the rates
table."""

from __future__ import annotations

import json

import numpy as np
import pytest

from semradio.cli import digital_compare as DC


def test_tiles_round_trip():
    x = np.random.default_rng(0).random((2, 3, 64, 96)).astype(np.float32)
    t = DC._tiles(x, 32)
    assert t.shape == (12, 3, 32, 32)
    assert np.array_equal(t[1], x[0, :, 0:32, 32:64]) and np.array_equal(t[3], x[0, :, 32:64, 0:32])
    assert np.array_equal(DC._untile(t, 2, 64, 96), x)


def _row(mcs, snr, psnr, errors, system="digital", channel="awgn"):
    return {"channel": channel, "system": system, "codec": "webp" if system == "digital" else "", "mcs": mcs,
            "snr_db": snr, "images": 3, "psnr_db": psnr, "ssim": psnr / 40, "bler": errors / 3, "tbs": 3,
            "tb_errors": errors, "erasures": errors}


def test_adaptive_and_checks():
    conceal = {"psnr_db": 11.0, "ssim": 0.3}
    rows = [_row(3, 0, 11.0, 3), _row(3, 3, 24.0, 0), _row(3, 6, 24.0, 0),
            _row(7, 0, 11.0, 3), _row(7, 3, 11.0, 3), _row(7, 6, 28.0, 0),
            _row("", 0, 20.0, 0, "jscc"), _row("", 3, 23.0, 0, "jscc"), _row("", 6, 25.0, 0, "jscc")]
    ad = DC.adaptive_rows(rows)
    assert [(r["snr_db"], r["mcs"], r["psnr_db"]) for r in ad] == [(0, 3, 11.0), (3, 3, 24.0), (6, 7, 28.0)]
    res = DC.checks(rows + ad, conceal)
    cliff = {c["mcs"]: c for c in res["cliff"]}
    assert cliff[3]["threshold_snr_db"] == 3 and cliff[3]["falls_to_concealment"] is True
    assert cliff[7]["threshold_snr_db"] == 6 and cliff[7]["snr_3db_below"] == 3
    assert res["low_snr"][0]["jscc_beats_every_digital"] == {"jscc": True}
    assert res["high_snr"][0]["adaptive_beats"] == {"jscc": True}


def test_rates_table(tmp_path, capsys):
    pytest.importorskip("sionna.phy", reason="the TB sizes come from Sionna PHY")
    from semradio.cli.digital_rates import main
    from semradio.models.image_codec import available_codecs

    codec = available_codecs()[-1]
    assert main(["--sizes", "32", "64", "--codecs", codec, "--mcs", "3", "24", "--patches", "4",
                 "--out", str(tmp_path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by = {(r["size"], r["mcs"]): r for r in rows}
    assert by[(32, 3)]["fit"] == 0 and by[(32, 3)]["budget_bytes"] < 30     # 32x32 at MCS 3: nothing fits
    assert by[(64, 24)]["fit"] == 3 and by[(64, 24)]["mean_bytes"] <= by[(64, 24)]["budget_bytes"]
    assert by[(64, 24)]["psnr_db"] > 25
    assert by[(64, 3)]["psnr_db"] is None or by[(64, 3)]["psnr_db"] < by[(64, 24)]["psnr_db"]
    assert (tmp_path / "rates.csv").is_file()


def test_bler_crossing_bracket():
    from semradio.models.evaluation.digital_bler import crossing

    pts = [{"snr_db": 1.0, "bler": 1.0, "tbs": 20}, {"snr_db": 1.25, "bler": 0.3, "tbs": 60},
           {"snr_db": 1.5, "bler": 0.05, "tbs": 200}, {"snr_db": 1.75, "bler": 0.0, "tbs": 200}]
    c = crossing(pts, ref=0.8, target=1e-2, tolerance_db=1.0)
    assert c["sim_bracket_db"] == [1.5, 1.75] and 1.5 < c["sim_snr_db_at_target"] < 1.75
    assert c["within_tolerance"] is True
    c = crossing(pts, ref=0.7, target=1e-2, tolerance_db=1.0)
    assert c["within_tolerance"] is True and c["bracket_within_tolerance"] is False  # 1.75 - 0.7 > 1
    assert crossing(pts, ref=0.3, target=1e-2, tolerance_db=1.0)["within_tolerance"] is False
