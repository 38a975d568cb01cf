"""flowgraphs/cdiff_decoder.py (CDiff (Letafati et al.)): each decoder end to end in-process, the multi-user
convex combination (closed form, Superpose block, coefficients of the received latent), and
its errors."""

from __future__ import annotations

import argparse
import math
from fractions import Fraction

import numpy as np
import pytest
import torch

from semradio.dsp import channel as cm
from semradio.blocks.channels.superpose import Superpose
from semradio.dsp.multiuser import convex_sinr_db, convex_weight_for_sinr
from semradio.flowgraphs import cdiff_decoder as fgmod
from semradio.models.checkpoint import CHECKPOINT_DIR
from semradio.runtime import Frame


def shipped(name: str) -> bool:
    return (CHECKPOINT_DIR / f"{name}.json").is_file()


pytestmark = pytest.mark.usefixtures("one_torch_thread")


from semradio.models import data as D  # noqa: E402

#: MNIST when ../shared/datasets/mnist is present, else the bundled natural patches (the
#: flowgraph and both families of shipped weights are exercised either way).
DATA = "mnist" if D.default_mnist_dir().is_dir() else "natural32"
CASE = {"mnist": {"hi": "0.45", "k_hi": 352, "n_lo": 312, "mid": "0.3", "mid_value": 0.3},
        "natural32": {"hi": "1/6", "k_hi": 512, "n_lo": 256, "mid": "1/8", "mid_value": 0.125}}[DATA]


def config(**kw) -> fgmod.CDiffDecoderConfig:
    return fgmod.CDiffDecoderConfig(device="cpu", data=DATA, **kw)


# ------------------------------------------------------------------------ Superpose block
def test_superpose_sums_and_scales_to_unit_power():
    rng = np.random.default_rng(0)
    zs = [cm.normalize_power(rng.standard_normal((4, 200)).astype(np.float32)) for _ in range(3)]
    blk = Superpose(3)
    assert [p.name for p in blk.inputs] == ["in0", "in1", "in2"]
    out = blk.work(*(Frame(z, {"seq": 7, "src": i}) for i, z in enumerate(zs)))
    assert out.data.dtype == np.complex64
    np.testing.assert_allclose(out.data, (zs[0] + zs[1] + zs[2]) / np.sqrt(3), rtol=1e-6, atol=1e-6)
    assert out.tags["seq"] == 7 and out.tags["src"] == 0 and out.tags["superposed"] == 3
    assert abs(float(np.mean(np.abs(out.data) ** 2)) - 1.0) < 0.05  # independent unit-power inputs
    t = blk.work(*(Frame(torch.from_numpy(z), {"seq": 0}) for z in zs)).data
    assert isinstance(t, torch.Tensor) and t.dtype == torch.complex64
    np.testing.assert_allclose(t.numpy(), out.data, atol=1e-6)


def test_superpose_errors():
    blk = Superpose(2, name="sup")
    z = np.ones((2, 8), np.complex64)
    with pytest.raises(ValueError, match="Superpose 'sup': input 'in1' has shape"):
        blk.work(Frame(z, {}), Frame(np.ones((2, 9), np.complex64), {}))
    with pytest.raises(ValueError, match="complex64"):
        blk.work(Frame(z, {}), Frame(np.ones((2, 8), np.float32), {}))
    with pytest.raises(ValueError, match="n_inputs"):
        Superpose(0)


# ------------------------------------------------------------------------ flowgraph
@pytest.mark.parametrize("decoder, needs", [("matched", f"acbr_{DATA}_awgn_ae"), ("vae", f"acbr_{DATA}_awgn_vae"),
                                            ("cdiff", f"cdiff_{DATA}_awgn")])
def test_each_decoder_end_to_end(decoder, needs):
    assert shipped(needs), f"{needs} is missing from the shipped checkpoints"
    out = fgmod.run(config(decoder=decoder, frames=2, batch=8, snr_db=10.0, cbr=fgmod.parse_cbr(CASE["hi"])))
    assert out["decoder"] == decoder and out["frames"] == 2 and out["images"] == 16
    assert out["cbr"] == pytest.approx(float(Fraction(CASE["hi"]))) and out["k"] == CASE["k_hi"]
    assert out["a"] == 1.0 and out["sinr_db"] == 10.0
    from semradio.models.checkpoint import read_config

    own = {"matched": f"acbr_{DATA}_awgn_ae", "vae": f"acbr_{DATA}_awgn_vae"}  # cdiff: the encoder it was trained with
    assert out["encoder"] == (own.get(decoder) or read_config(needs)["codec"])
    assert 0.0 < out["ssim"] <= 1.0 and out["psnr_db"] > 5.0
    if decoder == "cdiff":
        assert out["steps"] >= 1 and out["nfe"] == out["steps"]
    else:
        assert out["steps"] is None


def collect_multi_user(snr_db: float, n: int, sinr_db: float) -> tuple[dict, dict]:
    from semradio.blocks import CollectSink

    fg, blocks = fgmod.build(config(decoder="matched", frames=2, batch=20, snr_db=snr_db, interferers=n,
                                    sinr_db=sinr_db))
    taps = {"x": CollectSink(), "y": CollectSink(), **{f"z{i}": CollectSink() for i in range(n)}}
    fg.connect(blocks["normalizer"], taps["x"])
    fg.connect(blocks["equalizer"], taps["y"])
    for i in range(n):
        fg.connect(blocks[f"interferer_normalizer{i}"], taps[f"z{i}"])
    fg.run(timeout=60)
    return blocks, {k: sorted(t.frames, key=lambda f: f.tags["seq"]) for k, t in taps.items()}


def test_multi_user_received_latent_is_the_convex_combination():
    """Noise off: least squares of the decoder's input y on [x, z_1, z_2] (real forms) returns
    exactly (a, (1-a)/2, (1-a)/2) with a + sum b = 1; the equalizer leaves AWGN frames as is."""
    n = 2
    blocks, got = collect_multi_user(math.inf, n, 3.0)
    a = blocks["info"]["a"]
    assert a == pytest.approx(convex_weight_for_sinr(3.0, math.inf, n))
    assert convex_sinr_db(a, math.inf, n) == pytest.approx(3.0)
    ys = np.concatenate([f.data.ravel() for f in got["y"]])
    cols = [np.concatenate([cm.complex_to_real(f.data).ravel() for f in got[k]]) for k in ("x", "z0", "z1")]
    coef, res, *_ = np.linalg.lstsq(np.stack(cols, 1).astype(np.float64), ys.astype(np.float64), rcond=None)
    np.testing.assert_allclose(coef, [a, (1 - a) / n, (1 - a) / n], atol=2e-5)
    assert coef.sum() == pytest.approx(1.0, abs=5e-5)
    for f in got["y"]:
        assert f.tags["equalizer"] == "identity" and f.tags["sinr_db"] == pytest.approx(3.0)
    assert len(got["y"]) == 2 and got["y"][0].data.shape == (20, CASE["n_lo"])


def test_multi_user_noise_has_the_test_snr_variance():
    """At SNR 0 dB (s2 = 1) the residual y - a x - sum b z has variance s2/2 per real entry."""
    blocks, got = collect_multi_user(0.0, 1, -2.1)
    a = blocks["info"]["a"]
    assert a == pytest.approx(0.8, abs=2e-3)  # CDiff (Letafati et al.) Fig. 7: 0.8 / 0.2 at 0 dB
    res = np.concatenate([(fy.data - a * cm.complex_to_real(fx.data) - (1 - a) * cm.complex_to_real(fz.data)).ravel()
                          for fy, fx, fz in zip(got["y"], got["x"], got["z0"])])
    assert res.size == 2 * 20 * CASE["n_lo"]
    assert float(np.var(res)) == pytest.approx(0.5, rel=0.05)
    assert got["y"][0].tags["noise_var"] == pytest.approx(1.0)


def test_multi_user_summary_with_the_seed_weight():
    out = fgmod.run(config(decoder="matched", frames=1, batch=8, snr_db=0.0, interferers=1, weight=0.8))
    assert out["a"] == 0.8 and out["interferers"] == 1 and out["sinr_db"] == pytest.approx(-2.11, abs=0.01)
    assert out["images"] == 8 and out["snr_db"] == 0.0


def test_argument_errors(capsys):
    with pytest.raises(ValueError, match="not reachable"):
        fgmod.build(config(decoder="matched", snr_db=0.0, interferers=1, sinr_db=3.0))
    with pytest.raises(SystemExit) as exc:
        fgmod.main(["--decoder", "matched", "--snr-db", "0", "--interferers", "1", "--sinr-db", "3", "--device", "cpu"])
    assert exc.value.code == 2 and "not reachable" in capsys.readouterr().err
    with pytest.raises(ValueError, match="need --interferers"):
        fgmod.build(config(decoder="matched", sinr_db=0.0))
    with pytest.raises(ValueError, match="needs --sinr-db or --weight"):
        fgmod.build(config(decoder="matched", interferers=1))
    with pytest.raises(ValueError, match="exclude each other"):
        fgmod.build(config(decoder="matched", interferers=1, sinr_db=0.0, weight=0.8))
    if shipped(f"acbr_{DATA}_awgn_ae"):
        with pytest.raises(ValueError, match=rf"--cbr 0.33 is not in the CBR set of acbr_{DATA}_awgn_ae: "):
            fgmod.build(config(decoder="matched", cbr=0.33))
    assert fgmod.parse_cbr("1/24") == pytest.approx(1 / 24)
    with pytest.raises(argparse.ArgumentTypeError):
        fgmod.parse_cbr("a/b")


def test_interferers_use_the_same_encoder_kind_and_cbr():
    _, blocks = fgmod.build(config(decoder="vae", interferers=2, sinr_db=0.0, cbr=fgmod.parse_cbr(CASE["mid"])))
    for name in ("encoder", "interferer_encoder0", "interferer_encoder1"):
        assert blocks[name].codec_name == f"acbr_{DATA}_awgn_vae"
        assert blocks[name].codec.cbr == pytest.approx(CASE["mid_value"])
    assert blocks["superpose"].n_inputs == 2 and blocks["channel"].params["normalize_z"] is False
    a = blocks["info"]["a"]
    assert blocks["channel"].params["px"] == pytest.approx(a * a)
    assert blocks["channel"].params["pz"] == pytest.approx((1 - a) ** 2 / 2)
