"""ConstellationView: the widget of :class:`semradio.blocks.qtgui.ConstellationScope`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import density_rgb
from ..constellation import CONSTELLATION_PORTS, TRANSMITTED_PORT, ConstellationScope
from .common import COLORS, QtCore, QtWidgets, ScopeView, channel_label, fixed_axes, fmt, pen, pg

#: Half-width of the drawn square (unit-power symbols: QPSK at +-0.707).
CONSTELLATION_RANGE = 1.5
#: Half-width of the square of the estimate-vs-transmitted picture (a real component of a
#: unit-power Gaussian latent has a standard deviation of 0.707: 2.0 is 2.8 of them).
VERSUS_RANGE = 2.0
#: Histogram bins per axis of the drawn picture.
CONSTELLATION_BINS = 256


class ConstellationView(ScopeView):
    """The newest frame's symbols as a persistence-style picture: a 256 x 256 histogram
    (aspect locked) with one colour per input — received grey, equalized cyan, denoised
    orange — adding where they overlap (:func:`semradio.blocks.qtgui.arrays.density_rgb`).
    One image per redraw however many points: cheap for the GUI thread.

    Two pictures, after what the scope sends (:meth:`ConstellationScope.points`):

    * in-phase (x) vs quadrature (y) over +-1.5, unit-power scale (QPSK at
      (+-1 +-j)/sqrt(2));
    * with the transmitted symbols connected: estimate (y) vs transmitted (x) per real
      component over +-2, with the diagonal y = x (a perfect receiver) drawn dashed; the
      caption gives each estimate's latent MSE (dB) and the denoiser's gain over the
      equalizer.

    Caption: the newest frame's ``seq``, channel and configured SNR."""

    snapshot_name = "constellation"
    title = "constellation"

    def __init__(self, block: ConstellationScope, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(block, parent)
        self.plot = pg.PlotWidget()
        pi = self.plot.getPlotItem()
        pi.setAspectLocked(True)
        pi.layout.setContentsMargins(2, 10, 10, 2)  # room for the top and right tick labels
        self.image = pg.ImageItem(axisOrder="row-major")
        pi.addItem(self.image)
        self.diagonal = pg.PlotCurveItem(pen=pen((150, 150, 150), style=QtCore.Qt.PenStyle.DashLine))
        pi.addItem(self.diagonal)
        self.legend = pi.addLegend(offset=(5, 5))
        self._legend_ports: set[str] = set()
        self.mode: str | None = None
        self._set_mode("iq")
        self._layout(self.plot)
        self.last_points: dict[str, np.ndarray] = {}

    @property
    def extent(self) -> float:
        """Half-width of the drawn square in the current picture."""
        return VERSUS_RANGE if self.mode == TRANSMITTED_PORT else CONSTELLATION_RANGE

    def _set_mode(self, mode: str) -> None:
        """Switch between the I/Q picture (``"iq"``) and estimate vs transmitted."""
        if mode == self.mode:
            return
        self.mode = mode
        pi = self.plot.getPlotItem()
        r = self.extent
        fixed_axes(pi, x=(-r, r), y=(-r, r))
        top = np.floor(2.0 * (r - 0.25)) / 2.0  # no label on the square's edge, where it would be cut
        ticks = [[(float(v), f"{v:g}") for v in np.arange(-top, top + 0.25, 0.5)]]
        pi.getAxis("bottom").setTicks(ticks)
        pi.getAxis("left").setTicks(ticks)
        if mode == TRANSMITTED_PORT:
            pi.setLabel("bottom", "transmitted symbol component")
            pi.setLabel("left", "received estimate")
            self.diagonal.setData([-r, r], [-r, r])
        else:
            pi.setLabel("bottom", "in-phase")
            pi.setLabel("left", "quadrature")
            self.diagonal.setData([], [])
        if self.image.image is not None:
            self.image.setRect(QtCore.QRectF(-r, -r, 2 * r, 2 * r))

    def _legend(self, port: str) -> None:
        if port in self._legend_ports:
            return
        sample = pg.ScatterPlotItem(size=8, pen=None, symbol="s", brush=pg.mkBrush(*COLORS[port]))
        self.legend.addItem(sample, port)
        self._legend_ports.add(port)

    def redraw(self) -> None:
        _, points, tags = self.block.points()
        self._set_mode(TRANSMITTED_PORT if tags.get("versus") == TRANSMITTED_PORT else "iq")
        layers: list[tuple[Any, tuple[int, int, int]]] = []
        for port in CONSTELLATION_PORTS:
            if port in points:
                layers.append((points[port], COLORS[port]))
                self._legend(port)
        first = self.image.image is None
        r = self.extent
        self.image.setImage(density_rgb(layers, CONSTELLATION_BINS, r), autoLevels=False, levels=(0, 255))
        if first:  # the image's extent in data units (needs an image to scale)
            self.image.setRect(QtCore.QRectF(-r, -r, 2 * r, 2 * r))
        self.last_points = points
        snr = f"SNR {fmt(tags.get('snr_db'), '.1f')} dB"
        if self.mode == TRANSMITTED_PORT:
            eq, dn = tags.get("mse_db_equalized"), tags.get("mse_db_denoised")
            text = (f"latent symbols vs transmitted · seq {tags.get('seq', '-')} · {snr}<br>"
                    f"MSE equalized {fmt(eq, '.1f')} dB")
            if dn is not None:
                text += f" · denoised {fmt(dn, '.1f')} dB"
                if eq is not None:
                    text += f" (<b>{fmt(dn - eq, '+.1f')} dB</b>)"
        else:
            text = f"constellation · seq {tags.get('seq', '-')} · {channel_label(tags)} · {snr}"
        self.set_caption(text)

    def data_to_pixel(self, x: float, y: float) -> tuple[int, int]:
        """Pixel (column, row) of the data point (x, y) in this widget's :meth:`grab` image."""
        vb = self.plot.getPlotItem().getViewBox()
        scene = vb.mapViewToScene(QtCore.QPointF(float(x), float(y)))
        local = self.plot.mapFromScene(scene)
        p = self.plot.mapTo(self, local)
        return int(round(p.x())), int(round(p.y()))


__all__ = ["ConstellationView", "CONSTELLATION_RANGE", "VERSUS_RANGE", "CONSTELLATION_BINS"]
