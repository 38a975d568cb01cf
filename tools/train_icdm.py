"""``tools/train.py icdm-prior`` and ``icdm-tune``: the two ICDM priors and their guidance weights
(seed 000, Algorithm 1, eqs. 27 and 40).

    python tools/train.py icdm-prior --which signal --channel awgn --steps 2400 --threads 1
    python tools/train.py icdm-prior --which interference --channel rayleigh --init icdm_interference_natural32_awgn_cbr1-6
    python tools/train.py icdm-tune --channel rayleigh --sinr-db -5 0 5 10

Data. The signal prior s_theta learns the desired codec's latents: training patches (seed
``--seed``) -> encoder (SNR-adaptive codecs see an SNR drawn in ``--snr-db`` per batch) -> power
normalizer -> ``x = sqrt(2) [Re; Im] x_c`` (unit per-component variance). The interference
prior s_phi learns what another transmitter sends: the interferer codec's latents of patches
drawn with another seed, normalized the same way, and under Rayleigh multiplied by a fresh
``h_z ~ CN(0, 1)`` per symbol (Lemma 1: the receiver does not know h_z, so it is part of z).
A pool of latents is encoded once (deterministic from the seed; the fading is redrawn each
batch), then the loss of eq. (27) is minimized with t uniform on the schedule's steps.

Tuning. ``icdm-tune`` grid-searches (beta, gamma) per SINR for each guidance variant on
*training* patches (never the held-out ones) with the shipped priors, scoring the latent MSE
of the signal estimate, and stores the winners in the signal prior's JSON under ``guidance``.

Resumable and seeded like ``train.py cddm`` (state in ``--work-dir/NAME``, safetensors + JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train import ROOT, resume_run, run_steps, save_state  # tools/ is on sys.path when train.py runs

CKPT_DIR = Path(__file__).resolve().parents[1] / "models" / "checkpoints"
INTERFERER_CODEC = "jscc_natural32_awgn_cbr1-6_interferer"


def prior_name(which: str, channel: str) -> str:
    """Shipped name of a prior: ``icdm_<which>_natural32_<channel>_cbr1-6``."""
    return f"icdm_{which}_natural32_{channel}_cbr1-6"


def add_prior_arguments(p: argparse.ArgumentParser) -> None:
    """CLI of ``train.py icdm-prior``."""
    p.add_argument("--which", choices=("signal", "interference"), required=True)
    p.add_argument("--channel", choices=("awgn", "rayleigh"), default="rayleigh")
    p.add_argument("--codec", default=None,
                   help=f"codec (default: signal jscc_natural32_<channel>_cbr1-6, interference {INTERFERER_CODEC})")
    p.add_argument("--snr-db", type=float, nargs=2, default=(10.0, 20.0), metavar=("LO", "HI"),
                   help="encoder SNR range for SNR-adaptive codecs (one draw per pool batch)")
    p.add_argument("--pool", type=int, default=24576, help="training patches encoded once")
    p.add_argument("--steps", type=int, default=2400)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-min", type=float, default=2e-5)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--seed", type=int, default=None, help="data/init seed (default: signal 0, interference 101)")
    p.add_argument("--init", default=None, help="warm start from this prior (name or path)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--name", default=None)
    p.add_argument("--out-dir", default=str(CKPT_DIR))
    p.add_argument("--work-dir", default=str(ROOT / "out" / "train"))
    p.add_argument("--ckpt-every", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=600)
    p.add_argument("--eval-n", type=int, default=256)
    p.add_argument("--fresh", action="store_true")
    p.add_argument("--stop-after", type=int, default=None)


def to_unit_real(latent: torch.Tensor) -> torch.Tensor:
    """Codec latent (B, 2k) -> ``sqrt(2) [Re; Im] normalize_power(latent)`` (unit variance)."""
    from semradio.dsp import channel as cm
    return cm.complex_to_real(cm.normalize_power(latent)) * math.sqrt(2.0)


def apply_fading(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """``[Re; Im](h_z x_c)`` with ``h_z ~ CN(0, 1)`` per symbol (x real (B, 2k))."""
    from semradio.dsp import channel as cm
    c = cm.real_to_complex(x)
    h = cm.rayleigh_gains(gen, tuple(c.shape), c)
    return cm.complex_to_real(h * c)


@torch.no_grad()
def encode_pool(codec: Any, images: np.ndarray, snr_range: tuple[float, float], rng: np.random.Generator,
                device: torch.device, batch: int = 256) -> torch.Tensor:
    """Unit-variance real latents (N, 2k) of ``images`` (SNR drawn per batch for adaptive codecs)."""
    out = []
    lo, hi = snr_range
    for i in range(0, len(images), batch):
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(device)
        out.append(to_unit_real(codec.encode(x, snr)).float())
    return torch.cat(out)


@torch.no_grad()
def heldout_loss(net: Any, data: torch.Tensor, schedule: Any, fading: bool, seed: int = 1234) -> float:
    """Eq. (27) loss on held-out latents with a fixed generator (fixed t and eps draws)."""
    from semradio.models.icdm import prior_loss
    from semradio.models.link import make_generator

    gen = make_generator(seed, data.device)
    x = apply_fading(data, gen) if fading else data
    return float(np.mean([float(prior_loss(net, x, schedule, gen)) for _ in range(4)]))


def run_prior(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Train one prior (resumably), evaluate on held-out latents, save."""
    from tqdm import tqdm

    from semradio.models import data as D
    from semradio.models.cddm import latent_shape_for
    from semradio.models.checkpoint import load_codec, resolve_device
    from semradio.models.icdm import DEFAULT_SCHEDULE, PriorNet, load_prior, prior_loss, save_prior
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator
    from semradio.models.schedules import NoiseSchedule

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    seed = args.seed if args.seed is not None else (0 if args.which == "signal" else 101)
    codec_name = args.codec or (f"jscc_natural32_{args.channel}_cbr1-6" if args.which == "signal" else INTERFERER_CODEC)
    codec = load_codec(codec_name, device).eval()
    name = args.name or prior_name(args.which, args.channel)
    work = Path(args.work_dir) / name
    schedule = NoiseSchedule.from_config(DEFAULT_SCHEDULE)
    dim = codec.latent_length()
    shape = latent_shape_for(dim, {"latent_shape": [codec.latent_channels, codec.image_size[0] // 4,
                                                    codec.image_size[1] // 4]})
    fading = args.which == "interference" and args.channel == "rayleigh"
    torch.manual_seed(seed)
    net = PriorNet(shape, width=args.width, blocks=args.blocks).to(device)
    init_record = None
    if args.init:
        src, _, src_cfg = load_prior(args.init, device)
        net.load_state_dict(src.state_dict())
        init_record = {"prior": src_cfg.get("name", str(args.init))}
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = make_generator(seed, device)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    pool_rng = np.random.default_rng(seed + 7)
    images = D.PatchSampler("train", codec.image_size[0], seed=seed).sample(args.pool)
    pool = encode_pool(codec, images, tuple(args.snr_db), pool_rng, device)
    held = encode_pool(codec, D.subset(D.natural_patches("eval", codec.image_size[0]), args.eval_n, seed=0),
                       (float(args.snr_db[1]),) * 2, pool_rng, device)
    del images
    print(f"train: {name}: pool of {len(pool)} latents (std {float(pool.std()):.3f}) encoded in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    command = "python tools/train.py " + shlex.join(argv)
    sig = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
           if k in ("which", "channel", "codec", "snr_db", "pool", "batch", "lr", "width", "blocks", "seed", "init")}
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    step, elapsed = resume_run(work, sig, net, opt, gen, rng, meta, command, args.fresh) or (0, 0.0)
    print(f"train: {name}: {count_parameters(net)} parameters, latent {shape}, codec {codec_name}, "
          f"{'h_z-faded ' if fading else ''}{args.which} latents, device {device}", file=sys.stderr)
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    net.train()

    def loss_fn(_: int) -> torch.Tensor:
        idx = torch.from_numpy(rng.integers(0, len(pool), args.batch)).to(device)
        x = pool[idx]
        if fading:
            x = apply_fading(x, gen)
        return prior_loss(net, x, schedule, gen)

    def after_step(s: int, loss_avg: float, seconds: float) -> None:
        if s % args.eval_every == 0 or s == args.steps:
            net.eval()
            ev = heldout_loss(net, held, schedule, fading)
            net.train()
            meta["history"].append({"step": s, "seconds": round(seconds, 1), "train_loss": round(loss_avg, 5),
                                    "heldout_loss": round(ev, 5)})
            tqdm.write(f"step {s}: train loss {loss_avg:.4f}, held-out loss {ev:.4f}", file=sys.stderr)

    t0 = time.perf_counter()
    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn, after_step,
                     lambda s, sec: save_state(work, net, opt, gen, rng, s, sec, meta), args.ckpt_every,
                     elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    net.eval()
    seconds = elapsed + time.perf_counter() - t0
    config = {
        "name": name,
        "description": (f"ICDM {args.which} prior ({'s_theta' if args.which == 'signal' else 's_phi'}) for "
                        f"{codec_name} latents over {args.channel}" + (" (z = h_z z_c)" if fading else "")),
        "which": args.which, "codec": codec_name, "channel": args.channel,
        "units": "sqrt(2) [Re; Im] of unit-power symbols (unit per-component variance)",
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []),
                  "data": f"natural32 train photos (PatchSampler seed {seed}), pool {args.pool}",
                  "snr_db_range": list(args.snr_db), "steps": args.steps, "batch": args.batch, "lr": args.lr,
                  "seed": seed, "init": init_record, "seconds": round(seconds, 1), "torch": torch.__version__,
                  "threads": torch.get_num_threads(), "parameters": count_parameters(net),
                  "history": meta["history"]},
        "metrics": {"heldout_loss": meta["history"][-1]["heldout_loss"] if meta["history"] else None,
                    "heldout": f"{len(held)} held-out patches (natural_patches eval, subset seed 0)"},
    }
    old = CKPT_DIR / f"{name}.json"
    if old.is_file():  # keep tuned guidance weights across a retrain
        prev = json.loads(old.read_text())
        if "guidance" in prev:
            config["guidance"] = prev["guidance"]
    js = save_prior(net.cpu(), schedule, Path(args.out_dir) / name, config)
    print(f"train: wrote {js} ({seconds:.0f} s)", file=sys.stderr)
    return config


# -------------------------------------------------------------------------- tuning
def add_tune_arguments(p: argparse.ArgumentParser) -> None:
    """CLI of ``train.py icdm-tune``."""
    p.add_argument("--channel", choices=("awgn", "rayleigh"), default="rayleigh")
    p.add_argument("--snr-db", type=float, default=20.0)
    p.add_argument("--sinr-db", type=float, nargs="+", default=(-5.0, 0.0, 5.0, 10.0))
    p.add_argument("--guidance", nargs="+", default=("icdm",), help="variants to tune")
    p.add_argument("--beta", type=float, nargs="+", default=None, help="grid of beta (default per variant)")
    p.add_argument("--gamma", type=float, nargs="+", default=None, help="grid of gamma (default: the beta grid)")
    p.add_argument("--tied", action="store_true", help="search gamma = beta only (a 1-D grid)")
    p.add_argument("--set-default", default=None, metavar="VARIANT",
                   help="also record VARIANT as the priors' default guidance (read by ICDMCanceller)")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--order", type=int, default=2)
    p.add_argument("--sampler", default="conjpc", choices=("conjpc", "ddim", "ddpm"),
                   help="tune for this sampler (weights stored under models.icdm.guidance_key)")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM stochasticity (1: ancestral)")
    p.add_argument("--samples", type=int, default=1,
                   help="tune the average of this many draws (a posterior mean; stored under the -mean key)")
    p.add_argument("--n", type=int, default=128, help="training patches per evaluation")
    p.add_argument("--seed", type=int, default=55)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--dry-run", action="store_true", help="print the table, do not write the JSON")


DEFAULT_GRIDS = {"icdm": [1e-4, 1e-3, 3e-3, 1e-2], "exact": [1.0, 2.0, 4.0, 8.0],
                 "dps": [3.0, 10.0, 30.0, 100.0], "gdm": [10.0, 30.0, 100.0, 300.0],
                 "projection": [0.3, 1.0, 3.0, 10.0]}


def run_tune(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Grid search (beta, gamma) per SINR and variant on training patches; store in the JSON."""
    from semradio.models import data as D
    from semradio.models.checkpoint import load_codec, resolve_device
    from semradio.models.icdm import guidance_key
    from semradio.models.icdm_sampler import ICDMPriors, simulate_interference

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    priors = ICDMPriors.load(args.channel, device)
    codec = load_codec(priors.signal_config["codec"], device).eval()
    interferer = load_codec(priors.interference_config["codec"], device).eval()
    imgs = D.PatchSampler("train", 32, seed=args.seed).sample(args.n)
    imgs_z = D.PatchSampler("train", 32, seed=args.seed + 1).sample(args.n)
    t0 = time.perf_counter()
    table: dict[str, list[dict[str, Any]]] = {}
    diverged: list[dict[str, Any]] = []
    for variant in args.guidance:
        grid_b = args.beta or DEFAULT_GRIDS[variant]
        grid_g = args.gamma or grid_b
        rows = []
        for sinr in args.sinr_db:
            sim = simulate_interference(codec, interferer, imgs, imgs_z, args.channel, args.snr_db, sinr,
                                        seed=args.seed, device=device)
            base = 10 * math.log10(float(torch.mean((sim.y_eq - sim.x_eq) ** 2)))
            best = None
            pairs = [(b, b) for b in grid_b] if args.tied else [(b, g) for b in grid_b for g in grid_g]
            for b, g in pairs:
                xh, _, _ = priors.cancel(sim.link, steps=args.steps, order=args.order, guidance=variant,
                                         beta=b, gamma=g, seed=args.seed, sampler=args.sampler, eta=args.eta,
                                         samples=args.samples)
                err = float(torch.mean((xh / math.sqrt(2) - sim.x_eq) ** 2))
                mse = 10 * math.log10(err) if math.isfinite(err) and err > 0 else math.inf
                if math.isfinite(mse) and (best is None or mse < best[0]):
                    best = (mse, b, g)
            if best is None:  # counted, not stored: the nearest tuned SINR serves this one
                diverged.append({"guidance": variant, "sinr_db": sinr})
                print(f"tune: every {variant} weight diverged at SINR {sinr:g} dB; no entry stored", file=sys.stderr)
                continue
            rows.append({"sinr_db": sinr, "beta": best[1], "gamma": best[2], "latent_mse_db": round(best[0], 3),
                         "latent_mse_db_none": round(base, 3)})
            print(f"{variant} SINR {sinr:g} dB: beta {best[1]:g} gamma {best[2]:g}: latent MSE {base:.2f} -> "
                  f"{best[0]:.2f} dB", file=sys.stderr)
        if not rows:
            raise SystemExit(f"tune: every {variant} weight diverged at every SINR")
        table[guidance_key(variant, args.sampler, args.eta, args.samples)] = rows
    record = {"command": "python tools/train.py " + shlex.join(argv), "seconds": round(time.perf_counter() - t0, 1),
              "table": table, "diverged": diverged,
              "snr_db": args.snr_db, "steps": args.steps, "order": args.order, "sampler": args.sampler,
              "eta": args.eta, "samples": args.samples, "patches": args.n,
              "data": f"training patches (PatchSampler seeds {args.seed}, {args.seed + 1})"}
    if not args.dry_run:
        js = CKPT_DIR / f"{priors.signal_config['name']}.json"
        cfg = json.loads(js.read_text())
        guidance = dict(cfg.get("guidance") or {})
        for variant, rows in table.items():
            guidance[variant] = rows
        cfg["guidance"] = guidance
        if args.set_default:
            if args.set_default not in table and args.set_default not in guidance:
                raise SystemExit(f"tune: --set-default {args.set_default} was never tuned")
            cfg["default_guidance"] = args.set_default
        cfg.setdefault("guidance_tuning", []).append(record)
        js.write_text(json.dumps(cfg, indent=2) + "\n")
        print(f"tune: wrote guidance weights to {js}", file=sys.stderr)
    return table
