"""CDDM section of ``semradio bench denoisers``: NFE and ms per frame of ``CDDMDenoiser``.

For every shipped CDDM checkpoint, at SNR 0/10/20 dB and batch 1 and 64: frames of real
latents with the Lemma 1 tags of a real channel draw (the block's own input format) go through
``CDDMDenoiser.work``, with each reverse-step rule of ``--cddm-rules`` (the seed's rule, m + 1
evaluations; Tweedie, 1); reported: the rule, the start step m, NFE, median ms per frame and
per image, on the CPU and, when present, on CUDA. Timing is the median of ``--repeat`` frames after one
warm-up frame.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time
from typing import Any

import numpy as np


def equalized_frame(dim: int, batch: int, channel: str, snr_db: float, seed: int) -> Any:
    """An ``MMSEEqualizer`` output frame: real (batch, dim) ``y`` with its W tags, for a
    Gaussian unit-power latent of ``dim`` reals over ``channel`` ("awgn"/"rayleigh") at ``snr_db``."""
    from semradio.dsp import channel as cm
    from semradio.blocks.digital.equalizer import MMSEEqualizer
    from semradio.runtime import Frame

    rng = np.random.default_rng(seed)
    x = cm.normalize_power(rng.standard_normal((batch, dim), dtype=np.float32))
    s2 = cm.noise_var_from_snr(snr_db)
    h = np.ones_like(x) if channel == "awgn" else \
        ((rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)) / np.sqrt(2)).astype(np.complex64)
    n = ((rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape)) * np.sqrt(s2 / 2)).astype(np.complex64)
    y_c = (h * x + n).astype(np.complex64)
    tags = {"h": h, "noise_var": s2, "snr_db": snr_db, "channel": channel, "channel_model": channel}
    return MMSEEqualizer().work(Frame(y_c, tags))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cddm-rules", nargs="+", choices=("cddm", "ddim", "tweedie"), default=("cddm", "tweedie"),
                   help="CDDM reverse-step rules to time")


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from semradio.blocks.denoisers.cddm import CDDMDenoiser
    from semradio.models.cddm import ARCHITECTURE
    from semradio.models.checkpoint import CHECKPOINT_DIR

    import json

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    out: dict[str, Any] = {}
    models = sorted(js.stem for js in CHECKPOINT_DIR.glob("cddm_*.json")
                    if json.loads(js.read_text()).get("architecture") == ARCHITECTURE)
    for name in models:
        for dev in devices:
            blk = CDDMDenoiser(name, device=dev)
            channel = blk.config.get("channel", "rayleigh")
            dim = int(np.prod(blk.net.latent_shape))
            rows = []
            for rule, snr, batch in itertools.product(args.cddm_rules, args.snr_db, args.batch):
                blk.set_param("rule", rule)
                frame = equalized_frame(dim, batch, channel, snr, 0)
                if dev == "cuda":
                    frame = frame.replace(torch.from_numpy(frame.data).cuda())
                blk.work(frame)  # warm-up
                times = []
                for _ in range(args.repeat):
                    if dev == "cuda":
                        torch.cuda.synchronize()
                    t0 = time.perf_counter()
                    res = blk.work(frame)
                    if dev == "cuda":
                        torch.cuda.synchronize()
                    times.append((time.perf_counter() - t0) * 1e3)
                ms = statistics.median(times)
                rows.append({"rule": rule, "snr_db": snr, "batch": batch, "start_step": res.tags["cddm_start_step"],
                             "nfe": res.tags["denoiser_nfe"], "ms_per_frame": round(ms, 2),
                             "ms_per_image": round(ms / batch, 3)})
            out[f"{name}@{dev}"] = rows
    if not models:
        out["note"] = "no shipped CDDM checkpoint found"
    return out
