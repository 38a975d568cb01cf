"""``semradio train cdiff-codec``: the adaptive-CBR encoder with its matched decoder (``--variant
ae``) or the VAE benchmark (``--variant vae``) of CDiff: Conditional denoising diffusion
autoencoders (Letafati et al., appendices C-D).

    semradio train cdiff-codec --data mnist --variant ae --steps 3000 --threads 1

Each step draws one CBR of ``--cbrs`` (the adaptive training of appendix D: shared trunk, one
head per CBR) and one SNR uniformly in ``--snr-db`` (the paper: -10..10 dB), then trains encoder
and decoder jointly through :func:`semradio.models.link.simulate_link` (power normalizer -> AWGN
or fast Rayleigh -> MMSE) with the MSE loss; the VAE adds ``--kl-weight`` times
``KL(N(mu, sigma^2) || N(0, I))`` (both as element means) and sends ``mu + sigma eps``. The paper
weighs the two terms equally; with element means that makes the KL term dominate and the VAE
collapses to the mean image (measured: 11 dB PSNR on MNIST at every SNR and CBR). The default
0.01 is the evidence lower bound of a Gaussian pixel likelihood with standard deviation ~0.1
(``MSE / (2 sigma_x^2) + KL_sum / D``, divided by 1/(2 sigma_x^2), with latent/pixel ratio
~0.2-0.4). ``--keep-prob`` < 1 applies stochastic (soft) masking before the channel (appendix D).

``--init CODEC --freeze-encoder`` refits only the decoder of an existing codec (its architecture
and CBR set come from CODEC): this is how an encoder trained jointly with CDiff (``semradio train
cdiff --train-encoder NAME``) gets a matched decoder; the encoder weights are kept bit for bit and
the record of their joint training is carried over.

The codec is saved as NAME (default ``acbr_<data>_<channel>_<variant>``, architecture
``adaptive_cbr_codec``) in the user checkpoint directory (or ``--out-dir``) with PSNR/SSIM on the
held-out split per CBR and SNR; an existing checkpoint is replaced only with ``--overwrite``.
Resumable and seeded like ``semradio train jscc`` (state in ``$SEMRADIO_HOME/runs/NAME`` or
``--work-dir/NAME``).

    >>> from semradio.models.training import CDiffCodecConfig, train
    >>> cfg = train(CDiffCodecConfig(data="mnist", steps=30, name="my_acbr"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import RunOptions, option, signature
from .data import TrainingData
from .jscc import command_line
from .loop import prepare_run, resume_run, run_steps, save_state, set_threads

#: Fields that must match for a saved run to be resumed (``steps`` may grow).
SIG_KEYS = ("data", "channel", "variant", "cbrs", "widths", "batchnorm", "output", "snr_db", "batch", "lr",
            "keep_prob", "seed", "kl_weight", "init", "freeze_encoder")
#: Parameters of the encoding path of an AdaptiveCBRCodec (frozen by ``--freeze-encoder``).
ENCODER_PREFIXES = ("trunk.", "heads.", "logvar_heads.")
#: Default CBR sets: the paper's for MNIST; for 32x32 colour patches k = 128, 256, 384, 512 symbols.
DEFAULT_CBRS = {"mnist": (0.2, 0.25, 0.3, 0.35, 0.4, 0.45), "natural32": (1 / 24, 1 / 12, 1 / 8, 1 / 6)}
DEFAULT_WIDTHS = {"mnist": (8, 16, 32), "natural32": (32, 64, 128)}


@dataclass
class CDiffCodecConfig(RunOptions):
    """Settings of ``semradio train cdiff-codec`` (one field per command-line option): an
    adaptive-CBR encoder with a matched AE or VAE decoder."""

    data: str = option("mnist", help="dataset spec (mnist, natural32, folder:DIR[:SIZE], ...)")
    channel: str = option("awgn", choices=("awgn", "rayleigh"))
    variant: str = option("ae", choices=("ae", "vae"))
    cbrs: tuple[float, ...] | None = option(None, nargs="+",
                                            help="CBR set (default: the paper's 0.2..0.45 on MNIST; 1/24, 1/12, "
                                                 "1/8, 1/6 on natural32)")
    widths: tuple[int, ...] | None = option(None, nargs="+", help="encoder convolution widths")
    batchnorm: bool = option(False, help="BatchNorm after each convolution")
    output: str = option("sigmoid", choices=("sigmoid", "clamp"))
    snr_db: tuple[float, float] = option((-10.0, 10.0), nargs=2, metavar=("LO", "HI"))
    kl_weight: float = option(0.01, help="VAE: weight of the KL term (element means)")
    keep_prob: float = option(1.0, help="stochastic masking keep probability (1: off)")
    steps: int = option(3000)
    batch: int = option(64)
    lr: float = option(1e-3)
    lr_min: float = option(2e-5)
    warmup: int = option(100)
    seed: int = option(0)
    name: str | None = option(None, help="checkpoint name (default acbr_<data>_<channel>_<variant>)")
    ckpt_every: int = option(500)
    final_snr_db: tuple[float, ...] = option((-10.0, 0.0, 10.0, 20.0), nargs="+")
    init: str | None = option(None, metavar="CODEC",
                              help="start from this adaptive-CBR codec (architecture and CBRs from it; --variant "
                                   "must match)")
    freeze_encoder: bool = option(False, help="train the decoder only (needs --init)")


def codec_step_loss(model: Any, images: torch.Tensor, cbr: float, channel: str, snr_db: float,
                    gen: torch.Generator, keep_prob: float = 1.0, kl_weight: float = 0.01,
                    shard: Any = None) -> torch.Tensor:
    """One training loss for ``images`` (B, C, H, W) at ``cbr`` and ``snr_db`` dB: the MSE of the
    reconstruction through the link, plus for the VAE ``kl_weight * KL(N(mu, sigma^2) || N(0, I))``
    (element means), the latent sent being ``mu + sigma eps``. ``shard``: ``images`` are this
    rank's rows of a data-parallel batch (every draw is the global batch's rows)."""
    from semradio.models.cdiff_codec import kl_divergence, reparameterize
    from semradio.models.cdiff_latent import stochastic_mask
    from semradio.models.link import simulate_link

    mu, logvar = model.encode_stats(images, cbr)
    z = mu if logvar is None else reparameterize(mu, logvar, gen, shard=shard)
    if keep_prob < 1.0:
        z = stochastic_mask(z, keep_prob, gen, shard=shard)
    out = model.decode(simulate_link(z, channel, snr_db, gen, shard=shard), snr_db)
    loss = torch.nn.functional.mse_loss(out, images)
    return loss if logvar is None else loss + kl_weight * kl_divergence(mu, logvar)


@torch.no_grad()
def evaluate_codec(model: Any, images: np.ndarray, channel: str, snr_db: float, cbr: float, device: torch.device,
                   seed: int = 1234, batch: int = 250) -> dict[str, float]:
    """Mean PSNR (dB) / SSIM of ``images`` (N, C, H, W) through the link at one CBR and SNR (fixed
    channel seed), rounded to 4 digits."""
    from semradio.models import metrics as M
    from semradio.models.link import make_generator, simulate_link

    gen = make_generator(seed, device)
    ps, ss = [], []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(device)
        y = model.decode(simulate_link(model.encode(x, cbr=cbr), channel, snr_db, gen))
        ps.append(M.psnr(x, y))
        ss.append(M.ssim(x, y))
    return {"psnr_db": round(float(np.concatenate(ps).mean()), 4), "ssim": round(float(np.concatenate(ss).mean()), 4)}


def train_cdiff_codec(config: CDiffCodecConfig, data: str | TrainingData | None = None,
                      command: str | None = None) -> dict[str, Any]:
    """Train (resumably), evaluate per CBR/SNR on the whole held-out split, save the checkpoint;
    returns its config (or ``{"name", "step", "finished": False}`` when stopped early).

    Args:
        config: the settings (not modified: the CBR set and widths resolved from the data or
            ``init`` are recorded in the checkpoint and the resume signature).
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``).
        command: the command line to record (default: rebuilt from ``config``).

    Raises:
        SystemExit: ``freeze_encoder`` without ``init``, an ``init`` of another variant, the
            checkpoint exists and ``overwrite`` is False, or a saved run has other settings.
    """
    from semradio.models.cdiff_codec import AdaptiveCBRCodec
    from semradio.models.checkpoint import resolve_device, save_codec
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator

    from . import distributed

    set_threads(config.threads)
    device = resolve_device(config.device)
    shard, device = distributed.setup(device, "cdiff-codec")  # torchrun: this rank's rows of every batch
    shard.local_batch(config.batch)
    if config.freeze_encoder and not config.init:
        raise SystemExit("train: --freeze-encoder needs --init CODEC")
    data = TrainingData.coerce(data if data is not None else config.data)
    args = dataclasses.replace(config, data=data.spec)  # resolved settings (the caller's config is untouched)
    init_cfg: dict[str, Any] = {}
    if args.init:
        from semradio.models.checkpoint import load_codec, read_config

        init_cfg = read_config(args.init)
        kw = init_cfg["kwargs"]
        if kw.get("variant") != args.variant:
            raise SystemExit(f"train: --init {args.init} is variant {kw.get('variant')!r}, not {args.variant!r}")
        args = dataclasses.replace(args, cbrs=kw["cbrs"], widths=kw["widths"], batchnorm=kw["batchnorm"],
                                   output=kw["output"])
    tag = data.tag
    args = dataclasses.replace(args, cbrs=list(args.cbrs or DEFAULT_CBRS.get(tag, DEFAULT_CBRS["natural32"])),
                               widths=list(args.widths or DEFAULT_WIDTHS.get(tag, DEFAULT_WIDTHS["natural32"])))
    name = args.name or f"acbr_{tag}_{args.channel}_{args.variant}"
    run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite)
    in_ch, h, w = data.image_shape
    torch.manual_seed(args.seed)
    model = AdaptiveCBRCodec(int(in_ch), (int(h), int(w)), args.cbrs, args.widths, args.batchnorm, args.variant,
                             args.output).to(device)
    if args.init:
        model.load_state_dict(load_codec(args.init, device).state_dict())
    if shard.world > 1 and args.batchnorm:  # statistics of the global batch, as one process computes them
        if device.type != "cuda":
            raise SystemExit("train: --batchnorm trains data-parallel on CUDA only (SyncBatchNorm); on the CPU "
                             "run it in one process")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    frozen = (lambda n: (n + ".").startswith(ENCODER_PREFIXES)) if args.freeze_encoder else (lambda n: False)
    for n, p in model.named_parameters():
        p.requires_grad_(not frozen(n))
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    batches = data.batches(args.seed, rng)
    command = command_line("cdiff-codec", config, command)
    sig = signature(args, SIG_KEYS)
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    step, elapsed = resume_run(run.work, sig, model, opt, gen, rng, meta, command, args.fresh,
                               ignore=("steps",)) or (0, 0.0)
    print(f"train: {name}: {count_parameters(model)} parameters, CBRs {model.cbrs} (2k = {model.lengths}), "
          f"{args.channel} {args.snr_db[0]:g}..{args.snr_db[1]:g} dB, device {device}", file=sys.stderr)
    lo, hi = args.snr_db
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    model.train()
    for n, m in model.named_modules():  # a frozen encoder keeps its normalization statistics too
        if n and frozen(n):
            m.eval()

    def loss_fn(_: int) -> torch.Tensor:
        cbr = float(args.cbrs[int(rng.integers(len(args.cbrs)))])
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        x = torch.from_numpy(np.ascontiguousarray(shard.rows(batches.sample(args.batch)))).to(device)
        return codec_step_loss(model, x, cbr, args.channel, snr, gen, args.keep_prob, args.kl_weight, shard=shard)

    def save(s: int, seconds: float) -> None:
        save_state(run.work, model, opt, gen, rng, s, seconds, meta)

    t0 = time.perf_counter()
    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn,
                     save=save, ckpt_every=args.ckpt_every, history=meta["history"], history_every=250,
                     elapsed=elapsed, after_backward=(lambda: distributed.average_gradients(model))
                     if shard.world > 1 else None)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    if not shard.main:  # rank 0 evaluates and writes the checkpoint
        return {"name": name, "step": step, "finished": True, "rank": shard.rank}
    seconds = elapsed + time.perf_counter() - t0
    model.eval()
    full = data.held_out(None)
    metrics = {f"{c:.4g}": {f"{s:g}": evaluate_codec(model, full, args.channel, s, c, device)
                            for s in args.final_snr_db} for c in model.cbrs}
    label = {"ae": "matched autoencoder", "vae": "VAE"}[args.variant]
    out = {
        "name": name, "description": f"Adaptive-CBR encoder + {label} decoder (CDiff benchmark, Letafati et al.), "
                                     f"{tag}, {args.channel}, CBRs {', '.join(f'{c:.4g}' for c in model.cbrs)}",
        "cbr": model.cbrs[0], "cbrs": list(model.cbrs), "k": model.lengths[0] // 2,
        "image_shape": [int(in_ch), int(h), int(w)], "channel": args.channel,
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []), "data": data.spec,
                  "data_description": data.description, "snr_db_range": [lo, hi], "steps": args.steps,
                  "batch": args.batch, "lr": args.lr, "seed": args.seed, "keep_prob": args.keep_prob,
                  "loss": "MSE" + (f" + {args.kl_weight:g} KL" if args.variant == "vae" else ""), "device": str(device),
                  "seconds": round(seconds, 1), "torch": torch.__version__,
                  "parameters": count_parameters(model), "history": meta["history"],
                  "init": args.init, "init_sha256": init_cfg.get("sha256"), "freeze_encoder": args.freeze_encoder},
        "metrics": {"data": f"{data.spec} held-out split", "images": int(len(full)), "channel_seed": 1234,
                    "by_cbr_snr_db": metrics},
    }
    if args.freeze_encoder:  # a refit decoder: say so, and keep the encoder's own record
        out["description"] = (f"{init_cfg.get('description', args.init)}; decoder refit for this encoder "
                              f"(encoder frozen)").replace("; its decoder is not matched to it until refit", "")
        out.update({k: init_cfg[k] for k in ("joint_training",) if k in init_cfg}, decoder_matched=True)
    js = save_codec(model.cpu(), run.output(name), out, overwrite=args.overwrite)
    print(f"train: wrote {js} ({seconds:.0f} s)", file=sys.stderr)
    for c, row in metrics.items():
        print(f"  CBR {c}: " + ", ".join(f"{s} dB {r['psnr_db']:.2f}/{r['ssim']:.3f}" for s, r in row.items()),
              file=sys.stderr)
    return out


__all__ = ["CDiffCodecConfig", "train_cdiff_codec", "codec_step_loss", "evaluate_codec", "SIG_KEYS",
           "ENCODER_PREFIXES", "DEFAULT_CBRS", "DEFAULT_WIDTHS"]
