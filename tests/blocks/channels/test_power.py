"""PowerNormalizer / ComplexToReal and the pure power functions (property-based)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from semradio.blocks import ComplexToReal, PowerNormalizer
from semradio.dsp import channel as cm
from semradio.runtime import Frame

FAST = settings(max_examples=40, deadline=None, derandomize=True)

# moderate magnitudes (0 or 2^-20..1e3) so that scaling by 1e-6..1e6 stays in float32's normal range
moderate = st.one_of(st.just(0.0), st.floats(2 ** -20, 1e3, width=32), st.floats(-1e3, -(2 ** -20), width=32))
# anything finite float32 can hold, subnormals included
any_finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


def latents(elements, max_k: int = 48):
    shape = st.tuples(st.integers(1, 4), st.integers(1, max_k)).map(lambda s: (s[0], 2 * s[1]))
    return hnp.arrays(np.float32, shape, elements=elements).filter(lambda a: bool(np.all(np.any(a != 0, axis=1))))


def item_power(c: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(c.astype(np.complex128)) ** 2, axis=1)


@FAST
@given(x=latents(any_finite), power=st.floats(0.01, 100.0))
def test_average_power_equals_p_for_any_nonzero_input(x, power):
    out = PowerNormalizer(power=power).work(Frame(x, {"seq": 3})).data
    assert out.dtype == np.complex64 and out.shape == (x.shape[0], x.shape[1] // 2)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(item_power(out), power, rtol=1e-4)


@FAST
@given(x=latents(moderate), scale=st.floats(1e-6, 1e6), negative=st.booleans())
def test_scale_invariance(x, scale, negative):
    c = -scale if negative else scale
    a = cm.normalize_power(x)
    b = cm.normalize_power((x * np.float32(c)).astype(np.float32))
    np.testing.assert_allclose(b, np.sign(c) * a, rtol=1e-4, atol=1e-5)


@FAST
@given(x=latents(moderate, max_k=16))
def test_mapping_is_first_half_real_second_half_imag(x):
    k = x.shape[1] // 2
    out = cm.normalize_power(x)
    s = np.sqrt(1.0 / np.mean(x.astype(np.float64) ** 2 * 2, axis=1, keepdims=True))
    np.testing.assert_allclose(out.real, x[:, :k] * s, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out.imag, x[:, k:] * s, rtol=1e-4, atol=1e-6)


@FAST
@given(c=hnp.arrays(np.complex64, st.tuples(st.integers(1, 3), st.integers(1, 32)),
                    elements=st.complex_numbers(max_magnitude=1e3, allow_nan=False, allow_infinity=False, width=64)))
def test_complex_real_round_trip(c):
    r = cm.complex_to_real(c)
    assert r.dtype == np.float32 and r.shape == (c.shape[0], 2 * c.shape[1])
    np.testing.assert_array_equal(cm.real_to_complex(r), c)
    out = ComplexToReal().work(Frame(c, {"seq": 0, "keep": 1}))
    np.testing.assert_array_equal(out.data, r)
    assert out.tags == {"seq": 0, "keep": 1}


@pytest.mark.parametrize("bad, why", [
    (np.zeros((2, 8), np.float32), "all zeros"),
    (np.array([[1, 2, 3, 4], [0, 0, 0, 0]], np.float32), "all zeros"),
    (np.array([[1, np.nan, 3, 4]], np.float32), "NaN"),
    (np.array([[1, np.inf, 3, 4]], np.float32), "NaN or inf"),
    (np.array([[1, -np.inf, 3, 4]], np.float32), "NaN or inf"),
    (np.ones((2, 7), np.float32), "even"),
    (np.ones((2, 8), np.float64), "float32"),
    (np.ones((2, 2, 4), np.float32), "shape"),
])
def test_bad_input_raises_clear_error_naming_the_block(bad, why):
    block = PowerNormalizer(name="pn_under_test")
    with pytest.raises(ValueError, match=why) as info:
        block.work(Frame(bad, {"seq": 0}))
    assert "PowerNormalizer 'pn_under_test'" in str(info.value)


def test_tags_pass_through_and_power_param():
    x = np.random.default_rng(0).standard_normal((3, 20)).astype(np.float32)
    block = PowerNormalizer(power=2.0)
    out = block.work(Frame(x, {"seq": 7, "t_ns": 1, "other": "x"}))
    assert out.tags == {"seq": 7, "t_ns": 1, "other": "x", "tx_power": 2.0}
    block.handle_message("ctrl", {"power": 0.5})
    np.testing.assert_allclose(item_power(block.work(Frame(x, {"seq": 8})).data), 0.5, rtol=1e-5)
    with pytest.raises(ValueError):
        block.set_param("power", 0.0)


def test_torch_matches_numpy_and_stays_torch():
    x = np.random.default_rng(1).standard_normal((4, 30)).astype(np.float32)
    out_t = PowerNormalizer(power=1.5).work(Frame(torch.from_numpy(x), {"seq": 0})).data
    assert isinstance(out_t, torch.Tensor) and out_t.dtype == torch.complex64
    np.testing.assert_allclose(out_t.numpy(), cm.normalize_power(x, 1.5), rtol=1e-5, atol=1e-6)
    # robust path (huge values) on torch too
    big = torch.from_numpy(x * np.float32(1e30))
    np.testing.assert_allclose(cm.normalize_power(big, 1.5).numpy(), out_t.numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match="all zeros"):
        cm.normalize_power(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="NaN"):
        PowerNormalizer().work(Frame(torch.tensor([[1.0, float("nan")]]), {"seq": 0}))
    back = ComplexToReal().work(Frame(out_t, {"seq": 0})).data
    assert isinstance(back, torch.Tensor) and back.dtype == torch.float32 and back.shape == (4, 30)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_stays_on_device():
    x = torch.randn(4, 64, device="cuda")
    out = PowerNormalizer().work(Frame(x, {"seq": 0})).data
    assert out.device.type == "cuda" and out.dtype == torch.complex64
    torch.testing.assert_close(out.abs().square().mean(dim=1).cpu(), torch.ones(4), rtol=1e-4, atol=1e-5)
    assert ComplexToReal().work(Frame(out, {"seq": 0})).data.device.type == "cuda"
