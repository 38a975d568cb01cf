"""``semradio eval adapter``: the one-shot latent adapter on out-of-distribution (OOD) sets.

    semradio eval adapter --threads 1 --json out/adapter.json
    semradio eval adapter --sets texture:brick --shots 4 --kind channel --snr-db 10

Per OOD set (default: ``mnist-rgb32``, ``lfw32``, ``texture:brick``, ``texture:grass``,
``texture:gravel``; see :data:`semradio.models.data.DATASETS`): draw ``--shots`` images of the
set's *train* split (``--shot-seed``), fit an adapter with
:func:`semradio.models.adapter.fit_adapter` (timed: the seconds on this machine are reported),
then, at every ``--snr-db``, send the set's held-out *eval* images (at most ``--n``) through the
link (power normalise -> channel -> MMSE, channel seed 1234) once and decode the same received
latents without and with the adapter: PSNR, SSIM (and LPIPS-vgg with ``--lpips``, on the first
``--lpips-n`` images), and the gain. ``--bound N``: the per-image latent-inversion upper bound
(:func:`inversion_bound`) on N held-out images, what no latent adapter can beat.
The shots never appear in the evaluation (the splits are disjoint).

In distribution (``natural32`` held-out patches): the codec alone against the codec with a
*disabled* adapter and with an identity-initialised one; both must be bit-identical
(``torch.equal`` of the decoded images), which is reported as ``bit_identical``.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from semradio.runtime.arguments import OneLineParser, finite_float, nonnegative_int, positive_float, positive_int

#: OOD sets evaluated by default.
DEFAULT_SETS = ("mnist-rgb32", "lfw32", "texture:brick", "texture:grass", "texture:gravel")
#: Channel seed of the evaluation (the trainers' held-out seed).
EVAL_SEED = 1234


def _psnr_ssim(ref: Any, rec: Any) -> tuple[np.ndarray, np.ndarray]:
    from semradio.models import metrics as M

    return M.psnr(ref, rec), M.ssim(ref, rec)


def decode_pair(codec: Any, adapter: Any, images: np.ndarray, channel: str, snr_db: float, seed: int = EVAL_SEED,
                batch: int = 256) -> tuple[Any, Any, Any]:
    """Images (N, C, H, W) -> (images, decoded without adapter, decoded with adapter), torch
    tensors; both decodings use the same received latents (one link draw, ``seed``)."""
    import torch

    from semradio.models.link import make_generator, simulate_link

    gen = make_generator(seed)
    outs_a, outs_b = [], []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(np.ascontiguousarray(images[i:i + batch]))
            y = simulate_link(codec.encode(x, snr_db), channel, snr_db, gen)
            outs_a.append(codec.decode(y, snr_db, tuple(x.shape[2:])))
            outs_b.append(codec.decode(adapter(y), snr_db, tuple(x.shape[2:])))
    return torch.from_numpy(np.ascontiguousarray(images)), torch.cat(outs_a), torch.cat(outs_b)


def score(ref: Any, without: Any, with_: Any, lpips_net: Any = None, lpips_n: int = 256) -> dict[str, float]:
    """Mean PSNR (dB), SSIM (and LPIPS on the first ``lpips_n`` images) without / with the
    adapter, and the PSNR gain."""
    pa, sa = _psnr_ssim(ref, without)
    pb, sb = _psnr_ssim(ref, with_)
    out = {"psnr_without": float(pa.mean()), "psnr_with": float(pb.mean()), "delta_psnr": float(pb.mean() - pa.mean()),
           "ssim_without": float(sa.mean()), "ssim_with": float(sb.mean())}
    if lpips_net is not None:
        out["lpips_without"] = float(np.mean(lpips_net.distance(ref[:lpips_n], without[:lpips_n])))
        out["lpips_with"] = float(np.mean(lpips_net.distance(ref[:lpips_n], with_[:lpips_n])))
    return {k: round(v, 4) for k, v in out.items()}


def in_distribution(codec: Any, channel: str, snr_db: float, n: int | None) -> dict[str, Any]:
    """natural32 held-out: the codec alone vs a disabled adapter and an identity-initialised one."""
    import torch

    from semradio.models import data as D
    from semradio.models.adapter import LatentAdapter

    x = D.subset(D.load_images("natural32", "eval"), n)
    disabled = LatentAdapter(codec.latent_channels, (x.shape[2] // 4, x.shape[3] // 4), enabled=False)
    ident = LatentAdapter(codec.latent_channels, (x.shape[2] // 4, x.shape[3] // 4))
    ref, a, b = decode_pair(codec, disabled, x, channel, snr_db)
    _, _, c = decode_pair(codec, ident, x, channel, snr_db)
    res = score(ref, a, b)
    return {"data": "natural32", "images": int(len(x)), "snr_db": snr_db, "psnr_codec": res["psnr_without"],
            "psnr_adapter_disabled": res["psnr_with"], "ssim_codec": res["ssim_without"],
            "bit_identical": bool(torch.equal(a, b)), "bit_identical_identity_init": bool(torch.equal(a, c))}


def evaluate_set(codec: Any, spec: str, args: Any, lpips_net: Any = None) -> dict[str, Any]:
    """Fit on the shots of ``spec``'s train split, score its eval split at every SNR."""
    from semradio.models import data as D
    from semradio.models.adapter import fit_adapter, kind_for_shots

    shots = D.subset(D.load_images(spec, "train"), args.shots, seed=args.shot_seed)
    held = D.subset(D.load_images(spec, "eval"), args.n)
    train_snr = args.train_snr_db[0] if len(args.train_snr_db) == 1 else tuple(args.train_snr_db)
    t0 = time.perf_counter()
    adapter, report = fit_adapter(codec, shots, args.channel, train_snr, steps=args.steps, lr=args.lr,
                                  kind=kind_for_shots(args.kind, len(shots)), seed=args.seed, batch=args.batch, shift=args.shift,
                                  max_seconds=args.max_seconds if args.max_seconds > 0 else None,
                                  flips=not args.no_flips, cosine=args.cosine)
    seconds = time.perf_counter() - t0
    by_snr = {}
    for snr in args.snr_db:
        ref, a, b = decode_pair(codec, adapter, held, args.channel, float(snr))
        by_snr[f"{snr:g}"] = score(ref, a, b, lpips_net, args.lpips_n)
    out = {"data": spec, "shots": int(len(shots)), "held_out": int(len(held)), "train_seconds": round(seconds, 2),
           "fit": report, "by_snr_db": by_snr}
    if args.bound:
        out["inversion_bound"] = inversion_bound(codec, held[:args.bound], args.channel,
                                                 float(args.snr_db[len(args.snr_db) // 2]))
    return out


def inversion_bound(codec: Any, images: np.ndarray, channel: str, snr_db: float, steps: int = 300,
                    lr: float = 3e-2) -> dict[str, float]:
    """An upper bound on what any latent adapter can reach: for each image, the decoder input
    ``v`` minimising ``||G(v) - x||^2`` (eq. 13 without the prior, Adam from the noiseless
    received latent, ``steps`` steps), i.e. the best image the frozen decoder can produce at all.
    Returns the mean PSNR of the codec at ``snr_db`` and of ``G(v*)`` over ``images``."""
    import torch

    from semradio.models.link import make_generator, simulate_link

    x = torch.from_numpy(np.ascontiguousarray(images))
    with torch.no_grad():
        z = codec.encode(x, snr_db)
        base = codec.decode(simulate_link(z, channel, snr_db, make_generator(EVAL_SEED)), snr_db)
        v0 = simulate_link(z, channel, math.inf, make_generator(EVAL_SEED))
    req = [p.requires_grad for p in codec.parameters()]
    codec.requires_grad_(False)
    v = v0.clone().requires_grad_(True)
    opt = torch.optim.Adam([v], lr=lr)
    for _ in range(steps):
        loss = ((codec.decode(v, snr_db) - x) ** 2).mean(dim=(1, 2, 3)).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    for p, r in zip(codec.parameters(), req):
        p.requires_grad_(r)
    with torch.no_grad():
        best = codec.decode(v, snr_db)
    pa, _ = _psnr_ssim(x, base)
    pb, _ = _psnr_ssim(x, best)
    return {"images": int(len(x)), "snr_db": snr_db, "psnr_codec": round(float(pa.mean()), 4),
            "psnr_best_latent": round(float(pb.mean()), 4), "headroom_db": round(float(pb.mean() - pa.mean()), 4)}


def build_parser(prog: str) -> OneLineParser:
    from semradio.models.adapter import KINDS

    p = OneLineParser(prog=prog, description=(__doc__ or "").strip().splitlines()[0])
    p.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="OOD dataset specs")
    p.add_argument("--codec", default="jscc_natural32_awgn_cbr1-6")
    p.add_argument("--channel", default="awgn", choices=("awgn", "rayleigh"))
    p.add_argument("--snr-db", nargs="+", type=finite_float, default=[0.0, 10.0, 20.0], help="evaluation SNRs (dB)")
    p.add_argument("--train-snr-db", nargs="+", type=finite_float, default=[10.0],
                   help="the fit's SNR: one value (operating SNR) or LO HI (uniform per step)")
    p.add_argument("--kind", default="auto", choices=("auto", *KINDS),
                   help="adapter kind; auto: channel below 4 shots, else conv2")
    p.add_argument("--shots", type=positive_int, default=16)
    p.add_argument("--shot-seed", type=int, default=0)
    p.add_argument("--steps", type=positive_int, default=400)
    p.add_argument("--lr", type=positive_float, default=1e-2)
    p.add_argument("--batch", type=positive_int, default=16)
    p.add_argument("--shift", type=nonnegative_int, default=3, help="random translations of the shots (pixels)")
    p.add_argument("--no-flips", action="store_true", help="do not add the shots' mirror images")
    p.add_argument("--cosine", action="store_true", help="cosine learning-rate decay over the fit")
    p.add_argument("--max-seconds", type=finite_float, default=7.0, help="wall-time budget of each fit (<= 0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=None, help="at most N held-out images per set (default: all)")
    p.add_argument("--lpips", action="store_true", help="also LPIPS-vgg (packaged weights)")
    p.add_argument("--lpips-n", type=int, default=256, help="LPIPS on the first N held-out images of a set")
    p.add_argument("--bound", type=int, default=0, metavar="N",
                   help="also the per-image latent-inversion upper bound on N held-out images per set")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, metavar="PATH", help="write the results as JSON")
    return p


def main(argv: list[str] | None = None, prog: str = "semradio eval adapter") -> int:
    import torch

    from semradio.models.checkpoint import load_codec

    args = build_parser(prog).parse_args(argv)
    if len(args.train_snr_db) not in (1, 2):
        print(f"{prog}: error: --train-snr-db takes one value or LO HI", file=sys.stderr)
        return 2
    torch.set_num_threads(max(1, args.threads))
    codec = load_codec(args.codec, "cpu")
    lpips_net = None
    if args.lpips:
        from semradio.models.lpips import load_lpips

        lpips_net = load_lpips(net="vgg")
    command = "semradio eval adapter " + " ".join(argv if argv is not None else sys.argv[1:])
    results = {"command": command, "codec": args.codec, "channel": args.channel, "kind": args.kind,
               "threads": torch.get_num_threads(), "sets": []}
    for spec in args.sets:
        r = evaluate_set(codec, spec, args, lpips_net)
        results["sets"].append(r)
        for snr, s in r["by_snr_db"].items():
            print(f"{spec:16s} {snr:>4s} dB  PSNR {s['psnr_without']:6.2f} -> {s['psnr_with']:6.2f} "
                  f"({s['delta_psnr']:+.2f})  SSIM {s['ssim_without']:.3f} -> {s['ssim_with']:.3f}"
                  + (f"  LPIPS {s['lpips_without']:.3f} -> {s['lpips_with']:.3f}" if "lpips_with" in s else "")
                  + f"  [{r['shots']} shot(s), {r['fit']['steps']} steps, {r['train_seconds']:.1f} s wall, "
                    f"{r['fit']['cpu_seconds']:.1f} s CPU]", flush=True)
        if "inversion_bound" in r:
            b = r["inversion_bound"]
            print(f"{spec:16s} best latent per image (bound, {b['images']} images, {b['snr_db']:g} dB): "
                  f"{b['psnr_codec']:.2f} -> {b['psnr_best_latent']:.2f} ({b['headroom_db']:+.2f})", flush=True)
    ind = in_distribution(codec, args.channel, float(args.snr_db[len(args.snr_db) // 2]), args.n)
    results["in_distribution"] = ind
    print(f"natural32 (in distribution) {ind['snr_db']:g} dB: codec {ind['psnr_codec']:.2f} dB, adapter disabled "
          f"{ind['psnr_adapter_disabled']:.2f} dB, bit-identical {ind['bit_identical']} "
          f"(identity init: {ind['bit_identical_identity_init']})")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
