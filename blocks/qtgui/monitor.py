"""Flowgraph monitor math: per-block rates from two ``Flowgraph.stats()`` snapshots."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

#: Columns of the monitor table: key, header.
MONITOR_COLUMNS = (("block", "block"), ("state", "state"), ("fps", "frames/s"), ("mean_fps", "mean/s"),
                   ("frames", "frames"), ("queue", "queue"), ("drops", "drops"), ("scope_drops", "rt drops"),
                   ("work_ms", "ms/frame"), ("latency", "p50/p99 ms"))


@dataclass
class BlockRate:
    """One row of the monitor: a block's throughput and backlog.

    Attributes:
        block / state: name and runner state ("stalled N s" for a bridge whose peer went silent).
        fps: frames per second over the last interval (frames out; for sinks, work() calls:
            one per aligned set of input frames).
        mean_fps: frames per second since the monitor started.
        frames: frames so far (out; in for sinks).
        queue: frames queued on its input edges now.
        drops: frames dropped, except those of its real-time output edges (alignment, bad
            input, ...).
        scope_drops: frames its real-time output edges dropped (scope taps and other
            real-time edges: dropping is what they are for).
        work_ms: mean work() time per call (ms).
        latency: ``"p50 / p99"`` ms at sinks, else "".
    """

    block: str
    state: str
    fps: float
    mean_fps: float
    frames: int
    queue: int
    drops: int
    scope_drops: int
    work_ms: float
    latency: str

    def cells(self) -> list[str]:
        """Text of the table cells, in :data:`MONITOR_COLUMNS` order."""
        return [self.block, self.state, f"{self.fps:.1f}", f"{self.mean_fps:.1f}", str(self.frames),
                str(self.queue), str(self.drops), str(self.scope_drops), f"{self.work_ms:.3f}", self.latency]


def _frames(c: dict[str, Any]) -> int:
    """Frames out; for sinks, work() calls (one per aligned set of input frames)."""
    out = int(c.get("frames_out", 0) or 0)
    if out:
        return out
    return int(c.get("work_calls", 0) or c.get("frames_in", 0) or 0)


def block_rates(prev: dict[str, dict[str, Any]] | None, cur: dict[str, dict[str, Any]], dt: float,
                scope_drops: dict[str, int] | None = None, elapsed: float | None = None) -> list[BlockRate]:
    """Rows of the monitor from two ``stats()`` snapshots taken ``dt`` seconds apart
    (``prev`` None: rates are 0). ``scope_drops``: per source block, drops on its real-time
    edges (subtracted from ``drops``, shown apart). ``elapsed``: seconds since the
    flowgraph started (for ``mean_fps``; None: 0). ``work_ms`` of the counters already leaves
    out the time a block waits on purpose (a Throttle's pacing, a scope's rate limit)."""
    rows = []
    scope_drops = scope_drops or {}
    for name, c in cur.items():
        n = _frames(c)
        p = _frames(prev[name]) if prev and name in prev else n
        fps = (n - p) / dt if dt > 0 and prev is not None else 0.0
        calls = int(c.get("work_calls", 0) or 0)
        work_ms = float(c.get("work_ms", 0.0) or 0.0) / calls if calls else 0.0
        lat = c.get("latency") or {}
        lat_s = f"{lat['p50_ms']:.1f} / {lat['p99_ms']:.1f}" if "p50_ms" in lat and "p99_ms" in lat else ""
        sd = int(scope_drops.get(name, 0))
        mean = n / elapsed if elapsed else 0.0
        state = str(c.get("state", ""))
        status = c.get("status") or {}
        if isinstance(status, dict) and status.get("peer") == "stalled":  # a bridge whose peer went silent
            state = f"stalled {status.get('silent_s', 0):.0f} s"
        rows.append(BlockRate(name, state, max(0.0, fps), mean, n, int(c.get("queue_depth", 0) or 0),
                              max(0, int(c.get("drops", 0) or 0) - sd), sd, work_ms, lat_s))
    return rows


def monitor_snapshot(fg: Any, scope_names: set[str], elapsed: float | None = None) -> dict[str, Any]:
    """What the monitor reads from a flowgraph: ``{"stats": fg.stats(), "tap_drops":
    scope_tap_drops, "elapsed": seconds the graph has run (None:
    unknown), "time": time.monotonic() of the snapshot}``. A flowgraph-like object with its own
    ``monitor_snapshot()`` (the scope window's proxy of a flowgraph in another process)
    answers instead."""
    own = getattr(fg, "monitor_snapshot", None)
    if callable(own):
        return own()
    return {"stats": fg.stats(), "tap_drops": scope_tap_drops(fg, scope_names),
            "elapsed": elapsed, "time": time.monotonic()}


def scope_tap_drops(fg: Any, scope_names: set[str] | None = None) -> dict[str, int]:
    """Per source block: frames dropped on its real-time edges (the scope taps among them; a
    real-time edge drops by design). ``scope_names`` is accepted for symmetry and unused."""
    out: dict[str, int] = {}
    for e in fg.edges:
        if e.policy == "realtime" and e.dropped:
            out[e.src.name] = out.get(e.src.name, 0) + int(e.dropped)
    return out


__all__ = ["BlockRate", "block_rates", "monitor_snapshot", "scope_tap_drops", "MONITOR_COLUMNS"]
