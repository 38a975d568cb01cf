"""Latent adapter (semradio.models.adapter): identity at init, the closed-form affine correction
on a linear Gaussian toy, one-shot fitting, checkpoints tied to their codec."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semradio.models.adapter import (KINDS, LatentAdapter, affine_least_squares, channel_map, check_belongs,
                                     codec_identity, fit_adapter, fit_latent_map, load_adapter, random_shifts,
                                     save_adapter)
from semradio.models.checkpoint import load_codec, save_codec
from semradio.models.jscc import DeepJSCC
from semradio.models.link import make_generator, simulate_link

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def tiny_codec(seed: int = 0) -> DeepJSCC:
    torch.manual_seed(seed)
    return DeepJSCC(3, (16, 16), latent_channels=4, channels=(8, 8), middle=0, gdn=True, snr_adaptive=True).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(3)
    return torch.rand(6, 3, 16, 16, generator=g)


@pytest.mark.parametrize("kind", KINDS)
def test_identity_init_is_bit_identical(kind: str, images: torch.Tensor) -> None:
    codec = tiny_codec()
    ad = LatentAdapter(codec.latent_channels, (4, 4), kind)
    with torch.no_grad():
        y = simulate_link(codec.encode(images, 10.0), "awgn", 10.0, make_generator(0))
        assert torch.equal(ad(y), y)
        assert torch.equal(codec.decode(ad(y), 10.0), codec.decode(y, 10.0))
    ad.enabled = False
    assert ad(y) is y


def test_identity_breaks_once_trained() -> None:
    ad = LatentAdapter(4, (2, 2), "channel")
    with torch.no_grad():
        ad.weight.mul_(2.0)
    y = torch.randn(3, 16)
    assert torch.allclose(ad(y), 2 * y)


def test_parameter_counts() -> None:
    assert LatentAdapter(16, (8, 8), "channel").num_parameters() == 16 * 16 + 16
    assert LatentAdapter(16, (8, 8), "affine").num_parameters() == 2 * 1024
    assert LatentAdapter(16, (8, 8), "conv").num_parameters() == 16 * 16 * 9 + 16
    assert LatentAdapter(16, (8, 8), "conv2").num_parameters() == 16 * 32 * 9 + 32 + 32 * 16 + 16
    assert LatentAdapter(16, (8, 8), "mlp2").num_parameters() == 2 * 1024 * 256 + 256 + 1024


def test_bad_arguments_and_lengths() -> None:
    with pytest.raises(ValueError, match="kind"):
        LatentAdapter(4, (2, 2), "nope")
    with pytest.raises(ValueError, match="multiple"):
        LatentAdapter(4, (2, 2), "channel")(torch.zeros(1, 10))
    with pytest.raises(ValueError, match="does not fit"):
        LatentAdapter(4, (2, 2), "affine")(torch.zeros(1, 32))
    with pytest.raises(ValueError, match=r"\(B, 2k\)"):
        LatentAdapter(4, (2, 2))(torch.zeros(16))
    assert LatentAdapter(4, (2, 2), "channel")(torch.zeros(2, 64)).shape == (2, 64)  # any grid


def test_channel_map_is_a_1x1_convolution() -> None:
    g = torch.Generator().manual_seed(1)
    w, b, y = torch.randn(4, 4, generator=g), torch.randn(4, generator=g), torch.randn(3, 4 * 9, generator=g)
    ref = torch.nn.functional.conv2d(y.reshape(3, 4, 3, 3), w[:, :, None, None], b).reshape(3, -1)
    assert torch.allclose(channel_map(y, w, b), ref, atol=1e-5)


def test_affine_least_squares_closed_form() -> None:
    g = torch.Generator().manual_seed(2)
    t = 0.5 + 0.3 * torch.randn(200_000, 3, generator=g)
    y = 2.0 * t - 1.0 + 0.2 * torch.randn(200_000, 3, generator=g)
    w, b = affine_least_squares(y, t)
    w_true = 2.0 * 0.09 / (4.0 * 0.09 + 0.04)
    assert torch.allclose(w, torch.full((3,), w_true), atol=0.01)
    assert torch.allclose(b, torch.full((3,), 0.5 - w_true * 0.0), atol=0.01)  # E[y] = 2*0.5 - 1 = 0


def test_fit_converges_to_the_closed_form_on_a_linear_gaussian_toy() -> None:
    """Received y = a t + c + n per coordinate, decoder = identity: the MSE-optimal element-wise
    affine correction is the LMMSE estimate w* = a s2t / (a^2 s2t + s2n), b* = m - w* (a m + c)."""
    torch.manual_seed(0)
    d, a, c, m, st, sn = 16, 1.5, 0.3, 0.4, 0.5, 0.4
    w_true = a * st ** 2 / (a ** 2 * st ** 2 + sn ** 2)
    b_true = m - w_true * (a * m + c)
    g = torch.Generator().manual_seed(5)

    def draw(_: int) -> tuple[torch.Tensor, float, torch.Tensor]:
        t = m + st * torch.randn(512, d, generator=g)
        return a * t + c + sn * torch.randn(512, d, generator=g), 0.0, t

    ad = LatentAdapter(4, (2, 2), "affine")
    rep = fit_latent_map(ad, lambda y, snr: y, draw, steps=1500, lr=1e-2)
    assert rep["loss_last"] < rep["loss_first"]
    assert torch.allclose(ad.weight.detach(), torch.full((d,), w_true), atol=0.03)
    assert torch.allclose(ad.bias.detach(), torch.full((d,), b_true), atol=0.03)
    # and the loss it reaches is the LMMSE error w* s2n... = s2t s2n / (a^2 s2t + s2n)
    assert rep["loss_last"] == pytest.approx(st ** 2 * sn ** 2 / (a ** 2 * st ** 2 + sn ** 2), rel=0.1)


@pytest.mark.parametrize("kind", ["channel", "conv2"])
def test_one_shot_fit_reduces_the_loss_and_keeps_the_codec(kind: str, images: torch.Tensor) -> None:
    codec = tiny_codec()
    before = {k: v.clone() for k, v in codec.state_dict().items()}
    ad, rep = fit_adapter(codec, images[:1], "awgn", 10.0, steps=80, lr=1e-2, kind=kind, seed=0, batch=8,
                          max_seconds=None, shift=0)
    assert rep["steps"] == 80 and rep["shots"] == 1 and rep["kind"] == kind
    assert rep["loss_last"] < rep["loss_first"]
    assert all(torch.equal(before[k], v) for k, v in codec.state_dict().items())
    assert all(p.requires_grad for p in codec.parameters())  # restored
    assert not any(p.requires_grad for p in ad.parameters())


def test_fit_respects_the_time_budget_and_snr_range(images: torch.Tensor) -> None:
    codec = tiny_codec()
    _, rep = fit_adapter(codec, images[:2].numpy(), "rayleigh", (0.0, 20.0), steps=10_000, kind="channel",
                         batch=4, max_seconds=0.5)
    assert rep["steps"] < 10_000 and rep["seconds"] < 3.0 and rep["snr_db"] == [0.0, 20.0]
    with pytest.raises(ValueError, match="3-channel"):
        fit_adapter(codec, torch.rand(1, 1, 16, 16), steps=1)


def test_random_shifts() -> None:
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).reshape(2, 1, 4, 4)
    rng = np.random.default_rng(0)
    out = random_shifts(x, 1, rng)
    assert out.shape == x.shape
    # each output is a shifted window of the edge-padded input
    pad = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate")
    for i in range(2):
        assert any(torch.equal(out[i], pad[i, :, a:a + 4, b:b + 4]) for a in range(3) for b in range(3))


def _saved_codec(tmp_path, seed: int, name: str) -> torch.nn.Module:
    save_codec(tiny_codec(seed), tmp_path / name, {"name": name})
    return load_codec(tmp_path / f"{name}.json")


def test_checkpoint_round_trip_and_other_codec_refused(tmp_path) -> None:
    a = _saved_codec(tmp_path, 0, "codec_a")
    b = _saved_codec(tmp_path, 1, "codec_b")
    ad = LatentAdapter(4, (4, 4), "channel")
    with torch.no_grad():
        ad.weight.add_(0.1)
    js = save_adapter(ad, tmp_path / "ad", a, {"train": {"command": "test"}})
    net, cfg = load_adapter(js, a)
    assert cfg["codec"] == codec_identity(a) and cfg["kind"] == "channel"
    assert torch.equal(net.weight, ad.weight)
    with pytest.raises(ValueError, match="codec_a"):
        load_adapter(js, b)
    with pytest.raises(ValueError, match="latent channels"):
        check_belongs({"codec": {"name": "codec_a", "latent_channels": 8}}, a)
    with pytest.raises(FileExistsError):
        save_adapter(ad, tmp_path / "ad", a)


def test_fit_on_shipped_codec_is_fast_and_helps_a_grey_texture() -> None:
    """One texture region's patches, 40 steps: the fitted adapter lowers the held-out MSE."""
    from semradio.models import data as D
    from semradio.models import metrics as M

    codec = load_codec("jscc_natural32_awgn_cbr1-6", "cpu")
    shots = D.load_images("texture:brick", "train")[:4]
    held = torch.from_numpy(D.load_images("texture:brick", "eval")[:48])
    ad, rep = fit_adapter(codec, shots, "awgn", 10.0, steps=40, kind="channel", max_seconds=None)
    with torch.no_grad():
        y = simulate_link(codec.encode(held, 10.0), "awgn", 10.0, make_generator(1234))
        base = M.psnr(held, codec.decode(y, 10.0)).mean()
        new = M.psnr(held, codec.decode(ad(y), 10.0)).mean()
    assert rep["loss_last"] < rep["loss_first"]
    assert math.isfinite(new) and new > base


def test_adversarial_term_is_optional(images: torch.Tensor) -> None:
    codec = tiny_codec()
    seen = []

    def critic(img: torch.Tensor) -> torch.Tensor:
        seen.append(img.shape)
        return img.mean(dim=(1, 2, 3))

    _, rep = fit_adapter(codec, images[:1], steps=3, batch=4, kind="channel", critic=critic, adv_weight=0.1,
                         max_seconds=None, shift=0)
    assert rep["adversarial"] and len(seen) == 3 and seen[0] == (4, 3, 16, 16)


def test_train_cli_writes_a_checkpoint_for_its_codec(tmp_path) -> None:
    from PIL import Image

    from semradio.models.training.adapter import AdapterConfig, train_adapter

    cfg = AdapterConfig(data="texture:brick", shots=2, steps=3, out_dir=str(tmp_path), threads=1, name="ad_cli")
    out = train_adapter(cfg, command="semradio train adapter --data texture:brick")
    assert out["train"]["command"] == "semradio train adapter --data texture:brick"
    assert out["train"]["shots"] == 2 and out["train"]["report"]["steps"] == 3
    net, js = load_adapter(tmp_path / "ad_cli.json", load_codec("jscc_natural32_awgn_cbr1-6"))
    assert js["kind"] == "channel" and js["codec"]["name"] == "jscc_natural32_awgn_cbr1-6"  # auto: 2 shots
    with pytest.raises(SystemExit, match="exists|overwrite"):
        train_adapter(cfg)
    many = AdapterConfig(data="texture:brick", shots=4, steps=2, out_dir=str(tmp_path), threads=1, name="ad_four")
    train_adapter(many)
    assert load_adapter(tmp_path / "ad_four.json")[1]["kind"] == "conv2"  # auto from 4 shots on
    Image.fromarray((np.random.default_rng(0).random((40, 48, 3)) * 255).astype(np.uint8)).save(tmp_path / "s.png")
    img = AdapterConfig(image=(str(tmp_path / "s.png"),), steps=2, kind="channel", out_dir=str(tmp_path), threads=1)
    assert train_adapter(img)["name"] == "adapter_jscc_natural32_awgn_cbr1-6_s"
    with pytest.raises(SystemExit, match="either"):
        train_adapter(AdapterConfig(out_dir=str(tmp_path)))


def test_eval_cli_reports_bit_identical_in_distribution(tmp_path) -> None:
    import json

    from semradio.models.evaluation.adapter import main

    js = tmp_path / "r.json"
    assert main(["--sets", "texture:gravel", "--snr-db", "10", "--n", "8", "--steps", "2", "--kind", "channel",
                 "--json", str(js)]) == 0
    r = json.loads(js.read_text())
    s = r["sets"][0]
    assert s["held_out"] == 8 and s["fit"]["steps"] == 2 and set(s["by_snr_db"]) == {"10"}
    assert r["in_distribution"]["bit_identical"] and r["in_distribution"]["bit_identical_identity_init"]


def test_a_crafted_checkpoint_cannot_disable_or_inflate_the_adapter(tmp_path) -> None:
    import json

    codec = load_codec("jscc_natural32_awgn_cbr1-6")
    save_adapter(LatentAdapter(16, (8, 8), "conv2"), tmp_path / "a", codec)
    good = json.loads((tmp_path / "a.json").read_text())
    for bad in ({"enabled": False}, {"hidden": 10**9}, {"spatial": [8, 8, 8]}, {"latent_channels": True},
                {"kind": "os.system"}):
        cfg = dict(good, kwargs={**good["kwargs"], **bad})
        (tmp_path / "a.json").write_text(json.dumps(cfg))
        with pytest.raises(ValueError, match="adapter kwargs"):
            load_adapter(tmp_path / "a.json", codec)
    cfg = dict(good, kwargs={**good["kwargs"], "latent_channels": 8})
    (tmp_path / "a.json").write_text(json.dumps(cfg))
    with pytest.raises((ValueError, RuntimeError)):
        load_adapter(tmp_path / "a.json", codec)


def test_conv_adapters_refuse_a_grid_they_cannot_tell() -> None:
    g = LatentAdapter(16, (8, 8), "conv2")
    g.check_length(16 * 64)
    g.check_length(16 * 16)                       # a square 4x4 grid
    with pytest.raises(ValueError, match="square"):
        g(torch.zeros(1, 16 * 7))
    LatentAdapter(16, (8, 8), "channel").check_length(16 * 7)   # position-free: any length
