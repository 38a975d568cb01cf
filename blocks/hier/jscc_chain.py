"""The JSCC baseline chain as a reusable flowgraph builder (used by ``flowgraphs/jscc_awgn.py``,
``flowgraphs/jscc_rayleigh.py``, ``tools/sweep.py`` and ``tools/bench_e2e.py``)::

    ImageSource -> [Throttle] -> JSCCEncoder -> PowerNormalizer -> channel -> MMSEEqualizer
         |                                                                          |
         |                                                                   JSCCDecoder
         |                                                                          v
         +----------------------------------------------------------> MetricSink (ref, rec)

:func:`add_arguments` declares the command-line options, :func:`build` wires the graph from
them, :func:`run` runs it to the end of its frames and returns a summary dict, :func:`main`
is a flowgraph script's ``main``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from fractions import Fraction
from typing import Any

from semradio.runtime import Flowgraph

from semradio.blocks.channels.fading import make_channel
from semradio.blocks.digital.equalizer import equalizer_for
from semradio.models.data import parse_spec
from semradio.blocks.basic.image_source import ImageSource
from semradio.blocks.codecs.jscc import JSCCDecoder, JSCCEncoder
from semradio.blocks.metrics.metric_sink import MetricSink
from semradio.blocks.channels.power import PowerNormalizer
from semradio.blocks.qtgui.gui_support import add_gui_arguments, run_flowgraph

#: Shipped codec per (data family, channel, CBR).
CBR_CHOICES = ("1/6", "1/12")


def default_codec(data: str, channel: str, cbr: str) -> str:
    """Registered codec name for a dataset spec, channel and CBR label.

    Natural patches of any size use the ``natural32`` codecs (they are fully convolutional);
    MNIST has one codec (AWGN, CBR 1/16) whatever ``channel``/``cbr`` say. Rician and
    interference channels use the Rayleigh codecs (trained on fading).
    """
    from semradio.models.checkpoint import codec_name

    kind = parse_spec(data).kind
    if kind == "mnist":
        return codec_name("mnist", "awgn", "1/16")
    fam = "awgn" if channel == "awgn" else "rayleigh"
    label = str(Fraction(cbr).limit_denominator(1000))
    return codec_name("natural32", fam, label)


def add_arguments(p: argparse.ArgumentParser, channel: str = "rayleigh") -> None:
    """Command-line options of a JSCC flowgraph (``channel`` is the default channel)."""
    p.add_argument("--frames", type=int, default=50, help="frames to send (-1: forever; 0: one pass over the data)")
    p.add_argument("--batch", type=int, default=16, help="images per frame")
    p.add_argument("--snr-db", type=float, default=10.0, help="channel SNR in dB")
    p.add_argument("--cbr", default="1/6", choices=CBR_CHOICES, help="channel bandwidth ratio k/(CHW)")
    p.add_argument("--channel", default=channel, choices=("awgn", "rayleigh", "rician"),
                   help=f"channel model (default {channel})")
    p.add_argument("--fading", default="fast", choices=("fast", "block"), help="fading channels: fast or block")
    p.add_argument("--data", default="natural32",
                   help="dataset spec: natural32 (held-out bundled photo patches), natural64, mnist[:DIR], "
                        "cifar10:PATH, folder:DIR[:SIZE]")
    p.add_argument("--split", default="eval", choices=("eval", "train", "all"))
    p.add_argument("--codec", default=None, help="codec name or checkpoint path (default: the shipped one "
                   "for --data/--channel/--cbr)")
    p.add_argument("--device", default="auto", help="codec device: auto (CUDA when present), cpu, cuda")
    p.add_argument("--realtime", type=float, default=None, metavar="FPS",
                   help="pace the source at FPS frames/s (inserts a Throttle)")
    p.add_argument("--seed", type=int, default=0, help="channel seed")
    p.add_argument("--csv", default=None, help="write per-frame metrics to this CSV file")
    p.add_argument("--metrics-json", default=None, help="write the aggregated metrics to this JSON file")
    p.add_argument("--timeout", type=float, default=600.0, help="stop after this many seconds")
    add_gui_arguments(p)  # --gui, --snapshot DIR: live scopes (semradio.blocks.qtgui)


def build(args: argparse.Namespace, denoiser: Any = None) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks (``source``, [``throttle``], ``encoder``, ``normalizer``,
    ``channel``, ``equalizer``, [``denoiser``], ``decoder``, ``sink``).

    ``denoiser``: an optional 1-in/1-out block put between the equalizer and the decoder
    (e.g. :class:`~semradio.blocks.denoisers.cddm.CDDMDenoiser`); ``args.decoder_codec``, when
    present and set, names a different checkpoint for the decoder (e.g. one fine-tuned on the
    denoiser's outputs)."""
    from semradio.models.checkpoint import resolve_device

    codec = args.codec or default_codec(args.data, args.channel, args.cbr)
    device = resolve_device(args.device)
    fg = Flowgraph(getattr(args, "flowgraph_name", None) or f"jscc_{args.channel}")
    frames = None if args.frames == 0 else args.frames
    source = ImageSource(args.data, split=args.split, batch=args.batch, frames=frames,
                         device=None if device.type == "cpu" else str(device), name="source")
    encoder = JSCCEncoder(codec, device=str(device), snr_db=args.snr_db, name="encoder")
    normalizer = PowerNormalizer(name="normalizer")
    channel = make_channel(args.channel, name="channel", snr_db=args.snr_db, fading=args.fading, seed=args.seed)
    equalizer = equalizer_for("mmse", name="equalizer")
    decoder = JSCCDecoder(getattr(args, "decoder_codec", None) or codec, device=str(device), name="decoder")
    sink = MetricSink(csv_path=args.csv, json_path=args.metrics_json, name="sink")
    blocks: dict[str, Any] = {"source": source}
    head: Any = source
    if args.realtime:
        from semradio.blocks.basic.flow import Throttle

        head = blocks["throttle"] = Throttle(args.realtime, restamp=True, name="throttle")
        fg.connect(source, head)
    chain = [head, encoder, normalizer, channel, equalizer] + ([denoiser] if denoiser is not None else [])
    fg.connect(*chain, decoder, (sink, "rec"))
    fg.connect(head, (sink, "ref"))
    blocks.update(encoder=encoder, normalizer=normalizer, channel=channel, equalizer=equalizer, decoder=decoder,
                  sink=sink)
    if denoiser is not None:
        blocks["denoiser"] = denoiser
    return fg, blocks


def run(args: argparse.Namespace, denoiser: Any = None) -> dict[str, Any]:
    """Build (see :func:`build`), run to the end of the frames, and summarize (one
    JSON-serializable dict)."""
    fg, blocks = build(args, denoiser)
    t0 = time.perf_counter()
    run_flowgraph(fg, args, blocks, timeout=args.timeout)  # fg.run() unless --gui/--snapshot
    seconds = time.perf_counter() - t0
    sink: MetricSink = blocks["sink"]
    s = sink.summary()
    g = s["groups"][0] if len(s["groups"]) == 1 else None
    codec = blocks["encoder"].codec
    stats = fg.stats()
    return {
        "flowgraph": fg.name,
        "codec": blocks["encoder"].codec_name,
        "decoder_codec": blocks["decoder"].codec_name,
        "denoiser": type(denoiser).__name__ if denoiser is not None else "none",
        "cbr": codec.cbr,
        "data": args.data, "split": args.split, "channel": args.channel, "snr_db": args.snr_db,
        "device": str(blocks["encoder"].device),
        "frames": s["frames"], "images": s["images"], "seconds": round(seconds, 3),
        "images_per_s": round(s["images"] / seconds, 1) if seconds > 0 else None,
        "psnr_db": None if g is None else g["psnr_db"],
        "ssim": None if g is None else g["ssim"],
        "ms_ssim": None if g is None else g["ms_ssim"],
        "mse_db": None if g is None else g["mse_db"],
        "latency_p50_ms": None if g is None else g["latency_p50_ms"],
        "latency_p99_ms": None if g is None else g["latency_p99_ms"],
        "seqs_measured": len(set(sink.seqs)),
        "groups": s["groups"],
        "blocks": {n: {k: c.get(k) for k in ("state", "frames_in", "frames_out", "work_ms") if k in c}
                   for n, c in stats.items()},
    }


def _fmt(v: Any, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for a :func:`run` summary."""
    lines = [f"{out['flowgraph']}: {out['data']} ({out['split']}), codec {out['codec']} (CBR {Fraction(out['cbr']).limit_denominator(1000)}), "
             f"{out['channel']} at {out['snr_db']:g} dB, device {out['device']}",
             f"  {out['frames']} frames, {out['images']} images in {out['seconds']:.2f} s: "
             f"{_fmt(out['images_per_s'], '.1f')} images/s; latency p50 {_fmt(out['latency_p50_ms'])} ms, "
             f"p99 {_fmt(out['latency_p99_ms'])} ms",
             f"  PSNR {_fmt(out['psnr_db'])} dB, SSIM {_fmt(out['ssim'], '.4f')}, MSE {_fmt(out['mse_db'])} dB, "
             f"MS-SSIM {_fmt(out['ms_ssim'], '.4f') if out['ms_ssim'] is not None else 'n/a (images < 161 px)'}"]
    return "\n".join(lines)


def main(argv: list[str] | None, channel: str, doc: str | None = None) -> int:
    """Entry point of a JSCC flowgraph script (``channel`` is its default channel)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, channel)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out))
    else:
        print(format_summary(out))
    sys.stdout.flush()
    return 0


__all__ = ["add_arguments", "build", "run", "main", "format_summary", "default_codec", "CBR_CHOICES"]
