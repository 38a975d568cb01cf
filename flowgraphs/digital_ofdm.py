#!/usr/bin/env python3
"""The digital baseline over the OFDM waveform: image codec + 5G LDPC + QAM symbols carried by
the OFDM bursts of ``flowgraphs/ofdm_link.py`` through a sample-level channel.

    python flowgraphs/digital_ofdm.py --channel awgn --snr-db 8 --mcs 7 --json
    python flowgraphs/digital_ofdm.py --channel tdl-a --snr-db 15 --mcs 15 --csi estimated
    python flowgraphs/digital_ofdm.py --channel tdl-a --cfo 0.3 --sro-ppm 20 --snr-db 20 --mcs 20 --gui

Flowgraph::

    ImageSource -> DigitalImageTx -> OFDMTransmitter -> SampleChannel -> OFDMReceiver -> DigitalImageRx
         |                                                                               -> MetricSink
         +------------------------------------------------------------------ (references) ----+

The OFDM receiver hands the data symbols with its channel estimate ``h`` and noise variance
(``--csi estimated``; ``genie``: the true channel) to the digital receiver, which demaps with the
per-symbol variance ``s2/|h|^2`` as on the symbol-level channels. Same channel uses per image as
the JSCC chain (``CBR x 3 H W`` data symbols; the OFDM preamble, header and pilots are the
waveform's own overhead, equal for both). A burst the receiver misses or whose header fails its
CRC never reaches the digital receiver: the summary counts it (``frames_sent`` vs ``frames``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from semradio.flowgraphs.app import flowgraph_main
from semradio.flowgraphs.ofdm_channel import SampleChannelOptions, make_sample_channel
from semradio.models.arguments import dataset_spec
from semradio.runtime.arguments import frame_count, positive_float, positive_int
from semradio.runtime.options import option


@dataclass
class DigitalOFDMConfig(SampleChannelOptions):
    """Settings of the digital OFDM flowgraph (sample-channel options of ``ofdm_link.py`` plus the
    digital link's)."""

    frames: int = option(0, type=frame_count, help="frames (bursts) to send (0: one pass over the data)")
    batch: int = option(3, type=positive_int, help="images per frame (burst)")
    snr_db: float = option(10.0, help="per-sample SNR of the channel in dB")
    cbr: str = option("1/6", help="channel bandwidth ratio: data symbols per image = CBR x C H W")
    csi: str = option("estimated", choices=("estimated", "genie"), help="the receiver's CSI")
    codec: str = option("webp", choices=("jpeg", "jpeg2000", "webp"), help="image codec (Pillow)")
    mcs: int = option(7, help="MCS index of TS 38.214 Table 5.1.3.1-1 (3..28)")
    iterations: int = option(20, help="LDPC belief-propagation iterations")
    data: str = option("photos:128", type=dataset_spec, help="dataset spec (photos:SIZE: whole held-out photos)")
    split: str = option("eval", choices=("eval", "train", "all"))
    timeout: float = option(900.0, type=positive_float, help="stop after this many seconds")


def build(config: DigitalOFDMConfig) -> tuple[Any, dict[str, Any]]:
    """The flowgraph and its blocks by role (``source``, ``encoder``, ``tx``, ``channel``, ``rx``,
    ``decoder``, ``sink``)."""
    from semradio.blocks.basic.image_source import ImageSource
    from semradio.blocks.digital.image_rx import DigitalImageRx
    from semradio.blocks.digital.image_tx import DigitalImageTx
    from semradio.blocks.digital.ofdm_rx import OFDMReceiver
    from semradio.blocks.digital.ofdm_tx import OFDMTransmitter
    from semradio.blocks.metrics.metric_sink import MetricSink
    from semradio.runtime import Flowgraph

    cbr = float(Fraction(config.cbr))
    source = ImageSource(config.data, split=config.split, batch=config.batch,
                         frames=None if config.frames == 0 else config.frames, name="source")
    shape = tuple(int(v) for v in source.images.shape[1:])
    fg = Flowgraph(f"digital_ofdm_{config.channel}")
    enc = DigitalImageTx(config.codec, config.mcs, cbr, config.iterations, name="encoder")
    tx = OFDMTransmitter(sample_rate=config.sample_rate, codec=f"digital-{config.codec}", gap=64, name="tx")
    ch = make_sample_channel(config, config.snr_db)
    rx = OFDMReceiver(sample_rate=config.sample_rate, csi=config.csi, name="rx")
    dec = DigitalImageRx(config.codec, config.mcs, cbr, config.iterations, image_shape=shape, name="decoder")
    sink = MetricSink(group_tags=("csi",), align_timeout_s=config.timeout, name="sink")
    fg.connect(source, enc, tx, ch, rx, dec, (sink, "rec"))
    fg.connect(source, (sink, "ref"))
    return fg, {"source": source, "encoder": enc, "tx": tx, "channel": ch, "rx": rx, "decoder": dec, "sink": sink}


def run(config: DigitalOFDMConfig, scopes: Any = None) -> dict[str, Any]:
    """Build, run to the end of the frames and summarize (PSNR/SSIM, BLER, erasures, bursts)."""
    from semradio.blocks.qtgui.gui_support import run_flowgraph
    from semradio.dsp.digital.mcs import mcs_label

    fg, blocks = build(config)
    t0 = time.perf_counter()
    run_flowgraph(fg, scopes, blocks, timeout=config.timeout)
    s = blocks["sink"].summary()
    g = s["groups"][0] if len(s["groups"]) == 1 else None
    c = dict(blocks["decoder"].counts)
    src = blocks["source"]
    return {"flowgraph": fg.name, "data": config.data, "channel": config.channel, "snr_db": config.snr_db,
            "csi": config.csi, "codec": config.codec, "mcs": config.mcs, "mcs_label": mcs_label(config.mcs),
            "frames_sent": src.n_frames, "frames": s["frames"], "images": s["images"],
            "seconds": round(time.perf_counter() - t0, 2),
            **{k: None if g is None else g[k] for k in ("psnr_db", "ssim")},
            "bler": c["tb_errors"] / c["tbs"] if c["tbs"] else None, **c}


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(DigitalOFDMConfig, run, argv, doc=__doc__, defaults={"channel": "awgn"})


if __name__ == "__main__":
    raise SystemExit(main())
