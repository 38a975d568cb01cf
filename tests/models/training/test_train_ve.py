"""semradio train ve-ldm / eecd (:mod:`semradio.models.training.ve`): the VE teacher and its EECD
distillation train on a folder of the user's images and record it, an interrupted then resumed
teacher run gives bit-identical weights to a straight one, and an existing checkpoint is refused
before any work without ``--overwrite``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from semradio.models.checkpoint import CHECKPOINT_DIR
from semradio.models.training import cli
from semradio.models.training.ve import EECDConfig, VEConfig, train_eecd

CODEC = "jscc_natural32_rayleigh_cbr1-6"
TEACHER = "ve_natural32_rayleigh_cbr1-6"



@pytest.fixture(autouse=True)
def user_home(tmp_path, monkeypatch):
    """Nothing lands in the real user directory; only the shipped checkpoints are found."""
    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SEMRADIO_CHECKPOINTS", raising=False)


@pytest.fixture()
def folder(image_folder_factory):
    """12 random 32x32 RGB PNGs."""
    return image_folder_factory(n=12, size=32)


def tiny_ve(folder, tmp_path, name, *extra):
    return ["ve-ldm", "--data", f"folder:{folder}:32", "--steps", "3", "--batch", "4", "--eval-every", "3",
            "--eval-n", "4", "--threads", "1", "--width", "8", "--blocks", "1", "--name", name,
            "--out-dir", str(tmp_path / "ck"), "--work-dir", str(tmp_path / "wk"), *extra]


def test_ve_teacher_trains_on_a_folder_of_user_images(folder, tmp_path):
    from semradio.models.ve import VENoiseNet, load_ve

    spec = f"folder:{folder}:32"
    assert cli.main(tiny_ve(folder, tmp_path, "ve_mine")) == 0
    net, grid, cfg = load_ve(tmp_path / "ck" / "ve_mine")
    assert isinstance(net, VENoiseNet) and cfg["kwargs"]["width"] == 8 and len(grid) == 101
    assert cfg["codec"] == CODEC and cfg["output"] in ("latent", "equalizer")
    assert cfg["train"]["data"] == spec and "12 training images" in cfg["train"]["data_description"]
    assert cfg["train"]["command"].startswith("semradio train ve-ldm ") and f"--data {spec}" in cfg["train"]["command"]
    assert cfg["metrics"]["data"] == f"{spec} held-out split" and cfg["metrics"]["images"] == 12
    assert set(cfg["metrics"]["by_snr_db"]) == {"0", "10", "20"}


def test_ve_teacher_resumes_bit_exactly(folder, tmp_path):
    from semradio.models.ve import load_ve

    assert cli.main(tiny_ve(folder, tmp_path, "straight")) == 0
    assert cli.main(tiny_ve(folder, tmp_path, "resumed", "--stop-after", "1")) == 0
    assert not (tmp_path / "ck" / "resumed.json").exists()  # stopped early: no checkpoint yet
    assert json.loads((tmp_path / "wk" / "resumed" / "state.json").read_text())["step"] == 1
    assert cli.main(tiny_ve(folder, tmp_path, "resumed")) == 0
    a, _, cfg_a = load_ve(tmp_path / "ck" / "straight")
    b, _, cfg_b = load_ve(tmp_path / "ck" / "resumed")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert cfg_a["metrics"]["by_snr_db"] == cfg_b["metrics"]["by_snr_db"]
    assert len(cfg_b["train"]["resumed_with"]) == 1


def test_ve_teacher_refuses_an_existing_checkpoint_before_any_work(folder, tmp_path, monkeypatch):
    import semradio.models.checkpoint as checkpoint_module

    (tmp_path / "ck").mkdir()
    (tmp_path / "ck" / "ve_mine.json").write_text("{}")

    def no_work(*_args, **_kwargs):
        raise AssertionError("loaded a model before refusing to overwrite")

    monkeypatch.setattr(checkpoint_module, "load_codec", no_work)
    with pytest.raises(SystemExit) as exc:
        cli.main(tiny_ve(folder, tmp_path, "ve_mine"))
    assert "--overwrite" in str(exc.value) and "ve_mine" in str(exc.value)
    assert not (tmp_path / "wk").exists()


def test_eecd_distils_the_shipped_teacher_on_a_folder_of_user_images(folder, tmp_path):
    from safetensors.torch import load_file

    from semradio.models.consistency import ConsistencyNet, load_eecd

    spec = f"folder:{folder}:32"
    result = train_eecd(EECDConfig(data=spec, teacher=TEACHER, steps=2, batch=4, eval_every=2, eval_n=4, threads=1,
                                   name="eecd_mine", out_dir=str(tmp_path / "ck"), work_dir=str(tmp_path / "wk")))
    net, _, cfg = load_eecd(tmp_path / "ck" / "eecd_mine")
    assert isinstance(net, ConsistencyNet) and result["name"] == "eecd_mine"
    assert cfg["teacher"] == TEACHER and cfg["codec"] == CODEC
    assert cfg["train"]["data"] == spec and "12 training images" in cfg["train"]["data_description"]
    assert cfg["train"]["command"].startswith("semradio train eecd ") and f"--data {spec}" in cfg["train"]["command"]
    assert cfg["metrics"]["data"] == f"{spec} held-out split" and cfg["metrics"]["images"] == 12
    assert {"psnr_db_eecd1", "psnr_db_eecd2"} <= set(cfg["metrics"]["by_snr_db"]["10"])
    assert [h["step"] for h in cfg["train"]["history"]] == [2]
    assert (tmp_path / "wk" / "eecd_mine" / "target.safetensors").is_file()
    teacher = load_file(CHECKPOINT_DIR / f"{TEACHER}.safetensors")
    student = load_file(tmp_path / "ck" / "eecd_mine.safetensors")
    assert any(not torch.equal(teacher[k], student[f"g.{k}"]) for k in teacher)  # it trained


def test_config_defaults_match_the_former_command_line():
    ve, eecd = VEConfig(), EECDConfig()
    assert (ve.steps, ve.batch, ve.eval_every, ve.lr, ve.N, ve.solver) == (2000, 64, 500, 1e-4, 100, "heun")
    assert (eecd.steps, eecd.batch, eecd.eval_every, eecd.lr, eecd.tau2_ratio) == (1200, 32, 300, 5e-5, 0.3)
    assert ve.data == eecd.data == "natural32" and ve.out_dir is None and ve.work_dir is None
    assert ve.codec_name == CODEC and EECDConfig(channel="awgn").codec_name == "jscc_natural32_awgn_cbr1-6"
