"""Diffusion channel estimation: the math, as small pure functions (numpy).

The problem ("Channel Estimation for RIS-Assisted mmWave Systems via Diffusion Models"; CDDM's
idea carried from the latent to the channel): the least-squares estimate of a channel grid
``h`` (d = rows x K complex entries) is

    h_LS = h + dh,          dh ~ CN(0, v I)                                        (1)

(for unit-modulus pilots ``v`` is the noise variance over the pilot energy, ``1 / SNR_pilot``
on a unit-power channel). (1) *is* the forward process of a variance-exploding diffusion
``x_v = h + sqrt(v) eps`` stopped at the level ``v``: the LS estimate is a diffused channel
whose level is known from the pilot SNR, so the reverse process is started at ``v`` (as CDDM
starts at the step whose noise matches the SNR) and not at pure noise.

A *denoiser* ``D(x, v) = E[h | x_v = x]`` (what the network learns) gives

* the one-step (Tweedie) estimate, the posterior mean, i.e. the MMSE estimate:

      h_hat = D(h_LS, v) = h_LS + v grad log p_v(h_LS)                             (2)

* a multi-step estimate: the ancestral sampler of the VE process from ``v_0 = v`` down a
  geometric ladder ``v_0 > v_1 > ... > v_S = 0``: with ``d_i = D(x_i, v_i)`` and
  ``r_i = v_{i+1} / v_i``,

      x_{i+1} = d_i + r_i (x_i - d_i) + sqrt(v_{i+1} (1 - r_i)) eps_i              (3)

  (the Gaussian bridge from level ``v_i`` to ``v_{i+1}`` with ``h`` replaced by its posterior
  mean), ending with ``x_S = d_{S-1}``: a draw from (approximately) the posterior. The estimate
  is the mean of ``M`` draws. (3) is linear in ``x_i`` given a linear ``D``, so for Gaussian
  channels the draws' mean is exactly (2) at any ``S``; their spread approaches the posterior
  covariance as ``S`` grows. The mean of ``M`` exact posterior draws has MSE ``(1 + 1/M)``
  times the MMSE: multi-step sampling pays only where the learned ``D`` is worse than its
  own chain (at low SNR), which the evaluation measures instead of assuming.

For Gaussian channels ``h ~ CN(0, R)`` everything is closed form:

      D(x, v) = R (R + v I)^-1 x                      (the LMMSE estimator)          (4)
      posterior covariance P = R - R (R + v I)^-1 R

which the tests use to check (2) and (3) against LMMSE. Shapes: channels are flattened to
``(n, d)`` complex; ``v`` is a scalar or ``(n,)``.

    >>> import numpy as np
    >>> r = np.diag([1.0, 0.1]).astype(complex)
    >>> y = np.array([[1.0 + 0j, 1.0 + 0j]])
    >>> np.round(lmmse(y, r, 0.1).real, 3)
    array([[0.909, 0.5  ]])
"""

from __future__ import annotations

from typing import Callable

import numpy as np

#: A denoiser ``D(x (n, d) complex, v (n,) float) -> E[h | x] (n, d) complex``.
Denoiser = Callable[[np.ndarray, np.ndarray], np.ndarray]


def as_levels(v: float | np.ndarray, n: int) -> np.ndarray:
    """``v`` as float64 ``(n,)`` (a scalar is repeated).

    Raises:
        ValueError: a level that is negative or not finite, or the wrong length.
    """
    lv = np.broadcast_to(np.asarray(v, np.float64), (n,)).copy()
    if not np.all(np.isfinite(lv)) or np.any(lv < 0):
        raise ValueError("noise levels must be finite and >= 0")
    return lv


def lmmse(y: np.ndarray, cov: np.ndarray, v: float | np.ndarray) -> np.ndarray:
    """(4): ``R (R + v I)^-1 y`` for ``y`` (n, d) complex, ``R`` (d, d) Hermitian, noise variance
    ``v`` (scalar or (n,)). Returns (n, d) complex128."""
    y = np.asarray(y, np.complex128)
    n, d = y.shape
    lv = as_levels(v, n)
    eye = np.eye(d)
    out = np.empty_like(y)
    for level in np.unique(lv):
        sel = lv == level
        out[sel] = (cov @ np.linalg.solve(cov + level * eye, y[sel].T)).T
    return out


def lmmse_error(cov: np.ndarray, v: float) -> np.ndarray:
    """Diagonal of the posterior covariance ``R - R (R + v I)^-1 R``: (d,) float64, the expected
    squared error of (4) per entry."""
    d = cov.shape[0]
    p = cov - cov @ np.linalg.solve(cov + v * np.eye(d), cov)
    return np.maximum(np.real(np.diag(p)), 0.0)


def gaussian_denoiser(cov: np.ndarray) -> Denoiser:
    """The exact denoiser (4) of ``CN(0, R)`` channels: what a perfectly trained network is for
    Gaussian data."""
    cov = np.asarray(cov, np.complex128)

    def denoise(x: np.ndarray, v: np.ndarray) -> np.ndarray:
        return lmmse(x, cov, v)

    return denoise


def tweedie(denoise: Denoiser, y: np.ndarray, v: float | np.ndarray) -> np.ndarray:
    """(2): the one-step estimate ``D(h_LS, v)`` (n, d)."""
    y = np.asarray(y, np.complex128)
    return np.asarray(denoise(y, as_levels(v, y.shape[0])), np.complex128)


def ladder(v: float, steps: int, ratio_floor: float = 1e-4) -> np.ndarray:
    """The geometric levels ``v_0 = v > ... > v_{S-1} = v ratio_floor`` then ``v_S = 0``:
    ``(steps + 1,)``. One step is the Tweedie estimate."""
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if steps == 1:
        return np.array([v, 0.0])
    return np.concatenate([v * np.geomspace(1.0, ratio_floor, steps), [0.0]])


def ancestral(denoise: Denoiser, y: np.ndarray, v: float | np.ndarray, steps: int, samples: int = 1,
              rng: np.random.Generator | None = None, ratio_floor: float = 1e-4) -> np.ndarray:
    """(3): ``samples`` posterior draws per row by the ancestral sampler started at ``x_0 = h_LS``
    (level ``v``, one per row) over ``steps`` network calls.

    Returns:
        (samples, n, d) complex128.
    """
    rng = rng or np.random.default_rng()
    y = np.asarray(y, np.complex128)
    n, d = y.shape
    lv = as_levels(v, n)
    levels = np.stack([ladder(float(a), steps, ratio_floor) for a in lv], axis=1)   # (S+1, n)
    x = np.broadcast_to(y, (samples, n, d)).reshape(samples * n, d).copy()
    for i in range(steps):
        vi = np.tile(levels[i], samples)
        vn = np.tile(levels[i + 1], samples)
        dn = np.asarray(denoise(x, vi), np.complex128)
        if i == steps - 1:
            x = dn
            break
        r = np.where(vi > 0, vn / np.maximum(vi, 1e-300), 0.0)[:, None]
        s = np.sqrt(np.maximum(vn * (1.0 - r[:, 0]), 0.0) / 2.0)[:, None]
        eps = rng.standard_normal((samples * n, d)) + 1j * rng.standard_normal((samples * n, d))
        x = dn + r * (x - dn) + s * eps
    return x.reshape(samples, n, d)


def nmse_db(estimate: np.ndarray, truth: np.ndarray) -> float:
    """``10 log10( sum |h_hat - h|^2 / sum |h|^2 )`` over everything given (dB)."""
    e = np.asarray(estimate) - np.asarray(truth)
    num = float(np.sum(e.real ** 2 + e.imag ** 2))
    den = float(np.sum(np.abs(truth) ** 2))
    return 10.0 * np.log10(max(num, 1e-300) / max(den, 1e-300))


def covariance(h: np.ndarray) -> np.ndarray:
    """Sample covariance ``E[h h^H]`` (d, d) of zero-mean channels ``h`` (n, d)."""
    h = np.asarray(h, np.complex128)
    return (h.T @ h.conj()) / h.shape[0]


__all__ = ["Denoiser", "as_levels", "lmmse", "lmmse_error", "gaussian_denoiser", "tweedie", "ladder", "ancestral",
           "nmse_db", "covariance"]
