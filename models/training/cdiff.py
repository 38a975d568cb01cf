"""``semradio train cdiff``: train the conditional diffusion decoder of CDiff: Conditional denoising
diffusion autoencoders (Letafati et al.) on the received latents of a frozen codec.

    semradio train cdiff --codec jscc_mnist_awgn_cbr1-16 --steps 3000 --threads 1

Training pairs: training images -> the codec's encoder (SNR-adaptive codecs see the batch SNR)
-> :func:`semradio.models.link.simulate_link` (power normalizer -> AWGN or fast Rayleigh -> MMSE
equalizer) at an SNR drawn uniformly in ``--snr-db`` (the paper: -10..10 dB) -> received real
latent ``y`` (B, 2k), optionally soft-masked before the channel (``--keep-prob``, appendix D),
padded to the conditioning maps (:func:`semradio.models.cdiff_latent.pad_latent`). Loss eq. 6
(x0 prediction, t ~ U{1..T}), Adam with warm-up + cosine decay.

``--train-encoder NAME`` trains the codec's encoder jointly with the decoder (the paper optimizes
its encoder and CDiff together; the loss eq. 6 reaches the encoder through the differentiable
link) and saves it as the codec NAME, with the codec's decoder unchanged: refit it for the new
encoder with ``semradio train cdiff-codec --init NAME --freeze-encoder`` (the saved config says
so). The evaluation's matched benchmark stays ``--codec``'s own encoder and decoder.

With an adaptive-CBR codec (``semradio train cdiff-codec``) every batch draws one CBR of the
codec's set, so one decoder serves all of them (padding + mask). The evaluated and saved weights
are an exponential moving average (``--ema``, appendix D).

Resumable and seeded like ``semradio train jscc`` (state in ``$SEMRADIO_HOME/runs/NAME`` or
``--work-dir/NAME``, safetensors + JSON; the same command resumes, ``--stop-after N`` trains in
chunks). When the run finishes, the decoder (EMA weights) goes to the user checkpoint directory
(or ``--out-dir``) as NAME, and the held-out evaluation -- SSIM/PSNR of the codec's matched
decoder and of CDiff at each ``--final-snr-db`` and every CBR, same images and channel draws --
to ``WORK_DIR/NAME/eval.json`` and the config. Existing checkpoints (NAME, and the
``--train-encoder`` codec) are replaced only with ``--overwrite``, checked before training.
``--eval-only`` re-evaluates the saved state (e.g. with other ``--sample-steps``); for a finished
run it also re-saves the decoder with those sampler settings as its defaults and their metrics
(which replaces the checkpoint, so it needs ``--overwrite``; without it only ``eval.json`` is
written).

    >>> from semradio.models.training import CDiffConfig, train
    >>> report = train(CDiffConfig(codec="acbr_mnist_awgn_ae", steps=30, name="my_cdiff"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RunOptions, option, signature
from .data import TrainingData
from .jscc import command_line
from .loop import RunPaths, prepare_run, resume_run, run_steps, save_state, set_threads

#: Fields that must match for a saved run to be resumed (``steps`` may grow).
SIG_KEYS = ("codec", "data", "snr_db", "batch", "lr", "width", "mults", "T", "beta_1", "beta_T", "w_max",
            "keep_prob", "seed", "proj_channels", "ema", "focus_steps", "focus_frac", "init", "train_encoder",
            "encoder_init")

#: Short citation of the method, for descriptions.
PAPER = "CDiff: Conditional denoising diffusion autoencoders (Letafati et al.)"


@dataclass
class CDiffConfig(RunOptions):
    """Settings of ``semradio train cdiff`` (one field per command-line option): a CDiff
    conditional diffusion decoder for a frozen codec's received latents."""

    codec: str = option("acbr_mnist_awgn_ae",
                        help="frozen codec whose latents condition (an adaptive-CBR codec: every CBR of its set)")
    data: str | None = option(None, help="dataset spec (default: from the codec config: mnist or natural32)")
    snr_db: tuple[float, float] = option((-10.0, 10.0), nargs=2, metavar=("LO", "HI"))
    steps: int = option(3000)
    batch: int = option(32)
    lr: float = option(1e-3)
    lr_min: float = option(2e-5)
    warmup: int = option(100)
    width: int = option(16, help="U-Net base width")
    mults: tuple[int, ...] = option((1, 2, 2), nargs="+", help="U-Net width multipliers per stage")
    proj_channels: int = option(8, help="latent projection maps (0: none; see CDiffUNet)")
    ema: float = option(0.999, help="EMA decay of the evaluated/saved weights (0: off)")
    focus_steps: int = option(0, help="train a fraction --focus-frac of the items on the t grid of this many sampler "
                                      "steps (0: plain t ~ U{1..T}); see cdiff_loss")
    focus_frac: float = option(0.5)
    train_encoder: str | None = option(None, metavar="NAME",
                                       help="train the codec's encoder jointly with the decoder and save it as codec "
                                            "NAME")
    encoder_init: str | None = option(None, metavar="CODEC",
                                      help="with --train-encoder: start the encoder from this codec (default --codec, "
                                           "which stays the evaluation's matched benchmark)")
    init: str | None = option(None, metavar="CDIFF",
                              help="warm start (network and EMA) from this CDiff checkpoint; recorded in the config")
    T: int = option(200)
    beta_1: float = option(1e-4)
    beta_T: float = option(0.0095)
    w_max: float = option(1.0, help="conditioning weight at t = T (linear w_t)")
    keep_prob: float = option(1.0, help="stochastic (soft) masking of the encoder output before the channel (1: off)")
    seed: int = option(0)
    name: str | None = option(None, help="run name (default cdiff_<data>_<channel>)")
    ckpt_every: int = option(250)
    sample_steps: int = option(20, help="reverse steps of the evaluation sampler")
    eta: float = option(0.0, help="sampler eta (1: ancestral eq. 7, 0: deterministic)")
    final_snr_db: tuple[float, ...] = option((-10.0, 0.0, 10.0, 20.0), nargs="+")
    final_n: int = option(500, help="held-out images in the final evaluation (0: all)")
    eval_only: bool = option(False, help="evaluate the saved state and exit")


def codec_cbrs(codec: Any) -> tuple[float | None, ...]:
    """The CBR set of an adaptive-CBR codec, or (None,) for a single-rate codec."""
    return tuple(getattr(codec, "cbrs", (None,)))


def max_latent_length(codec: Any, image_size: tuple[int, int]) -> int:
    """Longest real latent the codec sends (2k of its largest CBR)."""
    return int(getattr(codec, "max_length", 0)) or int(codec.latent_length(image_size))


def encode_at(codec: Any, images: torch.Tensor, snr_db: float, cbr: float | None) -> torch.Tensor:
    """The codec's latent (B, 2k) of ``images`` (B, C, H, W) at ``cbr`` (None: its only rate)."""
    return codec.encode(images, snr_db) if cbr is None else codec.encode(images, snr_db, cbr=cbr)


def received_latent(codec: Any, images: torch.Tensor, channel: str, snr_db: float, gen: torch.Generator,
                    keep_prob: float = 1.0, cbr: float | None = None, shard: Any = None) -> torch.Tensor:
    """Encoder (at ``cbr``) -> (soft mask, kept with probability ``keep_prob``) -> link at
    ``snr_db`` dB -> received real latent (B, 2k); ``shard``: ``images`` are this rank's rows of a
    data-parallel batch (the mask and channel draws are the global batch's rows)."""
    from semradio.models.cdiff_latent import stochastic_mask
    from semradio.models.link import simulate_link

    z = encode_at(codec, images, snr_db, cbr)
    if keep_prob < 1.0:
        z = stochastic_mask(z, keep_prob, gen, shard=shard)
    return simulate_link(z, channel, snr_db, gen, shard=shard)


def save_joint_encoder(joint: Any, base_cfg: dict[str, Any], config: CDiffConfig, cdiff_name: str,
                       train: dict[str, Any], base: Path, overwrite: bool = False) -> Path:
    """Save the encoder trained jointly with CDiff as codec ``config.train_encoder`` at ``base``
    (``decoder_matched`` false: its decoder weights are the starting codec's until refit); the
    record of an earlier joint round (``--encoder-init``) is kept under ``joint_training.earlier``.
    Returns the JSON path."""
    from semradio.models.checkpoint import read_config, save_codec

    start = config.encoder_init or config.codec
    start_cfg = read_config(start) if config.encoder_init else base_cfg
    keep = ("cbr", "cbrs", "k", "image_shape", "channel")
    cfg = {k: base_cfg[k] for k in keep if k in base_cfg}
    cfg.update(name=config.train_encoder, decoder_matched=False,
               description=f"Adaptive-CBR encoder trained jointly with the CDiff decoder {cdiff_name} ({PAPER}), "
                           f"from {config.codec}; its decoder is not matched to it until refit",
               joint_training={"cdiff": cdiff_name, "init_codec": start, "init_codec_sha256": start_cfg.get("sha256"),
                               "command": train["command"], "steps": train["steps"], "seconds": train["seconds"],
                               "earlier": start_cfg.get("joint_training")})
    return save_codec(joint.cpu(), base, cfg, overwrite=overwrite)


@torch.no_grad()
def evaluate(codec: Any, net: Any, schedule: Any, images: np.ndarray, channel: str, snr_db: float,
             cond_shape: tuple[int, int, int], device: torch.device, steps: int, eta: float,
             seed: int = 1234, batch: int = 250, cbr: float | None = None,
             encoder: Any = None) -> dict[str, float]:
    """Mean SSIM/PSNR (dB) of the matched codec decoder and of CDiff (``steps`` reverse steps,
    ``eta``) on the same channel draws (generator seeded ``seed``) for ``images`` (N, C, H, W);
    CDiff decodes the latents of ``encoder`` (default: the codec's own) under the same noise draws.

    Returns:
        ``{"ssim_matched", "psnr_db_matched", "ssim_cdiff", "psnr_db_cdiff"}``, rounded to 4 digits.
    """
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


def _may_write(run: RunPaths, name: str) -> bool:
    """Whether checkpoint ``name`` may be written to ``run``'s output directory."""
    try:
        run.output(name)
    except FileExistsError:
        return False
    return True


def train_cdiff(config: CDiffConfig, data: str | TrainingData | None = None,
                command: str | None = None) -> dict[str, Any]:
    """Train (resumably), evaluate, save the EMA decoder (and with ``train_encoder`` the jointly
    trained encoder as a codec); state and ``eval.json`` in ``WORK_DIR/NAME``.

    Args:
        config: the settings.
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``, else the data
            the codec was trained on, from its config).
        command: the command line to record (default: rebuilt from ``config``).

    Returns:
        The evaluation report written to ``eval.json`` (or ``{"name", "step", "finished": False}``
        when stopped early with ``stop_after``).

    Raises:
        SystemExit: a checkpoint to write exists and ``overwrite`` is False (checked before
            training), a saved run has other settings, or ``eval_only`` without a saved state.
    """
    import copy

    from semradio.models.cdiff import CDiffSchedule, CDiffUNet, cdiff_loss, timestep_schedule, to_model_units
    from semradio.models.cdiff_latent import cond_channels_for, pad_latent
    from semradio.models.checkpoint import load_codec, read_config, resolve_device
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator

    from . import distributed

    args = config
    set_threads(args.threads)
    device = resolve_device(args.device)
    shard, device = distributed.setup(device, "cdiff")  # torchrun: this rank's rows of every batch
    shard.local_batch(args.batch)
    codec = load_codec(args.codec, device)
    codec.eval()
    for p in codec.parameters():
        p.requires_grad_(False)
    ccfg = read_config(args.codec)
    channel = ccfg.get("channel", "awgn")
    if data is None:
        data = args.data or ccfg.get("train", {}).get("data", "natural32")
    spec = data.spec if isinstance(data, TrainingData) else str(data)
    c_img, h, w = (int(v) for v in ccfg["image_shape"])
    cbrs = codec_cbrs(codec)
    n_lat = max_latent_length(codec, (h, w))
    cond_shape = (cond_channels_for(n_lat, (h, w)), h, w)
    name = args.name or f"cdiff_{spec.split(':')[0]}_{channel}"
    outputs = (args.train_encoder,) if args.train_encoder else ()
    # checked before the data are loaded; --eval-only re-saves a finished run's checkpoints only
    # when they may be replaced (checked at the end)
    run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite or args.eval_only, outputs)
    run = RunPaths(run.work, run.out_dir, args.overwrite)
    data = TrainingData.coerce(data)
    work = run.work
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
    batches = data.batches(args.seed, rng)
    command = command_line("cdiff", config, command)
    sig = signature(dataclasses.replace(args, data=data.spec), SIG_KEYS)
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
        imgs = torch.from_numpy(np.ascontiguousarray(shard.rows(batches.sample(args.batch)))).to(device)
        with torch.set_grad_enabled(joint is not None):
            y = received_latent(joint if joint is not None else codec, imgs, channel, snr, gen, args.keep_prob, cbr,
                                shard=shard)
            maps, mask = pad_latent(y, cond_shape)
        return cdiff_loss(net, to_model_units(imgs), maps, mask, schedule, gen, focus, args.focus_frac, shard=shard)

    def average_gradients() -> None:  # data-parallel: the global batch's gradient on every rank
        distributed.average_gradients(net)
        if joint is not None:
            distributed.average_gradients(joint)

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
                         elapsed=elapsed, after_backward=average_gradients if shard.world > 1 else None)
        if step < args.steps:
            return {"name": name, "step": step, "finished": False}
    if not shard.main:  # rank 0 evaluates and writes the checkpoints
        return {"name": name, "step": step, "finished": True, "rank": shard.rank}
    final = ema if args.ema > 0 else net
    final.eval()
    held = data.held_out(args.final_n)
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
              "parameters": sum(p.numel() for p in final.parameters()), "data": data.spec,
              "data_description": data.description,
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
        blocked = [n for n in (name, *outputs) if not _may_write(run, n)]
        if blocked:  # only with --eval-only: a training run checked its outputs before training
            print(f"train: not re-saving {', '.join(blocked)} (exists; pass --overwrite to replace it with these "
                  f"sampler settings)", file=sys.stderr)
        else:
            _save_finished(run, name, config, final, joint, schedule, ccfg, meta, data, cbrs, cond_shape,
                           (c_img, h, w), channel, enc_name, focus, train_seconds, report, command)
    print(f"train: wrote {work / 'eval.json'}", file=sys.stderr)
    return report


def _save_finished(run: RunPaths, name: str, args: CDiffConfig, final: Any, joint: Any, schedule: Any,
                   ccfg: dict[str, Any], meta: dict[str, Any], data: TrainingData, cbrs: tuple[float | None, ...],
                   cond_shape: tuple[int, int, int], image_shape: tuple[int, int, int], channel: str, enc_name: str,
                   focus: list[int], train_seconds: float, report: dict[str, Any], command: str) -> None:
    """Write the finished decoder's checkpoint (and the jointly trained encoder's)."""
    from semradio.models.cdiff import save_cdiff

    lo, hi = args.snr_db
    config = {"name": name, "description": f"CDiff conditional diffusion decoder ({PAPER}) for the latents of "
                                           f"{enc_name}, {channel}",
              "codec": enc_name, "matched_codec": args.codec, "channel": channel,
              "cbrs": [c for c in cbrs if c is not None],
              "image_shape": list(image_shape), "cond_shape": list(cond_shape),
              "sample_steps": args.sample_steps, "eta": args.eta, "eval_command": command,
              "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []), "data": data.spec,
                        "data_description": data.description, "snr_db_range": [lo, hi], "steps": args.steps,
                        "batch": args.batch, "lr": args.lr, "ema": args.ema, "keep_prob": args.keep_prob,
                        "focus_steps": focus, "focus_frac": args.focus_frac if focus else 0.0,
                        "init": meta.get("init"), "train_encoder": args.train_encoder,
                        "encoder_init": args.encoder_init,
                        "seed": args.seed, "seconds": train_seconds, "torch": torch.__version__,
                        "parameters": sum(p.numel() for p in final.parameters()), "history": meta["history"]},
              "metrics": {k: v for k, v in report.items() if k.startswith("by_") or k in ("held_out_images",
                                                                                          "channel_seed")}}
    base = run.output(name)
    previous = base.with_name(name + ".json")
    if args.eval_only and previous.is_file():  # re-saved after re-evaluation: keep the training record
        config["train"] = dict(json.loads(previous.read_text())["train"], parameters=config["train"]["parameters"])
    js = save_cdiff(final.cpu(), schedule, base, config, overwrite=run.overwrite)
    print(f"train: wrote {js}", file=sys.stderr)
    if joint is not None:
        js = save_joint_encoder(joint, ccfg, args, name, config["train"], run.output(args.train_encoder),
                                overwrite=run.overwrite)
        print(f"train: wrote {js} (refit its decoder: semradio train cdiff-codec --init {args.train_encoder} "
              f"--freeze-encoder)", file=sys.stderr)


__all__ = ["CDiffConfig", "train_cdiff", "evaluate", "received_latent", "encode_at", "codec_cbrs",
           "max_latent_length", "save_joint_encoder", "SIG_KEYS"]
