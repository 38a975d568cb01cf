"""ImageScope: original | received (no denoiser) | reconstructed images, side by side."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np

from semradio.runtime import Frame

from .arrays import check_array, images_nchw, psnr_db, ssim_mean, tile_images, to_host
from .base import ScopeBlock, ScopeInputError

#: Input ports of the image scope, in panel order (left to right).
IMAGE_PORTS = ("original", "received", "reconstructed")


class ImageScope(ScopeBlock):
    """Image scope: the first images of the newest frame at up to three points of the chain,
    side by side, each captioned with its PSNR (dB) and SSIM against the original.

    What is drawn (by :class:`semradio.blocks.qtgui.qt.ImageView`): one panel per connected
    input, each the mosaic of :func:`semradio.blocks.qtgui.arrays.tile_images` (uint8 RGB,
    rows*H x cols*W pixels); captions ``PSNR xx.xx dB  SSIM 0.xxx`` (means over the shown
    images; SSIM with an 11x11 Gaussian window, sigma 1.5) computed on the GUI thread.
    With ``received`` and ``reconstructed`` both connected, the scope also keeps the
    denoiser's gain: the mean over the last ``gain_frames`` frames (25) of
    ``PSNR(reconstructed) - PSNR(received)`` over all the frame's images, the two PSNRs of the
    same frame (paired: what differs is the denoiser, not the images), restarted when the SNR
    or the denoiser changes; the tags then carry ``denoiser_gain_db`` and ``gain_frames``
    (drawn in the reconstructed panel's caption). A 32x32 patch's few tenths of a dB are hard
    to see by eye: this number is the visible part.

    Parameters
    ----------
    max_images : int, default 4
        Images shown per panel, as a near-square mosaic. Settable at run time.
    data_range : float, default 1.0
        The R of PSNR = 10 log10(R^2/MSE).
    max_rate_hz : float, optional
        Frames accepted per second at most (None: 10; see :class:`ScopeBlock`). Settable at run
        time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    gain_frames : int
        Frames averaged for the denoiser's gain (25).

    Raises
    ------
    ValueError
        At construction or when set, for ``max_images < 1`` or ``max_rate_hz <= 0``. Bad input
        (not (B, C, H, W), shapes that differ from the original) never raises: it is counted in
        :attr:`rejected` and dropped.

    Notes
    -----
    **Inputs**

    Aligned by ``seq``, fed through real-time edges:

    ``original`` : float32 (B, C, H, W)
        The source images, C in {1, 3}, values in ``[0, data_range]`` (numpy or torch, any
        device) — required.
    ``received`` : float32 (B, C, H, W)
        Optional: the images decoded *without* the denoiser.
    ``reconstructed`` : float32 (B, C, H, W)
        Optional: the images decoded after the denoiser (or the plain decoder output when there
        is no denoiser).

    **Outputs**

    None (a sink).

    **Tags read**

    - ``snr_db``, ``channel``, ``denoiser``, ``seq`` (caption of the panel row; also kept:
      ``sinr_db``, ``channel_model``, ``fading``, ``pz``).

    **Tags written**

    None (the stored tags get ``denoiser_gain_db`` and ``gain_frames``, see above).

    **Run-time parameters**

    ``max_images``, ``max_rate_hz``.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Frame
    >>> from semradio.blocks.qtgui import ImageScope
    >>> scope = ImageScope(max_rate_hz=float("inf"))
    >>> x = np.full((4, 3, 8, 8), 0.5, np.float32)
    >>> scope.work(Frame.new(x, seq=0), None, Frame.new(x + 0.01, seq=0, snr_db=10.0))
    >>> _, panels, tags = scope.panels()
    >>> sorted(panels), round(panels["reconstructed"]["psnr_db"], 1), panels["original"]["image"].shape
    (['original', 'reconstructed'], 40.0, (16, 16, 3))
    """

    scope_kind = "image"

    def __init__(self, max_images: int = 4, data_range: float = 1.0, max_rate_hz: float | None = None,
                 name: str | None = None) -> None:
        super().__init__(name, max_rate_hz)
        self.add_input("original", dtype=None)
        self.add_input("received", dtype=None, optional=True)
        self.add_input("reconstructed", dtype=None, optional=True)
        self.declare_param("max_images", int(max_images), "images shown per panel", _positive_int)
        self.data_range = float(data_range)
        self.gain_frames = 25
        self._gains: collections.deque = collections.deque(maxlen=self.gain_frames)
        self._gain_key: tuple[Any, Any] | None = None

    def accept(self, *frames: Frame | None) -> dict[str, Any]:  # type: ignore[override]
        data: dict[str, Any] = {}
        shape = None
        tags: dict[str, Any] = {}
        for port, frame in zip(IMAGE_PORTS, frames):
            if frame is None:
                continue
            d = frame.data
            check_array(d, port, min_ndim=4, kinds="f")
            if len(d.shape) != 4 or int(d.shape[1]) not in (1, 3, 4):
                raise ScopeInputError("shape", f"input {port!r}: images must be (B, C, H, W), got {tuple(d.shape)}")
            if shape is None:
                shape = tuple(d.shape)
            elif tuple(d.shape) != shape:
                raise ScopeInputError("shape", f"input {port!r}: shape {tuple(d.shape)} differs from {shape}")
            data[port] = d
            if port != "original" or not tags:
                tags = frame.tags
        kept = {k: tags[k] for k in ("seq", "snr_db", "sinr_db", "channel", "channel_model", "fading", "pz", "denoiser")
                if k in tags}
        if all(p in data for p in IMAGE_PORTS):
            kept.update(self._gain(data, kept))
        return {"data": data, "tags": kept}

    def _gain(self, data: dict[str, Any], tags: dict[str, Any]) -> dict[str, Any]:
        """Add this frame's paired PSNR difference (reconstructed - received, all images) to
        the running window and return ``{"denoiser_gain_db", "gain_frames"}``."""
        key = (tags.get("snr_db"), tags.get("denoiser"))
        if key != self._gain_key:
            self._gains.clear()
            self._gain_key = key
        ref = to_host(data["original"])
        diff = psnr_db(ref, to_host(data["reconstructed"]), self.data_range) - psnr_db(
            ref, to_host(data["received"]), self.data_range)
        if np.isfinite(diff):
            self._gains.append(diff)
        if not self._gains:
            return {}
        return {"denoiser_gain_db": float(np.mean(self._gains)), "gain_frames": len(self._gains)}

    def images(self) -> tuple[int, dict[str, np.ndarray], dict[str, Any]]:
        """``(version, {port: float32 (n, C, H, W) host copy of the first max_images images},
        tags)`` of the newest frame (light: what a remote GUI needs; inputs that fail
        conversion are counted and left out)."""
        version, item = self.latest()
        data = item.get("data", {}) if item else {}
        n = self.param("max_images")
        out: dict[str, np.ndarray] = {}
        for port, d in data.items():
            try:
                out[port] = images_nchw(d, n)
            except Exception as exc:  # noqa: BLE001 - bad data never crashes the GUI
                self.rejected.add(f"render:{type(exc).__name__}", detail=str(exc))
        return version, out, dict(item.get("tags", {})) if item else {}

    def panels(self) -> tuple[int, dict[str, dict[str, Any]], dict[str, Any]]:
        """``(version, panels, tags)``: :func:`panels_from_images` of :meth:`images`."""
        version, imgs, tags = self.images()
        return version, panels_from_images(imgs, self.param("max_images"), self.data_range), tags


def panels_from_images(images: dict[str, np.ndarray], max_images: int,
                       data_range: float = 1.0) -> dict[str, dict[str, Any]]:
    """Display data per port: ``{"image": uint8 (h, w, 3) mosaic, "psnr_db", "ssim",
    "shape"}`` (``psnr_db``/``ssim`` against ``images["original"]``; None for the original
    itself or when not computable)."""
    ref = images.get("original")
    out: dict[str, dict[str, Any]] = {}
    for port in IMAGE_PORTS:
        if port not in images:
            continue
        imgs = images[port]
        p = s = None
        if port != "original" and ref is not None and ref.shape == imgs.shape:
            p = psnr_db(ref, imgs, data_range)
            s = ssim_mean(ref, imgs, data_range)
        out[port] = {"image": tile_images(imgs, max_images, data_range), "psnr_db": p, "ssim": s,
                     "shape": tuple(imgs.shape)}
    return out


def _positive_int(v: Any) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(f"must be >= 1, got {v!r}")
    return n


__all__ = ["ImageScope", "IMAGE_PORTS", "panels_from_images"]
