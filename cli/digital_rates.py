"""What the rate controller fits: per image size, codec and MCS, the byte budget of one
transport block at equal channel uses, how many images fit, the bytes and headers they use, and
the error-free PSNR/SSIM (the ceiling of every fixed-MCS curve).

    semradio digital rates --sizes 32 128 256 --out out/digital_rates

Images: ``32``: the first ``--patches`` held-out 32x32 patches (``natural32``); other sizes: the
three held-out photos as whole images (``photos:SIZE``). Budget: ``TBS/8 - 3`` bytes (the TB of
``CBR x 3 x SIZE^2`` channel uses, minus the 24-bit length field). Writes ``rates.csv`` and
``rates.json`` and prints a table; ``--json`` prints the rows.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import numpy as np

from semradio.runtime.arguments import OneLineParser


def rate_rows(size: int, codecs: list[str], mcs_list: list[int], cbr: float, patches: int) -> list[dict[str, Any]]:
    from semradio.blocks.digital.image_tx import channel_uses, payload_budget
    from semradio.dsp.digital.mcs import tb_layout
    from semradio.models import data as D
    from semradio.models import metrics as M
    from semradio.models.image_codec import decode, fit_budget, header_bytes

    images = D.load_images("natural32")[:patches] if size == 32 else D.whole_photos("eval", size)
    k = channel_uses(cbr, images.shape[1:])
    rows = []
    for codec in codecs:
        for m in mcs_list:
            lay = tb_layout(m, k)
            budget = payload_budget(lay.tb_bits)
            fits = [fit_budget(img, codec, budget) for img in images]
            ok = [(img, f) for img, f in zip(images, fits) if f is not None]
            rec = np.stack([decode(f.data, codec, img.shape) for img, f in ok]) if ok else None
            ref = np.stack([img for img, _ in ok]) if ok else None
            rows.append({"size": size, "codec": codec, "mcs": m, "channel_uses": k, "tb_bits": lay.tb_bits,
                         "budget_bytes": budget, "images": len(images), "fit": len(ok),
                         "mean_bytes": float(np.mean([f.nbytes for _, f in ok])) if ok else None,
                         "mean_header_bytes": float(np.mean([header_bytes(f.data, codec) for _, f in ok])) if ok else None,
                         "bpp": float(np.mean([8 * f.nbytes for _, f in ok]) / (size * size)) if ok else None,
                         "psnr_db": float(M.psnr(ref, rec).mean()) if ok else None,
                         "ssim": float(M.ssim(ref, rec).mean()) if ok else None})
    return rows


def main(argv: list[str] | None = None, prog: str = "semradio digital rates") -> int:
    from semradio.dsp.digital.mcs import DEFAULT_MCS
    from semradio.models.image_codec import available_codecs

    p = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 128, 256])
    p.add_argument("--codecs", nargs="+", default=available_codecs())
    p.add_argument("--mcs", type=int, nargs="+", default=list(DEFAULT_MCS))
    p.add_argument("--cbr", default="1/6")
    p.add_argument("--patches", type=int, default=48, help="32x32 patches evaluated at size 32")
    p.add_argument("--out", default=str(Path("out") / "digital_rates"))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    from fractions import Fraction

    cbr = float(Fraction(args.cbr))
    rows = [r for s in args.sizes for r in rate_rows(s, args.codecs, args.mcs, cbr, args.patches)]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "rates.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    (out / "rates.json").write_text(json.dumps(rows, indent=1) + "\n")
    if args.json:
        print(json.dumps(rows))
        return 0
    fmt = (lambda v, s=".2f": "-" if v is None else format(v, s))
    print("size codec     MCS budget(B) fit    bytes  header  bpp   PSNR(dB) SSIM")
    for r in rows:
        print(f"{r['size']:4d} {r['codec']:9s} {r['mcs']:3d} {r['budget_bytes']:9d} {r['fit']:2d}/{r['images']:<3d} "
              f"{fmt(r['mean_bytes'], '.0f'):>6s} {fmt(r['mean_header_bytes'], '.0f'):>6s} {fmt(r['bpp'], '.3f'):>6s} "
              f"{fmt(r['psnr_db']):>7s} {fmt(r['ssim'], '.4f'):>7s}")
    return 0
