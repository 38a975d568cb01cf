"""tools/train.py cddm --finetune-only: the decoder fine-tune on freshly denoised latents changes
the decoder only and records the round (rule, pool) with its held-out metrics."""

from __future__ import annotations

import json

import pytest
import torch
from test_train import load_train

from semradio.models.checkpoint import CHECKPOINT_DIR

pytestmark = pytest.mark.skipif(not (CHECKPOINT_DIR / "cddm_natural32_rayleigh_cbr1-6.json").is_file(),
                                reason="the shipped Rayleigh CDDM is needed")


def test_finetune_on_fresh_tweedie_latents_changes_the_decoder_only(tmp_path):
    from safetensors.torch import load_file

    train = load_train()
    assert train.main(["cddm", "--channel", "rayleigh", "--threads", "1", "--finetune-only", "--finetune-steps", "3",
                       "--finetune-pool", "0", "--finetune-rule", "tweedie", "--finetune-lr", "1e-3",
                       "--finetune-eval-n", "8", "--batch", "4", "--out-dir", str(tmp_path)]) == 0
    base = load_file(CHECKPOINT_DIR / "jscc_natural32_rayleigh_cbr1-6.safetensors")
    tuned = load_file(tmp_path / "jscc_natural32_rayleigh_cbr1-6_cddm.safetensors")
    assert base.keys() == tuned.keys()
    assert all(torch.equal(base[k], tuned[k]) for k in base if k.startswith("encoder."))
    assert any(not torch.equal(base[k], tuned[k]) for k in base if k.startswith("decoder."))
    cfg = json.loads((tmp_path / "jscc_natural32_rayleigh_cbr1-6_cddm.json").read_text())
    last = cfg["finetune"]["rounds"][-1]
    assert last["latents_rule"] == "tweedie" and last["pool_batches"] == 0 and last["steps"] == 3
    assert set(last["metrics_with_cddm"]) == {"0", "10", "20"}
