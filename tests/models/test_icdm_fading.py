"""ICDM under block fading (:mod:`semradio.models.icdm_fading`): the block-gain estimate on
data with a known improper-Gaussian law, the link it builds, and the simulated transmission."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from semradio.dsp import channel as cm
from semradio.models.icdm import Link
from semradio.models.icdm_fading import LatentMoments, block_gain_ml, link_terms, with_block_gain

torch.set_num_threads(1)


def improper(gen: torch.Generator, n: int, k: int, mean: complex, sr: float, si: float) -> torch.Tensor:
    """n draws of k independent symbols with mean ``mean`` and real/imaginary stds sr, si."""
    return torch.complex(torch.randn(n, k, generator=gen) * sr, torch.randn(n, k, generator=gen) * si) + mean


def moments(mean: complex, sr: float, si: float, k: int) -> LatentMoments:
    return LatentMoments(torch.full((k,), mean, dtype=torch.complex64), torch.full((k,), sr ** 2 + si ** 2),
                         torch.full((k,), sr ** 2 - si ** 2 + 0j, dtype=torch.complex64))


@pytest.mark.parametrize("coherence", [None, 256])
def test_gain_estimate_recovers_the_block_gain_of_improper_latents(coherence: int | None) -> None:
    """x and z with a non-circular law (the codecs' latents are), equal power (SINR 0 dB), SNR
    20 dB: the estimated block gains are within 0.25 rad and 20 % of the truth for most blocks,
    and the estimate is far better than a random phase."""
    gen = torch.Generator().manual_seed(0)
    B, k = 64, 512
    x = improper(gen, B, k, 0.3 - 0.2j, 0.9, 0.4)
    z = improper(gen, B, k, 0.5 + 0.1j, 0.3, 0.9)
    mx, mz = moments(0.3 - 0.2j, 0.9, 0.4, k), moments(0.5 + 0.1j, 0.3, 0.9, k)
    nb = 1 if coherence is None else k // coherence
    g = torch.complex(torch.randn(B, nb, generator=gen), torch.randn(B, nb, generator=gen)) / math.sqrt(2)
    gs = g.repeat_interleave(k // nb, dim=-1)
    alpha, a = torch.full((B, k), 0.9), torch.full((B, k), 0.8 - 0.3j, dtype=torch.complex64)
    s2 = torch.full((B, k), 0.01)
    y = alpha * x + a * gs * z + torch.complex(torch.randn(B, k, generator=gen), torch.randn(B, k, generator=gen)) * 0.07
    g_hat = block_gain_ml(y, alpha, a, s2, mx, mz, coherence=coherence)
    assert g_hat.shape == (B, nb)
    phase = torch.angle(g_hat / g).abs()
    rel = ((g_hat.abs() - g.abs()).abs() / g.abs())
    assert float((phase < 0.25).float().mean()) > 0.8, phase
    assert float(rel.median()) < 0.2, rel
    with pytest.raises(ValueError, match="divide"):
        block_gain_ml(y, alpha, a, s2, mx, mz, coherence=100)


def test_circular_interference_leaves_the_phase_unidentified() -> None:
    """The estimate needs a non-circular interferer: with a circular one the phase is a guess
    (the reason the fast-fading interference, CN(0, |z|^2) given |z|, keeps no structure)."""
    gen = torch.Generator().manual_seed(1)
    B, k = 64, 512
    z = improper(gen, B, k, 0j, 0.7071, 0.7071)
    mz = moments(0j, 0.7071, 0.7071, k)
    mx = LatentMoments(torch.zeros(k, dtype=torch.complex64), torch.zeros(k), torch.zeros(k, dtype=torch.complex64))
    g = torch.exp(1j * torch.rand(B, 1, generator=gen) * 6.28).to(torch.complex64)
    ones = torch.ones(B, k, dtype=torch.complex64)
    g_hat = block_gain_ml(g * z, torch.zeros(B, k), ones, torch.full((B, k), 1e-4), mx, mz)
    assert float((torch.angle(g_hat / g).abs() < 0.25).float().mean()) < 0.4
    assert float((g_hat.abs() / g.abs()).sub(1).abs().max()) < 0.1  # the magnitude still comes from the power


def test_link_with_the_gain_is_eq3_for_the_unfaded_interference() -> None:
    """``W_z = c conj(g)`` applied to the unfaded z equals the equalizer's ``W_z = c`` applied
    to the faded ``g z`` (what the fast-fading priors model), and link_terms reads the model's
    weights back."""
    gen = torch.Generator().manual_seed(2)
    B, k = 3, 8
    h = cm.rayleigh_gains(gen, (B, k), torch.zeros(1, dtype=torch.complex64))
    y, ws, wn, wz = cm.equalize(torch.randn(B, k, dtype=torch.complex64, generator=gen), h, 0.1, "mmse")
    g = torch.randn(B, 1, dtype=torch.complex64, generator=gen)
    z = torch.randn(B, 2 * k, generator=gen)
    link = Link(y * math.sqrt(2), ws, wn, wz, s2=0.1, px=1.0, pz=0.5)
    faded = cm.complex_to_real(g * cm.real_to_complex(z))
    torch.testing.assert_close(with_block_gain(link, g).predict(torch.zeros_like(z), z),
                               link.predict(torch.zeros_like(z), faded), rtol=1e-5, atol=1e-6)
    y_eq, alpha, a, nv = link_terms(link)
    torch.testing.assert_close(y_eq, cm.real_to_complex(y))
    torch.testing.assert_close(alpha, ws[:, :k])
    torch.testing.assert_close(a, math.sqrt(0.5) * (h / (h.abs() ** 2 + 0.1)).conj())
    torch.testing.assert_close(nv, 0.1 * wn[:, :k] ** 2)


def test_simulated_block_fading_keeps_one_gain_per_item_and_fast_fading_unchanged() -> None:
    from semradio.models.evaluation.icdm import heldout_pairs, load_codecs
    from semradio.models.icdm_sampler import simulate_interference

    codec, interferer = load_codecs("rayleigh")
    imgs, imgs_z = heldout_pairs(4)
    blk = simulate_interference(codec, interferer, imgs, imgs_z, "rayleigh", 20.0, 0.0, seed=5, fading="block")
    assert torch.all(blk.h_z == blk.h_z[:, :1]) and blk.h_z.shape == (4, 512)
    fast = simulate_interference(codec, interferer, imgs, imgs_z, "rayleigh", 20.0, 0.0, seed=5)
    assert not torch.all(fast.h_z == fast.h_z[:, :1])
    # the fast-fading draw is the one the published tables came from: h, h_z, then nothing else
    from semradio.models.link import make_generator

    gen = make_generator(5, "cpu")
    x_c = cm.normalize_power(codec.encode(torch.from_numpy(np.ascontiguousarray(imgs)), 20.0))
    cm.complex_noise(gen, tuple(x_c.shape), cm.noise_var_from_snr(20.0), x_c)
    cm.rayleigh_gains(gen, tuple(x_c.shape), x_c)
    torch.testing.assert_close(fast.h_z, cm.rayleigh_gains(gen, tuple(x_c.shape), x_c))
    with pytest.raises(ValueError, match="fading"):
        simulate_interference(codec, interferer, imgs, imgs_z, "rayleigh", 20.0, 0.0, fading="slow")


def test_no_interference_power_gives_a_zero_gain() -> None:
    """Pz = 0 (a SINR above the SNR is sent as no interference): a = 0, the estimate is 0, not
    the huge magnitude a division by zero would give."""
    B, k = 2, 64
    m = LatentMoments(torch.zeros(k, dtype=torch.complex64), torch.ones(k), torch.zeros(k, dtype=torch.complex64))
    y = torch.randn(B, k, dtype=torch.complex64)
    g = block_gain_ml(y, torch.ones(B, k), torch.zeros(B, k, dtype=torch.complex64), torch.full((B, k), 0.01), m, m)
    assert torch.all(g == 0)
