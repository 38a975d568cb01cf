"""OFDM numerology, header and header code: layout invariants, CRC, the convolutional code against
Sionna PHY's encoder and Viterbi decoder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.dsp.ofdm.coding import coded_length, conv_encode, viterbi_decode
from semradio.dsp.ofdm.modem import decode_header_bits, header_values
from semradio.dsp.ofdm.numerology import HEADER_BITS, HEADER_CODED, Header, OFDMConfig, codec_id


@pytest.mark.parametrize("kw", [{}, {"fft_size": 128, "cp_len": 32, "half_width": 50, "pilot_spacing": 6},
                                {"fft_size": 256, "cp_len": 18, "half_width": 100, "pilot_spacing": 3,
                                 "header_symbols": 4}])
def test_carrier_layout(kw):
    cfg = OFDMConfig(**kw)
    used, pil, data = cfg.used, cfg.pilots, cfg.data
    assert 0 not in used and np.all(np.abs(used) <= cfg.half_width) and len(used) == 2 * cfg.half_width
    assert pil[0] == used[0] and pil[-1] == used[-1]      # both band edges are pilots: no extrapolation
    assert set(pil) | set(data) == set(used) and not set(pil) & set(data)
    assert np.array_equal(used[cfg.pilot_pos], pil) and np.array_equal(used[cfg.data_pos], data)
    # the header's slots hold every coded bit at least once
    assert np.array_equal(np.unique(cfg.header_slots), np.arange(HEADER_CODED))
    # the interleaver is a permutation of distinct slots
    perm = cfg.interleaver(1000)
    assert len(set(perm.tolist())) == 1000 and perm.max() < cfg.data_symbols(1000) * len(data)


def test_config_rejects_bad_numerology():
    for kw in ({"fft_size": 48}, {"cp_len": 0}, {"half_width": 32}, {"pilot_spacing": 1}, {"header_symbols": 2},
               {"sts_repetitions": 3}):
        with pytest.raises(ValueError):
            OFDMConfig(**kw)


@settings(max_examples=200, deadline=None)
@given(seq=st.integers(0, 2**32 - 1), items=st.integers(1, 4095), length=st.integers(1, 2**20 - 1),
       codec=st.integers(0, 4095), flip=st.integers(0, HEADER_BITS - 1))
def test_header_roundtrip_and_crc(seq, items, length, codec, flip):
    h = Header(seq=seq, items=items, length=length, codec=codec)
    bits = h.to_bits()
    assert bits.size == HEADER_BITS and Header.from_bits(bits) == h
    bad = bits.copy()
    bad[flip] ^= 1
    assert Header.from_bits(bad) is None  # CRC-32 detects every single-bit error


def test_header_fields_are_range_checked():
    for kw in ({"seq": -1}, {"seq": 2**32}, {"items": 0}, {"items": 4096}, {"length": 2**20}, {"codec": 4096}):
        base = {"seq": 0, "items": 1, "length": 1}
        base.update(kw)
        with pytest.raises(ValueError):
            Header(**base)
    assert codec_id(None) == 0 and 0 < codec_id("jscc-cifar") < 4096


def test_noise_never_passes_the_header_crc():
    """10,000 headers decoded from pure noise (soft values of the whole header grid): none passes."""
    cfg = OFDMConfig()
    rng = np.random.default_rng(0)
    n = cfg.header_symbols * len(cfg.data)
    passed = sum(Header.from_bits(decode_header_bits(cfg, rng.standard_normal(n))) is not None
                 for _ in range(10_000))
    assert passed == 0


def test_header_survives_slot_errors():
    cfg = OFDMConfig()
    h = Header(seq=123456, items=16, length=512, codec=7)
    soft = header_values(cfg, h).copy()
    rng = np.random.default_rng(1)
    soft[rng.choice(soft.size, 40, replace=False)] *= -1      # 40 of 380 slots wrong (10 %)
    assert Header.from_bits(decode_header_bits(cfg, soft)) == h


@settings(max_examples=50, deadline=None)
@given(bits=st.lists(st.integers(0, 1), min_size=1, max_size=200), errors=st.integers(0, 7), seed=st.integers(0, 99))
def test_viterbi_corrects_up_to_seven_errors(bits, errors, seed):
    """Free distance 15: any 7 hard errors are corrected."""
    b = np.array(bits, np.uint8)
    code = conv_encode(b)
    assert code.size == coded_length(b.size)
    soft = 1.0 - 2.0 * code
    soft[np.random.default_rng(seed).choice(soft.size, min(errors, soft.size), replace=False)] *= -1
    assert np.array_equal(viterbi_decode(soft), b)


def test_code_matches_sionna():
    """Same encoder output and same maximum-likelihood decisions as Sionna PHY's ConvEncoder and
    ViterbiDecoder (LLR sign: Sionna's positive means bit 1)."""
    torch = pytest.importorskip("torch")
    conv = pytest.importorskip("sionna.phy.fec.conv")
    polys = tuple(format(g, "07b") for g in (0o133, 0o171, 0o165))
    enc = conv.ConvEncoder(gen_poly=polys, terminate=True)
    dec = conv.ViterbiDecoder(gen_poly=polys, terminate=True, method="soft_llr")
    rng = np.random.default_rng(3)
    for _ in range(30):
        bits = rng.integers(0, 2, 112)
        ours = conv_encode(bits)
        theirs = enc(torch.tensor(bits, dtype=torch.float32)[None]).numpy()[0]
        assert np.array_equal(ours, theirs.astype(np.uint8))
        soft = 1.0 - 2.0 * ours + rng.standard_normal(ours.size) * 1.2
        ref = dec(torch.tensor(-2.0 * soft, dtype=torch.float32)[None]).numpy()[0].astype(np.uint8)
        assert np.array_equal(viterbi_decode(soft), ref)
