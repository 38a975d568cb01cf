"""Burst synchronisation: detection and coarse timing (Schmidl & Cox), fractional, integer and
fine carrier frequency offset, fine timing on the long training symbol.

Schmidl & Cox ("Robust frequency and timing synchronization for OFDM", 1997), with the
repeated short training sequence of 802.11a: the STS is periodic with period D = N/2, so with
``P(d) = sum_{m<W} conj(r[d+m]) r[d+m+D]`` and the window energies ``E1(d) = sum_{m<W}
|r[d+m]|^2``, ``E2(d) = sum_{m<W} |r[d+m+D]|^2``, the metric ``M(d) = |P(d)|^2 / (E1(d) E2(d))``
lies in [0, 1] (Cauchy-Schwarz; the symmetric normalisation keeps it there for any input). On
noise it is about ``Exp(1/W)`` (mean 1/W, ``P(M > m) ~ exp(-W m)``); on the STS it is
``(SNR / (1 + SNR))^2`` over a plateau of ``D + 1`` starts less the channel's delay spread: a
long window W lets a low threshold hold the false alarms down (W = 320 samples: ``M`` is 0.06
at -5 dB SNR, while noise exceeds 0.04 with probability ``exp(-12.8)``). A carrier offset of
``eps`` subcarrier spacings turns each period by ``exp(j pi eps)``: ``eps = angle(P) / pi``,
unambiguous for ``|eps| < 1``. The two LTS copies, N samples apart, refine it (``angle / 2 pi``,
unambiguous for ``|eps| < 0.5``, the residual after the STS correction). An integer offset
shifts the LTS spectrum by whole carriers (found by the receiver, see
:class:`semradio.dsp.ofdm.receiver.BurstReceiver`).

All functions are numpy, vectorised over samples (moving sums by cumulative sums).

    >>> import numpy as np
    >>> from semradio.dsp.ofdm.modem import preamble
    >>> from semradio.dsp.ofdm.numerology import OFDMConfig
    >>> cfg = OFDMConfig()
    >>> x = np.concatenate([np.zeros(100), preamble(cfg), np.zeros(100)])
    >>> x = x * np.exp(2j * np.pi * 0.3 / cfg.fft_size * np.arange(x.size))
    >>> m, p = schmidl_cox(x, cfg.fft_size // 2, cfg.detection_window)
    >>> d = int(np.argmax(m)); abs(d - 116) <= 16, round(float(np.angle(p[d]) / np.pi), 3)
    (True, 0.3)
"""

from __future__ import annotations

import functools

import numpy as np

from .modem import lts_time
from .numerology import OFDMConfig


def moving_sum(x: np.ndarray, n: int) -> np.ndarray:
    """``s[d] = x[d] + ... + x[d + n - 1]`` for d = 0 .. len(x) - n (float64 / complex128).

    Two-level: running sums restart every ``n`` samples and a window adds the tail of one block
    to the head of the next, so a rounding error stays within the two blocks a window touches
    (one running sum over the whole input would carry a loud sample's rounding error into every
    later window)."""
    return _block_sums(x, n)[0]


def _block_sums(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(moving sums, scale)``: the sums of :func:`moving_sum` and, per window, the sum of
    ``|x|`` over the two blocks it touches (what its rounding error is relative to)."""
    dt = np.result_type(x, np.float64)
    m = x.size - n + 1
    if m <= 0:
        return np.zeros(0, dt), np.zeros(0)
    nb = -(-x.size // n) + 1
    buf = np.zeros(nb * n, dt)
    buf[: x.size] = x
    blocks = buf.reshape(nb, n)
    pre = np.zeros((nb, n + 1), dt)
    np.cumsum(blocks, axis=1, out=pre[:, 1:])
    # window d = k n + r: the rest of block k after r, plus the first r samples of block k + 1
    sums = ((pre[:-1, n:] - pre[:-1, :n]) + pre[1:, :n]).reshape(-1)[:m]
    mag = np.abs(blocks).sum(axis=1)
    scale = np.broadcast_to((mag[:-1] + mag[1:])[:, None], (nb - 1, n)).reshape(-1)[:m]
    return sums, scale


def schmidl_cox(x: np.ndarray, lag: int, window: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(M, P)`` for every start d = 0 .. len(x) - lag - window: the normalised metric and the
    delayed autocorrelation at ``lag`` summed over ``window`` samples (default ``lag``: the
    original two-half form; module docstring)."""
    w = lag if window is None else int(window)
    if x.size < lag + w + 1:
        return np.zeros(0), np.zeros(0, np.complex128)
    prod = np.conj(x[:-lag]) * x[lag:]
    p = moving_sum(prod, w)                         # starts 0 .. len - lag - w
    xr, xi = x.real.astype(np.float64), x.imag.astype(np.float64)   # powers in float64: no overflow
    pw = xr * xr + xi * xi
    e, scale = _block_sums(pw, w)
    e1, e2 = e[: p.size], e[lag: lag + p.size]
    # a window's sums are exact to about 1e-16 of the energy of the blocks they touch: a floor
    # well above that keeps a quiet stretch right after a loud one at M ~ 0, not 0/0 noise
    floor = (1e-9 * scale[: p.size]) * (1e-9 * scale[lag: lag + p.size]) + 1e-30
    m = (p.real * p.real + p.imag * p.imag) / (e1 * e2 + floor)
    return np.minimum(m, 1.0), p


def detect(m: np.ndarray, threshold: float, min_run: int) -> int | None:
    """First index where ``M`` stays above ``threshold`` for ``min_run`` consecutive samples
    (the start of the plateau), or None."""
    above = m > threshold
    if not above.any():
        return None
    idx = np.flatnonzero(above)
    if min_run <= 1:
        return int(idx[0])
    # runs of consecutive indices
    breaks = np.flatnonzero(np.diff(idx) != 1)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    ok = np.flatnonzero(ends - starts + 1 >= min_run)
    return int(starts[ok[0]]) if ok.size else None


def fine_timing(cfg: OFDMConfig, x: np.ndarray, expected: int, search: int) -> tuple[int, float]:
    """Start of the first LTS copy near ``expected`` (± ``search`` samples), and the normalised
    cross-correlation peak in [0, 1].

    The reference is the whole LTS field (double CP and both copies, 2 CP + 2 N samples): its
    side lobes at ±N reach about ``(N + CP) / (N + 2 CP)`` of the peak (the CP repeats the
    copy's tail). The timing is the earliest lag, at most one CP before the peak, whose
    correlation reaches 80 % of the peak: the first strong path rather than the strongest echo.
    The CFO must be removed first (it turns the reference's span by ``2 pi eps (2 CP + 2 N) / N``).
    """
    cp2 = 2 * cfg.cp_len
    ref = _lts_field(cfg)
    lo = max(0, expected - cp2 - search)
    hi = min(x.size - ref.size, expected - cp2 + search)
    if hi < lo:
        return expected, 0.0
    seg = x[lo: hi + ref.size]
    n = seg.size + ref.size
    nfft = 1 << (n - 1).bit_length()
    c = np.fft.ifft(np.fft.fft(seg, nfft) * np.conj(np.fft.fft(ref, nfft)))[: hi - lo + 1]
    e = moving_sum(np.abs(seg) ** 2, ref.size)[: hi - lo + 1]
    rho = np.abs(c) / np.sqrt(e * np.sum(np.abs(ref) ** 2) + 1e-30)
    top = int(np.argmax(rho))
    peak = float(rho[top])
    first = max(0, top - cfg.cp_len)
    first += int(np.flatnonzero(rho[first: top + 1] >= 0.8 * peak)[0])
    return lo + first + cp2, peak


@functools.lru_cache(maxsize=16)
def _lts_field(cfg: OFDMConfig) -> np.ndarray:
    one = lts_time(cfg)
    ref = np.concatenate([one[-2 * cfg.cp_len:], one, one])
    ref.setflags(write=False)
    return ref


def lts_cfo(y1: np.ndarray, y2: np.ndarray) -> float:
    """Residual CFO in subcarrier spacings from two received LTS copies N samples apart (time
    domain): ``angle(sum conj(y1) y2) / (2 pi)``, in (-0.5, 0.5]."""
    return float(np.angle(np.vdot(y1, y2)) / (2 * np.pi))


def derotate(x: np.ndarray, eps: float, n_fft: int, start_index: int = 0) -> np.ndarray:
    """``x[n] exp(-j 2 pi eps (start_index + n) / N)``: remove a CFO of ``eps`` subcarrier spacings.

    The phasor is built as an outer product (``exp`` of 256 in-block phases times ``exp`` of
    one phase per block), so a long segment costs one complex multiply per sample rather than
    one complex exponential."""
    n = x.size
    w = -2.0 * np.pi * eps / n_fft
    if n <= 512:
        return x * np.exp(1j * w * np.arange(start_index, start_index + n))
    blk = 256
    rows = -(-n // blk)
    outer = np.exp(1j * w * (start_index + blk * np.arange(rows)))[:, None] * np.exp(1j * w * np.arange(blk))[None, :]
    return x * outer.reshape(-1)[:n]


__all__ = ["moving_sum", "schmidl_cox", "detect", "fine_timing", "lts_cfo", "derotate"]
