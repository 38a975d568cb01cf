"""OFDMTransmitter and OFDMReceiver blocks: ports, tags, validation, hostile inputs, and a running
flowgraph TX -> SampleChannel -> RX over ZeroMQ edges."""

from __future__ import annotations

import numpy as np
import pytest

from semradio.blocks import OFDMReceiver, OFDMTransmitter
from semradio.runtime import Flowgraph, Frame, Frames


def _latents(b, k, seed=0):
    rng = np.random.default_rng(seed)
    return ((rng.standard_normal((b, k)) + 1j * rng.standard_normal((b, k))) / np.sqrt(2)).astype(np.complex64)


def test_transmitter_frame_and_tags():
    tx = OFDMTransmitter(gap=50, keep_grid=True, codec="jscc_x")
    x = _latents(3, 40)
    out = tx.work(Frame(x, {"seq": 2**33 + 5, "h": np.ones((3, 40)), "label": "keep"}))
    n = out.tags["burst_len"] + 50
    assert out.data.shape == (1, n) and out.data.dtype == np.complex64 and out.tags["packet_len"] == n
    assert np.all(out.data[0, -50:] == 0)
    assert "h" not in out.tags and out.tags["label"] == "keep"
    assert out.tags["eval_tx_seq"] == 5 and out.tags["eval_tx_grid"].shape[1] == 52   # seq mod 2^32
    assert out.tags["sample_rate"] == 10e6 and out.tags["codec_id"] > 0


@pytest.mark.parametrize("bad", [np.ones((2, 8), np.float32), np.full((1, 8), np.nan, np.complex64),
                                 np.ones((4096, 1), np.complex64), np.ones(8, np.complex64)])
def test_transmitter_rejects_what_a_header_cannot_carry(bad):
    with pytest.raises(ValueError, match="OFDMTransmitter"):
        OFDMTransmitter().work(Frame(bad, {"seq": 0}))


def test_transmitter_rejects_bad_numerology():
    with pytest.raises(ValueError, match="fft_size"):
        OFDMTransmitter(fft_size=100)


def test_receiver_decodes_chunked_bursts_and_keeps_their_tags():
    tx = OFDMTransmitter(gap=300)
    bursts = [tx.work(Frame(_latents(2, 64, i), {"seq": 10 + i, "label": f"b{i}"})) for i in range(3)]
    stream = np.concatenate([np.zeros(500, np.complex64)] + [b.data[0] for b in bursts])
    rx = OFDMReceiver()
    got = []
    for i, a in enumerate(range(0, stream.size, 777)):
        out = rx.work(Frame(stream[None, a: a + 777], {"seq": 1000 + i, "t_ns": 5, "label": "chunk"}))
        if out is not None:
            assert isinstance(out, Frames)
            got += list(out)
    assert [f.tags["seq"] for f in got] == [10, 11, 12]
    for f, b in zip(got, range(3)):
        assert f.data.shape == (2, 64) and f.data.dtype == np.complex64
        assert f.tags["csi"] == "estimated" and f.tags["channel_model"] == "ofdm"
        assert f.tags["h"].shape == (2, 64) and f.tags["noise_var"] >= 0 and np.isfinite(f.tags["snr_db"])
        np.testing.assert_allclose(f.data / f.tags["h"], _latents(2, 64, b), atol=0.05)
        assert set(f.tags["ofdm"]) >= {"start", "cfo", "metric", "timing_peak", "noise_var", "snr_db_lts"}
    st = rx.status()["ofdm"]
    assert st["bursts"] == 3 and st["header_crc"] == 0


def test_receiver_survives_hostile_chunks_and_tags():
    rx = OFDMReceiver()
    burst = OFDMTransmitter(gap=200, keep_grid=True).work(Frame(_latents(1, 64), {"seq": 7}))
    noisy = burst.data.copy()
    noisy[0, :30] = np.nan
    hostile = {"seq": 0, "eval_noiseless": "nope", "eval_tx_grid": np.ones((3, 3)), "eval_tx_seq": "x",
               "eval_noise_var": float("nan"), "snr_db": "loud", "t_ns": "late"}
    out = rx.work(Frame(np.concatenate([np.zeros((1, 300), np.complex64), noisy], axis=1), hostile))
    assert out is not None and [f.tags["seq"] for f in out] == [7]
    assert rx.status()["ofdm"]["nonfinite_samples"] == 30
    assert isinstance(out[0].tags["t_ns"], int)


def test_genie_mode_without_truth_falls_back_to_estimated():
    rx = OFDMReceiver(csi="genie")
    burst = OFDMTransmitter(gap=200).work(Frame(_latents(1, 64), {"seq": 7}))
    out = rx.work(Frame(np.concatenate([np.zeros((1, 300), np.complex64), burst.data], axis=1), {}))
    assert out[0].tags["csi"] == "estimated"


def test_genie_csi_from_the_channels_noiseless_output():
    pytest.importorskip("scipy")
    from semradio.blocks import SampleChannel

    tx = OFDMTransmitter(gap=100, keep_grid=True)
    ch = SampleChannel(snr_db=15.0, cfo=0.2 / 64, taps=[1.0, 0.4j, 0.2], gap_min=300, gap_max=300, seed=1,
                       keep_noiseless=True)
    est, genie = OFDMReceiver(), OFDMReceiver(csi="genie")
    x = _latents(4, 128, 3)
    y = ch.work(tx.work(Frame(x, {"seq": 1})))
    fe, fg = est.work(y)[0], genie.work(y)[0]
    assert fg.tags["csi"] == "genie" and fe.tags["csi"] == "estimated"
    np.testing.assert_array_equal(fe.data, fg.data)                  # the same samples, the same y
    h_true = fg.tags["h"]
    nmse = np.sum(np.abs(fe.tags["h"] - h_true) ** 2) / np.sum(np.abs(h_true) ** 2)
    assert nmse < 10 ** (-15 / 10)                                     # estimate within -15 dB NMSE at 15 dB
    assert fg.tags["noise_var"] == pytest.approx(10 ** -1.5 * 52 / 64, rel=1e-6)
    assert fe.tags["eval_snr_db"] == 15.0
    np.testing.assert_array_equal(fe.tags["eval_h_true"], h_true)


@pytest.mark.slow
def test_running_flowgraph_tx_channel_rx():
    from semradio.blocks import ArraySource, CollectSink, SampleChannel

    x = np.concatenate([_latents(2, 96, i) for i in range(6)])          # 6 frames of (2, 96)
    src = ArraySource(x, batch=2, name="src")
    tx = OFDMTransmitter(gap=64, name="tx")
    ch = SampleChannel(snr_db=20.0, cfo=0.3 / 64, sro_ppm=20.0, taps=[1.0, 0.3 - 0.2j], gap_min=100, gap_max=900,
                       seed=2, name="ch")
    rx = OFDMReceiver(name="rx")
    sink = CollectSink(name="sink")
    fg = Flowgraph("ofdm_blocks")
    fg.connect(src, tx, ch, rx, sink)
    fg.run(timeout=120)
    assert [f.tags["seq"] for f in sink.frames] == list(range(6))
    for i, f in enumerate(sink.frames):
        err = np.mean(np.abs(np.conj(f.tags["h"]) * f.data / (np.abs(f.tags["h"]) ** 2 + f.tags["noise_var"])
                             - x[2 * i: 2 * i + 2]) ** 2)
        assert err < 0.05
