"""``semradio train cddm``: train a CDDM channel denoiser (Wu et al., channel denoising diffusion
models) for a codec, then (optionally) fine-tune the codec's decoder on the denoised latents.

    semradio train cddm --channel rayleigh --steps 6000 --finetune-steps 1500
    semradio train cddm --data folder:photos/:32 --codec my_codec --steps 2000

Training pairs come from the frozen codec: training images (``--data``, default the bundled
photos) -> encoder (SNR-adaptive codecs see the batch SNR) -> power normalizer ->
``x~ = sqrt(2) [Re; Im] x_c``; the channel (AWGN, or fast Rayleigh h ~ CN(0, 1) per symbol) gives
the Lemma 1 weights W_s, W_n of the MMSE equalizer (:class:`semradio.models.link.LinkDraw`) at an
SNR drawn uniformly in ``--snr-db``; the loss is

    ``||eps - eps_theta(sqrt(abar_t) W_s x~ + sqrt(1-abar_t) W_n eps, t, W)||^2``

with t uniform on 0..t_max, t_max the KL-matched step of the lowest SNR (plus 10 %).

Decoder fine-tuning (Wu et al.: "the JSCC decoder is then fine-tuned on denoised latents"):
a pool of (image, CDDM output, SNR) batches is sampled with the trained denoiser
(``--finetune-pool``; with ``--finetune-refresh K`` one batch is replaced by a freshly denoised one
every K steps, so the decoder does not memorize the pool), then the decoder alone is trained on it
with MSE. ``--finetune-rule tweedie --finetune-pool 0`` makes the latents with one Tweedie step
``E[x_0 | x_m]`` (1 network evaluation instead of m + 1, the same held-out PSNR within 0.01 dB)
and denoises a fresh batch for every step; the result is a new codec checkpoint ``<codec>_cddm``
(same encoder). Fine-tuning can be continued in rounds (``--finetune-only --finetune-init
<codec>_cddm``); the JSON lists every round with its held-out metrics. ``--finetune-only`` loads
the CDDM ``NAME`` along the checkpoint search path (:mod:`semradio.models.registry`).

Resumable and seeded like ``semradio train jscc`` (state in ``$SEMRADIO_HOME/runs/NAME``,
safetensors + JSON). Checkpoints go to the user directory unless ``--out-dir``; an existing one
(the CDDM or the fine-tuned ``<codec>_cddm``) is refused before any work unless ``--overwrite``.

    >>> from semradio.models.training import CDDMConfig, train
    >>> result = train(CDDMConfig(channel="awgn", steps=500), "natural32")   # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from semradio.models.link import LinkDraw

from . import distributed
from .config import FrozenCodecOptions, option, signature
from .data import TrainingData
from .jscc import command_line
from .loop import lr_at, prepare_run, progress_interval, resume_run, run_steps, save_state, set_threads

if TYPE_CHECKING:
    from semradio.models.cddm import LatentScoreNet
    from semradio.models.schedulers import NoiseSchedule

#: Fields that must match for a saved run to be resumed.
RESUME_KEYS = ("data", "codec", "channel", "snr_db", "batch", "lr", "width", "blocks", "T", "beta_1", "beta_T",
               "seed")

#: SNRs (dB) of the fine-tuned decoder's held-out evaluation.
FINETUNE_EVAL_SNR_DB = (0.0, 10.0, 20.0)


@dataclass
class CDDMConfig(FrozenCodecOptions):
    """Settings of ``semradio train cddm`` (one field per command-line option)."""

    steps: int = option(6000)
    batch: int = option(64)
    lr: float = option(3e-4)
    lr_min: float = option(1e-5)
    warmup: int = option(200)
    width: int = option(64)
    blocks: int = option(4)
    T: int = option(200, help="diffusion steps of the linear schedule")
    beta_1: float = option(1e-4, help="first beta of the linear schedule")
    beta_T: float = option(0.05, help="last beta (T=200, 1e-4..0.05: start steps 73/27/8 at 0/10/20 dB)")
    seed: int = option(0)
    name: str | None = option(None, help="checkpoint name (default: the codec's name with jscc_ -> cddm_)")
    ckpt_every: int = option(500)
    eval_every: int = option(1000)
    eval_n: int = option(256, help="held-out patches for the periodic evaluation")
    eval_snr_db: float = option(10.0)
    finetune_steps: int = option(0, help="decoder fine-tuning steps (0: none)")
    finetune_pool: int = option(48, help="batches of denoised latents to fine-tune on (0: a freshly denoised batch "
                                         "every step)")
    finetune_rule: str = option("cddm", choices=("cddm", "ddim", "tweedie"),
                                help="reverse-step rule that makes the fine-tuning latents (tweedie: 1 network "
                                     "evaluation, cheap enough for --finetune-pool 0)")
    finetune_lr: float = option(1e-4)
    finetune_refresh: int = option(0, help="every K decoder steps replace one pool batch by a freshly denoised one "
                                           "(0: fixed pool)")
    finetune_eval_n: int = option(0, help="held-out patches of the fine-tuned decoder's evaluation (0: all)")
    finetune_init: str | None = option(None, help="decoder to start the fine-tune from (default: the codec's own)")
    finetune_only: bool = option(False, help="skip training: fine-tune the decoder on the CDDM checkpoint NAME "
                                             "(found along the checkpoint search path)")


def codec_of(config: CDDMConfig) -> str:
    """The codec the denoiser is trained for: ``config.codec`` or ``jscc_natural32_<channel>_cbr1-6``."""
    return config.codec or f"jscc_natural32_{config.channel}_cbr1-6"


def derived_name(codec_name: str, prefix: str) -> str:
    """Default name of a denoiser trained for ``codec_name``: ``jscc_X`` -> ``PREFIX_X``, any other
    codec ``Y`` -> ``PREFIX_Y`` (so a denoiser never takes its codec's own name).

    >>> derived_name("jscc_natural32_awgn_cbr1-6", "ve"), derived_name("vaewgan_natural32_awgn_cbr1-6", "ve")
    ('ve_natural32_awgn_cbr1-6', 've_vaewgan_natural32_awgn_cbr1-6')
    """
    if codec_name.startswith("jscc_"):
        return prefix + codec_name[len("jscc"):]
    return f"{prefix}_{codec_name}"


def net_name(config: CDDMConfig, codec_name: str) -> str:
    """Name of the CDDM checkpoint trained by ``config``: ``--name``, or :func:`derived_name`."""
    return config.name or derived_name(codec_name, "cddm")


def denoise(net: Any, schedule: NoiseSchedule, d: LinkDraw, batch: int = 256, rule: str = "cddm") -> torch.Tensor:
    """CDDM output for a link draw, in the equalizer's scale.

    Each chunk of ``batch`` rows is moved to diffusion units (``y~ = sqrt(2) y``), started at the
    KL-matched step m (``abar_m = 1 / (1 + s2)``) and run down to 0 with the reverse-step ``rule``
    (:func:`semradio.models.cddm.cddm_sample`: ``"cddm"``, ``"ddim"`` or one ``"tweedie"`` step).

    Args:
        net: the noise predictor ``eps_theta(x_t, t, W_s, W_n)`` (:class:`LatentScoreNet`).
        schedule: its noise schedule.
        d: the link draw (``d.y``, ``d.w_s``, ``d.w_n`` (B, 2k) real; ``d.s2`` the noise variance).
        batch: rows per network call.
        rule: the reverse-step rule.

    Returns:
        (B, 2k) denoised latents, the estimate of ``W_s x`` in the equalizer's scale.
    """
    from semradio.models.cddm import bind_condition, cddm_sample, from_diffusion_units, to_diffusion_units

    outs = []
    for i in range(0, d.y.shape[0], batch):
        sl = slice(i, i + batch)
        x, _ = cddm_sample(bind_condition(net, d.w_s[sl], d.w_n[sl]), to_diffusion_units(d.y[sl]), d.w_n[sl],
                           d.s2, schedule, rule=rule)
        outs.append(from_diffusion_units(x))
    return torch.cat(outs)


@torch.no_grad()
def evaluate(codec: Any, net: Any, schedule: NoiseSchedule, images: np.ndarray, channel: str, snr_db: float,
             device: torch.device, seed: int = 1234, decoder: Any = None) -> dict[str, float]:
    """Held-out quality of the denoiser at one SNR (one link draw with a fixed channel seed).

    Args:
        codec: the frozen codec (encoder, and decoder of the ``none`` case).
        net, schedule: the CDDM.
        images: (N, C, H, W) float32 in [0, 1].
        channel: "awgn" or "rayleigh".
        snr_db: the SNR in dB.
        device: where to run.
        seed: seed of the channel's generator.
        decoder: decoder of the ``cddm`` case (default: the codec's), e.g. a fine-tuned one.

    Returns:
        ``latent_mse_db_mmse`` / ``latent_mse_db_cddm``: ``10 log10 mean (y - x)^2`` of the MMSE
        output and of the CDDM output against the transmitted latent ``x`` (dB);
        ``psnr_db_none`` / ``psnr_db_cddm``: mean PSNR (dB) of the images decoded without and with
        the CDDM; ``latent_gain_db`` and ``psnr_gain_db``: the improvements.
    """
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


#: Key of the training batches' generator state in the run's ``state.json``.
BATCHES_STATE_KEY = "batches_rng_state"


def remember_batches(meta: dict[str, Any], batches: Any) -> None:
    """Put the state of the batch source's own numpy generator (``batches.rng``) into ``meta``, the
    JSON part of the resumable state, so a resumed run draws the batches a straight run would."""
    rng = getattr(batches, "rng", None)
    if isinstance(rng, np.random.Generator):
        meta[BATCHES_STATE_KEY] = rng.bit_generator.state


def restore_batches(work: Path, batches: Any) -> None:
    """Set the batch source's generator to the state saved in ``work/state.json`` (if any)."""
    import json

    state = json.loads((work / "state.json").read_text()).get(BATCHES_STATE_KEY)
    rng = getattr(batches, "rng", None)
    if state is not None and isinstance(rng, np.random.Generator):
        rng.bit_generator.state = state


def check_data(data: TrainingData, codec: Any) -> None:
    """:meth:`TrainingData.check_codec` as a one-line ``SystemExit`` (images of another size)."""
    try:
        data.check_codec(codec)
    except ValueError as exc:
        raise SystemExit(f"train: {exc}") from None


def train_cddm(config: CDDMConfig, data: str | TrainingData | None = None,
               command: str | None = None) -> dict[str, Any]:
    """Train the CDDM (resumably), evaluate, save; then fine-tune the decoder if asked
    (``finetune_steps > 0``), or only fine-tune on the existing CDDM (``finetune_only``).

    Args:
        config: the settings.
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``); its images must
            have the codec's input shape.
        command: the command line to record (default: rebuilt from ``config``).

    Returns:
        The CDDM checkpoint's JSON config (with ``"finetuned"``: the fine-tuned codec's config when
        the decoder was fine-tuned), or ``{"name", "step", "finished": False}`` when stopped early
        with ``stop_after``.

    Raises:
        SystemExit: a checkpoint to write exists and ``overwrite`` is False, a saved run has other
            settings, or the data does not match the codec (one line each, before any training).
    """
    from tqdm import tqdm

    from semradio.models.cddm import LatentScoreNet, cddm_loss, latent_shape_for, save_cddm, start_step
    from semradio.models.checkpoint import load_codec, resolve_device
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator
    from semradio.models.schedulers import NoiseSchedule

    args = config
    set_threads(args.threads)
    device = resolve_device(args.device)
    shard, device = distributed.setup(device, "cddm")  # torchrun: this rank's rows of every batch
    shard.local_batch(args.batch)
    codec_name = codec_of(args)
    name = net_name(args, codec_name)
    tuned_name = f"{codec_name}_cddm"
    if args.finetune_only:  # the CDDM NAME is read, not written: only <codec>_cddm is an output
        run = prepare_run(tuned_name, args.out_dir, args.work_dir, args.overwrite)
    else:
        run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite,
                          outputs=(tuned_name,) if args.finetune_steps > 0 else ())
    data = TrainingData.coerce(data if data is not None else args.data)
    command = command_line("cddm", config, command)
    codec = load_codec(codec_name, device)
    check_data(data, codec)
    for p in codec.parameters():
        p.requires_grad_(False)
    schedule = NoiseSchedule.make("linear", T=args.T, beta_1=args.beta_1, beta_T=args.beta_T)
    lo, hi = args.snr_db
    t_max = min(args.T - 1, int(start_step(schedule, 10 ** (-lo / 10)) * 1.1) + 1)
    dim = codec.latent_length()
    shape = latent_shape_for(dim, {"latent_shape": [codec.latent_channels, codec.image_size[0] // 4,
                                                    codec.image_size[1] // 4]})
    torch.manual_seed(args.seed)
    if args.finetune_only:
        from semradio.models.cddm import load_cddm

        if not shard.main:  # the decoder fine-tune runs in one process (rank 0)
            return {"name": tuned_name, "finished": True, "rank": shard.rank}

        net, schedule, loaded = load_cddm(name, device)
        net.eval()
        rng = np.random.default_rng(args.seed + 2)
        gen = make_generator(args.seed + 2, device)
        tuned = finetune_decoder(args, codec, codec_name, net, schedule, rng, gen, device, command, data,
                                 run.output(tuned_name))
        return dict(loaded, finetuned=tuned)
    net = LatentScoreNet(shape, width=args.width, blocks=args.blocks).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    batches = data.batches(args.seed)  # its own generator seeded with the seed (not ``rng``)
    held_out = data.held_out(args.eval_n)
    sig = signature(dataclasses.replace(config, data=data.spec), RESUME_KEYS)
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    resumed = resume_run(run.work, sig, net, opt, gen, rng, meta, command, args.fresh, ignore=("steps",))
    step, elapsed = resumed or (0, 0.0)
    if resumed:
        restore_batches(run.work, batches)
    ddp = distributed.wrap(net, shard, device)  # DDP with more than one process (rank 0's weights)
    print(f"train: {name}: {count_parameters(net)} parameters, latent {shape}, codec {codec_name}, "
          f"{args.channel} {lo:g}..{hi:g} dB, t_max {t_max} of T={args.T}, data {data.spec}, device {device}",
          file=sys.stderr)
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    net.train()

    def loss_fn(_: int) -> torch.Tensor:
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        with torch.no_grad():
            imgs = torch.from_numpy(np.ascontiguousarray(shard.rows(batches.sample(args.batch)))).to(device)
            d = LinkDraw(codec.encode(imgs, snr), args.channel, snr, gen, shard=shard)
        return cddm_loss(ddp, d.x * math.sqrt(2.0), d.w_s, d.w_n, schedule, t_max, gen, shard=shard)

    def after_step(s: int, loss_avg: float, seconds: float) -> None:
        if shard.main and (s % args.eval_every == 0 or s == args.steps):
            net.eval()
            ev = evaluate(codec, net, schedule, held_out, args.channel, args.eval_snr_db, device)
            net.train()
            meta["history"].append({"step": s, "seconds": round(seconds, 1), "train_loss": loss_avg,
                                    **{k: round(v, 3) for k, v in ev.items()}})
            tqdm.write(f"step {s}: at {args.eval_snr_db:g} dB latent MSE {ev['latent_mse_db_mmse']:.2f} -> "
                       f"{ev['latent_mse_db_cddm']:.2f} dB, PSNR {ev['psnr_db_none']:.2f} -> "
                       f"{ev['psnr_db_cddm']:.2f} dB", file=sys.stderr)

    def save(s: int, sec: float) -> None:
        remember_batches(meta, batches)
        save_state(run.work, net, opt, gen, rng, s, sec, meta)

    t0 = time.perf_counter()
    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn, after_step,
                     save, args.ckpt_every, elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    if not shard.main:  # rank 0 writes the checkpoint and fine-tunes the decoder
        return {"name": name, "step": step, "finished": True, "rank": shard.rank}
    net.eval()
    seconds = elapsed + time.perf_counter() - t0
    out: dict[str, Any] = {
        "name": name, "description": f"CDDM channel denoiser for {codec_name} over {args.channel}",
        "codec": codec_name, "channel": args.channel, "t_max": t_max,
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []),
                  "data": data.spec, "data_description": data.description,
                  "snr_db_range": [lo, hi], "steps": args.steps, "batch": args.batch, "lr": args.lr,
                  "seed": args.seed, "processes": shard.world, "seconds": round(seconds, 1), "torch": torch.__version__,
                  "parameters": count_parameters(net), "history": meta["history"]},
    }
    js = save_cddm(net.cpu(), schedule, run.output(name), out, overwrite=args.overwrite)
    net.to(device)
    print(f"train: wrote {js} ({seconds:.0f} s)", file=sys.stderr)
    if args.finetune_steps > 0:
        tuned = finetune_decoder(args, codec, codec_name, net, schedule, rng, gen, device, meta["command"], data,
                                 run.output(tuned_name))
        return dict(out, finetuned=tuned)
    return out


def finetune_decoder(config: CDDMConfig, codec: Any, codec_name: str, net: LatentScoreNet, schedule: NoiseSchedule,
                     rng: np.random.Generator, gen: torch.Generator, device: torch.device, command: str,
                     data: str | TrainingData | None = None, output: str | Path | None = None) -> dict[str, Any]:
    """Fine-tune the decoder on CDDM outputs and save it as ``<codec>_cddm`` (same encoder).

    A pool of ``config.finetune_pool`` batches (images, denoised latents, SNR) is made with
    :func:`denoise` (rule ``config.finetune_rule``) from images of ``data`` sent over the link at
    SNRs uniform in ``config.snr_db``; every step draws one batch of the pool (or denoises a fresh
    one when the pool is empty; ``finetune_refresh``: replace a pool batch every K steps) and
    minimizes ``MSE(decode(latent, snr), image)`` over the decoder's weights with Adam (warm-up 50
    steps, cosine decay to ``finetune_lr / 20``). The JSON is the base codec's (read along the
    search path) with a ``finetune`` section: this round (command, rule, pool, held-out PSNR at
    0/10/20 dB without and with the CDDM) and ``rounds``, every round so far.

    Args:
        config: the settings (``snr_db``, ``channel``, ``batch``, ``seed``, ``finetune_*``, ``overwrite``).
        codec: the frozen base codec (encoder for the latents; reference decoder).
        codec_name: its checkpoint name.
        net, schedule: the trained CDDM.
        rng: numpy generator of SNRs and pool draws (shared with the caller).
        gen: torch generator of the channel and the sampler.
        device: where to run.
        command: the command recorded in the round.
        data: training/held-out images (default: ``config.data``); batches drawn from their own
            generator seeded with ``config.seed + 1``.
        output: checkpoint base path (default: ``<codec>_cddm`` in ``config.out_dir`` or the user
            directory, refused if it exists without ``config.overwrite``).

    Returns:
        The fine-tuned codec's JSON config.
    """
    from tqdm import tqdm

    from semradio.models import registry
    from semradio.models.checkpoint import load_codec, read_config, save_codec

    data = TrainingData.coerce(data if data is not None else config.data)
    tuned_name = f"{codec_name}_cddm"
    if output is None:
        output = registry.output_base(tuned_name, config.out_dir, config.overwrite)
    lo, hi = config.snr_db
    batches = data.batches(config.seed + 1)
    t0 = time.perf_counter()

    @torch.no_grad()
    def fresh() -> tuple[torch.Tensor, torch.Tensor, float]:
        snr = float(rng.uniform(lo, hi))
        imgs = torch.from_numpy(np.ascontiguousarray(batches.sample(config.batch))).to(device)
        d = LinkDraw(codec.encode(imgs, snr), config.channel, snr, gen)
        return imgs, denoise(net, schedule, d, rule=config.finetune_rule), snr

    pool = [fresh() for _ in tqdm(range(config.finetune_pool), desc="denoised pool", file=sys.stderr,
                                  mininterval=progress_interval())]
    tuned = load_codec(config.finetune_init or codec_name, device)
    tuned.train()
    for p in tuned.encoder.parameters():
        p.requires_grad_(False)
    opt = torch.optim.Adam([p for p in tuned.decoder.parameters() if p.requires_grad], lr=config.finetune_lr)
    for step in tqdm(range(config.finetune_steps), desc="decoder fine-tune", file=sys.stderr,
                     mininterval=progress_interval()):
        if pool and config.finetune_refresh and step and step % config.finetune_refresh == 0:
            pool[int(rng.integers(len(pool)))] = fresh()
        imgs, lat, snr = pool[int(rng.integers(len(pool)))] if pool else fresh()
        for g in opt.param_groups:
            g["lr"] = lr_at(step, config.finetune_steps, config.finetune_lr, config.finetune_lr / 20, 50)
        loss = torch.nn.functional.mse_loss(tuned.decode(lat, snr), imgs)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    tuned.eval()
    held_out = data.held_out(config.finetune_eval_n or None)
    metrics = {f"{s:g}": {k: round(v, 3) for k, v in
                          evaluate(codec, net, schedule, held_out, config.channel, s, device, decoder=tuned).items()}
               for s in FINETUNE_EVAL_SNR_DB}
    base_cfg = read_config(codec_name)
    cfg = {k: v for k, v in base_cfg.items() if k not in ("_path", "architecture", "kwargs", "weights", "sha256")}
    this_round = {"command": command, "base_codec": codec_name, "denoiser": net_name(config, codec_name),
                  "init": config.finetune_init or codec_name, "steps": config.finetune_steps,
                  "pool_batches": config.finetune_pool, "refresh_every": config.finetune_refresh,
                  "latents_rule": config.finetune_rule, "lr": config.finetune_lr,
                  "data": data.spec, "data_description": data.description,
                  "seconds": round(time.perf_counter() - t0, 1),
                  "metrics_data": f"{data.spec} held-out split", "metrics_images": int(len(held_out)),
                  "metrics_with_cddm": metrics}
    init_cfg = read_config(config.finetune_init) if config.finetune_init else {}
    earlier = init_cfg.get("finetune", {}).get("rounds", []) if "finetune" in init_cfg else []
    cfg.update(name=tuned_name, description=base_cfg.get("description", "") + "; decoder fine-tuned on CDDM outputs",
               finetune={**this_round, "rounds": earlier + [{k: v for k, v in this_round.items() if k != "rounds"}]})
    js = save_codec(tuned.cpu(), output, cfg, overwrite=config.overwrite)
    print(f"train: wrote {js}; held-out with CDDM: " +
          ", ".join(f"{k} dB: {v['psnr_db_none']:.2f} -> {v['psnr_db_cddm']:.2f} dB" for k, v in metrics.items()),
          file=sys.stderr)
    return cfg


__all__ = ["CDDMConfig", "train_cddm", "finetune_decoder", "denoise", "evaluate", "net_name", "codec_of",
           "check_data", "remember_batches", "restore_batches", "RESUME_KEYS"]
