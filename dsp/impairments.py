"""Sample-level channel impairments: multipath FIR (static or piecewise-constant time-varying),
carrier frequency offset, sample-rate / timing offset (fractional resampler), Wiener phase noise
and complex AWGN, on streams of complex baseband samples.

Every function is pure numpy (numpy in, numpy out; no torch) and *stateful by argument*: it
takes the state the previous call returned (``None`` on the first call) and returns the state to
pass to the next one, so that processing a stream in one call or in any number of pieces gives
the same output (up to float rounding of the accumulated phases). Nothing is mutated in place.
:class:`semradio.blocks.channels.SampleChannel` chains them the way GNU Radio's
``channel_model`` does (resampler -> multipath FIR -> frequency offset -> add noise).

Conventions: ``n`` is the sample index of the stream (0 at its first sample), frequencies are in
cycles/sample (``cfo = f_Hz / f_s``), times and delays in samples; complex64 inputs give
complex64 outputs (complex128 stays complex128). The equations:

* multipath FIR, taps ``h`` (L,): ``y[n] = sum_l h[l] x[n - l]`` (``x[n < 0] = 0``); with taps
  that change every ``update_period`` samples the row in force at the *output* time ``n`` is
  used, ``y[n] = sum_l h_n[l] x[n - l]`` (the discrete time-varying channel of Sionna's
  ``ApplyTimeChannel``);
* frequency offset: ``y[n] = x[n] exp(j (2 pi f n + phi))``; the returned phase
  ``phi + 2 pi f N`` (mod 2 pi) continues the rotation in the next call;
* timing: ``y[k] = x(epsilon k - d)`` where ``x(t)`` is the band-limited interpolation of the
  input samples (an MMSE interpolating FIR with ``ntaps`` = 8 taps and a polyphase table of
  ``nsteps`` = 512 fractional phases, as GNU Radio's ``mmse_fir_interpolator_cc``) and ``d >= 0``
  a constant delay in samples. ``epsilon`` is the ratio of input to output rate of GNU Radio's
  ``mmse_resampler_cc`` (``channel_model``'s ``epsilon``): 1.0 is no offset, ``1 + 20e-6`` takes
  20 ppm more input samples per output sample, so N input samples give about ``N / epsilon``
  output samples and a tone at ``f`` cycles/sample comes out at ``f * epsilon``;
* Wiener phase noise of 3 dB linewidth ``beta`` (Hz) at sample rate ``f_s``:
  ``theta[n] = theta[n-1] + w[n]``, ``w[n] ~ N(0, 2 pi beta / f_s)`` (the Lorentzian
  oscillator spectrum of 3 dB full width ``beta``);
* AWGN: ``n ~ CN(0, s2)`` (real and imaginary parts independent ``N(0, s2/2)``).

References: GNU Radio ``channel_model`` (gr-channels) and ``mmse_fir_interpolator_cc``
(gr-filter); Sionna PHY ``ApplyTimeChannel``; A. Demir, A. Mehrotra, J. Roychowdhury, "Phase
noise in oscillators: a unifying theory and numerical methods for characterization" (the Wiener
model and its linewidth).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.signal import lfilter

#: Taps of the interpolating FIR (GNU Radio's ``mmse_fir_interpolator_cc`` has 8).
RESAMPLER_NTAPS = 8
#: Fractional phases of the polyphase table (GNU Radio uses 128; 512 keeps the quantization of
#: ``mu`` (at most 1/1024 sample) below -55 dB for signals up to 0.35 cycles/sample).
RESAMPLER_NSTEPS = 512
#: Input samples kept behind the resampler's next read position, so that a ``delay`` raised at
#: run time by up to this many samples still reads real samples (older ones read as zeros).
RESAMPLER_HISTORY = 64

_TWO_PI = 2.0 * math.pi


def _complex_dtype(x: np.ndarray) -> np.dtype:
    return np.dtype(np.complex128) if x.dtype == np.complex128 else np.dtype(np.complex64)


def _as_stream(x: Any) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D sample stream, got shape {x.shape}")
    return x.astype(_complex_dtype(x), copy=False)


# ============================================================================ multipath FIR
def _history(history: np.ndarray | None, length: int, dtype: np.dtype) -> np.ndarray:
    """The last ``length`` input samples (oldest first), zero-padded on the left."""
    out = np.zeros(length, dtype=dtype)
    if history is not None and length:
        h = np.asarray(history)[-length:]
        out[length - h.size:] = h
    return out


def fir_filter(x: np.ndarray, taps: np.ndarray, history: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
    """Static multipath: ``y[n] = sum_l h[l] x[n - l]``, continuing a stream.

    Args:
        x: complex input samples (n,).
        taps: complex taps ``h`` (L,); ``h[0]`` is the direct (zero-lag) tap.
        history: what the previous call returned: the last input samples (oldest first; any
            length, only the last L-1 are used), or None at the start of the stream (zeros).

    Returns:
        ``(y, history)``: y (n,) of x's complex dtype and the last L-1 inputs seen (the state,
        independent of the taps, so the taps may change between calls).

    Uses ``scipy.signal.lfilter`` with the initial condition ``zi`` computed from the history:
    ``zi[m] = sum_{l > m} h[l] x[m - l]``, i.e. ``zi = (h * history)[L-1:]``.
    """
    x = _as_stream(x)
    dtype = x.dtype
    taps = np.asarray(taps, dtype=dtype).reshape(-1)
    if taps.size == 0:
        raise ValueError("taps must not be empty")
    L = taps.size
    hist = _history(history, L - 1, dtype)
    if L == 1 or x.size == 0:
        return (x * taps[0]).astype(dtype, copy=False), hist
    zi = np.convolve(hist, taps)[L - 1:]
    y, _ = lfilter(taps, np.ones(1, dtype=dtype), x, zi=zi.astype(dtype))
    new_hist = np.concatenate([hist, x])[-(L - 1):]
    return y.astype(dtype, copy=False), new_hist


def fir_filter_tv(x: np.ndarray, taps: np.ndarray, starts: Any, history: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-constant time-varying multipath: ``y[n] = sum_l h_{r(n)}[l] x[n - l]``.

    Args:
        x: complex input samples (n,).
        taps: complex taps (R, L), one row per piece.
        starts: (R,) ascending output indices where each row takes effect (``starts[0] == 0``):
            row ``r`` applies to ``y[starts[r]:starts[r+1]]`` (the last one to the end).
        history: the state returned by the previous call (see :func:`fir_filter`).

    Returns:
        ``(y, history)`` as :func:`fir_filter`. With one row it equals :func:`fir_filter`.

    The row in force at the output time is used for every lag (taps indexed by output time, as
    Sionna's ``ApplyTimeChannel``), so a stream cut anywhere gives the same output as long as
    each piece receives the rows in force over its samples. Each piece is one matrix-vector
    product over a strided window view (no Python loop per sample).
    """
    x = _as_stream(x)
    dtype = x.dtype
    taps = np.asarray(taps, dtype=dtype)
    if taps.ndim != 2 or taps.shape[1] == 0:
        raise ValueError(f"taps must have shape (R, L), got {taps.shape}")
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)
    R, L = taps.shape
    if starts.size != R or (R and starts[0] != 0) or np.any(np.diff(starts) < 0):
        raise ValueError(f"starts must be {R} ascending indices starting at 0, got {starts}")
    hist = _history(history, L - 1, dtype)
    buf = np.concatenate([hist, x])
    n = x.size
    y = np.empty(n, dtype=dtype)
    if n:
        # windows[i] = x[i-L+1 .. i] (oldest first), so y[i] = windows[i] @ h[::-1]
        windows = np.lib.stride_tricks.sliding_window_view(buf, L)
        bounds = np.append(np.minimum(starts, n), n)
        lengths = np.diff(bounds)
        inner = slice(1, R - 1)
        if R > 3 and np.all(lengths[inner] == lengths[1]):
            # the whole pieces between the first and the last: one batched product
            a, b, m = bounds[1], bounds[R - 1], int(lengths[1])
            y[a:b] = np.matmul(windows[a:b].reshape(R - 2, m, L), taps[inner, ::-1, None]).reshape(-1)
            rows = (0, R - 1)
        else:
            rows = range(R)
        for r in rows:
            a, b = bounds[r], bounds[r + 1]
            if b > a:
                y[a:b] = windows[a:b] @ taps[r, ::-1]
    return y, buf[buf.size - (L - 1):] if L > 1 else np.zeros(0, dtype=dtype)


def piecewise_rows(offset: int, n: int, update_period: int) -> tuple[int, int, np.ndarray]:
    """Rows of a taps series updated every ``update_period`` samples (row ``r`` in force over
    stream samples ``[r P, (r+1) P)``) that cover the stream samples ``[offset, offset + n)``.

    Returns:
        ``(first_row, count, starts)``: the rows ``first_row .. first_row + count - 1`` and
        their start indices relative to ``offset`` (``starts[0] == 0``), ready for
        :func:`fir_filter_tv`.
    """
    if update_period < 1:
        raise ValueError(f"update_period must be >= 1, got {update_period}")
    if n <= 0:
        return offset // update_period, 0, np.zeros(0, dtype=np.int64)
    first = offset // update_period
    last = (offset + n - 1) // update_period
    rows = np.arange(first, last + 1, dtype=np.int64)
    starts = np.maximum(rows * update_period - offset, 0)
    return int(first), int(rows.size), starts


# ============================================================================ frequency offset
def frequency_offset(x: np.ndarray, cfo: float, phase: float = 0.0,
                     extra_phase: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """Carrier frequency offset: ``y[n] = x[n] exp(j (2 pi f n + phi + theta[n]))``.

    Args:
        x: complex samples (n,).
        cfo: ``f`` in cycles/sample (GNU Radio ``channel_model``'s ``frequency_offset``:
            the offset in Hz divided by the sample rate).
        phase: ``phi``, the phase (radians) at ``x[0]``: 0 at the start of a stream, then what
            the previous call returned.
        extra_phase: optional ``theta`` (n,) radians added per sample (e.g. phase noise from
            :func:`wiener_phase_noise`); None: 0.

    Returns:
        ``(y, next_phase)`` with ``next_phase = (phi + 2 pi f n) mod 2 pi``, the phase of the
        sample after the last one (phase-continuous across calls; ``theta`` is not included:
        it carries its own state).

    The phase is computed in float64 (``phi + 2 pi f n``, then reduced mod 2 pi) and rotated in
    the input's precision.
    """
    x = _as_stream(x)
    n = x.size
    ph = phase + _TWO_PI * float(cfo) * np.arange(n, dtype=np.float64)
    if extra_phase is not None:
        extra = np.asarray(extra_phase, dtype=np.float64)
        if extra.shape != (n,):
            raise ValueError(f"extra_phase must have shape ({n},), got {extra.shape}")
        ph = ph + extra
    y = x * phasor(ph, x.dtype)
    next_phase = math.fmod(phase + _TWO_PI * float(cfo) * n, _TWO_PI)
    return y, next_phase


def phasor(phase: np.ndarray, dtype: Any = np.complex64) -> np.ndarray:
    """``exp(j phase)`` of a float64 phase array, as ``dtype`` (the phase is reduced mod 2 pi in
    float64 first, so a complex64 result keeps its precision for large phases)."""
    phase = np.asarray(phase, dtype=np.float64)
    dtype = np.dtype(dtype)
    if dtype == np.complex128:
        out = np.empty(phase.shape, dtype=np.complex128)
        out.real = np.cos(phase)
        out.imag = np.sin(phase)
        return out
    red = np.remainder(phase, _TWO_PI).astype(np.float32)
    out = np.empty(phase.shape, dtype=np.complex64)
    out.real = np.cos(red)
    out.imag = np.sin(red)
    return out


# ============================================================================ phase noise
def phase_noise_variance(linewidth: float, sample_rate: float) -> float:
    """Variance (rad^2) of one Wiener phase increment: ``2 pi beta / f_s`` for a 3 dB linewidth
    ``beta`` (Hz) at sample rate ``f_s`` (Hz)."""
    if linewidth < 0:
        raise ValueError(f"linewidth must be >= 0, got {linewidth}")
    if not sample_rate > 0:
        raise ValueError(f"sample_rate must be > 0, got {sample_rate}")
    return _TWO_PI * float(linewidth) / float(sample_rate)


def wiener_phase_noise(gen: np.random.Generator, n: int, linewidth: float, sample_rate: float,
                       phase: float = 0.0) -> tuple[np.ndarray, float]:
    """Wiener (random-walk) phase noise: ``theta[i] = theta[i-1] + w[i]``, ``theta[-1] = phase``,
    ``w[i] ~ N(0, 2 pi beta / f_s)`` i.i.d. from ``gen``.

    Args:
        gen: numpy Generator (``n`` standard normals are drawn from it, in order).
        n: number of samples.
        linewidth: 3 dB linewidth ``beta`` of the oscillator (Hz); 0 gives a constant phase.
        sample_rate: ``f_s`` (Hz).
        phase: the last phase of the previous call (0 at the start).

    Returns:
        ``(theta, last)``: float64 (n,) phases in radians and the last one (``phase`` if n = 0),
        the state for the next call. The sum runs sequentially from ``phase``, so a stream
        split anywhere gives bit-identical phases.
    """
    var = phase_noise_variance(linewidth, sample_rate)
    if n <= 0:
        return np.zeros(0, dtype=np.float64), float(phase)
    steps = np.empty(n + 1, dtype=np.float64)
    steps[0] = phase
    steps[1:] = gen.standard_normal(n)
    steps[1:] *= math.sqrt(var)
    theta = np.cumsum(steps)[1:]
    return theta, float(theta[-1])


# ============================================================================ AWGN
def awgn(gen: np.random.Generator, n: int, noise_var: float, dtype: Any = np.complex64) -> np.ndarray:
    """``n`` samples of circularly-symmetric complex Gaussian noise ``CN(0, s2)`` from ``gen``
    (real and imaginary parts independent ``N(0, s2/2)``, interleaved in one draw of 2n
    normals, so a stream split anywhere draws the same noise). ``noise_var = 0``: zeros (and no
    draw)."""
    dtype = np.dtype(dtype)
    if noise_var < 0:
        raise ValueError(f"noise_var must be >= 0, got {noise_var}")
    if n <= 0 or noise_var == 0:
        return np.zeros(max(n, 0), dtype=dtype)
    real = np.float64 if dtype == np.complex128 else np.float32
    buf = gen.standard_normal((n, 2), dtype=real)
    buf *= real(math.sqrt(noise_var / 2.0))
    return buf.view(dtype).reshape(n)


# ============================================================================ resampler
def default_bandwidth(ntaps: int) -> float:
    """Design band ``B`` (cycles/sample) of the interpolating FIR: ``0.5 - 1.2 / ntaps``
    (0.35 for 8 taps, 0.425 for 16)."""
    return 0.5 - 1.2 / ntaps


@functools.lru_cache(maxsize=8)
def interpolator_table(ntaps: int = RESAMPLER_NTAPS, nsteps: int = RESAMPLER_NSTEPS,
                       bandwidth: float | None = None) -> np.ndarray:
    """Polyphase table of the MMSE interpolating FIR: float64 (nsteps + 1, ntaps).

    Row ``p`` interpolates at ``mu = p / nsteps``: ``x(i + mu) ~ sum_j T[p, j] x[i - c + j]``
    with ``c = ntaps/2 - 1`` (3 for 8 taps). Each row minimises the mean squared error
    ``int_{-B}^{B} |sum_j T[p, j] e^{-j 2 pi f j} - e^{-j 2 pi f (c + mu)}|^2 df`` for a signal
    with a flat spectrum on ``|f| <= B`` (the design of GNU Radio's ``gen_interpolator_taps``)
    under the constraint ``sum_j T[p, j] = 1`` (exact unit gain at DC): the normal equations
    ``R t + lambda 1 = r``, ``1' t = 1`` with ``R[j, k] = sinc(2B (j - k))`` and
    ``r[j] = sinc(2B (j - c - mu))``. Rows 0 and ``nsteps`` are exact unit impulses (an integer
    position is copied, not filtered).

    Error of 8 taps (B = 0.35): for a flat spectrum on ``|f| <= b``, averaged over mu, about
    -50 dB for b <= 0.2, -49 dB for b = 0.3, -47 dB for b = 0.35 and -31 dB for b = 0.4; for a
    single tone at the worst mu, -43 dB up to 0.2, -39.5 dB at 0.3, -31 dB at 0.35 and -14 dB at
    0.4 cycles/sample. 16 taps (B = 0.425): below -50 dB on average up to b = 0.42 and -39 dB
    for the worst tone at 0.4 (what a signal filling 0.8 of the band, such as OFDM with 52 of 64
    carriers, needs).
    """
    if ntaps < 2 or ntaps % 2:
        raise ValueError(f"ntaps must be even and >= 2, got {ntaps}")
    if nsteps < 1:
        raise ValueError(f"nsteps must be >= 1, got {nsteps}")
    B = default_bandwidth(ntaps) if bandwidth is None else float(bandwidth)
    if not 0.0 < B < 0.5:
        raise ValueError(f"bandwidth must lie in (0, 0.5), got {B}")
    c = ntaps // 2 - 1
    j = np.arange(ntaps)
    K = np.zeros((ntaps + 1, ntaps + 1))
    K[:ntaps, :ntaps] = np.sinc(2 * B * (j[:, None] - j[None, :]))
    K[:ntaps, ntaps] = K[ntaps, :ntaps] = 1.0
    mu = np.arange(nsteps + 1) / nsteps
    rhs = np.ones((ntaps + 1, nsteps + 1))
    rhs[:ntaps] = np.sinc(2 * B * (j[:, None] - c - mu[None, :]))
    table = np.linalg.solve(K, rhs)[:ntaps].T
    table[0] = 0.0
    table[0, c] = 1.0
    table[-1] = 0.0
    table[-1, c + 1] = 1.0
    table.setflags(write=False)
    return table


@dataclass(frozen=True)
class ResamplerState:
    """State of :func:`resample` between calls.

    Output sample ``k`` (counted from the start of the stream) is read at the input position
    ``t_k = anchor_t + (k - anchor_k) * epsilon`` (absolute input-sample units, so a stream cut
    anywhere reads the same positions); ``anchor_t`` already includes ``-delay``.

    Attributes:
        history: input samples kept from absolute index ``start`` on.
        start: absolute input index of ``history[0]``.
        n_in: input samples consumed so far.
        k_next: index of the next output sample.
        anchor_t, anchor_k: the position line (re-anchored when epsilon or delay change).
        epsilon, delay: the values the line was drawn with.
    """

    history: np.ndarray
    start: int
    n_in: int
    k_next: int
    anchor_t: float
    anchor_k: int
    epsilon: float
    delay: float

    @classmethod
    def initial(cls, epsilon: float = 1.0, delay: float = 0.0) -> "ResamplerState":
        """The state at the start of a stream (inputs before it read as zeros)."""
        return cls(np.zeros(0, dtype=np.complex64), 0, 0, 0, -float(delay), 0, float(epsilon), float(delay))

    def position(self, k: Any) -> Any:
        """Input position ``t_k`` (float64) of output sample(s) ``k``."""
        return self.anchor_t + (np.asarray(k, dtype=np.float64) - self.anchor_k) * self.epsilon

    def output_index(self, t: float) -> float:
        """The (fractional) output index at which input position ``t`` is read."""
        return self.anchor_k + (float(t) - self.anchor_t) / self.epsilon

    def retuned(self, epsilon: float, delay: float) -> "ResamplerState":
        """The state with a new epsilon / delay from the next output sample on (the position
        moves by the change of delay, then advances ``epsilon`` per output)."""
        epsilon, delay = float(epsilon), float(delay)
        if epsilon == self.epsilon and delay == self.delay:
            return self
        t_next = float(self.position(self.k_next)) + self.delay - delay
        return replace(self, anchor_t=t_next, anchor_k=self.k_next, epsilon=epsilon, delay=delay)


def _check_timing(epsilon: float, delay: float) -> None:
    if not (math.isfinite(epsilon) and epsilon > 0):
        raise ValueError(f"epsilon must be a finite number > 0, got {epsilon}")
    if not (math.isfinite(delay) and delay >= 0):
        raise ValueError(f"delay must be a finite number >= 0 (samples), got {delay}")


def resample(x: np.ndarray, epsilon: float = 1.0, delay: float = 0.0, state: ResamplerState | None = None,
             *, ntaps: int = RESAMPLER_NTAPS, nsteps: int = RESAMPLER_NSTEPS,
             bandwidth: float | None = None) -> tuple[np.ndarray, ResamplerState]:
    """Fractional resampler with a constant delay: ``y[k] = x(epsilon k - d)``.

    Args:
        x: complex input samples (n,), the next piece of the stream.
        epsilon: ratio of input to output sample rate (GNU Radio ``mmse_resampler_cc``'s
            ``resamp_ratio`` / ``channel_model``'s ``epsilon``): 1.0 none, ``1 + 20e-6`` for
            +20 ppm. About ``n / epsilon`` samples come out per ``n`` in; a tone at ``f``
            cycles/sample comes out at ``f * epsilon``.
        delay: ``d >= 0``, constant delay in (fractional) input samples.
        state: what the previous call returned (None: start of the stream).
        ntaps, nsteps, bandwidth: the interpolating FIR (see :func:`interpolator_table`).

    Returns:
        ``(y, state)``: the output samples that the input so far determines (the FIR reads
        ``ntaps/2`` samples ahead, so the last few output samples of a piece come with the next
        one) and the new state. Changing ``epsilon``/``delay`` between calls retunes from the
        next output sample on (:meth:`ResamplerState.retuned`).

    Output ``k`` reads position ``t = epsilon k - d`` (input samples before the stream read as
    zeros), ``i = floor(t)``, ``mu = t - i``, and computes ``sum_j T[p, j] x[i - c + j]`` with
    ``p = round(mu * nsteps)``: one gather and ``ntaps`` vectorised multiply-adds per call.
    With ``epsilon = 1`` and an integer ``d`` it is an exact delay.
    """
    x = _as_stream(x)
    dtype = x.dtype
    epsilon, delay = float(epsilon), float(delay)
    _check_timing(epsilon, delay)
    st = ResamplerState.initial(epsilon, delay) if state is None else state.retuned(epsilon, delay)
    table = interpolator_table(ntaps, nsteps, bandwidth)
    c = ntaps // 2 - 1
    ahead = ntaps - 1 - c                        # samples read after floor(t)
    n_in = st.n_in + x.size
    buf = np.concatenate([st.history.astype(dtype, copy=False), x])
    # outputs k >= k_next with floor(t_k) + ahead <= n_in - 1, i.e. t_k < n_in - ahead
    limit = n_in - ahead
    k_end = st.k_next
    if float(st.position(st.k_next)) < limit:
        k_end = st.anchor_k + math.ceil((limit - st.anchor_t) / epsilon)
        while float(st.position(k_end - 1)) >= limit:
            k_end -= 1
        while float(st.position(k_end)) < limit:
            k_end += 1
    k = np.arange(st.k_next, k_end, dtype=np.int64)
    if k.size:
        t = st.position(k)
        i = np.floor(t)
        p = np.rint((t - i) * nsteps).astype(np.intp)
        base = i.astype(np.int64) - c - st.start
        lo = int(base[0])
        if lo < 0:                               # reads before the kept history: zeros
            buf = np.concatenate([np.zeros(-lo, dtype=dtype), buf])
            base = base - lo
        coef = table.astype(np.float32 if dtype == np.complex64 else np.float64, copy=False)[p]
        y = coef[:, 0] * buf[base]
        for j in range(1, ntaps):
            y += coef[:, j] * buf[base + j]
        y = y.astype(dtype, copy=False)
        if lo < 0:
            buf = buf[-lo:]
    else:
        y = np.zeros(0, dtype=dtype)
    # keep the samples from the next read position (minus a margin) on
    t_next = float(st.position(k_end))
    keep_from = min(max(st.start, math.floor(t_next) - c - RESAMPLER_HISTORY), n_in)
    history = buf[keep_from - st.start:].copy()
    new = replace(st, history=history, start=keep_from, n_in=n_in, k_next=int(k_end))
    return y, new


__all__ = [
    "RESAMPLER_HISTORY", "RESAMPLER_NSTEPS", "RESAMPLER_NTAPS", "ResamplerState", "awgn", "default_bandwidth",
    "fir_filter", "fir_filter_tv", "frequency_offset", "interpolator_table", "phase_noise_variance", "phasor",
    "piecewise_rows", "resample", "wiener_phase_noise",
]
