"""MetricScope: running PSNR / SSIM / latency vs time and per-SNR quality curves."""

from __future__ import annotations

import collections
import math
import time
from typing import Any

import numpy as np

from semradio.dsp import arrays as A
from semradio.runtime import Frame

from .arrays import as_complex_items, check_array, psnr_db, ssim_mean, to_host
from .base import ScopeBlock, ScopeInputError


def quality(ref: Any, rec: Any, data_range: float = 1.0, ssim_items: int = 8) -> tuple[float, float | None]:
    """``(PSNR dB, SSIM or None)`` of a reconstruction against its reference.

    Images (B, C, H, W) of one shape: mean per-image PSNR ``10 log10(R^2/MSE)`` and mean SSIM
    of the first ``ssim_items`` images (SSIM costs ~0.3 ms per 32x32 image; PSNR ~nothing).
    Symbols: complex (B, k) against complex (B, k) or real ``[Re; Im]`` (B, 2k): PSNR with
    ``MSE = mean |rec - ref|^2`` — for unit-power symbols and R = 1 this is the effective
    SNR ``1/EVM^2`` after equalization; SSIM None.

    Raises:
        ScopeInputError: ``shape`` when the two cannot be compared.
    """
    if A.is_complex(ref) or A.is_complex(rec):
        a, b = as_complex_items(ref), as_complex_items(rec)
        if a.shape != b.shape:
            raise ScopeInputError("shape", f"ref {tuple(ref.shape)} and rec {tuple(rec.shape)} do not match")
        return psnr_db(a, b, data_range), None
    if tuple(ref.shape) != tuple(rec.shape):
        raise ScopeInputError("shape", f"ref {tuple(ref.shape)} and rec {tuple(rec.shape)} differ in shape")
    a, b = to_host(ref), to_host(rec)
    p = psnr_db(a, b, data_range)
    s = ssim_mean(a[:ssim_items], b[:ssim_items], data_range) if a.ndim == 4 else None
    return p, s


def _unit_number(v: Any) -> float | None:
    """A number in [0, 1] from an untrusted tag, else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    f = float(v)
    return f if 0.0 <= f <= 1.0 else None


def _per_image_psnr(ref: Frame, rec: Frame, data_range: float) -> list[tuple[int, float]] | None:
    """``[(image_index, PSNR dB), ...]`` per item of an image frame whose ``ref`` (or ``rec``)
    carries an ``image_index`` tag with one index per item; None otherwise (symbols, no tag)."""
    idx = ref.tags.get("image_index")
    if idx is None:
        idx = rec.tags.get("image_index")
    if idx is None or len(ref.data.shape) != 4 or A.is_complex(ref.data):
        return None
    idx = np.asarray(idx).reshape(-1)
    if idx.size != int(ref.data.shape[0]) or not np.issubdtype(idx.dtype, np.integer):
        return None
    a, b = to_host(ref.data).astype(np.float64), to_host(rec.data).astype(np.float64)
    mse = ((a - b) ** 2).reshape(a.shape[0], -1).mean(axis=1)
    ok = mse > 0
    vals = np.full(mse.shape, math.nan)
    vals[ok] = 10.0 * np.log10(data_range ** 2 / mse[ok])
    return [(int(i), float(v)) for i, v in zip(idx, vals) if math.isfinite(v)]


class MetricScope(ScopeBlock):
    """Metric scope: running quality and latency of reconstructions vs their references, and
    quality-vs-SNR curves that build up while the SNR is swept (by a slider or a sweep).

    Metrics (:func:`quality`): PSNR = mean over items of 10 log10(R^2/MSE) (dB), SSIM (images
    only, first 8 of the frame; 11x11 Gaussian window, sigma 1.5). Curves: per (group, SNR
    rounded to 0.1 dB) the mean PSNR and SSIM of the frames measured at that SNR. When the
    ``ref`` frames carry an ``image_index`` tag (one dataset index per item, as
    :class:`~semradio.blocks.ImageSource` writes), a point's PSNR is the mean over the distinct
    images measured there of each image's mean PSNR: every image counts once however often it
    was seen, so points that saw the same images (a source replaying a fixed set while the SNR
    is swept) differ by the SNR only, not by which images happened to pass at each SNR
    (``series()["curve_images"]`` gives the images per point).

    Digital links: when the ``rec`` frame carries a ``bler`` tag (the TB error rate of the frame,
    a number in [0, 1], written by :class:`~semradio.blocks.digital.image_rx.DigitalImageRx`) it is
    kept as a trace too, with the running TB error rate over every frame measured (``tb_errors``
    / ``tbs`` tags); a tag outside [0, 1] or not a number is ignored.

    What is drawn (by :class:`semradio.blocks.qtgui.qt.MetricView`): PSNR (dB), SSIM and
    latency (ms) vs time since the first frame (s), and PSNR vs SNR (dB), one curve per group.

    Parameters
    ----------
    max_rate_hz : float, optional
        Frames measured per second at most (None: 5; see
        :class:`~semradio.blocks.qtgui.base.ScopeBlock`). Settable at run time.
    data_range : float, default 1.0
        R, the peak value of the images.
    history : int, default 600
        Points kept per trace.
    group_key : str, default "denoiser"
        The ``rec`` tag that names the curve of a frame.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        At construction or when set, for ``max_rate_hz <= 0``. Bad input (frames that are not
        arrays, ``ref`` and ``rec`` of different shapes) never raises: it is counted in
        :attr:`rejected` and dropped.

    Notes
    -----
    **Inputs**

    Aligned by ``seq``, fed through real-time edges; numpy or torch, any device:

    ``ref`` : float32 (B, C, H, W) or complex64 (B, k)
        References — images or transmitted symbols.
    ``rec`` : same as ``ref``, or float32 (B, 2k)
        Reconstructions of the same shape (symbols may be real ``[Re; Im]`` (B, 2k), e.g. an
        equalizer output).

    **Outputs**

    None (a sink).

    **Tags read**

    From ``rec``:

    - ``t_ns`` (latency = arrival - t_ns, ms);
    - ``snr_db`` (x of the curves);
    - the ``group_key`` tag (one curve per value, default ``denoiser``; "none" when absent);
    - ``seq``;
    - ``bler``, ``tb_errors``, ``tbs`` (digital links, see above).

    From ``ref`` (else ``rec``): ``image_index``.

    **Tags written**

    None.

    **Run-time parameters**

    ``max_rate_hz``.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Frame
    >>> from semradio.blocks.qtgui import MetricScope
    >>> scope = MetricScope(max_rate_hz=float("inf"))
    >>> x = np.full((4, 3, 8, 8), 0.5, np.float32)
    >>> scope.work(Frame.new(x, seq=0), Frame.new(x + 0.01, seq=0, snr_db=10.0))
    >>> _, series = scope.series()
    >>> round(float(series["psnr_db"][-1]), 1), sorted(series["curves"])
    (40.0, ['none'])
    """

    default_max_rate_hz = 5.0
    scope_kind = "metric"

    def __init__(self, max_rate_hz: float | None = None, data_range: float = 1.0, history: int = 600,
                 group_key: str = "denoiser", name: str | None = None) -> None:
        super().__init__(name, max_rate_hz)
        self.add_input("ref", dtype=None)
        self.add_input("rec", dtype=None)
        self.data_range = float(data_range)
        self.group_key = group_key
        self._latency: collections.deque = collections.deque(maxlen=int(history))
        self._quality: collections.deque = collections.deque(maxlen=int(history))
        self._bler: collections.deque = collections.deque(maxlen=int(history))
        self._tb_counts = [0, 0]  # TB errors, TBs
        self._curves: dict[tuple[str, float], list[float]] = {}
        self._curve_images: dict[tuple[str, float], dict[int, list[float]]] = {}
        self._t0: float | None = None

    def accept(self, ref: Frame, rec: Frame) -> dict[str, Any] | None:  # type: ignore[override]
        now = time.monotonic()
        now_ns = time.time_ns()
        check_array(ref.data, "ref", min_ndim=2)
        check_array(rec.data, "rec", min_ndim=2)
        tags = rec.tags
        t_ns = tags.get("t_ns")
        latency = (now_ns - int(t_ns)) / 1e6 if isinstance(t_ns, (int, np.integer)) else None
        p, s = quality(ref.data, rec.data, self.data_range)
        per_image = _per_image_psnr(ref, rec, self.data_range)
        if self._t0 is None:
            self._t0 = now
        t = now - self._t0
        snr = tags.get("snr_db")
        snr = None if snr is None else round(float(snr), 1)
        group = str(tags.get(self.group_key) or "none")
        bler = _unit_number(tags.get("bler"))
        tb_err, tbs = tags.get("tb_errors"), tags.get("tbs")
        counts_ok = (isinstance(tb_err, (int, np.integer)) and isinstance(tbs, (int, np.integer))
                     and 0 <= tb_err <= tbs <= 1_000_000)
        with self._lock:
            if bler is not None:
                self._bler.append((t, bler))
                if counts_ok:
                    self._tb_counts[0] += int(tb_err)
                    self._tb_counts[1] += int(tbs)
            if latency is not None:
                self._latency.append((t, latency))
            self._quality.append((t, p, math.nan if s is None else s))
            if snr is not None and math.isfinite(p):
                acc = self._curves.setdefault((group, snr), [0.0, 0.0, 0.0, 0.0])
                acc[0] += p
                acc[1] += 1
                if s is not None:
                    acc[2] += s
                    acc[3] += 1
                if per_image is not None:
                    seen = self._curve_images.setdefault((group, snr), {})
                    for idx, v in per_image:
                        a = seen.setdefault(idx, [0.0, 0])
                        a[0] += v
                        a[1] += 1
        return {"psnr_db": p, "ssim": s, "latency_ms": latency, "snr_db": snr, "group": group,
                "seq": tags.get("seq"), "bler": bler}

    def series(self) -> tuple[int, dict[str, Any]]:
        """``(version, series)`` for the GUI: ``t_quality``, ``psnr_db``, ``ssim`` (NaN where
        not computed), ``t_latency``, ``latency_ms`` (numpy arrays; times in seconds before
        now, <= 0), ``curves``: ``{group: (snr_db, mean psnr_db, mean ssim)}`` sorted by SNR,
        ``curve_images``: ``{group: distinct images per point}`` (0 where the frames carry no
        ``image_index``: the point is then the mean over frames),
        ``t_bler``, ``bler`` (per-frame TB error rates of digital links; empty otherwise),
        ``bler_total`` (TB errors / TBs so far, None without TBs) and ``last``: the newest
        measurement."""
        version, last = self.latest()
        with self._lock:
            lat = list(self._latency)
            qual = list(self._quality)
            blers = list(self._bler)
            tb_err, tbs = self._tb_counts
            curves = {k: list(v) for k, v in self._curves.items()}
            balanced = {k: (float(np.mean([a[0] / a[1] for a in v.values()])), len(v))
                        for k, v in self._curve_images.items() if v}
        now = time.monotonic() - (self._t0 if self._t0 is not None else time.monotonic())
        out: dict[str, Any] = {"last": dict(last)}
        t_lat, lat_ms = (np.array(c, np.float64) for c in (zip(*lat) if lat else ([], [])))
        out["t_latency"], out["latency_ms"] = t_lat - now, lat_ms
        t, p, s = zip(*qual) if qual else ([], [], [])
        out["t_quality"] = np.array(t, np.float64) - now
        out["psnr_db"] = np.array(p, np.float64)
        out["ssim"] = np.array(s, np.float64)
        t_b, b = (np.array(c, np.float64) for c in (zip(*blers) if blers else ([], [])))
        out["t_bler"], out["bler"] = t_b - now, b
        out["bler_total"] = tb_err / tbs if tbs else None
        groups: dict[str, list[tuple[float, float, float, int]]] = {}
        for (group, snr), (ps, n, ss, ns) in curves.items():
            psnr, images = balanced.get((group, snr), (ps / n, 0))
            groups.setdefault(group, []).append((snr, psnr, ss / ns if ns else math.nan, images))
        out["curves"] = {g: tuple(np.array(c, np.float64) for c in list(zip(*sorted(rows)))[:3])
                         for g, rows in sorted(groups.items())}
        out["curve_images"] = {g: np.array([r[3] for r in sorted(rows)], np.int64)
                               for g, rows in sorted(groups.items())}
        return version, out

    def reset_curves(self) -> None:
        """Forget the per-SNR curves (e.g. before a new sweep)."""
        with self._lock:
            self._curves.clear()
            self._curve_images.clear()


__all__ = ["MetricScope", "quality"]
