"""ConstellationView: the widget of :class:`semradio.blocks.qtgui.ConstellationScope`."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import density_rgb
from ..constellation import CONSTELLATION_PORTS, ConstellationScope
from .common import COLORS, QtCore, QtWidgets, ScopeView, channel_label, fixed_axes, fmt, pg

#: Half-width of the drawn square (unit-power symbols: QPSK at +-0.707).
CONSTELLATION_RANGE = 1.5
#: Histogram bins per axis of the drawn picture.
CONSTELLATION_BINS = 256


class ConstellationView(ScopeView):
    """In-phase (x) vs quadrature (y) of the newest frame's symbols, as a persistence-style
    picture: a 256 x 256 histogram over +-1.5 (aspect locked, unit-power scale: QPSK at
    (+-1 +-j)/sqrt(2)) with one colour per input — received grey, equalized cyan, denoised
    orange — adding where they overlap (:func:`semradio.blocks.qtgui.arrays.density_rgb`).
    One image per redraw however many points: cheap for the GUI thread.
    Caption: the newest frame's ``seq``, channel and configured SNR."""

    snapshot_name = "constellation"
    title = "constellation"

    def __init__(self, block: ConstellationScope, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(block, parent)
        self.plot = pg.PlotWidget()
        pi = self.plot.getPlotItem()
        r = CONSTELLATION_RANGE
        pi.setAspectLocked(True)
        fixed_axes(pi, x=(-r, r), y=(-r, r))
        pi.setLabel("bottom", "in-phase")
        pi.setLabel("left", "quadrature")
        self.image = pg.ImageItem(axisOrder="row-major")
        self._rect = QtCore.QRectF(-r, -r, 2 * r, 2 * r)
        pi.addItem(self.image)
        self.legend = pi.addLegend(offset=(5, 5))
        self._legend_ports: set[str] = set()
        self._layout(self.plot)
        self.last_points: dict[str, np.ndarray] = {}

    def _legend(self, port: str) -> None:
        if port in self._legend_ports:
            return
        sample = pg.ScatterPlotItem(size=8, pen=None, symbol="s", brush=pg.mkBrush(*COLORS[port]))
        self.legend.addItem(sample, port)
        self._legend_ports.add(port)

    def redraw(self) -> None:
        _, points, tags = self.block.points()
        layers: list[tuple[Any, tuple[int, int, int]]] = []
        for port in CONSTELLATION_PORTS:
            if port in points:
                layers.append((points[port], COLORS[port]))
                self._legend(port)
        first = self.image.image is None
        self.image.setImage(density_rgb(layers, CONSTELLATION_BINS, CONSTELLATION_RANGE), autoLevels=False,
                            levels=(0, 255))
        if first:  # the image's extent in data units (needs an image to scale)
            self.image.setRect(self._rect)
        self.last_points = points
        self.set_caption(f"constellation · seq {tags.get('seq', '-')} · {channel_label(tags)} · "
                         f"SNR {fmt(tags.get('snr_db'), '.1f')} dB")

    def data_to_pixel(self, x: float, y: float) -> tuple[int, int]:
        """Pixel (column, row) of the data point (x, y) in this widget's :meth:`grab` image."""
        vb = self.plot.getPlotItem().getViewBox()
        scene = vb.mapViewToScene(QtCore.QPointF(float(x), float(y)))
        local = self.plot.mapFromScene(scene)
        p = self.plot.mapTo(self, local)
        return int(round(p.x())), int(round(p.y()))


__all__ = ["ConstellationView", "CONSTELLATION_RANGE", "CONSTELLATION_BINS"]
