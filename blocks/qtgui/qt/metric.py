"""MetricView: the widget of :class:`semradio.blocks.qtgui.MetricScope`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..metric import MetricScope
from .common import COLORS, CURVE_COLORS, QtWidgets, ScopeView, fixed_axes, fmt, keep_range, pen, pg

#: Seconds of history shown by the time plots.
METRIC_WINDOW_S = 60.0


class MetricView(ScopeView):
    """Four plots: PSNR (dB), SSIM and latency (ms) over the last 60 s (x: seconds before
    now), and PSNR (dB) vs configured SNR (dB), one curve (with points) per group (denoiser;
    each point the mean over the distinct images measured at that SNR when the frames name
    their images, see :class:`~semradio.blocks.qtgui.MetricScope`).
    Redrawn at most 5 times a second; ranges move only when the data leaves them. Caption on
    two lines: the newest PSNR, SSIM, latency p50 and frames measured, then what a curve
    point averages."""

    snapshot_name = "metrics"
    title = "metrics"
    min_interval_s = 0.2

    def __init__(self, block: MetricScope, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(block, parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.psnr_plot = self.glw.addPlot(row=0, col=0, title="PSNR (dB)")
        self.ssim_plot = self.glw.addPlot(row=0, col=1, title="SSIM (images)")
        self.latency_plot = self.glw.addPlot(row=1, col=0, title="latency (ms)")
        self.curve_plot = self.glw.addPlot(row=1, col=1, title="PSNR vs SNR")
        self.bler_plot: Any = None  # added on the first frame with a BLER (digital links)
        for p, y in ((self.psnr_plot, (0.0, 40.0)), (self.ssim_plot, (0.0, 1.0)), (self.latency_plot, (0.0, 50.0))):
            fixed_axes(p, x=(-METRIC_WINDOW_S, 0.0), y=y)
            p.setLabel("bottom", "time (s)")
        fixed_axes(self.curve_plot, x=(0.0, 20.0), y=(0.0, 40.0))
        self.curve_plot.setLabel("bottom", "SNR (dB)")
        self.curve_plot.setLabel("left", "PSNR (dB)")
        self.curve_plot.addLegend(offset=(-5, -5))  # bottom right: below a rising curve
        self.psnr_curve = pg.PlotDataItem(pen=pen(COLORS["psnr"]), symbol="o", symbolSize=3, symbolPen=None,
                                          symbolBrush=COLORS["psnr"])
        self.ssim_curve = pg.PlotDataItem(pen=pen(COLORS["ssim"]), symbol="o", symbolSize=3, symbolPen=None,
                                          symbolBrush=COLORS["ssim"])
        self.latency_curve = pg.PlotCurveItem(pen=pen(COLORS["latency"]))
        self.psnr_plot.addItem(self.psnr_curve)
        self.ssim_plot.addItem(self.ssim_curve)
        self.latency_plot.addItem(self.latency_curve)
        self.group_curves: dict[str, Any] = {}
        self._layout(self.glw)
        self.last_series: dict[str, Any] = {}

    def redraw(self) -> None:
        _, s = self.block.series()
        tq, p, ss = s["t_quality"], s["psnr_db"], s["ssim"]
        tl, lat = s["t_latency"], s["latency_ms"]
        self.psnr_curve.setData(tq, p, connect="finite")
        fin = np.isfinite(p)
        if fin.any():
            keep_range(self.psnr_plot, float(p[fin].min()), float(p[fin].max()), pad=1.0, quantum=5.0)
        if ss.size and np.isfinite(ss).any():
            self.ssim_curve.setData(tq, ss, connect="finite")
        else:
            self.ssim_curve.setData([], [])
        self.latency_curve.setData(tl, lat)
        if lat.size:
            keep_range(self.latency_plot, 0.0, float(lat.max()), pad=0.0, quantum=10.0)
        lo_s = hi_s = lo_p = hi_p = None
        for i, (group, (snr, psnr, _ssim)) in enumerate(s["curves"].items()):
            c = self.group_curves.get(group)
            if c is None:
                color = CURVE_COLORS[i % len(CURVE_COLORS)]
                c = self.group_curves[group] = self.curve_plot.plot(
                    pen=pen(color), symbol="o", symbolSize=6, symbolBrush=color, symbolPen=None, name=group)
            c.setData(snr, psnr)
            lo_s = min(snr.min(), lo_s if lo_s is not None else np.inf)
            hi_s = max(snr.max(), hi_s if hi_s is not None else -np.inf)
            lo_p = min(psnr.min(), lo_p if lo_p is not None else np.inf)
            hi_p = max(psnr.max(), hi_p if hi_p is not None else -np.inf)
        if lo_s is not None:
            keep_range(self.curve_plot, float(lo_s), float(hi_s), pad=1.0, quantum=5.0, axis="x")
            keep_range(self.curve_plot, float(lo_p), float(hi_p), pad=0.5, quantum=2.0)
        tb, bl = s.get("t_bler", np.zeros(0)), s.get("bler", np.zeros(0))
        if bl.size:
            if self.bler_plot is None:
                self.bler_plot = self.glw.addPlot(row=2, col=0, colspan=2, title="TB error rate (BLER) per frame")
                fixed_axes(self.bler_plot, x=(-METRIC_WINDOW_S, 0.0), y=(0.0, 1.0))
                self.bler_plot.setLabel("bottom", "time (s)")
                self.bler_curve = pg.PlotDataItem(pen=pen(COLORS["latency"]), symbol="o", symbolSize=4,
                                                  symbolPen=None, symbolBrush=COLORS["latency"])
                self.bler_plot.addItem(self.bler_curve)
            self.bler_curve.setData(tb, bl)
        last = s["last"]
        bler_text = (f" · BLER {fmt(s.get('bler_total'), '.3f')}" if s.get("bler_total") is not None else "")
        ssim_text = f" · SSIM {fmt(last.get('ssim'), '.3f')}" if last.get("ssim") is not None else ""
        images = [int(n) for c in s.get("curve_images", {}).values() for n in np.asarray(c).reshape(-1)]
        curve_text = "curve: frames per SNR"
        if images and min(images) > 0:
            lo, hi = min(images), max(images)
            curve_text = f"curve: {lo if lo == hi else f'{lo}-{hi}'} images/SNR"
        self.set_caption(f"metrics · PSNR {fmt(last.get('psnr_db'))} dB{ssim_text} · {p.size} frames<br>"
                         f"latency p50 {fmt(np.median(lat) if lat.size else None, '.1f')} ms{bler_text} · "
                         f"{curve_text}")
        self.last_series = s


__all__ = ["MetricView", "METRIC_WINDOW_S"]
