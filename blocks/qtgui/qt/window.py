"""ScopeWindow: every scope view, the flowgraph monitor and the control panel in one window."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

from ..base import ScopeBlock
from ..constellation import ConstellationScope
from ..image import ImageScope
from ..metric import MetricScope
from ..ofdm import OFDMScope
from ..ofdm import _view_class as _ofdm_view_class
from ..time_scope import TimeScope
from .common import QtCore, QtGui, QtWidgets, ScopeView, save_png
from .constellation import ConstellationView
from .control_panel import ControlPanel
from .image import ImageView
from .metric import MetricView
from .monitor import FlowgraphMonitor
from .time_scope import TimeView

#: Default CPU budget of the GUI thread: a fraction of one core (redraws, paints, events).
DEFAULT_CPU_BUDGET = 0.04
#: The redraw timer never waits longer than this (s), whatever the budget.
MAX_REDRAW_PERIOD_S = 0.5
#: No pacing during the first seconds (first layouts and paints are dear and not typical).
PACE_WARMUP_S = 1.5

#: View class per scope kind (``ScopeBlock.scope_kind``; remote proxies have it too).
VIEWS: dict[str, type[ScopeView]] = {
    ConstellationScope.scope_kind: ConstellationView,
    TimeScope.scope_kind: TimeView,
    ImageScope.scope_kind: ImageView,
    MetricScope.scope_kind: MetricView,
    OFDMScope.scope_kind: _ofdm_view_class(),
}


def view_for(block: ScopeBlock) -> ScopeView:
    """The widget drawing a scope block (or a remote proxy of one)."""
    view = VIEWS.get(getattr(block, "scope_kind", ""))
    if view is None:
        raise TypeError(f"no view for {type(block).__name__}")
    return view(block)


class ScopeWindow(QtWidgets.QMainWindow):
    """The scopes of a flowgraph in a grid (three columns, four with an image scope, which
    spans two), then the flowgraph monitor (two columns) and the control panel.

    Redraws: a QTimer on the GUI thread redraws every view whose block has new data (views
    may redraw less often: metrics 5/s, images 10/s, monitor 1/s). The timer's rate is
    bounded by ``fps`` *and* by a CPU budget: at each tick the window measures the GUI
    thread's CPU time since the previous one (redraws, paints, events) and lengthens or
    shortens the period so that this stays near ``cpu_budget`` of one core (at least 2
    redraws/s). The GUI
    thread shares the interpreter lock with the flowgraph's threads, so this budget is what
    bounds the scopes' cost to the flowgraph on a busy machine; where redraws are cheap
    enough, the ``fps`` bound is the one that applies.

    Args:
        fg: the flowgraph (monitor and controls read/post to it).
        scopes: the scope blocks, in display order.
        fps: redraw rate bound (Hz).
        monitor / controls: include the flowgraph monitor / the control panel.
        title: window title.
        cpu_budget: GUI-thread CPU per second, as a fraction of one core (default
            :data:`DEFAULT_CPU_BUDGET`; 0: no budget, only ``fps``).
        control_specs: the control panel's controls (default: discovered from ``fg``).

    Attributes:
        views: the scope views in order; ``monitor``, ``controls``: the extra views or None.
        ticks: timer ticks so far; ``on_tick``: callbacks run after each redraw tick.
    """

    def __init__(self, fg: Any, scopes: list[ScopeBlock], fps: float = 10.0, monitor: bool = True,
                 controls: bool = True, title: str | None = None,
                 cpu_budget: float | None = None, control_specs: list[Any] | None = None) -> None:
        super().__init__()
        self.fg = fg
        self.fps = float(fps)
        self.cpu_budget = DEFAULT_CPU_BUDGET if cpu_budget is None else float(cpu_budget)
        self._cpu_prev: float | None = None
        self._t_prev = self._t_started = 0.0
        #: Smoothed CPU fraction of one core used by the GUI thread (None before measuring).
        self.cpu_fraction: float | None = None
        self.setWindowTitle(title or f"semradio scopes: {getattr(fg, 'name', '')}")
        self.views: list[ScopeView] = [view_for(b) for b in scopes]
        self.monitor = FlowgraphMonitor(fg, {b.name for b in scopes}) if monitor else None
        self.controls = ControlPanel(fg, specs=control_specs) if controls else None
        central = QtWidgets.QWidget()
        grid = QtWidgets.QGridLayout(central)
        grid.setContentsMargins(4, 4, 4, 4)
        grid.setSpacing(4)
        cells = [(v, 2 if isinstance(v, ImageView) else 1) for v in self.views]
        if self.monitor is not None:
            cells.append((self.monitor, 2))
        if self.controls is not None:
            cells.append((self.controls, 1))
        ncols = 4 if any(isinstance(v, ImageView) for v in self.views) else 3
        row = col = 0
        for widget, span in cells:
            if col + span > ncols:
                row, col = row + 1, 0
            grid.addWidget(widget, row, col, 1, span)
            col += span
        for c in range(ncols):
            grid.setColumnStretch(c, 1)
        self.setCentralWidget(central)
        self.status = QtWidgets.QLabel("")
        self.statusBar().addWidget(self.status, 1)
        self.ticks = 0
        self.on_tick: list[Callable[[], None]] = []
        self.on_close: list[Callable[[], None]] = []
        self.timer = QtCore.QTimer(self)
        self.timer.setInterval(max(1, int(round(1000.0 / max(fps, 0.1)))))
        self.timer.timeout.connect(self.tick)
        self.resize(1600 if ncols == 4 else 1280, 860)

    def all_views(self) -> list[ScopeView]:
        """Scope views, then the monitor and the control panel (those present)."""
        extra = [v for v in (self.monitor, self.controls) if v is not None]
        return [*self.views, *extra]

    def start(self) -> None:
        """Start the redraw timer."""
        self._t_started = time.monotonic()
        self.timer.start()

    @property
    def redraw_interval_s(self) -> float:
        """The redraw timer's current period (s)."""
        return self.timer.interval() / 1000.0

    def _pace(self) -> None:
        """Adapt the timer so the GUI thread's CPU time stays within ``cpu_budget`` (a
        fraction of one core; 0: no budget): a proportional controller on the measured CPU
        fraction (smoothed), the period bounded by ``1/fps`` and ``MAX_REDRAW_PERIOD_S``;
        inactive for ``PACE_WARMUP_S`` after :meth:`start` (first layouts and paints)."""
        now_cpu, now = time.thread_time(), time.monotonic()
        if self._cpu_prev is not None and self.cpu_budget > 0 and now - self._t_started > PACE_WARMUP_S:
            dt = now - self._t_prev
            frac = (now_cpu - self._cpu_prev) / dt if dt > 0 else 0.0
            self.cpu_fraction = frac if self.cpu_fraction is None else 0.7 * self.cpu_fraction + 0.3 * frac
            period = self.timer.interval() / 1000.0
            if self.cpu_fraction > self.cpu_budget:
                period *= min(2.0, self.cpu_fraction / self.cpu_budget)
            elif self.cpu_fraction < 0.8 * self.cpu_budget:
                period *= max(0.8, self.cpu_fraction / (0.8 * self.cpu_budget))
            period = min(MAX_REDRAW_PERIOD_S, max(1.0 / self.fps, period))
            self.timer.setInterval(max(1, int(round(period * 1000.0))))
        self._cpu_prev, self._t_prev = now_cpu, now

    def tick(self) -> None:
        """One timer tick: adapt the rate, redraw what changed, run the ``on_tick`` callbacks."""
        self.ticks += 1
        self._pace()
        self.refresh_all()
        for cb in list(self.on_tick):
            cb()

    def refresh_all(self, force: bool = False) -> None:
        """Redraw every view (only those with new data unless ``force``)."""
        for v in self.all_views():
            v.refresh(force=force)

    def snapshot(self, directory: str | Path) -> dict[str, Path]:
        """Save each view as ``<directory>/<name>.png`` and the whole window as
        ``window.png``; returns name -> path."""
        d = Path(directory)
        out = {}
        for v in self.all_views():
            out[v.snapshot_name] = v.snapshot(d)
        out["window"] = save_png(self, d / "window.png")
        return out

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:  # noqa: N802 - Qt override
        self.timer.stop()
        for cb in list(self.on_close):
            cb()
        super().closeEvent(event)


__all__ = ["ScopeWindow", "VIEWS", "view_for", "DEFAULT_CPU_BUDGET", "MAX_REDRAW_PERIOD_S"]
