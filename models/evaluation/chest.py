"""``semradio eval chest``: NMSE vs pilot SNR of the diffusion channel estimator against LS and
LMMSE, per scenario, in one command (CSV + PNG in the style of the figure of "Channel Estimation
for RIS-Assisted mmWave Systems via Diffusion Models": one panel per scenario, NMSE in dB).

    semradio eval chest                                   # every shipped scenario, -10..20 dB
    semradio eval chest --scenarios umi-28 inh-73 --n 1000 --out out/chest

Per scenario, on ``--n`` test grids drawn with a seed no trainer uses:

* ``ls`` — the LS estimate itself, ``h_LS = h + dh`` (NMSE ``= -SNR``);
* ``lmmse-true`` — ``R (R + v I)^-1 h_LS`` with the scenario's covariance ``R`` (estimated from
  ``--cov-grids`` more independent grids: the reference a receiver cannot have);
* ``lmmse-mismatch`` — the same with a covariance that is not the scenario's: the other
  environment at the same carrier (UMi <-> InH), for the link the receiver's robust uniform
  power-delay profile over the cyclic prefix (:func:`semradio.dsp.ofdm.estimation.smooth`); none
  for the RIS cascade;
* ``diffusion`` — the one-step (Tweedie) estimate ``D(h_LS, v)`` of the scenario's checkpoint;
* ``diffusion-ms`` — the mean of ``--samples`` draws of the ancestral sampler over ``--steps``
  network calls (:mod:`semradio.dsp.ofdm.diffusion`).

Checks written to the JSON: the diffusion estimator's gain over LS at every SNR <= 10 dB (>= 3 dB
asked), its gap to ``lmmse-true`` (<= 1 dB asked) and to ``lmmse-mismatch``. Also the time per
call of the link's estimator (one burst, and 64 bursts in one call) on this machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from semradio.runtime.arguments import OneLineParser

#: Scenario -> the scenario whose covariance is the mismatched one ("pdp": the uniform PDP).
MISMATCH = {"umi-28": "inh-28", "inh-28": "umi-28", "umi-73": "inh-73", "inh-73": "umi-73", "tdl-link": "pdp"}
#: The shipped scenarios (a checkpoint chest_<scenario without dashes> each).
DEFAULT_SCENARIOS = ("umi-28", "umi-73", "inh-28", "inh-73", "ris-28", "tdl-link")
ESTIMATORS = ("ls", "lmmse-true", "lmmse-mismatch", "diffusion", "diffusion-ms")
TEST_SEED = 424_242
COV_SEED = 777_777


def _noisy(h: np.ndarray, v: float, rng: np.random.Generator) -> np.ndarray:
    return h + (rng.standard_normal(h.shape) + 1j * rng.standard_normal(h.shape)) * math.sqrt(v / 2.0)


def _pdp_estimate(y: np.ndarray, v: float) -> np.ndarray:
    """The link receiver's robust LMMSE (uniform PDP over the CP) on (n, 1, 52) LTS grids."""
    from semradio.dsp.ofdm.estimation import smooth
    from semradio.dsp.ofdm.numerology import OFDMConfig

    cfg = OFDMConfig()
    return np.stack([smooth(cfg, "lmmse", v, row[0])[0][None, :] for row in y])


def evaluate_scenario(name: str, model: str | None, snrs: list[float], n: int, cov_grids: int, steps: int,
                      samples: int, device: str = "auto") -> list[dict[str, Any]]:
    """Rows ``{scenario, snr_db, estimator, nmse_db}`` of one scenario (module docstring)."""
    from semradio.dsp.ofdm import diffusion as dm
    from semradio.dsp.ofdm.channel_grids import generate_grids
    from semradio.models.channel_denoiser import DiffusionChannelEstimator
    from semradio.models.training.chest import default_name

    est = DiffusionChannelEstimator.load(model or default_name(name), device=device)
    if est.scenario != name:
        print(f"eval chest: note: {model} was trained on {est.scenario}, evaluated on {name}", file=sys.stderr)
    h = generate_grids(name, n, seed=TEST_SEED)
    flat = h.reshape(n, -1).astype(np.complex128)
    cov = dm.covariance(generate_grids(name, cov_grids, seed=COV_SEED).reshape(cov_grids, -1))
    other = MISMATCH.get(name)
    cov_mis = None
    if other not in (None, "pdp"):
        cov_mis = dm.covariance(generate_grids(other, cov_grids, seed=COV_SEED).reshape(cov_grids, -1))
    rng = np.random.default_rng(1)
    rows: list[dict[str, Any]] = []
    for snr in snrs:
        v = 10.0 ** (-snr / 10.0)
        y = _noisy(flat, v, rng)
        out = {"ls": y, "lmmse-true": dm.lmmse(y, cov, v)}
        if cov_mis is not None:
            out["lmmse-mismatch"] = dm.lmmse(y, cov_mis, v)
        elif other == "pdp":
            out["lmmse-mismatch"] = _pdp_estimate(y.reshape(h.shape), v).reshape(n, -1)
        out["diffusion"] = est.estimate(y.reshape(h.shape), v)[0].reshape(n, -1)
        out["diffusion-ms"] = est.estimate(y.reshape(h.shape), v, method="ancestral", steps=steps, samples=samples,
                                           rng=np.random.default_rng(2))[0].reshape(n, -1)
        for k in ESTIMATORS:
            if k in out:
                rows.append({"scenario": name, "snr_db": snr, "estimator": k, "nmse_db": round(dm.nmse_db(out[k], flat), 3)})
    return rows


def checks(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per scenario: the diffusion estimator's least gain over LS at SNR <= 10 dB, its largest
    excess over true-covariance LMMSE, and its least gain over the mismatched LMMSE (dB)."""
    out: dict[str, Any] = {}
    for sc in dict.fromkeys(r["scenario"] for r in rows):
        t = {(r["snr_db"], r["estimator"]): r["nmse_db"] for r in rows if r["scenario"] == sc}
        snrs = sorted({s for s, _ in t})
        low = [s for s in snrs if s <= 10.0]
        gain_ls = min(t[(s, "ls")] - t[(s, "diffusion")] for s in low) if low else None
        gap_true = max(t[(s, "diffusion")] - t[(s, "lmmse-true")] for s in snrs)
        mis = [t[(s, "lmmse-mismatch")] - t[(s, "diffusion")] for s in snrs if (s, "lmmse-mismatch") in t]
        out[sc] = {"min_gain_over_ls_db_at_snr_le_10": None if gain_ls is None else round(float(gain_ls), 2),
                   "max_gap_to_lmmse_true_db": round(float(gap_true), 2),
                   "min_gain_over_lmmse_mismatch_db": round(float(min(mis)), 2) if mis else None,
                   "ok": bool(gain_ls is not None and gain_ls >= 3.0 and gap_true <= 1.0)}
    return out


def timing(model: str = "chest_tdllink", device: str = "auto", reps: int = 50) -> dict[str, float]:
    """Median ms per ``estimate`` call of ``model`` for 1 grid and for 64 grids."""
    from semradio.models.channel_denoiser import DiffusionChannelEstimator

    est = DiffusionChannelEstimator.load(model, device=device)
    rows, k = est.shape
    rng = np.random.default_rng(0)
    out = {}
    for b in (1, 64):
        x = (rng.standard_normal((b, rows, k)) + 1j * rng.standard_normal((b, rows, k))).astype(np.complex64)
        est.estimate(x, 0.1)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            est.estimate(x, 0.1)
            ts.append(time.perf_counter() - t0)
        out[f"ms_per_call_batch{b}"] = round(1e3 * float(np.median(ts)), 3)
        out[f"ms_per_burst_batch{b}"] = round(1e3 * float(np.median(ts)) / b, 4)
    out["device"] = str(est.device)
    return out


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    """One panel per scenario: NMSE (dB) vs pilot SNR (dB) of every estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scen = list(dict.fromkeys(r["scenario"] for r in rows))
    cols = min(3, len(scen))
    nrow = math.ceil(len(scen) / cols)
    fig, axes = plt.subplots(nrow, cols, figsize=(4.2 * cols, 3.4 * nrow), squeeze=False)
    style = {"ls": ("k", "o", "-"), "lmmse-true": ("tab:blue", "s", "--"), "lmmse-mismatch": ("tab:orange", "^", ":"),
             "diffusion": ("tab:red", "D", "-"), "diffusion-ms": ("tab:purple", "v", "-.")}
    for i, sc in enumerate(scen):
        ax = axes[i // cols][i % cols]
        for k in ESTIMATORS:
            pts = [(r["snr_db"], r["nmse_db"]) for r in rows if r["scenario"] == sc and r["estimator"] == k]
            if pts:
                c, m, ls = style[k]
                ax.plot(*zip(*pts), color=c, marker=m, linestyle=ls, label=k, markersize=4)
        ax.set_title(sc)
        ax.set_xlabel("pilot SNR (dB)")
        ax.set_ylabel("NMSE (dB)")
        ax.grid(True, alpha=0.3)
    for j in range(len(scen), nrow * cols):
        axes[j // cols][j % cols].axis("off")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None, prog: str = "semradio eval chest") -> int:
    """``semradio eval chest ...`` (module docstring)."""
    from semradio.dsp.ofdm.channel_grids import SCENARIOS

    p = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", nargs="+", default=list(DEFAULT_SCENARIOS), choices=list(SCENARIOS))
    p.add_argument("--models", nargs="+", default=None, metavar="NAME",
                   help="checkpoint per scenario (default chest_<scenario without dashes>)")
    p.add_argument("--snr-db", type=float, nargs="+", default=[-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0])
    p.add_argument("--n", type=int, default=2000, help="test grids per scenario")
    p.add_argument("--cov-grids", type=int, default=20000, help="grids the true covariance is estimated from")
    p.add_argument("--steps", type=int, default=8, help="multi-step estimate: network calls")
    p.add_argument("--samples", type=int, default=4, help="multi-step estimate: draws averaged")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default=str(Path("out") / "chest"), help="output folder (default out/chest)")
    p.add_argument("--no-timing", action="store_true", help="skip the ms-per-burst measurement")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(argv)
    if args.n < 1 or args.cov_grids < 2 or args.steps < 1 or args.samples < 1:
        p.error("--n, --steps and --samples must be >= 1 and --cov-grids >= 2")
    if args.models is not None and len(args.models) != len(args.scenarios):
        p.error("--models needs one name per scenario")
    if not all(math.isfinite(s) for s in args.snr_db):
        p.error("--snr-db values must be finite")
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i, sc in enumerate(args.scenarios):
        model = args.models[i] if args.models else None
        rows += evaluate_scenario(sc, model, list(args.snr_db), args.n, args.cov_grids, args.steps, args.samples,
                                  args.device)
        print(f"eval chest: {sc} done ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    with open(out_dir / "chest_nmse.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=("scenario", "snr_db", "estimator", "nmse_db"))
        w.writeheader()
        w.writerows(rows)
    plot(rows, out_dir / "chest_nmse.png")
    summary: dict[str, Any] = {"checks": checks(rows), "csv": str(out_dir / "chest_nmse.csv"),
                               "png": str(out_dir / "chest_nmse.png"), "n": args.n, "steps": args.steps,
                               "samples": args.samples, "seconds": round(time.perf_counter() - t0, 1)}
    if not args.no_timing and "tdl-link" in args.scenarios:
        idx = args.scenarios.index("tdl-link")
        summary["timing"] = timing(args.models[idx] if args.models else "chest_tdllink", args.device)
    (out_dir / "chest_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    if args.json:
        print(json.dumps({"rows": rows, **summary}, indent=1))
    else:
        for sc in args.scenarios:
            print(f"{sc}:")
            print("  SNR dB  " + "  ".join(f"{k:>14}" for k in ESTIMATORS))
            for s in args.snr_db:
                t = {r["estimator"]: r["nmse_db"] for r in rows if r["scenario"] == sc and r["snr_db"] == s}
                print(f"  {s:6.1f}  " + "  ".join(f"{t[k]:14.2f}" if k in t else f"{'-':>14}" for k in ESTIMATORS))
            print(f"  checks: {summary['checks'][sc]}")
        if "timing" in summary:
            print(f"timing: {summary['timing']}")
        print(f"wrote {summary['csv']} and {summary['png']}")
    return 0


__all__ = ["evaluate_scenario", "checks", "timing", "plot", "main", "MISMATCH", "DEFAULT_SCENARIOS", "ESTIMATORS"]
