"""``semradio train ve-ldm`` and ``semradio train eecd``: the VE latent diffusion teacher and its
end-to-end consistency distillation (EECD / LDM-enabled real-time semantic communication, Pei
et al., Section IV, eqs. 25-28, Alg. 4).

    semradio train ve-ldm --channel rayleigh --steps 1200 --init-cddm cddm_natural32_rayleigh_cbr1-6 \
        --threads 1 --eval-every 400
    semradio train eecd --channel rayleigh --steps 800 --lr 1e-4 --threads 1 --eval-every 200
    semradio train eecd --channel awgn --steps 800 --lr 2e-4 --tau2-ratio 0.1 --threads 1 --eval-every 200

Training pairs come from the frozen codec exactly as for ``semradio train cddm``: training
images (``--data``, default the bundled photos) -> encoder at the batch SNR -> power normalizer
-> AWGN or fast Rayleigh channel -> MMSE equalizer (:class:`semradio.models.link.LinkDraw`),
giving the transmitted ``x`` and the Lemma 1 weights ``W_s = H_z``, ``W_n = H_n`` at an SNR drawn
uniformly in ``--snr-db``.

``ve-ldm``: loss eq. (26), ``E ||eps_theta(H_z x~ + t_n H_n eps, t_n) - eps||^2`` with
``x~ = sqrt(2) x`` and n uniform on the Karras grid indices 1..n_max (n_max: the index matched to
the lowest SNR, plus ``--grid-margin``); optional warm start from a trained CDDM (Wu et al.,
channel denoising diffusion models; the VE network's input scaling and time embedding make a
CDDM an exact VE noise predictor, see :mod:`semradio.models.ve`).

``eecd``: consistency distillation from a trained teacher (:mod:`semradio.models.consistency`):
online net initialized from the teacher, EMA target, one teacher Heun step between adjacent grid
points, distance measured on images decoded by the frozen JSCC decoder, plus (``--direct``) an
image-space term against the transmitted image.

Resumable like ``semradio train cddm`` (state in ``$SEMRADIO_HOME/runs/NAME``; rerun the command
to resume). The checkpoint JSON records the command, data, seconds, history and held-out metrics
(all held-out images of the data, 578 patches for natural32; channel seed 1234; SNR 0/10/20 dB).
Checkpoints go to the user directory unless ``--out-dir``; an existing one is refused before any
work unless ``--overwrite``.

    >>> from semradio.models.training import EECDConfig, VEConfig, train
    >>> teacher = train(VEConfig(init_cddm="cddm_natural32_rayleigh_cbr1-6", steps=1200))   # doctest: +SKIP
    >>> student = train(EECDConfig(teacher=teacher["name"], steps=800, lr=1e-4))          # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from semradio.models.link import LinkDraw, sharded_draw

from .cddm import check_data, derived_name, remember_batches, restore_batches
from .config import FrozenCodecOptions, option, signature
from .data import TrainingData
from .jscc import command_line
from .loop import RunPaths, lr_at, prepare_run, progress_interval, resume_run, run_steps, save_state, set_threads

SQRT2 = math.sqrt(2.0)

#: Fields that must match for a saved ``ve-ldm`` run to be resumed.
VE_RESUME_KEYS = ("data", "codec", "channel", "snr_db", "batch", "lr", "width", "blocks", "N", "t_min", "t_max",
                  "rho", "grid_margin", "init_cddm", "seed")
#: Fields that must match for a saved ``eecd`` run to be resumed.
EECD_RESUME_KEYS = ("data", "codec", "channel", "snr_db", "batch", "lr", "ema", "sigma_data", "direct", "msssim",
                    "teacher", "seed", "tau2_ratio")

#: SNRs (dB) of the final held-out evaluation written to the JSON.
FINAL_SNR_DB = (0.0, 10.0, 20.0)

#: An estimator of the transmitted latent: link draw -> (B, 2k) latent in the equalizer's scale.
Estimator = Callable[[LinkDraw], torch.Tensor]


@dataclass
class LinkDenoiserConfig(FrozenCodecOptions):
    """Settings shared by ``semradio train ve-ldm`` and ``semradio train eecd``."""

    steps: int = option(2000)
    batch: int = option(64)
    lr_min: float = option(1e-5)
    warmup: int = option(100)
    seed: int = option(0)
    name: str | None = option(None, help="checkpoint name (default: the codec's name with jscc_ -> ve_ / eecd_, other "
                                                  "codecs prefixed with ve_ / eecd_)")
    ckpt_every: int = option(250)
    eval_every: int = option(500)
    eval_n: int = option(128, help="held-out patches for the periodic evaluation")
    eval_snr_db: float = option(10.0)

    @property
    def codec_name(self) -> str:
        """The codec the denoiser is trained for: ``codec`` or ``jscc_natural32_<channel>_cbr1-6``."""
        return self.codec or f"jscc_natural32_{self.channel}_cbr1-6"


@dataclass
class VEConfig(LinkDenoiserConfig):
    """Settings of ``semradio train ve-ldm`` (one field per command-line option)."""

    lr: float = option(1e-4)
    width: int = option(64)
    blocks: int = option(4)
    N: int = option(100, help="Karras grid points")
    t_min: float = option(0.002)
    t_max: float = option(2.0)
    rho: float = option(7.0)
    grid_margin: int = option(4, help="grid indices trained above the lowest SNR's t_m")
    init_cddm: str | None = option(None, help="warm start from this CDDM checkpoint (same width/blocks)")
    solver: str = option("heun", choices=("euler", "heun"), help="sampler for the evaluations")


@dataclass
class EECDConfig(LinkDenoiserConfig):
    """Settings of ``semradio train eecd`` (one field per command-line option)."""

    steps: int = option(1200)
    batch: int = option(32)
    eval_every: int = option(300)
    teacher: str | None = option(None, help="VE teacher checkpoint (default: ve_natural32_<channel>_cbr1-6)")
    lr: float = option(5e-5)
    ema: float = option(0.95, help="EMA decay of the target network")
    sigma_data: float = option(0.5)
    direct: float = option(1.0, help="weight of the image-space term ||decode(f(z_t, t)) - image||^2 "
                                     "(0: pure distillation)")
    msssim: float = option(0.0, help="weight of (1 - SSIM) in the distance (pytorch_msssim single-scale SSIM, "
                                     "window 7; MS-SSIM needs images > 160 px)")
    tau2_ratio: float = option(0.3, help="Alg. 4 subsequence for s = 2: t_tau2 closest to RATIO * t_m (used by the "
                                         "direct term and stored as the blocks' default)")


# ------------------------------------------------------------------------- shared helpers
def load_frozen_codec(name: str, device: torch.device) -> Any:
    """The codec ``name`` (along the checkpoint search path) in eval mode, gradients off."""
    from semradio.models.checkpoint import load_codec

    codec = load_codec(name, device)
    codec.eval()
    for q in codec.parameters():
        q.requires_grad_(False)
    return codec


def _setup(config: LinkDenoiserConfig, data: str | TrainingData | None, name: str,
           ) -> tuple[RunPaths, TrainingData, torch.device]:
    """Threads, device, the checked output (before any work) and the data."""
    from semradio.models.checkpoint import resolve_device

    set_threads(config.threads)
    device = resolve_device(config.device)
    run = prepare_run(name, config.out_dir, config.work_dir, config.overwrite)
    return run, TrainingData.coerce(data if data is not None else config.data), device


@torch.no_grad()
def link_batch(codec: Any, images: np.ndarray | torch.Tensor, channel: str, snr_db: float, gen: torch.Generator,
               device: torch.device, shard: Any = None) -> tuple[torch.Tensor, LinkDraw]:
    """Send images through the codec's encoder and one simulated link.

    Args:
        codec: the frozen codec.
        images: (B, C, H, W) float32 in [0, 1].
        channel: "awgn" or "rayleigh".
        snr_db: the SNR in dB (also the encoder's SNR input).
        gen: torch generator of the channel (noise, then gains).
        device: where to run.
        shard: data-parallel: ``images`` is the global batch; this rank keeps its rows and its rows
            of the global channel draw (:mod:`.distributed`).

    Returns:
        (images as a tensor on ``device``, the :class:`LinkDraw` of their latents).
    """
    if shard is not None:
        images = shard.rows(images)
    x = images if isinstance(images, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(images))
    x = x.to(device)
    return x, LinkDraw(codec.encode(x, snr_db), channel, snr_db, gen, shard=shard)


# ------------------------------------------------------------------------------ teacher
@torch.no_grad()
def teacher_outputs(net: Any, grid: torch.Tensor, d: LinkDraw, solver: str = "heun",
                    batch: int = 256) -> tuple[torch.Tensor, int]:
    """The teacher's estimate of ``z_0 = H_z x~`` for a link draw.

    The probability-flow ODE (eq. 27, ``dz/dt = H_n eps_theta(z_t, t)``) is solved from the grid
    point ``t_m`` matched to the noise variance (``t_m^2 ~ s2``) down to 0, starting at the
    received ``y~ = sqrt(2) y``.

    Args:
        net: the VE noise predictor (:class:`semradio.models.ve.VENoiseNet`).
        grid: (N + 1,) Karras grid ``t_0 = 0 < t_1 < ... < t_N``.
        d: the link draw.
        solver: "euler" or "heun".
        batch: rows per network call.

    Returns:
        ((B, 2k) ``z_0`` in diffusion units, the number of network evaluations per row).
    """
    from semradio.models.schedulers import match_index
    from semradio.models.ve import bind, ve_sample

    m = match_index(grid, d.s2)
    outs, nfe = [], 0
    for i in range(0, d.y.shape[0], batch):
        sl = slice(i, i + batch)
        z, nfe = ve_sample(bind(net, d.w_s[sl], d.w_n[sl]), d.y[sl] * SQRT2, d.w_n[sl], grid, m, solver)
        outs.append(z)
    return torch.cat(outs), nfe


@torch.no_grad()
def evaluate_denoiser(codec: Any, images: np.ndarray, channel: str, snr_db: float, device: torch.device,
                      estimators: dict[str, Estimator], seed: int = 1234) -> dict[str, float]:
    """Held-out quality without a denoiser and with each estimator, at one SNR (one link draw
    with a fixed channel seed).

    Args:
        codec: the frozen codec.
        images: (N, C, H, W) float32 in [0, 1].
        channel: "awgn" or "rayleigh".
        snr_db: the SNR in dB.
        device: where to run.
        estimators: ``name -> fn(LinkDraw) -> (N, 2k)`` latents in the equalizer's scale.
        seed: seed of the channel's generator.

    Returns:
        ``psnr_db_none`` and ``psnr_db_<name>``: mean PSNR (dB) of the decoded images;
        ``latent_mse_db_none`` and ``latent_mse_db_<name>``: ``10 log10 mean (latent - x)^2``
        against the transmitted latent ``x`` (dB).
    """
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


def teacher_estimators(net: Any, grid: torch.Tensor, solver: str) -> dict[str, Estimator]:
    """The teacher with its two output conventions (:func:`semradio.models.ve.to_output`):
    ``"ve"``, ``H_z^{-1} z_0`` (the latent), and ``"ve_eqscale"``, ``z_0`` itself (the
    equalizer's scale), both divided by sqrt(2) back to the equalizer's units."""
    from semradio.models.ve import to_output

    def latent(d: LinkDraw) -> torch.Tensor:
        return to_output(teacher_outputs(net, grid, d, solver)[0], d.w_s, "latent")

    def equalizer(d: LinkDraw) -> torch.Tensor:
        return to_output(teacher_outputs(net, grid, d, solver)[0], d.w_s, "equalizer")

    return {"ve": latent, "ve_eqscale": equalizer}


def train_ve(config: VEConfig, data: str | TrainingData | None = None, command: str | None = None) -> dict[str, Any]:
    """Train the VE teacher (resumably), evaluate on all held-out images, save.

    The output convention stored in the JSON (``"output"``: ``"latent"`` or ``"equalizer"``) is
    the one with the higher held-out PSNR at 10 dB.

    Args:
        config: the settings.
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``); its images must
            have the codec's input shape.
        command: the command line to record (default: rebuilt from ``config``).

    Returns:
        The checkpoint's JSON config, or ``{"name", "step", "finished": False}`` when stopped
        early with ``stop_after``.

    Raises:
        SystemExit: the checkpoint exists and ``overwrite`` is False, a saved run has other
            settings, or the data does not match the codec.
    """
    from tqdm import tqdm

    from semradio.models.cddm import latent_shape_for
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator
    from semradio.models.schedulers import karras_grid, match_index
    from semradio.models.ve import VENoiseNet, save_ve, ve_loss

    from . import distributed

    args = config
    codec_name = args.codec_name
    name = args.name or derived_name(codec_name, "ve")
    run, data, device = _setup(args, data, name)
    shard, device = distributed.setup(device, "ve-ldm")  # torchrun: this rank's rows of every batch
    shard.local_batch(args.batch)
    command = command_line("ve-ldm", config, command)
    codec = load_frozen_codec(codec_name, device)
    check_data(data, codec)
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
    batches = data.batches(args.seed)  # its own generator seeded with the seed (not ``rng``)
    held_all = data.held_out(None)
    held_out = data.held_out(args.eval_n)
    sig = signature(dataclasses.replace(config, data=data.spec), VE_RESUME_KEYS)
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    resumed = resume_run(run.work, sig, net, opt, gen, rng, meta, command, args.fresh, ignore=("steps",))
    step, elapsed = resumed or (0, 0.0)
    if resumed:
        restore_batches(run.work, batches)
    ddp = distributed.wrap(net, shard, device)  # DDP with more than one process (rank 0's weights)
    print(f"train: {name}: {count_parameters(net)} parameters, latent {shape}, codec {codec_name}, {args.channel} "
          f"{lo:g}..{hi:g} dB, grid indices 1..{n_max} (t <= {float(grid[n_max]):.3f}), data {data.spec}, "
          f"device {device}", file=sys.stderr)
    if step == 0 and args.init_cddm and shard.main:
        net.eval()
        ev = evaluate_denoiser(codec, held_out, args.channel, args.eval_snr_db, device,
                               teacher_estimators(net, grid, args.solver))
        meta["history"].append({"step": 0, "seconds": 0.0, **{k: round(v, 3) for k, v in ev.items()}})
        print(f"step 0 (CDDM init): {json.dumps(meta['history'][-1])}", file=sys.stderr)
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    net.train()

    def loss_fn(_: int) -> torch.Tensor:
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        _, d = link_batch(codec, batches.sample(args.batch), args.channel, snr, gen, device, shard=shard)
        return ve_loss(ddp, d.x * SQRT2, d.w_s, d.w_n, grid, n_max, gen, shard=shard)

    def after_step(s: int, loss_avg: float, seconds: float) -> None:
        if shard.main and (s % args.eval_every == 0 or s == args.steps):
            net.eval()
            ev = evaluate_denoiser(codec, held_out, args.channel, args.eval_snr_db, device,
                                   teacher_estimators(net, grid, args.solver))
            net.train()
            rec = {"step": s, "seconds": round(seconds, 1), "train_loss": loss_avg,
                   **{k: round(v, 3) for k, v in ev.items()}}
            meta["history"].append(rec)
            tqdm.write(f"step {s}: {json.dumps(rec)}", file=sys.stderr)

    def save(s: int, sec: float) -> None:
        remember_batches(meta, batches)
        save_state(run.work, net, opt, gen, rng, s, sec, meta)

    t0 = time.perf_counter()
    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn, after_step,
                     save, args.ckpt_every, elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    if not shard.main:  # rank 0 evaluates and writes the checkpoint
        return {"name": name, "step": step, "finished": True, "rank": shard.rank}
    net.eval()
    seconds = elapsed + time.perf_counter() - t0
    metrics = {f"{s:g}": {k: round(v, 3) for k, v in evaluate_denoiser(
        codec, held_all, args.channel, s, device, teacher_estimators(net, grid, args.solver)).items()}
        for s in FINAL_SNR_DB}
    output = "latent" if metrics["10"]["psnr_db_ve"] >= metrics["10"]["psnr_db_ve_eqscale"] else "equalizer"
    out = {
        "name": name, "description": f"VE latent diffusion teacher (EECD, Pei et al., eqs. 25-27) for {codec_name} "
                                     f"over {args.channel}",
        "codec": codec_name, "channel": args.channel, "n_max": n_max, "solver": args.solver, "output": output,
        "ws_floor": 0.05,
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []),
                  "data": data.spec, "data_description": data.description, "init": init_record,
                  "snr_db_range": [lo, hi], "steps": args.steps, "batch": args.batch, "lr": args.lr,
                  "seed": args.seed, "processes": shard.world, "seconds": round(seconds, 1),
                  "threads": torch.get_num_threads(),
                  "torch": torch.__version__, "parameters": count_parameters(net), "history": meta["history"]},
        "metrics": {"data": f"{data.spec} held-out split", "images": int(len(held_all)), "channel_seed": 1234,
                    "solver": args.solver, "output_chosen": output, "by_snr_db": metrics},
    }
    js = save_ve(net.cpu(), grid_cfg, run.output(name), out, overwrite=args.overwrite)
    print(f"train: wrote {js} ({seconds:.0f} s); held-out: {json.dumps(metrics)}", file=sys.stderr)
    return out


# ---------------------------------------------------------------------------------- EECD
def eecd_estimators(net: Any, grid: torch.Tensor, output: str, ws_floor: float, tau2_ratio: float,
                    seed: int = 99) -> dict[str, Estimator]:
    """EECD with s = 1 and s = 2 steps (Alg. 4) as estimators of a link draw.

    s = 1: ``z^ = f(y~, t_m)``; s = 2: then ``z^ = f(z^ + t_tau2 H_n eps, t_tau2)`` with
    ``t_tau2`` the grid point closest to ``tau2_ratio * t_m`` (eps from a generator seeded with
    ``seed`` per call). The result is mapped with :func:`semradio.models.ve.to_output`
    (``output``, ``ws_floor``) to the equalizer's units.

    Returns:
        ``{"eecd1": fn, "eecd2": fn}``, each ``LinkDraw -> (B, 2k)``.
    """
    from semradio.models.consistency import eecd_sample
    from semradio.models.schedulers import match_index
    from semradio.models.ve import to_output

    def make(s: int) -> Estimator:
        def est(d: LinkDraw) -> torch.Tensor:
            gen = torch.Generator(device=d.y.device)
            gen.manual_seed(seed)
            z, _ = eecd_sample(net, d.y * SQRT2, d.w_s, d.w_n, grid, match_index(grid, d.s2), s, tau2_ratio, gen)
            return to_output(z, d.w_s, output, ws_floor)

        return est

    return {"eecd1": make(1), "eecd2": make(2)}


def train_eecd(config: EECDConfig, data: str | TrainingData | None = None,
               command: str | None = None) -> dict[str, Any]:
    """Distill the VE teacher into a consistency net (resumably), evaluate, save.

    Per step, with ``x~ = sqrt(2) x`` of a fresh link draw: the consistency-distillation loss
    ``L_CD`` (:func:`semradio.models.consistency.consistency_distillation_loss`: distance on
    images decoded by the frozen decoder between the online net at ``t_{n+1}`` and the EMA target
    at the teacher's Heun step ``t_n``), plus ``direct`` times the image-space term
    ``(d(G(f(y~, t_m)), x) + d(G(f(f(y~, t_m) + t_tau2 H_n eps, t_tau2)), x)) / 2``; Adam, then
    the target's EMA update (decay ``ema``). The target's weights are kept in the run directory
    next to the resumable state.

    Args:
        config: the settings.
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``); its images must
            have the codec's input shape.
        command: the command line to record (default: rebuilt from ``config``).

    Returns:
        The checkpoint's JSON config, or ``{"name", "step", "finished": False}`` when stopped
        early with ``stop_after``.

    Raises:
        SystemExit: the checkpoint exists and ``overwrite`` is False, a saved run has other
            settings, or the data does not match the codec.
    """
    import copy

    from tqdm import tqdm

    from semradio.models.consistency import (ConsistencyNet, consistency_distillation_loss, image_distance,
                                             save_eecd, tau2_index, update_ema)
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator
    from semradio.models.schedulers import match_index
    from semradio.models.ve import load_ve, to_output

    from . import distributed
    from .loop import loss_log

    args = config
    codec_name = args.codec_name
    teacher_name = args.teacher or derived_name(codec_name, "ve")
    name = args.name or derived_name(codec_name, "eecd")
    run, data, device = _setup(args, data, name)
    shard, device = distributed.setup(device, "eecd")  # torchrun: this rank's rows of every batch
    shard.local_batch(args.batch)
    command = command_line("eecd", config, command)
    codec = load_frozen_codec(codec_name, device)
    check_data(data, codec)
    teacher, grid, tcfg = load_ve(teacher_name, device)
    for q in teacher.parameters():
        q.requires_grad_(False)
    output, ws_floor, n_max = tcfg.get("output", "latent"), float(tcfg.get("ws_floor", 0.05)), int(tcfg["n_max"])
    tau2_ratio = float(args.tau2_ratio)
    work = run.work
    torch.manual_seed(args.seed)
    kw = dict(tcfg["kwargs"])
    shape = tuple(kw.pop("latent_shape"))
    student = ConsistencyNet(shape, **kw, t_min=float(grid[1]), sigma_data=args.sigma_data).to(device)
    student.g.load_state_dict(teacher.state_dict())
    opt = torch.optim.Adam(student.parameters(), lr=args.lr)
    gen = make_generator(args.seed, device)
    rng = np.random.default_rng(args.seed)
    batches = data.batches(args.seed)  # its own generator seeded with the seed (not ``rng``)
    held_all = data.held_out(None)
    held_out = data.held_out(args.eval_n)
    sig = signature(dataclasses.replace(config, data=data.spec), EECD_RESUME_KEYS)
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    resumed = resume_run(work, sig, student, opt, gen, rng, meta, command, args.fresh, ignore=("steps",))
    step, elapsed = resumed or (0, 0.0)
    if resumed:
        restore_batches(work, batches)
    target = copy.deepcopy(student)
    for q in target.parameters():
        q.requires_grad_(False)
    if step > 0 and (work / "target.safetensors").is_file():
        from safetensors.torch import load_file

        target.load_state_dict(load_file(str(work / "target.safetensors")))
    lo, hi = args.snr_db
    print(f"train: {name}: {count_parameters(student)} parameters, teacher {teacher_name}, codec {codec_name}, "
          f"{args.channel} {lo:g}..{hi:g} dB, grid 1..{n_max}, output {output}, direct {args.direct}, "
          f"data {data.spec}", file=sys.stderr)
    bar = tqdm(total=args.steps, initial=step, desc=name, dynamic_ncols=True, mininterval=progress_interval(),
               file=sys.stderr, disable=not shard.main)
    log = loss_log(shard.main)
    t_start = time.perf_counter() - elapsed
    avg: dict[str, float] = {}
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    student.train()
    while step < stop_at:
        lr = lr_at(step, args.steps, args.lr, args.lr_min, args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        imgs, d = link_batch(codec, batches.sample(args.batch), args.channel, snr, gen, device, shard=shard)

        def decode(lat: torch.Tensor, snr: float = snr) -> torch.Tensor:
            return codec.decode(lat, snr)

        x = d.x * SQRT2
        l_cd, _ = consistency_distillation_loss(student, target, teacher, decode, x, d.w_s, d.w_n, grid, n_max,
                                                output, ws_floor, args.msssim, gen, shard=shard)
        loss = l_cd
        l_dir = torch.zeros(())
        if args.direct > 0:
            B = x.shape[0]
            m = match_index(grid, d.s2)
            f1 = student(d.y * SQRT2, torch.full((B,), float(grid[m]), device=device), d.w_s, d.w_n)
            k = tau2_index(grid, m, tau2_ratio)
            eps = sharded_draw(lambda shp: torch.randn(shp, device=device, generator=gen), tuple(x.shape), shard)
            f2 = student(f1.detach() + float(grid[k]) * d.w_n * eps, torch.full((B,), float(grid[k]), device=device),
                         d.w_s, d.w_n)
            l_dir = 0.5 * (image_distance(decode(to_output(f1, d.w_s, output, ws_floor)), imgs, args.msssim)
                           + image_distance(decode(to_output(f2, d.w_s, output, ws_floor)), imgs, args.msssim))
            loss = loss + args.direct * l_dir
        opt.zero_grad(set_to_none=True)
        loss.backward()
        distributed.average_gradients(student)  # data-parallel: the global batch's gradient
        opt.step()
        update_ema(target, student, args.ema)
        step += 1
        losses = (("loss", loss), ("cd", l_cd), ("direct", l_dir))
        vals = {k: distributed.mean_over_ranks(val.detach()) for k, val in losses}  # the global batch's
        for key, v in vals.items():
            avg[key] = v if key not in avg else 0.98 * avg[key] + 0.02 * v
        if log is not None:
            log.write(f"{step},{vals['loss']!r}\n")
            log.flush()
        bar.update(1)
        bar.set_postfix(cd=f"{avg['cd']:.2e}", direct=f"{avg['direct']:.2e}", lr=f"{lr:.1e}", refresh=False)
        if shard.main and (step % args.eval_every == 0 or step == args.steps):
            student.eval()
            ev = evaluate_denoiser(codec, held_out, args.channel, args.eval_snr_db, device,
                                   eecd_estimators(student, grid, output, ws_floor, tau2_ratio))
            student.train()
            rec = {"step": step, "seconds": round(time.perf_counter() - t_start, 1),
                   **{f"train_{k}": v for k, v in avg.items()}, **{k: round(v, 3) for k, v in ev.items()}}
            meta["history"].append(rec)
            tqdm.write(f"step {step}: {json.dumps(rec)}", file=sys.stderr)
        if shard.main and (step % args.ckpt_every == 0 or step == stop_at):
            from safetensors.torch import save_file

            remember_batches(meta, batches)
            save_state(work, student, opt, gen, rng, step, time.perf_counter() - t_start, meta)
            save_file({k: v.detach().cpu().contiguous() for k, v in target.state_dict().items()},
                      str(work / "target.safetensors"))
    bar.close()
    if log is not None:
        log.close()
    if step < args.steps:
        print(f"train: stopped at step {step} of {args.steps}; rerun the command to resume", file=sys.stderr)
        return {"name": name, "step": step, "finished": False}
    if not shard.main:  # rank 0 evaluates and writes the checkpoint
        return {"name": name, "step": step, "finished": True, "rank": shard.rank}
    student.eval()
    seconds = time.perf_counter() - t_start
    estimators = dict(teacher_estimators(teacher, grid, tcfg.get("solver", "heun")),
                      **eecd_estimators(student, grid, output, ws_floor, tau2_ratio))
    estimators.pop("ve_eqscale" if output == "latent" else "ve")
    metrics = {f"{s:g}": {k: round(v, 3) for k, v in evaluate_denoiser(
        codec, held_all, args.channel, s, device, estimators).items()} for s in FINAL_SNR_DB}
    out = {
        "name": name, "description": f"EECD consistency denoiser (Pei et al., Alg. 4) distilled from {teacher_name} "
                                     f"for {codec_name} over {args.channel}",
        "codec": codec_name, "channel": args.channel, "teacher": teacher_name, "n_max": n_max, "output": output,
        "ws_floor": ws_floor, "tau2_ratio": tau2_ratio,
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []),
                  "data": data.spec, "data_description": data.description, "snr_db_range": [lo, hi],
                  "steps": args.steps, "batch": args.batch, "lr": args.lr, "ema": args.ema,
                  "sigma_data": args.sigma_data,
                  "distance": "L2 on decoded images" + (f" + {args.msssim} (1 - SSIM)" if args.msssim else ""),
                  "direct_weight": args.direct, "seed": args.seed, "processes": shard.world,
                  "seconds": round(seconds, 1),
                  "threads": torch.get_num_threads(), "torch": torch.__version__,
                  "parameters": count_parameters(student), "history": meta["history"]},
        "metrics": {"data": f"{data.spec} held-out split", "images": int(len(held_all)), "channel_seed": 1234,
                    "by_snr_db": metrics},
    }
    js = save_eecd(student.cpu(), tcfg["grid"], run.output(name), out, overwrite=args.overwrite)
    print(f"train: wrote {js} ({seconds:.0f} s); held-out: {json.dumps(metrics)}", file=sys.stderr)
    return out


__all__ = ["LinkDenoiserConfig", "VEConfig", "EECDConfig", "train_ve", "train_eecd", "teacher_outputs",
           "evaluate_denoiser", "teacher_estimators", "eecd_estimators", "link_batch", "load_frozen_codec",
           "VE_RESUME_KEYS", "EECD_RESUME_KEYS"]
