"""End to end: images/s and p50/p99 latency of the Rayleigh JSCC flowgraph, batch 1 and 64.

The flowgraph of ``flowgraphs/jscc_rayleigh.py`` (ImageSource -> JSCCEncoder ->
PowerNormalizer -> RayleighChannel -> MMSEEqualizer -> JSCCDecoder -> MetricSink, shipped
CBR 1/6 codec, 10 dB, held-out 32x32 patches) on CPU, and on CUDA when present.

Two measurements per (device, batch):

* ``saturated``: the source runs free (lossless edges, backpressure); images/s over
  ``Flowgraph.run`` wall time; latency p50/p99 (creation -> metric sink) then includes the
  time frames wait in the bounded queues (HWM 16 frames per edge).
* ``paced``: a Throttle releases frames at ``--paced-fraction`` (default 50 %) of the
  saturated frame rate and restamps ``t_ns``, so p50/p99 is the latency of one frame through
  the six processing blocks without queueing.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--seconds", type=float, default=3.0, help="target duration of each measurement")
    p.add_argument("--paced-fraction", type=float, default=0.5, help="paced rate / saturated rate")
    p.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    p.add_argument("--snr-db", type=float, default=10.0)


def _config(batch: int, frames: int, device: str, snr_db: float, realtime: float | None = None) -> Any:
    from semradio.blocks.hier.jscc_chain import JSCCChainConfig

    return JSCCChainConfig(batch=batch, frames=frames, device=device, snr_db=snr_db, realtime=realtime,
                           channel="rayleigh")


def measure(batch: int, device: str, seconds: float, fraction: float, snr_db: float) -> dict[str, Any]:
    """Saturated and paced runs of the Rayleigh flowgraph at one batch size on one device."""
    from semradio.blocks.hier import jscc_chain
    jscc_chain.run(_config(batch, 3, device, snr_db))  # warm-up: model load, allocator, threads
    probe = jscc_chain.run(_config(batch, max(4, 256 // batch), device, snr_db))
    fps = probe["frames"] / probe["seconds"]
    frames = max(8, int(fps * seconds))
    sat = jscc_chain.run(_config(batch, frames, device, snr_db))
    rate = max(1.0, fraction * sat["frames"] / sat["seconds"])
    paced_frames = max(8, int(rate * seconds * 0.5))
    paced = jscc_chain.run(_config(batch, paced_frames, device, snr_db, realtime=rate))
    return {
        "batch": batch,
        "saturated": {"frames": sat["frames"], "images": sat["images"], "seconds": sat["seconds"],
                      "images_per_s": sat["images_per_s"], "frames_per_s": round(sat["frames"] / sat["seconds"], 1),
                      "latency_p50_ms": round(sat["latency_p50_ms"], 3), "latency_p99_ms": round(sat["latency_p99_ms"], 3)},
        "paced": {"rate_frames_per_s": round(rate, 1), "frames": paced["frames"],
                  "latency_p50_ms": round(paced["latency_p50_ms"], 3),
                  "latency_p99_ms": round(paced["latency_p99_ms"], 3)},
        "psnr_db": round(sat["psnr_db"], 2), "ssim": round(sat["ssim"], 4), "codec": sat["codec"],
        "block_work_ms_per_frame": {n: round(b["work_ms"] / max(1, b["frames_in"]), 3)
                                    for n, b in sat["blocks"].items() if b.get("frames_in")},
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    out: dict[str, Any] = {"flowgraph": "jscc_rayleigh", "snr_db": args.snr_db, "torch_threads": torch.get_num_threads(),
                           "cuda_available": torch.cuda.is_available(), "devices": {}}
    for dev in devices:
        res = {f"batch_{b}": measure(b, dev, args.seconds, args.paced_fraction, args.snr_db) for b in args.batches}
        if dev == "cuda":
            res["gpu"] = torch.cuda.get_device_name(0)
        out["devices"][dev] = res
    return out
