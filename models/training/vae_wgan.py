"""``semradio train vae-wgan``: the VAE-WGAN JSCC codec (variational encoder, WGAN-GP generator as
decoder) of *Latent Diffusion Model-Enabled Real-Time Semantic Communication Considering Semantic
Ambiguities and Channel Noises*, Section III-B and Algorithm 5 (Appendix B).

    semradio train vae-wgan --data natural32 --channel awgn --cbr 1/6 --init jscc_natural32_awgn_cbr1-6 \
        --steps 1000 --lr 5e-5 --alpha-psi 0.9998 --critic-warmup 200 --threads 1

Per step (Algorithm 5), with a fresh SNR drawn uniformly in ``--snr-db`` for every batch:

1. ``--n-critic`` critic updates, each on a new batch ``x``, a prior draw ``z ~ N(0, I)`` and the
   reparameterised ``z_x = mu + sigma eps`` of the encoder:
   ``L_D = -2 D(x) + D(G(z)) + D(G(z_x)) + lambda GP(x^_1) + lambda GP(x^_2)``
   (:func:`semradio.models.vae_wgan.gradient_penalty` on both interpolates);
2. one encoder/generator update on a new batch:
   ``L_E = alpha_phi KL(N(mu, sigma^2) || N(0, I)) + (1 - alpha_phi) MSE(G(z_x), x)`` for the
   encoder and ``L_G = MSE(G(z_x), x) + (1 - alpha_psi) (-D(G(z)) - D(G(z_x)))`` for the
   generator. The two objectives are applied with one backward pass: the gradient reaching the
   decoder's input is replaced by that of ``(1 - alpha_phi) MSE`` alone, so the adversarial term
   moves the generator only, as in the paper.

Departures from the paper (recorded in the checkpoint JSON):

* the channel: Algorithm 5 has none; here every latent (``z_x`` and the prior ``z``) goes
  through the project's link, :func:`semradio.models.link.simulate_link` (power normaliser ->
  AWGN or fast Rayleigh -> MMSE equaliser), as the Deep JSCC codecs are trained;
* the reconstruction term ``D_KL(G(E(x)) || x)`` is the pixel MSE (a Gaussian likelihood), and
  the KL term is averaged per latent element;
* the paper writes ``alpha_phi`` in front of the generator's reconstruction term in Algorithm 5
  and none in the objective list; here it has weight 1 and the adversarial term weight
  ``1 - alpha_psi`` (the objective list);
* ``--init CODEC`` warm-starts from a trained Deep JSCC codec (every matching tensor; the
  encoder's output convolution gives ``mu`` and a small ``log sigma^2``), so the codec trains in
  CPU minutes; Adam for both networks (betas 0.5, 0.9 of WGAN-GP), learning-rate warm-up and
  cosine decay for the codec, a constant rate for the critic.

The codec is written as ``NAME`` (architecture ``vae_wgan``, loaded by
:func:`semradio.models.checkpoint.load_codec`) and the critic as ``NAME_critic`` (architecture
``wgan_critic``, not a codec; :func:`load_critic`). Resumable and seeded like ``semradio train
jscc`` (state in ``$SEMRADIO_HOME/runs/NAME``, the critic's in its ``critic/`` folder).

    >>> from semradio.models.training.vae_wgan import VAEWGANConfig
    >>> VAEWGANConfig(steps=10).n_critic
    2
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable

import numpy as np
import torch

from .config import RunOptions, option, signature
from .data import TrainingData
from .jscc import command_line, dict_view, evaluate
from .loop import load_state, prepare_run, resume_run, run_steps, save_state, set_threads

#: Fields that must match for a saved run to be resumed.
RESUME_KEYS = ("data", "channel", "cbr", "channels", "middle", "gdn", "snr_adaptive", "output", "seed", "batch",
               "lr", "critic_lr", "snr_db", "init", "n_critic", "gp_lambda", "alpha_phi", "alpha_psi",
               "critic_channels", "logvar_init", "critic_warmup")


@dataclass
class VAEWGANConfig(RunOptions):
    """Settings of ``semradio train vae-wgan`` (one field per command-line option)."""

    data: str = option("natural32", help="dataset spec: natural32, natural64, mnist[:DIR], cifar10:PATH, "
                                         "folder:DIR[:SIZE] (default natural32)")
    channel: str = option("awgn", choices=("awgn", "rayleigh"))
    cbr: Fraction = option(Fraction(1, 6), help="channel bandwidth ratio k/(CHW)")
    snr_db: tuple[float, float] = option((0.0, 20.0), nargs=2, metavar=("LO", "HI"),
                                         help="training SNR range in dB, one uniform draw per batch")
    channels: tuple[int, int] = option((32, 64), nargs=2, metavar=("C1", "C2"),
                                       help="widths of the two stride-2 stages (as the Deep JSCC codec)")
    middle: int = option(2, help="stride-1 layers between")
    gdn: bool = option(True, help="GDN/IGDN after each convolution (ADJSCC, as the shipped Deep JSCC)")
    snr_adaptive: bool = option(True, help="ADJSCC attention-feature modules (SNR input)")
    output: str = option("sigmoid", choices=("sigmoid", "clamp"), help="decoder output layer")
    critic_channels: tuple[int, int, int] = option((32, 64, 128), nargs=3, metavar=("D1", "D2", "D3"),
                                                   help="widths of the critic's three stride-2 convolutions")
    steps: int = option(1000, help="encoder/generator updates")
    n_critic: int = option(2, help="critic updates per encoder/generator update (Algorithm 5's n_critic)")
    critic_warmup: int = option(200, metavar="N", help="N critic updates with the codec fixed before the first codec "
                                                     "update (a fresh critic against a warm-started codec)")
    batch: int = option(64)
    lr: float = option(5e-5, help="codec learning rate (peak; warm-up then cosine decay)")
    lr_min: float = option(1e-5)
    warmup: int = option(50)
    critic_lr: float = option(1e-4, help="critic learning rate (constant)")
    gp_lambda: float = option(10.0, help="gradient penalty coefficient lambda")
    alpha_phi: float = option(1e-4, help="encoder loss balance: alpha_phi KL + (1 - alpha_phi) MSE")
    alpha_psi: float = option(0.9998, help="generator loss balance: MSE + (1 - alpha_psi) adversarial")
    logvar_init: float = option(-8.0, help="with --init: bias of the new log sigma^2 head")
    seed: int = option(0)
    name: str | None = option(None, help="checkpoint name (default vaewgan_<data>_<channel>_cbr<a>-<b>)")
    ckpt_every: int = option(100)
    eval_every: int = option(250)
    eval_n: int = option(256, help="held-out images in the periodic evaluations")
    eval_snr_db: float = option(10.0)
    final_snr_db: tuple[float, ...] = option((0.0, 5.0, 10.0, 15.0, 20.0), nargs="+",
                                             help="SNRs of the final held-out evaluation written to the JSON config")
    init: str | None = option(None, metavar="CODEC",
                              help="warm start from a Deep JSCC codec of the same architecture (recorded)")

    @property
    def cbr_label(self) -> str:
        """``"a/b"`` of the CBR."""
        return f"{self.cbr.numerator}/{self.cbr.denominator}"


def vaewgan_name(data: str, channel: str, cbr_label: str) -> str:
    """Name convention: ``vaewgan_<data>_<channel>_cbr<a>-<b>``."""
    return f"vaewgan_{data}_{channel}_cbr{cbr_label.replace('/', '-')}"


def critic_loss(critic: torch.nn.Module, real: torch.Tensor, fake_prior: torch.Tensor, fake_rec: torch.Tensor,
                gp_lambda: float, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 5 line 7: ``-2 D(x) + D(G(z)) + D(G(E(x))) + lambda (GP(x^_1) + GP(x^_2))``
    (batch means). Returns (loss, Wasserstein estimate ``2 D(x) - D(G(z)) - D(G(E(x)))``)."""
    from semradio.models.vae_wgan import gradient_penalty

    w = 2 * critic(real).mean() - critic(fake_prior).mean() - critic(fake_rec).mean()
    gp = gradient_penalty(critic, real, fake_prior, generator=generator) \
        + gradient_penalty(critic, real, fake_rec, generator=generator)
    return -w + gp_lambda * gp, w.detach()


def codec_loss(model: Any, critic: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, snr_db: float,
               link: Callable[[torch.Tensor], torch.Tensor], z_prior: torch.Tensor, alpha_phi: float, alpha_psi: float,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict[str, float]]:
    """One surrogate loss whose backward pass gives the encoder the gradient of
    ``L_E = alpha_phi KL + (1 - alpha_phi) MSE(G(z_x), x)`` and the generator (decoder) that of
    ``L_G = MSE(G(z_x), x) + (1 - alpha_psi) (-D(G(z)) - D(G(z_x)))`` (Algorithm 5 lines 10-13).

    ``z_x = mu + sigma eps`` (eps from ``generator``) and the prior draw ``z_prior`` (B, 2k) both go
    through ``link`` (latent -> equalised channel output) before the decoder. The gradient that
    reaches the decoder's input from ``z_x`` is replaced by that of ``(1 - alpha_phi) MSE`` alone, so
    the adversarial term and the generator's full-weight MSE move the generator only. The critic
    should have its gradients off. Returns (loss, {"mse", "kl", "adv"} floats); the loss's value
    is ``alpha_phi KL + L_G`` (its gradients are what matter).
    """
    from semradio.models.vae_wgan import kl_standard_normal, reparameterize

    mu, logvar = model.encode_stats(x, snr_db)
    y = link(reparameterize(mu, logvar, generator))
    x_rec = model.decode(y, snr_db)
    mse = torch.nn.functional.mse_loss(x_rec, x)
    (g_y,) = torch.autograd.grad((1.0 - alpha_phi) * mse, y, retain_graph=True)
    y.register_hook(lambda _g: g_y)
    kl = kl_standard_normal(mu, logvar).mean()
    x_prior = model.decode(link(z_prior), snr_db)
    adv = -critic(x_prior).mean() - critic(x_rec).mean()
    loss = alpha_phi * kl + mse + (1.0 - alpha_psi) * adv
    return loss, {"mse": float(mse.detach()), "kl": float(kl.detach()), "adv": float(adv.detach())}


def load_critic(name_or_path: str, device: Any = None) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The critic ``NAME_critic`` written with a VAE-WGAN codec: (network in eval mode, JSON config)."""
    from semradio.models.checkpoint import load_weights
    from semradio.models.vae_wgan import CRITIC_ARCHITECTURE, Critic

    return load_weights(name_or_path, CRITIC_ARCHITECTURE, lambda kw: Critic(**kw), device, kind="critic")


def train_vae_wgan(config: VAEWGANConfig, data: str | TrainingData | None = None,
                   command: str | None = None) -> dict[str, Any]:
    """Train (resumably) with Algorithm 5 through the link, evaluate on the held-out images, save
    the codec and its critic; returns the codec checkpoint's config (or ``{"name", "step",
    "finished": False}`` when stopped early with ``stop_after``)."""
    from semradio.dsp import arrays as A
    from semradio.models.checkpoint import load_codec, resolve_device, save_weights
    from semradio.models.jscc import count_parameters, latent_channels_for
    from semradio.models.link import make_generator, simulate_link
    from semradio.models.vae_wgan import (ARCHITECTURE, CRITIC_ARCHITECTURE, VAEWGAN, Critic, reparameterize,
                                          warm_start_from_jscc)

    args = config
    if int(args.nproc or 1) > 1:
        raise SystemExit("train: vae-wgan trains in one process (no --nproc)")
    if args.n_critic < 0:
        raise SystemExit(f"train: --n-critic must be >= 0, got {args.n_critic}")
    data = TrainingData.coerce(data if data is not None else args.data)
    set_threads(args.threads)
    device = resolve_device(args.device)
    name = args.name or vaewgan_name(data.tag, args.channel, args.cbr_label)
    critic_name = name + "_critic"
    run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite, outputs=(critic_name,))
    in_ch, h, w = data.image_shape
    model_kw = dict(in_channels=int(in_ch), image_size=(int(h), int(w)),
                    latent_channels=latent_channels_for(float(args.cbr), int(in_ch)),
                    channels=tuple(args.channels), middle=args.middle, gdn=args.gdn,
                    snr_adaptive=args.snr_adaptive, output=args.output)
    torch.manual_seed(args.seed)
    model = VAEWGAN(**model_kw).to(device)
    critic = Critic(int(in_ch), (int(h), int(w)), tuple(args.critic_channels)).to(device)
    init_record = None
    if args.init:
        base = load_codec(args.init, "cpu")
        want = {k: (list(v) if isinstance(v, tuple) else v) for k, v in model.config().items()}
        have = base.config()
        diff = sorted(k for k in want if have.get(k, want[k]) != want[k])
        if diff:
            raise SystemExit(f"train: --init {args.init}: its {', '.join(diff)} differ from this run's "
                             f"({', '.join(f'{k}={have[k]}' for k in diff)}); pass the matching options")
        rec = warm_start_from_jscc(model, base, args.logvar_init)
        model.to(device)
        print(f"train: warm start from {args.init}: {rec['tensors_copied']} of {rec['tensors']} tensors copied "
              f"(encoder output: mu from its conv, log sigma^2 bias {args.logvar_init:g})", file=sys.stderr)
        cfg0 = base.codec_config
        init_record = dict(rec, codec=args.init, sha256=cfg0.get("sha256"),
                           command=cfg0.get("train", {}).get("command"))
    betas = (0.5, 0.9)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=betas)
    copt = torch.optim.Adam(critic.parameters(), lr=args.critic_lr, betas=betas)
    gen = make_generator(args.seed, device)
    cgen = torch.Generator(device=device)
    cgen.manual_seed(A.derive_seed(int(args.seed), 8))
    rng = np.random.default_rng(args.seed)
    batches = data.batches(args.seed, rng)
    held_out = data.held_out(args.eval_n)
    command = command_line("vae-wgan", config, command)
    sig = signature(dict_view(config, data.spec), RESUME_KEYS)
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    resumed = resume_run(run.work, sig, model, opt, gen, rng, meta, command, args.fresh)
    step, elapsed = resumed or (0, 0.0)
    if resumed is not None:
        load_state(run.work / "critic", critic, copt, cgen, rng)
        meta["critic_warmup"] = json.loads((run.work / "state.json").read_text()).get("critic_warmup")
    print(f"train: {name}: codec {count_parameters(model)} + critic {count_parameters(critic)} parameters, "
          f"CBR {args.cbr_label} (k = {model.k}), channel {args.channel}, SNR {args.snr_db[0]:g}..{args.snr_db[1]:g} "
          f"dB, n_critic {args.n_critic}, device {device}, threads {torch.get_num_threads()}", file=sys.stderr)
    model.train()
    critic.train()
    t_start = time.perf_counter() - elapsed
    lo, hi = args.snr_db
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)
    two_k = model.latent_length()
    run_avg: dict[str, float] = {}

    def track(**vals: float) -> None:
        for k, v in vals.items():
            run_avg[k] = v if k not in run_avg else 0.98 * run_avg[k] + 0.02 * v

    def draw() -> tuple[torch.Tensor, float]:
        x = torch.from_numpy(np.ascontiguousarray(batches.sample(args.batch))).to(device)
        return x, (float(rng.uniform(lo, hi)) if hi > lo else float(lo))

    def link(z: torch.Tensor, snr: float) -> torch.Tensor:
        return simulate_link(z, args.channel, snr, gen)

    def prior(b: int) -> torch.Tensor:
        return torch.randn(b, two_k, generator=gen, device=device)

    def critic_steps(n: int = args.n_critic) -> None:
        critic.requires_grad_(True)
        for _ in range(n):
            x, snr = draw()
            with torch.no_grad():
                mu, logvar = model.encode_stats(x, snr)
                fake_rec = model.decode(link(reparameterize(mu, logvar, gen), snr), snr)
                fake_prior = model.decode(link(prior(x.shape[0]), snr), snr)
            loss_d, wdist = critic_loss(critic, x, fake_prior, fake_rec, args.gp_lambda, cgen)
            copt.zero_grad(set_to_none=True)
            loss_d.backward()
            copt.step()
            track(w_distance=float(wdist), critic_loss=float(loss_d.detach()))

    def loss_fn(_: int) -> torch.Tensor:
        critic_steps()
        critic.requires_grad_(False)
        x, snr = draw()
        loss, parts = codec_loss(model, critic, x, snr, lambda z: link(z, snr), prior(x.shape[0]), args.alpha_phi,
                                 args.alpha_psi, gen)
        track(**parts)
        return loss

    def held_out_eval(done: int, loss_avg: float, seconds: float) -> None:
        if done % args.eval_every == 0 or done == args.steps:
            ev = evaluate(model, held_out, args.channel, args.eval_snr_db, device)
            rec = {"step": done, "seconds": round(seconds, 1), "train_loss": loss_avg,
                   **{k: round(v, 6) for k, v in run_avg.items()},
                   f"eval_psnr_db@{args.eval_snr_db:g}": round(ev["psnr_db"], 3), "eval_ssim": round(ev["ssim"], 4)}
            meta["history"].append(rec)
            print(f"step {done}: train MSE {run_avg.get('mse', float('nan')):.3g} "
                  f"(PSNR {-10 * math.log10(max(run_avg.get('mse', 1.0), 1e-12)):.2f} dB), "
                  f"KL {run_avg.get('kl', 0):.3g}, "
                  f"W {run_avg.get('w_distance', 0):.3g}, held-out PSNR {ev['psnr_db']:.2f} dB / SSIM "
                  f"{ev['ssim']:.4f} at {args.eval_snr_db:g} dB ({seconds:.0f} s)", file=sys.stderr)

    def save(done: int, seconds: float) -> None:
        save_state(run.work / "critic", critic, copt, cgen, rng, done, seconds, {"name": critic_name})
        save_state(run.work, model, opt, gen, rng, done, seconds, meta)

    if step == 0 and args.critic_warmup > 0:  # fresh run (a resumed one has done it)
        t0 = time.perf_counter()
        critic_steps(args.critic_warmup)
        print(f"train: critic warm-up: {args.critic_warmup} critic updates, W {run_avg['w_distance']:.3g} "
              f"({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
        meta["critic_warmup"] = {"updates": args.critic_warmup, "w_distance": round(run_avg["w_distance"], 5)}
    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn,
                     after_step=held_out_eval, save=save, ckpt_every=args.ckpt_every, elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    seconds = time.perf_counter() - t_start
    model.eval()
    full = data.held_out(None)
    finals = {f"{s:g}": evaluate(model, full, args.channel, s, device) for s in args.final_snr_db}
    train_rec = {
        "command": meta["command"], "resumed_with": meta.get("resumed_with", []), "data": data.spec,
        "data_description": data.description,
        "snr_db_range": list(args.snr_db), "steps": args.steps, "n_critic": args.n_critic,
        "critic_warmup": meta.get("critic_warmup"), "batch": args.batch,
        "lr": args.lr, "lr_min": args.lr_min, "warmup": args.warmup, "critic_lr": args.critic_lr,
        "adam_betas": list(betas), "gp_lambda": args.gp_lambda, "alpha_phi": args.alpha_phi,
        "alpha_psi": args.alpha_psi, "seed": args.seed, "init": init_record,
        "loss": "encoder: alpha_phi KL(N(mu,s2)||N(0,I)) (mean per element) + (1-alpha_phi) MSE; generator: MSE + "
                "(1-alpha_psi)(-D(G(z)) - D(G(E(x)))); critic: -2D(x) + D(G(z)) + D(G(E(x))) + lambda GP x2 "
                "(Algorithm 5)",
        "link": "normalize_power -> " + ("AWGN" if args.channel == "awgn" else "fast Rayleigh h~CN(0,1)")
                + " -> MMSE equalizer (semradio.models.link.simulate_link) for G(E(x)) and G(z); "
                  "the paper's Algorithm 5 has no channel",
        "device": str(device), "threads": torch.get_num_threads(), "seconds": round(seconds, 1),
        "torch": torch.__version__, "parameters": count_parameters(model),
        "critic_parameters": count_parameters(critic), "history": meta["history"],
    }
    out = {
        "name": name,
        "description": f"VAE-WGAN JSCC codec (variational ADJSCC encoder, WGAN-GP generator decoder), {data.tag}, "
                       f"{args.channel}, CBR {args.cbr_label}; encode() returns mu",
        "cbr": float(args.cbr), "cbr_label": args.cbr_label, "k": model.k,
        "image_shape": [int(in_ch), int(h), int(w)], "channel": args.channel, "critic": critic_name,
        "train": train_rec,
        "metrics": {"data": f"{data.spec} held-out split", "images": int(len(full)), "channel_seed": 1234,
                    "encoder": "mu (deterministic)",
                    "by_snr_db": {k: {m: round(v, 4) for m, v in r.items()} for k, r in finals.items()}},
    }
    js = save_weights(model.cpu(), run.output(name), out, ARCHITECTURE, model.config(), overwrite=args.overwrite)
    critic_cfg = {"name": critic_name, "description": f"WGAN-GP critic D_gamma trained with the codec {name} "
                                                      f"(not a codec)", "codec": name,
                  "image_shape": [int(in_ch), int(h), int(w)],
                  "train": {"command": meta["command"], "steps": args.steps, "seconds": round(seconds, 1)}}
    save_weights(critic.cpu(), run.output(critic_name), critic_cfg, CRITIC_ARCHITECTURE, critic.config(),
                 overwrite=args.overwrite)
    print(f"train: wrote {js} and {critic_name} ({seconds:.0f} s); held-out: "
          + ", ".join(f"{k} dB: {r['psnr_db']:.2f} dB / {r['ssim']:.3f}" for k, r in finals.items()), file=sys.stderr)
    return out


__all__ = ["VAEWGANConfig", "train_vae_wgan", "codec_loss", "critic_loss", "load_critic", "vaewgan_name"]
