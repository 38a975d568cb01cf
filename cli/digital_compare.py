"""PSNR/SSIM vs SNR of the digital baseline (fixed and adaptive MCS) next to JSCC, JSCC+CDDM and
JSCC+EECD on whole images, and the BLER of each MCS on the same links.

    semradio digital compare --size 128 --channels awgn rayleigh --out out/digital

Every point runs a real flowgraph on the held-out photos as whole ``SIZE`` x ``SIZE`` images
(``photos:SIZE``, :func:`semradio.models.data.whole_photos`):

* digital: ``flowgraphs/digital_link.py`` (:mod:`semradio.flowgraphs.digital_link`) per codec,
  MCS and SNR; the adaptive-MCS curve takes, at each SNR, the best fixed-MCS point (genie MCS
  choice per SNR, the usual upper bound of link adaptation), per metric;
* JSCC: the chain of ``flowgraphs/jscc_rayleigh.py`` on the whole images (the codecs are fully
  convolutional), the shipped CBR 1/6 codec of the channel;
* JSCC on the 32x32 tiles (``tiles``): the same codec on the tiles, put back together — the
  reference the denoised curves improve on;
* JSCC + CDDM / EECD: their denoisers are trained on the 1,024-value latents of 32x32 patches, so
  the image is sent as its 32x32 tiles (16 tiles of 512 channel uses = the same 8,192 channel uses
  for a 128x128 image), the tiles are put back together and measured as a whole image.

Channels: AWGN, and Rayleigh block fading with ``--coherence`` symbols per gain (512 by default:
one gain per tile for the tiled chains, 16 independent gains per 128x128 image for JSCC and the
digital TB; the receiver knows h). Every system gets ``k = CBR x 3 H W`` complex channel uses per
image. ``--frames`` passes over the three photos per point (new channel draws each pass).

Writes ``compare.csv``, ``compare.json``, ``compare.png`` (PSNR and SSIM vs SNR, a row per
channel, the concealment level of the mid-grey image as a dotted line) and ``bler_links.png``
(TB error rate of each MCS vs SNR on these links), and prints the checks of the issue: the SNR
where each fixed-MCS curve reaches its error-free quality and its value 3 dB below; JSCC against
the best digital curve at the lowest SNR; the adaptive curve against JSCC at the highest.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from semradio.runtime.arguments import OneLineParser

FIELDS = ("channel", "system", "codec", "mcs", "snr_db", "images", "psnr_db", "ssim", "bler", "tbs", "tb_errors",
          "erasures", "mean_payload_bytes")


def add_arguments(p: argparse.ArgumentParser) -> None:
    from semradio.dsp.digital.mcs import DEFAULT_MCS

    p.add_argument("--size", type=int, default=128, help="image side (whole held-out photos)")
    p.add_argument("--cbr", default="1/6")
    p.add_argument("--channels", nargs="+", default=["awgn", "rayleigh"], choices=("awgn", "rayleigh"))
    p.add_argument("--snr-db", type=float, nargs="+", default=[-3, 0, 3, 6, 9, 12, 15, 18, 21, 24])
    p.add_argument("--mcs", type=int, nargs="+", default=list(DEFAULT_MCS))
    p.add_argument("--codecs", nargs="+", default=["webp"], choices=("jpeg", "jpeg2000", "webp"))
    p.add_argument("--semantic", nargs="*", default=["none", "tiles", "cddm", "eecd1"],
                   help="JSCC curves: none (JSCC alone, whole images), tiles (JSCC alone on the 32x32 tiles), "
                        "cddm, eecd1, eecd2, ve (on the tiles; empty: none)")
    p.add_argument("--coherence", type=int, default=512, help="Rayleigh block fading: symbols per gain")
    p.add_argument("--frames", type=int, nargs=2, default=[1, 3], metavar=("AWGN", "RAYLEIGH"),
                   help="passes over the photos per point, AWGN and Rayleigh (default 1 3)")
    p.add_argument("--iterations", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(Path("out") / "digital"))
    p.add_argument("--replot", action="store_true", help="only redraw the plots and checks from OUT/compare.json")
    p.add_argument("--plot-codec", default=None, help="the codec whose fixed-MCS curves are drawn (default: the first)")
    p.add_argument("--resume", action="store_true",
                   help="keep the measured points of OUT/compare.json whose settings (size, CBR, coherence, "
                        "frames, iterations, seed) equal these, and run only the missing ones")
    p.add_argument("--json", action="store_true")


def _frames(args: argparse.Namespace, channel: str) -> int:
    return args.frames[0] if channel == "awgn" else args.frames[1]


def digital_point(args: argparse.Namespace, channel: str, codec: str, mcs: int, snr: float) -> dict[str, Any]:
    from semradio.flowgraphs.digital_link import DigitalLinkConfig, run

    out = run(DigitalLinkConfig(frames=_frames(args, channel), batch=3, snr_db=snr, cbr=args.cbr, channel=channel,
                                fading="block", coherence=args.coherence, codec=codec, mcs=mcs,
                                iterations=args.iterations, data=f"photos:{args.size}", seed=args.seed))
    return {"channel": channel, "system": "digital", "codec": codec, "mcs": mcs, "snr_db": snr,
            **{k: out[k] for k in ("images", "psnr_db", "ssim", "bler", "tbs", "tb_errors", "erasures")}}


def _tiles(images: np.ndarray, t: int) -> np.ndarray:
    n, c, h, w = images.shape
    return images.reshape(n, c, h // t, t, w // t, t).transpose(0, 2, 4, 1, 3, 5).reshape(-1, c, t, t)


def _untile(tiles: np.ndarray, n: int, h: int, w: int) -> np.ndarray:
    c, t = tiles.shape[1], tiles.shape[2]
    return tiles.reshape(n, h // t, w // t, c, t, t).transpose(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


def system_name(denoiser: str) -> str:
    """``jscc`` (whole images), ``jscc-tiles`` or ``jscc+<denoiser>`` (tiles)."""
    return {"none": "jscc", "tiles": "jscc-tiles"}.get(denoiser, f"jscc+{denoiser}")


def semantic_point(args: argparse.Namespace, channel: str, denoiser: str, snr: float,
                   images: np.ndarray) -> dict[str, Any]:
    """JSCC (whole images) or JSCC + a latent denoiser (32x32 tiles, reassembled)."""
    from PIL import Image

    from semradio.blocks.basic.sinks import CollectSink
    from semradio.blocks.hier.jscc_chain import JSCCChainConfig, build
    from semradio.models import metrics as M

    frames = _frames(args, channel)
    tiled = denoiser != "none"
    common = dict(channel=channel, snr_db=float(snr), cbr=args.cbr, fading="block", device="cpu", seed=args.seed,
                  frames=frames, denoiser="none" if denoiser == "tiles" else denoiser)
    with tempfile.TemporaryDirectory() as tmp:
        if not tiled:
            cfg = JSCCChainConfig(data=f"photos:{args.size}", batch=len(images), **common)
            ref = images
        else:
            ref = _tiles(images, 32)
            for i, tile in enumerate(ref):
                Image.fromarray(np.rint(tile.transpose(1, 2, 0) * 255).astype(np.uint8)).save(f"{tmp}/{i:05d}.png")
            cfg = JSCCChainConfig(data=f"folder:{tmp}", batch=len(ref), **common)
        fg, blocks = build(cfg)
        if channel != "awgn":
            blocks["channel"].set_param("coherence", int(args.coherence))
        collect = CollectSink(name="collect")
        fg.connect(blocks["decoder"], collect)
        fg.run(timeout=3600)
        recs = [np.asarray(f.data, np.float32) for f in sorted(collect.frames, key=lambda f: f.tags["seq"])]
    n, _, h, w = images.shape
    psnr, ssim = [], []
    for r in recs:
        rec = _untile(r, n, h, w) if tiled else r
        psnr.append(M.psnr(images, rec))
        ssim.append(M.ssim(images, rec))
    return {"channel": channel, "system": system_name(denoiser), "codec": "",
            "mcs": "", "snr_db": snr, "images": int(n * len(recs)), "psnr_db": float(np.concatenate(psnr).mean()),
            "ssim": float(np.concatenate(ssim).mean())}


def adaptive_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (channel, codec, SNR): the best fixed-MCS PSNR and, separately, the best SSIM."""
    out = []
    keys = sorted({(r["channel"], r["codec"], r["snr_db"]) for r in rows if r["system"] == "digital"})
    for ch, codec, snr in keys:
        pts = [r for r in rows if r["system"] == "digital" and (r["channel"], r["codec"], r["snr_db"]) == (ch, codec, snr)]
        bp = max(pts, key=lambda r: r["psnr_db"])
        bs = max(pts, key=lambda r: r["ssim"])
        out.append({"channel": ch, "system": "digital-adaptive", "codec": codec, "mcs": bp["mcs"], "snr_db": snr,
                    "images": bp["images"], "psnr_db": bp["psnr_db"], "ssim": bs["ssim"], "ssim_mcs": bs["mcs"]})
    return out


def checks(rows: list[dict[str, Any]], conceal: dict[str, float]) -> dict[str, Any]:
    """The issue's checks, from the measured rows (see the module doc)."""
    res: dict[str, Any] = {"cliff": [], "low_snr": [], "high_snr": []}
    for ch in sorted({r["channel"] for r in rows}):
        dig = [r for r in rows if r["channel"] == ch and r["system"] == "digital"]
        for codec, mcs in sorted({(r["codec"], r["mcs"]) for r in dig}):
            pts = sorted((r for r in dig if (r["codec"], r["mcs"]) == (codec, mcs)), key=lambda r: r["snr_db"])
            clean = [r for r in pts if r["tb_errors"] == 0]
            thr = clean[0]["snr_db"] if clean else None
            below = [r for r in pts if thr is not None and thr - 3.0 <= r["snr_db"] < thr]
            at3 = [r for r in pts if thr is not None and r["snr_db"] <= thr - 3.0]
            low = at3[-1] if at3 else None
            res["cliff"].append({"channel": ch, "codec": codec, "mcs": mcs, "threshold_snr_db": thr,
                                 "snr_3db_below": None if low is None else low["snr_db"],
                                 "psnr_3db_below": None if low is None else low["psnr_db"],
                                 "erasure_rate_3db_below": None if low is None else low["erasures"] / low["images"],
                                 "concealment_psnr_db": conceal["psnr_db"],
                                 "falls_to_concealment": None if low is None else bool(low["erasures"] == low["images"]),
                                 "points_between": len(below)})
        sem = [r for r in rows if r["channel"] == ch and r["system"].startswith("jscc")]
        if not sem or not dig:
            continue
        lo_snr, hi_snr = min(r["snr_db"] for r in rows if r["channel"] == ch), max(r["snr_db"] for r in rows if r["channel"] == ch)
        jscc_lo = {r["system"]: r["psnr_db"] for r in sem if r["snr_db"] == lo_snr}
        dig_lo = max(r["psnr_db"] for r in dig if r["snr_db"] == lo_snr)
        res["low_snr"].append({"channel": ch, "snr_db": lo_snr, "jscc_psnr_db": jscc_lo, "best_digital_psnr_db": dig_lo,
                               "jscc_beats_every_digital": {k: bool(v > dig_lo) for k, v in jscc_lo.items()}})
        ad = [r for r in rows if r["channel"] == ch and r["system"] == "digital-adaptive" and r["snr_db"] == hi_snr]
        jscc_hi = {r["system"]: r["psnr_db"] for r in sem if r["snr_db"] == hi_snr}
        for a in ad:
            res["high_snr"].append({"channel": ch, "snr_db": hi_snr, "codec": a["codec"], "adaptive_psnr_db": a["psnr_db"],
                                    "adaptive_mcs": a["mcs"], "jscc_psnr_db": jscc_hi,
                                    "adaptive_beats": {k: bool(a["psnr_db"] > v) for k, v in jscc_hi.items()}})
    return res


def plot(rows: list[dict[str, Any]], conceal: dict[str, float], path: Path, title: str,
         fixed_codec: str | None = None) -> None:
    """PSNR and SSIM vs SNR, a row per channel: the fixed-MCS curves of ``fixed_codec`` (default:
    the first codec), the adaptive curve of every codec, the semantic curves, the concealment
    level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    chans = sorted({r["channel"] for r in rows}, key=lambda c: c != "awgn")
    fig, axes = plt.subplots(len(chans), 2, figsize=(12, 4.2 * len(chans)), squeeze=False)
    sem_style = {"jscc": ("k", "o"), "jscc-tiles": ("tab:gray", "o"), "jscc+cddm": ("tab:red", "s"), "jscc+eecd1": ("tab:purple", "^"),
                 "jscc+eecd2": ("tab:pink", "v"), "jscc+ve": ("tab:brown", "D")}
    mcs_all = sorted({r["mcs"] for r in rows if r["system"] == "digital"})
    cmap = plt.get_cmap("viridis")
    for row, ch in zip(axes, chans):
        for ax, key, lab in ((row[0], "psnr_db", "PSNR (dB)"), (row[1], "ssim", "SSIM")):
            for system in sorted({r["system"] for r in rows if r["channel"] == ch}):
                if system == "digital":
                    codecs = sorted({r["codec"] for r in rows if r["system"] == "digital"})
                    for codec in [fixed_codec or (codecs[0] if codecs else "")]:
                        for i, m in enumerate(mcs_all):
                            pts = sorted((r for r in rows if r["channel"] == ch and r["system"] == system
                                          and r["codec"] == codec and r["mcs"] == m), key=lambda r: r["snr_db"])
                            if pts:
                                ax.plot([p["snr_db"] for p in pts], [p[key] for p in pts], "--", marker=".",
                                        color=cmap(i / max(1, len(mcs_all) - 1)), alpha=0.8, lw=1,
                                        label=f"{codec} + MCS {m}")
                    continue
                for codec in sorted({r["codec"] for r in rows if r["system"] == system}):
                    pts = sorted((r for r in rows if r["channel"] == ch and r["system"] == system and r["codec"] == codec),
                                 key=lambda r: r["snr_db"])
                    if system == "digital-adaptive":
                        color = {"webp": "tab:green", "jpeg2000": "tab:olive", "jpeg": "tab:cyan"}.get(codec, "g")
                        marker, label, lw = "*", f"{codec} + adaptive MCS (genie)", 2.2
                    else:
                        color, marker = sem_style.get(system, ("tab:gray", "x"))
                        label, lw = {"jscc": "JSCC (whole image)", "jscc-tiles": "JSCC (32x32 tiles)"}.get(
                            system, system.upper().replace("JSCC+", "JSCC + ") + " (tiles)"), 2
                    ax.plot([p["snr_db"] for p in pts], [p[key] for p in pts], color=color, marker=marker, lw=lw,
                            label=label)
            ax.axhline(conceal[key], color="gray", ls=":", label="concealment (mid-grey image)")
            ax.set_xlabel("SNR (dB)")
            ax.set_ylabel(lab)
            ax.set_title(f"{ch.upper()}" + ("" if ch == "awgn" else " (block fading)"), fontsize=9)
            ax.grid(True, alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_bler(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from semradio.dsp.digital.mcs import mcs_label

    dig = [r for r in rows if r["system"] == "digital"]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    mcs_all = sorted({r["mcs"] for r in dig})
    cmap = plt.get_cmap("viridis")
    for ch, ls in (("awgn", "-"), ("rayleigh", "--")):
        for i, m in enumerate(mcs_all):
            pts = {}
            for r in dig:
                if r["channel"] == ch and r["mcs"] == m:
                    e, n = pts.get(r["snr_db"], (0, 0))
                    pts[r["snr_db"]] = (e + r["tb_errors"], n + r["tbs"])
            if pts:
                s = sorted(pts)
                ax.plot(s, [max(pts[v][0] / pts[v][1], 1e-3) for v in s], ls, marker="o", ms=3,
                        color=cmap(i / max(1, len(mcs_all) - 1)), label=f"{mcs_label(m)}, {ch}")
    ax.set_yscale("log")
    ax.set_ylim(8e-4, 1.2)
    ax.set_xlabel("SNR (dB)")
    ax.set_ylabel("TB error rate (zero drawn at 1e-3)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None, prog: str = "semradio digital compare") -> int:
    p = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    args = p.parse_args(argv)
    import torch

    from semradio.blocks.digital.image_rx import CONCEAL_VALUE
    from semradio.models import metrics as M
    from semradio.models.data import whole_photos

    torch.set_num_threads(max(1, args.threads))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.replot:
        prev = json.loads((out / "compare.json").read_text())
        _finish(args, out, prev["rows"], prev["concealment"])
        return 0
    images = whole_photos("eval", args.size)
    grey = np.full_like(images, CONCEAL_VALUE)
    conceal = {"psnr_db": float(M.psnr(images, grey).mean()), "ssim": float(M.ssim(images, grey).mean())}
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    same = ("size", "cbr", "coherence", "frames", "iterations", "seed")
    if args.resume and (out / "compare.json").is_file():
        prev = json.loads((out / "compare.json").read_text())
        if all(prev["args"].get(k) == vars(args)[k] for k in same):
            rows = [r for r in prev["rows"] if r["system"] != "digital-adaptive"]
            print(f"compare: resuming with {len(rows)} points of {out / 'compare.json'}", file=sys.stderr)

    def have(ch: str, system: str, codec: str, mcs: Any, snr: float) -> bool:
        return any((r["channel"], r["system"], r["codec"], r["mcs"], r["snr_db"]) == (ch, system, codec, mcs, snr)
                   for r in rows)

    def save() -> None:
        allrows = rows + adaptive_rows(rows)
        with (out / "compare.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
            w.writeheader()
            for r in allrows:
                w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in FIELDS})
        (out / "compare.json").write_text(json.dumps({"args": vars(args), "concealment": conceal, "rows": allrows,
                                                      "checks": checks(allrows, conceal),
                                                      "seconds": round(time.perf_counter() - t0, 1)}, indent=1) + "\n")

    for ch in args.channels:
        for den in args.semantic:
            for snr in args.snr_db:
                if have(ch, system_name(den), "", "", snr):
                    continue
                rows.append(semantic_point(args, ch, den, snr, images))
                r = rows[-1]
                print(f"compare: {ch:8s} {r['system']:12s} SNR {snr:5.1f}: PSNR {r['psnr_db']:.2f} SSIM {r['ssim']:.4f}",
                      file=sys.stderr, flush=True)
            save()
        for codec in args.codecs:
            for m in args.mcs:
                for snr in args.snr_db:
                    if have(ch, "digital", codec, m, snr):
                        continue
                    rows.append(digital_point(args, ch, codec, m, snr))
                    r = rows[-1]
                    print(f"compare: {ch:8s} {codec} MCS {m:2d} SNR {snr:5.1f}: PSNR {r['psnr_db']:.2f} SSIM "
                          f"{r['ssim']:.4f} BLER {r['bler']:.3f}", file=sys.stderr, flush=True)
                save()
    save()
    _finish(args, out, rows + adaptive_rows(rows), conceal)
    return 0


def _finish(args: argparse.Namespace, out: Path, allrows: list[dict[str, Any]], conceal: dict[str, float]) -> None:
    allrows = [r for r in allrows if r["system"] != "digital-adaptive"]
    allrows += adaptive_rows(allrows)
    title = (f"Whole {args.size}x{args.size} held-out photos, CBR {args.cbr} (k = {int(3 * args.size ** 2 * eval(args.cbr, {}))} "
             f"channel uses per image); Rayleigh: block fading, {args.coherence} symbols per gain")
    plot(allrows, conceal, out / "compare.png", title, args.plot_codec or args.codecs[0])
    plot_bler([r for r in allrows if r["codec"] == (args.plot_codec or args.codecs[0])], out / "bler_links.png")
    res = checks(allrows, conceal)
    print(json.dumps(res, indent=1) if args.json else json.dumps(res))
