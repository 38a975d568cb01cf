"""``semradio sweep``: the JSCC flowgraph over a grid of SNR x channel x CBR x denoiser; writes
CSV, JSON and a PNG plot.

    semradio sweep                                          # AWGN + Rayleigh, CBR 1/6 + 1/12
    semradio sweep --channels awgn --cbr 1/6 --snr-db 0 10 20
    semradio sweep --channels rayleigh --cbr 1/6 --denoisers none cddm --out out/sweep_cddm
    semradio sweep --data mnist --channels awgn --cbr 1/16 --codec jscc_mnist_awgn_cbr1-16

(``python tools/sweep.py ...`` is the same command.) Every grid point runs the real flowgraph of
``flowgraphs/jscc_rayleigh.py`` (:mod:`semradio.blocks.hier.jscc_chain`, a typed
:class:`~semradio.blocks.hier.jscc_chain.JSCCChainConfig` per point) over one pass of the
held-out data and reads the MetricSink.
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

#: Published Deep JSCC CIFAR-10 PSNR (dB) over AWGN at SNR 0/10/20 dB, by CBR label.
PUBLISHED_DEEP_JSCC_CIFAR10 = {
    "1/6": {0.0: 25.4, 10.0: 31.1, 20.0: 34.5},
    "1/12": {0.0: 23.2, 10.0: 27.9, 20.0: 29.8},
}

CSV_FIELDS = ("data", "channel", "cbr", "snr_db", "denoiser", "codec", "images", "psnr_db", "ssim", "mse_db", "ms_ssim",
              "images_per_s", "latency_p50_ms", "latency_p99_ms")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--snr-db", type=float, nargs="+", default=[-5, 0, 2.5, 5, 7.5, 10, 12.5, 15, 17.5, 20, 25])
    p.add_argument("--channels", nargs="+", default=["awgn", "rayleigh"], choices=("awgn", "rayleigh", "rician"))
    p.add_argument("--cbr", nargs="+", default=["1/6", "1/12"])
    p.add_argument("--data", default="natural32")
    p.add_argument("--codec", default=None, help="one codec for every point (default: the shipped one per point)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--frames", type=int, default=0, help="frames per point (0: one pass over the held-out data)")
    p.add_argument("--device", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path("out") / "sweep"), help="output folder (default out/sweep)")
    p.add_argument("--no-plot", action="store_true")
    from semradio.blocks.denoisers.registry import CHAIN_DENOISERS

    p.add_argument("--denoisers", nargs="+", default=["none"], metavar="DENOISER",
                   help=f"denoisers between equalizer and decoder, each a curve: {', '.join(CHAIN_DENOISERS)} or a "
                        f"registered plugin block (cddm: the shipped CDDM and its fine-tuned decoder)")


def point_config(args: argparse.Namespace, channel: str, cbr: str, snr: float, denoiser: str) -> Any:
    """The flowgraph's typed config for one grid point."""
    from semradio.blocks.hier.jscc_chain import JSCCChainConfig

    return JSCCChainConfig(channel=channel, snr_db=float(snr), data=args.data, batch=args.batch, frames=args.frames,
                           device=args.device, seed=args.seed, codec=args.codec, cbr=cbr, denoiser=denoiser)


def sweep(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run every grid point; one result row per point."""
    from semradio.blocks.hier import jscc_chain

    rows = []
    points = [(c, r, s, d) for c in args.channels for r in args.cbr for s in args.snr_db
              for d in getattr(args, "denoisers", ["none"])]
    for channel, cbr, snr, den in points:
        out = jscc_chain.run(point_config(args, channel, cbr, snr, den))
        row = {"data": args.data, "channel": channel, "cbr": cbr, "snr_db": snr, "denoiser": den, "codec": out["codec"],
               **{k: out[k] for k in ("images", "psnr_db", "ssim", "mse_db", "ms_ssim", "images_per_s",
                                      "latency_p50_ms", "latency_p99_ms")}}
        rows.append(row)
        print(f"sweep: {channel:8s} CBR {cbr:5s} SNR {snr:6.1f} dB {den:5s}: PSNR {row['psnr_db']:.2f} dB, "
              f"SSIM {row['ssim']:.4f} ({row['images']} images)", file=sys.stderr)
    return rows


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
    """Run the grid, write ``sweep.csv``, ``sweep.json`` and ``sweep.png`` under ``--out``."""
    parser = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rows = sweep(args)
    write_csv(rows, out / "sweep.csv")
    (out / "sweep.json").write_text(json.dumps({"rows": rows, "published_deep_jscc_cifar10_awgn": {
        k: {str(s): v for s, v in d.items()} for k, d in PUBLISHED_DEEP_JSCC_CIFAR10.items()},
        "seconds": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")
    if not args.no_plot:
        plot(rows, out / "sweep.png", f"Deep JSCC over the semradio flowgraph — {args.data} held-out data")
    print(f"sweep: wrote {out / 'sweep.csv'}" + ("" if args.no_plot else f" and {out / 'sweep.png'}"), file=sys.stderr)
    return 0

