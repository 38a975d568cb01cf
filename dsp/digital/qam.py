"""Gray-labelled QAM of TS 38.211 5.1 and exact bit LLRs, in numpy.

The link itself maps and demaps with Sionna PHY (:mod:`.transport`); this module is the
independent oracle: the normal-approximation reference (:mod:`.bounds`) and the tests use it.

Constellation (TS 38.211 5.1.3-5.1.5), bits ``b0 b1 ... b(m-1)``: the real part is a
``m/2``-bit Gray PAM of the even bits, the imaginary part of the odd bits::

    pam(c0, c1, ..., c(q-1)) = (1 - 2 c0) (2^(q-1) - pam(c1, ..., c(q-1))),  pam(c) = 1 - 2c
    x = (pam(b0, b2, ...) + j pam(b1, b3, ...)) / sqrt(2 (M - 1) / 3)

(16-QAM: ``((1-2b0)(2-(1-2b2)) + j (1-2b1)(2-(1-2b3))) / sqrt(10)``), unit average power.

Bit LLR (Sionna's sign convention, ``log p(b=1|y) / p(b=0|y)``), exact ("app")::

    L_i = log sum_{x: b_i(x)=1} exp(-|y - x|^2 / N0) - log sum_{x: b_i(x)=0} exp(-|y - x|^2 / N0)

    >>> c = constellation(4)
    >>> round(float(np.mean(np.abs(c) ** 2)), 6), c[0]
    (1.0, np.complex128(0.31622776601683794+0.31622776601683794j))
"""

from __future__ import annotations

import numpy as np


def _pam(bits: np.ndarray) -> np.ndarray:
    s = 1 - 2 * bits[..., 0].astype(np.float64)
    if bits.shape[-1] == 1:
        return s
    return s * (2 ** (bits.shape[-1] - 1) - _pam(bits[..., 1:]))


def labels(m: int) -> np.ndarray:
    """Bit labels (M, m) uint8 of the points, point index = the bits read MSB first."""
    if m not in (2, 4, 6, 8):
        raise ValueError(f"bits per symbol must be 2, 4, 6 or 8, got {m!r}")
    idx = np.arange(2 ** m)
    return ((idx[:, None] >> (m - 1 - np.arange(m))) & 1).astype(np.uint8)


def constellation(m: int) -> np.ndarray:
    """The ``2^m`` points (complex128, unit average power) in label order (see :func:`labels`)."""
    b = labels(m)
    pts = _pam(b[:, 0::2]) + 1j * _pam(b[:, 1::2])
    return pts / np.sqrt(2 * (2 ** m - 1) / 3)


def modulate(bits: np.ndarray, m: int) -> np.ndarray:
    """Bits (..., n m) -> symbols (..., n) complex128."""
    b = np.asarray(bits, np.uint8).reshape(*np.shape(bits)[:-1], -1, m)
    idx = (b.astype(np.int64) << (m - 1 - np.arange(m))).sum(-1)
    return constellation(m)[idx]


def llr(y: np.ndarray, no: np.ndarray | float, m: int) -> np.ndarray:
    """Exact bit LLRs (..., n m) float64 of symbols ``y`` (..., n) with noise variance ``no``
    (E|n|^2, broadcast to y) by log-sum-exp over the constellation."""
    pts = constellation(m)
    lab = labels(m).astype(bool)
    y = np.asarray(y)
    d = -np.abs(y[..., None] - pts) ** 2 / np.asarray(no, np.float64)[..., None]  # (..., n, M)
    out = np.empty((*y.shape, m))
    for i in range(m):
        one = np.where(lab[:, i], d, -np.inf)
        zero = np.where(lab[:, i], -np.inf, d)
        out[..., i] = np.logaddexp.reduce(one, axis=-1) - np.logaddexp.reduce(zero, axis=-1)
    return out.reshape(*y.shape[:-1], -1)


__all__ = ["labels", "constellation", "modulate", "llr"]
