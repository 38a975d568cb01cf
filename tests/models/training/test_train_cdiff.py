"""semradio train cdiff-codec and cdiff (semradio.models.training.cdiff_codec, .cdiff): tiny runs
write loadable checkpoints with their commands and per-CBR metrics; an interrupted run resumes
bit-exactly (EMA included); one CDiff decoder is trained over every CBR of an adaptive codec;
existing checkpoints are replaced only with --overwrite."""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
import torch

from semradio.models import load_codec
from semradio.models.cdiff import load_cdiff
from semradio.models.training import CDiffCodecConfig, TrainingData, cli, train
from semradio.models.training.config import from_namespace


@pytest.fixture(autouse=True)
def user_home(tmp_path, monkeypatch):
    """A private $SEMRADIO_HOME (nothing written outside the test's directory)."""
    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture()
def folder(image_folder_factory):
    """10 random 16x16 RGB PNGs."""
    return image_folder_factory(n=10, size=16)


def codec_args(folder, tmp_path, name, *extra):
    return ["cdiff-codec", "--data", f"folder:{folder}", "--cbrs", "0.05", "0.1", "--widths", "4", "8",
            "--steps", "4", "--batch", "4", "--final-snr-db", "0", "--threads", "1",
            "--out-dir", str(tmp_path / "ck"), "--work-dir", str(tmp_path / "wk"), "--name", name, *extra]


def test_codec_tiny_run_resume_and_config(folder, tmp_path):
    assert cli.main(codec_args(folder, tmp_path, "straight", "--variant", "vae")) == 0
    assert cli.main(codec_args(folder, tmp_path, "resumed", "--variant", "vae", "--stop-after", "2")) == 0
    assert not (tmp_path / "ck" / "resumed.json").exists()
    assert cli.main(codec_args(folder, tmp_path, "resumed", "--variant", "vae")) == 0
    a, b = load_codec(tmp_path / "ck" / "straight"), load_codec(tmp_path / "ck" / "resumed")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    cfg = a.codec_config
    assert cfg["architecture"] == "adaptive_cbr_codec" and cfg["kwargs"]["variant"] == "vae"
    assert cfg["train"]["command"].startswith("semradio train cdiff-codec --data folder:")
    assert cfg["train"]["loss"] == "MSE + 0.01 KL"
    # 16x16 RGB: k = int(768 cbr) -> 38 and 76 symbols
    assert a.lengths == (76, 152) and cfg["cbrs"] == [0.05, 0.1]
    assert set(cfg["metrics"]["by_cbr_snr_db"]) == {"0.05", "0.1"}
    assert set(cfg["metrics"]["by_cbr_snr_db"]["0.1"]["0"]) == {"psnr_db", "ssim"}


def test_cdiff_tiny_run_over_every_cbr_and_resume(folder, tmp_path):
    assert cli.main(codec_args(folder, tmp_path, "enc")) == 0
    codec = str(tmp_path / "ck" / "enc")

    def args(name, *extra):
        return ["cdiff", "--codec", codec, "--steps", "4", "--batch", "4", "--width", "8", "--proj-channels", "2",
                "--T", "20", "--beta-1", "0.005", "--beta-T", "0.1", "--final-snr-db", "0", "--final-n", "4", "--sample-steps", "2", "--threads", "1",
                "--out-dir", str(tmp_path / "ck"), "--work-dir", str(tmp_path / "wk"), "--name", name, *extra]

    assert cli.main(args("d1")) == 0
    assert cli.main(args("d2", "--stop-after", "3")) == 0
    assert json.loads((tmp_path / "wk" / "d2" / "state.json").read_text())["step"] == 3
    assert cli.main(args("d2")) == 0
    n1, sched, cfg = load_cdiff(tmp_path / "ck" / "d1")
    n2, _, _ = load_cdiff(tmp_path / "ck" / "d2")
    for (ka, va), (kb, vb) in zip(n1.state_dict().items(), n2.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert sched.T == 20 and cfg["architecture"] == "cdiff_unet"
    assert cfg["codec"] == codec and cfg["cbrs"] == [0.05, 0.1] and cfg["cond_shape"] == [1, 16, 16]
    assert cfg["train"]["command"].startswith("semradio train cdiff --codec")
    # evaluated at every CBR of the codec with the one decoder, and at the lowest CBR per SNR
    assert set(cfg["metrics"]["by_cbr_at_0_db"]) == {"0.05", "0.1"}
    r = cfg["metrics"]["by_snr_db_at_lowest_cbr"]["0"]
    assert set(r) == {"ssim_matched", "psnr_db_matched", "ssim_cdiff", "psnr_db_cdiff"}
    assert all(np.isfinite(v) for v in r.values())
    with pytest.raises(SystemExit, match="--overwrite"):  # d2 is finished: rerunning it would replace it
        cli.main(args("d2", "--proj-channels", "3"))
    with pytest.raises(SystemExit, match="other settings"):
        cli.main(args("d2", "--proj-channels", "3", "--overwrite"))


def test_cdiff_warm_start_and_re_evaluation_keep_provenance(folder, tmp_path):
    assert cli.main(codec_args(folder, tmp_path, "enc")) == 0
    codec = str(tmp_path / "ck" / "enc")

    def args(name, *extra):
        return ["cdiff", "--codec", codec, "--steps", "3", "--batch", "4", "--width", "8", "--proj-channels", "0",
                "--T", "20", "--beta-1", "0.005", "--beta-T", "0.1", "--final-snr-db", "0", "--final-n", "4",
                "--threads", "1", "--out-dir", str(tmp_path / "ck"), "--work-dir", str(tmp_path / "wk"),
                "--name", name, *extra]

    assert cli.main(args("base", "--sample-steps", "2")) == 0
    _, _, base_cfg = load_cdiff(tmp_path / "ck" / "base")
    assert base_cfg["train"]["parameters"] > 0  # EMA weights are frozen but counted
    assert cli.main(args("warm", "--init", str(tmp_path / "ck" / "base"), "--focus-steps", "1",
                         "--sample-steps", "2")) == 0
    n_warm, _, cfg = load_cdiff(tmp_path / "ck" / "warm")
    assert cfg["train"]["init"]["sha256"] == base_cfg["sha256"]
    assert cfg["train"]["focus_steps"] == [20] and cfg["sample_steps"] == 2
    # re-evaluating without --overwrite writes eval.json only: the checkpoint is kept
    assert cli.main(args("warm", "--init", str(tmp_path / "ck" / "base"), "--focus-steps", "1",
                         "--sample-steps", "1", "--eval-only")) == 0
    assert json.loads((tmp_path / "wk" / "warm" / "eval.json").read_text())["sample_steps"] == 1
    assert load_cdiff(tmp_path / "ck" / "warm")[2]["sample_steps"] == 2
    # re-evaluating with another step count re-saves the same weights with the new default and
    # the training record of the run (not of the re-evaluation)
    assert cli.main(args("warm", "--init", str(tmp_path / "ck" / "base"), "--focus-steps", "1",
                         "--sample-steps", "1", "--eval-only", "--overwrite")) == 0
    n_again, _, cfg2 = load_cdiff(tmp_path / "ck" / "warm")
    assert cfg2["sample_steps"] == 1
    for (ka, va), (kb, vb) in zip(n_warm.state_dict().items(), n_again.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    assert cfg2["train"]["command"] == cfg["train"]["command"] and cfg2["train"]["init"] == cfg["train"]["init"]
    assert "--eval-only" in cfg2["eval_command"]


def test_joint_encoder_training_then_decoder_refit(folder, tmp_path):
    """--train-encoder trains the encoding path only and saves it as a codec the CDiff config
    names; cdiff-codec --init --freeze-encoder then refits the decoder and keeps the encoder."""
    from safetensors.torch import load_file

    assert cli.main(codec_args(folder, tmp_path, "enc")) == 0
    ck = tmp_path / "ck"
    assert cli.main(["cdiff", "--codec", str(ck / "enc"), "--train-encoder", "joint", "--steps", "3", "--batch", "4",
                       "--width", "8", "--proj-channels", "2", "--T", "20", "--beta-1", "0.005", "--beta-T", "0.1",
                       "--final-snr-db", "0", "--final-n", "4",
                       "--sample-steps", "1", "--threads", "1", "--out-dir", str(ck), "--work-dir",
                       str(tmp_path / "wk"), "--name", "dj"]) == 0
    base, joint = load_file(ck / "enc.safetensors"), load_file(ck / "joint.safetensors")
    encoding = ("trunk.", "heads.")
    assert any(not torch.equal(base[k], joint[k]) for k in base if k.startswith(encoding))
    assert all(torch.equal(base[k], joint[k]) for k in base if not k.startswith(encoding))
    _, _, cfg = load_cdiff(ck / "dj")
    assert cfg["codec"] == "joint" and cfg["matched_codec"] == str(ck / "enc")
    jcfg = json.loads((ck / "joint.json").read_text())
    assert jcfg["decoder_matched"] is False and jcfg["joint_training"]["cdiff"] == "dj"

    refit_args = codec_args(folder, tmp_path, "joint", "--init", str(ck / "joint"), "--freeze-encoder")
    with pytest.raises(SystemExit, match="--overwrite"):  # the refit replaces the codec "joint"
        cli.main(refit_args)
    assert cli.main([*refit_args, "--overwrite"]) == 0
    refit = load_file(ck / "joint.safetensors")
    assert all(torch.equal(joint[k], refit[k]) for k in joint if k.startswith(encoding))
    assert any(not torch.equal(joint[k], refit[k]) for k in joint if k.startswith("dec_"))
    rcfg = json.loads((ck / "joint.json").read_text())
    assert rcfg["decoder_matched"] is True and rcfg["joint_training"]["cdiff"] == "dj"
    assert rcfg["train"]["freeze_encoder"] is True
    with pytest.raises(SystemExit, match="needs --init"):
        cli.main(codec_args(folder, tmp_path, "x", "--freeze-encoder"))


def test_outputs_are_checked_before_training_and_arrays_train_from_python(tmp_path):
    """Every checkpoint a run writes (the decoder and the --train-encoder codec) is checked before
    any training; the Python API trains on arrays and leaves its config untouched."""
    rng = np.random.default_rng(1)
    data = TrainingData.from_arrays(rng.random((8, 1, 8, 8), dtype=np.float32),
                                    rng.random((4, 1, 8, 8), dtype=np.float32), name="toy", flips=False)
    config = CDiffCodecConfig(data="toy", cbrs=(0.25,), widths=(4, 4), steps=2, batch=2, final_snr_db=(0.0,),
                              threads=1, out_dir=str(tmp_path / "ck"), work_dir=str(tmp_path / "wk"), name="toy_ae")
    cfg = train(config, data)
    assert config.cbrs == (0.25,) and config.widths == (4, 4)  # resolved copies only
    assert cfg["train"]["data"] == "toy" and cfg["image_shape"] == [1, 8, 8] and cfg["cbrs"] == [0.25]
    command = shlex.split(cfg["train"]["command"])
    assert command[:3] == ["semradio", "train", "cdiff-codec"]  # the options that rebuild the config
    rebuilt = from_namespace(CDiffCodecConfig, cli.family_parser("cdiff-codec").parse_args(command[3:]))
    assert {k: tuple(v) if isinstance(v, list) else v for k, v in vars(rebuilt).items()} == vars(config)
    codec = str(tmp_path / "ck" / "toy_ae")
    with pytest.raises(SystemExit, match="'toy_ae' already exists.*--overwrite"):
        cli.main(["cdiff", "--codec", codec, "--data", "folder:/nonexistent", "--train-encoder", "toy_ae",
                  "--out-dir", str(tmp_path / "ck"), "--work-dir", str(tmp_path / "wk")])
    assert not (tmp_path / "wk" / "cdiff_folder_awgn").exists()
