"""OFDMScope: what an OFDM receiver saw — equalised pilots, header and data, the channel estimate
|H(f)| over the subcarriers, and the CFO and detection metric of every burst over time.

The block imports no Qt (like the other scopes, see :mod:`.base`); its view, :class:`OFDMView`,
is built on first use from :mod:`semradio.blocks.qtgui.qt` and registered with the scope window
(in this process and in the window's child process) when that is imported.
:func:`attach_ofdm_scopes` adds the scope to a flowgraph next to its
:class:`~semradio.blocks.OFDMReceiver`; :func:`run_ofdm_flowgraph` is
:func:`~semradio.blocks.qtgui.gui_support.run_flowgraph` with these scopes added, for the OFDM
flowgraph scripts' ``--gui`` / ``--snapshot DIR``.
"""

from __future__ import annotations

import collections
import functools
import logging
import math
import reprlib
import warnings
from typing import Any, Iterable

import numpy as np

from semradio.dsp.ofdm.numerology import OFDMConfig
from semradio.runtime import Block, Frame

from .arrays import check_array, decimate, to_host
from .base import SCOPE_HWM, ScopeBlock, ScopeInputError, connect_scope

log = logging.getLogger("semradio")

#: The constellation's point classes, in drawing order.
OFDM_CLASSES = ("pilots", "header", "data")
#: RGB of the classes and of the |H| curve (the view's legend; tests look for them).
OFDM_COLORS = {"pilots": (255, 90, 90), "header": (80, 230, 80), "data": (0, 200, 255), "h": (255, 220, 0),
               "decoded": (0, 200, 255), "failed": (255, 90, 90), "threshold": (160, 160, 160)}
#: Floor of the drawn channel magnitudes (dB).
H_FLOOR_DB = -40.0
#: Most grids kept for the constellation (the ``bursts`` parameter's upper bound).
MAX_BURSTS = 16
#: Most OFDM symbols of one burst used per redraw (header + evenly spread data symbols):
#: bounds the GUI-side work whatever a header announced.
MAX_GRID_ROWS = 512
#: Largest burst (data slots) whose padding slots are told apart from the latents (the
#: receiver's default ``max_values`` is 2**22).
MAX_SLOTS = 1 << 23
#: Most characters of a string tag shown in the caption.
_MAX_TEXT = 64
#: Tags shown in the caption (when they are plain numbers / strings).
_CAPTION_TAGS = ("seq", "csi", "snr_db", "eval_snr_db", "channel", "channel_model", "denoiser")


class OFDMScope(ScopeBlock):
    """OFDM receiver scope: the equalised grid of the newest bursts, the channel estimate over
    the subcarriers, and per-burst synchronisation (CFO, detection metric) over time.

    What is computed (:meth:`traces`, on the GUI side): per kept burst ``z = grid_y / grid_h``
    (zero-forcing): ``pilots`` = z at :attr:`OFDMConfig.pilot_pos` (every symbol; BPSK +-1),
    ``header`` = z at the data carriers of the header symbols (BPSK +-1), ``data`` = z at the
    data carriers of the payload symbols, padding slots left out (the latents: unit power);
    non-finite points are left out. ``h_db`` = ``10 log10 mean_s |grid_h[s, k]|^2`` of the
    newest burst over its symbols, with the per-symbol ``h_db_min`` / ``h_db_max`` (dB, floor
    -40 dB) over ``k`` = :attr:`OFDMConfig.used`. Per burst: ``t_s`` (``start /
    sample_rate``, seconds of the receiver's sample stream), ``cfo``, ``metric``, ``ok``
    (header passed).

    What is drawn (by :class:`OFDMView`): top left, in-phase vs quadrature of the equalised
    pilots (red), header (green) and data (cyan) over +-2 (pilots and header are both BPSK: where
    they overlap the colours add up to yellow); top right, |H(f)| in dB vs
    subcarrier index (yellow mean, shaded per-symbol spread, pilot carriers marked); bottom,
    CFO (subcarrier spacings) and detection metric (with the receiver's threshold when known)
    vs stream time, decoded bursts cyan, failed headers red.

    Parameters
    ----------
    config : OFDMConfig, optional
        The link's :class:`~semradio.dsp.ofdm.numerology.OFDMConfig` (default the receiver's,
        else ``OFDMConfig()``).
    receiver : OFDMReceiver or BurstReceiver, optional
        The :class:`~semradio.blocks.OFDMReceiver` or ``BurstReceiver`` whose ``events`` —
        every synchronised detection, including those whose header failed its CRC — feed the
        time plots instead of the accepted frames' tags: complete, since a scope accepts at
        most ``max_rate_hz`` frames per second, and showing failed detections; the views
        redraw when a frame is accepted.
    max_points : int, default 2048
        Points drawn per class (pilots, header, data). Settable at run time.
    bursts : int, default 2
        Newest bursts in the constellation, 1 .. 16 (:data:`MAX_BURSTS`). Settable at run time.
    history : int, default 600
        Bursts kept for the time plots.
    max_rate_hz : float, optional
        Frames accepted per second at most (None: 10; see :class:`ScopeBlock`). Settable at run
        time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    cfg : OFDMConfig
        The numerology the grids are read with.
    receiver : object or None
        The watched receiver.
    no_grid : int
        Accepted frames that carried no grid (receiver without ``keep_grid``).

    Raises
    ------
    TypeError
        At construction, for a ``config`` that is not an :class:`OFDMConfig`.
    ValueError
        At construction or when set, for ``max_points < 1``, ``bursts`` outside 1 .. 16 or
        ``max_rate_hz <= 0``. Bad input (no ``ofdm`` dict or one with missing / non-finite /
        out-of-range ``start``, ``cfo``, ``metric``; grids of the wrong container, dtype, shape
        or only one of the two; a non-array payload) never raises: it is counted in
        :attr:`rejected` by reason (``ofdm``, ``grid``, ``container``, ...) and dropped;
        non-finite grid values are only left out of the drawing.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (items, length)
        The output frames of an :class:`~semradio.blocks.OFDMReceiver`, one per decoded burst,
        fed through a real-time edge (see :func:`attach_ofdm_scopes`).

    **Outputs**

    None (a sink).

    **Tags read**

    - ``ofdm`` (required): dict with ``start`` (int, burst start in receiver samples), ``cfo``
      (subcarrier spacings, ``|cfo| <= fft_size / 2``), ``metric`` (detection metric in
      [0, 1]) and, optional, ``timing_peak``, ``snr_db_lts`` (dB);
    - ``grid_y`` / ``grid_h`` (receiver built with ``keep_grid=True``): complex (S, n_used),
      the received header+data grid and its channel estimate on :attr:`OFDMConfig.used`
      (S > ``header_symbols``: the first ``header_symbols`` rows are the header); both or
      neither (frames without them still feed the time plots, and are counted in
      :attr:`no_grid`);
    - ``seq``, ``csi``, ``snr_db``, ``eval_snr_db``, ``channel``, ``denoiser`` (caption).

    **Tags written**

    None.

    **Run-time parameters**

    ``max_points``, ``bursts``, ``max_rate_hz``.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.blocks.digital.ofdm_rx import OFDMReceiver
    >>> from semradio.blocks.digital.ofdm_tx import OFDMTransmitter
    >>> from semradio.runtime import Frame
    >>> x = np.exp(2j * np.pi * np.random.default_rng(0).random((2, 64))).astype(np.complex64)
    >>> burst = OFDMTransmitter(gap=300).work(Frame(x, {"seq": 4}))
    >>> rx = OFDMReceiver(keep_grid=True)
    >>> scope = OFDMScope(receiver=rx, max_rate_hz=float("inf"))
    >>> for f in rx.work(Frame(burst.data, {})):
    ...     scope.work(f)
    >>> _, tr, tags = scope.traces()
    >>> tags["seq"], tr["data"].size, bool(np.allclose(np.abs(tr["pilots"]), 1, atol=1e-3))
    (4, 128, True)
    """

    scope_kind = "ofdm"

    def __init__(self, config: OFDMConfig | None = None, receiver: Any = None, max_points: int = 2048,
                 bursts: int = 2, history: int = 600, max_rate_hz: float | None = None,
                 name: str | None = None) -> None:
        super().__init__(name, max_rate_hz)
        self.add_input("in", dtype=None)
        if config is None:
            config = getattr(receiver, "cfg", None)
            if not isinstance(config, OFDMConfig):
                config = OFDMConfig()
        elif not isinstance(config, OFDMConfig):
            raise TypeError(f"{self.name}: config must be an OFDMConfig, got {type(config).__name__}")
        self.cfg = config
        self.receiver = receiver
        self.declare_param("max_points", int(max_points), "points drawn per class (pilots, header, data)",
                           _positive_int)
        self.declare_param("bursts", int(bursts), f"newest bursts drawn in the constellation (1..{MAX_BURSTS})",
                           _burst_count)
        self._grids: collections.deque = collections.deque(maxlen=MAX_BURSTS)
        self._history: collections.deque = collections.deque(maxlen=max(1, int(history)))
        #: Accepted frames that carried no grid (receiver without ``keep_grid``).
        self.no_grid = 0

    # --------------------------------------------------------------- block side
    def accept(self, frame: Frame) -> dict[str, Any]:  # type: ignore[override]
        tags = frame.tags if isinstance(frame.tags, dict) else {}
        check_array(frame.data, "in", min_ndim=1, kinds="c")
        o = _ofdm_tag(tags.get("ofdm"), self.cfg.fft_size / 2.0)
        grid = _grids(tags.get("grid_y"), tags.get("grid_h"), self.cfg)
        n_values = int(np.prod(tuple(frame.data.shape)))
        seq = _seq(tags.get("seq"))
        row = (o["start"] / self.cfg.sample_rate, o["cfo"], o["metric"], o["timing_peak"], o["snr_db_lts"],
               math.nan if seq is None else float(seq), True)
        with self._lock:
            self._history.append(row)
            if grid is not None:
                self._grids.append((grid[0], grid[1], n_values))
            else:
                self.no_grid += 1
        shown = {k: v for k, v in ((k, _plain_tag(tags.get(k))) for k in _CAPTION_TAGS) if v is not None}
        shown["seq"] = seq
        shown.update(cfo=o["cfo"], metric=o["metric"], snr_db_lts=o["snr_db_lts"], timing_peak=o["timing_peak"],
                     has_grid=grid is not None)
        return {"tags": shown}

    # ----------------------------------------------------------------- GUI side
    def traces(self) -> tuple[int, dict[str, np.ndarray], dict[str, Any]]:
        """``(version, traces, tags)`` for the GUI (any thread but the block's).

        Traces (numpy; see the class docstring): ``pilots``, ``header``, ``data`` (complex64
        points, at most ``max_points`` each, from the newest ``bursts`` grids); ``k``,
        ``h_db``, ``h_db_min``, ``h_db_max``, ``pilot_k`` (float64, newest grid); ``t_s``,
        ``cfo``, ``metric`` (float64), ``ok`` (bool), ``seq`` (float64, NaN when unknown) per
        burst, oldest first. Keys are absent when there is nothing to draw. Tags: the newest
        frame's caption tags plus ``bursts`` (decoded so far: the receiver's count, else the
        frames accepted), ``failed`` (headers that failed, with a ``receiver``), ``threshold``
        (the receiver's, when known), ``no_grid``, ``rejected``.
        """
        version, item = self.latest()
        with self._lock:
            grids = list(self._grids)
            hist = list(self._history)
        out: dict[str, np.ndarray] = {}
        tags: dict[str, Any] = dict(item.get("tags", {})) if item else {}
        n_bursts = self.param("bursts")
        max_points = self.param("max_points")
        try:
            if grids:
                out.update(self._points(grids[-n_bursts:], max_points))
                out.update(self._channel(grids[-1][1]))
        except Exception as exc:  # noqa: BLE001 - bad data never crashes the GUI
            self.rejected.add(f"render:{type(exc).__name__}", detail=str(exc))
        rows = self._event_rows()
        if rows is None:
            rows = hist
        else:
            tags["failed"] = sum(1 for r in rows if not r[6])
        stats = getattr(getattr(self.receiver, "rx", self.receiver), "stats", None)
        decoded, crc = _int(getattr(stats, "bursts", None)), _int(getattr(stats, "header_crc", None))
        if crc is not None:
            tags["failed"] = crc
        if rows:
            t, cfo, metric, _, _, seq, ok = zip(*rows)
            out["t_s"] = np.array(t, np.float64)
            out["cfo"] = np.array(cfo, np.float64)
            out["metric"] = np.array(metric, np.float64)
            out["seq"] = np.array(seq, np.float64)
            out["ok"] = np.array(ok, bool)
        tags["bursts"] = decoded if decoded is not None else self.accepted
        tags["no_grid"] = self.no_grid
        tags["rejected"] = self.rejected_total
        thr = _real(_receiver_threshold(self.receiver))
        if thr is not None:
            tags["threshold"] = thr
        return version, out, tags

    def _points(self, grids: list[tuple[Any, Any, int]], max_points: int) -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {c: [] for c in OFDM_CLASSES}
        for y, h, n_values in grids:
            for cls, pts in equalised_points(self.cfg, y, h, n_values).items():
                parts[cls].append(pts)
        out = {}
        for cls, chunks in parts.items():
            if chunks:
                pts = np.concatenate(chunks[::-1])  # newest burst first: decimation keeps it
                out[cls] = decimate(pts, max_points).astype(np.complex64, copy=False)
        return out

    def _channel(self, h: Any) -> dict[str, np.ndarray]:
        cfg = self.cfg
        p = np.abs(np.asarray(to_host(h))[_rows(int(h.shape[0]), cfg.header_symbols, MAX_GRID_ROWS)])
        p = p.astype(np.float64) ** 2
        p[~np.isfinite(p)] = np.nan
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)  # a carrier NaN throughout: drawn as a gap
            db = [np.maximum(10.0 * np.log10(v), H_FLOOR_DB)
                  for v in (np.nanmean(p, axis=0), np.nanmin(p, axis=0), np.nanmax(p, axis=0))]
        return {"k": cfg.used.astype(np.float64), "h_db": db[0], "h_db_min": db[1], "h_db_max": db[2],
                "pilot_k": cfg.pilots.astype(np.float64)}

    def _event_rows(self) -> list[tuple] | None:
        """History rows from the receiver's detections (None without a receiver)."""
        src = self.receiver
        events = getattr(getattr(src, "rx", src), "events", None) if src is not None else None
        if events is None:
            return None
        try:
            evs = list(events)[-(self._history.maxlen or 1):]
        except Exception:  # noqa: BLE001 - e.g. mutated while copied: use the tags this time
            return None
        fs = self.cfg.sample_rate
        limit = self.cfg.fft_size / 2.0
        rows = []
        for e in evs:
            try:
                start, cfo, metric = (_int(getattr(e, "start", None)), _real(getattr(e, "cfo", None)),
                                      _real(getattr(e, "metric", None)))
                if start is None or cfo is None or metric is None or abs(cfo) > limit \
                        or not 0.0 <= metric <= 1.0 + 1e-6:
                    continue
                rows.append((start / fs, cfo, metric, _nan(getattr(e, "timing_peak", None)),
                             _nan(getattr(e, "snr_db", None)), math.nan, getattr(e, "header_ok", True) is not False))
            except Exception:  # noqa: BLE001 - a malformed event is left out
                continue
        return rows


# ----------------------------------------------------------------------------- helpers
def equalised_points(cfg: OFDMConfig, y: Any, h: Any, n_values: int | None = None,
                     max_rows: int = MAX_GRID_ROWS) -> dict[str, np.ndarray]:
    """The zero-forcing equalised grid ``y / h`` of one burst, split by carrier class.

    Args:
        cfg: the numerology (``used`` order of the grid columns, pilot/data positions,
            ``header_symbols``).
        y, h: complex (S, n_used) received grid and channel estimate (numpy or torch).
        n_values: latent symbols the burst carries (the frame's size): the padding slots of the
            last data symbol are left out when it is consistent with the grid.
        max_rows: at most the header plus this many evenly spread data symbols are used.

    Returns:
        ``{"pilots", "header", "data"}`` -> complex64 1-D arrays of the finite points.
    """
    hs = cfg.header_symbols
    rows = _rows(int(y.shape[0]), hs, max_rows)
    yy = np.asarray(to_host(y))[rows].astype(np.complex64, copy=False)
    hh = np.asarray(to_host(h))[rows].astype(np.complex64, copy=False)
    with np.errstate(all="ignore"):
        z = yy / hh
    n_h = min(hs, z.shape[0])
    pil = z[:, cfg.pilot_pos].reshape(-1)
    hdr = z[:n_h][:, cfg.data_pos].reshape(-1)
    dat = z[n_h:][:, cfg.data_pos]
    s_data = int(y.shape[0]) - hs
    n_d = len(cfg.data)
    if n_values is not None and 0 < s_data * n_d <= MAX_SLOTS and cfg.data_symbols(n_values) == s_data \
            and n_values <= s_data * n_d:
        used = np.zeros(s_data * n_d, bool)
        used[cfg.interleaver(int(n_values))] = True
        dat = dat[used.reshape(s_data, n_d)[rows[n_h:] - hs]]
    dat = dat.reshape(-1)
    return {name: p[np.isfinite(p)] for name, p in (("pilots", pil), ("header", hdr), ("data", dat))}


def _rows(s: int, hs: int, max_rows: int) -> np.ndarray:
    """Row indices used: the header's, then at most ``max_rows`` data rows evenly spread."""
    head = np.arange(min(hs, s))
    data = np.arange(min(hs, s), s)
    if data.size > max_rows:
        data = data[(np.arange(max_rows, dtype=np.int64) * data.size) // max_rows]
    return np.concatenate([head, data])


def _real(v: Any) -> float | None:
    """A finite real number (not a bool) as float, else None."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int beyond float range
        return None
    return f if math.isfinite(f) else None


def _nan(v: Any) -> float:
    f = _real(v)
    return math.nan if f is None else f


def _int(v: Any) -> int | None:
    """A non-negative integer below 2**62 (not a bool), else None."""
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        return None
    i = int(v)
    return i if 0 <= i < 1 << 62 else None


def _seq(v: Any) -> int | None:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        return None
    i = int(v)
    return i if -(1 << 63) <= i < 1 << 63 else None


def _plain_tag(v: Any) -> Any:
    """A caption-safe copy of a tag value: finite numbers and short strings, else None."""
    if isinstance(v, str):
        return v[:_MAX_TEXT]
    return _real(v)


def _ofdm_tag(o: Any, max_cfo: float) -> dict[str, Any]:
    """The validated ``ofdm`` tag (``start``, ``cfo``, ``metric``; optional fields None/NaN).

    Raises:
        ScopeInputError: ``ofdm`` when it is missing or malformed.
    """
    if not isinstance(o, dict):
        raise ScopeInputError("ofdm", f"tag 'ofdm' must be a dict, got {type(o).__name__}")
    start, cfo, metric = _int(o.get("start")), _real(o.get("cfo")), _real(o.get("metric"))
    if start is None:
        raise ScopeInputError("ofdm", f"ofdm['start'] must be a sample index >= 0, got {reprlib.repr(o.get('start'))}")
    if cfo is None or abs(cfo) > max_cfo:
        raise ScopeInputError("ofdm", f"ofdm['cfo'] must be finite, at most {max_cfo:g} in size, "
                                      f"got {reprlib.repr(o.get('cfo'))}")
    if metric is None or not 0.0 <= metric <= 1.0 + 1e-6:
        raise ScopeInputError("ofdm", f"ofdm['metric'] must be in [0, 1], got {reprlib.repr(o.get('metric'))}")
    return {"start": start, "cfo": cfo, "metric": metric, "timing_peak": _nan(o.get("timing_peak")),
            "snr_db_lts": _nan(o.get("snr_db_lts"))}


def _grids(y: Any, h: Any, cfg: OFDMConfig) -> tuple[Any, Any] | None:
    """The validated ``(grid_y, grid_h)`` (references), or None when neither is there.

    Raises:
        ScopeInputError: ``grid`` when only one is there or either is malformed.
    """
    if y is None and h is None:
        return None
    if y is None or h is None:
        raise ScopeInputError("grid", "tags 'grid_y' and 'grid_h' come together")
    n_used = len(cfg.used)
    for name, g in (("grid_y", y), ("grid_h", h)):
        try:
            check_array(g, name, min_ndim=2, kinds="c")
        except ScopeInputError as exc:
            raise ScopeInputError("grid", exc.detail) from None
        if g.ndim != 2 or int(g.shape[1]) != n_used or int(g.shape[0]) <= cfg.header_symbols:
            raise ScopeInputError("grid", f"tag {name!r} must be (S > {cfg.header_symbols}, {n_used}), "
                                          f"got {tuple(g.shape)}")
    if tuple(y.shape) != tuple(h.shape):
        raise ScopeInputError("grid", f"grid_y {tuple(y.shape)} and grid_h {tuple(h.shape)} differ")
    return y, h


def _receiver_threshold(rx: Any) -> Any:
    if rx is None:
        return None
    try:
        return rx.param("threshold") if hasattr(rx, "param") else getattr(rx, "threshold", None)
    except Exception:  # noqa: BLE001 - no threshold to show
        return None


def _positive_int(v: Any) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(f"must be >= 1, got {v!r}")
    return n


def _burst_count(v: Any) -> int:
    n = int(v)
    if not 1 <= n <= MAX_BURSTS:
        raise ValueError(f"bursts must be in 1..{MAX_BURSTS}, got {v!r}")
    return n


# ------------------------------------------------------------------------ flowgraph wiring
def find_receivers(fg: Any, blocks: dict[str, Any] | None = None) -> list[Block]:
    """The :class:`~semradio.blocks.OFDMReceiver` blocks of a flowgraph, by role first:
    ``blocks["rx"]`` / ``blocks["receiver"]``, then ``blocks["branches"][csi]["rx"]``
    (``estimated`` first), then any other in ``fg.blocks``."""
    from semradio.blocks.digital.ofdm_rx import OFDMReceiver

    found: list[Block] = []

    def add(b: Any) -> None:
        if isinstance(b, OFDMReceiver) and all(b is not f for f in found):
            found.append(b)

    blocks = blocks or {}
    for role in ("rx", "receiver"):
        add(blocks.get(role))
    branches = blocks.get("branches")
    if isinstance(branches, dict):
        for csi in sorted(branches, key=lambda c: (c != "estimated", str(c))):
            if isinstance(branches[csi], dict):
                add(branches[csi].get("rx"))
    for b in getattr(fg, "blocks", {}).values():
        add(b)
    return found


def attach_ofdm_scopes(fg: Any, blocks: dict[str, Any] | None = None, receivers: Iterable[Block] | None = None,
                       all_receivers: bool = False, hwm: int = SCOPE_HWM, enable_grid: bool = True,
                       **scope_kw: Any) -> list[OFDMScope]:
    """Add an :class:`OFDMScope` after the flowgraph's OFDM receiver(s), through real-time edges.

    Args:
        fg: the flowgraph (not started).
        blocks: the script's blocks by role (see :func:`find_receivers`).
        receivers: the receivers to watch (default: found in ``blocks`` / ``fg``).
        all_receivers: one scope per receiver (default: only the first, the estimated-CSI
            branch's when there are several: the receivers of one sample stream see the same
            bursts).
        hwm: queue bound of the scope edges.
        enable_grid: turn on ``keep_grid`` of a receiver built without it (its
            ``BurstReceiver.keep_grid``, read per burst), so the constellation and |H| panels
            have data; False leaves it, and then only the time plots fill.
        scope_kw: passed to :class:`OFDMScope` (``bursts``, ``max_points``, ``history``...).

    Returns:
        the scopes, in display order (empty when there is no receiver).
    """
    rxs = list(receivers) if receivers is not None else find_receivers(fg, blocks)
    if not all_receivers:
        rxs = rxs[:1]
    scopes = []
    for rx in rxs:
        burst_rx = getattr(rx, "rx", None)
        if enable_grid and burst_rx is not None and not getattr(burst_rx, "keep_grid", True):
            burst_rx.keep_grid = True
            log.info("%s: keep_grid turned on for the OFDM scope", rx.name)
        name = "ofdm_scope" if len(rxs) == 1 else f"ofdm_scope_{rx.name}"
        scope = OFDMScope(receiver=rx, name=name, **scope_kw)
        connect_scope(fg, rx, scope, "in", hwm)
        scopes.append(scope)
    return scopes


def run_ofdm_flowgraph(fg: Any, args: Any, blocks: dict[str, Any], timeout: float | None = None,
                       title: str | None = None, **attach_kw: Any) -> dict[str, Any] | None:
    """:func:`~semradio.blocks.qtgui.gui_support.run_flowgraph` with the OFDM scopes: plain
    ``fg.run(timeout)`` without ``--gui`` / ``--snapshot``; else the scopes of
    :func:`attach_ofdm_scopes` (``attach_kw``) first, then those of
    :func:`~semradio.blocks.qtgui.gui_support.attach_scopes`, under a
    :class:`~semradio.blocks.qtgui.gui_support.ScopeRunner`. Returns the snapshot paths (None
    in the plain case)."""
    from .gui_support import run_flowgraph

    return run_flowgraph(fg, args, blocks, timeout=timeout, title=title,
                         extra_scopes=lambda g, b: attach_ofdm_scopes(g, b, **attach_kw))


# ------------------------------------------------------------------------- the Qt view
@functools.lru_cache(maxsize=1)
def _view_class() -> type:
    """Build :class:`OFDMView` (imports Qt and pyqtgraph)."""
    from .arrays import density_rgb
    from .qt.common import QtCore, QtWidgets, ScopeView, fixed_axes, fmt, keep_range, pen, pg

    r = OFDM_CONSTELLATION_RANGE

    class OFDMView(ScopeView):
        """The widget of :class:`OFDMScope`: four plots. Top left: the equalised points over
        +-2 (aspect locked) as a 192 x 192 histogram picture, pilots red, header green, data
        cyan (:func:`~semradio.blocks.qtgui.arrays.density_rgb`). Top right: |H(f)| in dB vs
        subcarrier index (yellow: mean over the newest burst's symbols; shaded: per-symbol
        min..max; red dots: pilot carriers). Bottom: CFO (subcarrier spacings) and detection
        metric vs the receiver's stream time, decoded bursts cyan, failed headers red, the
        threshold dashed grey. Caption: the newest burst's seq, CFO and SNR per carrier from the
        LTS (``snr_db_lts``), the bursts decoded (and failed headers)."""

        snapshot_name = "ofdm"
        title = "ofdm"

        def __init__(self, block: Any, parent: QtWidgets.QWidget | None = None) -> None:
            super().__init__(block, parent)
            self.glw = pg.GraphicsLayoutWidget()
            self.const = self.glw.addPlot(row=0, col=0, title="equalised y/h")
            self.const.setAspectLocked(True)
            fixed_axes(self.const, x=(-r, r), y=(-r, r))
            self.image = pg.ImageItem(axisOrder="row-major")
            self.const.addItem(self.image)
            legend = self.const.addLegend(offset=(2, 2), labelTextSize="7pt")
            for cls in OFDM_CLASSES:
                legend.addItem(pg.ScatterPlotItem(size=7, pen=None, symbol="s", brush=pg.mkBrush(*OFDM_COLORS[cls])),
                               cls)
            self.hplot = self.glw.addPlot(row=0, col=1, title="|H(f)| (dB)")
            fixed_axes(self.hplot, x=(-32.0, 32.0), y=(-20.0, 10.0))
            self.hplot.setLabel("bottom", "subcarrier k")
            rr, gg, bb = OFDM_COLORS["h"]
            self.h_lo = pg.PlotCurveItem(pen=pen((rr // 3, gg // 3, bb // 3)))
            self.h_hi = pg.PlotCurveItem(pen=pen((rr // 3, gg // 3, bb // 3)))
            self.h_band = pg.FillBetweenItem(self.h_lo, self.h_hi, brush=pg.mkBrush(rr, gg, bb, 60))
            self.h_curve = pg.PlotCurveItem(pen=pen(OFDM_COLORS["h"], width=2))
            self.h_pilots = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(*OFDM_COLORS["pilots"]))
            for item in (self.h_band, self.h_lo, self.h_hi, self.h_curve, self.h_pilots):
                self.hplot.addItem(item)
            self.h_curve.setZValue(10)
            self.h_pilots.setZValue(11)
            self.cfo_plot = self.glw.addPlot(row=1, col=0, title="CFO (subcarrier spacings)")
            self.metric_plot = self.glw.addPlot(row=1, col=1, title="detection metric")
            fixed_axes(self.cfo_plot, x=(0.0, 1.0), y=(-0.5, 0.5))
            fixed_axes(self.metric_plot, x=(0.0, 1.0), y=(0.0, 1.05))
            self.curves: dict[str, Any] = {}
            for key, plot in (("cfo", self.cfo_plot), ("metric", self.metric_plot)):
                plot.getAxis("bottom").enableAutoSIPrefix(True)
                plot.setLabel("bottom", "stream time", units="s")
                line = pg.PlotCurveItem(pen=pen(tuple(c // 2 for c in OFDM_COLORS["decoded"])))
                ok = pg.ScatterPlotItem(size=5, pen=None, brush=pg.mkBrush(*OFDM_COLORS["decoded"]))
                bad = pg.ScatterPlotItem(size=7, pen=pen(OFDM_COLORS["failed"], width=2), brush=None, symbol="x")
                for item in (line, ok, bad):
                    plot.addItem(item)
                self.curves[key] = (line, ok, bad)
            self.threshold = pg.InfiniteLine(angle=0, pos=0.0, pen=pen(OFDM_COLORS["threshold"],
                                                                       style=QtCore.Qt.PenStyle.DashLine))
            self.threshold.setVisible(False)
            self.metric_plot.addItem(self.threshold)
            self._rect = QtCore.QRectF(-r, -r, 2 * r, 2 * r)
            self._t_range: tuple[float, float] | None = None
            self._layout(self.glw)
            self.last_traces: dict[str, np.ndarray] = {}

        def redraw(self) -> None:
            _, tr, tags = self.block.traces()
            layers = [(tr[c], OFDM_COLORS[c]) for c in OFDM_CLASSES if c in tr]
            first = self.image.image is None
            self.image.setImage(density_rgb(layers, OFDM_CONSTELLATION_BINS, r), autoLevels=False, levels=(0, 255))
            if first:
                self.image.setRect(self._rect)
            if "h_db" in tr:
                k = tr["k"]
                self.h_lo.setData(k, tr["h_db_min"], connect="finite")
                self.h_hi.setData(k, tr["h_db_max"], connect="finite")
                self.h_curve.setData(k, tr["h_db"], connect="finite")
                at = np.isin(k, tr["pilot_k"]) & np.isfinite(tr["h_db"])
                self.h_pilots.setData(x=k[at], y=tr["h_db"][at])
                fin = tr["h_db"][np.isfinite(tr["h_db"])]
                if fin.size:
                    keep_range(self.hplot, float(fin.min()), float(fin.max()), pad=2.0, quantum=5.0)
                    span = float(k.max() - k.min()) if k.size else 64.0
                    keep_range(self.hplot, float(k.min()), float(k.max()), pad=1.0, quantum=max(1.0, span / 8),
                               axis="x")
            if "t_s" in tr:
                self._draw_time(tr)
            thr = tags.get("threshold")
            self.threshold.setVisible(thr is not None)
            if thr is not None:
                self.threshold.setValue(float(thr))
            csi = tags.get("csi")
            head = "ofdm" if csi in (None, "estimated") else f"ofdm ({csi} CSI)"
            failed = f", {tags['failed']} failed" if tags.get("failed") else ""
            seq = tags.get("seq")
            self.set_caption(f"{head} · seq {'-' if seq is None else seq} · CFO {fmt(tags.get('cfo'), '.3f')} · "
                             f"SNR {fmt(tags.get('snr_db_lts'), '.1f')} dB · {tags.get('bursts', 0)} bursts{failed}")
            self.last_traces = tr

        def _draw_time(self, tr: dict[str, np.ndarray]) -> None:
            t, ok = tr["t_s"], tr["ok"].astype(bool)
            good = np.isfinite(t)
            for key in ("cfo", "metric"):
                line, pts, bad = self.curves[key]
                v = tr[key]
                sel = good & np.isfinite(v)
                line.setData(t[sel & ok], v[sel & ok])
                pts.setData(x=t[sel & ok], y=v[sel & ok])
                bad.setData(x=t[sel & ~ok], y=v[sel & ~ok])
            cfo = tr["cfo"][good & np.isfinite(tr["cfo"])]
            if cfo.size:
                keep_range(self.cfo_plot, float(cfo.min()), float(cfo.max()), pad=0.05, quantum=0.1)
            if good.any():
                t0, t1 = float(t[good].min()), float(t[good].max())
                span = max(t1 - t0, 1e-4)
                lo, hi = t0 - 0.05 * span, t1 + 0.05 * span
                if self._t_range is None or lo < self._t_range[0] or hi > self._t_range[1] \
                        or (self._t_range[1] - self._t_range[0]) > 4 * (hi - lo):
                    self._t_range = (lo, hi + 0.25 * span)
                    for plot in (self.cfo_plot, self.metric_plot):
                        plot.setXRange(*self._t_range, padding=0)

        def data_to_pixel(self, x: float, y: float, plot: str = "const") -> tuple[int, int]:
            """Pixel (column, row) of the data point (x, y) of one plot (``const``, ``hplot``,
            ``cfo_plot``, ``metric_plot``) in this widget's :meth:`grab` image."""
            vb = getattr(self, plot).getViewBox()
            scene = vb.mapViewToScene(QtCore.QPointF(float(x), float(y)))
            p = self.glw.mapTo(self, self.glw.mapFromScene(scene))
            return int(round(p.x())), int(round(p.y()))

    return OFDMView


#: Half-width of the drawn constellation square (unit-power points: BPSK at +-1).
OFDM_CONSTELLATION_RANGE = 2.0
#: Histogram bins per axis of the constellation picture.
OFDM_CONSTELLATION_BINS = 192


def __getattr__(name: str) -> Any:
    if name == "OFDMView":  # imports Qt: only on demand
        return _view_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["OFDMScope", "OFDM_CLASSES", "OFDM_COLORS", "H_FLOOR_DB", "MAX_BURSTS", "equalised_points",
           "find_receivers", "attach_ofdm_scopes", "run_ofdm_flowgraph"]
