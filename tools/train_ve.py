"""``tools/train.py ve-ldm`` and ``tools/train.py eecd``: the VE latent diffusion teacher and its
end-to-end consistency distillation (seed 003, "EECD", Section IV, eqs. 25-28, Alg. 4).

    python tools/train.py ve-ldm --channel rayleigh --steps 1200 --init-cddm cddm_natural32_rayleigh_cbr1-6 \
        --threads 1 --eval-every 400
    python tools/train.py eecd --channel rayleigh --steps 800 --lr 1e-4 --threads 1 --eval-every 200
    python tools/train.py eecd --channel awgn --steps 800 --lr 2e-4 --tau2-ratio 0.1 --threads 1 --eval-every 200

Training pairs come from the frozen shipped codec exactly as for ``train.py cddm``: natural
training patches -> encoder at the batch SNR -> power normalizer -> AWGN or fast Rayleigh channel
-> MMSE equalizer (:class:`train_cddm.LinkDraw`), giving the transmitted ``x`` and the Lemma 1
weights ``W_s = H_z``, ``W_n = H_n`` at an SNR drawn uniformly in ``--snr-db``.

``ve-ldm``: loss eq. (26) on Karras grid indices 1..n_max (n_max: the index matched to the
lowest SNR, plus ``--grid-margin``); optional warm start from a trained CDDM (the VE network's
input scaling and time embedding make a CDDM an exact VE noise predictor, see
:mod:`semradio.models.ve`).

``eecd``: consistency distillation from a trained teacher (:mod:`semradio.models.consistency`):
online net initialized from the teacher, EMA target, one teacher Heun step between adjacent grid
points, distance measured on images decoded by the frozen JSCC decoder, plus (``--direct``) an
image-space term against the transmitted image.

Resumable like ``train.py cddm`` (state in ``out/train/NAME/``; rerun the command to resume).
The checkpoint JSON records the command, seconds, history and held-out metrics (all 578
held-out patches, channel seed 1234, SNR 0/10/20 dB).
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

from train import ROOT, lr_at, resume_run, run_steps, save_state  # tools/ is on sys.path when train.py runs
from train_cddm import LinkDraw

SQRT2 = math.sqrt(2.0)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--codec", default=None, help="codec name (default: jscc_natural32_<channel>_cbr1-6)")
    p.add_argument("--channel", choices=("awgn", "rayleigh"), default="rayleigh")
    p.add_argument("--snr-db", type=float, nargs=2, default=(0.0, 20.0), metavar=("LO", "HI"))
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr-min", type=float, default=1e-5)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--name", default=None)
    p.add_argument("--out-dir", default=str(Path(__file__).resolve().parents[1] / "models" / "checkpoints"))
    p.add_argument("--work-dir", default=str(ROOT / "out" / "train"), help="resumable state goes to WORK_DIR/NAME")
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--eval-n", type=int, default=128, help="held-out patches for the periodic evaluation")
    p.add_argument("--eval-snr-db", type=float, default=10.0)
    p.add_argument("--fresh", action="store_true", help="ignore a saved training state")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many steps (resume later)")


def add_ve_arguments(p: argparse.ArgumentParser) -> None:
    """CLI of ``train.py ve-ldm``."""
    _common(p)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--N", type=int, default=100, help="Karras grid points")
    p.add_argument("--t-min", type=float, default=0.002)
    p.add_argument("--t-max", type=float, default=2.0)
    p.add_argument("--rho", type=float, default=7.0)
    p.add_argument("--grid-margin", type=int, default=4, help="grid indices trained above the lowest SNR's t_m")
    p.add_argument("--init-cddm", default=None, help="warm start from this CDDM checkpoint (same width/blocks)")
    p.add_argument("--solver", choices=("euler", "heun"), default="heun", help="sampler for the evaluations")


def add_eecd_arguments(p: argparse.ArgumentParser) -> None:
    """CLI of ``train.py eecd``."""
    _common(p)
    p.set_defaults(batch=32, eval_every=300, steps=1200)
    p.add_argument("--teacher", default=None, help="VE teacher checkpoint (default: ve_natural32_<channel>_cbr1-6)")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--ema", type=float, default=0.95, help="EMA decay of the target network")
    p.add_argument("--sigma-data", type=float, default=0.5)
    p.add_argument("--direct", type=float, default=1.0,
                   help="weight of the image-space term ||decode(f(z_t, t)) - image||^2 (0: pure distillation)")
    p.add_argument("--msssim", type=float, default=0.0,
                   help="weight of (1 - SSIM) in the distance (pytorch_msssim single-scale SSIM, window 7; "
                        "MS-SSIM needs images > 160 px)")
    p.add_argument("--tau2-ratio", type=float, default=0.3,
                   help="Alg. 4 subsequence for s = 2: t_tau2 closest to RATIO * t_m (used by the direct term and "
                        "stored as the blocks' default)")


# ------------------------------------------------------------------------- shared helpers
def _codec(args: argparse.Namespace, device: torch.device) -> tuple[Any, str]:
    from semradio.models.checkpoint import load_codec

    name = args.codec or f"jscc_natural32_{args.channel}_cbr1-6"
    codec = load_codec(name, device)
    codec.eval()
    for q in codec.parameters():
        q.requires_grad_(False)
    return codec, name


@torch.no_grad()
def link_batch(codec: Any, images: np.ndarray | torch.Tensor, channel: str, snr_db: float, gen: torch.Generator,
               device: torch.device) -> tuple[torch.Tensor, LinkDraw]:
    """Images -> (images tensor, LinkDraw) for one transmission."""
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    x = x.to(device)
    return x, LinkDraw(codec.encode(x, snr_db), channel, snr_db, gen)


def _resume(work: Path, args: argparse.Namespace, sig: dict[str, Any], net: Any, opt: Any, gen: Any, rng: Any,
            meta: dict[str, Any], command: str) -> tuple[int, float]:
    return resume_run(work, sig, net, opt, gen, rng, meta, command, args.fresh, ignore=("steps",)) or (0, 0.0)


# ------------------------------------------------------------------------------ teacher
@torch.no_grad()
def teacher_outputs(net: Any, grid: torch.Tensor, d: LinkDraw, solver: str = "heun",
                    batch: int = 256) -> tuple[torch.Tensor, int]:
    """Teacher estimate of ``z_0`` (diffusion units) for a link draw, and its NFE."""
    from semradio.models.ve import bind, match_index, ve_sample

    m = match_index(grid, d.s2)
    outs, nfe = [], 0
    for i in range(0, d.y.shape[0], batch):
        sl = slice(i, i + batch)
        z, nfe = ve_sample(bind(net, d.w_s[sl], d.w_n[sl]), d.y[sl] * SQRT2, d.w_n[sl], grid, m, solver)
        outs.append(z)
    return torch.cat(outs), nfe


@torch.no_grad()
def evaluate_denoiser(codec: Any, images: np.ndarray, channel: str, snr_db: float, device: torch.device,
                      estimators: dict[str, Any], seed: int = 1234) -> dict[str, float]:
    """PSNR (dB) of the decoded held-out images without denoiser and with each estimator
    ``name -> fn(LinkDraw) -> equalizer-scale latent`` (fixed channel seed), plus latent MSE (dB)."""
    from semradio.models import metrics as M
    from semradio.models.link import make_generator

    gen = make_generator(seed, device)
    x, d = link_batch(codec, images, channel, snr_db, gen, device)
    out = {"psnr_db_none": float(np.mean(M.psnr(x, codec.decode(d.y, snr_db)))),
           "latent_mse_db_none": 10 * math.log10(float(torch.mean((d.y - d.x) ** 2)))}
    for name, fn in estimators.items():
        lat = fn(d)
        out[f"psnr_db_{name}"] = float(np.mean(M.psnr(x, codec.decode(lat, snr_db))))
        out[f"latent_mse_db_{name}"] = 10 * math.log10(float(torch.mean((lat - d.x) ** 2)))
    return out


def teacher_estimators(net: Any, grid: torch.Tensor, solver: str) -> dict[str, Any]:
    """The teacher's two output conventions (see :func:`semradio.models.ve.to_output`)."""
    from semradio.models.ve import to_output

    def latent(d: LinkDraw) -> torch.Tensor:
        return to_output(teacher_outputs(net, grid, d, solver)[0], d.w_s, "latent")

    def equalizer(d: LinkDraw) -> torch.Tensor:
        return to_output(teacher_outputs(net, grid, d, solver)[0], d.w_s, "equalizer")

    return {"ve": latent, "ve_eqscale": equalizer}


def run_ve(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Train the VE teacher (resumably), evaluate on all held-out patches, save."""
    from tqdm import tqdm

    from semradio.models import data as D
    from semradio.models.cddm import latent_shape_for
    from semradio.models.checkpoint import resolve_device
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator
    from semradio.models.ve import VENoiseNet, karras_grid, match_index, save_ve, ve_loss

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    codec, codec_name = _codec(args, device)
    name = args.name or codec_name.replace("jscc_", "ve_", 1)
    work = Path(args.work_dir) / name
    grid_cfg = {"n": args.N, "t_min": args.t_min, "t_max": args.t_max, "rho": args.rho}
    grid = karras_grid(**grid_cfg)
    lo, hi = args.snr_db
    n_max = min(args.N, match_index(grid, 10 ** (-lo / 10)) + args.grid_margin)
    shape = latent_shape_for(codec.latent_length(), {"latent_shape": [codec.latent_channels, codec.image_size[0] // 4,
                                                                       codec.image_size[1] // 4]})
    torch.manual_seed(args.seed)
    net = VENoiseNet(shape, width=args.width, blocks=args.blocks).to(device)
    init_record = None
    if args.init_cddm:
        from semradio.models.cddm import load_cddm

        cddm, _, ccfg = load_cddm(args.init_cddm, device)
        net.inner.load_state_dict(cddm.state_dict())
        init_record = {"cddm": args.init_cddm, "cddm_command": ccfg.get("train", {}).get("command")}
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    sampler = D.PatchSampler("train", codec.image_size[0], seed=args.seed)
    held_all = D.natural_patches("eval", codec.image_size[0])
    held_out = D.subset(held_all, args.eval_n, seed=0)
    command = "python tools/train.py " + shlex.join(argv)
    sig = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
           if k in ("codec", "channel", "snr_db", "batch", "lr", "width", "blocks", "N", "t_min", "t_max", "rho",
                    "grid_margin", "init_cddm", "seed")}
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    step, elapsed = _resume(work, args, sig, net, opt, gen, rng, meta, command)
    print(f"train: {name}: {count_parameters(net)} parameters, latent {shape}, codec {codec_name}, {args.channel} "
          f"{lo:g}..{hi:g} dB, grid indices 1..{n_max} (t <= {float(grid[n_max]):.3f}), device {device}",
          file=sys.stderr)
    if step == 0 and args.init_cddm:
        net.eval()
        ev = evaluate_denoiser(codec, held_out, args.channel, args.eval_snr_db, device,
                               teacher_estimators(net, grid, args.solver))
        meta["history"].append({"step": 0, "seconds": 0.0, **{k: round(v, 3) for k, v in ev.items()}})
        print(f"step 0 (CDDM init): {json.dumps(meta['history'][-1])}", file=sys.stderr)
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    net.train()

    def loss_fn(_: int) -> torch.Tensor:
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        _, d = link_batch(codec, sampler.sample(args.batch), args.channel, snr, gen, device)
        return ve_loss(net, d.x * SQRT2, d.w_s, d.w_n, grid, n_max, gen)

    def after_step(s: int, loss_avg: float, seconds: float) -> None:
        if s % args.eval_every == 0 or s == args.steps:
            net.eval()
            ev = evaluate_denoiser(codec, held_out, args.channel, args.eval_snr_db, device,
                                   teacher_estimators(net, grid, args.solver))
            net.train()
            rec = {"step": s, "seconds": round(seconds, 1), "train_loss": loss_avg,
                   **{k: round(v, 3) for k, v in ev.items()}}
            meta["history"].append(rec)
            tqdm.write(f"step {s}: {json.dumps(rec)}", file=sys.stderr)

    t0 = time.perf_counter()
    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn, after_step,
                     lambda s, sec: save_state(work, net, opt, gen, rng, s, sec, meta), args.ckpt_every,
                     elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    net.eval()
    seconds = elapsed + time.perf_counter() - t0
    metrics = {f"{s:g}": {k: round(v, 3) for k, v in evaluate_denoiser(
        codec, held_all, args.channel, s, device, teacher_estimators(net, grid, args.solver)).items()}
        for s in (0.0, 10.0, 20.0)}
    output = "latent" if metrics["10"]["psnr_db_ve"] >= metrics["10"]["psnr_db_ve_eqscale"] else "equalizer"
    config = {
        "name": name, "description": f"VE latent diffusion teacher (seed 003 eqs. 25-27) for {codec_name} over "
                                     f"{args.channel}",
        "codec": codec_name, "channel": args.channel, "n_max": n_max, "solver": args.solver, "output": output,
        "ws_floor": 0.05,
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []),
                  "data": "natural32 train photos (PatchSampler)", "init": init_record,
                  "snr_db_range": [lo, hi], "steps": args.steps, "batch": args.batch, "lr": args.lr,
                  "seed": args.seed, "seconds": round(seconds, 1), "threads": torch.get_num_threads(),
                  "torch": torch.__version__, "parameters": count_parameters(net), "history": meta["history"]},
        "metrics": {"data": "natural32 held-out patches", "images": int(len(held_all)), "channel_seed": 1234,
                    "solver": args.solver, "output_chosen": output, "by_snr_db": metrics},
    }
    js = save_ve(net.cpu(), grid_cfg, Path(args.out_dir) / name, config)
    print(f"train: wrote {js} ({seconds:.0f} s); held-out: {json.dumps(metrics)}", file=sys.stderr)
    return config



def eecd_estimators(net: Any, grid: torch.Tensor, output: str, ws_floor: float, tau2_ratio: float,
                    seed: int = 99) -> dict[str, Any]:
    """EECD s = 1 and s = 2 (Alg. 4) as equalizer-scale estimators of a link draw."""
    from semradio.models.consistency import eecd_sample
    from semradio.models.ve import match_index, to_output

    def make(s: int) -> Any:
        def est(d: LinkDraw) -> torch.Tensor:
            gen = torch.Generator(device=d.y.device)
            gen.manual_seed(seed)
            z, _ = eecd_sample(net, d.y * SQRT2, d.w_s, d.w_n, grid, match_index(grid, d.s2), s, tau2_ratio, gen)
            return to_output(z, d.w_s, output, ws_floor)

        return est

    return {"eecd1": make(1), "eecd2": make(2)}


def run_eecd(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Distill the VE teacher into a consistency net (resumably), evaluate, save."""
    import copy

    from tqdm import tqdm

    from semradio.models import data as D
    from semradio.models.checkpoint import resolve_device
    from semradio.models.consistency import (ConsistencyNet, consistency_distillation_loss, image_distance,
                                             save_eecd, tau2_index, update_ema)
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator
    from semradio.models.ve import load_ve, match_index, to_output

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    codec, codec_name = _codec(args, device)
    teacher_name = args.teacher or codec_name.replace("jscc_", "ve_", 1)
    teacher, grid, tcfg = load_ve(teacher_name, device)
    for q in teacher.parameters():
        q.requires_grad_(False)
    output, ws_floor, n_max = tcfg.get("output", "latent"), float(tcfg.get("ws_floor", 0.05)), int(tcfg["n_max"])
    tau2_ratio = float(args.tau2_ratio)
    name = args.name or codec_name.replace("jscc_", "eecd_", 1)
    work = Path(args.work_dir) / name
    torch.manual_seed(args.seed)
    kw = dict(tcfg["kwargs"])
    shape = tuple(kw.pop("latent_shape"))
    student = ConsistencyNet(shape, **kw, t_min=float(grid[1]), sigma_data=args.sigma_data).to(device)
    student.g.load_state_dict(teacher.state_dict())
    opt = torch.optim.Adam(student.parameters(), lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    sampler = D.PatchSampler("train", codec.image_size[0], seed=args.seed)
    held_all = D.natural_patches("eval", codec.image_size[0])
    held_out = D.subset(held_all, args.eval_n, seed=0)
    command = "python tools/train.py " + shlex.join(argv)
    sig = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
           if k in ("codec", "channel", "snr_db", "batch", "lr", "ema", "sigma_data", "direct", "msssim", "teacher",
                    "seed", "tau2_ratio")}
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    step, elapsed = _resume(work, args, sig, student, opt, gen, rng, meta, command)
    target = copy.deepcopy(student)
    for q in target.parameters():
        q.requires_grad_(False)
    if step > 0 and (work / "target.safetensors").is_file():
        from safetensors.torch import load_file

        target.load_state_dict(load_file(str(work / "target.safetensors")))
    lo, hi = args.snr_db
    print(f"train: {name}: {count_parameters(student)} parameters, teacher {teacher_name}, codec {codec_name}, "
          f"{args.channel} {lo:g}..{hi:g} dB, grid 1..{n_max}, output {output}, direct {args.direct}", file=sys.stderr)
    bar = tqdm(total=args.steps, initial=step, desc=name, dynamic_ncols=True,
               mininterval=1.0 if sys.stderr.isatty() else 30.0, file=sys.stderr)
    t_start = time.perf_counter() - elapsed
    avg: dict[str, float] = {}
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    student.train()
    while step < stop_at:
        lr = lr_at(step, args.steps, args.lr, args.lr_min, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        imgs, d = link_batch(codec, sampler.sample(args.batch), args.channel, snr, gen, device)

        def decode(lat: torch.Tensor, snr: float = snr) -> torch.Tensor:
            return codec.decode(lat, snr)

        x = d.x * SQRT2
        l_cd, _ = consistency_distillation_loss(student, target, teacher, decode, x, d.w_s, d.w_n, grid, n_max,
                                                output, ws_floor, args.msssim, gen)
        loss = l_cd
        l_dir = torch.zeros(())
        if args.direct > 0:
            B = x.shape[0]
            m = match_index(grid, d.s2)
            f1 = student(d.y * SQRT2, torch.full((B,), float(grid[m]), device=device), d.w_s, d.w_n)
            k = tau2_index(grid, m, tau2_ratio)
            eps = torch.randn(x.shape, device=device, generator=gen)
            f2 = student(f1.detach() + float(grid[k]) * d.w_n * eps, torch.full((B,), float(grid[k]), device=device),
                         d.w_s, d.w_n)
            l_dir = 0.5 * (image_distance(decode(to_output(f1, d.w_s, output, ws_floor)), imgs, args.msssim)
                           + image_distance(decode(to_output(f2, d.w_s, output, ws_floor)), imgs, args.msssim))
            loss = loss + args.direct * l_dir
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        update_ema(target, student, args.ema)
        step += 1
        losses = (("loss", loss), ("cd", l_cd), ("direct", l_dir))
        for key, v in ((k, float(val.detach())) for k, val in losses):
            avg[key] = v if key not in avg else 0.98 * avg[key] + 0.02 * v
        bar.update(1)
        bar.set_postfix(cd=f"{avg['cd']:.2e}", direct=f"{avg['direct']:.2e}", lr=f"{lr:.1e}", refresh=False)
        if step % args.eval_every == 0 or step == args.steps:
            student.eval()
            ev = evaluate_denoiser(codec, held_out, args.channel, args.eval_snr_db, device,
                                   eecd_estimators(student, grid, output, ws_floor, tau2_ratio))
            student.train()
            rec = {"step": step, "seconds": round(time.perf_counter() - t_start, 1),
                   **{f"train_{k}": v for k, v in avg.items()}, **{k: round(v, 3) for k, v in ev.items()}}
            meta["history"].append(rec)
            tqdm.write(f"step {step}: {json.dumps(rec)}", file=sys.stderr)
        if step % args.ckpt_every == 0 or step == stop_at:
            from safetensors.torch import save_file

            save_state(work, student, opt, gen, rng, step, time.perf_counter() - t_start, meta)
            save_file({k: v.detach().cpu().contiguous() for k, v in target.state_dict().items()},
                      str(work / "target.safetensors"))
    bar.close()
    if step < args.steps:
        print(f"train: stopped at step {step} of {args.steps}; rerun the command to resume", file=sys.stderr)
        return {"name": name, "step": step, "finished": False}
    student.eval()
    seconds = time.perf_counter() - t_start
    estimators = dict(teacher_estimators(teacher, grid, tcfg.get("solver", "heun")),
                      **eecd_estimators(student, grid, output, ws_floor, tau2_ratio))
    estimators.pop("ve_eqscale" if output == "latent" else "ve")
    metrics = {f"{s:g}": {k: round(v, 3) for k, v in evaluate_denoiser(
        codec, held_all, args.channel, s, device, estimators).items()} for s in (0.0, 10.0, 20.0)}
    config = {
        "name": name, "description": f"EECD consistency denoiser (seed 003 Alg. 4) distilled from {teacher_name} "
                                     f"for {codec_name} over {args.channel}",
        "codec": codec_name, "channel": args.channel, "teacher": teacher_name, "n_max": n_max, "output": output,
        "ws_floor": ws_floor, "tau2_ratio": tau2_ratio,
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []),
                  "data": "natural32 train photos (PatchSampler)", "snr_db_range": [lo, hi], "steps": args.steps,
                  "batch": args.batch, "lr": args.lr, "ema": args.ema, "sigma_data": args.sigma_data,
                  "distance": "L2 on decoded images" + (f" + {args.msssim} (1 - SSIM)" if args.msssim else ""),
                  "direct_weight": args.direct, "seed": args.seed, "seconds": round(seconds, 1),
                  "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "parameters": count_parameters(student), "history": meta["history"]},
        "metrics": {"data": "natural32 held-out patches", "images": int(len(held_all)), "channel_seed": 1234,
                    "by_snr_db": metrics},
    }
    js = save_eecd(student.cpu(), tcfg["grid"], Path(args.out_dir) / name, config)
    print(f"train: wrote {js} ({seconds:.0f} s); held-out: {json.dumps(metrics)}", file=sys.stderr)
    return config
