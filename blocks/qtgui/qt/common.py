"""Qt plumbing shared by the scope widgets: the application, the view base class, styling."""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("PYQTGRAPH_QT_LIB", "PySide6")

import numpy as np  # noqa: E402
from PySide6 import QtCore, QtGui, QtWidgets  # noqa: E402  (binding chosen before pyqtgraph)

import pyqtgraph as pg  # noqa: E402

from semradio.runtime.stats import DropCounter  # noqa: E402

log = logging.getLogger("semradio")

#: Trace colours (RGB) used across the scopes.
COLORS = {
    "received": (170, 170, 170),
    "equalized": (0, 200, 255),
    "denoised": (255, 170, 0),
    "h": (255, 220, 0),
    "y": (0, 200, 255),
    "snr": (230, 230, 230),
    "measured": (80, 230, 80),
    "sinr": (230, 80, 230),
    "psnr": (0, 200, 255),
    "ssim": (255, 170, 0),
    "latency": (230, 80, 230),
}
#: Background of every plot (RGB); tests look for pixels that differ from it.
BACKGROUND = (0, 0, 0)
#: Style of the caption line above each scope.
CAPTION_STYLE = "QLabel { background: black; color: rgb(220, 220, 220); padding: 3px 6px; font-size: 12px; }"
CURVE_COLORS = [(0, 200, 255), (255, 170, 0), (80, 230, 80), (230, 80, 230), (230, 230, 230), (255, 90, 90)]


def has_display() -> bool:
    """True when a windowing system is reachable (X11 / Wayland / macOS / Windows)."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def binding_drops_none_refs() -> bool:
    """True when the Qt binding loses a reference to ``None`` on every call of a void method
    (PySide6 6.12.0 under CPython 3.11, where None is not immortal yet): a GUI redrawing at
    20 Hz then aborts with "Fatal Python error: none_dealloc" within minutes."""
    if sys.version_info >= (3, 12):
        return False
    obj = QtCore.QObject()
    before = sys.getrefcount(None)
    for _ in range(8):
        obj.setObjectName("semradio")
    return sys.getrefcount(None) < before - 4


def ensure_app(offscreen: bool | None = None) -> QtWidgets.QApplication:
    """The process's QApplication (created on first call, on the calling = main thread).

    ``offscreen=True`` (or no display reachable and ``QT_QPA_PLATFORM`` unset) selects Qt's
    offscreen platform, so scopes render and snapshot headless.

    Raises:
        RuntimeError: the installed PySide6 has the None-refcount bug (see
            :func:`binding_drops_none_refs`); install ``PySide6-Essentials<6.12``.
    """
    app = QtWidgets.QApplication.instance()
    if app is None:
        if binding_drops_none_refs():
            import PySide6

            raise RuntimeError(f"PySide6 {PySide6.__version__} loses references to None under Python "
                               f"{sys.version_info.major}.{sys.version_info.minor} and would crash the scopes; "
                               "install a working binding: pip install 'PySide6-Essentials>=6.6,<6.12'")
        if "QT_QPA_PLATFORM" not in os.environ and (offscreen or not has_display()):
            if not offscreen:
                log.warning("no display reachable: rendering offscreen (set DISPLAY, or use --snapshot DIR)")
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
            QtCore.qInstallMessageHandler(_quiet_offscreen)
        pg.setConfigOptions(antialias=False, background=BACKGROUND, foreground=(200, 200, 200),
                            useOpenGL=False)
        app = pg.mkQApp("semradio scopes")
    return app  # type: ignore[return-value]


def _quiet_offscreen(mode: Any, context: Any, message: str) -> None:
    """Qt message handler: drop the offscreen plugin's notices, pass the rest to stderr."""
    if "propagateSizeHints" in message:
        return
    print(message, file=sys.stderr)


def save_png(widget: QtWidgets.QWidget, path: str | Path) -> Path:
    """Render ``widget`` (shown or not) into a PNG file; returns the path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pix = widget.grab()
    if pix.isNull() or not pix.save(str(p), "PNG"):
        raise OSError(f"could not write the snapshot {p}")
    return p


def grab_rgb(widget: QtWidgets.QWidget) -> Any:
    """The widget rendered as a numpy uint8 array (H, W, 3) (tests, checks)."""
    import numpy as np

    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB888)
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
    return buf[:, :w * 3].reshape(h, w, 3).copy()


class ScopeView(QtWidgets.QWidget):
    """Base of the scope widgets: redraws from a scope block when its data changed.

    Subclasses build their plots in ``__init__`` and implement :meth:`redraw`. The window's
    timer calls :meth:`refresh` on the GUI thread at a bounded rate; a redraw that raises is
    counted in :attr:`render_errors` (logged once per kind) and the view keeps going.

    Attributes:
        block: the scope block drawn (None for views of the whole flowgraph).
        snapshot_name: file stem of the view's PNG snapshot.
        redraws: redraws done.
    """

    snapshot_name = "scope"
    title = "scope"
    #: Least time between two redraws (s); the window's timer sets the overall bound.
    min_interval_s = 0.0

    def __init__(self, block: Any = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.block = block
        self._drawn_version = -1
        self._t_drawn = 0.0
        self.redraws = 0
        self.render_errors = DropCounter(f"{type(self).__name__}")
        self.setMinimumSize(280, 220)

    def refresh(self, force: bool = False) -> bool:
        """Redraw if the block has new data (or ``force``) and ``min_interval_s`` has passed
        since the last redraw; True when it redrew."""
        version = self.block.version if self.block is not None else self.redraws + 1
        if not force and version == self._drawn_version:
            return False
        now = time.monotonic()
        if not force and now - self._t_drawn < self.min_interval_s:
            return False
        self._t_drawn = now
        global _forcing
        _forcing = force
        try:
            self.redraw()
        except Exception as exc:  # noqa: BLE001 - the GUI never dies on bad data
            self.render_errors.add(type(exc).__name__, detail=str(exc))
            return False
        finally:
            _forcing = False
        self._drawn_version = version
        self.redraws += 1
        return True

    def redraw(self) -> None:
        """Draw the block's newest data (GUI thread)."""
        raise NotImplementedError

    def _layout(self, main: QtWidgets.QWidget, caption: bool = True) -> None:
        """Lay out an optional caption line (a QLabel: changing its text never re-lays out the
        plots, unlike plot titles) above the view's main widget."""
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        if caption:
            self.caption = QtWidgets.QLabel(self.title)
            self.caption.setStyleSheet(CAPTION_STYLE)
            self.caption.setSizePolicy(QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Fixed)
            lay.addWidget(self.caption)
        lay.addWidget(main, 1)

    def set_caption(self, text: str) -> None:
        """Set the caption line (at most every ``TEXT_INTERVAL_S`` unless forced)."""
        set_label_text(self.caption, text)

    def snapshot(self, directory: str | Path) -> Path:
        """Save the view as ``<directory>/<snapshot_name>.png``."""
        return save_png(self, Path(directory) / f"{self.snapshot_name}.png")


#: Least time between two changes of a plot title or caption (s): setting a text re-lays out
#: the plot, the dearest part of a redraw; forced refreshes (snapshots) always update.
TEXT_INTERVAL_S = 0.5
_forcing = False


def _text_due(obj: Any, text: str, attr: str) -> bool:
    if getattr(obj, attr, None) == text:
        return False
    now = time.monotonic()
    if not _forcing and now - getattr(obj, attr + "_t", -1e9) < TEXT_INTERVAL_S:
        return False
    setattr(obj, attr, text)
    setattr(obj, attr + "_t", now)
    return True


def set_title(item: Any, text: str) -> None:
    """``item.setTitle(text)`` when the text changed, at most every ``TEXT_INTERVAL_S``."""
    if _text_due(item, text, "_semradio_title"):
        item.setTitle(text)


def set_label_text(label: Any, text: str) -> None:
    """``label.setText(text)`` when the text changed, at most every ``TEXT_INTERVAL_S``."""
    if _text_due(label, text, "_semradio_text"):
        label.setText(text)


def keep_range(plot: Any, lo: float, hi: float, pad: float = 1.0, quantum: float = 5.0, axis: str = "y") -> None:
    """Keep ``[lo, hi]`` in view on ``axis`` with few range changes (each one re-renders the
    axis): the range moves only when data leaves it or it is over 4x too wide, and then snaps
    to multiples of ``quantum`` around ``[lo - pad, hi + pad]``."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return
    vb = plot.getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    a0, a1 = (y0, y1) if axis == "y" else (x0, x1)
    need = max(hi - lo + 2 * pad, quantum)
    if lo - pad / 2 >= a0 and hi + pad / 2 <= a1 and (a1 - a0) <= 4 * need:
        return
    n0 = math.floor((lo - pad) / quantum) * quantum
    n1 = math.ceil((hi + pad) / quantum) * quantum
    if axis == "y":
        vb.setYRange(n0, n1, padding=0)
    else:
        vb.setXRange(n0, n1, padding=0)


def fixed_axes(plot: Any, x: tuple[float, float] | None = None, y: tuple[float, float] | None = None) -> None:
    """Turn off auto-ranging (and SI prefixes) of a plot and set fixed ranges."""
    plot.disableAutoRange()
    for ax in ("bottom", "left"):
        plot.getAxis(ax).enableAutoSIPrefix(False)
    plot.setMouseEnabled(x=False, y=False)
    plot.hideButtons()
    if x is not None:
        plot.setXRange(*x, padding=0)
    if y is not None:
        plot.setYRange(*y, padding=0)


def channel_label(tags: dict[str, Any]) -> str:
    """Short channel description from a frame's tags: ``rayleigh``, ``rician + interference``."""
    model = tags.get("channel_model") or tags.get("channel") or ""
    if tags.get("pz"):
        model = f"{model} + interference"
    fading = tags.get("fading")
    if fading and fading != "none" and model != "awgn":
        model = f"{model} ({fading})"
    return str(model)


def pen(color: tuple[int, int, int], width: float = 1.0, style: Any = None) -> Any:
    """A cosmetic pen for curves."""
    kw: dict[str, Any] = {"color": color, "width": width}
    if style is not None:
        kw["style"] = style
    return pg.mkPen(**kw)


def fmt(v: Any, spec: str = ".2f", none: str = "n/a") -> str:
    """Number formatting for captions (None/NaN -> ``none``)."""
    try:
        if v is None or v != v:
            return none
        return format(v, spec)
    except (TypeError, ValueError):
        return none


__all__ = ["QtCore", "QtGui", "QtWidgets", "pg", "COLORS", "BACKGROUND", "CURVE_COLORS", "ensure_app",
           "binding_drops_none_refs",
           "has_display", "save_png", "grab_rgb", "ScopeView", "pen", "fmt", "channel_label", "set_title",
           "set_label_text", "keep_range", "fixed_axes"]
