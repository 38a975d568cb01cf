"""flowgraphs/ofdm_link.py: images over OFDM bursts through a sample channel, estimated and genie
CSI on the same draws."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semradio.flowgraphs.ofdm_channel import parse_taps
from semradio.flowgraphs.ofdm_link import OFDMLinkConfig, run

ROOT = Path(__file__).resolve().parents[2]


def test_parse_taps():
    t = parse_taps("1, 0.5j,-0.25")
    assert t.size == 3 and abs(sum(abs(t) ** 2) - 1) < 1e-12
    for bad in ("", "1,x", "0,0", "nan"):
        with pytest.raises(ValueError):
            parse_taps(bad)


@pytest.mark.slow
def test_tdl_a_link_estimated_close_to_genie():
    pytest.importorskip("sionna.phy")
    out = run(OFDMLinkConfig(frames=3, batch=8, snr_db=20.0, channel="tdl-a", cfo=0.3, sro_ppm=20.0,
                             device="cpu", timeout=300))
    est, genie = out["branches"]["estimated"], out["branches"]["genie"]
    assert est["frames_decoded"] == genie["frames_decoded"] == 3 and est["images"] == 24
    assert est["header_crc_failures"] == 0
    assert abs(est["cfo_mean"] - 0.3) < 0.01
    assert est["channel_nmse_db"] < -15
    assert genie["psnr_db"] - est["psnr_db"] < 1.0
    assert est["psnr_db"] > 25


@pytest.mark.slow
def test_script_awgn_estimated_only_json():
    r = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / "ofdm_link.py"), "--channel", "awgn", "--snr-db",
                        "15", "--frames", "2", "--batch", "4", "--csi", "estimated", "--device", "cpu", "--json"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(out["branches"]) == ["estimated"]
    b = out["branches"]["estimated"]
    assert b["frames_decoded"] == 2 and b["psnr_db"] > 25
