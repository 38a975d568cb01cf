"""AdaptiveCBRCodec (seed 001's adaptive-CBR encoder with matched-AE and VAE decoders): latent
lengths, per-CBR heads, errors, VAE closed forms, checkpoint round trip, shipped weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semradio.models.cdiff_codec import AdaptiveCBRCodec, kl_divergence, reparameterize, symbols_for
from semradio.models.checkpoint import CHECKPOINT_DIR, load_codec, save_codec
from semradio.models.data import default_mnist_dir

D_MNIST = default_mnist_dir().is_dir()

MNIST_CBRS = (0.2, 0.25, 0.3, 0.35, 0.4, 0.45)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def small(variant: str = "ae", **kw) -> AdaptiveCBRCodec:
    torch.manual_seed(0)
    return AdaptiveCBRCodec(1, (28, 28), MNIST_CBRS, widths=(4, 8), variant=variant, head_dim=16, **kw).eval()


def images(b: int = 3, c: int = 1, s: int = 28, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((b, c, s, s), generator=g)


def test_lengths_are_twice_int_chw_cbr():
    codec = small()
    assert codec.lengths == tuple(2 * int(784 * c + 1e-9) for c in MNIST_CBRS) == (312, 392, 470, 548, 626, 704)
    assert codec.max_length == 704 and codec.cbr == 0.2 and codec.k == 156
    x = images()
    for c, n in zip(MNIST_CBRS, codec.lengths):
        assert codec.set_cbr(c).latent_length() == n and codec.k == n // 2
        assert codec.encode(x).shape == (3, n)
        assert codec.encode(x, cbr=0.45).shape == (3, 704)  # the argument overrides the active CBR
    natural = AdaptiveCBRCodec(3, (32, 32), (1 / 24, 1 / 12, 1 / 8, 1 / 6), widths=(4,), head_dim=8)
    assert natural.lengths == (256, 512, 768, 1024)
    assert symbols_for(1 / 6, (3, 32, 32)) == 512  # 3072/6 exactly, despite float rounding


def test_set_cbr_and_constructor_errors():
    codec = small()
    with pytest.raises(ValueError, match=r"CBR 0.33 is not in this codec's set"):
        codec.set_cbr(0.33)
    with pytest.raises(ValueError, match="not in this codec's set"):
        codec.encode(images(), cbr=0.5)
    assert codec.cbr == 0.2  # unchanged by the failed calls
    with pytest.raises(ValueError, match="variant"):
        AdaptiveCBRCodec(variant="gan")
    with pytest.raises(ValueError, match="distinct"):
        AdaptiveCBRCodec(cbrs=(0.2, 0.2))
    with pytest.raises(ValueError, match="same latent length"):
        AdaptiveCBRCodec(cbrs=(0.2, 0.2001))
    with pytest.raises(ValueError, match="no symbol"):
        AdaptiveCBRCodec(cbrs=(1e-4,))
    with pytest.raises(ValueError, match="expected images"):
        codec.encode(images(s=32))


def test_decode_picks_the_head_by_latent_length():
    """Perturbing decoder head j changes the output of latents of length L_j only."""
    codec = small()
    lat = {n: torch.randn(2, n, generator=torch.Generator().manual_seed(n)) for n in codec.lengths}
    with torch.no_grad():
        before = {n: codec.decode(z) for n, z in lat.items()}
        for out in before.values():
            assert out.shape == (2, 1, 28, 28) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
        j = 2
        codec.dec_heads[j].bias.add_(1.0)
        after = {n: codec.decode(z) for n, z in lat.items()}
    for i, n in enumerate(codec.lengths):
        changed = float((after[n] - before[n]).abs().max()) > 1e-4
        assert changed == (i == j), (i, n)


def test_decode_rejects_unknown_lengths_and_shapes():
    codec = small()
    with pytest.raises(ValueError, match=r"latent length 313 matches no CBR"):
        codec.decode(torch.zeros(2, 313))
    with pytest.raises(ValueError, match=r"expected latents \(B, 2k\)"):
        codec.decode(torch.zeros(312))
    with pytest.raises(ValueError, match="only decodes"):
        codec.decode(torch.zeros(2, 312), image_size=(32, 32))
    assert codec.decode(torch.zeros(2, 312), image_size=(28, 28)).shape == (2, 1, 28, 28)


def test_vae_closed_forms():
    z = torch.zeros(4, 10)
    assert float(kl_divergence(z, z)) == 0.0  # KL(N(0,1) || N(0,1)) = 0
    assert float(kl_divergence(torch.ones(4, 10), z)) == pytest.approx(0.5)  # mu = 1: mu^2/2
    lv = torch.full((4, 10), math.log(2.0))
    assert float(kl_divergence(z, lv)) == pytest.approx(0.5 * (2.0 - 1.0 - math.log(2.0)))  # sigma^2 = 2
    # reparameterization: mu + sigma eps with the generator's eps, and its moments
    mu, logvar = torch.full((1, 200_000), 1.5), torch.full((1, 200_000), math.log(0.25))
    s = reparameterize(mu, logvar, torch.Generator().manual_seed(3))
    eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(s, 1.5 + 0.5 * eps)
    assert float(s.mean()) == pytest.approx(1.5, abs=0.01) and float(s.var()) == pytest.approx(0.25, rel=0.02)


def test_vae_encodes_its_mean_and_has_clamped_log_variance():
    codec = small("vae")
    x = images()
    with torch.no_grad():
        mu, logvar = codec.encode_stats(x, cbr=0.3)
        assert mu.shape == logvar.shape == (3, 470)
        torch.testing.assert_close(codec.encode(x, cbr=0.3), mu)
        codec.logvar_heads[2].bias.copy_(torch.linspace(-1e3, 1e3, 470))  # raw log variances far out
        logvar = codec.encode_stats(x, cbr=0.3)[1]
    assert float(logvar.min()) == -10.0 and float(logvar.max()) == 10.0
    assert small("ae").encode_stats(x)[1] is None and small("ae").logvar_heads is None


def test_save_load_round_trip_gives_identical_outputs(tmp_path):
    for variant in ("ae", "vae"):
        codec = small(variant, batchnorm=True)
        js = save_codec(codec, tmp_path / f"acbr_{variant}", {"name": f"acbr_{variant}", "channel": "awgn"})
        loaded = load_codec(js, "cpu", check_hash=True)
        assert isinstance(loaded, AdaptiveCBRCodec) and loaded.codec_config["architecture"] == "adaptive_cbr_codec"
        assert loaded.config() == codec.config()
        x = images(seed=1)
        with torch.no_grad():
            for c in MNIST_CBRS:
                z = codec.encode(x, cbr=c)
                torch.testing.assert_close(loaded.encode(x, cbr=c), z, rtol=0, atol=0)
                torch.testing.assert_close(loaded.decode(z), codec.decode(z), rtol=0, atol=0)


def test_jscc_blocks_drive_the_adaptive_codec():
    """JSCCEncoder/JSCCDecoder work with the codec through the shared interface; the encoder's
    tags follow the active CBR."""
    from semradio.blocks.codecs.jscc import JSCCDecoder, JSCCEncoder
    from semradio.runtime import Frame

    codec = small()
    enc, dec = JSCCEncoder(codec, device="cpu"), JSCCDecoder(codec, device="cpu")
    x = images().numpy()
    codec.set_cbr(0.35)
    f = enc.work(Frame(x, {"seq": 0}))
    assert f.data.shape == (3, 548) and f.tags["cbr"] == 0.35 and f.tags["k"] == 274
    assert f.tags["image_size"] == (28, 28)
    out = dec.work(f)
    assert isinstance(out.data, np.ndarray) and out.data.shape == (3, 1, 28, 28)
    with pytest.raises(ValueError, match="matches no CBR"):
        dec.work(Frame(np.zeros((2, 100), np.float32), {"seq": 1}))


@pytest.mark.skipif(not D_MNIST, reason="../shared/datasets/mnist not present")
def test_shipped_mnist_autoencoder_at_10_db():
    """Held-out MNIST (100 images), AWGN 10 dB, CBR 0.45: mean SSIM above 0.7."""
    from semradio.models import data as D
    from semradio.models import metrics as M
    from semradio.models.link import make_generator, simulate_link

    codec = load_codec("acbr_mnist_awgn_ae", "cpu")
    assert codec.cbrs == MNIST_CBRS and codec.variant == "ae"
    x = torch.from_numpy(D.load_images("mnist", "eval")[:100])
    with torch.no_grad():
        y = simulate_link(codec.encode(x, cbr=0.45), "awgn", 10.0, make_generator(0))
        rec = codec.decode(y)
    assert float(M.ssim(x, rec).mean()) > 0.7
