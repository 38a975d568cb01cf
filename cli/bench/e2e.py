"""End to end: images/s and p50/p99 latency of the Rayleigh JSCC flowgraph, batch 1 and 64.

The flowgraph of ``flowgraphs/jscc_rayleigh.py`` (ImageSource -> JSCCEncoder ->
PowerNormalizer -> RayleighChannel -> MMSEEqualizer -> JSCCDecoder -> MetricSink, shipped
CBR 1/6 codec, 10 dB, held-out 32x32 patches) on CPU, and on CUDA when present.

Two measurements per (device, batch):

* ``saturated``: the source runs free (lossless edges, backpressure); images/s over
  ``Flowgraph.run`` wall time; latency p50/p99 (creation -> metric sink) then includes the
  time frames wait in the bounded queues (HWM 16 frames per edge): queueing delay, and the
  output says so (``latency_note``).
* ``paced``: a Throttle releases frames at ``--paced-fraction`` (default 50 %) of the
  saturated frame rate and restamps ``t_ns``, so p50/p99 is the latency of one frame through
  the six processing blocks without queueing.

Reference (``reference``): the same math as a plain sequential loop in this process (encode,
power-normalise, Rayleigh, MMSE, decode, then MSE, PSNR and SSIM as the metric sink computes
them, per batch of held-out patches), alternated with the flowgraph ``--repeat`` times (median
of each):

* ``plain_torch``: eager PyTorch at torch's default thread count (the script a user writes);
* ``plain_torch_1``: eager PyTorch on one thread; ``two_core_limit`` = cores x this (what a
  perfect pipeline of the same eager math could reach);
* ``plain_backend``: the loop with the flowgraph's own codec backend (ONNX Runtime on the CPU
  by default, one session thread), so ``ratio_same_backend`` isolates the runtime's overlap from
  the backend's speed.

``ratio`` = flowgraph / plain_torch; ``of_two_core_limit`` = flowgraph / two_core_limit. On
CUDA the flowgraph keeps frames on the GPU between the GPU blocks; ``gpu_hops`` counts all
device-to-host copies per frame (CUDA profiler): the metric sink reads the images back by
design and ``normalize_power``'s finiteness check syncs one scalar, so the count is not 0; a
count that grows with the number of blocks would show a tensor leaving the GPU between them.
"""

from __future__ import annotations

import argparse
from typing import Any


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batches", type=int, nargs="+", default=None,
                   help="batch sizes (default: 1 16 64 on the CPU, 1 16 64 256 on CUDA)")
    p.add_argument("--seconds", type=float, default=3.0, help="target duration of each measurement")
    p.add_argument("--paced-fraction", type=float, default=0.5, help="paced rate / saturated rate")
    p.add_argument("--devices", nargs="+", default=None, help="default: cpu, plus cuda when available")
    p.add_argument("--snr-db", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=3, help="alternating flowgraph / plain-loop repetitions (median)")
    p.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"),
                   help="the flowgraph's codec backend (jscc_rayleigh.py --backend)")
    p.add_argument("--no-reference", action="store_true", help="skip the plain-loop references")


def _config(batch: int, frames: int, device: str, snr_db: float, realtime: float | None = None,
            backend: str = "auto") -> Any:
    from semradio.blocks.hier.jscc_chain import JSCCChainConfig

    return JSCCChainConfig(batch=batch, frames=frames, device=device, snr_db=snr_db, realtime=realtime,
                           channel="rayleigh", backend=backend)


def plain_loop(batch: int, images: int, device: str, snr_db: float, threads: int | None = None,
               backend: str = "torch", seed: int = 0) -> dict[str, Any]:
    """The chain's math as one sequential loop (module docstring): images/s over ``images``
    images (whole batches of the held-out patches, cycling), and the mean PSNR.
    ``threads``: torch's intra-op threads for the loop (None: leave as is); ``backend``:
    "torch" or "onnx" (the codec's two parts in ONNX Runtime, one session thread)."""
    import time

    import numpy as np
    import torch

    from semradio.dsp import channel as cm
    from semradio.models import data as D
    from semradio.models import metrics as M
    from semradio.models.checkpoint import load_codec
    from semradio.models.inference import onnx_codec

    prev = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        codec = load_codec("jscc_natural32_rayleigh_cbr1-6", device).eval()
        enc = dec = codec
        if backend == "onnx":
            enc, dec = onnx_codec(codec, "encoder", 1), onnx_codec(codec, "decoder", 1)
        pool = torch.from_numpy(np.ascontiguousarray(D.natural_patches("eval", 32))).to(device)
        gen = torch.Generator(device=device).manual_seed(seed)
        s2 = cm.noise_var_from_snr(snr_db)
        starts = list(range(0, len(pool) - batch + 1, batch)) or [0]
        psnrs = []
        done, i = 0, 0
        sync = torch.cuda.synchronize if str(device).startswith("cuda") else (lambda: None)
        sync()
        t0 = time.perf_counter()
        with torch.inference_mode():
            while done < images:
                x = pool[starts[i % len(starts)]:starts[i % len(starts)] + batch]
                i += 1
                z = cm.normalize_power(enc.encode(x, snr_db))
                h = cm.rayleigh_gains(gen, tuple(z.shape), z)
                y = cm.channel_output(z, h, cm.complex_noise(gen, tuple(z.shape), s2, z))
                y_eq = cm.equalize(y, h, s2, "mmse")[0]
                rec = dec.decode(y_eq, snr_db)
                mse = M.mse(x, rec)
                psnrs.append(M.psnr_from_mse(mse, 1.0))
                M.ssim(x, rec, 1.0)
                done += int(x.shape[0])
        sync()
        dt = time.perf_counter() - t0
    finally:
        torch.set_num_threads(prev)
    return {"images_per_s": round(done / dt, 1), "psnr_db": round(float(torch.cat([torch.as_tensor(p).reshape(-1)
                                                                                 for p in psnrs]).mean()), 2)}


def gpu_hops(batch: int, frames: int, snr_db: float) -> dict[str, Any]:
    """Device-to-host copies per frame while the chain runs on CUDA (torch profiler; CUDA
    only), in total (the metric sink's reads included)."""
    from torch.profiler import ProfilerActivity, profile

    from semradio.blocks.hier import jscc_chain

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        out = jscc_chain.run(_config(batch, frames, "cuda", snr_db))
    d2h = [e for e in prof.events() if "DtoH" in e.name or "Memcpy DtoH" in e.name]
    return {"frames": out["frames"], "dtoh_copies": len(d2h), "dtoh_per_frame": round(len(d2h) / max(1, out["frames"]), 2)}


def measure(batch: int, device: str, seconds: float, fraction: float, snr_db: float, repeat: int = 3,
            backend: str = "auto", reference: bool = True) -> dict[str, Any]:
    """Saturated and paced runs of the Rayleigh flowgraph at one batch size on one device, and
    the plain-loop references alternated with the saturated runs (module docstring)."""
    import os
    import statistics

    from semradio.blocks.hier import jscc_chain
    jscc_chain.run(_config(batch, 3, device, snr_db, backend=backend))  # warm-up: model load, export, threads
    probe = jscc_chain.run(_config(batch, max(4, 256 // batch), device, snr_db, backend=backend))
    fps = probe["frames"] / probe["seconds"]
    frames = max(8, int(fps * seconds))
    runs, refs = [], {"plain_torch": [], "plain_torch_1": [], "plain_backend": []}
    used = probe["backend"]
    for _ in range(max(1, repeat) if reference else 1):
        runs.append(jscc_chain.run(_config(batch, frames, device, snr_db, backend=backend)))
        if reference:
            n = runs[-1]["images"]
            refs["plain_torch"].append(plain_loop(batch, n, device, snr_db)["images_per_s"])
            refs["plain_torch_1"].append(plain_loop(batch, n, device, snr_db, threads=1)["images_per_s"])
            if used == "onnx":
                refs["plain_backend"].append(plain_loop(batch, n, device, snr_db, threads=1,
                                                        backend="onnx")["images_per_s"])
    sat = sorted(runs, key=lambda r: r["images_per_s"])[len(runs) // 2]
    rate = max(1.0, fraction * sat["frames"] / sat["seconds"])
    paced_frames = max(8, int(rate * seconds * 0.5))
    paced = jscc_chain.run(_config(batch, paced_frames, device, snr_db, realtime=rate, backend=backend))
    ref: dict[str, Any] = {}
    if reference:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        med = {k: statistics.median(v) for k, v in refs.items() if v}
        flow = statistics.median(r["images_per_s"] for r in runs)
        limit = cores * med["plain_torch_1"]
        ref = {"repeat": len(runs), "flowgraph_images_per_s": round(flow, 1), "backend": used,
               **{k: round(v, 1) for k, v in med.items()}, "cores": cores, "two_core_limit": round(limit, 1),
               "ratio": round(flow / med["plain_torch"], 3), "of_two_core_limit": round(flow / limit, 3),
               "ratio_same_backend": round(flow / med.get("plain_backend", med["plain_torch"]), 3),
               "runs": {"flowgraph": [r["images_per_s"] for r in runs], **refs}}
        if device == "cuda":
            ref["gpu_hops"] = gpu_hops(batch, 8, snr_db)
    return {
        "reference": ref,
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


#: What the latency of each mode is (module docstring): the free-running source fills the
#: queues, so its latency is mostly waiting; the paced one is the chain's own.
SATURATED_LATENCY_NOTE = ("queueing: the source is unpaced, so frames wait in the bounded queues (16 frames per "
                          "edge); this is not the processing latency, see paced")
PACED_LATENCY_NOTE = "processing: the source is paced below the saturated rate, so frames do not queue"


def label_latency(point: dict[str, Any]) -> dict[str, Any]:
    """Add ``latency_note`` to the saturated and paced sections of one :func:`measure` result
    (in place; returned): which latency is queueing delay and which is processing.

    Parameters
    ----------
    point : dict
        A :func:`measure` result.

    Returns
    -------
    dict
        ``point``, labelled.

    Examples
    --------
    >>> label_latency({"saturated": {"latency_p50_ms": 900.0}})["saturated"]["latency_note"][:9]
    'queueing:'
    """
    for mode, note in (("saturated", SATURATED_LATENCY_NOTE), ("paced", PACED_LATENCY_NOTE)):
        if isinstance(point.get(mode), dict):
            point[mode]["latency_note"] = note
    return point


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    devices = args.devices or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    out: dict[str, Any] = {"flowgraph": "jscc_rayleigh", "snr_db": args.snr_db, "torch_threads": torch.get_num_threads(),
                           "cuda_available": torch.cuda.is_available(), "devices": {}}
    for dev in devices:
        batches = args.batches or ([1, 16, 64, 256] if dev == "cuda" else [1, 16, 64])
        res = {f"batch_{b}": label_latency(measure(b, dev, args.seconds, args.paced_fraction, args.snr_db,
                                                   args.repeat, args.backend, not args.no_reference))
               for b in batches}
        if dev == "cuda":
            res["gpu"] = torch.cuda.get_device_name(0)
        out["devices"][dev] = res
    return out
