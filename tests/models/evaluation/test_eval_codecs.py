"""``semradio eval codecs``: a tiny run of the table (shipped Deep JSCC codec with its own EECD),
the JSON form, and a clear error for a codec without the denoiser asked for."""

from __future__ import annotations

import json

import pytest
import torch

from semradio.models import registry
from semradio.models.evaluation import cli
from semradio.models.evaluation.codecs import denoiser_for, evaluate, format_table

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CODEC = "jscc_natural32_awgn_cbr1-6"


def test_each_codec_finds_its_own_denoiser(tmp_path, monkeypatch):
    assert denoiser_for(CODEC, "eecd", "awgn") == "eecd_natural32_awgn_cbr1-6"
    assert denoiser_for(CODEC, "ve-ldm", "awgn") == "ve_natural32_awgn_cbr1-6"
    # a user EECD trained for another codec is found by its JSON's codec
    src = json.loads((registry.SHIPPED_DIR / "eecd_natural32_awgn_cbr1-6.json").read_text())
    home = tmp_path / "home"
    (home / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("SEMRADIO_HOME", str(home))
    (home / "checkpoints" / "eecd_other.json").write_text(json.dumps(dict(src, name="eecd_other", codec="other",
                                                                          weights="eecd_other.safetensors")))
    (home / "checkpoints" / "eecd_other.safetensors").write_bytes(b"")
    assert denoiser_for("other", "eecd", "awgn") == "eecd_other"
    with pytest.raises(LookupError, match="no ve-ldm checkpoint trained for codec 'other'"):
        denoiser_for("other", "ve-ldm", "awgn")


def test_tiny_table_run(capsys):
    assert cli.main(["codecs", "--codecs", CODEC, "--denoisers", "none", "eecd1", "eecd2", "--channel", "awgn",
                     "--snr-db", "-5", "10", "--n", "6", "--lpips", "vgg", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["rows"]
    assert [(r["denoiser"], r["snr_db"]) for r in rows] == [("none", -5.0), ("eecd1", -5.0), ("eecd2", -5.0),
                                                           ("none", 10.0), ("eecd1", 10.0), ("eecd2", 10.0)]
    assert out["images"] == 6 and out["denoisers_used"][CODEC]["eecd1"] == "eecd_natural32_awgn_cbr1-6"
    assert all(r["ms_ssim"] is None for r in rows) and "161" in out["ms_ssim_note"]  # 32x32: not defined
    for r in rows:
        assert 5 < r["psnr_db"] < 60 and 0 < r["ssim"] <= 1 and 0 <= r["lpips_vgg"] < 1
    by = {(r["denoiser"], r["snr_db"]): r for r in rows}
    assert by[("none", 10.0)]["psnr_db"] > by[("none", -5.0)]["psnr_db"]  # more noise, worse images
    assert out["command"].startswith("semradio eval codecs --codecs")
    table = format_table(out)
    assert table.splitlines()[0].startswith("| codec | denoiser | SNR (dB) | PSNR (dB) | SSIM | MS-SSIM | LPIPS-vgg |")
    assert len(table.splitlines()) == 2 + len(rows) and "n/a" in table


def test_same_channel_draws_for_every_codec():
    a = evaluate([CODEC], ["none"], "awgn", [5.0], n=4)["rows"][0]
    b = evaluate([CODEC, CODEC], ["none"], "awgn", [5.0], n=4)["rows"]
    assert b[0]["psnr_db"] == b[1]["psnr_db"] == a["psnr_db"]


def test_errors_are_one_line(capsys, tmp_path):
    from semradio.models.checkpoint import save_codec
    from semradio.models.jscc import DeepJSCC

    torch.manual_seed(0)
    save_codec(DeepJSCC(channels=(4, 8), middle=0), tmp_path / "lonely", {"name": "lonely"})
    assert cli.main(["codecs", "--codecs", str(tmp_path / "lonely"), "--denoisers", "eecd1", "--n", "2"]) == 2
    assert "no eecd checkpoint trained for codec" in capsys.readouterr().err
