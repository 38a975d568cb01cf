"""The header's forward error correction: the rate-1/3, constraint-length-7 convolutional code
of LTE's control channels (generators 133, 171, 165 octal, free distance 15), zero-tailed, with a
soft-decision Viterbi decoder.

Sionna PHY has the same code (``sionna.phy.fec.conv.ConvEncoder(gen_poly=..., terminate=True)``
and ``ViterbiDecoder``; the tests check both against it); its PyTorch decoder costs milliseconds
per call on a CPU, more than a whole burst lasts at 10 MS/s, so the receiver uses this numpy
decoder: the add-compare-select over the 64 states is vectorised and the time loop runs once per
information bit (118 steps for a 112-bit header).

Conventions: the encoder register holds the current input bit in its most significant position
(``reg = u_t 2^6 + u_{t-1} 2^5 + ... + u_{t-6}``); output ``j`` of step t is the parity of
``reg & g_j``; outputs are interleaved ``c[3t + j]``. Soft inputs are "bit 0" positive (BPSK
``1 - 2c`` times a positive reliability, e.g. ``Re(conj(H) Y)``).

    >>> import numpy as np
    >>> bits = np.random.default_rng(0).integers(0, 2, 40).astype(np.uint8)
    >>> code = conv_encode(bits)
    >>> code.size
    138
    >>> soft = 1.0 - 2.0 * code
    >>> soft[::7] *= -1                     # 20 hard errors: one in every seven coded bits
    >>> bool(np.array_equal(viterbi_decode(soft), bits))
    True
"""

from __future__ import annotations

import functools

import numpy as np

#: Generators (octal) and constraint length of the header code.
GENERATORS: tuple[int, ...] = (0o133, 0o171, 0o165)
CONSTRAINT = 7
RATE_INV = len(GENERATORS)
_M = CONSTRAINT - 1
_STATES = 1 << _M


def coded_length(n_bits: int) -> int:
    """Coded bits of ``n_bits`` information bits (with the zero tail)."""
    return RATE_INV * (n_bits + _M)


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    for s in (4, 2, 1):
        x ^= x >> s
    return x & 1


@functools.lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(out_by_reg (128, R) in {0,1}; for each next state ns and predecessor branch b in {0, 1}:
    predecessor state pred[b] (64,), signs[b] (R, 64) of the branch's outputs (+1 for bit 0))."""
    regs = np.arange(1 << CONSTRAINT)
    outs = np.stack([_parity(regs & g) for g in GENERATORS], axis=1).astype(np.uint8)
    ns = np.arange(_STATES)
    u = ns >> (_M - 1)
    preds, signs = [], []
    for b in (0, 1):
        p = ((ns & (_STATES // 2 - 1)) << 1) | b
        reg = (u << _M) | p
        preds.append(p)
        signs.append((1.0 - 2.0 * outs[reg]).T)
    return outs, np.stack(preds), np.stack(signs), u


def conv_encode(bits: np.ndarray) -> np.ndarray:
    """Information bits (n,) -> coded bits (3 (n + 6),) uint8, register starting and ending at 0."""
    u = np.concatenate([np.asarray(bits, np.int64).reshape(-1), np.zeros(_M, np.int64)])
    n = u.size
    # reg_t = sum_i u_{t-i} 2^(6-i), i = 0..6, with u_{<0} = 0
    padded = np.concatenate([np.zeros(_M, np.int64), u])
    reg = np.zeros(n, np.int64)
    for i in range(CONSTRAINT):
        reg |= padded[_M - i: _M - i + n] << (_M - i)
    outs = _trellis()[0]
    return outs[reg].reshape(-1)


def viterbi_decode(soft: np.ndarray) -> np.ndarray:
    """Maximum-likelihood information bits (n,) uint8 from soft coded values (3 (n + 6),):
    maximises ``sum soft * (1 - 2 c)`` over the zero-tailed code's paths."""
    soft = np.asarray(soft, np.float64).reshape(-1, RATE_INV)
    steps = soft.shape[0]
    _, preds, signs, u_of = _trellis()
    bm0 = soft @ signs[0]            # (T, 64): branch metric into each state from predecessor 0
    bm1 = soft @ signs[1]
    p0, p1 = preds[0], preds[1]
    pm = np.full(_STATES, -1e300)
    pm[0] = 0.0
    dec = np.empty((steps, _STATES), bool)
    for t in range(steps):   # add-compare-select (measured fastest among in-place and butterfly forms)
        m0 = pm[p0] + bm0[t]
        m1 = pm[p1] + bm1[t]
        d = m1 > m0
        dec[t] = d
        pm = np.where(d, m1, m0)
    # trace back from state 0 (the tail drove the register there)
    bits = np.empty(steps, np.uint8)
    s = 0
    half = _STATES // 2 - 1
    for t in range(steps - 1, -1, -1):
        bits[t] = u_of[s]
        s = ((s & half) << 1) | int(dec[t, s])
    return bits[: steps - _M]


__all__ = ["GENERATORS", "CONSTRAINT", "RATE_INV", "coded_length", "conv_encode", "viterbi_decode"]
