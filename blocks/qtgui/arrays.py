"""Pure helpers shared by the scopes: host copies, complex views, decimation, image tiles."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semradio.dsp import arrays as A
from .base import ScopeInputError

REAL_DTYPES = ("float16", "float32", "float64", "bfloat16")
COMPLEX_DTYPES = ("complex64", "complex128")


def check_array(data: Any, port: str, *, min_ndim: int = 1, kinds: str = "fc") -> str:
    """Cheap checks on the block thread: an array/tensor with at least ``min_ndim`` dims, a
    non-empty batch, and a float (``f``) or complex (``c``) dtype. Returns the dtype name.

    Raises:
        ScopeInputError: ``container``, ``shape`` or ``dtype``.
    """
    if not (A.is_torch(data) or isinstance(data, np.ndarray)):
        raise ScopeInputError("container", f"input {port!r}: expected a numpy array or torch tensor, "
                                           f"got {type(data).__name__}")
    if data.ndim < min_ndim or data.shape[0] == 0 or any(int(s) == 0 for s in data.shape):
        raise ScopeInputError("shape", f"input {port!r}: unusable shape {tuple(data.shape)}")
    dt = A.dtype_name(data)
    ok = ("f" in kinds and dt in REAL_DTYPES) or ("c" in kinds and dt in COMPLEX_DTYPES)
    if not ok:
        raise ScopeInputError("dtype", f"input {port!r}: unsupported dtype {dt}")
    return dt


def to_host(data: Any, max_items: int | None = None) -> np.ndarray:
    """A numpy view/copy of ``data`` (first ``max_items`` items only, copied off the GPU)."""
    if max_items is not None:
        data = data[:max_items]
    if A.is_torch(data):
        t = data.detach()
        if str(t.dtype) == "torch.bfloat16":
            t = t.float()
        return t.cpu().numpy()
    return np.asarray(data)


def as_complex_items(data: Any, max_items: int | None = None) -> np.ndarray:
    """Symbols of each item as complex64 (B, k).

    Complex payloads (B, ...) are flattened per item; real payloads (B, ..., 2k) are read in
    the project's real form ``[Re; Im]`` per item (first half real, second half imaginary, as
    :func:`semradio.dsp.channel.real_to_complex`).

    Raises:
        ScopeInputError: ``shape`` for a real item of odd length.
    """
    a = to_host(data, max_items)
    a = a.reshape(a.shape[0], -1)
    if np.iscomplexobj(a):
        return a.astype(np.complex64, copy=False)
    n = a.shape[1]
    if n % 2:
        raise ScopeInputError("shape", f"real symbols need an even length 2k per item, got {n}")
    k = n // 2
    out = np.empty((a.shape[0], k), np.complex64)
    out.real = a[:, :k]
    out.imag = a[:, k:]
    return out


def decimate(points: np.ndarray, max_points: int) -> np.ndarray:
    """``min(size, max_points)`` elements of a flat array, evenly spread from the start
    (indices ``floor(i * size / max_points)``; deterministic)."""
    flat = points.reshape(-1)
    if flat.size <= max_points:
        return flat
    return flat[(np.arange(max_points, dtype=np.int64) * flat.size) // max_points]


def constellation_points(data: Any, max_points: int = 2048) -> np.ndarray:
    """Complex64 points to draw for a symbol payload: :func:`as_complex_items` of the items
    needed to reach ``max_points``, decimated to ``max_points``."""
    n_item = int(np.prod(tuple(data.shape[1:]))) if len(data.shape) > 1 else 1
    per_item = max(1, n_item if A.is_complex(data) else n_item // 2)
    items = max(1, min(int(data.shape[0]), -(-max_points // per_item)))
    return decimate(as_complex_items(data, items), max_points)


def density_rgb(layers: list[tuple[np.ndarray, tuple[int, int, int]]], bins: int = 256,
                extent: float = 1.5, saturate: float = 3.0) -> np.ndarray:
    """A persistence-style picture of complex points: uint8 RGB (bins, bins, 3).

    Each layer ``(points, rgb)`` is a 2-D histogram of ``points`` over the square
    ``[-extent, extent]^2`` (row = quadrature bin from the bottom, column = in-phase bin from
    the left), drawn in ``rgb`` with an intensity rising linearly from 60 % (one point) to
    100 % (``saturate`` points or more); layers add up (clipped at 255); empty bins stay
    black.
    Points outside the square or not finite are left out.
    """
    n_sat = max(2, int(round(saturate)))
    lut = np.zeros(n_sat + 1, np.uint16)  # points in a bin -> intensity 0..255
    lut[1:] = np.round(255.0 * (0.6 + 0.4 * np.minimum(1.0, np.arange(n_sat) / (n_sat - 1))))
    acc = np.zeros((bins * bins, 3), np.uint16)
    scale = np.float32(bins / (2.0 * extent))
    for pts, rgb in layers:
        p = np.asarray(pts).reshape(-1)
        x = (p.real.astype(np.float32, copy=False) + np.float32(extent)) * scale
        y = (p.imag.astype(np.float32, copy=False) + np.float32(extent)) * scale
        ok = (x >= 0) & (x < bins) & (y >= 0) & (y < bins)  # NaN compares False
        if not ok.any():
            continue
        flat = y[ok].astype(np.int32) * bins + x[ok].astype(np.int32)
        hit, counts = np.unique(flat, return_counts=True)  # only bins with points are touched
        level = lut[np.minimum(counts, n_sat)]
        acc[hit] += level[:, None] * np.asarray(rgb, np.uint16)[None, :] // 255
    np.minimum(acc, 255, out=acc)
    return acc.astype(np.uint8).reshape(bins, bins, 3)


def magnitude_db(x: np.ndarray, floor_db: float = -60.0) -> np.ndarray:
    """``20 log10 |x|`` (float64), clipped below at ``floor_db``."""
    mag = np.abs(x).astype(np.float64)
    with np.errstate(divide="ignore"):
        out = 20.0 * np.log10(mag)
    return np.maximum(out, floor_db)


def images_nchw(data: Any, max_items: int | None = None) -> np.ndarray:
    """Images as float32 numpy (N, C, H, W) with C in {1, 3} (C = 4: alpha dropped).

    Raises:
        ScopeInputError: ``shape`` when ``data`` is not (B, C, H, W) with C in {1, 3, 4}.
    """
    a = to_host(data, max_items)
    if a.ndim != 4 or a.shape[1] not in (1, 3, 4):
        raise ScopeInputError("shape", f"images must be (B, C, H, W) with C in 1, 3, 4; got {a.shape}")
    if a.shape[1] == 4:
        a = a[:, :3]
    return a.astype(np.float32, copy=False)


def grid_shape(n: int, cols: int | None = None) -> tuple[int, int]:
    """``(rows, cols)`` of a near-square grid for ``n`` tiles (``cols`` forces the width)."""
    n = max(1, int(n))
    c = cols if cols else int(math.ceil(math.sqrt(n)))
    c = max(1, min(c, n))
    return int(math.ceil(n / c)), c


def tile_images(images: np.ndarray, n: int, data_range: float = 1.0, cols: int | None = None) -> np.ndarray:
    """The first ``n`` images of (N, C, H, W) as one uint8 RGB mosaic (rows*H, cols*W, 3).

    Values are scaled by ``255 / data_range`` and clipped; grayscale is repeated to RGB; grid
    cells without an image stay black.
    """
    imgs = images[:n]
    count, c, h, w = imgs.shape
    rows, ncols = grid_shape(count, cols)
    scaled = np.clip(imgs * (255.0 / data_range), 0.0, 255.0)
    scaled = np.nan_to_num(scaled, nan=0.0).round().astype(np.uint8)
    if c == 1:
        scaled = np.repeat(scaled, 3, axis=1)
    out = np.zeros((rows * h, ncols * w, 3), np.uint8)
    for i in range(count):
        r, q = divmod(i, ncols)
        out[r * h:(r + 1) * h, q * w:(q + 1) * w] = scaled[i].transpose(1, 2, 0)
    return out


def psnr_db(ref: np.ndarray, rec: np.ndarray, data_range: float = 1.0) -> float:
    """Mean over items of ``10 log10(R^2 / MSE)`` (``|.|^2`` for complex), in dB; ``inf`` when
    identical. ``ref``/``rec`` are (B, ...) arrays of one shape."""
    d = (rec.astype(np.complex128 if np.iscomplexobj(rec) or np.iscomplexobj(ref) else np.float64) - ref)
    mse = (np.abs(d) ** 2).reshape(d.shape[0], -1).mean(axis=1)
    with np.errstate(divide="ignore"):
        vals = 10.0 * np.log10(data_range ** 2 / mse)
    finite = vals[np.isfinite(vals)]
    if finite.size == 0:
        return math.inf
    return float(finite.mean())


def ssim_mean(ref: np.ndarray, rec: np.ndarray, data_range: float = 1.0) -> float | None:
    """Mean SSIM (Wang et al. 2004) of (B, C, H, W) images: Gaussian window sigma 1.5
    truncated at 3.5 sigma (11 x 11), K1 = 0.01, K2 = 0.03, population covariances, mean over
    the valid window positions, the channels and the images — the definition of
    ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)`` and of :func:`semradio.models.metrics.ssim`, vectorized
    with separable Gaussian filters (scipy, float32, agreeing with scikit-image to ~1e-6):
    a few milliseconds for 16 RGB 32x32 images, so the scopes compute it on their own
    threads, without torch. None when the images are
    smaller than the window."""
    from scipy.ndimage import gaussian_filter

    x = np.asarray(ref, np.float32)
    y = np.asarray(rec, np.float32)
    if x.shape != y.shape or x.ndim != 4:
        raise ScopeInputError("shape", f"SSIM needs two (B, C, H, W) arrays of one shape, got {x.shape}, {y.shape}")
    win, pad = 11, 5
    if min(x.shape[-2:]) < win:
        return None
    b, c, h, w = x.shape
    x = x.reshape(b * c, h, w)
    y = y.reshape(b * c, h, w)

    def filt(a: np.ndarray) -> np.ndarray:
        return gaussian_filter(a, sigma=(0.0, 1.5, 1.5), truncate=3.5, mode="reflect")

    ux, uy = filt(x), filt(y)
    vx = filt(x * x) - ux * ux
    vy = filt(y * y) - uy * uy
    vxy = filt(x * y) - ux * uy
    c1, c2 = np.float32((0.01 * data_range) ** 2), np.float32((0.03 * data_range) ** 2)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s[:, pad:h - pad, pad:w - pad].mean(dtype=np.float64))


__all__ = ["check_array", "to_host", "as_complex_items", "decimate", "constellation_points", "density_rgb",
           "magnitude_db",
           "images_nchw", "grid_shape", "tile_images", "psnr_db", "ssim_mean"]
