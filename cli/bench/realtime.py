"""Real-time EECD chain: deadline misses and latency (p50/p99/max, per block) at 30 and 60
frames/s for s = 1 and 2, eager torch against ONNX Runtime, batch 1 on the CPU.

Each point is ``flowgraphs/eecd_realtime.py --realtime FPS --frames N --steps S --backend B``
(:func:`semradio.flowgraphs.eecd_realtime.run`): the source paced at FPS, a frame's latency from
its release to its arrival at the metric sink, a miss when it exceeds 1/FPS. Per block: the
frame's age when the block starts (p50/p99) and the block's work (p50/p99), so queue waits and
wake-ups show as the step between one block's age + work and the next one's age. The backends
alternate within each (FPS, s) point, ``--reps`` times, so load changes hit both alike; the
JSON gives each rep and the ratio of the ONNX to the torch p50 latency. The machine's CPU model
is in ``cpu``. Check: at most one deadline miss in 300 frames per run (``checks_failed`` lists
each run over it with its count).

    semradio bench realtime --json
    semradio bench realtime --frames 60 --reps 1 --json       # quick
"""

from __future__ import annotations

import argparse
import platform
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fps", type=float, nargs="+", default=[30.0, 60.0])
    p.add_argument("--steps", type=int, nargs="+", default=[1, 2], choices=(1, 2))
    p.add_argument("--frames", type=int, default=300, help="measured frames per run")
    p.add_argument("--reps", type=int, default=1, help="alternating repetitions per point")
    p.add_argument("--backends", nargs="+", default=None, choices=("torch", "onnx"),
                   help="default: torch, and onnx when onnxruntime is installed")
    p.add_argument("--channel", default="rayleigh", choices=("awgn", "rayleigh"))
    p.add_argument("--onnx-threads", type=int, default=1, help="intra-op threads of each ONNX Runtime session")


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from semradio.flowgraphs.eecd_realtime import EECDRealtimeConfig, run as run_chain
    from semradio.models.inference import onnx_available

    backends = args.backends or (["torch", "onnx"] if onnx_available() else ["torch"])
    out: dict[str, Any] = {"cpu": cpu_model(), "channel": args.channel, "frames": args.frames,
                           "onnx_threads": args.onnx_threads, "points": []}
    keep = ("deadline_misses", "warmup_deadline_misses", "latency_p50_ms", "latency_p99_ms", "latency_max_ms",
            "psnr_db", "achieved_frames_per_s", "per_block_ms")
    for fps in args.fps:
        for s in args.steps:
            point: dict[str, Any] = {"fps": fps, "steps": s, "deadline_ms": round(1000.0 / fps, 3), "runs": {}}
            for _ in range(max(1, args.reps)):
                for b in backends:
                    r = run_chain(EECDRealtimeConfig(realtime=fps, frames=args.frames, steps=s, backend=b,
                                                     channel=args.channel, device="cpu",
                                                     onnx_threads=args.onnx_threads))
                    point["runs"].setdefault(b, []).append({k: r.get(k) for k in keep})
            p50 = {b: sorted(x["latency_p50_ms"] for x in point["runs"].get(b, []) if x["latency_p50_ms"] is not None)
                   for b in ("torch", "onnx")}
            if p50["torch"] and p50["onnx"] and p50["torch"][len(p50["torch"]) // 2] > 0:
                med = {b: v[len(v) // 2] for b, v in p50.items()}
                point["onnx_over_torch_p50"] = round(med["onnx"] / med["torch"], 3)
                psnr = [point["runs"][b][0]["psnr_db"] for b in ("onnx", "torch")]
                if None not in psnr:
                    point["psnr_diff_db"] = round(psnr[0] - psnr[1], 4)
            out["points"].append(point)
    out.update(checks(out))
    return out


#: Deadline misses allowed: at most one in this many frames (docs/realtime.md).
FRAMES_PER_MISS = 300


def checks(out: dict[str, Any]) -> dict[str, Any]:
    """Each run's deadline misses within the budget of one in :data:`FRAMES_PER_MISS` frames, as
    ``checks`` and ``checks_failed``.

    Parameters
    ----------
    out : dict
        A :func:`run` result (``frames`` and ``points``).

    Returns
    -------
    dict
        ``checks`` (name -> passed) and ``checks_failed`` (one line per run over the budget).

    Examples
    --------
    >>> pt = {"fps": 60.0, "steps": 2, "runs": {"onnx": [{"deadline_misses": 3}]}}
    >>> checks({"frames": 300, "points": [pt]})["checks_failed"]
    ['60 frames/s, s = 2, onnx run 1: deadline misses of 300 frames: 3, needs <= 1 (short by 2)']
    """
    from .report import check, checks_summary

    budget = out["frames"] / FRAMES_PER_MISS
    detail: dict[str, dict[str, Any]] = {}
    for pt in out["points"]:
        for backend, runs in pt["runs"].items():
            for i, r in enumerate(runs, 1):
                if r.get("deadline_misses") is None:
                    continue
                name = f"{pt['fps']:g} frames/s, s = {pt['steps']}, {backend} run {i}"
                detail[name] = check(f"{name}: deadline misses of {out['frames']} frames", r["deadline_misses"],
                                     "<=", budget)
    return checks_summary(detail)
