"""Image quality metrics as pure functions: MSE (dB), PSNR, SSIM, MS-SSIM.

All take a reference and a reconstruction of shape (B, C, H, W) (numpy arrays or torch tensors
on any device; float, values in ``[0, data_range]``) and return per-image values (B,) as a
float64 numpy array, so sinks and reports can aggregate them.

* ``MSE = mean_{c,h,w} (s - s_hat)^2`` per image; ``MSE_dB = 10 log10(MSE)``.
* ``PSNR = 10 log10(R^2 / MSE)`` with R = ``data_range`` (1 for images in [0, 1]); ``inf``
  when the images are identical.
* SSIM (Wang et al., IEEE TIP 2004, eq. 13) with an 11x11 Gaussian window, sigma 1.5,
  K1 = 0.01, K2 = 0.03, averaged over the valid window positions and the channels — the
  convention of ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)`` (the tests compare the two). Computed with pytorch-msssim.
  Images smaller than the window use the largest odd window that fits.
* MS-SSIM (Wang, Simoncelli, Bovik 2003) with the standard five scales and weights
  (pytorch-msssim); it needs the short side > (11 - 1) * 2^4 = 160 pixels, and
  :func:`ms_ssim` returns None for smaller images (e.g. 32x32 patches) rather than a number
  computed on a different definition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

#: SSIM Gaussian window size and standard deviation.
SSIM_WIN = 11
SSIM_SIGMA = 1.5
#: Smallest short side for the five-scale MS-SSIM: (win - 1) * 2^4 + 1.
MS_SSIM_MIN_SIDE = (SSIM_WIN - 1) * 2 ** 4 + 1


def _as_tensor(x: Any, device: Any = None) -> torch.Tensor:
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    t = t.detach()
    if device is not None:
        t = t.to(device)
    if not t.is_floating_point():
        t = t.float()
    return t


def _pair(ref: Any, rec: Any) -> tuple[torch.Tensor, torch.Tensor]:
    a = _as_tensor(ref)
    b = _as_tensor(rec, a.device)
    if a.shape != b.shape:
        raise ValueError(f"reference {tuple(a.shape)} and reconstruction {tuple(b.shape)} differ in shape")
    if a.ndim != 4:
        raise ValueError(f"images must be (B, C, H, W), got {tuple(a.shape)}")
    dt = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)
    return a.to(dt), b.to(dt)


def mse(ref: Any, rec: Any) -> np.ndarray:
    """Per-image mean squared error (B,)."""
    a, b = _pair(ref, rec)
    return (a.double() - b.double()).square().flatten(1).mean(1).cpu().numpy()


def mse_db(mse_value: Any) -> np.ndarray:
    """``10 log10(MSE)`` (``-inf`` for 0)."""
    m = np.asarray(mse_value, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(m)


def psnr_from_mse(mse_value: Any, data_range: float = 1.0) -> np.ndarray:
    """``PSNR = 10 log10(R^2 / MSE)`` in dB (``inf`` where MSE = 0)."""
    m = np.asarray(mse_value, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range ** 2 / m)


def psnr(ref: Any, rec: Any, data_range: float = 1.0) -> np.ndarray:
    """Per-image PSNR in dB (B,)."""
    return psnr_from_mse(mse(ref, rec), data_range)


def _win_size(h: int, w: int) -> int:
    side = min(h, w, SSIM_WIN)
    return side if side % 2 else side - 1


def ssim(ref: Any, rec: Any, data_range: float = 1.0) -> np.ndarray:
    """Per-image SSIM (B,), mean over channels and valid window positions (see module doc)."""
    from pytorch_msssim import ssim as _ssim

    a, b = _pair(ref, rec)
    win = _win_size(a.shape[-2], a.shape[-1])
    if win < 3:
        raise ValueError(f"images of {tuple(a.shape[-2:])} are too small for SSIM")
    out = _ssim(a, b, data_range=data_range, size_average=False, win_size=win, win_sigma=SSIM_SIGMA)
    return out.double().cpu().numpy()


def ms_ssim(ref: Any, rec: Any, data_range: float = 1.0) -> np.ndarray | None:
    """Per-image five-scale MS-SSIM (B,), or None when the short side is < 161 pixels."""
    from pytorch_msssim import ms_ssim as _ms_ssim

    a, b = _pair(ref, rec)
    if min(a.shape[-2], a.shape[-1]) < MS_SSIM_MIN_SIDE:
        return None
    out = _ms_ssim(a, b, data_range=data_range, size_average=False, win_size=SSIM_WIN, win_sigma=SSIM_SIGMA)
    return out.double().cpu().numpy()

