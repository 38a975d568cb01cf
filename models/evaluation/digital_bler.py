"""BLER vs SNR of each MCS over AWGN, checked against the normal approximation.

    semradio digital bler --mcs 3 7 15 20 27 --channel-uses 8192 --out out/digital_bler

Per MCS: the transport block of ``--channel-uses`` complex symbols (8,192 = a 3x128x128 image at
CBR 1/6; :func:`semradio.dsp.digital.mcs.tb_layout`) with random bits, through
:class:`~semradio.dsp.digital.transport.TransportLink` (Sionna PHY 5G TB + LDPC, QAM with exact
LLRs) over AWGN (``y = x + n``, ``n ~ CN(0, 10^(-SNR/10))``, unit-power symbols), seeded.

SNR points: from the normal-approximation threshold (:func:`semradio.dsp.digital.bounds.threshold_snr`,
BLER 1e-2) minus ``--below`` dB, in steps of ``--step`` dB, until a point ends with at most
``--stop-errors`` errors out of ``--max-tbs`` TBs; each point stops early after ``--errors``
errors (a point far above 1e-2 needs few TBs). The SNR at BLER 1e-2 of the simulation is read
off the measured curve (:func:`~semradio.dsp.digital.bounds.snr_at`, log-linear between the
points around 1e-2; a point without errors counts as 0.5/TBs) and compared with the bound's: the
check passes when it is within ``--tolerance-db`` (1 dB) of the normal approximation; the JSON
also says whether both ends of the bracket (the last SNR above 1e-2 and the first at or below
it) are (``bracket_within_tolerance``), the stricter reading at the step's resolution. With ``--max-tbs`` TBs the lowest
BLER a point resolves is 1/max_tbs; the JSON keeps the counts of every point.

Writes ``bler.csv``, ``bler.json`` and ``bler.png`` (simulated markers, bound lines).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from semradio.runtime.arguments import OneLineParser


def simulate_point(link: Any, snr_db: float, rng: np.random.Generator, max_tbs: int, errors: int,
                   batch: int) -> tuple[int, int]:
    """``(tb errors, TBs)`` at one SNR: batches of random TBs until ``errors`` errors or
    ``max_tbs`` TBs."""
    no = 10.0 ** (-snr_db / 10.0)
    n_err = n_tb = 0
    while n_tb < max_tbs and n_err < errors:
        b = min(batch, max_tbs - n_tb)
        bits = rng.integers(0, 2, (b, link.tb_bits), dtype=np.uint8)
        x = link.encode(bits)
        noise = np.sqrt(no / 2) * (rng.standard_normal(x.shape) + 1j * rng.standard_normal(x.shape))
        b_hat, ok = link.decode((x + noise).astype(np.complex64), None, no)
        # a TB counts as an error if its CRC fails or (undetected) its bits differ
        wrong = ~ok | np.any(b_hat != bits, axis=1)
        n_err += int(wrong.sum())
        n_tb += b
    return n_err, n_tb


def run_mcs(mcs: int, args: argparse.Namespace) -> dict[str, Any]:
    """Simulated and bound curves and the 1e-2 check of one MCS."""
    from semradio.dsp.digital.bounds import normal_approx_tb, threshold_snr
    from semradio.dsp.digital.mcs import mcs_label, tb_layout
    from semradio.dsp.digital.transport import transport_link

    lay = tb_layout(mcs, args.channel_uses)
    blocks = [(lay.cb_bits, n) for n in lay.cw_lengths]
    link = transport_link(lay, args.iterations)
    ref = threshold_snr(blocks, lay.qm, args.target, symbols=args.bound_symbols)
    rng = np.random.default_rng(args.seed + mcs)
    points = []
    snr = round((ref - args.below) / args.step) * args.step
    t0 = time.perf_counter()
    while snr <= ref + args.max_above:
        e, n = simulate_point(link, snr, rng, args.max_tbs, args.errors, args.batch)
        points.append({"snr_db": snr, "tb_errors": e, "tbs": n, "bler": e / n,
                       "bound": normal_approx_tb(blocks, lay.qm, snr, args.bound_symbols)})
        print(f"bler: MCS {mcs:2d} SNR {snr:6.2f} dB: {e:4d}/{n:4d} = {e / n:.4f} (bound "
              f"{points[-1]['bound']:.2e})", file=sys.stderr, flush=True)
        if n >= args.max_tbs and e <= args.stop_errors:
            break
        snr = round(snr + args.step, 4)
    return {"mcs": mcs, "label": mcs_label(mcs), "qm": lay.qm, "rate": lay.rate, "tb_bits": lay.tb_bits,
            "coded_bits": lay.coded_bits, "num_cbs": lay.num_cbs, "cb_bits": lay.cb_bits,
            "cw_lengths": list(lay.cw_lengths), "iterations": args.iterations,
            "bound_snr_db_at_target": round(ref, 3), "seconds": round(time.perf_counter() - t0, 1), "points": points,
            **crossing(points, ref, args.target, args.tolerance_db)}


def crossing(points: list[dict[str, Any]], ref: float, target: float, tolerance_db: float) -> dict[str, Any]:
    """Where the simulated curve crosses ``target``: the bracket (last SNR above it, first SNR at
    or below it), the log-linear interpolation inside it (a point with no error counts as
    0.5/TBs), the gap to the bound's ``ref`` and whether the whole bracket is within
    ``tolerance_db`` of it."""
    from semradio.dsp.digital.bounds import snr_at

    pts = sorted(points, key=lambda p: p["snr_db"])
    s = np.array([p["snr_db"] for p in pts])
    b = np.array([max(p["bler"], 0.5 / p["tbs"]) for p in pts])
    sim = snr_at(target, s, b)
    above = [p["snr_db"] for p in pts if p["bler"] > target]
    below = [p["snr_db"] for p in pts if p["bler"] <= target and (not above or p["snr_db"] > max(above))]
    lo, hi = (max(above) if above else None), (min(below) if below else None)
    both = None if lo is None or hi is None else bool(abs(lo - ref) <= tolerance_db and abs(hi - ref) <= tolerance_db)
    return {"sim_snr_db_at_target": None if sim is None else round(sim, 3),
            "sim_bracket_db": [lo, hi], "gap_db": None if sim is None else round(sim - ref, 3),
            "within_tolerance": None if sim is None else bool(abs(sim - ref) <= tolerance_db),
            "bracket_within_tolerance": both}


def plot(results: list[dict[str, Any]], path: Path, target: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semradio.dsp.digital.bounds import normal_approx_tb

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    cmap = plt.get_cmap("viridis")
    for i, r in enumerate(results):
        color = cmap(i / max(1, len(results) - 1))
        pts = r["points"]
        s = np.array([p["snr_db"] for p in pts])
        b = np.array([p["bler"] for p in pts])
        ax.semilogy(s[b > 0], b[b > 0], "o-", color=color, label=f"{r['label']}, 5G LDPC {r['iterations']} it.")
        grid = np.linspace(r["bound_snr_db_at_target"] - 1.5, r["bound_snr_db_at_target"] + 0.7, 23)
        blocks = [(r["cb_bits"], n) for n in r["cw_lengths"]]
        ax.semilogy(grid, [max(normal_approx_tb(blocks, r["qm"], g, 50_000), 1e-6) for g in grid], "--",
                    color=color, alpha=0.7)
    ax.axhline(target, color="k", lw=0.8, alpha=0.5)
    ax.set_ylim(1e-3, 1.05)
    ax.set_xlabel("SNR Es/N0 (dB)")
    ax.set_ylabel("TB error rate")
    ax.set_title("BLER of 5G TBs (8,192 channel uses), AWGN: simulated (o) vs normal approximation (--)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def add_arguments(p: argparse.ArgumentParser) -> None:
    from semradio.dsp.digital.mcs import DEFAULT_MCS

    p.add_argument("--mcs", type=int, nargs="+", default=list(DEFAULT_MCS))
    p.add_argument("--channel-uses", type=int, default=8192, help="complex symbols per TB (default 8192)")
    p.add_argument("--iterations", type=int, default=20, help="LDPC BP iterations")
    p.add_argument("--target", type=float, default=1e-2)
    p.add_argument("--tolerance-db", type=float, default=1.0)
    p.add_argument("--step", type=float, default=0.25)
    p.add_argument("--below", type=float, default=0.25, help="first SNR: the bound's threshold minus this (dB)")
    p.add_argument("--max-above", type=float, default=3.0, help="last SNR: the bound's threshold plus this (dB)")
    p.add_argument("--max-tbs", type=int, default=200)
    p.add_argument("--errors", type=int, default=20)
    p.add_argument("--stop-errors", type=int, default=1)
    p.add_argument("--batch", type=int, default=20)
    p.add_argument("--bound-symbols", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path("out") / "digital_bler"))
    p.add_argument("--add-snr", type=float, nargs="+", default=None, metavar="SNR",
                   help="simulate these SNRs (dB) for each --mcs and merge them into OUT/bler.json's curves "
                        "(the other MCS are kept)")
    p.add_argument("--report", action="store_true",
                   help="recompute the summary and plot from OUT/bler.json without simulating")
    p.add_argument("--json", action="store_true")


def main(argv: list[str] | None = None, prog: str = "semradio digital bler") -> int:
    p = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    if args.report or args.add_snr:
        prev = json.loads((out / "bler.json").read_text())
        results = prev["results"] if args.add_snr else [r for r in prev["results"] if r["mcs"] in args.mcs]
        for r in [r for r in results if r["mcs"] in args.mcs] if args.add_snr else []:
            from semradio.dsp.digital.bounds import normal_approx_tb
            from semradio.dsp.digital.mcs import tb_layout
            from semradio.dsp.digital.transport import transport_link

            lay = tb_layout(r["mcs"], args.channel_uses)
            blocks = [(lay.cb_bits, n) for n in lay.cw_lengths]
            rng = np.random.default_rng(args.seed + 1000 + r["mcs"])
            for snr in args.add_snr:
                e, n = simulate_point(transport_link(lay, args.iterations), snr, rng, args.max_tbs, args.errors,
                                      args.batch)
                r["points"] = [q for q in r["points"] if q["snr_db"] != snr] + [
                    {"snr_db": snr, "tb_errors": e, "tbs": n, "bler": e / n,
                     "bound": normal_approx_tb(blocks, lay.qm, snr, args.bound_symbols)}]
                r["points"].sort(key=lambda q: q["snr_db"])
                print(f"bler: MCS {r['mcs']:2d} SNR {snr:6.2f} dB: {e:4d}/{n:4d} = {e / n:.4f}", file=sys.stderr,
                      flush=True)
        for r in results:
            r.update(crossing(r["points"], r["bound_snr_db_at_target"], args.target, args.tolerance_db))
    else:
        for m in args.mcs:
            results.append(run_mcs(m, args))
            (out / "bler.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1) + "\n")
    (out / "bler.json").write_text(json.dumps({"args": vars(args), "results": results}, indent=1) + "\n")
    with (out / "bler.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mcs", "snr_db", "tb_errors", "tbs", "bler", "normal_approx"])
        for r in results:
            for q in r["points"]:
                w.writerow([r["mcs"], q["snr_db"], q["tb_errors"], q["tbs"], q["bler"], f"{q['bound']:.4g}"])
    plot(results, out / "bler.png", args.target)
    summary = [{k: r[k] for k in ("mcs", "label", "tb_bits", "num_cbs", "bound_snr_db_at_target",
                                  "sim_snr_db_at_target", "sim_bracket_db", "gap_db", "within_tolerance",
                                  "bracket_within_tolerance")}
               for r in results]
    if args.json:
        print(json.dumps(summary))
    else:
        for s in summary:
            print(f"{s['label']:28s} TBS {s['tb_bits']:6d} ({s['num_cbs']} CBs): BLER 1e-2 at "
                  f"{s['sim_snr_db_at_target']} dB simulated (between {s['sim_bracket_db'][0]} and "
                  f"{s['sim_bracket_db'][1]} dB), {s['bound_snr_db_at_target']} dB normal approx., "
                  f"gap {s['gap_db']} dB: {'within' if s['within_tolerance'] else 'NOT within'} tolerance "
                  f"(bracket {'within' if s['bracket_within_tolerance'] else 'not within'})")
    return 0
