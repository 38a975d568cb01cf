"""``semradio sweep``: a flowgraph over a grid (channel x SNR x CBR x denoiser x ... x seed), on
one machine or a Ray cluster; results go to a file-backed table, then CSV, JSON and a PNG plot.

    semradio sweep                                          # AWGN + Rayleigh, CBR 1/6 + 1/12
    semradio sweep --channels awgn --cbr 1/6 --snr-db 0 10 20
    semradio sweep --channels rayleigh --cbr 1/6 --denoisers none cddm --out out/sweep_cddm
    semradio sweep --data mnist --channels awgn --cbr 1/16 --codec jscc_mnist_awgn_cbr1-16
    semradio sweep GRID.toml --workers 2                    # the grid of a file, 2 processes
    semradio sweep GRID.toml --engine ray                   # a local Ray (one actor per worker)
    semradio sweep GRID.toml --engine ray --address HOST:6379   # an existing Ray cluster
    semradio sweep --plot-only --out out/sweep              # CSV/JSON/PNG again from the table

(``python tools/sweep.py ...`` is the same command.) A grid file names the builder (default
``semradio.cli.sweep:jscc_point``, the JSCC chain flowgraph of ``flowgraphs/jscc_rayleigh.py``:
:mod:`semradio.blocks.hier.jscc_chain`, one typed
:class:`~semradio.blocks.hier.jscc_chain.JSCCChainConfig` per point, one pass over the held-out
data, the MetricSink read), its fixed parameters (``[fixed]``) and the axes (``[grid]``); see
``flowgraphs/sweep_denoisers.toml``. The command-line axes (``--channels``, ``--snr-db``,
``--cbr``, ``--denoisers``) build the same grid, or override a file's axes.

Every point is seeded from the grid (:func:`semradio.cli.sweep_engine.point_seed`: the grid's
``--seed`` and the point's parameters, the denoiser left out so every denoiser sees the same
channel draws): its numbers do not depend on the engine, the worker or the order. Results append
to ``OUT/sweep.sqlite`` (``--table``; the grid, the code version and each point's checkpoint
hashes with them); a rerun skips the points already done, so an interrupted sweep is finished by
running it again. A failing point is retried once (``--retries``), then reported (exit status 1).
Engines: ``--engine local`` (default: a process pool of ``--workers N`` processes, each loading
its models once) or ``--engine ray`` (``pip install 'semradio[ray]'``; one actor per worker,
models loaded once per actor; without ``--address`` it starts a local Ray).

The plot (PSNR and SSIM vs SNR, in the style of the seeds' figures) also shows the published
Deep JSCC CIFAR-10 AWGN points (Bourtsoulatze, Burth Kurka, Gündüz, IEEE TCCN 2019, as
reproduced in the literature) for the CBRs in the grid, labelled as such: they are a reference
on other data (CIFAR-10 32x32 images), not a measurement of this code.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

from semradio.cli.sweep_engine import ENGINES, Grid, Outcome, ResultTable, run_points, sweep_builder
from semradio.models.arguments import checkpoint_ref, dataset_spec
from semradio.runtime.arguments import (OneLineParser, existing_file, fail, finite_float, frame_count, nonnegative_int,
                                        positive_int, ratio)
#: Published Deep JSCC CIFAR-10 PSNR (dB) over AWGN at SNR 0/10/20 dB, by CBR label.
PUBLISHED_DEEP_JSCC_CIFAR10 = {
    "1/6": {0.0: 25.4, 10.0: 31.1, 20.0: 34.5},
    "1/12": {0.0: 23.2, 10.0: 27.9, 20.0: 29.8},
}

CSV_FIELDS = ("data", "channel", "cbr", "snr_db", "denoiser", "seed", "codec", "images", "psnr_db", "ssim", "mse_db",
              "ms_ssim",
              "images_per_s", "latency_p50_ms", "latency_p99_ms")


DEFAULT_SNR_DB = [-5, 0, 2.5, 5, 7.5, 10, 12.5, 15, 17.5, 20, 25]
#: The flowgraph settings a command line fixes for every point (option -> JSCCChainConfig field).
FIXED_OPTIONS = ("data", "codec", "batch", "frames", "device")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("grid", nargs="?", default=None, metavar="GRID.toml", type=existing_file,
                   help="grid file: builder, [fixed] parameters, [grid] axes, seed (default: the grid of the options)")
    p.add_argument("--snr-db", type=finite_float, nargs="+", default=None, help=f"SNR axis (default {DEFAULT_SNR_DB})")
    p.add_argument("--channels", nargs="+", default=None, choices=("awgn", "rayleigh", "rician"),
                   help="channel axis (default awgn rayleigh)")
    p.add_argument("--cbr", nargs="+", default=None, type=ratio, help="CBR axis (default 1/6 1/12)")
    p.add_argument("--data", default=None, type=dataset_spec, help="dataset (default natural32)")
    p.add_argument("--codec", default=None, type=checkpoint_ref("codec"),
                   help="one codec for every point (default: the shipped one per point)")
    p.add_argument("--batch", type=positive_int, default=None, help="images per frame (default 64)")
    p.add_argument("--frames", type=frame_count, default=None, help="frames per point (default 0: one pass over the "
                                                            "held-out data)")
    p.add_argument("--device", default=None, help="auto (default), cpu, cuda")
    p.add_argument("--seed", type=int, default=None, help="the grid's seed; every point's seed derives from it "
                                                          "(default 0)")
    p.add_argument("--out", default=str(Path("out") / "sweep"), help="output folder (default out/sweep)")
    p.add_argument("--table", default=None, help="results table (default OUT/sweep.sqlite)")
    p.add_argument("--engine", default="local", choices=ENGINES, help="local: a process pool; ray: Ray actors")
    p.add_argument("--workers", type=int, default=1, help="worker processes / Ray actors (ray, 0: one per CPU of "
                                                          "the cluster)")
    p.add_argument("--threads", type=positive_int, default=None,
                   help="torch and BLAS threads per worker (default: cores / workers locally, 1 on a cluster)")
    p.add_argument("--address", default=None, help="ray: join the cluster at this address (ray start --head prints "
                                                   "it; default: start a local Ray)")
    p.add_argument("--retries", type=nonnegative_int, default=1, help="retries of a failing point (default 1)")
    p.add_argument("--rerun", action="store_true", help="run every point again, even those already in the table")
    p.add_argument("--plot-only", action="store_true", help="no run: CSV, JSON and plot from the table")
    p.add_argument("--no-plot", action="store_true")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    from semradio.blocks.denoisers.registry import CHAIN_DENOISERS

    p.add_argument("--denoisers", nargs="+", default=None, metavar="DENOISER",
                   help=f"denoisers between equalizer and decoder, each a curve: {', '.join(CHAIN_DENOISERS)} or a "
                        f"registered plugin block (cddm: the shipped CDDM and its fine-tuned decoder; default none)")


def grid_of(args: argparse.Namespace) -> Grid:
    """The grid of a file (``args.grid``) with the command line's axes and fixed options on top,
    or of the command line alone (the defaults of the former ``semradio sweep``)."""
    if args.grid:
        try:
            grid = Grid.from_toml(args.grid)
        except (OSError, ValueError) as exc:
            fail("semradio sweep", f"argument GRID.toml: {args.grid!r}: {exc}")
    else:
        grid = Grid(axes={"channel": ["awgn", "rayleigh"], "cbr": ["1/6", "1/12"], "snr_db": list(DEFAULT_SNR_DB),
                          "denoiser": ["none"]},
                    fixed={"data": "natural32", "batch": 64, "frames": 0, "device": "auto"})
    for opt, axis in (("channels", "channel"), ("cbr", "cbr"), ("snr_db", "snr_db"), ("denoisers", "denoiser")):
        v = getattr(args, opt)
        if v is not None:
            grid.axes[axis] = [float(x) for x in v] if axis == "snr_db" else list(v)
    if "snr_db" in grid.axes:
        grid.axes["snr_db"] = [float(x) for x in grid.axes["snr_db"]]
    for opt in FIXED_OPTIONS:
        v = getattr(args, opt)
        if v is not None:
            grid.fixed[opt] = v
    if args.seed is not None:
        grid.seed = args.seed
    return grid


@sweep_builder
def jscc_point(params: dict[str, Any]) -> dict[str, Any]:
    """The default builder: the JSCC chain flowgraph (:mod:`semradio.blocks.hier.jscc_chain`)
    with ``params`` as its :class:`JSCCChainConfig` (unknown keys are an error), run to the end
    of its frames. Returns the metrics and ``checkpoints`` (name -> SHA-256 of every checkpoint
    the point used)."""
    import dataclasses

    from semradio.blocks.hier import jscc_chain
    from semradio.cli.sweep_engine import checkpoint_hashes

    fields = {f.name for f in dataclasses.fields(jscc_chain.JSCCChainConfig)}
    unknown = set(params) - fields
    if unknown:
        raise ValueError(f"jscc_point: unknown parameters {sorted(unknown)}; JSCCChainConfig has {sorted(fields)}")
    cfg = jscc_chain.JSCCChainConfig(**params)
    cfg.snr_db = float(cfg.snr_db)
    cfg.cbr = str(cfg.cbr)
    fg, blocks = jscc_chain.build(cfg)
    t0 = time.perf_counter()
    fg.run(timeout=cfg.timeout)
    out = jscc_chain.summarize(cfg, fg, blocks, time.perf_counter() - t0)
    den = blocks.get("denoiser")
    names = [out["codec"], out["decoder_codec"], getattr(den, "model_name", None)]
    return {"codec": out["codec"], "decoder_codec": out["decoder_codec"],
            **{k: out[k] for k in ("images", "psnr_db", "ssim", "mse_db", "ms_ssim", "images_per_s",
                                   "latency_p50_ms", "latency_p99_ms")},
            "checkpoints": checkpoint_hashes(names)}


def sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run the grid's missing points (all with ``--rerun``) and return every point of the grid
    that is in the table, as flat rows (parameters + results)."""
    grid = grid_of(args)
    points = grid.points()
    table = ResultTable(args.table or Path(args.out) / "sweep.sqlite")
    try:
        if args.plot_only:
            return table.rows([p.key for p in points])
        done = set() if args.rerun else table.done_keys()
        todo = [p for p in points if p.key not in done]
        print(f"sweep: {len(points)} points, {len(points) - len(todo)} already in {table.path}, {len(todo)} to run "
              f"({args.engine}, {args.workers} worker{'s' if args.workers != 1 else ''})", file=sys.stderr)
        axes = list(grid.axes)
        run = table.start_run(grid, args.engine, args.workers)
        failed: list[Outcome] = []
        t0 = time.perf_counter()
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="sweep", unit="pt", file=sys.stderr, disable=args.no_progress or not todo,
                   dynamic_ncols=True)

        def on_outcome(o: Outcome) -> None:
            table.record(run, o.point, "done" if o.ok else "failed", o.attempts, o.result, o.error, o.seconds,
                         o.worker)
            if o.ok:
                r = o.result or {}
                psnr = r.get("psnr_db")
                msg = f"sweep: {o.point.label(axes)}: " + (
                    f"PSNR {psnr:.2f} dB, SSIM {r.get('ssim', float('nan')):.4f} ({r.get('images')} images)"
                    if isinstance(psnr, (int, float)) else canonical_short(r))
            else:
                failed.append(o)
                msg = f"sweep: {o.point.label(axes)}: FAILED after {o.attempts} attempts: {o.error}"
            bar.write(msg, file=sys.stderr)
            bar.update(1)

        try:
            outcomes = run_points(todo, grid.builder, args.engine, args.workers, args.address, args.threads,
                                  args.retries, on_outcome)
        finally:
            bar.close()
        seconds = time.perf_counter() - t0
        table.finish_run(run, len(outcomes), len(failed), seconds)
        print(f"sweep: ran {len(outcomes)} points in {seconds:.1f} s", file=sys.stderr)
        if failed:
            print(f"sweep: {len(failed)} point(s) failed (rerun the command to retry them):\n" + "\n".join(
                f"  {o.point.label(axes)}: {o.error}" for o in failed), file=sys.stderr)
        rows = table.rows([p.key for p in points])
        args._failed = len(failed)
        args._seconds = seconds
        return rows
    finally:
        table.close()


def canonical_short(r: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in list(r.items())[:6] if k != "checkpoints")


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    """PSNR and SSIM vs SNR, one curve per (channel, CBR), plus the published reference points."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_p, ax_s) = plt.subplots(1, 2, figsize=(11, 4.2))
    markers = {"awgn": "o", "rayleigh": "s", "rician": "^"}
    colors = {"awgn": "tab:blue", "rayleigh": "tab:orange", "rician": "tab:green"}
    styles = {"1/6": "-", "1/12": "--"}
    curves: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        curves.setdefault((r["channel"], r["cbr"], r.get("denoiser", "none")), []).append(r)
    dens = sorted({d for _, _, d in curves} - {"none"})
    # one denoiser: the channel's colour, dash-dot; several: one colour each (channel by marker)
    den_colors = {d: plt.get_cmap("tab10")(3 + i) for i, d in enumerate(dens)} if len(dens) > 1 else {}
    for (channel, cbr, den), pts in curves.items():
        pts = sorted(pts, key=lambda r: r["snr_db"])
        snr = [p["snr_db"] for p in pts]
        label = f"semradio codec ({pts[0]['codec']}), {channel}, CBR {cbr}" + (f", + {den.upper()}" if den != "none" else "")
        kw = dict(marker=markers.get(channel, "x"), linestyle=styles.get(cbr, ":") if den == "none" else "-.",
                  color=den_colors.get(den, colors.get(channel)), label=label, markerfacecolor="none" if den != "none" else None)
        ax_p.plot(snr, [p["psnr_db"] for p in pts], **kw)
        ax_s.plot(snr, [p["ssim"] for p in pts], **kw)
    for cbr in sorted({r["cbr"] for r in rows}):
        ref = PUBLISHED_DEEP_JSCC_CIFAR10.get(cbr)
        if ref and any(r["channel"] == "awgn" for r in rows):
            ax_p.plot(list(ref), list(ref.values()), marker="*", markersize=11, linestyle=styles.get(cbr, ":"),
                      color="k", alpha=0.55, label=f"Deep JSCC (published), CIFAR-10, AWGN, CBR {cbr}")
    ax_p.set_xlabel("SNR (dB)")
    ax_p.set_ylabel("PSNR (dB)")
    ax_s.set_xlabel("SNR (dB)")
    ax_s.set_ylabel("SSIM")
    for ax in (ax_p, ax_s):
        ax.grid(True, alpha=0.4)
    handles, labels = ax_p.get_legend_handles_labels()
    ncol = 2 if len(labels) > 3 else 1
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.06 * (-(-len(labels) // ncol)), 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv: list[str] | None = None, prog: str = "semradio sweep") -> int:
    """Run the grid's missing points, then write ``sweep.csv``, ``sweep.json`` and ``sweep.png``
    under ``--out`` from every point of the grid in the table. Exit status 1 when a point failed.
    ``semradio sweep --digital ...`` is ``semradio digital compare ...`` (the digital baseline next
    to JSCC, CDDM and EECD on one plot; :mod:`semradio.cli.digital_compare`)."""
    if argv and argv[0] == "--digital":
        from semradio.cli.digital_compare import main as digital_main

        return digital_main(argv[1:], prog=f"{prog} --digital")
    parser = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    if args.workers < 0 or (args.workers == 0 and args.engine != "ray"):
        parser.error("--workers must be >= 1 (0: one per CPU, with --engine ray)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        rows = sweep(args)
    except KeyboardInterrupt:
        print("sweep: interrupted; the finished points are in the table, rerun the command to finish", file=sys.stderr)
        return 130
    public = [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]
    write_csv(public, out / "sweep.csv")
    (out / "sweep.json").write_text(json.dumps({"rows": public, "published_deep_jscc_cifar10_awgn": {
        k: {str(s): v for s, v in d.items()} for k, d in PUBLISHED_DEEP_JSCC_CIFAR10.items()},
        "seconds": getattr(args, "_seconds", None), "grid": grid_of(args).as_dict(),
        "checkpoints": {n: h for r in rows for n, h in (r.get("_checkpoints") or {}).items()}}, indent=1) + "\n")
    plotted = False
    if not args.no_plot and public and all(k in r for r in public for k in ("channel", "cbr", "snr_db", "psnr_db")):
        data = public[0].get("data", "natural32")
        plot(public, out / "sweep.png", f"Deep JSCC over the semradio flowgraph — {data} held-out data")
        plotted = True
    print(f"sweep: wrote {out / 'sweep.csv'}" + (f" and {out / 'sweep.png'}" if plotted else ""), file=sys.stderr)
    return 1 if getattr(args, "_failed", 0) else 0
