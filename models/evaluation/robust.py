"""Codecs under semantic errors found by PGD, in the style of Table I of *Latent Diffusion
Model-Enabled Real-Time Semantic Communication Considering Semantic Ambiguities and Channel
Noises* (Section V-B): the plain encoder against the robust one.

    semradio eval robust --codecs jscc_natural32_awgn_cbr1-6 jscc_natural32_awgn_cbr1-6_robust \\
        --snr-db 0 10 20 --eps-level 0.3 [--eps-levels 0.1 0.2 0.3 0.4 0.5] [--n N] [--json]

For every codec and SNR, on the held-out natural 32x32 patches (578, ``natural_patches('eval')``;
``--n`` draws a fixed subset): PSNR / SSIM (and LPIPS-vgg with ``--lpips`` when its weights are
installed) of the reconstruction against the source image ``x``

* ``clean``: ``G(link(E(x)))``;
* ``pgd``: ``G(link(E(x + delta)))`` with ``delta`` recomputed against *this* codec
  (:func:`semradio.models.attacks.pgd_attack`, white-box and adaptive: the honest comparison);
* ``transfer``: ``delta`` computed against the first codec of ``--codecs`` (the plain encoder)
  and replayed on the others (for the first codec it equals ``pgd``);
* ``shift``: not an attack but a reference: ``x + delta`` with ``delta`` a uniform brightness
  offset of the same L2 norm (clipped into [0, 1] by the exact projection). A natural-looking
  image that any codec faithful on clean images must reproduce, so its PSNR against ``x`` is
  roughly a ceiling for any codec under an adaptive attack of that budget;
* ``input``: PSNR of the attacked *input* ``x + delta`` against ``x`` (how large the error is).

The link is the trainers' (:func:`semradio.models.link.simulate_link`: power normaliser ->
channel -> MMSE) with a fixed channel seed, the same noise draws for clean and attacked inputs
and for every codec; the attack's random start has its own fixed seed. ``--eps-levels`` adds the
Table I sweep over error levels ``||delta||_2 / H`` at the first SNR.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import numpy as np
import torch

from semradio.runtime.arguments import OneLineParser, nonnegative_int, positive_float, positive_int

#: Seed of the channel noise (as the codec trainers' held-out evaluations).
CHANNEL_SEED = 1234
#: Seed of the attack's random start.
ATTACK_SEED = 4321


def evaluate_attacked(codec: Any, images: np.ndarray, channel: str, snr_db: float, eps: float, steps: int = 20,
                      device: Any = "cpu", batch: int = 128, attack_codec: Any = None, lpips: Any = None,
                      seed: int = CHANNEL_SEED, attack_seed: int = ATTACK_SEED) -> dict[str, float]:
    """Mean metrics of ``codec`` on ``images`` (N, C, H, W) in [0, 1] at one SNR, clean and
    under an L2 PGD attack of budget ``eps`` ([0, 1] units, ``steps`` iterations).

    Returns ``{"psnr_clean", "ssim_clean", "psnr_pgd", "ssim_pgd", "psnr_shift", "ssim_shift",
    "psnr_input"}`` (dB / SSIM; ``shift``: a uniform brightness offset of norm ``eps``;
    ``psnr_input``: ``x + delta`` against ``x``), plus ``psnr_transfer`` / ``ssim_transfer`` when
    ``attack_codec`` (the codec the transferred attack is computed against) is given and
    ``lpips_*`` when an LPIPS network is given.
    """
    from semradio.models import metrics as M
    from semradio.models.attacks import pgd_attack, project_l2_box
    from semradio.models.link import make_generator, simulate_link

    dev = torch.device(device)
    gen_a = torch.Generator(device=dev)
    gen_a.manual_seed(int(attack_seed))
    gen_t = torch.Generator(device=dev)  # the transfer attack's own start draws (= the first codec's)
    gen_t.manual_seed(int(attack_seed))
    gen = make_generator(seed, dev)
    acc: dict[str, list[np.ndarray]] = {}

    def add(key: str, v: Any) -> None:
        acc.setdefault(key, []).append(np.asarray(v, dtype=np.float64).reshape(-1))

    was = codec.training
    codec.eval()
    for i in range(0, len(images), batch):
        x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch])).to(dev)
        inputs = {"clean": x}
        d = pgd_attack(codec, x, eps, steps, snr_db=snr_db, generator=gen_a)
        inputs["pgd"] = x + d
        add("psnr_input", M.psnr(x, x + d))
        shift = torch.full_like(x, eps / float(np.sqrt(x[0].numel())))
        inputs["shift"] = x + project_l2_box(shift, x, eps)
        if attack_codec is not None:
            inputs["transfer"] = x + pgd_attack(attack_codec, x, eps, steps, snr_db=snr_db, generator=gen_t)
        state = gen.get_state()
        for tag, inp in inputs.items():
            gen.set_state(state)  # the same noise draws for every input
            with torch.no_grad():
                y = codec(inp, lambda z: simulate_link(z, channel, snr_db, gen), snr_db)
                add(f"psnr_{tag}", M.psnr(x, y))
                add(f"ssim_{tag}", M.ssim(x, y))
                if lpips is not None:
                    add(f"lpips_{tag}", lpips.forward_distance(x, y).detach().cpu().numpy())
    codec.train(was)
    return {k: round(float(np.concatenate(v).mean()), 4) for k, v in acc.items()}


def table(rows: list[dict[str, Any]]) -> str:
    """Rows -> a Table I style text table (one line per codec and SNR / error level)."""
    cols = [("codec", "{}"), ("snr_db", "{:g}"), ("eps_level", "{:g}")]
    metric_cols = [k for k in ("psnr_clean", "ssim_clean", "lpips_clean", "psnr_pgd", "ssim_pgd", "lpips_pgd",
                               "psnr_transfer", "ssim_transfer", "lpips_transfer", "psnr_shift", "psnr_input")
                   if any(k in r for r in rows)]
    head = ["codec", "SNR dB", "level"] + metric_cols
    lines = []
    for r in rows:
        cells = [fmt.format(r[k]) for k, fmt in cols]
        cells += [(f"{r[k]:.4f}" if ("ssim" in k or "lpips" in k) else f"{r[k]:.2f}") if k in r else "-"
                  for k in metric_cols]
        lines.append(cells)
    widths = [max(len(h), *(len(c[i]) for c in lines)) for i, h in enumerate(head)]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths)) + " |",
           "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |" for cells in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None, prog: str = "semradio eval robust") -> int:
    """``semradio eval robust --codecs A B ...``: the table of the module docstring."""
    p = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codecs", nargs="+", default=["jscc_natural32_awgn_cbr1-6", "jscc_natural32_awgn_cbr1-6_robust"],
                   help="codecs to compare; the first is the plain one the transfer attack is computed against")
    p.add_argument("--data", default="natural32", help="held-out images (default natural32: the 578 patches)")
    p.add_argument("--channel", default=None, choices=("awgn", "rayleigh"), help="default: the first codec's")
    p.add_argument("--snr-db", type=float, nargs="+", default=[0.0, 10.0, 20.0])
    p.add_argument("--eps-level", type=positive_float, default=0.3, help="error level ||delta||_2/H on [-1, 1] images")
    p.add_argument("--eps-levels", type=positive_float, nargs="+", default=None,
                   help="also sweep these error levels (at the first SNR), as Table I")
    p.add_argument("--steps", type=positive_int, default=20, help="PGD iterations (default 20)")
    p.add_argument("--no-transfer", action="store_true", help="skip the transfer attack from the first codec")
    p.add_argument("--lpips", action="store_true", help="also LPIPS-vgg (needs its weights installed)")
    p.add_argument("--n", type=nonnegative_int, default=0, help="held-out images (0: all)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=nonnegative_int, default=0)
    p.add_argument("--json", action="store_true", help="print the rows as JSON (after the table)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps < 1:
        p.error("--steps must be >= 1")
    from semradio.models import data as D
    from semradio.models.attacks import eps_for_level, image_side
    from semradio.models.checkpoint import load_codec, resolve_device

    device = resolve_device(args.device)
    codecs = {name: load_codec(name, device) for name in args.codecs}
    first = codecs[args.codecs[0]]
    channel = args.channel or first.codec_config.get("channel", "awgn")
    images = D.subset(D.load_images(args.data, "eval"), args.n or None, seed=0)
    side = image_side(int(images.shape[-2]), int(images.shape[-1]))
    lp = None
    if args.lpips:
        from semradio.models.lpips import load_lpips

        lp = load_lpips(net="vgg", device=device).requires_grad_(False)
    points = [(s, args.eps_level) for s in args.snr_db]
    points += [(args.snr_db[0], lv) for lv in (args.eps_levels or []) if lv != args.eps_level]
    rows = []
    t0 = time.perf_counter()
    for name, codec in codecs.items():
        for snr, level in points:
            transfer = None if args.no_transfer or name == args.codecs[0] else first
            r = evaluate_attacked(codec, images, channel, snr, eps_for_level(level, side), args.steps, device,
                                  attack_codec=transfer, lpips=lp)
            if not args.no_transfer and name == args.codecs[0]:
                r["psnr_transfer"], r["ssim_transfer"] = r["psnr_pgd"], r["ssim_pgd"]
                if "lpips_pgd" in r:
                    r["lpips_transfer"] = r["lpips_pgd"]
            rows.append({"codec": name, "channel": channel, "snr_db": snr, "eps_level": level,
                         "eps": eps_for_level(level, side), "steps": args.steps, "images": len(images), **r})
            print(f"{name} SNR {snr:g} dB level {level:g}: clean {r['psnr_clean']:.2f} dB, "
                  f"PGD {r['psnr_pgd']:.2f} dB ({time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    print(f"{len(images)} held-out {args.data} images, {channel}, L2 PGD {args.steps} steps, "
          f"eps = level * {side} / 2 on [0, 1] images; PSNR dB against the source image")
    print(table(rows))
    if args.json:
        print(json.dumps(rows))
    return 0


__all__ = ["evaluate_attacked", "table", "main", "CHANNEL_SEED", "ATTACK_SEED"]
