"""TimeView: the widget of :class:`semradio.blocks.qtgui.TimeScope`."""

from __future__ import annotations

import numpy as np

from ..time_scope import MAGNITUDE_FLOOR_DB, TimeScope
from .common import COLORS, QtCore, QtWidgets, ScopeView, channel_label, fixed_axes, fmt, keep_range, pen, pg

#: Legend marks drawn in the title rows: a line, a dot, a dashed line.
LINE, DOT, DASH = "\u2501", "\u2022", "\u2505"
#: Seconds of SNR history shown.
SNR_WINDOW_S = 30.0


def keyed_title(title: str, key: list[tuple[str, tuple[int, int, int], str]]) -> str:
    """A plot title with its legend in the same row, outside the plotting area.

    Parameters
    ----------
    title : str
        The plot's title.
    key : list of (str, tuple of int, str)
        One ``(mark, rgb, label)`` per trace: the mark (a line or dot character) drawn in the
        trace's colour, then its label.

    Returns
    -------
    str
        Rich text for ``PlotItem.setTitle``.

    Examples
    --------
    >>> keyed_title("SNR", [("-", (255, 220, 0), "set")])
    'SNR &nbsp; <span style="color: rgb(255,220,0)">- set</span>'
    """
    marks = " &nbsp;".join(f'<span style="color: rgb({r},{g},{b})">{mark} {label}</span>'
                           for mark, (r, g, b), label in key)
    return f"{title} &nbsp; {marks}"


class TimeView(ScopeView):
    """Two plots. Top: ``20 log10 |h|`` (yellow) and ``20 log10 |y_c|`` (cyan) in dB (floor
    -40 dB) vs symbol index of one item of the newest frame. Bottom: SNR in dB over the last
    30 s (x: seconds before now): configured (white), measured from the noise draw (green
    points), configured SINR (magenta, dashed). Each plot's legend is a key in its title row
    (:func:`keyed_title`), outside the data. Axis ranges stay put unless the data leaves them
    (cheap redraws)."""

    snapshot_name = "time"
    title = "time"

    def __init__(self, block: TimeScope, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(block, parent)
        self.glw = pg.GraphicsLayoutWidget()
        # the legends sit in the title rows, outside the plots: |y| fills its plot, and the
        # oldest SNR points are where a legend inside would go
        self.top = self.glw.addPlot(row=0, col=0, title=keyed_title(
            "|h| and |y| of one item (dB)", [(LINE, COLORS["h"], "|h|"), (LINE, COLORS["y"], "|y|")]))
        fixed_axes(self.top, x=(0, block.param("max_symbols")), y=(MAGNITUDE_FLOOR_DB, 15.0))
        self.top.setLabel("bottom", "symbol")
        self.top.setLabel("left", "dB")
        self.y_curve = pg.PlotCurveItem(pen=pen(COLORS["y"]), name="|y|")
        self.h_curve = pg.PlotCurveItem(pen=pen(COLORS["h"], width=2), name="|h|")
        self.h_curve.setZValue(10)
        self.top.addItem(self.y_curve)
        self.top.addItem(self.h_curve)
        self.bottom = self.glw.addPlot(row=1, col=0, title=keyed_title(
            "SNR (dB)",
            [(LINE, COLORS["snr"], "set"), (DOT, COLORS["measured"], "measured"), (DASH, COLORS["sinr"], "SINR")]))
        fixed_axes(self.bottom, x=(-SNR_WINDOW_S, 0.0), y=(0.0, 20.0))
        self.bottom.setLabel("bottom", "time before now (s)")
        self.bottom.setLabel("left", "dB")
        self.snr_curve = pg.PlotCurveItem(pen=pen(COLORS["snr"], width=2), name="configured")
        self.snr_curve.setZValue(10)  # above the measured points it would otherwise hide under
        self.sinr_curve = pg.PlotCurveItem(pen=pen(COLORS["sinr"], style=QtCore.Qt.PenStyle.DashLine), name="SINR")
        r, g, b = COLORS["measured"]
        self.measured_curve = pg.ScatterPlotItem(size=4, pen=None, brush=pg.mkBrush(r, g, b), name="measured")
        for item in (self.snr_curve, self.sinr_curve, self.measured_curve):
            self.bottom.addItem(item)
        self._layout(self.glw)
        self.last_traces: dict[str, np.ndarray] = {}

    def redraw(self) -> None:
        _, tr, tags = self.block.traces()
        if "y_db" in tr:
            self.y_curve.setData(np.arange(tr["y_db"].size), tr["y_db"])
        if "h_db" in tr:
            self.h_curve.setData(np.arange(tr["h_db"].size), tr["h_db"])
        else:
            self.h_curve.setData([], [])
        if "t_ago" in tr:
            keep = tr["t_ago"] >= -SNR_WINDOW_S
            t, snr, m, sinr = (tr[k][keep] for k in ("t_ago", "snr_db", "measured_snr_db", "sinr_db"))
            self.snr_curve.setData(t, snr, connect="finite")
            ok = np.isfinite(m)
            self.measured_curve.setData(x=t[ok], y=m[ok])
            differs = np.isfinite(sinr) & (np.abs(sinr - snr) > 1e-9)
            if differs.any():
                self.sinr_curve.setData(t, np.where(differs, sinr, np.nan), connect="finite")
            else:
                self.sinr_curve.setData([], [])
            shown = np.concatenate([v[np.isfinite(v)] for v in (snr, m, sinr)]) if t.size else np.zeros(0)
            if shown.size:
                keep_range(self.bottom, float(shown.min()), float(shown.max()), pad=1.0, quantum=5.0)
        text = f"time · {channel_label(tags)}"
        if "snr_db" in tr:
            last_m = tr["measured_snr_db"][np.isfinite(tr["measured_snr_db"])]
            text += (f" · SNR set {fmt(tr['snr_db'][-1], '.1f')} dB, measured "
                     f"{fmt(last_m[-1] if last_m.size else None, '.2f')} dB")
        self.set_caption(text)
        self.last_traces = tr


__all__ = ["TimeView", "SNR_WINDOW_S", "keyed_title"]
