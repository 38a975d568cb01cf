"""Deep JSCC / ADJSCC codec: shape and CBR contracts, GDN and AF against their formulas, the
differentiable training link against the channel math, and safetensors checkpoints."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from semradio.dsp import channel as cm
from semradio.models import DeepJSCC, GDN, latent_channels_for, list_codecs, load_codec, save_codec
from semradio.models.checkpoint import read_config
from semradio.models.jscc import AttentionFeature, cbr_of
from semradio.models.link import make_generator, simulate_link


def small(**kw):
    torch.manual_seed(0)
    kw.setdefault("channels", (8, 16))
    return DeepJSCC(**kw).eval()


@pytest.mark.parametrize("cbr, c", [(1 / 6, 16), (1 / 12, 8), (1 / 24, 4)])
def test_latent_channels_and_cbr(cbr, c):
    assert latent_channels_for(cbr) == c
    m = small(latent_channels=c)
    assert m.cbr == pytest.approx(cbr)
    x = torch.rand(3, 3, 32, 32)
    z = m.encode(x)
    assert z.shape == (3, c * 64) and z.dtype == torch.float32
    assert cbr_of(z.shape[1] // 2, x.shape[1:]) == pytest.approx(cbr)
    assert m.k == z.shape[1] // 2


def test_latent_channels_rejects_fractional():
    with pytest.raises(ValueError, match="positive integer"):
        latent_channels_for(1 / 7)


def test_encode_decode_shapes_any_size_and_range():
    m = small(latent_channels=16)
    for h, w in [(32, 32), (64, 64), (16, 48)]:
        x = torch.rand(2, 3, h, w)
        z = m.encode(x)
        assert z.shape == (2, 16 * (h // 4) * (w // 4))
        y = m.decode(z, image_size=(h, w))
        assert y.shape == x.shape and 0.0 <= float(y.detach().min()) and float(y.detach().max()) <= 1.0
    # square sizes are inferred from the latent length
    assert m.decode(m.encode(torch.rand(1, 3, 64, 64))).shape == (1, 3, 64, 64)
    mn = small(in_channels=1, image_size=(28, 28), latent_channels=2)
    assert mn.encode(torch.rand(2, 1, 28, 28)).shape == (2, 98)
    assert mn.cbr == pytest.approx(1 / 16)


def test_bad_inputs_are_value_errors():
    m = small()
    with pytest.raises(ValueError, match="divisible by 4"):
        m.encode(torch.rand(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        m.encode(torch.rand(1, 1, 32, 32))
    with pytest.raises(ValueError, match="latent length"):
        m.decode(torch.rand(1, 100))
    with pytest.raises(ValueError, match="divisible by 4"):
        DeepJSCC(image_size=(30, 30))


def test_snr_adaptive_needs_snr_and_uses_it():
    m = small(snr_adaptive=True, gdn=True)
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="snr_db"):
        m.encode(x)
    z0, z20 = m.encode(x, 0.0), m.encode(x, 20.0)
    assert not torch.allclose(z0, z20)
    per_item = m.encode(x, torch.tensor([0.0, 20.0]))
    torch.testing.assert_close(per_item[0], z0[0])
    torch.testing.assert_close(per_item[1], z20[1])


def test_gdn_closed_form():
    g = GDN(2)
    beta, gamma = torch.tensor([0.5, 2.0]), torch.tensor([[0.1, 0.3], [0.2, 0.4]])
    with torch.no_grad():
        g.beta.copy_(beta.sqrt())
        g.gamma.copy_(gamma.sqrt())
    x = torch.tensor([1.5, -2.0]).view(1, 2, 1, 1)
    norm = torch.sqrt(beta + gamma @ (x.view(2) ** 2))
    torch.testing.assert_close(g(x).view(2), x.view(2) / norm, rtol=1e-5, atol=1e-6)
    ig = GDN(2, inverse=True)
    ig.load_state_dict(g.state_dict())
    torch.testing.assert_close(ig(x).view(2), x.view(2) * norm, rtol=1e-5, atol=1e-6)
    b, gm = g.effective_params()
    assert (b > 0).all() and (gm >= 0).all()


def test_attention_feature_formula():
    torch.manual_seed(1)
    af = AttentionFeature(4, hidden=5)
    x = torch.randn(2, 4, 3, 3)
    snr = torch.tensor([0.0, 15.0])
    ctx = torch.cat([x.mean(dim=(2, 3)), (snr / 10).unsqueeze(1)], 1)
    a = torch.sigmoid(af.fc2(torch.relu(af.fc1(ctx))))
    torch.testing.assert_close(af(x, snr), x * a[:, :, None, None])


def test_power_contract_after_normalizer():
    m = small()
    z = m.encode(torch.rand(4, 3, 32, 32))
    x_c = cm.normalize_power(z)
    torch.testing.assert_close(cm.average_power(x_c), torch.ones(4), rtol=1e-5, atol=1e-5)


def test_link_noiseless_is_normalized_latent_and_differentiable():
    z = torch.randn(3, 64, requires_grad=True)
    for ch in ("awgn", "rayleigh"):
        y = simulate_link(z, ch, math.inf, make_generator(0))
        ref = cm.complex_to_real(cm.normalize_power(z.detach()))
        torch.testing.assert_close(y.detach(), ref, rtol=1e-4, atol=1e-5)
        y.square().sum().backward()
        assert z.grad is not None and torch.isfinite(z.grad).all()
        z.grad = None


def test_link_awgn_noise_variance():
    z = torch.randn(64, 2048)
    snr_db = 10.0
    y = simulate_link(z, "awgn", snr_db, make_generator(3))
    ref = cm.complex_to_real(cm.normalize_power(z))
    var = float((y - ref).var())
    s2 = cm.noise_var_from_snr(snr_db)
    n = y.numel()
    assert abs(var - s2 / 2) < 5 * (s2 / 2) * math.sqrt(2 / n)


def test_link_rayleigh_matches_block_math():
    """Same draws as the blocks: h ~ CN(0,1) then n, MMSE weights of the equalizer."""
    z = torch.randn(2, 32)
    gen_a, gen_b = make_generator(5), make_generator(5)
    y = simulate_link(z, "rayleigh", 5.0, gen_a)
    x_c = cm.normalize_power(z)
    h = cm.rayleigh_gains(gen_b, (2, 16), x_c)
    s2 = cm.noise_var_from_snr(5.0)
    n = cm.complex_noise(gen_b, (2, 16), s2, x_c)
    y_ref, *_ = cm.equalize(h * x_c + n, h, s2, "mmse")
    torch.testing.assert_close(y, y_ref)
    with pytest.raises(ValueError, match="unknown training channel"):
        simulate_link(z, "rician", 5.0)


def test_checkpoint_roundtrip_safetensors_only(tmp_path):
    m = small(gdn=True, snr_adaptive=True)
    js = save_codec(m, tmp_path / "codec", {"channel": "awgn", "train": {"command": "python tools/train.py jscc"}})
    cfg = json.loads(js.read_text())
    assert cfg["kwargs"] == m.config() and cfg["weights"] == "codec.safetensors"
    blob = (tmp_path / "codec.safetensors").read_bytes()
    header_len = int.from_bytes(blob[:8], "little")
    assert blob[8:9] == b"{" and json.loads(blob[8:8 + header_len])  # safetensors header, no pickle
    for ref in (tmp_path / "codec", tmp_path / "codec.json", tmp_path / "codec.safetensors"):
        m2 = load_codec(ref, device="cpu", check_hash=True)
        x = torch.rand(2, 3, 32, 32)
        torch.testing.assert_close(m2.encode(x, 5.0), m.encode(x, 5.0))
        assert m2.codec_config["train"]["command"].startswith("python tools/train.py")
    assert list_codecs(tmp_path) == ["codec"]
    with pytest.raises(FileNotFoundError, match="no codec"):
        load_codec(tmp_path / "missing")


def test_shipped_codecs_have_configs_with_commands():
    from semradio.models.checkpoint import CHECKPOINT_DIR as shipped

    names = list_codecs(shipped)
    for required in ("jscc_natural32_awgn_cbr1-6", "jscc_natural32_awgn_cbr1-12", "jscc_natural32_rayleigh_cbr1-6",
                     "jscc_natural32_rayleigh_cbr1-12", "jscc_mnist_awgn_cbr1-16"):
        assert required in names
    for name in names:
        cfg = read_config(name)
        if cfg["architecture"] == "adaptive_cbr_codec":  # seed 001 benchmarks, one entry per CBR
            assert cfg["train"]["command"].startswith("python tools/train.py cdiff-codec")
            assert set(cfg["metrics"]["by_cbr_snr_db"]) == {f"{c:.4g}" for c in cfg["cbrs"]}
        else:  # Deep JSCC (trained, or its encoder made robust) and the VAE-WGAN codec
            prefixes = {"deep_jscc": ("python tools/train.py jscc", "semradio train jscc", "semradio train robust"),
                        "vae_wgan": ("python tools/train.py vae-wgan",)}[cfg["architecture"]]
            assert cfg["train"]["command"].startswith(prefixes), (name, cfg["train"]["command"])
            assert cfg["metrics"]["by_snr_db"]
    from semradio.models.checkpoint import CHECKPOINT_DIR

    # everything ships in the wheel: codecs (~12 MB), the denoiser families (~1.7 MB each), the
    # adaptive-CBR codecs and CDiff decoders of seed 001 (~4-7 MB each), the six diffusion channel
    # estimators (chest_*, 2.2-3.6 MB each, ~15 MB), the robust encoder's codec (2.5 MB) and the
    # VAE-WGAN codec with its critic, VE teacher and EECD (6.7 MB), and the two wide CBR 1/6 codecs
    # (9.5 MB each): 116 MB in all
    total = sum(p.stat().st_size for p in CHECKPOINT_DIR.glob("*.safetensors"))
    assert total < 120e6


def test_device_agnostic_loading():
    m = load_codec("jscc_natural32_awgn_cbr1-6", device="cpu")
    assert m.device.type == "cpu" and not m.training
    if torch.cuda.is_available():
        mc = load_codec("jscc_natural32_awgn_cbr1-6", device="cuda")
        x = torch.rand(2, 3, 32, 32)
        torch.testing.assert_close(mc.encode(x.cuda(), 10.0).cpu(), m.encode(x, 10.0), rtol=1e-3, atol=1e-3)


def test_output_layers():
    from semradio.models.jscc import output_layer

    t = torch.tensor([-3.0, -0.2, 0.0, 0.3, 2.0], requires_grad=True)
    y = output_layer(t, "clamp")
    torch.testing.assert_close(y.detach(), torch.tensor([0.0, 0.3, 0.5, 0.8, 1.0]))
    y.sum().backward()
    torch.testing.assert_close(t.grad, torch.ones(5))  # straight-through: never a dead gradient
    torch.testing.assert_close(output_layer(t.detach(), "sigmoid"), torch.sigmoid(t.detach()))
    with pytest.raises(ValueError, match="output"):
        DeepJSCC(output="tanh")
    m = small(output="clamp", in_channels=1, image_size=(28, 28), latent_channels=2)
    assert m.config()["output"] == "clamp"
    y = m.decode(m.encode(torch.rand(2, 1, 28, 28))).detach()
    assert 0.0 <= float(y.min()) and float(y.max()) <= 1.0
