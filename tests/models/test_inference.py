"""The ONNX Runtime backend (:mod:`semradio.models.inference`): the shipped codec and EECD
network give eager torch's outputs, inputs the export does not cover fall back to torch, and the
real-time chain's PSNR is unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install -e '.[onnx]')")
pytest.importorskip("onnx", reason="needs onnx (pip install -e '.[onnx]')")

from semradio.models.inference import OnnxModule, session_options  # noqa: E402


@pytest.fixture(scope="module")
def codec():
    from semradio.models.checkpoint import load_codec

    return load_codec("jscc_natural32_rayleigh_cbr1-6", "cpu")


def test_codec_encoder_and_decoder_match_torch(codec):
    torch.manual_seed(0)
    x, snr = torch.rand(2, 3, 32, 32), torch.tensor([3.0, 12.0])
    enc = OnnxModule(codec.encoder, (x, snr))
    with torch.no_grad():
        z = codec.encoder(x, snr)
        np.testing.assert_allclose(enc(x, snr).numpy(), z.numpy(), atol=1e-5)
        x5, s5 = torch.rand(5, 3, 32, 32), torch.full((5,), 7.0)            # another batch size
        np.testing.assert_allclose(enc(x5, s5).numpy(), codec.encoder(x5, s5).numpy(), atol=1e-5)
        dec = OnnxModule(codec.decoder, (z, (8, 8), snr))
        np.testing.assert_allclose(dec(z, (8, 8), snr).numpy(), codec.decoder(z, (8, 8), snr).numpy(), atol=1e-5)
        # another latent grid than the exported one: the torch module answers
        z16 = torch.randn(1, 16 * 16 * 16)
        out = dec(z16, (16, 16), snr[:1])
        assert out.shape == (1, 3, 64, 64)


def test_eecd_network_matches_torch_and_keeps_its_attributes():
    from semradio.models.consistency import load_eecd

    net, _, _ = load_eecd("eecd_natural32_rayleigh_cbr1-6", "cpu")
    torch.manual_seed(1)
    d = 1024
    args = (torch.randn(3, d), torch.tensor([0.01, 0.5, 3.0]), torch.rand(3, d), torch.rand(3, d))
    fast = OnnxModule(net, args)
    with torch.no_grad():
        np.testing.assert_allclose(fast(*args).numpy(), net(*args).numpy(), atol=1e-4)
    assert fast.latent_shape == net.latent_shape and next(fast.parameters()).device.type == "cpu"


def test_tensors_needing_grad_go_to_torch():
    lin = torch.nn.Linear(4, 2)
    fast = OnnxModule(lin, (torch.zeros(1, 4),))
    x = torch.ones(2, 4, requires_grad=True)
    y = fast(x)
    assert y.requires_grad                                              # torch's graph, not ORT's
    assert session_options(3).intra_op_num_threads == 3


@pytest.mark.slow
def test_realtime_chain_psnr_is_unchanged_by_the_backend():
    from semradio.flowgraphs.eecd_realtime import EECDRealtimeConfig, run

    res = {b: run(EECDRealtimeConfig(realtime=60.0, frames=24, warmup_frames=2, steps=2, backend=b, device="cpu"))
           for b in ("torch", "onnx")}
    assert res["onnx"]["backend"] == "onnx" and res["torch"]["backend"] == "torch"
    assert res["onnx"]["images"] == res["torch"]["images"] == 24
    assert abs(res["onnx"]["psnr_db"] - res["torch"]["psnr_db"]) < 0.05
    assert set(res["onnx"]["per_block_ms"]) >= {"encoder", "eecd", "decoder", "sink"}


def test_other_shapes_and_dtypes_go_to_torch():
    conv = torch.nn.Conv2d(3, 4, 3, padding=1)
    fast = OnnxModule(conv, (torch.zeros(1, 3, 8, 8),))
    with torch.no_grad():
        big = torch.rand(2, 3, 16, 16)
        np.testing.assert_allclose(fast(big).numpy(), conv(big).numpy(), atol=1e-6)   # not the exported 8x8
        assert fast(torch.rand(1, 3, 8, 8, dtype=torch.float64).float()).shape == (1, 4, 8, 8)
        with pytest.raises(RuntimeError):
            fast(torch.rand(1, 3, 8, 8, dtype=torch.float64))        # torch's own error, not ORT's


def test_onnx_codec_swaps_one_part_of_a_copy_and_caches_the_export(codec, tmp_path, monkeypatch):
    """``onnx_codec``: a copy whose encoder (or decoder) runs in ONNX Runtime with the eager
    codec's outputs; the original keeps its torch modules; a second export of the same weights
    comes from the process cache, a third (new process, simulated) from the user's cache folder,
    and a damaged cache file is ignored and rewritten."""
    import semradio.models.inference as inf

    monkeypatch.setenv("SEMRADIO_HOME", str(tmp_path))
    monkeypatch.setattr(inf, "_EXPORTS", {})
    calls = []
    real_export = inf._export
    monkeypatch.setattr(inf, "_export", lambda *a: calls.append(1) or real_export(*a))
    fast = inf.onnx_codec(codec, "encoder")
    assert isinstance(fast.encoder, OnnxModule) and not isinstance(codec.encoder, OnnxModule)
    assert fast.decoder is codec.decoder
    x = torch.rand(3, 3, 32, 32)
    with torch.no_grad():
        np.testing.assert_allclose(fast.encode(x, 7.0).numpy(), codec.encode(x, 7.0).numpy(), atol=1e-5)
        z = codec.encode(x, 7.0)
        dec = inf.onnx_codec(codec, "decoder")
        np.testing.assert_allclose(dec.decode(z, 7.0).numpy(), codec.decode(z, 7.0).numpy(), atol=1e-5)
    assert len(calls) == 2
    inf.onnx_codec(codec, "encoder")
    assert len(calls) == 2  # this process's cache
    files = sorted((tmp_path / "cache" / "onnx").glob("*.onnx"))
    assert len(files) == 2
    monkeypatch.setattr(inf, "_EXPORTS", {})
    inf.onnx_codec(codec, "encoder")
    assert len(calls) == 2  # the user's cache folder
    for f in files:
        f.write_bytes(b"not a model")
    monkeypatch.setattr(inf, "_EXPORTS", {})
    inf.onnx_codec(codec, "encoder")
    assert len(calls) == 3 and any(f.read_bytes().startswith(inf.ONNX_MAGIC) for f in files)
    for f in files:  # half a model: starts right, fails to load; dropped and exported again
        if f.exists():
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    monkeypatch.setattr(inf, "_EXPORTS", {})
    fast = inf.onnx_codec(codec, "encoder")
    assert len(calls) == 4
    with torch.no_grad():
        np.testing.assert_allclose(fast.encode(x, 7.0).numpy(), codec.encode(x, 7.0).numpy(), atol=1e-5)
    assert not list((tmp_path / "cache" / "onnx").glob("*.tmp"))
    with pytest.raises(ValueError, match="part"):
        inf.onnx_codec(codec, "channel")


def test_codec_blocks_backends_agree_and_are_checked():
    """JSCCEncoder/JSCCDecoder ``backend="onnx"`` (and "auto" on the CPU with onnxruntime
    installed) give the torch backend's latents and images; bad settings name the block."""
    from semradio.blocks import JSCCDecoder, JSCCEncoder
    from semradio.runtime import Frame

    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    outs = {}
    for backend in ("torch", "onnx", "auto"):
        enc = JSCCEncoder("jscc_natural32_rayleigh_cbr1-6", device="cpu", snr_db=10.0, backend=backend)
        dec = JSCCDecoder("jscc_natural32_rayleigh_cbr1-6", device="cpu", snr_db=10.0, backend=backend)
        z = enc.work(Frame(x, {"seq": 0}))
        outs[backend] = (z.data, dec.work(z).data)
        assert enc.backend_used == ("torch" if backend == "torch" else "onnx")
    for backend in ("onnx", "auto"):
        for a, b in zip(outs[backend], outs["torch"]):
            np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="backend"):
        JSCCEncoder("jscc_natural32_rayleigh_cbr1-6", device="cpu", backend="tensorrt")
    with pytest.raises(ValueError, match="threads"):
        JSCCDecoder("jscc_natural32_rayleigh_cbr1-6", device="cpu", threads=0)


def test_chain_reports_its_backend_and_thread_budget_and_the_same_psnr():
    from semradio.blocks.hier.jscc_chain import JSCCChainConfig, run, thread_budget

    torch_threads = torch.get_num_threads()
    outs = {b: run(JSCCChainConfig(channel="rayleigh", frames=2, batch=4, device="cpu", backend=b)) for b in
            ("torch", "onnx")}
    assert outs["torch"]["backend"] == "torch" and outs["onnx"]["backend"] == "onnx"
    assert abs(outs["torch"]["psnr_db"] - outs["onnx"]["psnr_db"]) < 1e-3
    assert outs["onnx"]["threads_per_block"] == thread_budget(JSCCChainConfig()) >= 1
    assert thread_budget(JSCCChainConfig(threads=3)) == 3
    assert torch.get_num_threads() == torch_threads  # the chain's budget is restored after the run


def test_auto_backend_keeps_large_batches_in_torch():
    """``backend="auto"``: frames up to AUTO_ONNX_MAX_BATCH images in ONNX Runtime, larger ones
    in torch (faster kernels there), same latents either way."""
    from semradio.blocks import JSCCEncoder
    from semradio.blocks.codecs.jscc import AUTO_ONNX_MAX_BATCH
    from semradio.runtime import Frame

    enc = JSCCEncoder("jscc_natural32_rayleigh_cbr1-6", device="cpu", snr_db=10.0, backend="auto")
    ref = JSCCEncoder("jscc_natural32_rayleigh_cbr1-6", device="cpu", snr_db=10.0, backend="torch")
    for b in (1, AUTO_ONNX_MAX_BATCH + 1):
        x = np.random.default_rng(b).random((b, 3, 32, 32), dtype=np.float32)
        out = enc.work(Frame(x, {"seq": 0})).data
        assert enc.backend_used == ("onnx" if b <= AUTO_ONNX_MAX_BATCH else "torch")
        np.testing.assert_allclose(out, ref.work(Frame(x, {"seq": 0})).data, atol=1e-5)


def test_export_cache_key_sees_settings_that_are_not_weights(codec):
    """Two decoders with the same weights and another output activation get their own graphs
    (the cache key holds the modules' plain settings and their classes' source)."""
    import copy

    import semradio.models.inference as inf

    other = copy.deepcopy(codec)
    if not hasattr(other.decoder, "output"):
        pytest.skip("the decoder has no output setting")
    other.decoder.output = "clamp" if other.decoder.output != "clamp" else "sigmoid"
    z = torch.randn(2, int(codec.latent_length())) * 3
    a, b = inf.onnx_codec(codec, "decoder"), inf.onnx_codec(other, "decoder")
    with torch.no_grad():
        np.testing.assert_allclose(a.decode(z, 7.0).numpy(), codec.decode(z, 7.0).numpy(), atol=1e-5)
        np.testing.assert_allclose(b.decode(z, 7.0).numpy(), other.decode(z, 7.0).numpy(), atol=1e-5)
    assert inf._digest(codec.decoder, "decoder") != inf._digest(other.decoder, "decoder")


def test_other_codecs_stay_in_torch_under_auto_and_are_refused_under_onnx():
    """Only Deep JSCC codecs export: an adaptive-CBR codec runs in torch under "auto" and is a
    clear error naming its type under "onnx"; a thread count must be an integer in range."""
    from semradio.blocks import JSCCEncoder
    from semradio.runtime import Frame

    enc = JSCCEncoder("acbr_mnist_awgn_cdiff", device="cpu", snr_db=10.0, backend="auto")
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    enc.work(Frame(x, {"seq": 0}))
    assert enc.backend_used == "torch"
    bad = JSCCEncoder("acbr_mnist_awgn_cdiff", device="cpu", snr_db=10.0, backend="onnx")
    with pytest.raises(ValueError, match="AdaptiveCBRCodec"):
        bad.work(Frame(x, {"seq": 0}))
    for threads in (10**6, True, 1.5):
        with pytest.raises(ValueError, match="threads"):
            JSCCEncoder("jscc_natural32_rayleigh_cbr1-6", device="cpu", threads=threads)
