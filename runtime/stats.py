"""Performance counters: per-block counts and latency percentiles."""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from typing import Any

import numpy as np

log = logging.getLogger("semradio")


class LatencyStats:
    """Latency samples (ns) in a bounded ring; percentiles on demand.

    Keeps the newest ``capacity`` samples, so p50/p99 describe the recent past of a long run.
    """

    def __init__(self, capacity: int = 65536) -> None:
        self._buf: list[int] = [0] * capacity
        self._cap = capacity
        self._n = 0
        self.rejected = 0

    @property
    def count(self) -> int:
        """Samples recorded so far (rejected ones not included)."""
        return self._n

    def add(self, latency_ns: int) -> None:
        """Record one latency sample in nanoseconds (a value outside int64, from a hostile or
        broken ``t_ns``, is counted in ``rejected`` and not stored)."""
        if -9223372036854775808 <= latency_ns <= 9223372036854775807:  # called per frame: literals
            n = self._n
            self._buf[n % self._cap] = latency_ns
            self._n = n + 1
        else:
            self.rejected += 1

    def add_in_range(self, ns: int) -> None:
        """Record a sample known to be in the int64 range (a difference of two clock reads)."""
        n = self._n
        self._buf[n % self._cap] = ns
        self._n = n + 1

    def percentiles_ms(self, qs: tuple[float, ...] = (50.0, 99.0)) -> dict[str, float]:
        """``{"p50_ms": ..., "p99_ms": ...}`` over the stored samples (empty dict when none)."""
        n = min(self._n, self._cap)
        if n == 0:
            return {}
        vals = np.percentile(np.asarray(self._buf[:n], dtype=np.float64), qs) / 1e6
        return {f"p{q:g}_ms": round(float(v), 4) for q, v in zip(qs, vals)}


class DropCounter:
    """Counts dropped items by reason; logs the first occurrence of each reason once."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.by_reason: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()

    def add(self, reason: str, n: int = 1, detail: str = "") -> None:
        """Count ``n`` drops for ``reason`` (logged once per reason)."""
        with self._lock:
            first = reason not in self.by_reason
            self.by_reason[reason] += n
        if first:
            log.warning("%s: dropping (%s)%s; further drops of this kind are only counted",
                        self.owner, reason, f": {detail}" if detail else "")

    @property
    def total(self) -> int:
        """All drops."""
        return sum(self.by_reason.values())

    def snapshot(self) -> dict[str, Any]:
        """Copy of the per-reason counts."""
        with self._lock:
            return dict(self.by_reason)
