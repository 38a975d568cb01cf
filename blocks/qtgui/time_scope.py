"""TimeScope: channel gain |h|, received magnitude and per-frame SNR over time."""

from __future__ import annotations

import collections
import math
import time
from typing import Any

import numpy as np

from semradio.dsp import arrays as A
from semradio.runtime import Frame

from .arrays import as_complex_items, check_array, magnitude_db, to_host
from .base import ScopeBlock, ScopeInputError


#: Floor of the drawn magnitudes (dB): deep fades are clipped here.
MAGNITUDE_FLOOR_DB = -40.0


def frame_snr_db(px: float, noise: Any) -> float | None:
    """Measured SNR of one frame, ``10 log10(Px / mean |n|^2)`` in dB, from the channel's noise
    draw ``n`` (tag ``eval_noise``); None without a usable draw."""
    try:
        p = float(A.abs2(noise).mean())
    except Exception:  # noqa: BLE001 - a malformed tag is not a measurement
        return None
    if not p > 0.0 or not math.isfinite(p):
        return math.inf if p == 0.0 else None
    return 10.0 * math.log10(px / p)


class TimeScope(ScopeBlock):
    """Time scope of a channel output: |h| and |y_c| over the symbols of one item, and the
    configured and measured SNR of every frame.

    What is drawn (by :class:`semradio.blocks.qtgui.qt.TimeView`): top, ``20 log10 |h|`` and
    ``20 log10 |y_c|`` (dB, floor -40 dB) vs symbol index of one item of the newest frame;
    bottom, per accepted frame (x: seconds before now), the configured SNR (dB) and the
    measured ``10 log10(Px / mean|n|^2)`` (dB, only when the frame carries ``eval_noise``),
    and the configured SINR when it differs.

    Parameters
    ----------
    max_symbols : int, default 512
        Symbols of one item drawn. Settable at run time.
    history : int, default 300
        Frames kept for the SNR trace.
    max_rate_hz : float, optional
        Frames accepted per second at most (None: 10; see :class:`ScopeBlock`). Settable at run
        time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        At construction or when set, for ``max_symbols < 1``, ``item < 0`` or
        ``max_rate_hz <= 0``. Bad input never raises: it is counted in :attr:`rejected` and
        dropped.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k) or float32 (B, 2k)
        A channel output (numpy or torch, any device), or a real ``[Re; Im]`` payload; fed
        through a real-time edge.

    **Outputs**

    None (a sink).

    **Tags read**

    - ``h`` (CSI, complex (B, k));
    - ``snr_db`` and ``sinr_db`` (configured, dB);
    - ``px`` (signal power, default 1);
    - ``eval_noise`` (the noise draw, written by channels with ``keep_noise=True``);
    - ``seq`` (also kept for the caption: ``channel``, ``channel_model``, ``fading``, ``pz``).

    **Tags written**

    None.

    **Run-time parameters**

    ``max_symbols``, ``item`` (which item of the batch is drawn, 0; not a constructor
    argument), ``max_rate_hz``.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Frame
    >>> from semradio.blocks.qtgui import TimeScope
    >>> ts = TimeScope(max_rate_hz=float("inf"))
    >>> y = np.ones((2, 16), np.complex64)
    >>> ts.work(Frame.new(y, seq=0, h=0.5 * y, snr_db=10.0))
    >>> _, tr, tags = ts.traces()
    >>> round(float(tr["h_db"][0]), 2), tr["snr_db"].tolist(), tags
    (-6.02, [10.0], {'seq': 0, 'snr_db': 10.0})
    """

    scope_kind = "time"

    def __init__(self, max_symbols: int = 512, history: int = 300, max_rate_hz: float | None = None,
                 name: str | None = None) -> None:
        super().__init__(name, max_rate_hz)
        self.add_input("in", dtype=None)
        self.declare_param("max_symbols", int(max_symbols), "symbols of one item drawn", _positive_int)
        self.declare_param("item", 0, "item of the batch drawn", _non_negative_int)
        self._history: collections.deque = collections.deque(maxlen=int(history))

    def accept(self, frame: Frame) -> dict[str, Any]:  # type: ignore[override]
        d = frame.data
        check_array(d, "in", min_ndim=2)
        tags = frame.tags
        h = tags.get("h")
        if h is not None and (not hasattr(h, "shape") or tuple(h.shape) != tuple(d.shape)
                              or not A.is_complex(h)):
            raise ScopeInputError("csi", f"tag 'h' must be complex with the data's shape {tuple(d.shape)}")
        snr = tags.get("snr_db")
        measured = None
        noise = tags.get("eval_noise")
        if noise is not None:
            measured = frame_snr_db(float(tags.get("px", 1.0)), noise)
        row = (time.monotonic(), tags.get("seq"), _as_float(snr), measured, _as_float(tags.get("sinr_db")))
        with self._lock:
            self._history.append(row)
        return {"data": d, "h": h, "tags": {k: tags[k] for k in ("seq", "snr_db", "sinr_db", "channel",
                                                                 "channel_model", "fading", "pz") if k in tags}}

    def traces(self) -> tuple[int, dict[str, np.ndarray], dict[str, Any]]:
        """``(version, traces, tags)`` for the GUI thread. Traces: ``h_db`` and ``y_db``
        (dB over symbol index of the drawn item; ``h_db`` absent without CSI), and per frame
        ``t_ago`` (seconds before now, <= 0), ``seq``, ``snr_db`` (configured),
        ``measured_snr_db`` (NaN where not measured), ``sinr_db``."""
        version, item = self.latest()
        with self._lock:
            hist = list(self._history)
        out: dict[str, np.ndarray] = {}
        if item:
            n = self.param("max_symbols")
            i = self.param("item")
            try:
                d = item["data"]
                i = min(i, int(d.shape[0]) - 1)
                y = as_complex_items(d[i:i + 1])[0, :n]
                out["y_db"] = magnitude_db(y, MAGNITUDE_FLOOR_DB)
                if item.get("h") is not None:
                    out["h_db"] = magnitude_db(to_host(item["h"][i:i + 1])[0, :n], MAGNITUDE_FLOOR_DB)
            except Exception as exc:  # noqa: BLE001 - bad data never crashes the GUI
                self.rejected.add(f"render:{type(exc).__name__}", detail=str(exc))
        if hist:
            t, seq, snr, meas, sinr = zip(*hist)
            out["t_ago"] = np.array(t, np.float64) - time.monotonic()
            out["seq"] = np.array([np.nan if s is None else s for s in seq], np.float64)
            out["snr_db"] = np.array([np.nan if v is None else v for v in snr], np.float64)
            out["measured_snr_db"] = np.array([np.nan if v is None else v for v in meas], np.float64)
            out["sinr_db"] = np.array([np.nan if v is None else v for v in sinr], np.float64)
        return version, out, dict(item.get("tags", {})) if item else {}


def _as_float(v: Any) -> float | None:
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def _positive_int(v: Any) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(f"must be >= 1, got {v!r}")
    return n


def _non_negative_int(v: Any) -> int:
    n = int(v)
    if n < 0:
        raise ValueError(f"must be >= 0, got {v!r}")
    return n


__all__ = ["TimeScope", "frame_snr_db", "MAGNITUDE_FLOOR_DB"]
