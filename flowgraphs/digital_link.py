#!/usr/bin/env python3
"""The digital baseline as a flowgraph: a standard image codec, 5G LDPC and QAM over the same
channel uses a JSCC codec spends on the image.

    python flowgraphs/digital_link.py --snr-db 5 --mcs 7 --json
    python flowgraphs/digital_link.py --channel rayleigh --snr-db 15 --mcs 20 --codec jpeg2000 --frames 8
    python flowgraphs/digital_link.py --snr-db 8 --mcs 15 --gui          # BLER and PSNR in the metric panel
    semradio run flowgraphs/digital_link.py -- --snr-db 2 --mcs 3 --frames 4

Flowgraph::

    ImageSource -> DigitalImageTx -> channel (AWGN | Rayleigh block/fast fading) -> DigitalImageRx
         |        (codec at the best      y = h x + n, CSI tag h        (LLRs, 5G LDPC, CRC,
         |         fitting quality,                                       image decoder or
         |         5G TB, QAM)                                            mid-grey concealment)
         +----------------------------------------------------------------> MetricSink (ref, rec)

Default data: the three held-out photos as whole 128x128 images (``--data photos:128``; 32x32
patches leave no room for a codec's headers), CBR 1/6 -> 8,192 channel uses per image. Prints
PSNR/SSIM, the TB error rate (BLER), erasures (concealed images: TB CRC failures, images that did
not fit, bitstreams the decoder rejected) and the bytes the codec got (``--json``: one JSON
object). With ``--gui``/``--snapshot`` the metric panel shows PSNR, SSIM and the BLER per frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from semradio.flowgraphs.app import flowgraph_main
from semradio.models.arguments import dataset_spec
from semradio.runtime.arguments import frame_count, output_file, positive_float, positive_int
from semradio.runtime.options import option


@dataclass
class DigitalLinkConfig:
    """Settings of the digital link flowgraph (one field per command-line option)."""

    frames: int = option(0, type=frame_count, help="frames to send (0: one pass over the data; n: n frames, cycling)")
    batch: int = option(3, type=positive_int, help="images per frame")
    snr_db: float = option(10.0, help="channel SNR Es/N0 in dB")
    cbr: str = option("1/6", help="channel bandwidth ratio k/(CHW): channel uses = CBR x C H W")
    channel: str = option("awgn", choices=("awgn", "rayleigh", "rician"), help="channel model")
    fading: str = option("block", choices=("fast", "block"), help="fading channels: block (one gain per "
                                                                    "--coherence symbols) or fast")
    coherence: int | None = option(None, help="block fading: symbols per coherence block (default: the whole image)")
    codec: str = option("webp", choices=("jpeg", "jpeg2000", "webp"), help="image codec (Pillow)")
    mcs: int = option(7, help="MCS index of TS 38.214 Table 5.1.3.1-1 (3..28)")
    iterations: int = option(20, help="LDPC belief-propagation iterations")
    data: str = option("photos:128", type=dataset_spec,
                       help="dataset spec (photos:SIZE, natural32, folder:DIR:SIZE, ...)")
    split: str = option("eval", choices=("eval", "train", "all"))
    seed: int = option(0, help="channel seed")
    csv: str | None = option(None, type=output_file, help="write per-frame metrics to this CSV file")
    metrics_json: str | None = option(None, type=output_file, help="write the aggregated metrics to this JSON file")
    timeout: float = option(600.0, type=positive_float, help="stop after this many seconds")


def build(config: DigitalLinkConfig) -> tuple[Any, dict[str, Any]]:
    """The flowgraph and its blocks by role (``source``, ``encoder`` (Tx), ``channel``,
    ``decoder`` (Rx), ``sink``)."""
    from semradio.blocks.basic.image_source import ImageSource
    from semradio.blocks.channels.fading import make_channel
    from semradio.blocks.digital.image_rx import DigitalImageRx
    from semradio.blocks.digital.image_tx import DigitalImageTx
    from semradio.blocks.metrics.metric_sink import MetricSink
    from semradio.runtime import Flowgraph

    cbr = float(Fraction(config.cbr))
    fg = Flowgraph(f"digital_{config.channel}")
    source = ImageSource(config.data, split=config.split, batch=config.batch,
                         frames=None if config.frames == 0 else config.frames, name="source")
    tx = DigitalImageTx(config.codec, config.mcs, cbr, config.iterations, name="encoder")
    channel = make_channel(config.channel, name="channel", snr_db=config.snr_db, fading=config.fading,
                           coherence=config.coherence, seed=config.seed)
    rx = DigitalImageRx(config.codec, config.mcs, cbr, config.iterations, name="decoder")
    sink = MetricSink(csv_path=config.csv, json_path=config.metrics_json, name="sink")
    fg.connect(source, tx, channel, rx, (sink, "rec"))
    fg.connect(source, (sink, "ref"))
    return fg, {"source": source, "encoder": tx, "channel": channel, "decoder": rx, "sink": sink}


def summarize(config: DigitalLinkConfig, fg: Any, blocks: dict[str, Any], seconds: float) -> dict[str, Any]:
    """PSNR/SSIM of the single group, BLER and erasure counts, bytes per image."""
    from semradio.dsp.digital.mcs import mcs_label

    s = blocks["sink"].summary()
    g = s["groups"][0] if len(s["groups"]) == 1 else None
    c = dict(blocks["decoder"].counts)
    return {
        "flowgraph": fg.name, "data": config.data, "channel": config.channel, "fading": config.fading,
        "snr_db": config.snr_db, "cbr": config.cbr, "codec": config.codec, "mcs": config.mcs,
        "mcs_label": mcs_label(config.mcs), "frames": s["frames"], "images": s["images"],
        "seconds": round(seconds, 3),
        **{k: None if g is None else g[k] for k in ("psnr_db", "ssim", "mse_db")},
        "bler": c["tb_errors"] / c["tbs"] if c["tbs"] else None, **c,
        "unfit_at_tx": blocks["encoder"].unfit,
        "groups": s["groups"],
    }


def run(config: DigitalLinkConfig, scopes: Any = None) -> dict[str, Any]:
    """Build, run to the end of the frames (with scopes when asked) and summarize."""
    from semradio.blocks.qtgui.gui_support import run_flowgraph

    fg, blocks = build(config)
    t0 = time.perf_counter()
    run_flowgraph(fg, scopes, blocks, timeout=config.timeout)
    return summarize(config, fg, blocks, time.perf_counter() - t0)


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines of a :func:`run` summary."""
    f = (lambda v, spec=".2f": "n/a" if v is None else format(v, spec))
    return "\n".join([
        f"{out['flowgraph']}: {out['data']}, {out['codec']} + {out['mcs_label']}, CBR {out['cbr']}, "
        f"{out['channel']} at {out['snr_db']:g} dB",
        f"  {out['images']} images in {out['seconds']:.2f} s; TBs {out['tbs']}, TB errors {out['tb_errors']} "
        f"(BLER {f(out['bler'], '.3f')}), erasures {out['erasures']} (unfit {out['unfit']}, "
        f"decoder rejects {out['decode_failures']})",
        f"  PSNR {f(out['psnr_db'])} dB, SSIM {f(out['ssim'], '.4f')}"])


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(DigitalLinkConfig, run, argv, doc=__doc__, summary=format_summary)


if __name__ == "__main__":
    raise SystemExit(main())
