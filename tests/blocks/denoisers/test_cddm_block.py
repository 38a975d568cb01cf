"""CDDMDenoiser with the shipped weights: contracts, a trained-weights check, the flowgraph."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from semradio.models.checkpoint import CHECKPOINT_DIR

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _received(channel: str, snr_db: float, n: int = 64, seed: int = 0):
    """Held-out patches through the shipped codec's encoder and the real channel blocks."""
    from semradio.blocks import MMSEEqualizer, PowerNormalizer, make_channel
    from semradio.models import data as D
    from semradio.models.checkpoint import load_codec
    from semradio.runtime import Frame

    codec = load_codec(f"jscc_natural32_{channel}_cbr1-6", "cpu")
    imgs = D.subset(D.natural_patches("eval", 32), n, seed=seed)
    with torch.no_grad():
        z = codec.encode(torch.from_numpy(imgs), snr_db).numpy()
    f = PowerNormalizer().work(Frame(z, {"seq": 0}))
    x = np.concatenate([f.data.real, f.data.imag], axis=1).astype(np.float32)
    f = make_channel(channel, snr_db=snr_db, seed=seed).work(f)
    f = MMSEEqualizer().work(f)
    return codec, imgs, x, f


@pytest.mark.parametrize("rule", ["cddm", "tweedie"])
def test_trained_cddm_lowers_latent_mse_at_10db_rayleigh(rule):
    from semradio.blocks.denoisers.cddm import CDDMDenoiser, latent_mse_db

    _, _, x, f = _received("rayleigh", 10.0)
    out = CDDMDenoiser("cddm_natural32_rayleigh_cbr1-6", device="cpu", rule=rule).work(f)
    gain = latent_mse_db(f.data, x) - latent_mse_db(out.data, x)
    assert gain >= 0.5, f"latent MSE gain {gain:.2f} dB (random weights give none)"
    nfe = out.tags["cddm_start_step"] + 1 if rule == "cddm" else 1
    assert out.tags["denoiser"] == "cddm" and out.tags["denoiser_nfe"] == nfe
    assert isinstance(out.data, np.ndarray) and out.data.dtype == np.float32 and out.data.shape == f.data.shape


def test_block_contracts():
    from semradio.blocks.denoisers.cddm import CDDMDenoiser
    from semradio.runtime import Frame

    blk = CDDMDenoiser(device="cpu", name="cd")
    _, _, _, f = _received("rayleigh", 20.0, n=4)
    t = blk.work(f.replace(torch.from_numpy(f.data)))
    assert isinstance(t.data, torch.Tensor) and t.data.shape == f.data.shape
    blk.set_param("enabled", False)
    assert blk.work(f).data is f.data and blk.work(f).tags["denoiser"] == "none"
    blk.set_param("enabled", True)
    with pytest.raises(ValueError, match="CDDMDenoiser 'cd'.*W_s"):
        blk.work(Frame(f.data, {"noise_var": 0.1}))
    with pytest.raises(ValueError, match="float32"):
        blk.work(f.replace(f.data.astype(np.float64)))
    blk.set_param("max_steps", 3)
    assert blk.work(f).tags["cddm_start_step"] <= 3


@pytest.mark.slow
def test_cddm_flowgraph_runs_and_reports_the_denoiser():
    out = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / "cddm_rayleigh.py"), "--frames", "2", "--batch", "8",
                          "--snr-db", "10", "--json", "--device", "cpu"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["denoiser"] == "CDDMDenoiser" and res["images"] == 16
    assert res["groups"][0]["denoiser"] == "cddm"
    assert 15.0 < res["psnr_db"] < 60.0 and math.isfinite(res["ssim"])
