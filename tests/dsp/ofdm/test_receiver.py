"""The streaming burst receiver: exact recovery without noise whatever the chunking, integer CFO,
failed headers dropped and counted, noise never decoded, detection and estimation over TDL-A."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.dsp.ofdm.modem import modulate_burst
from semradio.dsp.ofdm.numerology import Header, OFDMConfig
from semradio.dsp.ofdm.receiver import BurstReceiver

CFG = OFDMConfig()


def _latents(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n) + 1j * rng.standard_normal(n)) / np.sqrt(2)


def _stream(n_bursts, seed=0, items=2, length=150, gap=(50, 400)):
    rng = np.random.default_rng(seed)
    parts, sent = [np.zeros(int(rng.integers(*gap)))], []
    for i in range(n_bursts):
        x = _latents(items * length, seed * 1000 + i)
        burst, grid = modulate_burst(CFG, x, Header(seq=1000 + i, items=items, length=length))
        sent.append((1000 + i, x.reshape(items, length), grid, sum(p.size for p in parts)))
        parts += [burst, np.zeros(int(rng.integers(*gap)))]
    return np.concatenate(parts).astype(np.complex64), sent


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(1, 6000), min_size=0, max_size=12), seed=st.integers(0, 50))
def test_any_chunking_decodes_the_same_bursts(cuts, seed):
    stream, sent = _stream(3, seed)
    rx = BurstReceiver(CFG, estimator="ls")
    bounds = np.unique(np.clip(np.cumsum(cuts, dtype=np.int64), 0, stream.size)).astype(np.int64)
    out = []
    for a, b in zip([0, *bounds.tolist()], [*bounds.tolist(), stream.size]):
        out += rx.push(stream[a:b])
    assert [d.header.seq for d in out] == [s[0] for s in sent]
    for d, (_, x, _, start) in zip(out, sent):
        assert d.start == start
        np.testing.assert_allclose(d.y / d.h, x, atol=2e-3)
        assert d.noise_var < 1e-6 and abs(d.cfo) < 1e-4
    assert rx.stats.header_crc == 0 and rx.stats.bursts == 3


@pytest.mark.parametrize("eps", [-2.3, -0.45, 0.0, 0.3, 1.7, 2.45])
def test_fractional_and_integer_cfo(eps):
    stream, sent = _stream(2, 7)
    n = np.arange(stream.size)
    r = stream * np.exp(2j * np.pi * eps * n / CFG.fft_size)
    out = BurstReceiver(CFG, estimator="ls").push(r)
    assert [d.header.seq for d in out] == [s[0] for s in sent]
    assert all(abs(d.cfo - eps) < 1e-3 for d in out)
    np.testing.assert_allclose(out[0].y / out[0].h, sent[0][1], atol=5e-3)


def test_failed_header_is_dropped_and_counted_and_the_next_burst_decodes():
    stream, sent = _stream(2, 3)
    bad = stream.copy()
    s0 = sent[0][3] + CFG.header_offset
    bad[s0: s0 + CFG.header_symbols * CFG.symbol_len] *= -1j * np.exp(1j * np.arange(CFG.header_symbols * 80))
    rx = BurstReceiver(CFG)
    out = rx.push(bad)
    assert [d.header.seq for d in out] == [sent[1][0]]
    assert rx.stats.header_crc == 1 and rx.stats.detections == 2


def test_oversize_header_is_skipped():
    stream, sent = _stream(1, 4, items=4, length=100)
    rx = BurstReceiver(CFG, max_values=399)
    assert rx.push(stream) == [] and rx.stats.oversize == 1


def test_buffer_is_trimmed_while_searching_and_while_waiting():
    """Noise alone leaves only the detection window's tail in the buffer; a burst whose header is
    decoded keeps its samples until its end arrives, then they go; a stream that ends inside it
    counts it as truncated."""
    rng = np.random.default_rng(0)
    rx = BurstReceiver(CFG)
    for _ in range(20):
        rx.push((rng.standard_normal(10_000) + 1j * rng.standard_normal(10_000)).astype(np.complex64) * 0.01)
    assert rx._buf.size < 2 * CFG.detection_window + 10_000
    stream, sent = _stream(1, 5, items=8, length=500)          # about 19k samples
    half = stream.size // 2
    assert rx.push(stream[:half]) == []
    assert rx._pending is not None and rx._buf.size >= half - sent[0][3]   # waiting: the burst is kept
    out = rx.push(stream[half:])
    assert [d.header.seq for d in out] == [sent[0][0]] and rx._pending is None
    assert rx._buf.size < 2 * CFG.detection_window + 1000
    rx.push(stream[:half])
    assert rx.flush() == 1 and rx.stats.truncated == 1


@pytest.mark.slow
def test_noise_only_bursts_never_pass_the_header_crc():
    """10,000 noise-only bursts (as many samples as 10,000 bursts of 1,600 latents): any detection
    is synchronised and its header decoded, and none passes the CRC."""
    n_bursts = 10_000
    span = CFG.burst_len(1600) + 200
    rx = BurstReceiver(CFG)
    rng = np.random.default_rng(5)
    decoded = 0
    for _ in range(n_bursts // 100):
        noise = (rng.standard_normal(100 * span) + 1j * rng.standard_normal(100 * span)) / np.sqrt(2)
        decoded += len(rx.push(noise.astype(np.complex64)))
    assert decoded == 0
    assert rx.stats.bursts == 0 and rx.stats.samples == n_bursts * span
    # every synchronised detection on noise ended at the header (CRC or an oversize length)
    assert all(not e.header_ok for e in rx.events)
    print(f"noise-only: {rx.stats.as_dict()}")


def _tdl_run(snr_db, n, seed=0, cfo_max=0.45, **kw):
    """n bursts over independent TDL-A draws (100 ns at 10 MS/s), random gaps and CFO; returns the
    receiver, per-burst (detected, decoded) and the latent MSE after MMSE with estimated and genie
    CSI."""
    pytest.importorskip("sionna.phy")
    from semradio.dsp.tdl import TR38901Taps

    taps = TR38901Taps("tdl-a", sample_rate=10e6, delay_spread=100e-9, seed=seed).draw(n)
    lag0 = TR38901Taps("tdl-a", sample_rate=10e6, delay_spread=100e-9, seed=seed).lag0
    rng = np.random.default_rng(seed)
    rx = BurstReceiver(CFG, **kw)
    s2 = 10 ** (-snr_db / 10)
    found, err_est, err_genie = [], [], []
    for i in range(n):
        x = _latents(1600, i)
        burst, grid = modulate_burst(CFG, x, Header(seq=i, items=4, length=400))
        gap = int(rng.integers(100, 2000))
        sig = np.concatenate([np.zeros(gap), burst, np.zeros(gap)])
        eps = rng.uniform(-cfo_max, cfo_max)
        y0 = np.convolve(sig, taps[i])[: sig.size] * np.exp(
            2j * np.pi * (eps * np.arange(sig.size) / CFG.fft_size + rng.random()))
        y = y0 + np.sqrt(s2 / 2) * (rng.standard_normal(sig.size) + 1j * rng.standard_normal(sig.size))
        rx.add_tx_grid(i, grid)
        pos, nev = rx.position, len(rx.events)
        out = rx.push(y.astype(np.complex64), noiseless=y0.astype(np.complex64))
        hit = any(abs(e.start - (pos + gap + lag0)) <= CFG.cp_len for e in list(rx.events)[nev:])
        dec = [d for d in out if d.header.seq == i]
        found.append((hit, bool(dec)))
        if dec:
            d, xr = dec[0], x.reshape(4, 400)
            for h, nv, acc in ((d.h, d.noise_var + d.est_error_var, err_est), (d.h_genie, s2 * 52 / 64, err_genie)):
                acc.append(np.mean(np.abs(np.conj(h) * d.y / (np.abs(h) ** 2 + nv) - xr) ** 2))
    return rx, np.array(found), 10 * np.log10(np.mean(err_est)), 10 * np.log10(np.mean(err_genie))


@pytest.mark.slow
def test_detection_over_tdl_a_at_5_db():
    """>= 99.5 % of 1,000 bursts detected (timing within one CP of the first path) at 5 dB over
    TDL-A with random gaps and CFO up to 0.45 subcarrier spacings."""
    rx, found, _, _ = _tdl_run(5.0, 1000)
    detected, decoded = found[:, 0].mean(), found[:, 1].mean()
    print(f"detected {100 * detected:.2f} %, header decoded {100 * decoded:.2f} %, {rx.stats.as_dict()}")
    assert detected >= 0.995
    assert decoded >= 0.95


@pytest.mark.slow
@pytest.mark.parametrize("snr_db, max_gap_db", [(10.0, 0.6), (20.0, 0.6)])
def test_estimated_csi_is_close_to_genie(snr_db, max_gap_db):
    _, found, est, genie = _tdl_run(snr_db, 150, seed=1)
    assert found[:, 1].mean() >= 0.98
    assert est - genie < max_gap_db, (est, genie)


@pytest.mark.slow
@pytest.mark.parametrize("speed, snr_db, want", [(0.0, 20.0, "preamble"), (0.0, 30.0, "preamble"),
                                                  (30.0, 20.0, "pilots")])
def test_auto_reference_follows_a_moving_channel(speed, snr_db, want):
    """At 30 m/s (350 Hz Doppler at 3.5 GHz) the channel changes within a 1.9 ms burst: the LTS
    estimate no longer holds, "auto" notices on the pilots and estimates from them instead."""
    pytest.importorskip("sionna.phy")
    from semradio.blocks import OFDMTransmitter, SampleChannel
    from semradio.runtime import Frame

    tx = OFDMTransmitter(gap=64, keep_grid=True)
    ch = SampleChannel(snr_db=snr_db, profile="tdl-a", sample_rate=10e6, speed=speed,
                       fading="continuous" if speed else "block", gap_min=100, gap_max=2000, seed=0,
                       keep_noiseless=True, resampler_taps=16)
    rx = BurstReceiver(CFG)
    out = []
    for i in range(4):
        x = _latents(16 * 512, i).reshape(16, 512).astype(np.complex64)
        f = ch.work(tx.work(Frame(x, {"seq": i})))
        rx.add_tx_grid(i, f.tags["eval_tx_grid"])
        out += rx.push(f.data[0], noiseless=f.tags["eval_noiseless"][0])
    assert len(out) == 4 and all(d.reference == want for d in out)
    nmse = [np.sum(np.abs(d.h - d.h_genie) ** 2) / np.sum(np.abs(d.h_genie) ** 2) for d in out]
    assert 10 * np.log10(max(nmse)) < -15


@pytest.mark.parametrize("delay, backoff, ok", [(12, None, True), (15, None, False), (15, 0, True)])
def test_delay_budget_is_the_cp_less_the_backoff(delay, backoff, ok):
    """Two equal paths, no noise: a second path up to ``cp_len - backoff`` samples late is
    estimated exactly; later ones leak the previous symbol into the window."""
    stream, sent = _stream(1, 9, items=2, length=200)
    taps = np.zeros(delay + 1, complex)
    taps[0] = taps[-1] = np.sqrt(0.5)
    r = np.convolve(stream, taps)[: stream.size].astype(np.complex64)
    rx = BurstReceiver(CFG, estimator="ls", reference="preamble", backoff=backoff)
    rx.add_tx_grid(sent[0][0], sent[0][2])
    out = rx.push(r, noiseless=r)
    assert len(out) == 1
    d = out[0]
    nmse = np.sum(np.abs(d.h - d.h_genie) ** 2) / np.sum(np.abs(d.h_genie) ** 2)
    assert (10 * np.log10(nmse) < -60) == ok, 10 * np.log10(nmse)
