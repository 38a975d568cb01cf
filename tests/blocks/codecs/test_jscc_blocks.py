"""ImageSource, JSCCEncoder/JSCCDecoder blocks, the shipped weights (smoke test against a random
initialization) and the JSCC flowgraphs end to end."""

from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch

from semradio.blocks import CollectSink, ImageSource, JSCCDecoder, JSCCEncoder, PowerNormalizer
from semradio.dsp import channel as cm
from semradio.models import data as D
from semradio.models import DeepJSCC, load_codec
from semradio.models import metrics as M
from semradio.models.link import make_generator, simulate_link
from semradio.runtime import Flowgraph, FlowgraphError, Frame

CODEC = "jscc_natural32_awgn_cbr1-6"


# ------------------------------------------------------------------------------ ImageSource
def _drain(src: ImageSource) -> list[Frame]:
    sink = CollectSink()
    fg = Flowgraph("src")
    fg.connect(src, sink)
    fg.run(timeout=30)
    return sink.frames


def test_image_source_one_pass_and_tags():
    imgs = np.arange(10 * 3 * 4 * 4, dtype=np.float32).reshape(10, 3, 4, 4) / 480
    frames = _drain(ImageSource(imgs, batch=4))
    assert [f.batch for f in frames] == [4, 4, 2]
    assert [f.seq for f in frames] == [0, 1, 2]
    assert all(isinstance(f.tags["t_ns"], int) for f in frames)
    np.testing.assert_array_equal(np.concatenate([f.tags["image_index"] for f in frames]), np.arange(10))
    np.testing.assert_array_equal(np.concatenate([f.data for f in frames]), imgs)


def test_image_source_frames_cycle_and_shuffle():
    imgs = np.random.default_rng(0).random((5, 1, 4, 4)).astype(np.float32)
    frames = _drain(ImageSource(imgs, batch=3, frames=4))
    assert [f.batch for f in frames] == [3, 3, 3, 3]
    idx = np.concatenate([f.tags["image_index"] for f in frames])
    np.testing.assert_array_equal(idx, np.arange(12) % 5)
    a = _drain(ImageSource(imgs, batch=3, frames=4, shuffle=True, seed=1))
    b = _drain(ImageSource(imgs, batch=3, frames=4, shuffle=True, seed=1))
    ia = np.concatenate([f.tags["image_index"] for f in a])
    np.testing.assert_array_equal(ia, np.concatenate([f.tags["image_index"] for f in b]))
    assert sorted(ia[:5]) == list(range(5))  # each pass is a permutation


def test_image_source_default_data_is_heldout_natural32():
    src = ImageSource(batch=8, frames=1)
    assert src.outputs[0].shape == (3, 32, 32) and src.dataset == "natural32"
    np.testing.assert_array_equal(src.images, D.natural_patches("eval", 32))
    with pytest.raises(ValueError, match="batch"):
        ImageSource(batch=0)


# ---------------------------------------------------------------------------- codec blocks
def test_encoder_decoder_blocks_numpy_and_torch():
    enc, dec = JSCCEncoder(CODEC, device="cpu", snr_db=10.0), JSCCDecoder(CODEC, device="cpu")
    x = D.natural_patches("eval", 32)[:4]
    f = enc.work(Frame(x, {"seq": 0, "t_ns": 0, "custom": "kept"}))
    assert isinstance(f.data, np.ndarray) and f.data.shape == (4, 1024) and f.data.dtype == np.float32
    assert f.tags["k"] == 512 and f.tags["cbr"] == pytest.approx(1 / 6) and f.tags["custom"] == "kept"
    ft = enc.work(Frame(torch.from_numpy(x), {"seq": 0}))
    assert isinstance(ft.data, torch.Tensor)
    np.testing.assert_allclose(ft.data.numpy(), f.data, rtol=1e-5, atol=1e-5)
    y = dec.work(f.replace(snr_db=10.0))
    assert y.data.shape == x.shape and y.tags["custom"] == "kept"


def test_codec_blocks_reject_bad_input_naming_the_block():
    enc = JSCCEncoder(CODEC, device="cpu", snr_db=10.0, name="tx")
    with pytest.raises(ValueError, match="JSCCEncoder 'tx'.*float32"):
        enc.work(Frame(np.zeros((1, 3, 32, 32), np.float64), {"seq": 0}))
    with pytest.raises(ValueError, match="JSCCEncoder 'tx'.*divisible by 4"):
        enc.work(Frame(np.zeros((1, 3, 30, 32), np.float32), {"seq": 0}))
    enc.set_param("snr_db", None)
    with pytest.raises(ValueError, match="JSCCEncoder 'tx'.*snr_db"):
        enc.work(Frame(np.zeros((1, 3, 32, 32), np.float32), {"seq": 0}))
    dec = JSCCDecoder(CODEC, device="cpu", name="rx")
    with pytest.raises(ValueError, match="JSCCDecoder 'rx'.*latent length"):
        dec.work(Frame(np.zeros((1, 1000), np.float32), {"seq": 0, "snr_db": 10.0}))
    with pytest.raises(ValueError, match="JSCCEncoder.*no codec"):
        JSCCEncoder("no_such_codec")


def test_encoder_output_feeds_power_normalizer():
    enc = JSCCEncoder(CODEC, device="cpu", snr_db=10.0)
    f = enc.work(Frame(D.natural_patches("eval", 32)[:3], {"seq": 0}))
    out = PowerNormalizer().work(f)
    np.testing.assert_allclose(cm.average_power(out.data), 1.0, rtol=1e-5)


# ------------------------------------------------------------------------- trained weights
def test_shipped_weights_beat_random_init():
    """A random init cannot reach this; the shipped 1/6 AWGN codec must (held-out patches)."""
    x = torch.from_numpy(D.subset(D.natural_patches("eval", 32), 64, seed=0))
    trained = load_codec(CODEC, device="cpu")
    torch.manual_seed(0)
    random = DeepJSCC(**trained.codec_config["kwargs"]).eval()
    with torch.no_grad():
        got = {}
        for label, m in (("trained", trained), ("random", random)):
            gen = make_generator(0)
            y = m(x, lambda z: simulate_link(z, "awgn", 20.0, gen), 20.0)
            got[label] = M.psnr(x, y).mean()
    assert got["random"] < 18.0  # a random init gets ~11.5 dB
    assert got["trained"] > 25.0  # the shipped codec gets ~27.8 dB on these 64 patches


# -------------------------------------------------------------------------------- flowgraphs
@pytest.mark.parametrize("script, extra", [("jscc_rayleigh", []), ("jscc_awgn", ["--cbr", "1/12", "--realtime", "200"]),
                                           ("jscc_awgn", ["--data", "natural64"])])
def test_flowgraph_end_to_end(capsys, script, extra):
    from semradio.flowgraphs import jscc_rayleigh

    channel = script.split("_")[1]
    assert jscc_rayleigh.main(["--frames", "4", "--batch", "8", "--device", "cpu", "--json", *extra],
                              defaults={"channel": channel}) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["frames"] == 4 and out["images"] == 32 and out["seqs_measured"] == 4
    assert out["channel"] == channel
    assert 18.0 < out["psnr_db"] < 45.0 and 0.5 < out["ssim"] <= 1.0
    assert out["images_per_s"] > 0 and out["latency_p50_ms"] <= out["latency_p99_ms"]
    assert all(b["state"] == "done" for b in out["blocks"].values())
    # the scripts are thin wrappers
    assert importlib.import_module(f"semradio.flowgraphs.{script}").main is jscc_rayleigh.main


def test_flowgraph_human_output_and_csv(capsys, tmp_path):
    from semradio.flowgraphs import jscc_rayleigh

    jscc_rayleigh.main(["--frames", "2", "--batch", "4", "--device", "cpu", "--csv", str(tmp_path / "f.csv")])
    text = capsys.readouterr().out
    assert "PSNR" in text and "SSIM" in text and "images/s" in text
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 3


def test_higher_snr_gives_higher_psnr_in_the_flowgraph():
    from semradio.blocks.hier.jscc_chain import JSCCChainConfig, run

    res = [run(JSCCChainConfig(channel="awgn", frames=3, batch=16, device="cpu", snr_db=float(s)))["psnr_db"]
           for s in (0, 20)]
    assert res[1] > res[0] + 2.0


def test_flowgraph_error_names_block_and_seq():
    enc = JSCCEncoder(CODEC, device="cpu", name="encoder")  # SNR-adaptive, no snr_db anywhere
    src = ImageSource(batch=2, frames=2)
    fg = Flowgraph("err")
    fg.connect(src, enc, CollectSink())
    with pytest.raises(FlowgraphError, match="encoder.*snr_db"):
        fg.run(timeout=30)


def test_adaptive_codec_sees_the_snr_clipped_to_its_training_range():
    """A receiver's SNR estimate outside the range the codec was trained over (0..20 dB for the
    shipped Rayleigh codec) is clipped: 120 dB decodes like 20 dB, -30 dB like 0 dB; NaN is an
    error."""
    import numpy as np
    import pytest

    from semradio.blocks import JSCCDecoder
    from semradio.runtime import Frame

    dec = JSCCDecoder("jscc_natural32_rayleigh_cbr1-6", device="cpu")
    y = np.random.default_rng(0).standard_normal((2, 1024)).astype(np.float32)
    out = {s: dec.work(Frame(y, {"seq": 0, "snr_db": s})).data for s in (120.0, 20.0, -30.0, 0.0)}
    np.testing.assert_array_equal(out[120.0], out[20.0])
    np.testing.assert_array_equal(out[-30.0], out[0.0])
    assert not np.array_equal(out[20.0], out[0.0])
    with pytest.raises(ValueError, match="NaN"):
        dec.work(Frame(y, {"seq": 0, "snr_db": float("nan")}))
