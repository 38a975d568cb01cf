"""The outlier-robust encoder of *Latent Diffusion Model-Enabled Real-Time Semantic Communication
Considering Semantic Ambiguities and Channel Noises* (Section III-C, eq. (12), Algorithm 1):
encoder-only fine-tuning of a Deep JSCC codec on semantic errors found by PGD.

    semradio train robust --codec jscc_natural32_awgn_cbr1-6 --eps-level 0.3 --steps 1500 --threads 1

A copy of the codec's encoder ``E'`` (initialised with ``E``, Alg. 1 line 1) is trained with
the decoder ``G`` frozen. Every step takes a batch ``x``, one SNR drawn uniformly in ``--snr-db``
(default: the codec's training range), finds ``delta`` by L2 PGD against the *current* encoder
(:func:`semradio.models.attacks.pgd_attack`, Alg. 1 lines 4-9; ``--pgd-steps`` iterations,
budget ``eps = level * H / 2`` from ``--eps-level``), and descends (Alg. 1 line 11, eq. 12)::

    L = d(x, G(link(E'(x)))) + beta * d(G(link(E'(x))), G(link(E'(x + delta))))

with ``d`` the MSE. Departures from the paper, all deliberate:

* **The link.** Alg. 1 has no channel. Here both reconstructions go through the project's link
  (:func:`semradio.models.link.simulate_link`: power normaliser -> AWGN / fast Rayleigh -> MMSE),
  with the *same* noise draw for ``x`` and ``x + delta`` (the second term measures the
  semantic error, not the noise), at the batch's SNR; the SNR-adaptive layers see that SNR.
  The attack itself is computed on the noiseless link (power normalised, no noise).
* **beta.** Eq. (12) weighs the two terms equally; ``--beta`` (default 1) is eq. (10)'s
  coupling parameter made explicit.
* **The attack.** "Until converged" becomes a fixed ``--pgd-steps`` (default 5: training cost
  grows linearly with it), ``delta^0`` a random point (the gradient vanishes at 0; see
  :mod:`semradio.models.attacks`), the VAE-prior constraint ``E(x + delta) ~ N(0, I)`` is
  dropped (no prior in Deep JSCC; the link normalises the power). ``--eps-ramp N`` grows the
  budget linearly over the first N steps (0: the full budget from the start).
* **Optimiser.** Adam with a short warm-up and cosine decay (:func:`.loop.run_steps`), a small
  learning rate since it fine-tunes a trained encoder.

The output is a full codec checkpoint (architecture ``deep_jscc``, the new encoder, the decoder
unchanged bit for bit) named ``<codec>_robust`` by default, in the user directory unless
``--out-dir``; its JSON records the command, data, seconds, and held-out metrics on clean and
attacked inputs (attack recomputed against the new encoder, 20 PGD steps). Seeded and
resumable like every trainer (:mod:`.loop`).
"""

from __future__ import annotations

import copy
import dataclasses
import json
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

#: Fields that must match for a saved run to be resumed.
RESUME_KEYS = ("codec", "data", "channel", "snr_db", "eps_level", "pgd_steps", "pgd_step_size", "beta", "eps_ramp",
               "batch", "lr", "seed")


@dataclass
class RobustConfig(RunOptions):
    """Settings of ``semradio train robust`` (one field per command-line option)."""

    codec: str = option("jscc_natural32_awgn_cbr1-6", help="the Deep JSCC codec whose encoder is made robust")
    data: str = option("natural32", help="training images (default natural32); they must match the codec's input")
    channel: str | None = option(None, choices=("awgn", "rayleigh"), help="default: the codec's channel")
    snr_db: tuple[float, float] | None = option(None, nargs=2, metavar=("LO", "HI"),
                                                help="training SNR range (default: the codec's)")
    eps_level: float = option(0.3, help="error level ||delta||_2 / H on [-1, 1] images (paper: 0.3)")
    pgd_steps: int = option(5, help="PGD iterations per training batch")
    pgd_step_size: float | None = option(None, help="PGD step eta_1 in [0, 1] units (default 2.5 eps / steps)")
    beta: float = option(1.0, help="weight of d(G(E'(x)), G(E'(x + delta))) (eq. 12: 1)")
    eps_ramp: int = option(0, metavar="N", help="grow eps linearly over the first N steps (0: full from the start)")
    steps: int = option(1500)
    batch: int = option(32)
    lr: float = option(1e-4)
    lr_min: float = option(1e-6)
    warmup: int = option(50)
    seed: int = option(0)
    name: str | None = option(None, help="checkpoint name (default <codec>_robust)")
    ckpt_every: int = option(100)
    eval_every: int = option(250)
    eval_n: int = option(64, help="held-out images in the periodic evaluations")
    eval_snr_db: float = option(10.0)
    final_snr_db: tuple[float, ...] = option((0.0, 10.0, 20.0), nargs="+",
                                             help="SNRs of the final held-out evaluation (clean and attacked)")
    final_n: int = option(0, help="held-out images in the final evaluation (0: all)")
    final_pgd_steps: int = option(20, help="PGD iterations of the final (and periodic) evaluation attack")


def eps_at(step: int, eps: float, ramp: int) -> float:
    """The budget at ``step``: ``eps * min(1, (step + 1) / ramp)`` (``ramp`` 0: ``eps``)."""
    return float(eps) if ramp <= 0 else float(eps) * min(1.0, (step + 1) / ramp)


def robust_loss(codec: Any, x: torch.Tensor, delta: torch.Tensor, channel: str, snr_db: float,
                gen: torch.Generator, beta: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eq. (12) through the link: ``(L, d(x, x_hat), d(x_hat, x_hat'))`` with
    ``x_hat = G(link(E'(x)))`` and ``x_hat' = G(link(E'(x + delta)))`` decoded from the same
    noise draw (``gen``'s state is replayed). Images (B, C, H, W) in [0, 1]."""
    from semradio.models.link import simulate_link

    state = gen.get_state()
    y = codec(x, lambda z: simulate_link(z, channel, snr_db, gen), snr_db)
    after = gen.get_state()
    gen.set_state(state)
    y_adv = codec(x + delta, lambda z: simulate_link(z, channel, snr_db, gen), snr_db)
    gen.set_state(after)
    rec = torch.nn.functional.mse_loss(y, x)
    sem = torch.nn.functional.mse_loss(y_adv, y)
    return rec + beta * sem, rec, sem


def train_robust(config: RobustConfig, data: str | TrainingData | None = None,
                 command: str | None = None) -> dict[str, Any]:
    """Fine-tune the encoder (resumably), evaluate clean and attacked, save; returns the
    checkpoint's config (or ``{"name", "step", "finished": False}`` when stopped early).

    Args:
        config: the settings.
        data: a dataset spec or :class:`TrainingData` (default: ``config.data``).
        command: the command line to record (default: rebuilt from ``config``).
    """
    from tqdm import tqdm

    from semradio.models.attacks import eps_for_level, image_side, pgd_attack
    from semradio.models.checkpoint import load_codec, resolve_device, save_codec
    from semradio.models.evaluation.robust import evaluate_attacked
    from semradio.models.jscc import ARCHITECTURE, DeepJSCC, count_parameters
    from semradio.models.link import make_generator

    args = config
    if args.pgd_steps < 1 or args.batch < 1 or args.steps < 1 or args.beta < 0 or args.eps_level < 0:
        raise SystemExit("train robust: need --pgd-steps, --batch, --steps >= 1 and --beta, --eps-level >= 0")
    data = TrainingData.coerce(data if data is not None else args.data)
    set_threads(args.threads)
    device = resolve_device(args.device)
    base = load_codec(args.codec, "cpu")
    if not isinstance(base, DeepJSCC):
        raise SystemExit(f"train robust: {args.codec} is not a {ARCHITECTURE} codec")
    data.check_codec(base)
    cfg0 = base.codec_config
    channel = args.channel or cfg0.get("channel", "awgn")
    lo, hi = args.snr_db or tuple(cfg0.get("train", {}).get("snr_db_range", (0.0, 20.0)))
    name = args.name or f"{cfg0.get('name', args.codec)}_robust"
    run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite)
    model = copy.deepcopy(base).to(device)
    model.decoder.requires_grad_(False)  # G frozen (Alg. 1: only phi' is updated)
    torch.manual_seed(args.seed)
    opt = torch.optim.Adam(list(model.encoder.parameters()), lr=args.lr)
    gen = make_generator(args.seed, device)
    agen = torch.Generator(device=device)
    agen.manual_seed(args.seed + 1)
    rng = np.random.default_rng(args.seed)
    batches = data.batches(args.seed, rng)
    held_out = data.held_out(args.eval_n)
    side = image_side(int(data.image_shape[-2]), int(data.image_shape[-1]))
    eps = eps_for_level(args.eps_level, side)
    command = command_line("robust", config, command)
    resolved = dataclasses.replace(config, data=data.spec, channel=channel, snr_db=(float(lo), float(hi)))
    sig = signature(resolved, RESUME_KEYS)
    meta = {"name": name, "command": command, "args": sig, "history": []}
    step, elapsed = resume_run(run.work, sig, model, opt, gen, rng, meta, command, args.fresh) or (0, 0.0)
    if step:  # the attack's random starts continue where the saved run stopped
        saved = json.loads((run.work / "state.json").read_text())
        if "agen_state" in saved:
            agen.set_state(torch.tensor(saved["agen_state"], dtype=torch.uint8))
    print(f"train: {name}: robust encoder of {args.codec} ({count_parameters(model.encoder)} encoder parameters "
          f"trained, decoder frozen), {channel}, SNR {lo:g}..{hi:g} dB, error level {args.eps_level:g} "
          f"(eps {eps:.3g}), PGD {args.pgd_steps} steps, beta {args.beta:g}, device {device}, "
          f"threads {torch.get_num_threads()}", file=sys.stderr)
    model.train()
    t_start = time.perf_counter() - elapsed
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)

    def loss_fn(s: int) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(batches.sample(args.batch))).to(device)
        snr = float(rng.uniform(lo, hi)) if hi > lo else float(lo)
        e = eps_at(s, eps, args.eps_ramp)
        delta = pgd_attack(model, x, e, args.pgd_steps, args.pgd_step_size, snr_db=snr, generator=agen)
        loss, _, _ = robust_loss(model, x, delta, channel, snr, gen, args.beta)
        return loss

    def held_out_eval(done: int, loss_avg: float, seconds: float) -> None:
        if done % args.eval_every == 0 or done == args.steps:
            r = evaluate_attacked(model, held_out, channel, args.eval_snr_db, eps, args.final_pgd_steps, device)
            rec = {"step": done, "seconds": round(seconds, 1), "train_loss": loss_avg,
                   f"eval_psnr_clean@{args.eval_snr_db:g}": r["psnr_clean"],
                   f"eval_psnr_pgd@{args.eval_snr_db:g}": r["psnr_pgd"]}
            meta["history"].append(rec)
            model.train()
            tqdm.write(f"step {done}: loss {loss_avg:.4g}, held-out PSNR clean {r['psnr_clean']:.2f} dB, "
                       f"PGD {r['psnr_pgd']:.2f} dB at {args.eval_snr_db:g} dB ({rec['seconds']:.0f} s)",
                       file=sys.stderr)

    def save(done: int, seconds: float) -> None:
        meta["agen_state"] = agen.get_state().tolist()
        save_state(run.work, model, opt, gen, rng, done, seconds, meta)

    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn,
                     after_step=held_out_eval, save=save, ckpt_every=args.ckpt_every, elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    seconds = time.perf_counter() - t_start
    model.eval()
    full = data.held_out(args.final_n or None)
    finals = {f"{s:g}": evaluate_attacked(model, full, channel, s, eps, args.final_pgd_steps, device)
              for s in args.final_snr_db}
    plain = {f"{s:g}": evaluate_attacked(base.to(device), full, channel, s, eps, args.final_pgd_steps, device)
             for s in args.final_snr_db}
    out = {
        "name": name,
        "description": f"{cfg0.get('description', args.codec)}; encoder fine-tuned on PGD semantic errors "
                       f"(error level {args.eps_level:g}), decoder unchanged",
        **{k: cfg0[k] for k in ("cbr", "cbr_label", "k", "image_shape", "channel") if k in cfg0},
        "robust": {"base_codec": args.codec, "base_sha256": cfg0.get("sha256"), "eps_level": args.eps_level,
                   "eps": eps, "norm": "l2 on [0, 1] images (eps = level * H / 2)", "decoder": "frozen, unchanged"},
        "train": {
            "command": meta["command"], "data": data.spec, "data_description": data.description,
            "snr_db_range": [lo, hi], "steps": args.steps, "batch": args.batch, "lr": args.lr,
            "lr_min": args.lr_min, "warmup": args.warmup, "seed": args.seed, "beta": args.beta,
            "pgd_steps": args.pgd_steps, "pgd_step_size": args.pgd_step_size, "eps_ramp": args.eps_ramp,
            "loss": "MSE(x, G(E'(x))) + beta MSE(G(E'(x)), G(E'(x + delta))) through the link, same noise draw",
            "frozen": "decoder", "init": {"codec": args.codec, "sha256": cfg0.get("sha256"),
                                          "command": cfg0.get("train", {}).get("command")},
            "link": "normalize_power -> " + ("AWGN" if channel == "awgn" else "fast Rayleigh h~CN(0,1)")
                    + " -> MMSE equalizer (semradio.models.link.simulate_link)",
            "device": str(device), "threads": torch.get_num_threads(), "seconds": round(seconds, 1),
            "torch": torch.__version__, "parameters_trained": count_parameters(model.encoder),
            "history": meta["history"], "resumed_with": meta.get("resumed_with", []),
        },
        "metrics": {"data": f"{data.spec} held-out split", "images": int(len(full)), "channel_seed": 1234,
                    "attack": f"L2 PGD, {args.final_pgd_steps} steps, eps {eps:g}, recomputed against each codec",
                    "by_snr_db": {k: {"psnr_db": r["psnr_clean"], "ssim": r["ssim_clean"], **r}
                                  for k, r in finals.items()},
                    "base_by_snr_db": plain},
    }
    model.decoder.requires_grad_(True)
    js = save_codec(model.cpu(), run.output(name), out, overwrite=args.overwrite)
    print(f"train: wrote {js} ({seconds:.0f} s); held-out clean / PGD (base clean / PGD): "
          + ", ".join(f"{k} dB: {r['psnr_clean']:.2f} / {r['psnr_pgd']:.2f} "
                      f"({plain[k]['psnr_clean']:.2f} / {plain[k]['psnr_pgd']:.2f})" for k, r in finals.items()),
          file=sys.stderr)
    return out


__all__ = ["RobustConfig", "train_robust", "robust_loss", "eps_at", "RESUME_KEYS"]
