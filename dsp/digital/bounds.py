"""The normal approximation of the block error rate of the BICM channel: the independent
reference the simulated 5G LDPC BLER is checked against.

A code block of ``k`` information bits sent as ``n`` coded bits over the bit channels that a
Gray-QAM BICM receiver sees (bit ``b`` -> its exact LLR ``L``, :func:`semradio.dsp.digital.qam.llr`)
has, per coded bit, the information density (bits)::

    i(b; L) = 1 - log2(1 + exp(-(2b - 1) L))

with mean ``C`` (the BICM capacity per coded bit) and variance ``V`` (the dispersion). The
normal approximation (Polyanskiy, Poor, Verdú, "Channel coding rate in the finite blocklength
regime", 2010) of the best code's error probability is::

    eps_cb ~= Q((n C - k + log2(n) / 2) / sqrt(n V))

and a transport block of code blocks ``(k_i, n_i)`` fails unless all of them decode:
``BLER_TB = 1 - prod_i (1 - eps_cb_i)``. ``C`` and ``V`` are estimated by Monte Carlo over
``symbols`` random symbols (seeded), which is what this module writes itself: Sionna has no
finite-length bound.

    >>> c, v = bicm_capacity_dispersion(2, 10.0, symbols=20000)
    >>> 0.99 < c <= 1.0
    True
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import ndtr

from semradio.dsp.digital.qam import llr, modulate


def bicm_capacity_dispersion(m: int, snr_db: float, symbols: int = 200_000, seed: int = 0) -> tuple[float, float]:
    """``(C, V)``: mean and variance of the per-bit information density (bits, bits^2) of Gray
    QAM with ``m`` bits per symbol over AWGN at ``snr_db`` (Es/N0, unit-power symbols)."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (symbols * m,), dtype=np.uint8)
    x = modulate(bits, m)
    no = 10.0 ** (-snr_db / 10.0)
    y = x + np.sqrt(no / 2) * (rng.standard_normal(symbols) + 1j * rng.standard_normal(symbols))
    lam = llr(y, no, m)
    s = 2.0 * bits - 1.0
    dens = 1.0 - np.logaddexp(0.0, -s * lam) / math.log(2.0)
    return float(dens.mean()), float(dens.var())


def normal_approx_cb(k: int, n: int, c: float, v: float) -> float:
    """``Q((n C - k + log2(n)/2) / sqrt(n V))`` for one code block."""
    if v <= 0:
        return 0.0 if n * c > k else 1.0
    return float(ndtr(-(n * c - k + 0.5 * math.log2(n)) / math.sqrt(n * v)))


def normal_approx_tb(blocks: list[tuple[int, int]], m: int, snr_db: float, symbols: int = 200_000,
                     seed: int = 0) -> float:
    """TB error probability ``1 - prod (1 - eps_i)`` for code blocks ``[(k_i, n_i), ...]``."""
    c, v = bicm_capacity_dispersion(m, snr_db, symbols, seed)
    ok = 1.0
    for k, n in blocks:
        ok *= 1.0 - normal_approx_cb(k, n, c, v)
    return 1.0 - ok


def snr_at(target: float, snr_db: np.ndarray, bler: np.ndarray) -> float | None:
    """The SNR where a decreasing BLER curve crosses ``target`` (linear in SNR, log10 in BLER,
    between the last point above and the first point at or below it); None if it never does."""
    s = np.asarray(snr_db, np.float64)
    b = np.asarray(bler, np.float64)
    order = np.argsort(s)
    s, b = s[order], b[order]
    for i in range(1, len(s)):
        if b[i - 1] > target >= b[i]:
            lo, hi = math.log10(b[i - 1]), math.log10(max(b[i], 1e-12))
            t = (math.log10(target) - lo) / (hi - lo)
            return float(s[i - 1] + t * (s[i] - s[i - 1]))
    return None


def threshold_snr(blocks: list[tuple[int, int]], m: int, target: float = 1e-2, lo: float = -10.0,
                  hi: float = 40.0, tol: float = 0.01, symbols: int = 100_000) -> float:
    """The SNR (dB) where :func:`normal_approx_tb` equals ``target`` (bisection; common random
    numbers across SNRs so the curve is monotone)."""
    for _ in range(60):
        if hi - lo <= tol:
            break
        mid = 0.5 * (lo + hi)
        if normal_approx_tb(blocks, m, mid, symbols) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


__all__ = ["bicm_capacity_dispersion", "normal_approx_cb", "normal_approx_tb", "snr_at", "threshold_snr"]
