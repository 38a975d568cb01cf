"""``tools/train.py cddm``: train a CDDM channel denoiser for a shipped codec, then (optionally)
fine-tune the codec's decoder on the denoised latents.

    python tools/train.py cddm --channel rayleigh --steps 6000 --finetune-steps 1500

Training pairs come from the frozen codec: natural training patches -> encoder (SNR-adaptive
codecs see the batch SNR) -> power normalizer -> ``x~ = sqrt(2) [Re; Im] x_c``; the channel
(AWGN, or fast Rayleigh h ~ CN(0, 1) per symbol) gives the Lemma 1 weights W_s, W_n of the
MMSE equalizer at an SNR drawn uniformly in ``--snr-db``; the loss is
``||eps - eps_theta(sqrt(abar_t) W_s x~ + sqrt(1-abar_t) W_n eps, t, W)||^2`` with
t uniform on 0..t_max, t_max the KL-matched step of the lowest SNR (seed 002).

Decoder fine-tuning (Wu et al.: "the JSCC decoder is then fine-tuned on denoised latents"):
a pool of (image, CDDM output, SNR) batches is sampled with the trained denoiser
(``--finetune-pool``; with ``--finetune-refresh K`` one batch is replaced by a freshly denoised one
every K steps, so the decoder does not memorize the pool), then the decoder alone is trained on it
with MSE. ``--finetune-rule tweedie --finetune-pool 0`` makes the latents with one Tweedie step
``E[x_0 | x_m]`` (1 network evaluation instead of m + 1, the same held-out PSNR within 0.01 dB)
and denoises a fresh batch for every step; the result is a new codec checkpoint ``<codec>_cddm``
(same encoder). Fine-tuning can be continued in rounds (``--finetune-only --finetune-init
<codec>_cddm``); the JSON lists every round with its held-out metrics.

Resumable and seeded like ``train.py jscc`` (state in ``out/train/NAME/``, safetensors + JSON).
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from train import ROOT, lr_at, resume_run, run_steps, save_state  # tools/ is on sys.path when train.py runs


def add_cddm_arguments(p: argparse.ArgumentParser) -> None:
    """CLI of ``train.py cddm``."""
    p.add_argument("--codec", default=None, help="codec name (default: jscc_natural32_<channel>_cbr1-6)")
    p.add_argument("--channel", choices=("awgn", "rayleigh"), default="rayleigh")
    p.add_argument("--snr-db", type=float, nargs=2, default=(0.0, 20.0), metavar=("LO", "HI"))
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--lr-min", type=float, default=1e-5)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--blocks", type=int, default=4)
    p.add_argument("--T", type=int, default=200, help="diffusion steps of the linear schedule")
    p.add_argument("--beta-1", type=float, default=1e-4, help="first beta of the linear schedule")
    p.add_argument("--beta-T", type=float, default=0.05,
                   help="last beta (T=200, 1e-4..0.05: start steps 73/27/8 at 0/10/20 dB)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--name", default=None)
    p.add_argument("--out-dir", default=str(Path(__file__).resolve().parents[1] / "models" / "checkpoints"))
    p.add_argument("--work-dir", default=str(ROOT / "out" / "train"), help="resumable state goes to WORK_DIR/NAME")
    p.add_argument("--ckpt-every", type=int, default=500)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--eval-n", type=int, default=256, help="held-out patches for the periodic evaluation")
    p.add_argument("--eval-snr-db", type=float, default=10.0)
    p.add_argument("--finetune-steps", type=int, default=0, help="decoder fine-tuning steps (0: none)")
    p.add_argument("--finetune-pool", type=int, default=48,
                   help="batches of denoised latents to fine-tune on (0: a freshly denoised batch every step)")
    p.add_argument("--finetune-rule", choices=("cddm", "ddim", "tweedie"), default="cddm",
                   help="reverse-step rule that makes the fine-tuning latents (tweedie: 1 network "
                        "evaluation, cheap enough for --finetune-pool 0)")
    p.add_argument("--finetune-lr", type=float, default=1e-4)
    p.add_argument("--finetune-refresh", type=int, default=0,
                   help="every K decoder steps replace one pool batch by a freshly denoised one (0: fixed pool)")
    p.add_argument("--finetune-eval-n", type=int, default=0,
                   help="held-out patches of the fine-tuned decoder's evaluation (0: all)")
    p.add_argument("--finetune-init", default=None,
                   help="decoder to start the fine-tune from (default: the codec's own)")
    p.add_argument("--finetune-only", action="store_true",
                   help="skip training: fine-tune the decoder on the saved CDDM checkpoint NAME")
    p.add_argument("--fresh", action="store_true", help="ignore a saved training state")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many steps (resume later)")


class LinkDraw:
    """One simulated transmission of a latent batch: transmitted x, received y and Lemma 1
    weights, all real (B, 2k) in the equalizer's scale."""

    def __init__(self, z: torch.Tensor, channel: str, snr_db: float, gen: torch.Generator) -> None:
        from semradio.dsp import channel as cm
        x_c = cm.normalize_power(z)
        self.s2 = cm.noise_var_from_snr(snr_db)
        n = cm.complex_noise(gen, tuple(x_c.shape), self.s2, x_c)
        if channel == "awgn":
            y_c = cm.channel_output(x_c, None, n)
            self.y, self.w_s, self.w_n, _ = cm.identity_weights(y_c)
        else:
            h = cm.rayleigh_gains(gen, tuple(x_c.shape), x_c)
            y_c = cm.channel_output(x_c, h, n)
            self.y, self.w_s, self.w_n, _ = cm.equalize(y_c, h, self.s2, "mmse")
        self.x = cm.complex_to_real(x_c)


def denoise(net: Any, schedule: Any, d: LinkDraw, batch: int = 256, rule: str = "cddm") -> torch.Tensor:
    """CDDM output (equalizer scale) for a link draw, with the reverse-step ``rule``."""
    from semradio.models.cddm import bind_condition, cddm_sample, from_diffusion_units, to_diffusion_units

    outs = []
    for i in range(0, d.y.shape[0], batch):
        sl = slice(i, i + batch)
        x, _ = cddm_sample(bind_condition(net, d.w_s[sl], d.w_n[sl]), to_diffusion_units(d.y[sl]), d.w_n[sl],
                           d.s2, schedule, rule=rule)
        outs.append(from_diffusion_units(x))
    return torch.cat(outs)


@torch.no_grad()
def evaluate(codec: Any, net: Any, schedule: Any, images: np.ndarray, channel: str, snr_db: float,
             device: torch.device, seed: int = 1234, decoder: Any = None) -> dict[str, float]:
    """Latent MSE (dB) of the MMSE output and of the CDDM output against the transmitted latent,
    and PSNR of the decoded images without and with CDDM (fixed channel seed)."""
    from semradio.models import metrics as M
    from semradio.models.link import make_generator

    gen = make_generator(seed, device)
    x = torch.from_numpy(np.ascontiguousarray(images)).to(device)
    z = codec.encode(x, snr_db)
    d = LinkDraw(z, channel, snr_db, gen)
    den = denoise(net, schedule, d)
    dec = decoder or codec
    out = {
        "latent_mse_db_mmse": 10 * math.log10(float(torch.mean((d.y - d.x) ** 2))),
        "latent_mse_db_cddm": 10 * math.log10(float(torch.mean((den - d.x) ** 2))),
        "psnr_db_none": float(np.mean(M.psnr(x, codec.decode(d.y, snr_db)))),
        "psnr_db_cddm": float(np.mean(M.psnr(x, dec.decode(den, snr_db)))),
    }
    out["latent_gain_db"] = out["latent_mse_db_mmse"] - out["latent_mse_db_cddm"]
    out["psnr_gain_db"] = out["psnr_db_cddm"] - out["psnr_db_none"]
    return out


def run_cddm(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Train (resumably), evaluate, save; then fine-tune the decoder if asked."""
    from tqdm import tqdm

    from semradio.models import data as D
    from semradio.models.cddm import LatentScoreNet, cddm_loss, latent_shape_for, save_cddm, start_step
    from semradio.models.checkpoint import load_codec, resolve_device
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator
    from semradio.models.schedules import NoiseSchedule

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    codec_name = args.codec or f"jscc_natural32_{args.channel}_cbr1-6"
    codec = load_codec(codec_name, device)
    for p in codec.parameters():
        p.requires_grad_(False)
    name = args.name or codec_name.replace("jscc_", "cddm_", 1)
    work = Path(args.work_dir) / name
    schedule = NoiseSchedule.make("linear", T=args.T, beta_1=args.beta_1, beta_T=args.beta_T)
    lo, hi = args.snr_db
    t_max = min(args.T - 1, int(start_step(schedule, 10 ** (-lo / 10)) * 1.1) + 1)
    dim = codec.latent_length()
    shape = latent_shape_for(dim, {"latent_shape": [codec.latent_channels, codec.image_size[0] // 4,
                                                    codec.image_size[1] // 4]})
    torch.manual_seed(args.seed)
    if args.finetune_only:
        from semradio.models.cddm import load_cddm

        net, schedule, config = load_cddm(Path(args.out_dir) / name, device)
        net.eval()
        rng = np.random.default_rng(args.seed + 2)
        gen = make_generator(args.seed + 2, device)
        finetune_decoder(args, codec, codec_name, net, schedule, rng, gen, device,
                         "python tools/train.py " + shlex.join(argv))
        return config
    net = LatentScoreNet(shape, width=args.width, blocks=args.blocks).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    sampler = D.PatchSampler("train", codec.image_size[0], seed=args.seed)
    held_out = D.subset(D.natural_patches("eval", codec.image_size[0]), args.eval_n, seed=0)
    command = "python tools/train.py " + shlex.join(argv)
    sig = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items()
           if k in ("codec", "channel", "snr_db", "batch", "lr", "width", "blocks", "T", "beta_1", "beta_T", "seed")}
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    step, elapsed = resume_run(work, sig, net, opt, gen, rng, meta, command, args.fresh, ignore=("steps",)) or (0, 0.0)
    print(f"train: {name}: {count_parameters(net)} parameters, latent {shape}, codec {codec_name}, "
          f"{args.channel} {lo:g}..{hi:g} dB, t_max {t_max} of T={args.T}, device {device}", file=sys.stderr)
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    net.train()

    def loss_fn(_: int) -> torch.Tensor:
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        with torch.no_grad():
            imgs = torch.from_numpy(sampler.sample(args.batch)).to(device)
            d = LinkDraw(codec.encode(imgs, snr), args.channel, snr, gen)
        return cddm_loss(net, d.x * math.sqrt(2.0), d.w_s, d.w_n, schedule, t_max, gen)

    def after_step(s: int, loss_avg: float, seconds: float) -> None:
        if s % args.eval_every == 0 or s == args.steps:
            net.eval()
            ev = evaluate(codec, net, schedule, held_out, args.channel, args.eval_snr_db, device)
            net.train()
            meta["history"].append({"step": s, "seconds": round(seconds, 1), "train_loss": loss_avg,
                                    **{k: round(v, 3) for k, v in ev.items()}})
            tqdm.write(f"step {s}: at {args.eval_snr_db:g} dB latent MSE {ev['latent_mse_db_mmse']:.2f} -> "
                       f"{ev['latent_mse_db_cddm']:.2f} dB, PSNR {ev['psnr_db_none']:.2f} -> {ev['psnr_db_cddm']:.2f} dB",
                       file=sys.stderr)

    t0 = time.perf_counter()
    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn, after_step,
                     lambda s, sec: save_state(work, net, opt, gen, rng, s, sec, meta), args.ckpt_every,
                     elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    net.eval()
    seconds = elapsed + time.perf_counter() - t0
    config = {
        "name": name, "description": f"CDDM channel denoiser for {codec_name} over {args.channel}",
        "codec": codec_name, "channel": args.channel, "t_max": t_max,
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []),
                  "data": "natural32 train photos (PatchSampler)",
                  "snr_db_range": [lo, hi], "steps": args.steps, "batch": args.batch, "lr": args.lr,
                  "seed": args.seed, "seconds": round(seconds, 1), "torch": torch.__version__,
                  "parameters": count_parameters(net), "history": meta["history"]},
    }
    js = save_cddm(net.cpu(), schedule, Path(args.out_dir) / name, config)
    net.to(device)
    print(f"train: wrote {js} ({seconds:.0f} s)", file=sys.stderr)
    if args.finetune_steps > 0:
        finetune_decoder(args, codec, codec_name, net, schedule, rng, gen, device, meta["command"])
    return config


def finetune_decoder(args: argparse.Namespace, codec: Any, codec_name: str, net: Any, schedule: Any,
                     rng: np.random.Generator, gen: torch.Generator, device: torch.device, command: str) -> None:
    """Fine-tune the decoder on CDDM outputs; save as ``<codec>_cddm`` (same encoder)."""
    from tqdm import tqdm

    from semradio.models import data as D
    from semradio.models.checkpoint import load_codec, read_config, save_codec

    lo, hi = args.snr_db
    sampler = D.PatchSampler("train", codec.image_size[0], seed=args.seed + 1)
    t0 = time.perf_counter()

    @torch.no_grad()
    def fresh() -> tuple[torch.Tensor, torch.Tensor, float]:
        snr = float(rng.uniform(lo, hi))
        imgs = torch.from_numpy(sampler.sample(args.batch)).to(device)
        d = LinkDraw(codec.encode(imgs, snr), args.channel, snr, gen)
        return imgs, denoise(net, schedule, d, rule=args.finetune_rule), snr

    pool = [fresh() for _ in tqdm(range(args.finetune_pool), desc="denoised pool", file=sys.stderr,
                                  mininterval=1.0 if sys.stderr.isatty() else 30.0)]
    tuned = load_codec(args.finetune_init or codec_name, device)
    tuned.train()
    for p in tuned.encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam([p for p in tuned.decoder.parameters() if p.requires_grad], lr=args.finetune_lr)
    for step in tqdm(range(args.finetune_steps), desc="decoder fine-tune", file=sys.stderr,
                     mininterval=1.0 if sys.stderr.isatty() else 30.0):
        if pool and args.finetune_refresh and step and step % args.finetune_refresh == 0:
            pool[int(rng.integers(len(pool)))] = fresh()
        imgs, lat, snr = pool[int(rng.integers(len(pool)))] if pool else fresh()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.finetune_steps, args.finetune_lr, args.finetune_lr / 20, 50)
        loss = torch.nn.functional.mse_loss(tuned.decode(lat, snr), imgs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    tuned.eval()
    held_out = D.natural_patches("eval", codec.image_size[0])
    if args.finetune_eval_n:
        held_out = D.subset(held_out, args.finetune_eval_n, seed=0)
    metrics = {f"{s:g}": {k: round(v, 3) for k, v in
                          evaluate(codec, net, schedule, held_out, args.channel, s, device, decoder=tuned).items()}
               for s in (0.0, 10.0, 20.0)}
    base_cfg = read_config(codec_name)
    cfg = {k: v for k, v in base_cfg.items() if k not in ("_path", "architecture", "kwargs", "weights", "sha256")}
    this_round = {"command": command, "base_codec": codec_name, "denoiser": net_name(args, codec_name),
                  "init": args.finetune_init or codec_name, "steps": args.finetune_steps,
                  "pool_batches": args.finetune_pool, "refresh_every": args.finetune_refresh,
                  "latents_rule": args.finetune_rule,
                  "lr": args.finetune_lr, "seconds": round(time.perf_counter() - t0, 1), "metrics_with_cddm": metrics}
    init_cfg = read_config(args.finetune_init) if args.finetune_init else {}
    earlier = init_cfg.get("finetune", {}).get("rounds", []) if "finetune" in init_cfg else []
    cfg.update(name=f"{codec_name}_cddm", description=base_cfg.get("description", "") + "; decoder fine-tuned on CDDM outputs",
               finetune={**this_round, "rounds": earlier + [{k: v for k, v in this_round.items() if k != "rounds"}]})
    js = save_codec(tuned.cpu(), Path(args.out_dir) / f"{codec_name}_cddm", cfg)
    print(f"train: wrote {js}; held-out with CDDM: " +
          ", ".join(f"{k} dB: {v['psnr_db_none']:.2f} -> {v['psnr_db_cddm']:.2f} dB" for k, v in metrics.items()),
          file=sys.stderr)


def net_name(args: argparse.Namespace, codec_name: str) -> str:
    """Name of the CDDM checkpoint trained by ``args``."""
    return args.name or codec_name.replace("jscc_", "cddm_", 1)
