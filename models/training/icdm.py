"""``semradio train icdm-prior`` and ``icdm-tune``: the two priors of ICDM: Interference
Cancellation Diffusion Models (Wu et al.) and their guidance weights (Algorithm 1, eqs. 27 and 40).

    semradio train icdm-prior --which signal --channel awgn --steps 2400 --threads 1
    semradio train icdm-prior --which interference --channel rayleigh --init icdm_interference_natural32_awgn_cbr1-6
    semradio train icdm-prior --which signal --channel awgn --data folder:photos/:32
    semradio train icdm-tune --channel rayleigh --sinr-db -5 0 5 10

Data. The signal prior s_theta learns the desired codec's latents: training patches (seed
``--seed``) -> encoder (SNR-adaptive codecs see an SNR drawn in ``--snr-db`` per batch) -> power
normalizer -> ``x = sqrt(2) [Re; Im] x_c`` (unit per-component variance). The interference
prior s_phi learns what another transmitter sends: the interferer codec's latents of patches
drawn with another seed, normalized the same way, and under Rayleigh multiplied by a fresh
``h_z ~ CN(0, 1)`` per symbol (Lemma 1: the receiver does not know h_z, so it is part of z).
A pool of latents is encoded once (deterministic from the seed; the fading is redrawn each
batch), then the loss of eq. (27) is minimized with t uniform on the schedule's steps. The
images are ``--data`` (default the bundled photos, ``natural32``; any spec of
:class:`~semradio.models.training.data.TrainingData` whose images match the codec's input).

Tuning. ``icdm-tune`` grid-searches (beta, gamma) per SINR for each guidance variant on
*training* patches (never the held-out ones) with the priors found along the checkpoint search
path, scoring the latent MSE of the signal estimate, and writes the signal prior again -- the
same weights, byte for byte, its JSON with the winners merged under ``guidance`` and the run
appended to ``guidance_tuning`` -- to the user checkpoint directory (or ``--out-dir``), under the
prior's name (or ``--name``). Being earlier on the search path, the tuned copy then shadows the
shipped prior for :meth:`semradio.models.icdm_sampler.ICDMPriors.load`. The shipped checkpoints
are never modified; replacing an existing checkpoint needs ``--overwrite``.

Resumable and seeded like ``semradio train cddm`` (state in ``$SEMRADIO_HOME/runs/NAME`` or
``--work-dir/NAME``, safetensors + JSON).

    >>> from semradio.models.training import ICDMPriorConfig, train
    >>> cfg = train(ICDMPriorConfig(which="signal", channel="awgn", steps=30, name="my_prior"))  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
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
from .loop import prepare_run, resume_run, run_steps, save_state, set_threads

#: The interference prior's default codec (another transmitter's JSCC codec).
INTERFERER_CODEC = "jscc_natural32_awgn_cbr1-6_interferer"

#: Fields that must match for a saved prior run to be resumed.
PRIOR_RESUME_KEYS = ("which", "channel", "codec", "snr_db", "pool", "batch", "lr", "width", "blocks", "seed", "init",
                     "data")

#: Default (beta, gamma) grids of ``icdm-tune`` per guidance variant.
DEFAULT_GRIDS: dict[str, list[float]] = {"icdm": [1e-4, 1e-3, 3e-3, 1e-2], "exact": [1.0, 2.0, 4.0, 8.0],
                                         "dps": [3.0, 10.0, 30.0, 100.0], "gdm": [10.0, 30.0, 100.0, 300.0],
                                         "projection": [0.3, 1.0, 3.0, 10.0]}

_DATA_HELP = ("dataset spec: natural32, folder:DIR[:SIZE], mnist[:DIR], cifar10:PATH (the images must match the "
              "codec's input; default natural32, the bundled photos)")


def prior_name(which: str, channel: str, data: str = "natural32") -> str:
    """Name of a prior: ``icdm_<which>_<data>_<channel>_cbr1-6`` (the shipped ones have ``data``
    = ``natural32``; other data get their tag, e.g. ``folder``, so they do not shadow them)."""
    return f"icdm_{which}_{data}_{channel}_cbr1-6"


@dataclass(kw_only=True)
class ICDMPriorConfig(RunOptions):
    """Settings of ``semradio train icdm-prior`` (one field per command-line option): an ICDM
    signal prior s_theta or interference prior s_phi (Algorithm 1)."""

    which: str = option(help="signal: s_theta on the desired codec's latents; interference: s_phi on the "
                             "interferer's", choices=("signal", "interference"))
    channel: str = option("rayleigh", choices=("awgn", "rayleigh"))
    codec: str | None = option(None, help=f"codec (default: signal jscc_natural32_<channel>_cbr1-6, interference "
                                          f"{INTERFERER_CODEC})")
    data: str = option("natural32", help=_DATA_HELP)
    snr_db: tuple[float, float] = option((10.0, 20.0), nargs=2, metavar=("LO", "HI"),
                                         help="encoder SNR range for SNR-adaptive codecs (one draw per pool batch)")
    pool: int = option(24576, help="training patches encoded once")
    steps: int = option(2400)
    batch: int = option(64)
    lr: float = option(1e-3)
    lr_min: float = option(2e-5)
    warmup: int = option(100)
    width: int = option(64)
    blocks: int = option(4)
    seed: int | None = option(None, help="data/init seed (default: signal 0, interference 101)")
    init: str | None = option(None, help="warm start from this prior (name or path)")
    name: str | None = option(None, help="checkpoint name (default icdm_<which>_<data>_<channel>_cbr1-6)")
    ckpt_every: int = option(300)
    eval_every: int = option(600)
    eval_n: int = option(256, help="held-out images whose latents score the periodic evaluations")


def to_unit_real(latent: torch.Tensor) -> torch.Tensor:
    """Codec latent (B, 2k) -> ``sqrt(2) [Re; Im] normalize_power(latent)`` (B, 2k), unit
    per-component variance (the priors' units)."""
    from semradio.dsp import channel as cm

    return cm.complex_to_real(cm.normalize_power(latent)) * math.sqrt(2.0)


def apply_fading(x: torch.Tensor, gen: torch.Generator, shard: Any = None) -> torch.Tensor:
    """``[Re; Im](h_z x_c)`` with ``h_z ~ CN(0, 1)`` drawn per symbol from ``gen`` (x real (B, 2k);
    Lemma 1: the interferer's gain is part of what s_phi learns under Rayleigh); ``shard``: this
    rank's rows of a data-parallel batch (:func:`semradio.models.link.sharded_draw`)."""
    from semradio.dsp import channel as cm
    from semradio.models.link import sharded_draw

    c = cm.real_to_complex(x)
    h = sharded_draw(lambda shp: cm.rayleigh_gains(gen, shp, c), tuple(c.shape), shard)
    return cm.complex_to_real(h * c)


@torch.no_grad()
def encode_pool(codec: Any, images: np.ndarray, snr_range: tuple[float, float], rng: np.random.Generator,
                device: torch.device, batch: int = 256) -> torch.Tensor:
    """Unit-variance real latents (N, 2k) of ``images`` (N, C, H, W), encoded ``batch`` at a time
    (SNR drawn uniformly in ``snr_range`` from ``rng`` per batch for adaptive codecs)."""
    out = []
    lo, hi = snr_range
    for i in range(0, len(images), batch):
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(device)
        out.append(to_unit_real(codec.encode(x, snr)).float())
    return torch.cat(out)


@torch.no_grad()
def heldout_loss(net: Any, data: torch.Tensor, schedule: Any, fading: bool, seed: int = 1234) -> float:
    """Eq. (27) loss on held-out latents ``data`` (N, 2k) with a fixed generator (fixed t, eps
    and h_z draws), averaged over 4 draws."""
    from semradio.models.icdm import prior_loss
    from semradio.models.link import make_generator

    gen = make_generator(seed, data.device)
    x = apply_fading(data, gen) if fading else data
    return float(np.mean([float(prior_loss(net, x, schedule, gen)) for _ in range(4)]))


def previous_guidance(name: str, out_base: Path) -> dict[str, Any] | None:
    """The ``guidance`` table of the prior a retrain replaces: the checkpoint at ``out_base``
    when it exists, else ``name`` along the checkpoint search path (None when there is none)."""
    from semradio.models.checkpoint import read_config

    js = out_base.with_name(out_base.name + ".json")
    try:
        prev = read_config(js if js.is_file() else name)
    except (FileNotFoundError, ValueError):
        return None
    return prev.get("guidance")


def train_prior(config: ICDMPriorConfig, data: str | TrainingData | None = None,
                command: str | None = None) -> dict[str, Any]:
    """Train one prior (resumably), evaluate on held-out latents, save; returns the checkpoint's
    config (or ``{"name", "step", "finished": False}`` when stopped early with ``stop_after``).

    Args:
        config: the settings.
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``).
        command: the command line to record (default: rebuilt from ``config``).

    Raises:
        SystemExit: the checkpoint exists and ``overwrite`` is False, or a saved run has other
            settings.
        ValueError: the images do not match the codec's input.
    """
    from tqdm import tqdm

    from semradio.models.cddm import latent_shape_for
    from semradio.models.checkpoint import load_codec, resolve_device
    from semradio.models.icdm import DEFAULT_SCHEDULE, PriorNet, load_prior, prior_loss, save_prior
    from semradio.models.jscc import count_parameters
    from semradio.models.link import make_generator
    from semradio.models.schedulers import NoiseSchedule

    from . import distributed

    args = config
    data = TrainingData.coerce(data if data is not None else args.data)
    set_threads(args.threads)
    device = resolve_device(args.device)
    shard, device = distributed.setup(device, "icdm-prior")  # torchrun: this rank's rows of every batch
    shard.local_batch(args.batch)
    seed = args.seed if args.seed is not None else (0 if args.which == "signal" else 101)
    codec_name = args.codec or (f"jscc_natural32_{args.channel}_cbr1-6" if args.which == "signal" else INTERFERER_CODEC)
    name = args.name or prior_name(args.which, args.channel, data.tag)
    run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite)
    codec = load_codec(codec_name, device).eval()
    data.check_codec(codec)
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
    images = data.batches(seed).sample(args.pool)  # its own generator, seeded with seed
    pool = encode_pool(codec, images, tuple(args.snr_db), pool_rng, device)
    held = encode_pool(codec, data.held_out(args.eval_n), (float(args.snr_db[1]),) * 2, pool_rng, device)
    del images
    print(f"train: {name}: pool of {len(pool)} latents (std {float(pool.std()):.3f}) encoded in "
          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    command = command_line("icdm-prior", config, command)
    sig = signature(dataclasses.replace(args, data=data.spec), PRIOR_RESUME_KEYS)
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    step, elapsed = resume_run(run.work, sig, net, opt, gen, rng, meta, command, args.fresh) or (0, 0.0)
    ddp = distributed.wrap(net, shard, device)  # DDP with more than one process (rank 0's weights)
    print(f"train: {name}: {count_parameters(net)} parameters, latent {shape}, codec {codec_name}, "
          f"{'h_z-faded ' if fading else ''}{args.which} latents, data {data.spec}, device {device}", file=sys.stderr)
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    net.train()

    def loss_fn(_: int) -> torch.Tensor:
        idx = torch.from_numpy(shard.rows(rng.integers(0, len(pool), args.batch))).to(device)
        x = pool[idx]
        if fading:
            x = apply_fading(x, gen, shard)
        return prior_loss(ddp, x, schedule, gen, shard=shard)

    def after_step(s: int, loss_avg: float, seconds: float) -> None:
        if shard.main and (s % args.eval_every == 0 or s == args.steps):
            net.eval()
            ev = heldout_loss(net, held, schedule, fading)
            net.train()
            meta["history"].append({"step": s, "seconds": round(seconds, 1), "train_loss": round(loss_avg, 5),
                                    "heldout_loss": round(ev, 5)})
            tqdm.write(f"step {s}: train loss {loss_avg:.4f}, held-out loss {ev:.4f}", file=sys.stderr)

    t0 = time.perf_counter()
    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn, after_step,
                     lambda s, sec: save_state(run.work, net, opt, gen, rng, s, sec, meta), args.ckpt_every,
                     elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    if not shard.main:  # rank 0 writes the checkpoint
        return {"name": name, "step": step, "finished": True, "rank": shard.rank}
    net.eval()
    seconds = elapsed + time.perf_counter() - t0
    out = {
        "name": name,
        "description": (f"ICDM {args.which} prior ({'s_theta' if args.which == 'signal' else 's_phi'}) for "
                        f"{codec_name} latents over {args.channel}" + (" (z = h_z z_c)" if fading else "")),
        "which": args.which, "codec": codec_name, "channel": args.channel,
        "units": "sqrt(2) [Re; Im] of unit-power symbols (unit per-component variance)",
        "train": {"command": meta["command"], "resumed_with": meta.get("resumed_with", []),
                  "data": data.spec, "data_description": f"{data.description}; batches seed {seed}",
                  "pool": args.pool,
                  "snr_db_range": list(args.snr_db), "steps": args.steps, "batch": args.batch, "lr": args.lr,
                  "seed": seed, "init": init_record, "processes": shard.world, "seconds": round(seconds, 1),
                  "torch": torch.__version__,
                  "threads": torch.get_num_threads(), "parameters": count_parameters(net),
                  "history": meta["history"]},
        "metrics": {"heldout_loss": meta["history"][-1]["heldout_loss"] if meta["history"] else None,
                    "heldout": f"{len(held)} held-out images of {data.spec} (subset seed 0)"},
    }
    base = run.output(name)
    guidance = previous_guidance(name, base)  # keep tuned guidance weights across a retrain
    if guidance is not None:
        out["guidance"] = guidance
    js = save_prior(net.cpu(), schedule, base, out, overwrite=args.overwrite)
    print(f"train: wrote {js} ({seconds:.0f} s)", file=sys.stderr)
    return out


# -------------------------------------------------------------------------- tuning
@dataclass
class ICDMTuneConfig:
    """Settings of ``semradio train icdm-tune`` (one field per command-line option): the guidance
    weights (beta, gamma) of eq. (40) per SINR, written into a copy of the signal prior."""

    channel: str = option("rayleigh", choices=("awgn", "rayleigh"))
    snr_db: float = option(20.0)
    sinr_db: tuple[float, ...] = option((-5.0, 0.0, 5.0, 10.0), nargs="+")
    guidance: tuple[str, ...] = option(("icdm",), nargs="+", help="variants to tune")
    beta: tuple[float, ...] | None = option(None, nargs="+", help="grid of beta (default per variant)")
    gamma: tuple[float, ...] | None = option(None, nargs="+", help="grid of gamma (default: the beta grid)")
    tied: bool = option(False, help="search gamma = beta only (a 1-D grid)")
    set_default: str | None = option(None, metavar="VARIANT",
                                     help="also record VARIANT as the priors' default guidance (read by ICDMCanceller)")
    steps: int = option(40)
    order: int = option(2)
    sampler: str = option("conjpc", choices=("conjpc", "ddim", "ddpm"),
                          help="tune for this sampler (weights stored under models.icdm.guidance_key)")
    eta: float = option(0.0, help="DDIM stochasticity (1: ancestral)")
    samples: int = option(1, help="tune the average of this many draws (a posterior mean; stored under the -mean key)")
    n: int = option(128, help="training patches per evaluation")
    data: str = option("natural32", help=_DATA_HELP)
    seed: int = option(55)
    threads: int = option(0, help="torch CPU threads (0: torch's default)")
    device: str = option("auto", help="auto (CUDA when present), cpu, cuda")
    name: str | None = option(None, help="name of the tuned prior written (default: the signal prior's own name, "
                                         "which then shadows the shipped one)")
    out_dir: str | None = option(None, help="write the tuned prior here (default: the user checkpoint directory, "
                                            "$SEMRADIO_HOME/checkpoints)")
    overwrite: bool = option(False, help="replace an existing checkpoint of the same name (also needed to retune a "
                                         "prior that is itself in the output directory)")
    dry_run: bool = option(False, help="print the table, write nothing")


def write_tuned_prior(source: dict[str, Any], base: Path, table: dict[str, list[dict[str, Any]]],
                      record: dict[str, Any], set_default: str | None = None) -> Path:
    """Write the signal prior ``source`` (its config as read, with ``_path``) as the checkpoint
    ``base`` (a path without suffix): the weights copied byte for byte, the JSON with ``table``
    merged into ``guidance``, ``record`` appended to ``guidance_tuning`` and, with
    ``set_default``, ``default_guidance``. Both files go through a temporary file and an atomic
    rename (``base`` may be the source itself). Returns the JSON path.

    Raises:
        SystemExit: ``set_default`` names a variant that was never tuned.
    """
    from semradio.models.checkpoint import write_config

    cfg = {k: v for k, v in source.items() if k != "_path"}
    guidance = dict(cfg.get("guidance") or {})
    guidance.update(table)
    cfg["guidance"] = guidance
    if set_default:
        if set_default not in guidance:
            raise SystemExit(f"tune: --set-default {set_default} was never tuned")
        cfg["default_guidance"] = set_default
    cfg.setdefault("guidance_tuning", []).append(record)
    cfg["name"] = base.name
    return write_config(base, cfg, weights_from=Path(source["_path"]).with_name(source["weights"]))


def tune_guidance(config: ICDMTuneConfig, data: str | TrainingData | None = None,
                  command: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Grid search (beta, gamma) per SINR and guidance variant on training patches, scoring the
    latent MSE ``10 log10 mean((xhat / sqrt(2) - x)^2)`` dB of the signal estimate; unless
    ``dry_run``, write the tuned signal prior (see :func:`write_tuned_prior`).

    Args:
        config: the settings.
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``).
        command: the command line to record (default: rebuilt from ``config``).

    Returns:
        ``{guidance_key: [{"sinr_db", "beta", "gamma", "latent_mse_db", "latent_mse_db_none"}, ...]}``
        (:func:`semradio.models.icdm.guidance_key`); a SINR at which every weight diverges is
        left out (and counted in the record's ``diverged``).

    Raises:
        SystemExit: every weight of a variant diverged at every SINR, the output exists and
            ``overwrite`` is False (checked before tuning), or ``set_default`` was never tuned.
    """
    from semradio.models.checkpoint import load_codec, resolve_device
    from semradio.models.icdm import guidance_key
    from semradio.models.icdm_sampler import ICDMPriors, simulate_interference

    args = config
    data = TrainingData.coerce(data if data is not None else args.data)
    set_threads(args.threads)
    device = resolve_device(args.device)
    priors = ICDMPriors.load(args.channel, device)
    name = args.name or priors.signal_config["name"]
    run = None if args.dry_run else prepare_run(name, args.out_dir, None, args.overwrite)
    codec = load_codec(priors.signal_config["codec"], device).eval()
    interferer = load_codec(priors.interference_config["codec"], device).eval()
    data.check_codec(codec)
    data.check_codec(interferer)
    imgs = data.batches(args.seed).sample(args.n)
    imgs_z = data.batches(args.seed + 1).sample(args.n)
    t0 = time.perf_counter()
    table: dict[str, list[dict[str, Any]]] = {}
    diverged: list[dict[str, Any]] = []
    for variant in args.guidance:
        grid_b = list(args.beta or DEFAULT_GRIDS[variant])
        grid_g = list(args.gamma or grid_b)
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
    record = {"command": command_line("icdm-tune", config, command), "seconds": round(time.perf_counter() - t0, 1),
              "table": table, "diverged": diverged,
              "snr_db": args.snr_db, "steps": args.steps, "order": args.order, "sampler": args.sampler,
              "eta": args.eta, "samples": args.samples, "patches": args.n,
              "data": data.spec, "data_description": f"{data.description}; batches seeds {args.seed}, {args.seed + 1}",
              "prior": {"name": priors.signal_config["name"], "path": priors.signal_config["_path"],
                        "sha256": priors.signal_config.get("sha256")}}
    if run is not None:
        js = write_tuned_prior(priors.signal_config, run.output(name), table, record, args.set_default)
        print(f"tune: wrote the tuned prior {js}", file=sys.stderr)
    return table


__all__ = ["ICDMPriorConfig", "ICDMTuneConfig", "train_prior", "tune_guidance", "write_tuned_prior", "to_unit_real",
           "apply_fading", "encode_pool", "heldout_loss", "prior_name", "previous_guidance", "DEFAULT_GRIDS",
           "INTERFERER_CODEC"]
