"""``tools/train.py cdiff``: train a CDiff conditional diffusion decoder (seed 001) on the received
latents of a frozen shipped codec.

    python tools/train.py cdiff --codec jscc_mnist_awgn_cbr1-16 --steps 3000 --threads 1

Training pairs: training images -> the codec's encoder (SNR-adaptive codecs see the batch SNR)
-> :func:`semradio.models.link.simulate_link` (power normalizer -> AWGN or fast Rayleigh -> MMSE
equalizer) at an SNR drawn uniformly in ``--snr-db`` (seed 001: -10..10 dB) -> received real
latent ``y`` (B, 2k), optionally soft-masked before the channel (``--keep-prob``, appendix D),
padded to the conditioning maps (:func:`semradio.models.cdiff_latent.pad_latent`). Loss eq. 6
(x0 prediction, t ~ U{1..T}), Adam with warm-up + cosine decay.

``--train-encoder NAME`` trains the codec's encoder jointly with the decoder (seed 001 optimizes
its encoder and CDiff together; the loss eq. 6 reaches the encoder through the differentiable
link) and saves it as the codec NAME, with the codec's decoder unchanged: refit it for the new
encoder with ``train.py cdiff-codec --init NAME --freeze-encoder`` (the saved config says so). The
evaluation's matched benchmark stays ``--codec``'s own encoder and decoder.

With an adaptive-CBR codec (``train.py cdiff-codec``) every batch draws one CBR of the codec's
set, so one decoder serves all of them (padding + mask). The evaluated and saved weights are an
exponential moving average (``--ema``, seed 001 appendix D).

Resumable and seeded like ``train.py jscc`` (state in ``out/train/NAME/``, safetensors + JSON; the
same command resumes, ``--stop-after N`` trains in chunks). When the run finishes, the decoder (EMA
weights) goes to ``--out-dir``/NAME (``models/checkpoints/`` by default) and the held-out
evaluation -- SSIM/PSNR of the codec's matched decoder and of CDiff at each ``--final-snr-db`` and
every CBR, same images and channel draws -- to ``WORK_DIR/NAME/eval.json`` and the config.
``--eval-only`` re-evaluates the saved state (e.g. with other ``--sample-steps``); for a finished
run it also re-saves the decoder with those sampler settings as its defaults and their metrics.
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

from train import ROOT, make_batches, resume_run, run_steps, save_state  # tools/ is on sys.path when train.py runs

SIG_KEYS = ("codec", "data", "snr_db", "batch", "lr", "width", "mults", "T", "beta_1", "beta_T", "w_max",
            "keep_prob", "seed", "proj_channels", "ema", "focus_steps", "focus_frac", "init", "train_encoder",
            "encoder_init")


def add_cdiff_arguments(p: argparse.ArgumentParser) -> None:
    """CLI of ``train.py cdiff``."""
    p.add_argument("--codec", default="acbr_mnist_awgn_ae",
                   help="frozen shipped codec whose latents condition (an adaptive-CBR codec: every CBR of its set)")
    p.add_argument("--data", default=None, help="dataset spec (default: from the codec config: mnist or natural32)")
    p.add_argument("--snr-db", type=float, nargs=2, default=(-10.0, 10.0), metavar=("LO", "HI"))
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-min", type=float, default=2e-5)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--width", type=int, default=16, help="U-Net base width")
    p.add_argument("--mults", type=int, nargs="+", default=(1, 2, 2), help="U-Net width multipliers per stage")
    p.add_argument("--proj-channels", type=int, default=8, help="latent projection maps (0: none; see CDiffUNet)")
    p.add_argument("--ema", type=float, default=0.999, help="EMA decay of the evaluated/saved weights (0: off)")
    p.add_argument("--out-dir", default=str(ROOT / "models" / "checkpoints"), help="where the finished decoder goes")
    p.add_argument("--focus-steps", type=int, default=0,
                   help="train a fraction --focus-frac of the items on the t grid of this many sampler steps "
                        "(0: plain t ~ U{1..T}); see cdiff_loss")
    p.add_argument("--focus-frac", type=float, default=0.5)
    p.add_argument("--train-encoder", default=None, metavar="NAME",
                   help="train the codec's encoder jointly with the decoder and save it as codec NAME")
    p.add_argument("--encoder-init", default=None, metavar="CODEC",
                   help="with --train-encoder: start the encoder from this codec (default --codec, which stays "
                        "the evaluation's matched benchmark)")
    p.add_argument("--init", default=None, metavar="CDIFF",
                   help="warm start (network and EMA) from this CDiff checkpoint; recorded in the config")
    p.add_argument("--T", type=int, default=200)
    p.add_argument("--beta-1", type=float, default=1e-4)
    p.add_argument("--beta-T", type=float, default=0.0095)
    p.add_argument("--w-max", type=float, default=1.0, help="conditioning weight at t = T (linear w_t)")
    p.add_argument("--keep-prob", type=float, default=1.0,
                   help="stochastic (soft) masking of the encoder output before the channel (1: off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    p.add_argument("--name", default=None, help="run name (default cdiff_<data>_<channel>)")
    p.add_argument("--work-dir", default=str(ROOT / "out" / "train"), help="state and eval.json go to WORK_DIR/NAME")
    p.add_argument("--ckpt-every", type=int, default=250)
    p.add_argument("--sample-steps", type=int, default=20, help="reverse steps of the evaluation sampler")
    p.add_argument("--eta", type=float, default=0.0, help="sampler eta (1: ancestral eq. 7, 0: deterministic)")
    p.add_argument("--final-snr-db", type=float, nargs="+", default=(-10.0, 0.0, 10.0, 20.0))
    p.add_argument("--final-n", type=int, default=500, help="held-out images in the final evaluation (0: all)")
    p.add_argument("--eval-only", action="store_true", help="evaluate the saved state and exit")
    p.add_argument("--fresh", action="store_true", help="ignore a saved training state")
    p.add_argument("--stop-after", type=int, default=None, help="stop after this many steps (resume later)")


def codec_cbrs(codec: Any) -> tuple[float | None, ...]:
    """The CBR set of an adaptive-CBR codec, or (None,) for a single-rate codec."""
    return tuple(getattr(codec, "cbrs", (None,)))


def max_latent_length(codec: Any, image_size: tuple[int, int]) -> int:
    """Longest real latent the codec sends (2k of its largest CBR)."""
    return int(getattr(codec, "max_length", 0)) or int(codec.latent_length(image_size))


def encode_at(codec: Any, images: torch.Tensor, snr_db: float, cbr: float | None) -> torch.Tensor:
    """The codec's latent (B, 2k) at ``cbr`` (None: its only rate)."""
    return codec.encode(images, snr_db) if cbr is None else codec.encode(images, snr_db, cbr=cbr)


def received_latent(codec: Any, images: torch.Tensor, channel: str, snr_db: float, gen: torch.Generator,
                    keep_prob: float = 1.0, cbr: float | None = None) -> torch.Tensor:
    """Encoder (at ``cbr``) -> (soft mask) -> link -> received real latent (B, 2k)."""
    from semradio.models.cdiff_latent import stochastic_mask
    from semradio.models.link import simulate_link

    z = encode_at(codec, images, snr_db, cbr)
    if keep_prob < 1.0:
        z = stochastic_mask(z, keep_prob, gen)
    return simulate_link(z, channel, snr_db, gen)


def save_joint_encoder(joint: Any, base_cfg: dict[str, Any], args: argparse.Namespace, cdiff_name: str,
                       train: dict[str, Any]) -> Path:
    """Save the encoder trained jointly with CDiff as codec ``args.train_encoder`` (``decoder_matched``
    false: its decoder weights are the starting codec's until refit); the record of an earlier
    joint round (``--encoder-init``) is kept under ``joint_training.earlier``."""
    from semradio.models.checkpoint import read_config, save_codec

    start = args.encoder_init or args.codec
    start_cfg = read_config(start) if args.encoder_init else base_cfg
    keep = ("cbr", "cbrs", "k", "image_shape", "channel")
    cfg = {k: base_cfg[k] for k in keep if k in base_cfg}
    cfg.update(name=args.train_encoder, decoder_matched=False,
               description=f"Adaptive-CBR encoder trained jointly with the CDiff decoder {cdiff_name} (seed 001), "
                           f"from {args.codec}; its decoder is not matched to it until refit",
               joint_training={"cdiff": cdiff_name, "init_codec": start, "init_codec_sha256": start_cfg.get("sha256"),
                               "command": train["command"], "steps": train["steps"], "seconds": train["seconds"],
                               "earlier": start_cfg.get("joint_training")})
    return save_codec(joint.cpu(), Path(args.out_dir) / args.train_encoder, cfg)


@torch.no_grad()
def evaluate(codec: Any, net: Any, schedule: Any, images: np.ndarray, channel: str, snr_db: float,
             cond_shape: tuple[int, int, int], device: torch.device, steps: int, eta: float,
             seed: int = 1234, batch: int = 250, cbr: float | None = None,
             encoder: Any = None) -> dict[str, float]:
    """Mean SSIM/PSNR of the matched codec decoder and of CDiff on the same channel draws; CDiff
    decodes the latents of ``encoder`` (default: the codec's own) under the same noise draws."""
    from semradio.models import metrics as M
    from semradio.models.cdiff import bind_condition, cdiff_sample, from_model_units, image_cond
    from semradio.models.cdiff_latent import pad_latent
    from semradio.models.link import make_generator

    gen = make_generator(seed, device)
    cgen = make_generator(seed, device) if encoder is not None else None
    sgen = make_generator(seed + 1, device)
    res: dict[str, list[np.ndarray]] = {"ssim_matched": [], "psnr_db_matched": [], "ssim_cdiff": [],
                                        "psnr_db_cdiff": []}
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(device)
        y = received_latent(codec, x, channel, snr_db, gen, cbr=cbr)
        ref = codec.decode(y, snr_db)
        if encoder is not None:
            y = received_latent(encoder, x, channel, snr_db, cgen, cbr=cbr)
        maps, mask = pad_latent(y, cond_shape)
        x0 = cdiff_sample(bind_condition(net, maps, mask), image_cond(maps, x.shape[1]), schedule, steps, eta, sgen)
        out = from_model_units(x0)
        res["ssim_matched"].append(M.ssim(x, ref))
        res["psnr_db_matched"].append(M.psnr(x, ref))
        res["ssim_cdiff"].append(M.ssim(x, out))
        res["psnr_db_cdiff"].append(M.psnr(x, out))
    return {k: round(float(np.concatenate(v).mean()), 4) for k, v in res.items()}


def run_cdiff(args: argparse.Namespace, argv: list[str]) -> dict[str, Any]:
    """Train (resumably), evaluate, save the EMA decoder; state and eval.json in WORK_DIR/NAME."""
    import copy

    from semradio.models import data as D
    from semradio.models.cdiff import (CDiffSchedule, CDiffUNet, cdiff_loss, save_cdiff, timestep_schedule,
                                       to_model_units)
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
    cbrs = codec_cbrs(codec)
    n_lat = max_latent_length(codec, (h, w))
    cond_shape = (cond_channels_for(n_lat, (h, w)), h, w)
    name = args.name or f"cdiff_{data.split(':')[0]}_{channel}"
    work = Path(args.work_dir) / name
    schedule = CDiffSchedule.make(args.T, args.beta_1, args.beta_T, args.w_max)
    torch.manual_seed(args.seed)
    net = CDiffUNet(c_img, cond_shape[0], args.width, tuple(args.mults), image_size=(h, w),
                    proj_channels=args.proj_channels).to(device)
    focus = timestep_schedule(args.T, args.focus_steps) if args.focus_steps else []
    ema = copy.deepcopy(net).requires_grad_(False)
    pair = torch.nn.ModuleDict({"net": net, "ema": ema})
    joint = None
    if args.train_encoder:  # a trainable copy of the codec; its decoder gets no gradient
        joint = load_codec(args.encoder_init or args.codec, device).requires_grad_(True)
        joint.eval()  # normalization statistics stay those of the codec
        pair["encoder"] = joint
    opt = torch.optim.Adam(list(net.parameters()) + (list(joint.parameters()) if joint is not None else []),
                           lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    batches, data_desc = make_batches(data, args.seed, rng)
    command = "python tools/train.py " + shlex.join(argv)
    sig = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(args).items() if k in SIG_KEYS}
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    resumed = resume_run(work, sig, pair, opt, gen, rng, meta, command, args.fresh, ignore=("steps",))
    step, elapsed = resumed or (0, 0.0)
    if resumed is None and args.eval_only:
        raise SystemExit(f"train: no saved state in {work} to evaluate")
    if resumed is None and args.init:  # warm start (network and EMA); the record travels in the state
        from semradio.models.cdiff import load_cdiff

        base, _, base_cfg = load_cdiff(args.init, device)
        net.load_state_dict(base.state_dict())
        ema.load_state_dict(base.state_dict())
        meta["init"] = {"cdiff": args.init, "sha256": base_cfg.get("sha256"),
                        "command": base_cfg["train"]["command"], "steps": base_cfg["train"]["steps"],
                        "init": base_cfg["train"].get("init")}  # the whole chain of warm starts
    elif resumed is not None:
        meta["init"] = json.loads((work / "state.json").read_text()).get("init")
    print(f"train: {name}: {count_parameters(net)} parameters, codec {args.codec} (CBRs {cbrs}, longest 2k = "
          f"{n_lat}), conditioning {cond_shape}, {channel} {args.snr_db[0]:g}..{args.snr_db[1]:g} dB, T={args.T}, "
          f"device {device}, threads {torch.get_num_threads()}", file=sys.stderr)
    lo, hi = args.snr_db
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)

    def loss_fn(_: int) -> torch.Tensor:
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        cbr = cbrs[int(rng.integers(len(cbrs)))]
        imgs = torch.from_numpy(np.ascontiguousarray(batches.sample(args.batch))).to(device)
        with torch.set_grad_enabled(joint is not None):
            y = received_latent(joint if joint is not None else codec, imgs, channel, snr, gen, args.keep_prob, cbr)
            maps, mask = pad_latent(y, cond_shape)
        return cdiff_loss(net, to_model_units(imgs), maps, mask, schedule, gen, focus, args.focus_frac)

    @torch.no_grad()
    def ema_update(done: int, *_: float) -> None:
        decay = min(args.ema, done / (9 + done)) if args.ema > 0 else 0.0
        for pe, pn in zip(ema.parameters(), net.parameters()):
            pe.lerp_(pn, 1.0 - decay)

    def save(s: int, seconds: float) -> None:
        save_state(work, pair, opt, gen, rng, s, seconds, meta)

    t_train = time.perf_counter()
    if not args.eval_only:
        net.train()
        step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn,
                         after_step=ema_update, save=save, ckpt_every=args.ckpt_every, history=meta["history"],
                         elapsed=elapsed)
        if step < args.steps:
            return {"name": name, "step": step, "finished": False}
    final = ema if args.ema > 0 else net
    final.eval()
    held = D.subset(D.load_images(data, "eval"), args.final_n or None, seed=0)
    t_eval = time.perf_counter()
    lowest = cbrs[0]
    if joint is not None:
        joint.requires_grad_(False)
    by_snr = {f"{s:g}": evaluate(codec, final, schedule, held, channel, s, cond_shape, device, args.sample_steps,
                                 args.eta, cbr=lowest, encoder=joint) for s in args.final_snr_db}
    by_cbr = {("-" if c is None else f"{c:.4g}"): evaluate(codec, final, schedule, held, channel, 0.0, cond_shape,
                                                           device, args.sample_steps, args.eta, cbr=c, encoder=joint)
              for c in cbrs}
    train_seconds = round(elapsed if args.eval_only else elapsed + t_eval - t_train, 1)
    enc_name = args.train_encoder or args.codec
    report = {"name": name, "command": command, "train_command": meta["command"], "codec": enc_name,
              "matched_codec": args.codec,
              "step": step, "train_seconds": train_seconds,
              "parameters": sum(p.numel() for p in final.parameters()), "data": data, "data_description": data_desc,
              "held_out_images": int(len(held)), "channel_seed": 1234, "sample_steps": args.sample_steps,
              "eta": args.eta, "eval_seconds": round(time.perf_counter() - t_eval, 1),
              "by_snr_db_at_lowest_cbr": by_snr, "by_cbr_at_0_db": by_cbr}
    work.mkdir(parents=True, exist_ok=True)
    (work / "eval.json").write_text(json.dumps(report, indent=1))
    for s, r in by_snr.items():
        print(f"{s:>4} dB (CBR {lowest}): SSIM matched {r['ssim_matched']:.4f} cdiff {r['ssim_cdiff']:.4f} | PSNR "
              f"matched {r['psnr_db_matched']:.2f} cdiff {r['psnr_db_cdiff']:.2f} dB", file=sys.stderr)
    for c, r in by_cbr.items():
        print(f"CBR {c} at 0 dB: SSIM matched {r['ssim_matched']:.4f} cdiff {r['ssim_cdiff']:.4f}", file=sys.stderr)
    if step >= args.steps:  # finished run (re-evaluated runs are re-saved with the new sampler settings)
        config = {"name": name, "description": f"CDiff conditional diffusion decoder (seed 001) for the latents of "
                                               f"{enc_name}, {channel}",
                  "codec": enc_name, "matched_codec": args.codec, "channel": channel,
                  "cbrs": [c for c in cbrs if c is not None],
                  "image_shape": [c_img, h, w], "cond_shape": list(cond_shape),
                  "sample_steps": args.sample_steps, "eta": args.eta, "eval_command": command,
                  "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []), "data": data,
                            "data_description": data_desc, "snr_db_range": [lo, hi], "steps": args.steps,
                            "batch": args.batch, "lr": args.lr, "ema": args.ema, "keep_prob": args.keep_prob,
                            "focus_steps": focus, "focus_frac": args.focus_frac if focus else 0.0,
                            "init": meta.get("init"), "train_encoder": args.train_encoder,
                            "encoder_init": args.encoder_init,
                            "seed": args.seed, "seconds": train_seconds, "torch": torch.__version__,
                            "parameters": sum(p.numel() for p in final.parameters()), "history": meta["history"]},
                  "metrics": {k: v for k, v in report.items() if k.startswith("by_") or k in ("held_out_images",
                                                                                              "channel_seed")}}
        previous = Path(args.out_dir) / f"{name}.json"
        if args.eval_only and previous.is_file():  # re-saved after re-evaluation: keep the training record
            config["train"] = dict(json.loads(previous.read_text())["train"], parameters=config["train"]["parameters"])
        js = save_cdiff(final.cpu(), schedule, Path(args.out_dir) / name, config)
        print(f"train: wrote {js}", file=sys.stderr)
        if joint is not None:
            js = save_joint_encoder(joint, ccfg, args, name, config["train"])
            print(f"train: wrote {js} (refit its decoder: train.py cdiff-codec --init {args.train_encoder} "
                  f"--freeze-encoder)", file=sys.stderr)
    print(f"train: wrote {work / 'eval.json'}", file=sys.stderr)
    return report
