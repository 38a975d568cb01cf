"""Multi-user convex combination of seed 001 (semradio.dsp.multiuser)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.dsp.multiuser import convex_sinr_db, convex_weight_for_sinr, superpose


def test_seed_001_appendix_e_operating_points():
    """a = 0.8 (one interferer, 0.2) at 0 dB is SINR -2.1 dB (Fig. 7); 0.9 at 20 dB is 16 dB (Fig. 9)."""
    assert convex_sinr_db(0.8, 0.0, 1) == pytest.approx(10 * math.log10(0.64 / 1.04))
    assert round(convex_sinr_db(0.8, 0.0, 1), 1) == -2.1
    assert round(convex_sinr_db(0.9, 20.0, 1)) == 16
    assert convex_weight_for_sinr(10 * math.log10(0.64 / 1.04), 0.0, 1) == pytest.approx(0.8, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(a=st.floats(0.01, 1.0), snr=st.floats(-10.0, 30.0), n=st.integers(1, 6))
def test_weight_for_sinr_inverts_the_sinr(a, snr, n):
    sinr = convex_sinr_db(a, snr, n)
    assert sinr <= snr + 1e-9
    assert convex_weight_for_sinr(sinr, snr, n) == pytest.approx(a, rel=1e-9, abs=1e-9)


def test_unreachable_sinr_and_edges():
    assert convex_weight_for_sinr(5.0, 5.0, 2) == pytest.approx(1.0)  # SINR = SNR: no interference
    with pytest.raises(ValueError, match="not reachable"):
        convex_weight_for_sinr(5.1, 5.0, 1)
    with pytest.raises(ValueError, match="finite"):
        convex_weight_for_sinr(math.inf, 5.0, 1)
    with pytest.raises(ValueError, match="interferer"):
        convex_weight_for_sinr(0.0, 5.0, 0)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        convex_sinr_db(0.0, 0.0, 1)
    # noiseless: SINR = N a^2 / (1 - a)^2
    assert convex_sinr_db(0.75, math.inf, 2) == pytest.approx(10 * math.log10(2 * 9))


def test_superpose_statistics() -> None:
    # y = a x + b (z1 + z2) + n: regressing y on x, z1, z2 recovers a, b, b and the residual
    # has the noise variance s2.
    g = torch.Generator().manual_seed(0)
    B, k = 64, 512

    def cn() -> torch.Tensor:
        return torch.complex(torch.randn(B, k, generator=g), torch.randn(B, k, generator=g)) / math.sqrt(2)

    x, z1, z2 = cn(), cn(), cn()
    a, b, s2 = 0.7, 0.15, 0.05
    y = superpose(x, [z1, z2], a, b, s2, g)
    A = torch.stack([x.flatten(), z1.flatten(), z2.flatten()], dim=1)
    coef = torch.linalg.lstsq(A, y.flatten().unsqueeze(1)).solution.flatten()
    assert torch.allclose(coef.real, torch.tensor([a, b, b]), atol=0.01)
    assert coef.imag.abs().max() < 0.01
    resid = y.flatten() - A @ coef
    assert float(resid.abs().pow(2).mean()) == pytest.approx(s2, rel=0.03)
    with pytest.raises(ValueError, match="does not match"):
        superpose(x, [z1[:, :10]], a, b, s2)
    assert torch.equal(superpose(x, [z1], 0.5, 0.5, 0.0), 0.5 * x + 0.5 * z1)
