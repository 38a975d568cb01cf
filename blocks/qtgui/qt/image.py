"""ImageView: the widget of :class:`semradio.blocks.qtgui.ImageScope`."""

from __future__ import annotations

from typing import Any

from ..image import IMAGE_PORTS, ImageScope
from .common import CAPTION_STYLE, QtWidgets, ScopeView, channel_label, fmt, pg, set_label_text

PANEL_TITLES = {"original": "original", "received": "received (no denoiser)", "reconstructed": "reconstructed"}


class ImageView(ScopeView):
    """One panel per connected input of the image scope, left to right (original | received
    | reconstructed), each a mosaic of the first ``max_images`` images of the newest frame,
    pixel-exact (one image pixel per view unit, aspect locked, y down), captioned with PSNR
    (dB) and SSIM against the original (the shown images), and the reconstructed panel with
    the denoiser's running PSNR gain when the scope sends it (see
    :class:`~semradio.blocks.qtgui.ImageScope`). Redrawn at most 10 times a second."""

    snapshot_name = "images"
    title = "images"
    min_interval_s = 0.1

    def __init__(self, block: ImageScope, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(block, parent)
        self.body = QtWidgets.QWidget()
        self.grid = QtWidgets.QGridLayout(self.body)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.grid.setSpacing(2)
        self.body.setStyleSheet("background: black;")
        self.panels: dict[str, dict[str, Any]] = {}
        self._layout(self.body)
        self.last_panels: dict[str, dict[str, Any]] = {}

    def _build(self, ports: list[str]) -> None:
        for p in self.panels.values():
            for w in (p["label"], p["widget"]):
                self.grid.removeWidget(w)
                w.deleteLater()
        self.panels.clear()
        for col, port in enumerate(ports):
            label = QtWidgets.QLabel(PANEL_TITLES[port])
            label.setStyleSheet(CAPTION_STYLE)
            label.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
            widget = pg.GraphicsView()
            widget.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Expanding)
            view = pg.ViewBox(lockAspect=True, invertY=True, enableMouse=False)
            view.setMenuEnabled(False)
            widget.setCentralItem(view)
            item = pg.ImageItem(axisOrder="row-major")
            view.addItem(item)
            self.grid.addWidget(label, 0, col)
            self.grid.addWidget(widget, 1, col)
            self.grid.setColumnStretch(col, 1)
            self.panels[port] = {"label": label, "widget": widget, "view": view, "item": item, "shape": None}
            label.show()  # children added to a visible widget must be shown
            widget.show()
        self.grid.setRowStretch(1, 1)
        self.grid.activate()

    def redraw(self) -> None:
        _, panels, tags = self.block.panels()
        ports = [p for p in IMAGE_PORTS if p in panels]
        if ports != list(self.panels):
            self._build(ports)
        for port in ports:
            info, panel = panels[port], self.panels[port]
            img = info["image"]
            panel["item"].setImage(img, autoLevels=False, levels=(0, 255))
            if panel["shape"] != img.shape:
                panel["view"].setRange(xRange=(0, img.shape[1]), yRange=(0, img.shape[0]), padding=0.02)
                panel["shape"] = img.shape
            text = PANEL_TITLES[port]
            if port != "original":
                text += f"<br>PSNR {fmt(info['psnr_db'])} dB &middot; SSIM {fmt(info['ssim'], '.3f')}"
                if port == "reconstructed" and tags.get("denoiser_gain_db") is not None:
                    text += (f"<br>denoiser gain <b>{fmt(tags['denoiser_gain_db'], '+.2f')} dB</b> "
                             f"({tags.get('gain_frames')} frames)")
            else:
                n, c, h, w = info["shape"]
                text += f"<br>{n} images of {c}x{h}x{w}"
            set_label_text(panel["label"], text)
        self.set_caption(f"images · seq {tags.get('seq', '-')} · {channel_label(tags)} · "
                         f"SNR {fmt(tags.get('snr_db'), '.1f')} dB · denoiser {tags.get('denoiser', 'none')}")
        self.last_panels = panels

    def panel_pixel(self, port: str, x: float, y: float) -> tuple[int, int]:
        """Pixel (column, row) in this widget's :meth:`grab` image of the mosaic pixel (x, y)
        of panel ``port``."""
        from .common import QtCore

        p = self.panels[port]
        scene = p["view"].mapViewToScene(QtCore.QPointF(float(x), float(y)))
        local = p["widget"].mapFromScene(scene)
        q = p["widget"].mapTo(self, local)
        return int(round(q.x())), int(round(q.y()))


__all__ = ["ImageView", "PANEL_TITLES"]
