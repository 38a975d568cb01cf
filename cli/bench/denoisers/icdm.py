"""ICDM section of ``semradio bench denoisers``: ms per frame of ``ICDMCanceller`` with the
p-order ConJPC sampler (T = 40) versus DDIM/Euler (200 steps) and ancestral DDPM (1000 steps),
plus ancestral DDIM (eta = 1) at 40 steps, with the same two priors and the same joint gradients
(seed 000 section IV-B: 1.57 s vs 7.8 s vs 39.2 s on an RTX 4090 with DiT priors at 128x128).

Frames: the block's own input format (an MMSE equalizer frame of a Rayleigh draw with its W
tags) plus ``sinr_db``. Reported per sampler and device: steps, NFE (both priors), median ms
per frame of ``--icdm-repeat`` frames after one warm-up, and the ratio to ConJPC. CPU always,
CUDA when present.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

#: (sampler, steps, eta): the seed's three, plus ancestral DDIM at ConJPC's step count.
SAMPLER_STEPS = (("conjpc", 40, 0.0), ("ddim", 200, 0.0), ("ddpm", 1000, 0.0), ("ddim", 40, 1.0))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--icdm-channel", choices=("awgn", "rayleigh"), default="rayleigh")
    p.add_argument("--icdm-sinr-db", type=float, default=0.0)
    p.add_argument("--icdm-snr-db", type=float, default=20.0)
    p.add_argument("--icdm-batch", type=int, default=1, help="images per frame (the seed times batch 1)")
    p.add_argument("--icdm-repeat", type=int, default=3, help="timed frames per sampler (median)")
    p.add_argument("--icdm-order", type=int, default=2)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from semradio.cli.bench.denoisers.cddm import equalized_frame
    from semradio.blocks.denoisers.icdm import ICDMCanceller

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out: dict[str, Any] = {"channel": args.icdm_channel, "snr_db": args.icdm_snr_db, "sinr_db": args.icdm_sinr_db,
                           "batch": args.icdm_batch, "order": args.icdm_order}
    for dev in devices:
        blk = ICDMCanceller(args.icdm_channel, device=dev, order=args.icdm_order)
        dim = int(np.prod(blk.priors.signal.latent_shape))
        frame = equalized_frame(dim, args.icdm_batch, args.icdm_channel, args.icdm_snr_db, 0)
        frame = frame.replace(frame.data, sinr_db=args.icdm_sinr_db, seq=0)
        if dev == "cuda":
            frame = frame.replace(torch.from_numpy(frame.data).cuda())
        rows = []
        for sampler, steps, eta in SAMPLER_STEPS:
            blk.set_param("sampler", sampler)
            blk.set_param("steps", steps)
            blk.set_param("eta", eta)
            blk.work(frame)  # warm-up
            times = []
            for _ in range(max(1, args.icdm_repeat)):
                if dev == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                res = blk.work(frame)
                if dev == "cuda":
                    torch.cuda.synchronize()
                times.append((time.perf_counter() - t0) * 1e3)
            ms = statistics.median(times)
            rows.append({"sampler": sampler, "steps": steps, "eta": eta, "nfe": res["out"].tags["denoiser_nfe"],
                         "ms_per_frame": round(ms, 2), "ms_per_image": round(ms / args.icdm_batch, 3)})
        base = rows[0]["ms_per_frame"]
        for r in rows:
            r["ratio_to_conjpc"] = round(r["ms_per_frame"] / base, 2)
        out[dev] = rows
    out["seed_000_seconds"] = {"conjpc": 1.57, "ddim": 7.8, "ddpm": 39.2}
    return out
