"""CDiff decoder versus the benchmarks of "Conditional denoising diffusion autoencoders for
wireless semantic communications" (Letafati et al.): the matched autoencoder and a VAE, on
held-out images.

    semradio eval cdiff snr  --data mnist                 # PSNR/SSIM vs SNR at the lowest CBR
    semradio eval cdiff cbr  --data mnist --snr-db 0 10    # vs CBR (one CDiff decoder for all)
    semradio eval cdiff sinr --data mnist --snr-db 10      # multi-user: vs SINR (convex combination)

(``python tools/cdiff_eval.py ...`` is the same command.)

Each point: the held-out images (``--n``, default all) -> the decoder's own encoder (the
adaptive-CBR encoder ``acbr_<data>_awgn_ae`` for ``matched``, its VAE twin for ``vae``, the
encoder named in the CDiff config for ``cdiff``: the same ``_ae`` encoder, or one trained jointly
with CDiff as in the paper) at the CBR -> power normalizer -> AWGN at the SNR (fixed channel seed, the same draws for
every decoder) [-> multi-user: ``y = a x + b sum z_i + n``, :mod:`semradio.dsp.multiuser`]
-> decoder. Writes ``out/cdiff/<data>_<mode>.csv`` and ``.png`` (PSNR and SSIM panels) and
prints a table; ``--json`` prints the rows.
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
import torch

from semradio.runtime.arguments import OneLineParser

DECODERS = ("matched", "vae", "cdiff")


def load_family(data: str, device: torch.device) -> dict[str, Any]:
    """The shipped models of one dataset: ae and vae codecs, CDiff network + schedule + config and
    CDiff's encoder (``cdiff_encoder``)."""
    from semradio.models.cdiff import load_cdiff
    from semradio.models.checkpoint import load_codec

    net, schedule, cfg = load_cdiff(f"cdiff_{data}_awgn", device)
    return {"ae": load_codec(f"acbr_{data}_awgn_ae", device), "vae": load_codec(f"acbr_{data}_awgn_vae", device),
            "cdiff_encoder": load_codec(cfg["codec"], device), "cdiff": net, "schedule": schedule, "cfg": cfg}


@torch.no_grad()
def decode_point(fam: dict[str, Any], decoder: str, images: np.ndarray, cbr: float, snr_db: float,
                 device: torch.device, steps: int, eta: float, interferers: int = 0, sinr_db: float | None = None,
                 seed: int = 1234, batch: int = 250) -> dict[str, float]:
    """Mean PSNR/SSIM of one decoder at one (CBR, SNR[, SINR]) point."""
    from semradio.dsp import channel as cm
    from semradio.models import metrics as M
    from semradio.models.cdiff import bind_condition, cdiff_sample, from_model_units, image_cond
    from semradio.models.cdiff_latent import pad_latent
    from semradio.dsp.multiuser import convex_weight_for_sinr, superpose
    from semradio.models.link import make_generator, simulate_link

    codec = {"matched": fam["ae"], "vae": fam["vae"], "cdiff": fam["cdiff_encoder"]}[decoder]
    gen = make_generator(seed, device)
    sgen = make_generator(seed + 1, device)
    zrng = np.random.default_rng(seed + 2)
    s2 = 10.0 ** (-snr_db / 10.0)
    a = convex_weight_for_sinr(sinr_db, snr_db, interferers) if interferers else None
    ps, ss = [], []
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(device)
        lat = codec.encode(x, cbr=cbr)
        if a is None:
            y = simulate_link(lat, "awgn", snr_db, gen)
        else:
            zs = [codec.encode(torch.from_numpy(images[zrng.integers(len(images), size=len(x))]).to(device), cbr=cbr)
                  for _ in range(interferers)]
            y = cm.complex_to_real(superpose(cm.normalize_power(lat), [cm.normalize_power(z) for z in zs],
                                             a, (1.0 - a) / interferers, s2, gen))
        if decoder == "cdiff":
            maps, mask = pad_latent(y, fam["cfg"]["cond_shape"])
            out = from_model_units(cdiff_sample(bind_condition(fam["cdiff"], maps, mask), image_cond(maps, x.shape[1]),
                                                fam["schedule"], steps, eta, sgen))
        else:
            out = codec.decode(y)
        ps.append(M.psnr(x, out))
        ss.append(M.ssim(x, out))
    return {"psnr_db": round(float(np.concatenate(ps).mean()), 4), "ssim": round(float(np.concatenate(ss).mean()), 4)}


def plot(rows: list[dict[str, Any]], xkey: str, xlabel: str, title: str, path: Path, group: str = "cbr") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    colors = {"matched": "tab:blue", "vae": "tab:green", "cdiff": "tab:red"}
    keys = sorted({(r["decoder"], r[group]) for r in rows}, key=lambda k: (DECODERS.index(k[0]), k[1]))
    styles = ["-", "--", ":", "-."]
    groups = sorted({r[group] for r in rows})
    for dec, g in keys:
        pts = sorted((r[xkey], r["psnr_db"], r["ssim"]) for r in rows if r["decoder"] == dec and r[group] == g)
        ls = styles[groups.index(g) % len(styles)]
        lab = dec if len(groups) == 1 else f"{dec}, {group} {g:.3g}"
        for ax, j in zip(axes, (1, 2)):
            ax.plot([p[0] for p in pts], [p[j] for p in pts], ls, marker="o", color=colors[dec], label=lab)
    for ax, yl in zip(axes, ("PSNR (dB)", "SSIM")):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None, prog: str = "semradio eval cdiff") -> int:
    """``semradio eval cdiff {snr,cbr,sinr} ...``."""
    p = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("snr", "cbr", "sinr"))
    p.add_argument("--data", default="mnist", choices=("mnist", "natural32"))
    p.add_argument("--decoders", nargs="+", choices=DECODERS, default=list(DECODERS))
    p.add_argument("--snr-db", type=float, nargs="+", default=None,
                   help="snr mode: the SNR grid (default -10..20 step 5); cbr mode: SNRs (default 0 10); "
                        "sinr mode: the one SNR (default 10)")
    p.add_argument("--cbr", type=float, nargs="+", default=None,
                   help="snr/sinr modes: CBRs (default: the lowest of the set); cbr mode: default the whole set")
    p.add_argument("--sinr-db", type=float, nargs="+", default=(-6.0, -3.0, 0.0, 3.0, 6.0, 9.0))
    p.add_argument("--interferers", type=int, default=1)
    p.add_argument("--steps", type=int, default=None, help="CDiff sampler steps (default: the checkpoint's)")
    p.add_argument("--eta", type=float, default=None)
    p.add_argument("--n", type=int, default=0, help="held-out images (0: all)")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--out", default=str(Path("out") / "cdiff"), help="output folder (default out/cdiff)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from semradio.models import data as D
    from semradio.models.checkpoint import resolve_device

    device = resolve_device(args.device)
    fam = load_family(args.data, device)
    steps = args.steps or int(fam["cfg"].get("sample_steps", 1))
    eta = float(fam["cfg"].get("eta", 0.0) if args.eta is None else args.eta)
    cbrs = list(fam["ae"].cbrs)
    images = D.subset(D.load_images(args.data, "eval"), args.n or None, seed=0)
    if args.mode == "snr":
        snrs, use_cbrs, sinrs = args.snr_db or [-10.0, -5.0, 0.0, 5.0, 10.0, 15.0, 20.0], args.cbr or cbrs[:1], [None]
    elif args.mode == "cbr":
        snrs, use_cbrs, sinrs = args.snr_db or [0.0, 10.0], args.cbr or cbrs, [None]
    else:
        snrs, use_cbrs, sinrs = (args.snr_db or [10.0])[:1], args.cbr or cbrs[:1], list(args.sinr_db)
    rows = []
    t0 = time.perf_counter()
    for cbr in use_cbrs:
        for snr in snrs:
            for sinr in sinrs:
                for dec in args.decoders:
                    r = decode_point(fam, dec, images, cbr, snr, device, steps, eta,
                                     args.interferers if sinr is not None else 0, sinr)
                    row = {"data": args.data, "decoder": dec, "cbr": round(cbr, 6), "snr_db": snr,
                           "sinr_db": sinr, "interferers": args.interferers if sinr is not None else 0,
                           "steps": steps if dec == "cdiff" else None, **r}
                    rows.append(row)
                    print(f"{dec:>8} CBR {cbr:.4g} SNR {snr:g} dB" + ("" if sinr is None else f" SINR {sinr:g} dB")
                          + f": PSNR {r['psnr_db']:.2f} dB, SSIM {r['ssim']:.4f}", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{args.data}_{args.mode}"
    with open(stem.with_suffix(".csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    if args.mode == "snr":
        plot(rows, "snr_db", "SNR (dB)", f"{args.data}: decoders vs SNR ({len(images)} held-out images)",
             stem.with_suffix(".png"))
    elif args.mode == "cbr":
        plot(rows, "cbr", "CBR", f"{args.data}: one CDiff decoder for every CBR ({len(images)} images)",
             stem.with_suffix(".png"), group="snr_db")
    else:
        plot(rows, "sinr_db", "SINR (dB)", f"{args.data}: multi-user, {args.interferers} interferer(s), "
             f"SNR {snrs[0]:g} dB", stem.with_suffix(".png"))
    print(f"wrote {stem}.csv and {stem}.png ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        print(json.dumps(rows))
    return 0

