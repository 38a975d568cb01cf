"""flowgraphs/digital_link.py: the digital baseline as a flowgraph, the cliff on AWGN."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sionna.phy", reason="the digital link needs Sionna PHY (the phy extra)")

from semradio.flowgraphs.digital_link import DigitalLinkConfig, run  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cliff_on_awgn():
    """MCS 3 (threshold about -2.5 dB at 8,192 channel uses): every image decodes at +1 dB and
    every image is concealed at -6 dB."""
    hi = run(DigitalLinkConfig(snr_db=1.0, mcs=3, data="photos:128"))
    lo = run(DigitalLinkConfig(snr_db=-6.0, mcs=3, data="photos:128"))
    assert hi["images"] == lo["images"] == 3
    assert hi["tb_errors"] == 0 and hi["erasures"] == 0 and hi["psnr_db"] > 20
    assert lo["tb_errors"] == 3 and lo["erasures"] == 3 and lo["psnr_db"] < 13


@pytest.mark.slow
def test_script_json():
    r = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / "digital_link.py"), "--snr-db", "20", "--mcs", "15",
                        "--data", "photos:64", "--channel", "rayleigh", "--coherence", "512", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["tbs"] == 3 and out["images"] == 3 and out["bler"] is not None and out["psnr_db"] is not None


@pytest.mark.slow
def test_digital_images_over_ofdm_bursts():
    """The OFDM receiver's data symbols, h and noise variance feed the digital receiver: at 12 dB
    over AWGN MCS 7 decodes every image with the estimated channel."""
    from semradio.flowgraphs.digital_ofdm import DigitalOFDMConfig
    from semradio.flowgraphs.digital_ofdm import run as run_ofdm

    out = run_ofdm(DigitalOFDMConfig(channel="awgn", snr_db=12.0, mcs=7, data="photos:64", gap_min=10, gap_max=50))
    assert out["frames"] == out["frames_sent"] == 1 and out["images"] == 3
    assert out["tb_errors"] == 0 and out["erasures"] == 0 and out["psnr_db"] > 20
