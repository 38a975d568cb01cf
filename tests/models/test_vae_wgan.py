"""The VAE-WGAN codec: the KL and gradient-penalty math against closed forms, encode == mu
(deterministic), config round trip, the shipped checkpoint through load_codec and the codec
blocks, a tiny Algorithm 5 run that resumes bit-exactly, and the critic not being a codec."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from semradio.models.checkpoint import ARCHITECTURES, list_codecs, load_codec
from semradio.models.vae_wgan import (VAEWGAN, Critic, gradient_penalty, kl_standard_normal, reparameterize,
                                      warm_start_from_jscc)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SHIPPED = "vaewgan_natural32_awgn_cbr1-6"


def tiny_codec(**kw) -> VAEWGAN:
    torch.manual_seed(0)
    return VAEWGAN(latent_channels=2, channels=(4, 8), middle=0, gdn=True, snr_adaptive=True, **kw)


# ------------------------------------------------------------------------------ math
def test_kl_matches_closed_form_and_is_zero_at_the_prior():
    mu = torch.tensor([0.0, 1.0, -2.0, 0.5])
    sigma2 = torch.tensor([1.0, 0.25, 4.0, 2.0])
    want = [0.5 * (m * m + s - 1 - math.log(s)) for m, s in zip(mu.tolist(), sigma2.tolist())]
    got = kl_standard_normal(mu, sigma2.log())
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    assert got[0] == 0.0 and (got[1:] > 0).all()
    # against torch.distributions (a second, independent closed form)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, sigma2.sqrt()),
                                            torch.distributions.Normal(0.0, 1.0))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-5)
    with pytest.raises(ValueError, match="differ"):
        kl_standard_normal(mu, sigma2[:2])


def test_reparameterize_moments():
    gen = torch.Generator().manual_seed(0)
    mu = torch.full((20000, 2), 3.0)
    z = reparameterize(mu, torch.full_like(mu, math.log(0.25)), gen)
    assert abs(float(z.mean()) - 3.0) < 0.02 and abs(float(z.std()) - 0.5) < 0.02


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_a_linear_critic(scale):
    # D(x) = <w, x>: the gradient is w everywhere, so GP = (||w|| - 1)^2 for any interpolate
    w = torch.randn(3, 8, 8, generator=torch.Generator().manual_seed(1))
    w = scale * w / w.norm()

    def critic(x):
        return (x * w).sum(dim=(1, 2, 3))

    real, fake = torch.rand(5, 3, 8, 8), torch.rand(5, 3, 8, 8)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(2))
    assert float(gp) == pytest.approx((scale - 1.0) ** 2, rel=1e-5, abs=1e-7)
    with pytest.raises(ValueError, match="differ"):
        gradient_penalty(critic, real, fake[:2])


def test_gradient_penalty_uses_the_interpolate_and_trains_the_critic():
    # D(x) = 0.5 sum x^2: grad = x^, so GP = (||eps r + (1-eps) f|| - 1)^2 per item
    real, fake = torch.rand(4, 1, 4, 4), torch.rand(4, 1, 4, 4)
    eps = torch.tensor([0.0, 0.25, 0.5, 1.0])
    a = torch.tensor(0.5, requires_grad=True)
    gp = gradient_penalty(lambda x: a * x.pow(2).sum(dim=(1, 2, 3)), real, fake, eps=eps)
    xh = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) * fake
    want = ((2 * 0.5 * xh).flatten(1).norm(dim=1) - 1).pow(2).mean()
    assert float(gp.detach()) == pytest.approx(float(want), rel=1e-5)
    gp.backward()  # create_graph: the penalty is differentiable in the critic's parameters
    assert a.grad is not None and float(a.grad) != 0.0


# ------------------------------------------------------------------------------ model
def test_encode_is_mu_deterministic_and_shapes():
    codec = tiny_codec().eval()
    x = torch.rand(3, 3, 16, 16)
    mu, logvar = codec.encode_stats(x, 10.0)
    assert mu.shape == logvar.shape == (3, codec.latent_length((16, 16)))
    assert torch.equal(codec.encode(x, 10.0), mu) and torch.equal(codec.encode(x, 10.0), codec.encode(x, 10.0))
    z, mu2, _ = codec.sample(x, 10.0, torch.Generator().manual_seed(0))
    assert torch.equal(mu2, mu) and not torch.equal(z, mu)
    assert codec.decode(mu, 10.0, (16, 16)).shape == x.shape
    with pytest.raises(ValueError, match="encode_stats"):
        codec.encode_stats(torch.rand(2, 1, 16, 16), 10.0)


def test_config_round_trip_and_critic():
    codec = tiny_codec(output="clamp")
    again = VAEWGAN(**codec.config())
    assert again.config() == codec.config()
    again.load_state_dict(codec.state_dict())  # strict: same tensors
    assert ARCHITECTURES["vae_wgan"] is VAEWGAN
    critic = Critic(3, (16, 16), (4, 8, 8))
    assert Critic(**critic.config()).config() == critic.config()
    assert critic(torch.rand(2, 3, 16, 16)).shape == (2,)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in critic.modules())
    with pytest.raises(ValueError, match="Critic"):
        critic(torch.rand(2, 3, 8, 8))


def test_warm_start_keeps_the_jscc_latent():
    from semradio.models.jscc import DeepJSCC

    torch.manual_seed(3)
    base = DeepJSCC(latent_channels=2, channels=(4, 8), middle=0, gdn=True, snr_adaptive=True).eval()
    codec = tiny_codec()
    rec = warm_start_from_jscc(codec, base, logvar_init=-7.0)
    assert rec["tensors_copied"] == rec["tensors"]
    x = torch.rand(2, 3, 16, 16)
    codec.eval()
    mu, logvar = codec.encode_stats(x, 5.0)
    assert torch.allclose(mu, base.encode(x, 5.0))
    assert torch.allclose(logvar, torch.full_like(logvar, -7.0))
    assert torch.allclose(codec.decode(mu, 5.0, (16, 16)), base.decode(mu, 5.0, (16, 16)))


# ------------------------------------------------------------------------------ shipped codec
def test_shipped_checkpoint_loads_and_runs_in_the_codec_blocks():
    from semradio.blocks import CollectSink, ImageSource, JSCCDecoder, JSCCEncoder
    from semradio.runtime import Flowgraph

    codec = load_codec(SHIPPED, "cpu")
    assert isinstance(codec, VAEWGAN) and codec.codec_config["architecture"] == "vae_wgan"
    assert codec.k == 512 and codec.cbr == pytest.approx(1 / 6)
    assert SHIPPED in list_codecs() and SHIPPED + "_critic" not in list_codecs()
    imgs = ImageSource(batch=4, frames=1).images[:4]
    sink = CollectSink()
    fg = Flowgraph("vaewgan")
    fg.connect(ImageSource(imgs, batch=4, frames=1), JSCCEncoder(SHIPPED, device="cpu", snr_db=20.0),
               JSCCDecoder(SHIPPED, device="cpu", snr_db=20.0), sink)
    fg.run(timeout=60)
    out = np.concatenate([f.data for f in sink.frames])
    with torch.no_grad():
        want = codec.decode(codec.encode(torch.from_numpy(imgs), 20.0), 20.0).numpy()
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_shipped_critic_is_a_separate_non_codec_checkpoint():
    from semradio.models import registry
    from semradio.models.training.vae_wgan import load_critic

    critic, cfg = load_critic(SHIPPED + "_critic", "cpu")
    assert cfg["architecture"] == "wgan_critic" and cfg["codec"] == SHIPPED
    assert critic(torch.rand(2, 3, 32, 32)).shape == (2,)
    fam = {c.name: c.family for c in registry.list_checkpoints()}
    assert fam[SHIPPED] == "vae-wgan" and fam[SHIPPED + "_critic"] == "wgan_critic"
    with pytest.raises(ValueError):
        load_codec(SHIPPED + "_critic", "cpu")


# ------------------------------------------------------------------------------ training
def _tiny(folder, tmp_path, name, *extra):
    return ["vae-wgan", "--data", f"folder:{folder}", "--channel", "awgn", "--channels", "4", "8", "--middle", "0",
            "--critic-channels", "4", "4", "8", "--steps", "4", "--batch", "4", "--eval-n", "4", "--eval-every", "2",
            "--ckpt-every", "2", "--critic-warmup", "2", "--final-snr-db", "10", "--out-dir", str(tmp_path / "ck"),
            "--work-dir", str(tmp_path / "wk"), "--name", name, "--threads", "1", *extra]


def test_tiny_training_run_resumes_bit_exactly(image_folder_factory, tmp_path):
    from semradio.models.training import cli
    from semradio.models.training.vae_wgan import load_critic

    folder = image_folder_factory(n=8, size=16)
    assert cli.main(_tiny(folder, tmp_path, "straight")) == 0
    assert cli.main(_tiny(folder, tmp_path, "resumed", "--stop-after", "2")) == 0
    assert not (tmp_path / "ck" / "resumed.json").exists()
    assert cli.main(_tiny(folder, tmp_path, "resumed")) == 0
    a, b = load_codec(tmp_path / "ck" / "straight"), load_codec(tmp_path / "ck" / "resumed")
    assert isinstance(a, VAEWGAN)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    ca, _ = load_critic(tmp_path / "ck" / "straight_critic")
    cb, _ = load_critic(tmp_path / "ck" / "resumed_critic")
    for va, vb in zip(ca.state_dict().values(), cb.state_dict().values()):
        assert torch.equal(va, vb)
    cfg = a.codec_config
    assert cfg["train"]["command"].startswith("semradio train vae-wgan --data folder:")
    assert "Algorithm 5 has no channel" in cfg["train"]["link"]
    assert [h["step"] for h in cfg["train"]["history"]] == [2, 4]
    assert {"mse", "kl", "w_distance"} <= set(cfg["train"]["history"][-1])
    assert cfg["train"]["critic_warmup"]["updates"] == 2
    assert b.codec_config["train"]["critic_warmup"] == cfg["train"]["critic_warmup"]
    assert len(b.codec_config["train"]["resumed_with"]) == 1 and cfg["train"]["resumed_with"] == []
    assert list_codecs(tmp_path / "ck") == ["resumed", "straight"]  # the critics are not codecs
    # the checkpoints are never replaced without --overwrite
    with pytest.raises(SystemExit, match="already exists"):
        cli.main(_tiny(folder, tmp_path, "straight"))


def test_warm_start_from_a_jscc_codec_is_recorded(image_folder_factory, tmp_path):
    from semradio.models.checkpoint import save_codec
    from semradio.models.jscc import DeepJSCC
    from semradio.models.training import cli

    folder = image_folder_factory(n=8, size=16)
    torch.manual_seed(0)
    base = DeepJSCC(image_size=(16, 16), latent_channels=16, channels=(4, 8), middle=0, gdn=True, snr_adaptive=True)
    save_codec(base, tmp_path / "base" / "jscc_tiny", {"name": "jscc_tiny", "train": {"command": "x"}})
    argv = _tiny(folder, tmp_path, "warm", "--init", str(tmp_path / "base" / "jscc_tiny"), "--steps", "2")
    assert cli.main(argv) == 0
    init = json.loads((tmp_path / "ck" / "warm.json").read_text())["train"]["init"]
    assert init["tensors_copied"] == init["tensors"] and init["logvar_init"] == -8.0
    with pytest.raises(SystemExit, match="differ"):
        cli.main(_tiny(folder, tmp_path, "warm2", "--init", str(tmp_path / "base" / "jscc_tiny"), "--middle", "1"))


def test_codec_loss_routes_each_objective_to_its_network():
    """Encoder gradients == grad of L_E alone, decoder gradients == grad of L_G alone (Algorithm 5)."""
    from semradio.models.training.vae_wgan import codec_loss
    from semradio.models.vae_wgan import kl_standard_normal

    codec = tiny_codec()
    critic = Critic(3, (16, 16), (4, 4, 8)).requires_grad_(False)
    x = torch.rand(4, 3, 16, 16)
    z_prior = torch.randn(4, codec.latent_length((16, 16)))
    a_phi, a_psi = 0.3, 0.6

    def link(z):
        return 2.0 * z + 0.1  # any differentiable map stands in for the channel

    def grads(loss):
        codec.zero_grad()
        loss.backward()
        return ({k: p.grad.clone() for k, p in codec.encoder.named_parameters()},
                {k: p.grad.clone() for k, p in codec.decoder.named_parameters()})

    loss, parts = codec_loss(codec, critic, x, 10.0, link, z_prior, a_phi, a_psi, torch.Generator().manual_seed(5))
    enc, dec = grads(loss)
    assert parts["mse"] > 0 and parts["kl"] > 0

    def forward():
        gen = torch.Generator().manual_seed(5)
        mu, logvar = codec.encode_stats(x, 10.0)
        z = mu + torch.exp(0.5 * logvar) * torch.randn(mu.shape, generator=gen)
        rec = codec.decode(link(z), 10.0)
        mse = torch.nn.functional.mse_loss(rec, x)
        adv = -critic(codec.decode(link(z_prior), 10.0)).mean() - critic(rec).mean()
        return mse, kl_standard_normal(mu, logvar).mean(), adv

    mse, kl, _ = forward()
    enc_want, _ = grads(a_phi * kl + (1 - a_phi) * mse)
    mse, _, adv = forward()
    _, dec_want = grads(mse + (1 - a_psi) * adv)
    for k in enc:
        torch.testing.assert_close(enc[k], enc_want[k], rtol=1e-4, atol=1e-7, msg=k)
    for k in dec:
        torch.testing.assert_close(dec[k], dec_want[k], rtol=1e-4, atol=1e-7, msg=k)
    # the adversarial term does reach the encoder when not routed: the routing is not vacuous
    mse, kl, adv = forward()
    enc_all, _ = grads(a_phi * kl + (1 - a_phi) * mse + (1 - a_psi) * adv)
    assert any(not torch.allclose(enc_all[k], enc_want[k], rtol=1e-3) for k in enc)


def test_chain_denoisers_follow_the_codec():
    """``--codec vaewgan_... --denoiser eecd1``: the chain loads the EECD trained on that codec."""
    from types import SimpleNamespace

    from semradio.blocks.denoisers.ve import DEFAULT_EECD, DEFAULT_VE, chain_eecd1, model_for_codec

    def cfg(codec):
        return SimpleNamespace(codec=codec, channel="awgn", device="cpu", seed=0)

    assert model_for_codec(cfg(None), "eecd", DEFAULT_EECD["awgn"]) == DEFAULT_EECD["awgn"]
    assert model_for_codec(cfg("jscc_natural32_awgn_cbr1-6"), "eecd", DEFAULT_EECD["awgn"]) == DEFAULT_EECD["awgn"]
    assert model_for_codec(cfg(SHIPPED), "eecd", DEFAULT_EECD["awgn"]) == "eecd_" + SHIPPED
    assert model_for_codec(cfg(SHIPPED), "ve-ldm", DEFAULT_VE["awgn"]) == "ve_" + SHIPPED
    den = chain_eecd1(cfg(SHIPPED))
    assert den.block.config["codec"] == SHIPPED


def test_cddm_follows_the_codec_and_a_foreign_default_is_logged(tmp_path, monkeypatch, caplog):
    """CDDM is looked up by the chain's codec like VE/EECD (a checkpoint path counts as its name;
    one trained on the chain's channel first); with none trained on that codec the default is
    used and the log says, once, whose latents it learnt."""
    import json
    import shutil
    from types import SimpleNamespace

    from semradio.blocks.denoisers.cddm import DEFAULT_CDDM, chain_denoiser
    from semradio.models import shipped
    from semradio.models.checkpoint import CHECKPOINT_DIR
    from semradio.models.shipped import denoiser_for_codec

    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path))
    monkeypatch.delenv("SEMRADIO_CHECKPOINTS", raising=False)
    monkeypatch.setattr(shipped, "_warned", set())
    ck = tmp_path / "checkpoints"
    ck.mkdir()
    default = DEFAULT_CDDM["rayleigh"]
    with caplog.at_level("WARNING", logger="semradio"):
        assert denoiser_for_codec("my_codec", "cddm", default) == default
        assert "trained on 'jscc_natural32_rayleigh_cbr1-6'" in caplog.text
        caplog.clear()
        assert denoiser_for_codec("my_codec", "cddm", default) == default  # said once
        assert denoiser_for_codec(None, "cddm", default) == default
        assert denoiser_for_codec("jscc_natural32_rayleigh_cbr1-6", "cddm", default) == default
        assert denoiser_for_codec(str(CHECKPOINT_DIR / "jscc_natural32_rayleigh_cbr1-6.json"), "cddm",
                                  default) == default  # the same codec by its path
        assert denoiser_for_codec("other", "cddm", default, warn=False) == default
        assert not caplog.records
    wide = "jscc_natural32_rayleigh_cbr1-6_wide"
    for name, channel in (("mine_awgn", "awgn"), ("mine_rayleigh", "rayleigh")):
        cfg = json.loads((CHECKPOINT_DIR / f"{default}.json").read_text())
        shutil.copy(CHECKPOINT_DIR / f"{default}.safetensors", ck / f"{name}.safetensors")
        cfg.update(name=name, weights=f"{name}.safetensors", codec=wide, channel=channel)
        (ck / f"{name}.json").write_text(json.dumps(cfg))
    assert denoiser_for_codec(wide, "cddm", default, channel="awgn") == "mine_awgn"
    assert denoiser_for_codec(wide, "cddm", default, channel="rician") == "mine_rayleigh"  # fading: Rayleigh's
    den = chain_denoiser(SimpleNamespace(codec=wide, channel="rayleigh", device="cpu", data="natural32", cbr="1/6"))
    assert den.block.model_name == "mine_rayleigh"
    assert den.decoder_codec is None  # no <codec>_cddm decoder: the codec's own
    assert chain_denoiser(SimpleNamespace(codec=None, channel="rayleigh", device="cpu", data="natural32",
                                          cbr="1/6")).decoder_codec == "jscc_natural32_rayleigh_cbr1-6_cddm"
