"""``semradio train chest``: train a diffusion channel estimator
(:class:`semradio.models.channel_denoiser.ChannelDenoiserNet`) on channel grids of one scenario.

    semradio train chest --scenario umi-28
    semradio train chest --scenario tdl-link --steps 6000
    semradio train chest --scenario ris-28 --train-grids 20000 --name my_ris

Data: ``--train-grids`` channel grids of ``--scenario`` generated with Sionna PHY
(:mod:`semradio.dsp.ofdm.channel_grids`, seeded from ``--seed``; cached in the run directory
so a resumed run does not regenerate them) and ``--val-grids`` more from another seed. Each step
takes a batch, turns each grid by a uniform random phase (the channels' law does not depend on
the absolute phase), draws a noise level per grid with pilot SNR uniform in ``--snr-db``
(``v = 10^(-SNR/10)``), and minimises the preconditioned denoising loss of
:class:`~semradio.models.channel_denoiser.ChannelDenoiserNet`::

    E_v E_h,n  w(v) || D(h + sqrt(v) n, v) - h ||^2,      n ~ CN(0, I),  w = 1 / c_out^2

At the end the held-out NMSE of the one-step estimate and of LS, and the held-out error table
(MSE per entry at every 2.5 dB of pilot SNR: the estimator's expected error variance) go into
the checkpoint's JSON. Resumable and seeded like every trainer (state in
``$SEMRADIO_HOME/runs/NAME``); the checkpoint goes to the user directory unless ``--out-dir``.
Needs Sionna PHY (``pip install -e ".[phy]"``).

    >>> from semradio.models.training import ChestConfig, train
    >>> result = train(ChestConfig(scenario="inh-28", steps=200))    # doctest: +SKIP
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .config import RunOptions, option, signature
from .jscc import command_line
from .loop import prepare_run, resume_run, run_steps, save_state, set_threads

#: Fields that must match for a saved run to be resumed.
RESUME_KEYS = ("scenario", "train_grids", "batch", "lr", "width", "blocks", "gaussian_skip", "snr_db", "seed")

#: Pilot SNRs (dB) of the error table stored in the checkpoint.
TABLE_SNR_DB = tuple(float(s) for s in np.arange(-20.0, 40.01, 2.5))


def _scenarios() -> tuple[str, ...]:
    from semradio.dsp.ofdm.channel_grids import SCENARIOS

    return tuple(SCENARIOS)


@dataclass
class ChestConfig(RunOptions):
    """Settings of ``semradio train chest`` (one field per command-line option)."""

    scenario: str = option("umi-28", choices=_scenarios(), help="channel scenario of the training grids")
    train_grids: int = option(40000, help="training channel grids (generated once, cached in the run directory)")
    val_grids: int = option(4000, help="held-out grids (another seed) for the error table")
    steps: int = option(4000)
    batch: int = option(256)
    lr: float = option(1e-3)
    lr_min: float = option(1e-5)
    warmup: int = option(200)
    width: int = option(256)
    blocks: int = option(3)
    gaussian_skip: bool = option(False, help="skip path = LMMSE with the training grids' covariance (the network "
                                             "learns the non-Gaussian rest)")
    snr_db: tuple[float, float] = option((-15.0, 35.0), nargs=2, metavar=("LO", "HI"),
                                         help="pilot SNR range of the training noise levels")
    seed: int = option(0)
    name: str | None = option(None, help="checkpoint name (default chest_<scenario without dashes>)")
    ckpt_every: int = option(500)


def default_name(scenario: str) -> str:
    """``chest_`` + the scenario without dashes (``umi-28`` -> ``chest_umi28``; ``tdl-link`` ->
    ``chest_tdllink``)."""
    return "chest_" + scenario.replace("-", "")


def _grids(run_work: Any, scenario: str, n: int, seed: int, tag: str) -> np.ndarray:
    """The cached grids of ``scenario`` (generated on first use)."""
    from semradio.dsp.ofdm.channel_grids import generate_grids

    path = run_work / f"{tag}_{scenario}_{n}_{seed}.npy"
    if path.is_file():
        g = np.load(path, allow_pickle=False)
        if g.shape[0] == n and np.iscomplexobj(g) and np.all(np.isfinite(g)):
            return g
    t = time.perf_counter()
    g = generate_grids(scenario, n, seed=seed)
    run_work.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, g, allow_pickle=False)
    tmp.replace(path)
    print(f"train: {n} {scenario} grids ({tag}) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return g


def error_table(est: Any, grids: np.ndarray, seed: int = 7) -> dict[str, Any]:
    """Held-out per-entry MSE of the one-step estimate and of LS at every level of
    :data:`TABLE_SNR_DB` (``v = 10^(-SNR/10)``)."""
    from semradio.dsp.ofdm.diffusion import nmse_db

    rng = np.random.default_rng(seed)
    vs, mse, nm, nm_ls = [], [], [], []
    for snr in TABLE_SNR_DB:
        v = 10.0 ** (-snr / 10.0)
        noise = (rng.standard_normal(grids.shape) + 1j * rng.standard_normal(grids.shape)) * math.sqrt(v / 2.0)
        y = grids + noise
        h, _ = est.estimate(y, v)
        e = h - grids
        vs.append(v)
        mse.append(float(np.mean(e.real ** 2 + e.imag ** 2)))
        nm.append(round(nmse_db(h, grids), 3))
        nm_ls.append(round(nmse_db(y, grids), 3))
    return {"snr_db": list(TABLE_SNR_DB), "v": vs, "mse": mse, "nmse_db": nm, "nmse_db_ls": nm_ls}


def train_chest(config: ChestConfig, data: Any = None, command: str | None = None) -> dict[str, Any]:
    """Train per ``config`` (module docstring); ``data`` is unused (the grids are generated).
    Returns the checkpoint's JSON config (or ``{"finished": False, ...}`` after ``--stop-after``)."""
    from semradio.dsp.ofdm.channel_grids import scenario
    from semradio.models.channel_denoiser import ARCHITECTURE, ChannelDenoiserNet, DiffusionChannelEstimator
    from semradio.models.checkpoint import resolve_device, save_weights

    args = config
    sc = scenario(args.scenario)
    if args.batch < 1 or args.steps < 1 or args.train_grids < args.batch or args.val_grids < 1:
        raise SystemExit("train: need steps >= 1, batch >= 1, train-grids >= batch and val-grids >= 1")
    lo, hi = args.snr_db
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise SystemExit(f"train: --snr-db needs finite LO <= HI, got {lo} {hi}")
    set_threads(args.threads)
    device = resolve_device(args.device)
    name = args.name or default_name(args.scenario)
    run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite)
    train_g = _grids(run.work, args.scenario, args.train_grids, args.seed, "train")
    val_g = _grids(run.work, args.scenario, args.val_grids, args.seed + 100_003, "val")
    rows, k = sc.shape
    torch.manual_seed(args.seed)
    net = ChannelDenoiserNet(rows, k, width=args.width, blocks=args.blocks, gaussian_skip=args.gaussian_skip)
    if args.gaussian_skip:
        from semradio.dsp.ofdm.diffusion import covariance

        net.set_prior(covariance(train_g.reshape(train_g.shape[0], -1)))
    net = net.to(device)
    opt = torch.optim.Adam(net.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    command = command_line("chest", config, command)
    sig = signature(config, RESUME_KEYS)
    meta: dict[str, Any] = {"name": name, "command": command, "args": sig, "history": []}
    step, elapsed = resume_run(run.work, sig, net, opt, gen, rng, meta, command, args.fresh) or (0, 0.0)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"train: {name}: {n_params} parameters, scenario {args.scenario} grids {rows}x{k}, pilot SNR "
          f"{lo:g}..{hi:g} dB, device {device}, threads {torch.get_num_threads()}", file=sys.stderr)
    bank = torch.from_numpy(np.ascontiguousarray(train_g.reshape(train_g.shape[0], -1)))
    net.train()
    t_start = time.perf_counter() - elapsed
    stop_at = args.steps if args.stop_after is None else min(args.steps, step + args.stop_after)

    def loss_fn(_: int) -> torch.Tensor:
        idx = torch.from_numpy(rng.integers(0, bank.shape[0], args.batch))
        h = bank[idx]
        phase = torch.exp(2j * math.pi * torch.rand(args.batch, 1, generator=gen))
        h = (h * phase).to(torch.complex64)
        snr = torch.rand(args.batch, generator=gen) * (hi - lo) + lo
        v = 10.0 ** (-snr / 10.0)
        noise = torch.randn(h.shape, generator=gen, dtype=torch.complex64) * torch.sqrt(v)[:, None]
        x = torch.cat([(h + noise).real, (h + noise).imag], dim=-1).to(device)
        target = torch.cat([h.real, h.imag], dim=-1).to(device)
        vd = v.to(device)
        err = (net(x, vd) - target) ** 2
        return torch.mean(ChannelDenoiserNet.loss_weight(vd) * err.mean(dim=-1))

    def save(done: int, seconds: float) -> None:
        save_state(run.work, net, opt, gen, rng, done, seconds, meta)

    step = run_steps(name, step, args.steps, stop_at, opt, (args.lr, args.lr_min, args.warmup), loss_fn,
                     save=save, ckpt_every=args.ckpt_every, history=meta["history"], elapsed=elapsed)
    if step < args.steps:
        return {"name": name, "step": step, "finished": False}
    seconds = time.perf_counter() - t_start
    net.eval()
    table = error_table(DiffusionChannelEstimator(net, {}, device=device), val_g)
    out = {
        "name": name,
        "description": f"diffusion channel estimator (denoiser of LS channel estimates), scenario {args.scenario}, "
                       f"grids {rows} x {k}",
        "family": "chest", "scenario": args.scenario, "grid_shape": [rows, k],
        "carrier_frequency": sc.carrier_frequency, "subcarrier_spacing": sc.spacing,
        "error_table": table,
        "train": {"command": meta["command"], "train_grids": args.train_grids, "val_grids": args.val_grids,
                  "snr_db_range": [lo, hi], "steps": args.steps, "batch": args.batch, "lr": args.lr,
                  "lr_min": args.lr_min, "warmup": args.warmup, "seed": args.seed, "device": str(device),
                  "threads": torch.get_num_threads(), "seconds": round(seconds, 1), "torch": torch.__version__,
                  "parameters": n_params, "history": meta["history"]},
        "metrics": {"data": f"{args.val_grids} held-out {args.scenario} grids",
                    "by_snr_db": {f"{s:g}": {"nmse_db": n, "nmse_db_ls": nl}
                                  for s, n, nl in zip(table["snr_db"], table["nmse_db"], table["nmse_db_ls"])
                                  if s in (0.0, 10.0, 20.0)}},
    }
    js = save_weights(net.cpu(), run.output(name), out, ARCHITECTURE, net.config(), overwrite=args.overwrite)
    print(f"train: wrote {js} ({seconds:.0f} s); held-out NMSE "
          + ", ".join(f"{s:g} dB: {n:.2f} (LS {nl:.2f})" for s, n, nl in
                      zip(table["snr_db"], table["nmse_db"], table["nmse_db_ls"]) if s in (0.0, 10.0, 20.0)),
          file=sys.stderr)
    return out


__all__ = ["ChestConfig", "train_chest", "default_name", "error_table"]
