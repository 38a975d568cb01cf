"""FlowgraphMonitor: per-block frames/s, queue depth and drops of a running flowgraph."""

from __future__ import annotations

import time
from typing import Any

from ..monitor import MONITOR_COLUMNS, BlockRate, block_rates, monitor_snapshot
from .common import QtCore, QtWidgets, ScopeView

#: Height of a table row (px) and font size of the table (px): a demo's 15 blocks fit a
#: 1600 x 900 screen's window without scrolling.
ROW_HEIGHT = 18
FONT_PX = 11
#: The table asks the window for room for this many rows at most (more rows scroll).
MAX_FIT_ROWS = 24


class FlowgraphMonitor(ScopeView):
    """A table with one row per block, refreshed from ``Flowgraph.stats()`` (readable while
    running): state, frames/s over the last refresh interval, frames so far, frames queued
    on its inputs, drops (without those of its real-time output edges, the scope taps among
    them, shown in their own column: such an edge drops frames by design), mean work() time
    (ms, a scope's rate-limit wait left out) and
    latency p50/p99 (ms, sinks); the table asks for the height of all its rows (up to
    :data:`MAX_FIT_ROWS`), so the window lays it out without a scroll bar. Refreshed once a
    second (``stats()`` computes the sinks'
    latency percentiles, not free). The mean rate is over the run (:attr:`t_started` to
    :attr:`t_stopped`, set by the runner; 0 when unknown).

    Args:
        fg: the flowgraph.
        scope_names: names of scope blocks (their taps' drops are shown apart).
        interval_s: least time between two refreshes (rates are over this interval).
    """

    snapshot_name = "monitor"
    title = "flowgraph monitor"

    def __init__(self, fg: Any, scope_names: set[str] | None = None, interval_s: float = 1.0,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(None, parent)
        self.fg = fg
        self.scope_names = set(scope_names or ())
        self.interval_s = float(interval_s)
        self.table = QtWidgets.QTableWidget(0, len(MONITOR_COLUMNS))
        self.table.setHorizontalHeaderLabels([h for _, h in MONITOR_COLUMNS])
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Interactive)  # no re-measuring per update
        for j, (key, _) in enumerate(MONITOR_COLUMNS):
            self.table.setColumnWidth(j, {"block": 150, "latency": 100, "state": 62}.get(key, 66))
        self.table.verticalHeader().setDefaultSectionSize(ROW_HEIGHT)
        self.table.verticalHeader().setMinimumSectionSize(ROW_HEIGHT)
        self.table.setStyleSheet(f"QTableWidget, QHeaderView::section {{ font-size: {FONT_PX}px; }}")
        self.table.horizontalHeader().setFixedHeight(ROW_HEIGHT + 4)
        self.label = QtWidgets.QLabel(f"flowgraph {getattr(fg, 'name', '')}")
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.label)
        lay.addWidget(self.table)
        self._prev: dict[str, Any] | None = None
        self._t_prev = 0.0
        #: When the flowgraph started / stopped (``time.monotonic()``; set by the runner):
        #: the mean rates are over this span.
        self.t_started: float | None = None
        self.t_stopped: float | None = None
        self._t_snap: float | None = None
        self.rows: list[BlockRate] = []
        blocks = getattr(fg, "blocks", None)
        if isinstance(blocks, dict) and blocks:
            self._fit_rows(len(blocks))

    def refresh(self, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self._t_prev < self.interval_s:
            return False
        return super().refresh(force=True)

    def redraw(self) -> None:
        now = time.monotonic()
        elapsed = None
        if self.t_started is not None:
            elapsed = (self.t_stopped if self.t_stopped is not None else now) - self.t_started
        snap = monitor_snapshot(self.fg, self.scope_names, elapsed)
        t = snap.get("time")
        if t is None or (self._t_snap is not None and t == self._t_snap):
            return  # no new stats (a remote flowgraph sends them once a second)
        cur = snap["stats"]
        dt = t - self._t_snap if self._t_snap is not None else 0.0
        rows = block_rates(self._prev, cur, dt, snap["tap_drops"], elapsed=snap["elapsed"])
        self._prev, self._t_prev, self._t_snap = cur, now, t
        self.rows = rows
        if self.table.rowCount() != len(rows):
            self.table.setRowCount(len(rows))
            self._fit_rows(len(rows))
        for i, row in enumerate(rows):
            for j, text in enumerate(row.cells()):
                item = self.table.item(i, j)
                if item is None:
                    item = QtWidgets.QTableWidgetItem()
                    if j >= 2:
                        item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
                    self.table.setItem(i, j, item)
                if item.text() != text:
                    item.setText(text)
        total = sum(r.fps for r in rows if r.block not in self.scope_names)
        self.label.setText(f"flowgraph {getattr(self.fg, 'name', '')}: {len(rows)} blocks, "
                           f"{total:.0f} frames/s in all")

    def _fit_rows(self, n: int) -> None:
        """Ask the layout for the height that shows ``n`` rows without scrolling (at most
        :data:`MAX_FIT_ROWS`; beyond that the table scrolls)."""
        rows = min(n, MAX_FIT_ROWS)
        self.table.setMinimumHeight(self.table.horizontalHeader().height() + rows * ROW_HEIGHT
                                    + 2 * self.table.frameWidth() + 2)


__all__ = ["FlowgraphMonitor", "ROW_HEIGHT", "MAX_FIT_ROWS"]
