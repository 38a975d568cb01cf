"""The digital link math: MCS table and TB layout against Sionna's, Gray QAM and exact LLRs
against Sionna's mapper/demapper, the 5G TB chain round trip, and the normal approximation
against the BICM capacity limit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from semradio.dsp.digital import bounds, qam
from semradio.dsp.digital.mcs import DEFAULT_MCS, MCS_TABLE, mcs_entry, spectral_efficiency


def test_mcs_table_is_sionnas_table_1():
    pytest.importorskip("sionna.phy", reason="Sionna PHY (the phy extra) holds the reference table")
    from sionna.phy.nr.utils import decode_mcs_index

    for i, (qm, r1024) in MCS_TABLE.items():
        q, r = decode_mcs_index(i, table_index=1, is_pusch=False)
        assert int(q) == qm and abs(float(r) - r1024 / 1024) < 1e-6, i
    assert spectral_efficiency(27) == pytest.approx(5.332, abs=1e-3)
    with pytest.raises(ValueError):
        mcs_entry(0)  # R < 1/5: Sionna's encoder refuses it
    with pytest.raises(ValueError):
        mcs_entry(29)


def test_tb_layout_fills_the_channel_uses():
    pytest.importorskip("sionna.phy", reason="needs Sionna PHY")
    from semradio.dsp.digital.mcs import tb_layout

    for m in DEFAULT_MCS:
        lay = tb_layout(m, 8192)
        assert lay.coded_bits == 8192 * lay.qm == sum(lay.cw_lengths)
        assert lay.tb_bits % 8 == 0
        assert abs(lay.effective_rate - lay.rate) < 0.01, (m, lay.effective_rate, lay.rate)
        assert lay.num_cbs == len(lay.cw_lengths)
        # code blocks carry the TB and its CRC-24A, plus a CRC-24B each when segmented
        assert lay.num_cbs * (lay.cb_bits - lay.cb_crc_bits) >= lay.tb_bits + lay.tb_crc_bits


@pytest.mark.parametrize("m", [2, 4, 6])
def test_constellation_and_llrs_agree_with_sionna(m):
    pytest.importorskip("sionna.phy", reason="needs Sionna PHY")
    import torch
    from sionna.phy.mapping import Constellation, Demapper

    pts = Constellation("qam", m).points.numpy()
    assert np.allclose(pts, qam.constellation(m), atol=1e-6)
    rng = np.random.default_rng(m)
    bits = rng.integers(0, 2, 600 * m).astype(np.uint8)
    no = 0.3
    y = qam.modulate(bits, m) + np.sqrt(no / 2) * (rng.standard_normal(600) + 1j * rng.standard_normal(600))
    ours = qam.llr(y, no, m)
    theirs = Demapper("app", "qam", m)(torch.as_tensor(y.astype(np.complex64)), torch.tensor(no)).numpy()
    assert np.allclose(ours, theirs, atol=2e-3 * np.abs(ours).max())
    # the hard decisions of the LLRs are the transmitted bits most of the time at this SNR
    assert np.mean((ours > 0) == bits.astype(bool)) > 0.7


def test_bicm_capacity_reaches_the_shannon_limit_of_qpsk():
    # QPSK = two BPSK channels: rate 1/2 per coded bit needs Eb/N0 = 0.187 dB, i.e. Es/N0 = 0.187 dB
    c, v = bounds.bicm_capacity_dispersion(2, 0.187, symbols=200_000)
    assert c == pytest.approx(0.5, abs=0.005)
    assert v > 0
    c_hi, _ = bounds.bicm_capacity_dispersion(6, 30.0, symbols=20_000)
    assert c_hi > 0.999
    # the normal approximation is a monotone curve in n C - k
    e = [bounds.normal_approx_cb(1000, 2000, c, v) for c in (0.45, 0.5, 0.55)]
    assert e[0] > e[1] > e[2]
    assert bounds.normal_approx_cb(1000, 2000, 0.6, 0.0) == 0.0


def test_snr_at_interpolates_in_log_bler():
    s = np.array([0.0, 1.0, 2.0])
    b = np.array([1.0, 0.1, 0.001])
    assert bounds.snr_at(1e-2, s, b) == pytest.approx(1.5)
    assert bounds.snr_at(1e-4, s, b) is None


def test_transport_block_round_trip_and_crc():
    pytest.importorskip("sionna.phy", reason="needs Sionna PHY")
    from semradio.dsp.digital.mcs import tb_layout
    from semradio.dsp.digital.transport import bits_to_bytes, bytes_to_bits, transport_link

    lay = tb_layout(7, 2048)
    link = transport_link(lay)
    rng = np.random.default_rng(0)
    bits = rng.integers(0, 2, (3, lay.tb_bits), dtype=np.uint8)
    x = link.encode(bits)
    assert x.shape == (3, 2048) and x.dtype == np.complex64
    assert np.mean(np.abs(x) ** 2) == pytest.approx(1.0, abs=0.05)
    # fading with known CSI at a high SNR: decoded exactly, CRC passes
    h = (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)).astype(np.complex64) / math.sqrt(2)
    no = 10 ** (-20 / 10)
    n = np.sqrt(no / 2) * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape))
    b_hat, ok = link.decode((h * x + n).astype(np.complex64), h, no)
    assert ok.all() and np.array_equal(b_hat, bits)
    # far below the threshold: every CRC fails
    no = 10 ** (5 / 10)
    n = np.sqrt(no / 2) * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape))
    _, ok = link.decode((x + n).astype(np.complex64), None, no)
    assert not ok.any()
    assert bits_to_bytes(bytes_to_bits(b"\x01\xff", 24)) == b"\x01\xff\x00"
    with pytest.raises(ValueError):
        bytes_to_bits(b"abcd", 24)


@pytest.mark.slow
def test_simulated_bler_sits_within_one_db_above_the_normal_approximation():
    """MCS 3 (8,192 channel uses): 1 dB above the bound's 1e-2 threshold all of 20 TBs decode;
    0.5 dB below it none does (a decoder beating the bound would be a bug)."""
    pytest.importorskip("sionna.phy", reason="needs Sionna PHY")
    from semradio.dsp.digital.mcs import tb_layout
    from semradio.dsp.digital.transport import transport_link
    from semradio.models.evaluation.digital_bler import simulate_point

    lay = tb_layout(3, 8192)
    thr = bounds.threshold_snr([(lay.cb_bits, n) for n in lay.cw_lengths], lay.qm, symbols=50_000)
    link = transport_link(lay)
    rng = np.random.default_rng(5)
    assert simulate_point(link, thr + 1.0, rng, 20, 20, 10) == (0, 20)
    assert simulate_point(link, thr - 0.5, rng, 10, 10, 10) == (10, 10)
