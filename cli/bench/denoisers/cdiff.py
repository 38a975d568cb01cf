"""CDiff section of ``semradio bench denoisers``: NFE and ms per frame / per image of the
``CDiffDecoder`` (seed 001 conditional diffusion decoder) at several step counts, with the
matched autoencoder decoder of the same encoder (``JSCCDecoder``) as the reference.

For every CDiff checkpoint (``--cdiff-model``, default: every shipped ``cdiff_*``), at each
``--batch`` size and each step count (``--cdiff-steps``, default: 5, the checkpoint's
``sample_steps`` and 50): a frame of real received latents -- held-out images through the
checkpoint's encoder at its lowest CBR and ``simulate_link`` AWGN at the first ``--snr-db`` (the
decoder's cost does not depend on the SNR) -- goes through ``CDiffDecoder.work``. Reported: NFE,
median ms per frame and per image, on the CPU and, when present, on CUDA; ``default`` holds the
row of the checkpoint's own step count at the largest batch. Timing is the median of
``--repeat`` frames after one warm-up frame; when the warm-up frame takes longer than 2 s only
``min(--repeat, --cdiff-slow-repeat)`` frames are timed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cdiff-model", nargs="+", default=None,
                   help="CDiff checkpoints (names or paths; default: every shipped cdiff_*)")
    p.add_argument("--cdiff-steps", type=int, nargs="+", default=None,
                   help="reverse step counts to time (default: 5, the checkpoint's sample_steps, 50)")
    p.add_argument("--cdiff-slow-repeat", type=int, default=2,
                   help="timed frames when one frame takes longer than 2 s")


def _time(blk: Any, frame: Any, repeat: int, slow_repeat: int, cuda: bool) -> tuple[float, Any]:
    import torch

    t0 = time.perf_counter()
    res = blk.work(frame)  # warm-up
    if cuda:
        torch.cuda.synchronize()
    if time.perf_counter() - t0 > 2.0:
        repeat = min(repeat, slow_repeat)
    times = []
    for _ in range(max(1, repeat)):
        if cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        res = blk.work(frame)
        if cuda:
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), res


def received_frame(codec: Any, held: np.ndarray, batch: int, snr_db: float) -> Any:
    """A frame of ``batch`` received latents (float32 numpy (B, 2k)): held-out images ``held``
    through ``codec`` at its lowest CBR and an AWGN link at ``snr_db``."""
    import torch

    from semradio.models.link import make_generator, simulate_link
    from semradio.runtime import Frame

    idx = np.arange(batch) % len(held)
    x = torch.from_numpy(np.ascontiguousarray(held[idx])).to(codec.device)
    with torch.no_grad():
        y = simulate_link(codec.encode(x, cbr=codec.cbrs[0]), "awgn", snr_db, make_generator(0, codec.device))
    return Frame(y.cpu().numpy(), {"seq": 0, "snr_db": snr_db, "image_size": tuple(held.shape[2:])})


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from semradio.models import data as D
    from semradio.blocks.codecs.cdiff_decoder import CDiffDecoder
    from semradio.blocks.codecs.jscc import JSCCDecoder
    from semradio.models.cdiff import ARCHITECTURE
    from semradio.models.checkpoint import CHECKPOINT_DIR, load_codec, read_config

    models = args.cdiff_model or sorted(js.stem for js in CHECKPOINT_DIR.glob("cdiff_*.json")
                                        if json.loads(js.read_text()).get("architecture") == ARCHITECTURE)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    snr = float(args.snr_db[0])
    out: dict[str, Any] = {"unit": "ms per image = ms per frame / batch", "snr_db": snr}
    for name in models:
        data = read_config(read_config(name)["codec"]).get("train", {}).get("data", "mnist")
        try:
            held = D.load_images(data, "eval")
        except FileNotFoundError as exc:  # e.g. MNIST lives outside the repository
            out[name] = {"skipped": f"held-out {data} images not available: {exc}"}
            continue
        for dev in devices:
            cuda = dev == "cuda"
            blk = CDiffDecoder(name, device=dev, seed=0)
            cfg = blk.config
            default_steps = int(cfg.get("sample_steps", blk.params["steps"]))
            steps_list = sorted(set(args.cdiff_steps or (5, default_steps, 50)))
            codec = load_codec(cfg["codec"], dev)
            matched = JSCCDecoder(codec, device=dev)
            rows = []
            for batch in args.batch:
                frame = received_frame(codec, held, batch, snr)
                if cuda:
                    frame = frame.replace(torch.from_numpy(frame.data).cuda())
                ms_m, _ = _time(matched, frame, args.repeat, args.repeat, cuda)
                for steps in steps_list:
                    blk.set_param("steps", steps)
                    ms, res = _time(blk, frame, args.repeat, args.cdiff_slow_repeat, cuda)
                    rows.append({"batch": batch, "steps": steps, "nfe": res.tags["decoder_nfe"],
                                 "eta": blk.params["eta"], "ms_per_frame": round(ms, 2),
                                 "ms_per_image": round(ms / batch, 3), "matched_ms_per_frame": round(ms_m, 3),
                                 "matched_ms_per_image": round(ms_m / batch, 4),
                                 "cdiff_over_matched": round(ms / ms_m, 1)})
            big = max(args.batch)
            default = next((r for r in rows if r["batch"] == big and r["steps"] == default_steps), None)
            out[f"{blk.model_name}@{dev}"] = {"encoder": cfg["codec"], "cbr": float(codec.cbrs[0]),
                                               "latent_length": int(frame.data.shape[1]),
                                               "default_steps": default_steps, "default": default, "rows": rows}
    if not models:
        out["note"] = "no shipped CDiff checkpoint found"
    return out
