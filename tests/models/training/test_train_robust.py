"""semradio train robust (Algorithm 1, eq. 12): a tiny run writes a full codec checkpoint with
the command, a new encoder and the decoder unchanged bit for bit; a run interrupted then resumed
gives bit-identical weights; eq. (12)'s loss and the eps schedule; nothing goes to the shipped
checkpoint directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from semradio.models import load_codec
from semradio.models.checkpoint import save_codec
from semradio.models.jscc import DeepJSCC
from semradio.models.training import FAMILIES, cli
from semradio.models.training.robust import eps_at, robust_loss

SHIPPED = Path(__file__).resolve().parents[3] / "models" / "checkpoints"


@pytest.fixture()
def setup(image_folder_factory, tmp_path):
    torch.set_num_threads(1)
    folder = image_folder_factory(n=10, size=16)
    torch.manual_seed(0)
    codec = DeepJSCC(image_size=(16, 16), latent_channels=4, channels=(4, 8), middle=0, gdn=True, snr_adaptive=True)
    base = tmp_path / "base" / "tiny"
    save_codec(codec, base, {"name": "tiny", "channel": "awgn", "train": {"snr_db_range": [0.0, 20.0]}})
    return folder, base


def argv(folder, base, tmp_path, name, *extra):
    return ["robust", "--codec", str(base), "--data", f"folder:{folder}", "--steps", "4", "--batch", "4",
            "--pgd-steps", "2", "--eval-n", "4", "--eval-every", "2", "--final-n", "4", "--final-pgd-steps", "2",
            "--final-snr-db", "10", "--ckpt-every", "2", "--out-dir", str(tmp_path / "ck"),
            "--work-dir", str(tmp_path / "wk"), "--name", name, "--threads", "1", *extra]


def test_tiny_run_checkpoint_and_bit_exact_resume(setup, tmp_path):
    folder, base = setup
    shipped_before = sorted((p.name, p.stat().st_mtime_ns) for p in SHIPPED.iterdir())
    assert "robust" in FAMILIES
    assert cli.main(argv(folder, base, tmp_path, "straight")) == 0
    assert cli.main(argv(folder, base, tmp_path, "resumed", "--stop-after", "2")) == 0
    assert not (tmp_path / "ck" / "resumed.json").exists()
    assert json.loads((tmp_path / "wk" / "resumed" / "state.json").read_text())["step"] == 2
    assert cli.main(argv(folder, base, tmp_path, "resumed")) == 0
    a, b, orig = (load_codec(tmp_path / "ck" / "straight"), load_codec(tmp_path / "ck" / "resumed"),
                  load_codec(base))
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    sd, so = a.state_dict(), orig.state_dict()
    assert all(torch.equal(sd[k], so[k]) for k in so if k.startswith("decoder."))  # G frozen
    assert any(not torch.equal(sd[k], so[k]) for k in so if k.startswith("encoder."))  # E' trained
    cfg = a.codec_config
    assert cfg["architecture"] == "deep_jscc" and cfg["kwargs"] == orig.codec_config["kwargs"]
    assert cfg["train"]["command"].startswith("semradio train robust --codec ")
    assert cfg["train"]["frozen"] == "decoder" and cfg["train"]["seconds"] > 0
    m = cfg["metrics"]["by_snr_db"]["10"]
    assert {"psnr_clean", "psnr_pgd", "ssim_clean", "ssim_pgd", "psnr_input"} <= set(m)
    assert "10" in cfg["metrics"]["base_by_snr_db"]
    assert [h["step"] for h in cfg["train"]["history"]] == [2, 4]
    # an existing checkpoint is not replaced, and nothing was written to the shipped directory
    with pytest.raises(SystemExit):
        cli.main(argv(folder, base, tmp_path, "straight", "--fresh"))
    assert sorted((p.name, p.stat().st_mtime_ns) for p in SHIPPED.iterdir()) == shipped_before


def test_default_output_goes_to_the_user_directory(setup, tmp_path, monkeypatch):
    folder, base = setup
    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path / "home"))
    args = [a for a in argv(folder, base, tmp_path, "x") if a not in ("--out-dir", str(tmp_path / "ck"))]
    args[args.index("--name") + 1] = "userdir"
    assert cli.main(args + ["--steps", "1"]) == 0
    assert (tmp_path / "home" / "checkpoints" / "userdir.json").is_file()
    assert not (SHIPPED / "userdir.json").exists()


def test_robust_loss_is_eq12_with_a_shared_noise_draw(setup):
    _, base = setup
    codec = load_codec(base)
    x = torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    gen = torch.Generator().manual_seed(1)
    loss, rec, sem = robust_loss(codec, x, torch.zeros_like(x), "awgn", 5.0, gen, beta=2.0)
    assert float(sem) == 0.0  # delta = 0 and the same noise: identical reconstructions
    assert torch.allclose(loss, rec)
    d = 0.05 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))
    loss, rec, sem = robust_loss(codec, x, d, "awgn", 5.0, gen, beta=2.0)
    assert float(sem) > 0 and torch.allclose(loss, rec + 2.0 * sem)


def test_eps_schedule():
    assert eps_at(0, 4.8, 0) == 4.8
    assert eps_at(0, 4.8, 4) == pytest.approx(1.2) and eps_at(3, 4.8, 4) == 4.8 and eps_at(99, 4.8, 4) == 4.8
