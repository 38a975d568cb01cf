"""Pure channel-side math: power normalization, fading gains, the channel of eq. (1), the
MMSE/ZF equalizers and the Lemma 1 weights (seed 000, eqs. 1-4; seed 003, eqs. 15-22).

Every function takes numpy arrays or torch tensors (CPU or CUDA) and returns the same kind on
the same device; complex payloads are complex64, real ones float32. Blocks in ``power.py``,
``channel.py`` and ``equalizer.py`` add streaming, state and ports around these functions;
tests check them against closed forms.

Conventions (notation of seed 000):

* real form of a complex vector ``c`` (length k): ``[Re c; Im c]`` (length 2k), and back
  ``c = r[:k] + j r[k:]`` (:func:`complex_to_real`, :func:`real_to_complex`);
* ``noise_var`` = s2 = E|n|^2, the complex noise variance; ``n ~ CN(0, s2)``, so each real
  component has variance s2/2; SNR = Px/s2, SINR = Px/(Pz + s2);
* the received signal is ``y_c = sqrt(Px) h_x x_c + sqrt(Pz) h_z z_c + n`` (eq. 1).

Lemma 1 weights (eq. 3) and their tag encoding (what :func:`equalize` returns), with ``h`` the
receiver's CSI and ``d`` the per-symbol denominator (``|h|^2 + s2`` for MMSE, ``|h|^2`` for ZF,
both floored at :data:`DENOMINATOR_FLOOR`):

* ``W_s`` real (B, 2k): the diagonal ``|h|^2/d``, repeated for the Re and Im halves;
* ``W_n`` real (B, 2k): the diagonal ``|h|/d``, repeated for both halves;
* ``W_z`` real (B, 2k): the compact form ``[Re c; Im c]`` with ``c = h/d``. It encodes the
  2k x 2k block matrix ``[[diag(Re c), diag(Im c)], [-diag(Im c), diag(Re c)]]``, which is
  Lemma 1's ``[[H_r, H_i], [-H_i, H_r]] (H^2 + s2 I)^-1`` (the real form of multiplying by
  ``conj(c) = conj(h)/d``). :func:`apply_w_z` applies it to a real vector, :func:`w_z_matrix`
  expands it to the dense matrix.

With these, the equalized output ``y = [Re; Im](conj(c) y_c)`` satisfies exactly (up to float
rounding, and when the CSI is perfect)::

    y = sqrt(Px) W_s x + sqrt(Pz) W_z z + W_n n'      (eq. 3)

where ``x``, ``z`` are the real forms of ``x_c`` and ``h_z z_c`` and ``n'`` is the real form of
the rotated noise ``conj(h) n / |h|`` (:func:`rotate_noise`), which has the law of ``n``
(the proof's "resampling trick").
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semradio.dsp import arrays as A
Array = Any

#: Smallest equalizer denominator ``d``: keeps ZF (and MMSE at s2 = 0) finite when h = 0.
DENOMINATOR_FLOOR = 1e-30

#: Fading models of :func:`fading_gains`.
FADING_MODELS = ("awgn", "rayleigh", "rician")
#: Equalizer kinds of :func:`equalize`.
EQUALIZER_KINDS = ("mmse", "zf")


# ------------------------------------------------------------------------- dB and powers
def db_to_linear(db: float) -> float:
    """``10^(db/10)``."""
    return 10.0 ** (float(db) / 10.0)


def linear_to_db(value: float) -> float:
    """``10 log10(value)`` (``-inf`` for 0, ``inf`` for inf)."""
    value = float(value)
    if value <= 0.0:
        return -math.inf
    return 10.0 * math.log10(value)


def noise_var_from_snr(snr_db: float, px: float = 1.0) -> float:
    """Complex noise variance ``s2 = Px / 10^(snr_db/10)`` (0 for ``snr_db = inf``)."""
    if math.isinf(snr_db) and snr_db > 0:
        return 0.0
    return float(px) / db_to_linear(snr_db)


def interference_power_from_sinr(sinr_db: float, noise_var: float, px: float = 1.0) -> float:
    """``Pz = Px / 10^(sinr_db/10) - s2`` so that SINR = Px/(Pz + s2).

    Raises:
        ValueError: when the SINR exceeds the SNR (Pz would be negative).
    """
    total = float(px) / db_to_linear(sinr_db)
    pz = total - float(noise_var)
    if pz < 0.0:
        if pz > -1e-9 * max(total, float(noise_var)):  # SINR == SNR up to rounding
            return 0.0
        raise ValueError(f"SINR {sinr_db:g} dB is above the SNR {linear_to_db(px / noise_var) if noise_var else math.inf:g} dB: "
                         f"Pz = Px/SINR - s2 = {pz:.3g} < 0")
    return pz


def sinr_db_of(px: float, pz: float, noise_var: float) -> float:
    """``10 log10(Px / (Pz + s2))``."""
    denom = float(pz) + float(noise_var)
    return math.inf if denom == 0.0 else linear_to_db(float(px) / denom)


# ------------------------------------------------------------------------ real <-> complex
def real_to_complex(x: Array) -> Array:
    """``x_c = x[..., :k] + j x[..., k:]`` for a real (..., 2k) array -> complex64 (..., k)."""
    k2 = x.shape[-1]
    if k2 % 2:
        raise ValueError(f"real vector length must be even (2k), got {k2}")
    k = k2 // 2
    if A.is_torch(x):
        torch = A._torch()
        x = x.to(torch.float32)
        return torch.complex(x[..., :k], x[..., k:])
    out = np.empty(x.shape[:-1] + (k,), dtype=np.complex64)
    out.real = x[..., :k]
    out.imag = x[..., k:]
    return out


def complex_to_real(c: Array) -> Array:
    """``[Re c; Im c]`` for a complex (..., k) array -> float32 (..., 2k)."""
    if A.is_torch(c):
        torch = A._torch()
        return torch.cat([c.real, c.imag], dim=-1).to(torch.float32)
    k = c.shape[-1]
    out = np.empty(c.shape[:-1] + (2 * k,), dtype=np.float32)
    out[..., :k] = c.real
    out[..., k:] = c.imag
    return out


def average_power(c: Array) -> Array:
    """Per-item average power ``mean_i |c_i|^2`` over the last axis (real (B,))."""
    return A.mean_last(A.abs2(c))


# ------------------------------------------------------------------------ power normalizer
def normalize_power(x: Array, power: float = 1.0) -> Array:
    """Real latent (B, 2k) -> complex symbols (B, k) with average power ``power`` per item.

    ``x_c = x[:k] + j x[k:]`` scaled by ``sqrt(power / mean|x_c|^2)`` (seed 000 §II-A: "a
    complex-valued vector with normalized power"). Scale invariant: ``normalize_power(a x) ==
    sign(a) normalize_power(x)``. Inputs of any finite magnitude work (very large or subnormal
    items are pre-scaled by their largest magnitude before squaring).

    Raises:
        ValueError: an item is all zeros, or holds NaN/inf.
    """
    if x.shape[-1] % 2:
        raise ValueError(f"latent length must be even (2k), got {x.shape[-1]}")
    k = x.shape[-1] // 2
    torch_in = A.is_torch(x)
    if torch_in:
        torch = A._torch()
        p = x.square().sum(dim=-1) / k
        fast = bool(((p > 1e-30) & (p < 1e30)).all())
    else:
        p = np.einsum("...i,...i->...", x, x) / np.float32(k)
        fast = bool(np.all((p > 1e-30) & (p < 1e30)))
    if not fast:
        if not A.all_finite(x):
            raise ValueError("input holds NaN or inf")
        if torch_in:
            m = x.abs().amax(dim=-1, keepdim=True)
            if bool((m == 0).any()):
                raise ValueError("an item is all zeros: its power cannot be normalized")
            x = x / m
            p = x.square().sum(dim=-1) / k
        else:
            m = np.abs(x).max(axis=-1, keepdims=True)
            if np.any(m == 0):
                raise ValueError("an item is all zeros: its power cannot be normalized")
            x = x / m
            p = np.einsum("...i,...i->...", x, x) / np.float32(k)
    if torch_in:
        s = (float(power) / p).sqrt().unsqueeze(-1).to(torch.float32)
        return torch.complex(x[..., :k] * s, x[..., k:] * s)
    s = np.sqrt(np.float32(power) / p).astype(np.float32, copy=False)[..., None]
    out = np.empty(x.shape[:-1] + (k,), dtype=np.complex64)
    np.multiply(x[..., :k], s, out=out.real)
    np.multiply(x[..., k:], s, out=out.imag)
    return out


def normalize_complex_power(c: Array, power: float = 1.0) -> Array:
    """Complex symbols (B, k) scaled per item to average power ``power`` (a new array).

    Raises:
        ValueError: an item has zero or non-finite power.
    """
    p = average_power(c)
    if A.is_torch(c):
        ok = bool((A._torch().isfinite(p) & (p > 0)).all())
    else:
        ok = bool(np.all(np.isfinite(p) & (p > 0)))
    if not ok:
        raise ValueError("an item has zero or non-finite power: it cannot be normalized")
    s = A.sqrt(float(power) / p)
    return c * s[..., None]


# --------------------------------------------------------------------------- fading gains
def rayleigh_gains(gen: A.Generator, shape: tuple[int, ...], like: Array) -> Array:
    """Rayleigh gains ``h ~ CN(0, 1)`` (so ``|h|^2 ~ Exp(1)``), complex64."""
    return A.complex_normal(gen, shape, 1.0, like)


def rician_gains(gen: A.Generator, shape: tuple[int, ...], k_factor: float, los_phase: float,
                 like: Array) -> Array:
    """Rician gains (seed 003, eq. 16) with a line-of-sight phase ``phi``::

        h = sqrt(K/(K+1)) e^{j phi} + sqrt(1/(K+1)) h_Rayleigh,   E|h|^2 = 1

    ``K = 0`` is Rayleigh; ``K = inf`` is the constant ``e^{j phi}`` (AWGN up to a phase).
    """
    k_factor = float(k_factor)
    los = complex(math.cos(los_phase), math.sin(los_phase))
    if math.isinf(k_factor):
        return A.full_complex(shape, los, like)
    h = A.complex_normal(gen, shape, 1.0 / (k_factor + 1.0), like)
    if k_factor > 0.0:
        h += math.sqrt(k_factor / (k_factor + 1.0)) * los
    return h


def fading_gains(model: str, gen: A.Generator, shape: tuple[int, ...], like: Array, *,
                 k_factor: float = 0.0, los_phase: float = 0.0) -> Array:
    """Gains of a fading ``model`` ("awgn" -> ones, "rayleigh", "rician"), complex64."""
    if model == "rayleigh":
        return rayleigh_gains(gen, shape, like)
    if model == "rician":
        return rician_gains(gen, shape, k_factor, los_phase, like)
    if model == "awgn":
        return A.ones_complex(shape, like)
    raise ValueError(f"unknown fading model {model!r}; expected one of {FADING_MODELS}")


def coherence_blocks(k: int, coherence: int) -> int:
    """Number of coherence blocks of ``coherence`` symbols covering ``k`` symbols."""
    return -(-k // coherence)


def expand_coherence(h_blocks: Array, k: int, coherence: int) -> Array:
    """Per-block gains (B, ceil(k/L)) -> per-symbol gains (B, k), constant over L symbols."""
    if coherence == 1:
        return h_blocks
    h = A.repeat_last(h_blocks, coherence)
    return h if h.shape[-1] == k else h[..., :k]


def csi_estimate(h: Array, gen: A.Generator, error_var: float, like: Array) -> Array:
    """Imperfect CSI ``h_est = h + e``, ``e ~ CN(0, error_var)``; ``h`` itself if 0."""
    if error_var <= 0.0:
        return h
    e = A.complex_normal(gen, tuple(h.shape), error_var, like)
    e += h
    return e


# ------------------------------------------------------------------------------- channel
def complex_noise(gen: A.Generator, shape: tuple[int, ...], noise_var: float, like: Array) -> Array:
    """AWGN draw ``n ~ CN(0, noise_var)``, complex64."""
    return A.complex_normal(gen, shape, noise_var, like)


def interference_term(h_z: Array | None, z: Array, pz: float) -> Array:
    """``sqrt(Pz) h_z z_c`` (a new array; ``h_z=None`` means 1)."""
    w = z * h_z if h_z is not None else z * 1.0
    if pz != 1.0:
        w *= math.sqrt(pz)
    return w


def channel_output(x: Array, h: Array | None, noise: Array, px: float = 1.0,
                   interference: Array | None = None) -> Array:
    """Eq. (1): ``y_c = sqrt(Px) h x_c + [sqrt(Pz) h_z z_c] + n`` (``h=None`` means AWGN, h=1).

    ``interference`` is the already scaled term from :func:`interference_term`. Returns a new
    complex64 array; the inputs are not modified.
    """
    if h is None and px == 1.0 and interference is None:
        return x + noise
    y = x * h if h is not None else x * 1.0
    if px != 1.0:
        y *= math.sqrt(px)
    if interference is not None:
        y += interference
    y += noise
    return y


# ----------------------------------------------------------------------------- equalizer
def equalize(y_c: Array, h: Array, noise_var: float, kind: str = "mmse") -> tuple[Array, Array, Array, Array]:
    """MMSE (eq. 4; seed 003 eq. 17) or ZF equalization and the Lemma 1 weights (eq. 3).

    ``y_eq = conj(h) y_c / d`` with ``d = |h|^2 + s2`` (MMSE) or ``|h|^2`` (ZF).

    Returns:
        ``(y, W_s, W_n, W_z)``, all real float32 (B, 2k): ``y = [Re; Im](y_eq)``, the
        diagonals ``W_s = |h|^2/d`` and ``W_n = |h|/d`` (repeated for both halves) and the
        compact ``W_z = [Re; Im](h/d)`` (see the module docstring). For ZF ``W_s = 1`` and
        ``W_n = 1/|h|`` (0 where h = 0).
    """
    a2 = A.abs2(h)
    d = a2 + noise_var if (kind == "mmse" and noise_var) else a2
    if kind not in EQUALIZER_KINDS:
        raise ValueError(f"unknown equalizer {kind!r}; expected one of {EQUALIZER_KINDS}")
    d = A.maximum(d, DENOMINATOR_FLOOR)
    c = h / d
    y = complex_to_real(A.conj(c) * y_c)
    ws = a2 / d
    wn = A.sqrt(a2) / d
    return y, A.concat_last(ws, ws), A.concat_last(wn, wn), complex_to_real(c)


def identity_weights(y_c: Array) -> tuple[Array, Array, Array, Array]:
    """AWGN (Lemma 1, last sentence): no equalization, ``y = [Re; Im](y_c)``, ``W_s = W_n = I``
    (ones) and ``W_z = I`` (compact form ``[1...1; 0...0]``)."""
    y = complex_to_real(y_c)
    k = y_c.shape[-1]
    w_z = A.ones_real(tuple(y.shape), y)
    w_z[..., k:] = 0
    return y, A.ones_real(tuple(y.shape), y), A.ones_real(tuple(y.shape), y), w_z


def apply_w_z(w_z: Array, z: Array) -> Array:
    """``W_z z`` for the compact ``W_z = [Re c; Im c]`` (B, 2k) and a real ``z`` (B, 2k).

    Result ``[cr*zr + ci*zi; cr*zi - ci*zr]``, i.e. the real form of ``conj(c) (zr + j zi)``
    (numpy or torch, any leading shape).
    """
    k = w_z.shape[-1] // 2
    cr, ci = w_z[..., :k], w_z[..., k:]
    zr, zi = z[..., :k], z[..., k:]
    return A.concat_last(cr * zr + ci * zi, cr * zi - ci * zr)


def apply_w_z_t(w_z: Array, v: Array) -> Array:
    """``W_z^T v`` for the compact ``W_z = [Re c; Im c]``: ``[cr*vr - ci*vi; cr*vi + ci*vr]``, the
    real form of ``c (vr + j vi)`` (numpy or torch)."""
    k = w_z.shape[-1] // 2
    cr, ci = w_z[..., :k], w_z[..., k:]
    vr, vi = v[..., :k], v[..., k:]
    return A.concat_last(cr * vr - ci * vi, cr * vi + ci * vr)


def w_z_matrix(w_z: Array) -> Array:
    """Dense (B, 2k, 2k) ``W_z = [[diag(cr), diag(ci)], [-diag(ci), diag(cr)]]`` from the
    compact (B, 2k) form (for tests and small problems; O(k^2) memory)."""
    k = w_z.shape[-1] // 2
    cr, ci = w_z[..., :k], w_z[..., k:]
    if A.is_torch(w_z):
        torch = A._torch()
        dr, di = torch.diag_embed(cr), torch.diag_embed(ci)
        top = torch.cat([dr, di], dim=-1)
        bottom = torch.cat([-di, dr], dim=-1)
        return torch.cat([top, bottom], dim=-2)
    eye = np.eye(k, dtype=w_z.dtype)
    dr = cr[..., :, None] * eye
    di = ci[..., :, None] * eye
    top = np.concatenate([dr, di], axis=-1)
    bottom = np.concatenate([-di, dr], axis=-1)
    return np.concatenate([top, bottom], axis=-2)


def rotate_noise(n: Array, h: Array) -> Array:
    """The resampled noise of Lemma 1's proof: ``n' = conj(h) n / |h|`` (``n`` where h = 0).

    ``n'`` has the law of ``n`` (CN is rotation invariant) and ``conj(h) n / d = (|h|/d) n'``.
    """
    a = A.sqrt(A.abs2(h))
    nz = a > 0
    if A.is_torch(h):
        torch = A._torch()
        u = torch.where(nz, A.conj(h) / torch.where(nz, a, torch.ones_like(a)), torch.ones_like(h))
    else:
        u = np.where(nz, np.conj(h) / np.where(nz, a, np.float32(1)), np.complex64(1))
    return u * n


def lemma1_output(x: Array, w_s: Array, w_n: Array, n_rot: Array, px: float = 1.0,
                  z: Array | None = None, w_z: Array | None = None, pz: float = 0.0) -> Array:
    """Right-hand side of eq. (3): ``sqrt(Px) W_s x + sqrt(Pz) W_z z + W_n n'`` (real (B, 2k)).

    ``x``, ``z`` real (B, 2k) (``z`` = real form of ``h_z z_c``); ``n_rot`` complex (B, k) or
    real (B, 2k) rotated noise (:func:`rotate_noise`).
    """
    n_real = complex_to_real(n_rot) if A.is_complex(n_rot) else n_rot
    y = w_s * x
    if px != 1.0:
        y = y * math.sqrt(px)
    if z is not None and pz:
        y = y + math.sqrt(pz) * apply_w_z(w_z, z)
    return y + w_n * n_real


# ---------------------------------------------------------------------------- measurement
def evm(received: Array, reference: Array) -> float:
    """Error vector magnitude ``sqrt(sum|r - x|^2 / sum|x|^2)`` (a ratio; x100 for %)."""
    err = float(A.abs2(received - reference).sum())
    ref = float(A.abs2(reference).sum())
    return math.sqrt(err / ref) if ref > 0 else math.inf
