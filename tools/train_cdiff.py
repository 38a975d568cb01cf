"""``tools/train.py cdiff``: train a CDiff conditional diffusion decoder (seed 001) on the received
latents of a frozen shipped codec.

    python tools/train.py cdiff --codec jscc_mnist_awgn_cbr1-16 --steps 3000 --threads 1

Training pairs: training images -> the codec's encoder (SNR-adaptive codecs see the batch SNR)
-> :func:`semradio.models.link.simulate_link` (power normalizer -> AWGN or fast Rayleigh -> MMSE
equalizer) at an SNR drawn uniformly in ``--snr-db`` (seed 001: -10..10 dB) -> received real
latent ``y`` (B, 2k), optionally soft-masked before the channel (``--keep-prob``, appendix D),
padded to the conditioning maps (:func:`semradio.models.cdiff_latent.pad_latent`). Loss eq. 6
(x0 prediction, t ~ U{1..T}), Adam with warm-up + cosine decay.

Resumable and seeded like ``train.py jscc`` (state in ``out/train/NAME/``, safetensors + JSON; the
same command resumes, ``--stop-after N`` trains in chunks). When the run finishes (or with
``--eval-only``) the held-out evaluation -- SSIM/PSNR of the matched codec decoder and of CDiff at
each ``--final-snr-db``, same images and channel draws -- goes to ``WORK_DIR/NAME/eval.json``.
Nothing is written to ``models/checkpoints/``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train import ROOT, lr_at, make_batches, resume_run, save_state  # tools/ is on sys.path when train.py runs

SIG_KEYS = ("codec", "data", "snr_db", "batch", "lr", "width", "mults", "T", "beta_1", "beta_T", "w_max",
            "keep_prob", "seed")


def add_cdiff_arguments(p: argparse.ArgumentParser) -> None:
    """CLI of ``train.py cdiff``."""
    p.add_argument("--codec", default="jscc_mnist_awgn_cbr1-16", help="frozen shipped codec whose latents condition")
    p.add_argument("--data", default=None, help="dataset spec (default: from the codec config: mnist or natural32)")
    p.add_argument("--snr-db", type=float, nargs=2, default=(-10.0, 10.0), metavar=("LO", "HI"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-min", type=float, default=2e-5)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--width", type=int, default=16, help="U-Net base width")
    p.add_argument("--mults", type=int, nargs="+", default=(1, 2, 2), help="U-Net width multipliers per stage")
    p.add_argument("--T", type=int, default=200)
    p.add_argument("--beta-1", type=float, default=1e-4)
    p.add_argument("--beta-T", type=float, default=0.0095)
    p.add_argument("--w-max", type=float, default=1.0, help="conditioning weight at t = T (linear w_t)")
    p.add_argument("--keep-prob", type=float, default=1.0,
                   help="stochastic (soft) masking of the encoder output before the channel (1: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--name", default=None, help="run name (default cdiff_<codec without jscc_>)")
    p.add_argument("--work-dir", default=str(ROOT / "out" / "train"), help="state and eval.json go to WORK_DIR/NAME")
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--sample-steps", type=int, default=20, help="reverse steps of the evaluation sampler")
    p.add_argument("--eta", type=float, default=0.0, help="sampler eta (1: ancestral eq. 7, 0: deterministic)")
    p.add_argument("--final-snr-db", type=float, nargs="+", default=(-10.0, 0.0, 10.0, 20.0))
    p.add_argument("--final-n", type=int, default=500, help="held-out images in the final evaluation (0: all)")
    p.add_argument("--eval-only", action="store_true", help="evaluate the saved state and exit")
    p.add_argument("--fresh", action="store_true", help="ignore a saved training state")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many steps (resume later)")


def received_latent(codec: Any, images: torch.Tensor, channel: str, snr_db: float, gen: torch.Generator,
                    keep_prob: float = 1.0) -> torch.Tensor:
    """Encoder -> (soft mask) -> link -> received real latent (B, 2k)."""
    from semradio.models.cdiff_latent import stochastic_mask
    from semradio.models.link import simulate_link

    z = codec.encode(images, snr_db)
    if keep_prob < 1.0:
        z = stochastic_mask(z, keep_prob, gen)
    return simulate_link(z, channel, snr_db, gen)


@torch.no_grad()
def evaluate(codec: Any, net: Any, schedule: Any, images: np.ndarray, channel: str, snr_db: float,
             cond_shape: tuple[int, int, int], device: torch.device, steps: int, eta: float,
             seed: int = 1234, batch: int = 250) -> dict[str, float]:
    """Mean SSIM/PSNR of the matched codec decoder and of CDiff on the same channel draws."""
    from semradio.models import metrics as M
    from semradio.models.cdiff import bind_condition, cdiff_sample, from_model_units, image_cond
    from semradio.models.cdiff_latent import pad_latent
    from semradio.models.link import make_generator

    gen = make_generator(seed, device)
    sgen = make_generator(seed + 1, device)
    res: dict[str, list[np.ndarray]] = {"ssim_matched": [], "psnr_db_matched": [], "ssim_cdiff": [],
                                        "psnr_db_cdiff": []}
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(device)
        y = received_latent(codec, x, channel, snr_db, gen)
        ref = codec.decode(y, snr_db)
        maps, mask = pad_latent(y, cond_shape)
        x0 = cdiff_sample(bind_condition(net, maps, mask), image_cond(maps, x.shape[1]), schedule, steps, eta, sgen)
        out = from_model_units(x0)
        res["ssim_matched"].append(M.ssim(x, ref))
        res["psnr_db_matched"].append(M.psnr(x, ref))
        res["ssim_cdiff"].append(M.ssim(x, out))
        res["psnr_db_cdiff"].append(M.psnr(x, out))
    return {k: round(float(np.concatenate(v).mean()), 4) for k, v in res.items()}


def run_cdiff(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Train (resumably) and evaluate; state and eval.json in WORK_DIR/NAME."""
    from tqdm import tqdm

    from semradio.blocks import image_data as D
    from semradio.models.cdiff import CDiffSchedule, CDiffUNet, cdiff_loss, to_model_units
    from semradio.models.cdiff_latent import cond_channels_for, pad_latent
    from semradio.models.checkpoint import load_codec, read_config, resolve_device
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    codec = load_codec(args.codec, device)
    codec.eval()
    for p in codec.parameters():
        p.requires_grad_(False)
    ccfg = read_config(args.codec)
    channel = ccfg.get("channel", "awgn")
    data = args.data or ccfg.get("train", {}).get("data", "natural32")
    c_img, h, w = (int(v) for v in ccfg["image_shape"])
    n_lat = codec.latent_length((h, w))
    cond_shape = (cond_channels_for(n_lat, (h, w)), h, w)
    name = args.name or "cdiff_" + args.codec.removeprefix("jscc_")
    work = Path(args.work_dir) / name
    schedule = CDiffSchedule.make(args.T, args.beta_1, args.beta_T, args.w_max)
    torch.manual_seed(args.seed)
    net = CDiffUNet(c_img, cond_shape[0], args.width, tuple(args.mults)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    batches, data_desc = make_batches(data, args.seed, rng)
    command = "python tools/train.py " + shlex.join(argv)
    sig = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items() if k in SIG_KEYS}
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    resumed = resume_run(work, sig, net, opt, gen, rng, meta, command, args.fresh)
    step, elapsed = resumed or (0, 0.0)
    if resumed is None and args.eval_only:
        raise SystemExit(f"train: no saved state in {work} to evaluate")
    print(f"train: {name}: {count_parameters(net)} parameters, codec {args.codec} (2k = {n_lat}), conditioning "
          f"{cond_shape}, {channel} {args.snr_db[0]:g}..{args.snr_db[1]:g} dB, T={args.T}, device {device}, "
          f"threads {torch.get_num_threads()}", file=sys.stderr)
    lo, hi = args.snr_db
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    t_start = time.perf_counter() - elapsed
    if not args.eval_only:
        bar = tqdm(total=args.steps, initial=step, desc=name, dynamic_ncols=True,
                   mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr)
        loss_avg = None
        net.train()
        while step < stop_at:
            lr = lr_at(step, args.steps, args.lr, args.lr_min, args.warmup)
            for g in opt.param_groups:
                g["lr"] = lr
            snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
            with torch.no_grad():
                imgs = torch.from_numpy(np.ascontiguousarray(batches.sample(args.batch))).to(device)
                y = received_latent(codec, imgs, channel, snr, gen, args.keep_prob)
                maps, mask = pad_latent(y, cond_shape)
            loss = cdiff_loss(net, to_model_units(imgs), maps, mask, schedule, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            step += 1
            lv = float(loss.detach())
            loss_avg = lv if loss_avg is None else 0.98 * loss_avg + 0.02 * lv
            bar.update(1)
            bar.set_postfix(loss=f"{loss_avg:.3e}", lr=f"{lr:.1e}", refresh=False)
            if step % 100 == 0:
                meta["history"].append({"step": step, "seconds": round(time.perf_counter() - t_start, 1),
                                        "train_loss": round(loss_avg, 5)})
            if step % args.ckpt_every == 0 or step == stop_at:
                save_state(work, net, opt, gen, rng, step, time.perf_counter() - t_start, meta)
        bar.close()
        if step < args.steps:
            print(f"train: stopped at step {step} of {args.steps}; rerun the command to resume", file=sys.stderr)
            return {"name": name, "step": step, "finished": False}
    net.eval()
    held = D.subset(D.load_images(data, "eval"), args.final_n or None, seed=0)
    t0 = time.perf_counter()
    by_snr = {f"{s:g}": evaluate(codec, net, schedule, held, channel, s, cond_shape, device, args.sample_steps,
                                 args.eta) for s in args.final_snr_db}
    report = {"name": name, "command": command, "train_command": meta["command"], "codec": args.codec,
              "step": step, "train_seconds": round(elapsed if args.eval_only else time.perf_counter() - t_start, 1),
              "parameters": count_parameters(net), "data": data, "data_description": data_desc,
              "held_out_images": int(len(held)), "channel_seed": 1234, "sample_steps": args.sample_steps,
              "eta": args.eta, "eval_seconds": round(time.perf_counter() - t0, 1), "by_snr_db": by_snr}
    (work / "eval.json").write_text(json.dumps(report, indent=1))
    for s, r in by_snr.items():
        print(f"{s:>4} dB: SSIM matched {r['ssim_matched']:.4f} cdiff {r['ssim_cdiff']:.4f} | PSNR matched "
              f"{r['psnr_db_matched']:.2f} cdiff {r['psnr_db_cdiff']:.2f} dB", file=sys.stderr)
    print(f"train: wrote {work / 'eval.json'}", file=sys.stderr)
    return report
