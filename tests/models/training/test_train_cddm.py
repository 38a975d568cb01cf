"""semradio train cddm (:mod:`semradio.models.training.cddm`): the decoder fine-tune on freshly
denoised latents changes the decoder only and records the round (rule, pool) with its held-out
metrics; existing checkpoints (the CDDM and ``<codec>_cddm``) are refused before any work without
``--overwrite``; the denoiser trains on a folder of the user's images."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semradio.models.checkpoint import CHECKPOINT_DIR
from semradio.models.training import cli
from semradio.models.training.cddm import CDDMConfig, train_cddm

CODEC = "jscc_natural32_rayleigh_cbr1-6"
TUNED = f"{CODEC}_cddm"



@pytest.fixture(autouse=True)
def user_home(tmp_path, monkeypatch):
    """Nothing lands in the real user directory; only the shipped checkpoints are found."""
    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEMRADIO_CHECKPOINTS", raising=False)


def finetune_only_argv(out_dir, *extra):
    return ["cddm", "--channel", "rayleigh", "--threads", "1", "--finetune-only", "--finetune-steps", "1",
            "--finetune-pool", "0", "--finetune-rule", "tweedie", "--finetune-eval-n", "4", "--batch", "4",
            "--out-dir", str(out_dir), *extra]


def test_finetune_on_fresh_tweedie_latents_changes_the_decoder_only(tmp_path):
    from safetensors.torch import load_file

    result = train_cddm(CDDMConfig(channel="rayleigh", threads=1, finetune_only=True, finetune_steps=3,
                                   finetune_pool=0, finetune_rule="tweedie", finetune_lr=1e-3, finetune_eval_n=8,
                                   batch=4, out_dir=str(tmp_path)))
    base = load_file(CHECKPOINT_DIR / f"{CODEC}.safetensors")
    tuned = load_file(tmp_path / f"{TUNED}.safetensors")
    assert base.keys() == tuned.keys()
    assert all(torch.equal(base[k], tuned[k]) for k in base if k.startswith("encoder."))
    assert any(not torch.equal(base[k], tuned[k]) for k in base if k.startswith("decoder."))
    cfg = json.loads((tmp_path / f"{TUNED}.json").read_text())
    last = cfg["finetune"]["rounds"][-1]
    assert last["latents_rule"] == "tweedie" and last["pool_batches"] == 0 and last["steps"] == 3
    assert set(last["metrics_with_cddm"]) == {"0", "10", "20"}
    assert last["data"] == "natural32" and last["denoiser"] == "cddm_natural32_rayleigh_cbr1-6"
    assert last["command"].startswith("semradio train cddm ") and "--finetune-only" in last["command"]
    assert result["name"] == "cddm_natural32_rayleigh_cbr1-6" and result["finetuned"]["name"] == TUNED
    assert not (tmp_path / "cddm_natural32_rayleigh_cbr1-6.json").exists()  # the CDDM is read, not written


def test_finetune_only_refuses_an_existing_output_before_any_work(tmp_path, monkeypatch):
    import semradio.models.cddm as cddm_module
    import semradio.models.checkpoint as checkpoint_module

    out = tmp_path / "ck"
    assert cli.main(finetune_only_argv(out)) == 0
    first = json.loads((out / f"{TUNED}.json").read_text())

    def no_work(*_args, **_kwargs):
        raise AssertionError("loaded a model before refusing to overwrite")

    with monkeypatch.context() as m:
        m.setattr(checkpoint_module, "load_codec", no_work)
        m.setattr(cddm_module, "load_cddm", no_work)
        with pytest.raises(SystemExit) as exc:
            cli.main(finetune_only_argv(out))
    assert "--overwrite" in str(exc.value) and TUNED in str(exc.value)
    assert json.loads((out / f"{TUNED}.json").read_text()) == first  # untouched

    assert cli.main(finetune_only_argv(out, "--overwrite")) == 0
    again = json.loads((out / f"{TUNED}.json").read_text())
    assert "--overwrite" in again["finetune"]["command"]


def test_training_refuses_an_existing_finetuned_codec_up_front(tmp_path):
    out = tmp_path / "ck"
    out.mkdir()
    (out / f"{TUNED}.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        train_cddm(CDDMConfig(steps=2, finetune_steps=1, out_dir=str(out), work_dir=str(tmp_path / "wk")))
    assert "--overwrite" in str(exc.value) and TUNED in str(exc.value)
    assert not (out / "cddm_natural32_rayleigh_cbr1-6.json").exists()
    assert not (tmp_path / "wk").exists()


def test_images_of_another_size_are_refused_with_the_size_to_use(tmp_path, image_folder_factory):
    folder = image_folder_factory("small", n=4, size=16)
    with pytest.raises(SystemExit) as exc:
        train_cddm(CDDMConfig(data=f"folder:{folder}", steps=2, out_dir=str(tmp_path / "ck"),
                              work_dir=str(tmp_path / "wk")))
    assert "16x16" in str(exc.value) and ":32" in str(exc.value)


def test_cddm_trains_on_a_folder_of_user_images(tmp_path, image_folder_factory):
    from semradio.models.cddm import LatentScoreNet, load_cddm

    folder = image_folder_factory()
    spec = f"folder:{folder}:32"
    assert cli.main(["cddm", "--data", spec, "--steps", "2", "--batch", "4", "--eval-every", "2", "--eval-n", "4",
                     "--threads", "1", "--width", "8", "--blocks", "1", "--name", "cddm_mine",
                     "--out-dir", str(tmp_path / "ck"), "--work-dir", str(tmp_path / "wk")]) == 0
    net, schedule, cfg = load_cddm(tmp_path / "ck" / "cddm_mine")
    assert isinstance(net, LatentScoreNet) and cfg["kwargs"]["width"] == 8 and schedule.T == 200
    assert cfg["codec"] == CODEC
    assert cfg["train"]["data"] == spec and str(folder) in cfg["train"]["data_description"]
    assert "12 training images" in cfg["train"]["data_description"]
    assert f"--data {spec}" in cfg["train"]["command"]
    assert [h["step"] for h in cfg["train"]["history"]] == [2]
    state = json.loads((tmp_path / "wk" / "cddm_mine" / "state.json").read_text())
    assert state["args"]["data"] == spec and state["step"] == 2


def test_denoiser_names_derive_from_any_codec_name():
    from semradio.models.training.cddm import derived_name

    assert derived_name("jscc_natural32_rayleigh_cbr1-6", "cddm") == "cddm_natural32_rayleigh_cbr1-6"
    assert derived_name("vaewgan_natural32_awgn_cbr1-6", "eecd") == "eecd_vaewgan_natural32_awgn_cbr1-6"
    assert derived_name("my_codec", "ve") != "my_codec"
