"""Channel and noise estimation on the comb pilots.

Per OFDM symbol s the least-squares estimate on pilot p is ``H_ls[s, p] = Y[s, p] / X[s, p]``
(``|X| = 1``: the error is ``W / X``, variance s2). It is carried to every used carrier by a
fixed linear map ``H[s, :] = H_ls[s, :] @ A`` and, optionally, averaged over ``2 T + 1``
neighbouring symbols (a channel that varies slowly against the symbol rate):

* ``"ls"`` — linear interpolation across frequency between neighbouring pilots (the pilots sit
  at both band edges, so no extrapolation);
* ``"lmmse"`` — the robust LMMSE interpolator (Edfors et al., "OFDM channel estimation by
  singular value decomposition"): a uniform power delay profile over the first L samples of
  the FFT window (L = the cyclic prefix: the span a channel may occupy in the window without
  inter-symbol interference), so no such channel is penalised, whatever its delays::

      R(dk) = E[H_k conj(H_{k - dk})] = (1/L) sum_{t<L} exp(-j 2 pi dk t / N)
      H_u = R_up (R_pp + s2 / T' I)^-1 H_p                       (pilots -> used carriers)

  with T' = 2 T + 1 when T symbols on each side are averaged (the averaged LS noise is s2 / T').
  (An exponential profile of a guessed RMS delay spread interpolates better when the guess is
  right and badly when a realisation puts its energy late: over TDL-A it cost up to 15 dB of
  NMSE on single bursts.)

The expected error variance of the estimate on carrier k (what the equaliser and the denoisers
may add to the noise) is returned with it: for LS, ``s2 / T' * sum_p A[p, k]^2`` (interpolation
of independent pilot errors; the model error of linear interpolation is not counted); for LMMSE,
the diagonal of ``R_uu - R_up (R_pp + s2/T' I)^-1 R_pu``.

Noise: the two LTS copies see the same channel, so ``s2 = mean |Y1 - Y2|^2 / 2`` over the used
carriers, unbiased whatever the channel.

Sionna PHY's ``LSChannelEstimator`` (``interpolation_type="lin"``) gives the same LS numbers on
the same grid (``tests/dsp/ofdm`` checks it); the receiver uses this numpy form because it runs
once per burst in a streaming loop, where Sionna's per-call overhead (measured in
``semradio bench phy``) would cost more than the whole estimate.

    >>> import numpy as np
    >>> from semradio.dsp.ofdm.numerology import OFDMConfig
    >>> cfg = OFDMConfig()
    >>> a, var = interpolation_matrix(cfg, "ls", noise_var=0.1)
    >>> a.shape, bool(np.allclose(a.sum(axis=0), 1.0))
    ((14, 52), True)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .numerology import OFDMConfig

ESTIMATORS = ("ls", "lmmse")
#: Where the channel estimate comes from: the long training symbol tracked by the pilots, or the
#: pilots of each symbol alone.
REFERENCES = ("auto", "preamble", "pilots")


def noise_var_from_lts(y1: np.ndarray, y2: np.ndarray) -> float:
    """``mean |Y1 - Y2|^2 / 2`` over the used carriers of two LTS copies (frequency domain, in
    the transmitter's units)."""
    d = y1 - y2
    return float(np.mean(d.real * d.real + d.imag * d.imag) / 2.0)


def _linear_map(cfg: OFDMConfig) -> np.ndarray:
    """(n_pilots, n_used): linear interpolation in the used-carrier position (the DC gap counts
    as one carrier position, so the map is linear in frequency)."""
    used = cfg.used.astype(np.float64)
    pil = cfg.pilots.astype(np.float64)
    a = np.zeros((pil.size, used.size))
    j = np.clip(np.searchsorted(pil, used, side="right") - 1, 0, pil.size - 2)
    w = (used - pil[j]) / (pil[j + 1] - pil[j])
    a[j, np.arange(used.size)] += 1.0 - w
    a[j + 1, np.arange(used.size)] += w
    return a


def _freq_corr(cfg: OFDMConfig, length: int, k1: np.ndarray, k2: np.ndarray) -> np.ndarray:
    """``R(k1 - k2)`` of the uniform power delay profile over ``length`` samples (module
    docstring), as ``F1 F2^H / L`` with ``F[k, t] = exp(-j 2 pi k t / N)`` (memory
    ``O((|k1| + |k2|) L)``)."""
    t = np.arange(length, dtype=np.float64)
    f1 = np.exp(-2j * math.pi * np.outer(k1.astype(np.float64), t) / cfg.fft_size)
    f2 = np.exp(-2j * math.pi * np.outer(k2.astype(np.float64), t) / cfg.fft_size)
    return f1 @ f2.conj().T / length


@functools.lru_cache(maxsize=256)
def _maps(cfg: OFDMConfig, kind: str, noise_q: float, window: int, length: int) -> tuple[np.ndarray, np.ndarray]:
    avg_var = noise_q / (2 * window + 1)
    if kind == "ls":
        a = _linear_map(cfg)
        var = avg_var * np.sum(a * a, axis=0)
    elif kind == "lmmse":
        rpp = _freq_corr(cfg, length, cfg.pilots, cfg.pilots)   # Hermitian
        rpu = _freq_corr(cfg, length, cfg.pilots, cfg.used)     # R_pu = R_up^H
        inv = np.linalg.inv(rpp + avg_var * np.eye(cfg.pilots.size))
        # rows: H_u^T = H_p^T (R_pp + v I)^-T R_up^T = H_p^T conj(inv R_pu)
        a = np.conj(inv @ rpu)
        var = np.real(1.0 - np.sum(np.conj(rpu) * (inv @ rpu), axis=0))
        var = np.maximum(var, 0.0)
    else:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {kind!r}")
    a.setflags(write=False)
    var.setflags(write=False)
    return a, var


def interpolation_matrix(cfg: OFDMConfig, kind: str = "ls", noise_var: float = 0.0, window: int = 0,
                         length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(A (n_pilots, n_used), error variance (n_used,))`` of the ``kind`` estimator (module
    docstring) for pilot noise ``noise_var``, time averaging over ``2 window + 1`` symbols and
    (LMMSE) a uniform delay profile over ``length`` samples (default: the CP). Cached on
    ``noise_var`` rounded to 2 significant digits."""
    q = float(f"{max(noise_var, 1e-12):.2g}")
    return _maps(cfg, kind, q, int(window), int(length if length is not None else cfg.cp_len))


def time_average(h: np.ndarray, window: int) -> np.ndarray:
    """Mean over ``2 window + 1`` neighbouring rows (fewer at the ends), along axis 0."""
    if window <= 0 or h.shape[0] == 1:
        return h
    c = np.concatenate([np.zeros((1,) + h.shape[1:], h.dtype), np.cumsum(h, axis=0)])
    n = h.shape[0]
    lo = np.clip(np.arange(n) - window, 0, n)
    hi = np.clip(np.arange(n) + window + 1, 0, n)
    return (c[hi] - c[lo]) / (hi - lo)[:, None]


def estimate_channel(cfg: OFDMConfig, y: np.ndarray, pilot_values: np.ndarray, kind: str = "ls",
                     noise_var: float = 0.0, window: int = 0, offset: float = 0.0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Channel on every used carrier of every symbol, and its expected error variance per carrier.

    Args:
        y: received used-carrier values (S, n_used).
        pilot_values: the known pilots (S, n_pilots).
        kind / noise_var / window: see :func:`interpolation_matrix`.
        offset: samples the FFT windows start before the end of the CP (the receiver's backoff).
            For ``"ls"`` the linear phase ``exp(-j 2 pi k offset / N)`` it puts on the channel is
            removed before interpolating and put back after (linear interpolation of a steep
            phase ramp loses magnitude); the LMMSE model already spans the window's first CP.
    Returns:
        ``(H (S, n_used), error variance (n_used,))``.
    """
    h_ls = y[:, cfg.pilot_pos] / pilot_values
    h_ls = time_average(h_ls, window)
    ramp = None
    if offset and kind == "ls":
        ramp = np.exp(-2j * math.pi * cfg.used * offset / cfg.fft_size)
        h_ls = h_ls / ramp[cfg.pilot_pos]
    a, var = interpolation_matrix(cfg, kind, noise_var, window)
    h = h_ls @ a
    return (h * ramp if ramp is not None else h), var


@functools.lru_cache(maxsize=16)
def _pdp_eig(cfg: OFDMConfig, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Eigen-decomposition ``R = U diag(lam) U^H`` of the uniform-PDP correlation over the used
    carriers (computed once per numerology)."""
    tau = np.arange(length)
    f = np.exp(-2j * math.pi * np.outer(cfg.used, tau) / cfg.fft_size)      # (n_used, L)
    lam, u = np.linalg.eigh(f @ f.conj().T / length)
    return np.maximum(lam, 0.0), u


def smooth(cfg: OFDMConfig, kind: str, noise_var: float, h_ls: np.ndarray, length: int | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """Smooth a full-band LS channel estimate ``h_ls`` (n_used,) whose noise variance per carrier
    is ``noise_var`` (e.g. the LTS: ``s2 / 2``); returns ``(estimate (n_used,), its expected error
    variance per carrier (n_used,))``.

    * ``"ls"``: unchanged, error ``noise_var``;
    * ``"lmmse"``: the robust LMMSE smoother of Edfors et al. ("OFDM channel estimation by
      singular value decomposition", 1998) for a uniform power delay profile over the first
      ``length`` samples of the FFT window (default: the cyclic prefix, the span a channel may
      occupy in the window without inter-symbol interference): ``R = F F^H / L`` with
      ``F[k, t] = exp(-j 2 pi k t / N)``, ``h = R (R + v I)^-1 h_ls``, error
      ``diag(R - R (R + v I)^-1 R)``. It keeps every channel inside that span and removes the
      noise outside it. (The receiver's window starts ``backoff`` samples into the CP, so the
      paths it keeps are those up to ``cp_len - backoff`` samples after the first.) ``R = U diag(lam) U^H`` is
      decomposed once per numerology, so a call is two small matrix-vector products (written
      as elementwise sums: a BLAS call on 52 x 52 costs more in thread start-up than in work).
    """
    h_ls = np.asarray(h_ls)
    v = max(float(noise_var), 1e-12)
    if kind == "ls":
        return h_ls, np.full(h_ls.shape[-1], v)
    if kind != "lmmse":
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {kind!r}")
    lam, u = _pdp_eig(cfg, int(length if length is not None else cfg.cp_len))
    g = lam / (lam + v)
    coef = np.sum(u.conj() * h_ls[:, None], axis=0) * g          # U^H h, shrunk
    h = np.sum(u * coef[None, :], axis=1)
    var = np.maximum(np.sum((u.real ** 2 + u.imag ** 2) * (lam * v / (lam + v))[None, :], axis=1), 0.0)
    return h, var


SLOPES = ("linear", "window", "none")


def track_phase(cfg: OFDMConfig, y: np.ndarray, pilot_values: np.ndarray, h_ref: np.ndarray,
                window: int = 0, slope: str = "linear") -> np.ndarray:
    """Per-symbol phase of the received pilots against a reference channel: the common phase
    error ``a_s`` (residual CFO, phase noise) and the slope ``b_s`` across carriers (residual
    timing, sampling-rate offset), so that ``H[s, k] = h_ref[k] exp(j (a_s + b_s k))``.

    With ``c[s, p] = Y[s, p] conj(X[s, p] h_ref[p])`` (maximum-ratio weights ``|h_ref|^2``) and
    ``z_s = sum_p c[s, p+1] conj(c[s, p])``:

    * ``slope="linear"`` (default): ``b_s = b_0 + b_1 s``, the weighted least-squares line through
      ``angle(z_s) / dk`` (weights ``|z_s|``) — a sampling-rate offset makes the timing drift
      linearly, and a line through every symbol of the burst is far less noisy at low SNR than
      per-symbol slopes;
    * ``"window"``: ``b_s = angle(sum over 2 window + 1 symbols of z) / dk``;
    * ``"none"``: ``b_s = 0`` (a short span right after the LTS, e.g. the header);

    then ``a_s = angle(sum_p c[s, p] exp(-j b_s k_p))`` summed over the ``2 window + 1`` symbols
    around s (phase noise wanders, so the common phase stays local).

    Args:
        y: received used-carrier values (S, n_used).
        pilot_values: the known pilots (S, n_pilots).
        h_ref: reference channel on the used carriers (n_used,).
        window: symbols averaged on each side.
        slope: "linear", "window" or "none".
    Returns:
        complex128 (S, n_used): ``exp(j (a_s + b_s k))``.
    """
    k = cfg.pilots.astype(np.float64)
    c = y[:, cfg.pilot_pos] * np.conj(pilot_values * h_ref[cfg.pilot_pos][None, :])
    n = c.shape[0]
    if slope == "none":
        b = np.zeros(n)
    else:
        dk = float(np.mean(np.diff(k)))
        z = np.sum(c[:, 1:] * np.conj(c[:, :-1]), axis=1)
        if slope == "window" or n < 3:
            b = np.angle(time_average(z[:, None], window)[:, 0]) / dk
        elif slope == "linear":
            w = np.abs(z) + 1e-30
            t = np.arange(n, dtype=np.float64)
            ang = np.angle(z) / dk
            sw, st, stt = w.sum(), (w * t).sum(), (w * t * t).sum()
            sa, sta = (w * ang).sum(), (w * t * ang).sum()
            det = sw * stt - st * st
            b1 = (sw * sta - st * sa) / det if det > 0 else 0.0
            b = (sa - b1 * st) / sw + b1 * t
        else:
            raise ValueError(f"slope must be one of {SLOPES}, got {slope!r}")
    zc = time_average(np.sum(c * np.exp(-1j * b[:, None] * k[None, :]), axis=1, keepdims=True), window)[:, 0]
    a = np.angle(zc)
    return np.exp(1j * a)[:, None] * _ramp_powers(np.exp(1j * b), cfg.used)


def _ramp_powers(z: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``z[:, None] ** k[None, :]`` for unit-modulus ``z`` and integer ``k`` (|k| <= W) by cumulative
    products (a complex exponential per element costs ten times more)."""
    w = int(np.max(np.abs(k)))
    pos = np.cumprod(np.broadcast_to(z[:, None], (z.size, w)), axis=1)        # z^1 .. z^W
    table = np.concatenate([np.conj(pos[:, ::-1]), np.ones((z.size, 1), pos.dtype), pos], axis=1)  # z^-W .. z^W
    return table[:, k + w]


__all__ = ["ESTIMATORS", "REFERENCES", "SLOPES", "smooth", "track_phase", "noise_var_from_lts", "interpolation_matrix", "time_average", "estimate_channel"]
