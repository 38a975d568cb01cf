"""MMSE/ZF equalizers: Lemma 1 (seed 000 eq. 3) holds exactly for channel + equalizer, limits,
extreme SNRs, the W_z encoding, commpy cross-check, numpy/torch parity, errors."""

from __future__ import annotations

import math

import commpy
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from semradio.blocks import (AWGNChannel, InterferenceChannel, MMSEEqualizer, RayleighChannel, RicianChannel,
                             ZFEqualizer)
from semradio.dsp import channel as cm
from semradio.runtime import Frame

PROPS = settings(max_examples=30, deadline=None, derandomize=True)
EQUALIZERS = {"mmse": MMSEEqualizer, "zf": ZFEqualizer}


def unit_symbols(batch: int, k: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((batch, 2 * k)).astype(np.float32)
    return cm.normalize_power(x)


def frame(x, seq: int = 0, **tags) -> Frame:
    return Frame(x, {"seq": seq, **tags})


def lemma1_rhs(x_c, tags):
    """sqrt(Px) W_s x + sqrt(Pz) W_z z + W_n n' from the emitted weights and the kept draws."""
    n_rot = cm.rotate_noise(tags["eval_noise"], tags["h"])
    z = None
    if tags.get("pz"):
        z = cm.complex_to_real(tags["eval_h_z"] * tags["eval_z"])
    return cm.lemma1_output(cm.complex_to_real(x_c), tags["W_s"], tags["W_n"], n_rot, tags["px"], z,
                            tags["W_z"], tags.get("pz", 0.0))


def assert_lemma1(y, rhs, tags, x_c):
    """|y - rhs| within float32 rounding of the terms' magnitudes."""
    scale = (np.abs(tags["W_s"] * cm.complex_to_real(x_c)) + np.abs(tags["W_n"]) * np.abs(
        cm.complex_to_real(tags["eval_noise"])) + np.abs(rhs) + 1e-3)
    if tags.get("pz"):
        scale = scale + np.abs(cm.apply_w_z(tags["W_z"], cm.complex_to_real(tags["eval_h_z"] * tags["eval_z"])))
    assert np.all(np.abs(y - rhs) <= 2e-5 * scale), float(np.max(np.abs(y - rhs) / scale))


channel_kinds = st.sampled_from(["awgn", "rayleigh", "rician", "interference"])


def build_channel(kind: str, snr_db: float, seed: int, fading: str, px: float, pz: float, imodel: str):
    kw = dict(snr_db=snr_db, seed=seed, keep_noise=True, px=px)
    if kind == "awgn":
        return AWGNChannel(**kw)
    if kind == "rayleigh":
        return RayleighChannel(fading=fading, coherence=5, **kw)
    if kind == "rician":
        return RicianChannel(fading=fading, k_factor=2.0, los_phase=0.7, **kw)
    return InterferenceChannel(pz=pz, model=imodel, fading=fading, **kw)


@PROPS
@given(kind=channel_kinds, eq=st.sampled_from(["mmse", "zf"]), snr_db=st.floats(-10.0, 40.0),
       seed=st.integers(0, 2**31), fading=st.sampled_from(["fast", "block"]), px=st.sampled_from([1.0, 0.5, 3.0]),
       pz=st.sampled_from([0.0, 0.3, 1.0]), imodel=st.sampled_from(["awgn", "rayleigh", "rician"]),
       awgn_mode=st.sampled_from(["identity", "equalize"]))
def test_channel_plus_equalizer_satisfies_lemma1_exactly(kind, eq, snr_db, seed, fading, px, pz, imodel, awgn_mode):
    x = unit_symbols(3, 40, seed % 7)
    ch = build_channel(kind, snr_db, seed, fading, px, pz, imodel)
    out = EQUALIZERS[eq](awgn=awgn_mode).work(ch.work(frame(x)))
    t = out.tags
    y = out.data
    assert y.dtype == np.float32 and y.shape == (3, 80)
    for key in ("W_s", "W_n", "W_z"):
        assert t[key].dtype == np.float32 and t[key].shape == (3, 80)
    assert_lemma1(y, lemma1_rhs(x, t), t, x)
    if t["channel_model"] == "awgn" and awgn_mode == "identity":
        assert t["equalizer"] == "identity"
        np.testing.assert_array_equal(t["W_s"], 1.0)
        np.testing.assert_array_equal(t["W_n"], 1.0)
        np.testing.assert_array_equal(cm.w_z_matrix(t["W_z"]), np.broadcast_to(np.eye(80, dtype=np.float32), (3, 80, 80)))


@PROPS
@given(k=st.integers(1, 12), seed=st.integers(0, 1000), noise_var=st.floats(0.0, 10.0))
def test_w_z_compact_form_equals_lemma1_block_matrix(k, seed, noise_var):
    rng = np.random.default_rng(seed)
    h = (rng.standard_normal((2, k)) + 1j * rng.standard_normal((2, k))).astype(np.complex64)
    z = rng.standard_normal((2, 2 * k)).astype(np.float32)
    _, _, _, w_z = cm.equalize(np.ones_like(h), h, noise_var, "mmse")
    # Lemma 1: W_z = [[Hr, Hi], [-Hi, Hr]] (H^2 + s2 I)^-1
    for b in range(2):
        Hr, Hi = np.diag(h[b].real), np.diag(h[b].imag)
        H2 = np.diag(np.abs(h[b]) ** 2)
        inv = np.linalg.inv(np.block([[H2, 0 * H2], [0 * H2, H2]]) + noise_var * np.eye(2 * k))
        paper = np.block([[Hr, Hi], [-Hi, Hr]]) @ inv
        np.testing.assert_allclose(cm.w_z_matrix(w_z)[b], paper, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cm.apply_w_z(w_z, z)[b], paper @ z[b], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("cls", [RayleighChannel, RicianChannel])
def test_mmse_tends_to_zf_and_y_to_x_without_noise(cls):
    x = unit_symbols(4, 512)
    noiseless = cls(snr_db=math.inf, seed=5).work(frame(x))
    zf = ZFEqualizer().work(noiseless)
    np.testing.assert_allclose(cm.real_to_complex(zf.data), x, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(zf.tags["W_s"], 1.0)
    np.testing.assert_allclose(zf.tags["W_n"][:, :512], 1 / np.abs(noiseless.tags["h"]), rtol=1e-6)
    prev_gap = math.inf
    for snr_db in (0.0, 20.0, 40.0, 80.0, 160.0):
        t = dict(noiseless.tags, noise_var=cm.noise_var_from_snr(snr_db))
        mmse = MMSEEqualizer().work(Frame(noiseless.data, t))
        gap = float(np.max(np.abs(mmse.data - zf.data)))
        assert gap <= prev_gap + 1e-6
        prev_gap = gap
    assert prev_gap <= 1e-5
    np.testing.assert_allclose(mmse.data, cm.complex_to_real(x), rtol=1e-4, atol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(snr_db=st.floats(-30.0, 80.0), kind=channel_kinds, eq=st.sampled_from(["mmse", "zf"]),
       fading=st.sampled_from(["fast", "block"]), seed=st.integers(0, 100))
def test_extreme_snrs_give_no_nan(snr_db, kind, eq, fading, seed):
    x = unit_symbols(2, 256, seed)
    ch = build_channel(kind, snr_db, seed, fading, 1.0, 0.5, "rayleigh")
    out = EQUALIZERS[eq]().work(ch.work(frame(x)))
    for a in (out.data, out.tags["W_s"], out.tags["W_n"], out.tags["W_z"]):
        assert np.all(np.isfinite(a))


@pytest.mark.parametrize("eq", ["mmse", "zf"])
def test_zero_gain_is_finite_and_lemma1_still_holds(eq):
    x = unit_symbols(1, 6)
    h = np.array([[0, 1e-20, 1, 1j, 0.5 - 0.5j, 0]], np.complex64)
    n = np.full((1, 6), 0.1 + 0.2j, np.complex64)
    y_c = (h * x + n).astype(np.complex64)
    tags = dict(h=h, noise_var=0.0 if eq == "zf" else 1e-3, channel_model="rayleigh", px=1.0, eval_noise=n)
    out = EQUALIZERS[eq]().work(frame(y_c, **tags))
    t = out.tags
    for a in (out.data, t["W_s"], t["W_n"], t["W_z"]):
        assert np.all(np.isfinite(a))
    np.testing.assert_allclose(out.data, lemma1_rhs(x, t), rtol=1e-5, atol=1e-6)


def test_mmse_matches_commpy_detector():
    rng = np.random.default_rng(9)
    x = unit_symbols(1, 40, 3)
    out = RayleighChannel(snr_db=3.0, seed=4).work(frame(x))
    s2 = out.tags["noise_var"]
    ours = cm.real_to_complex(MMSEEqualizer().work(out).data)[0]
    zf = cm.real_to_complex(ZFEqualizer().work(out).data)[0]
    h, y = out.tags["h"][0], out.data[0]
    for i in rng.choice(40, 12, replace=False):
        ref = commpy.mmse_detector(np.array([y[i]]), np.array([[h[i]]]), s2)[0]
        assert ours[i] == pytest.approx(ref, rel=1e-5, abs=1e-6)
        ref_zf = commpy.zf_detector(np.array([y[i]]), np.array([[h[i]]]))[0]
        assert zf[i] == pytest.approx(ref_zf, rel=1e-5, abs=1e-6)


def test_awgn_conventions():
    x = unit_symbols(2, 16)
    rx = AWGNChannel(snr_db=0.0, seed=1, keep_noise=True).work(frame(x))
    ident = MMSEEqualizer().work(rx)
    np.testing.assert_array_equal(ident.data, cm.complex_to_real(rx.data))  # Lemma 1: y = y_c
    scaled = MMSEEqualizer(awgn="equalize").work(rx)
    np.testing.assert_allclose(scaled.data, ident.data / 2.0, rtol=1e-6)  # 1/(1 + s2), s2 = 1
    np.testing.assert_allclose(scaled.tags["W_s"], 0.5)
    np.testing.assert_allclose(scaled.tags["W_n"], 0.5)
    assert scaled.tags["equalizer"] == "mmse"
    assert_lemma1(scaled.data, lemma1_rhs(x, scaled.tags), scaled.tags, x)
    zf = ZFEqualizer(awgn="equalize").work(rx)
    np.testing.assert_allclose(zf.data, ident.data, rtol=1e-6)


@PROPS
@given(n=hnp.arrays(np.complex64, (2, 16), elements=st.complex_numbers(max_magnitude=10, width=64)),
       h=hnp.arrays(np.complex64, (2, 16), elements=st.complex_numbers(max_magnitude=10, width=64)))
def test_rotated_noise_keeps_magnitude(n, h):
    r = cm.rotate_noise(n, h)
    np.testing.assert_allclose(np.abs(r), np.abs(n), rtol=1e-5, atol=1e-6)
    nz = np.abs(h) > 0
    np.testing.assert_allclose((np.conj(h) * n)[nz], (np.abs(h) * r)[nz], rtol=1e-4, atol=1e-5)


def test_rotated_noise_has_the_law_of_n():
    rx = RayleighChannel(snr_db=0.0, seed=3, keep_noise=True).work(frame(unit_symbols(1, 1 << 14)))
    r = cm.rotate_noise(rx.tags["eval_noise"], rx.tags["h"]).ravel()
    assert abs(np.mean(np.abs(r) ** 2) - 1.0) <= 5 / math.sqrt(r.size)
    assert abs(np.corrcoef(r.real, r.imag)[0, 1]) <= 5 / math.sqrt(r.size)


@pytest.mark.parametrize("eq", ["mmse", "zf"])
def test_bad_input_and_missing_csi(eq):
    cls = EQUALIZERS[eq]
    block = cls(name="eq_under_test")
    x = unit_symbols(1, 4)
    with pytest.raises(ValueError, match=rf"{cls.__name__} 'eq_under_test'.*no CSI tag 'h'"):
        block.work(frame(x, noise_var=0.1))
    with pytest.raises(ValueError, match="'h' has shape"):
        block.work(frame(x, h=np.ones((1, 3), np.complex64), noise_var=0.1))
    with pytest.raises(ValueError, match="complex64"):
        block.work(frame(x.real.copy(), h=np.ones((1, 4), np.complex64), noise_var=0.1))
    with pytest.raises(ValueError, match="NaN"):
        block.work(frame(np.full((1, 4), np.nan, np.complex64), h=np.ones((1, 4), np.complex64), noise_var=0.1))
    if eq == "mmse":
        with pytest.raises(ValueError, match="noise_var"):
            block.work(frame(x, h=np.ones((1, 4), np.complex64)))
    else:  # ZF needs no s2
        assert block.work(frame(x, h=np.ones((1, 4), np.complex64))).data.shape == (1, 8)


def test_tags_pass_through():
    rx = RayleighChannel(seed=0).work(frame(unit_symbols(2, 8), 3, t_ns=9, mine="x"))
    out = MMSEEqualizer().work(rx)
    assert out.tags["seq"] == 3 and out.tags["t_ns"] == 9 and out.tags["mine"] == "x"
    assert out.tags["h"] is rx.tags["h"] and out.tags["noise_var"] == rx.tags["noise_var"]


# ---------------------------------------------------------------------- numpy vs torch
def test_equalize_same_math_numpy_and_torch():
    rng = np.random.default_rng(0)
    h = (rng.standard_normal((3, 64)) + 1j * rng.standard_normal((3, 64))).astype(np.complex64)
    y = (rng.standard_normal((3, 64)) + 1j * rng.standard_normal((3, 64))).astype(np.complex64)
    z = rng.standard_normal((3, 128)).astype(np.float32)
    t = torch.from_numpy
    for kind in ("mmse", "zf"):
        a = cm.equalize(y, h, 0.3, kind)
        b = cm.equalize(t(y), t(h), 0.3, kind)
        for u, v in zip(a, b):
            assert isinstance(v, torch.Tensor) and v.dtype == torch.float32
            np.testing.assert_allclose(v.numpy(), u, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cm.apply_w_z(b[3], t(z)).numpy(), cm.apply_w_z(a[3], z), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(cm.w_z_matrix(b[3]).numpy(), cm.w_z_matrix(a[3]), rtol=1e-6)
    np.testing.assert_allclose(cm.rotate_noise(t(y), t(h)).numpy(), cm.rotate_noise(y, h), rtol=1e-5, atol=1e-6)
    ident_np, ident_t = cm.identity_weights(y), cm.identity_weights(t(y))
    for u, v in zip(ident_np, ident_t):
        np.testing.assert_array_equal(v.numpy(), u)


@pytest.mark.parametrize("kind", ["awgn", "rayleigh", "interference"])
def test_torch_chain_stays_torch_and_satisfies_lemma1(kind):
    x = unit_symbols(2, 64)
    ch = build_channel(kind, 10.0, 3, "fast", 1.0, 0.4, "rician")
    out = MMSEEqualizer().work(ch.work(frame(torch.from_numpy(x))))
    assert isinstance(out.data, torch.Tensor) and out.data.dtype == torch.float32 and out.data.shape == (2, 128)
    tags = {k: (v.numpy() if isinstance(v, torch.Tensor) else v) for k, v in out.tags.items()}
    for key in ("W_s", "W_n", "W_z"):
        assert isinstance(out.tags[key], torch.Tensor)
    assert_lemma1(out.data.numpy(), lemma1_rhs(x, tags), tags, x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
@pytest.mark.parametrize("eq", ["mmse", "zf"])
def test_cuda_chain_stays_on_device(eq):
    x = torch.from_numpy(unit_symbols(2, 256)).cuda()
    out = EQUALIZERS[eq]().work(InterferenceChannel(sinr_db=3.0, seed=1, keep_noise=True).work(frame(x)))
    assert out.data.device.type == "cuda"
    for key in ("W_s", "W_n", "W_z", "h"):
        assert out.tags[key].device.type == "cuda"
    tags = {k: (v.cpu().numpy() if isinstance(v, torch.Tensor) else v) for k, v in out.tags.items()}
    assert_lemma1(out.data.cpu().numpy(), lemma1_rhs(x.cpu().numpy(), tags), tags, x.cpu().numpy())
