"""The PGD semantic-error attack (semradio.models.attacks): the exact projection onto the L2 ball
∩ box, the closed form of the L2 maximiser on a linear codec (the top right singular vector of
the end-to-end matrix), monotonicity in the budget on the shipped codec, seeding, and the
error-level budget mapping."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from semradio.models.attacks import (distortion, eps_for_level, level_for_eps, pgd_attack, project_l2_box,
                                     project_linf_box)


def _norms(d: torch.Tensor) -> torch.Tensor:
    return d.flatten(1).norm(dim=1)


@pytest.fixture()
def case() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(6, 3, 4, 4, generator=g, dtype=torch.float64)
    scale = torch.tensor([0.1, 0.5, 1, 2, 4, 8], dtype=torch.float64)[:, None, None, None]
    v = torch.randn(6, 3, 4, 4, generator=g, dtype=torch.float64) * scale
    return x, v


def test_projection_satisfies_both_constraints_and_is_idempotent(case):
    x, v = case
    eps = 1.0
    d = project_l2_box(v, x, eps)
    assert bool((_norms(d) <= eps + 1e-9).all())
    assert bool(((x + d) >= -1e-12).all()) and bool(((x + d) <= 1 + 1e-12).all())
    assert torch.allclose(project_l2_box(d, x, eps), d, atol=1e-9)
    # a point already inside both sets is left alone
    small = 0.01 * v / _norms(v)[:, None, None, None]
    small = torch.minimum(torch.maximum(small, -x), 1 - x)
    assert torch.equal(project_l2_box(small, x, eps), small)


def test_projection_is_the_closest_feasible_point(case):
    """Against the alternating approximation (ball then box) and random feasible points: the
    exact projection is never farther from v, and strictly closer somewhere."""
    x, v = case
    eps = 1.0
    d = project_l2_box(v, x, eps)
    dist = _norms(d - v)
    ball = v * torch.clamp(eps / _norms(v), max=1.0)[:, None, None, None]
    alt = torch.minimum(torch.maximum(ball, -x), 1 - x)
    assert bool((dist <= _norms(alt - v) + 1e-9).all())
    assert bool((dist < _norms(alt - v) - 1e-6).any())
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        r = project_l2_box(d + 0.05 * torch.randn(d.shape, generator=g, dtype=d.dtype), x, eps)
        assert bool((dist <= _norms(r - v) + 1e-9).all())


def test_projection_closed_forms(case):
    x = torch.full((2, 1, 3, 3), 0.5, dtype=torch.float64)
    v = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(2), dtype=torch.float64) * 0.1
    # box inactive: scaling onto the ball
    d = project_l2_box(v, x, 0.05)
    assert torch.allclose(d, v * (0.05 / _norms(v))[:, None, None, None], atol=1e-9)
    # ball inactive: clipping into the box
    big = v * 100
    assert torch.allclose(project_l2_box(big, x, 1e3), big.clamp(-0.5, 0.5))
    with pytest.raises(ValueError):
        project_l2_box(v, x[:1], 1.0)
    # L-inf: both boxes
    xi, vi = case
    di = project_linf_box(vi, xi, 0.2)
    assert float(di.abs().max()) <= 0.2 + 1e-12 and bool(((xi + di) >= 0).all() and ((xi + di) <= 1).all())


class LinearCodec(nn.Module):
    """encode: flatten then A (m x n); decode: B (n x m) then reshape; SNR ignored."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, shape: tuple[int, int, int]) -> None:
        super().__init__()
        self.a = nn.Parameter(a)
        self.b = nn.Parameter(b)
        self.shape = shape

    def encode(self, images: torch.Tensor, snr_db=None) -> torch.Tensor:
        return images.flatten(1) @ self.a.T

    def decode(self, latent: torch.Tensor, snr_db=None, image_size=None) -> torch.Tensor:
        return (latent @ self.b.T).reshape(-1, *self.shape)


def _linear_codec(seed: int = 0) -> tuple[LinearCodec, torch.Tensor]:
    """A codec whose end-to-end matrix M = B A (12 x 12, rank 6) has singular values 3, 1, .5, ..."""
    g = torch.Generator().manual_seed(seed)
    n, m = 12, 6
    u, _ = torch.linalg.qr(torch.randn(n, m, generator=g, dtype=torch.float64))
    w, _ = torch.linalg.qr(torch.randn(n, m, generator=g, dtype=torch.float64))
    s = torch.tensor([3.0, 1.0, 0.5, 0.4, 0.3, 0.2], dtype=torch.float64)
    a = torch.diag(s) @ w.T          # (m, n)
    b = u                            # (n, m): M = u diag(s) w^T
    return LinearCodec(a, b, (3, 2, 2)), (b @ a)


def test_l2_pgd_on_a_linear_codec_finds_the_top_singular_direction():
    codec, mat = _linear_codec()
    x = torch.full((3, 3, 2, 2), 0.5, dtype=torch.float64)  # eps 0.2 < 0.5: the box is inactive
    eps = 0.2
    delta = pgd_attack(codec, x, eps, steps=60, step_size=eps, snr_db=None, normalize=False,
                       generator=torch.Generator().manual_seed(0))
    _, sv, vh = torch.linalg.svd(mat)
    v1 = vh[0]
    flat = delta.flatten(1)
    assert torch.allclose(_norms(delta), torch.full((3,), eps, dtype=torch.float64), atol=1e-9)
    cos = (flat @ v1).abs() / _norms(delta)
    assert bool((cos > 0.9999).all()), cos
    best = eps ** 2 * float(sv[0]) ** 2 / flat.shape[1]  # max ||M d||^2 / n over ||d|| <= eps
    got = distortion(codec, x, delta, snr_db=None, normalize=False)
    assert torch.allclose(got, torch.full_like(got, best), rtol=1e-6)
    # the default schedule (20 steps of 2.5 eps / 20) gets close to the optimum as well
    d20 = pgd_attack(codec, x, eps, snr_db=None, normalize=False, generator=torch.Generator().manual_seed(0))
    assert float(distortion(codec, x, d20, snr_db=None, normalize=False).min()) > 0.95 * best
    assert all(p.requires_grad for p in codec.parameters())  # flags restored


def test_zero_start_has_zero_gradient_and_stays_put():
    """Algorithm 1's delta^0 = 0 is a stationary point of the squared distance: PGD needs the
    random start (documented in the module)."""
    codec, _ = _linear_codec()
    x = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    d = pgd_attack(codec, x, 0.2, steps=5, snr_db=None, normalize=False, random_start=False)
    assert torch.count_nonzero(d) == 0


@pytest.fixture(scope="module")
def shipped():
    from semradio.models.checkpoint import load_codec
    from semradio.models.data import natural_patches, subset

    codec = load_codec("jscc_natural32_awgn_cbr1-6", "cpu")
    x = torch.from_numpy(subset(natural_patches("eval"), 4, seed=0))
    return codec, x


def test_attack_on_the_shipped_codec_grows_with_eps_and_keeps_the_constraints(shipped):
    codec, x = shipped
    torch.set_num_threads(1)
    means = []
    for eps in (0.3, 1.2, 4.8):
        d = pgd_attack(codec, x, eps, steps=6, snr_db=10.0, generator=torch.Generator().manual_seed(0))
        assert bool((_norms(d) <= eps + 1e-5).all())
        assert float((x + d).min()) >= -1e-6 and float((x + d).max()) <= 1 + 1e-6
        means.append(float(distortion(codec, x, d, 10.0).mean()))
    assert means[0] < means[1] < means[2], means
    # far worse than a random error of the same size
    r = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    r = project_l2_box(r * 4.8 / _norms(r)[:, None, None, None], x, 4.8)
    assert means[2] > 5 * float(distortion(codec, x, r, 10.0).mean())


def test_attack_is_deterministic_under_a_seed(shipped):
    codec, x = shipped
    a = pgd_attack(codec, x[:2], 1.0, steps=3, generator=torch.Generator().manual_seed(5))
    b = pgd_attack(codec, x[:2], 1.0, steps=3, generator=torch.Generator().manual_seed(5))
    c = pgd_attack(codec, x[:2], 1.0, steps=3, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_budget_mapping_and_argument_checks():
    assert eps_for_level(0.3, 32) == pytest.approx(4.8)
    assert level_for_eps(eps_for_level(0.17, 64), 64) == pytest.approx(0.17)
    assert eps_for_level(0.3, 32, data_range=1.0) == pytest.approx(9.6)
    with pytest.raises(ValueError):
        eps_for_level(-0.1, 32)
    codec, _ = _linear_codec()
    x = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    with pytest.raises(ValueError):
        pgd_attack(codec, x, 0.1, norm="l1", normalize=False)
    with pytest.raises(ValueError):
        pgd_attack(codec, x, math.inf, normalize=False)
    assert torch.count_nonzero(pgd_attack(codec, x, 0.0, normalize=False)) == 0
    dl = pgd_attack(codec, x, 0.05, steps=4, norm="linf", snr_db=None, normalize=False,
                    generator=torch.Generator().manual_seed(0))
    assert float(dl.abs().max()) <= 0.05 + 1e-12
    assert np.isfinite(dl.numpy()).all()


def test_budget_side_is_the_side_or_the_geometric_mean():
    from semradio.models.attacks import eps_for_level, image_side

    assert image_side(32, 32) == 32.0 and image_side(16, 64) == 32.0
    assert eps_for_level(0.3, image_side(16, 64)) == eps_for_level(0.3, 32) == 4.8
