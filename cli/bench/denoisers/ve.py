"""VE section of ``semradio bench denoisers`` (seed 003 Table III): the VE latent diffusion teacher
(``VELatentDenoiser``) versus its EECD consistency distillation (``ConsistencyDenoiser``, s = 1, 2).

For every channel with both a shipped ``ve_*`` and ``eecd_*`` checkpoint, at each SNR and batch
size: frames of real-latent-shaped equalizer output with the Lemma 1 tags of a real channel draw
(``bench_denoisers_cddm.equalized_frame``) go through each block's ``work``; reported: the start
index m, NFE, median ms per frame and per image, and the teacher/EECD speed-up, on the CPU and,
when present, on CUDA. Timing is the median of ``--repeat`` frames after one warm-up frame
(teacher frames at batch >= 64 use ``--ve-teacher-repeat``, they take seconds each).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ve-solver", choices=("heun", "euler"), default="heun", help="teacher PF-ODE solver")
    p.add_argument("--ve-teacher-repeat", type=int, default=2,
                   help="timed teacher frames at batch >= 64 (median reported)")


def _time(blk: Any, frame: Any, repeat: int, cuda: bool) -> tuple[float, Any]:
    import torch

    blk.work(frame)  # warm-up
    times, res = [], None
    for _ in range(max(1, repeat)):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = blk.work(frame)
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), res


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from semradio.cli.bench.denoisers.cddm import equalized_frame
    from semradio.blocks.denoisers.ve import DEFAULT_EECD, DEFAULT_VE, ConsistencyDenoiser, VELatentDenoiser
    from semradio.models.checkpoint import CHECKPOINT_DIR

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out: dict[str, Any] = {"solver": args.ve_solver, "unit": "ms per image = ms per frame / batch"}
    for channel in ("awgn", "rayleigh"):
        ve_name, cm_name = DEFAULT_VE[channel], DEFAULT_EECD[channel]
        if not ((CHECKPOINT_DIR / f"{ve_name}.json").is_file() and (CHECKPOINT_DIR / f"{cm_name}.json").is_file()):
            out[channel] = "no shipped VE/EECD checkpoints"
            continue
        for dev in devices:
            cuda = dev == "cuda"
            teacher = VELatentDenoiser(ve_name, device=dev, solver=args.ve_solver)
            eecd = {s: ConsistencyDenoiser(cm_name, device=dev, steps=s) for s in (1, 2)}
            dim = int(np.prod(teacher.net.latent_shape))
            rows = []
            for snr in args.snr_db:
                for batch in args.batch:
                    frame = equalized_frame(dim, batch, channel, snr, 0)
                    if cuda:
                        frame = frame.replace(torch.from_numpy(frame.data).cuda())
                    t_rep = args.ve_teacher_repeat if batch >= 64 else args.repeat
                    ms_t, res_t = _time(teacher, frame, t_rep, cuda)
                    row: dict[str, Any] = {
                        "snr_db": snr, "batch": batch, "start_index": res_t.tags["ve_start_index"],
                        "teacher_nfe": res_t.tags["denoiser_nfe"], "teacher_ms_per_frame": round(ms_t, 2),
                        "teacher_ms_per_image": round(ms_t / batch, 3)}
                    for s, blk in eecd.items():
                        ms_e, res_e = _time(blk, frame, args.repeat, cuda)
                        row[f"eecd{s}_nfe"] = res_e.tags["denoiser_nfe"]
                        row[f"eecd{s}_ms_per_frame"] = round(ms_e, 3)
                        row[f"eecd{s}_ms_per_image"] = round(ms_e / batch, 4)
                        row[f"speedup_eecd{s}"] = round(ms_t / ms_e, 1)
                    rows.append(row)
            out[f"{channel}@{dev}"] = rows
    return out
