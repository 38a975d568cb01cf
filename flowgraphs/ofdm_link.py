#!/usr/bin/env python3
"""Images over a real waveform: JSCC latents on OFDM bursts, a sample-level channel, a receiver
that synchronises and estimates the channel, and the semantic decoder.

    python flowgraphs/ofdm_link.py --channel tdl-a --cfo 0.3 --sro-ppm 20 --snr-db 10 --frames 8
    python flowgraphs/ofdm_link.py --channel awgn --snr-db 5 --csi estimated --json
    python flowgraphs/ofdm_link.py --channel tdl-a --snr-db 10 --denoiser cddm
    python flowgraphs/ofdm_link.py --gnuradio --channel taps --cfo 0.256 --sro-ppm 20 --snr-db 15

Flowgraph (``--csi both``, the default: both receivers see the same samples, so estimated and
genie CSI are compared on the same channel draws)::

    ImageSource -> JSCCEncoder -> PowerNormalizer -> OFDMTransmitter -> SampleChannel --+
        |                                                                                |
        |     +-- OFDMReceiver(csi=estimated) -> MMSEEqualizer -> [denoiser] -> JSCCDecoder -> MetricSink
        |     +-- OFDMReceiver(csi=genie)     -> MMSEEqualizer -> [denoiser] -> JSCCDecoder -> MetricSink
        +--------------------------------------------------------------------- (references) ----+

The channel (:class:`~semradio.blocks.SampleChannel`): ``--channel awgn`` (noise only), ``taps``
(``--taps``, GNU Radio ``channel_model`` style), ``tdl-a`` .. ``tdl-e`` / ``cdl-a`` .. ``cdl-e``
(TR 38.901 through Sionna PHY, ``--delay-spread``, ``--speed``; a new static realisation per
burst unless ``--fading continuous``), ``--cfo`` in subcarrier spacings, ``--sro-ppm``,
``--delay`` (fractional samples), ``--phase-noise`` (linewidth, Hz), ``--snr-db`` per sample,
random idle gaps ``--gap-min/--gap-max``. The codec and denoisers are the Rayleigh-trained ones
(interleaved over the carriers, the latents see independent per-symbol fading as in training);
``--channel awgn`` uses the AWGN ones.

``--gnuradio``: the transmitted samples go to a real GNU Radio 3.10 ``channel_model`` flowgraph
(spawned under the system Python) over gr-zeromq and come back to the receiver; the genie branch
then runs beside it on semradio's own sample channel with the same settings (see
:mod:`semradio.flowgraphs.ofdm_gnuradio`).

Summary: per CSI branch, PSNR/SSIM over the delivered images, bursts sent / decoded, header
failures, estimated CFO and SNR, and the channel NMSE of the estimate against the genie channel.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from semradio.flowgraphs.app import flowgraph_main
from semradio.flowgraphs.ofdm_channel import SampleChannelOptions, make_sample_channel
from semradio.models.arguments import checkpoint_ref, dataset_spec
from semradio.runtime import Block, Flowgraph, Frame, SyncBlock
from semradio.runtime.arguments import db_or_inf, frame_count, output_file, positive_float, positive_int
from semradio.runtime.options import option

#: Tags the MetricSinks group by: the receiver's snr_db is a per-burst estimate.
GROUP_TAGS = ("channel", "eval_snr_db", "csi", "denoiser")


@dataclass
class OFDMLinkConfig(SampleChannelOptions):
    """Settings of the OFDM link (one field per command-line option; the channel's are
    :class:`~semradio.flowgraphs.ofdm_channel.SampleChannelOptions`)."""

    frames: int = option(8, type=frame_count, help="frames (bursts) to send (0: one pass over the data)")
    batch: int = option(16, type=positive_int, help="images per frame")
    snr_db: float = option(10.0, type=db_or_inf, help="per-sample SNR of the channel in dB (inf: no noise)")
    cbr: str = option("1/6", choices=("1/6", "1/12"), help="channel bandwidth ratio k/(CHW)")
    csi: str = option("both", choices=("both", "estimated", "genie"), help="receiver CSI branches to run")
    estimator: str = option("lmmse", choices=("lmmse", "ls", "diffusion"),
                            help="channel estimator (diffusion: the learned denoiser of the LS channel, chest_tdllink)")
    reference: str = option("auto", choices=("auto", "preamble", "pilots"),
                            help="preamble: LTS + header tracked by the pilots; pilots: per-symbol pilots; "
                                 "auto: preamble unless the pilots show the channel moved")
    backoff: int | None = option(None, help="receiver FFT window start, samples before the end of each CP (default "
                                           "4: channels up to CP - 4 = 12 samples; 0 gives the channel the whole CP)")
    denoiser: str = option("none", help="denoiser after the equaliser: none, cddm, ve, eecd1, eecd2")
    data: str = option("natural32", type=dataset_spec, help="dataset spec (natural32: held-out photo patches)")
    split: str = option("eval", choices=("eval", "train", "all"))
    codec: str | None = option(None, type=checkpoint_ref("codec"),
                               help="codec (default: the shipped Rayleigh one for --cbr; AWGN for awgn)")
    device: str = option("auto", help="codec/denoiser device: auto, cpu, cuda")
    gnuradio: bool = option(False, help="estimated branch through a real GNU Radio channel_model over gr-zeromq")
    gr_python: str = option("/usr/bin/python3", help="--gnuradio: the Python that has GNU Radio 3.10")
    csv: str | None = option(None, type=output_file,
                             help="per-frame metrics CSV (one per branch: NAME.estimated.csv ...)")
    timeout: float = option(900.0, type=positive_float, help="stop after this many seconds")


def chain_config(config: OFDMLinkConfig) -> Any:
    """The JSCC chain settings the codec and denoisers are chosen by (Rayleigh family, or AWGN)."""
    from semradio.blocks.hier.jscc_chain import JSCCChainConfig

    return JSCCChainConfig(channel="awgn" if config.channel in ("awgn", "none") else "rayleigh", snr_db=config.snr_db,
                           cbr=config.cbr, data=config.data, split=config.split, codec=config.codec,
                           denoiser=config.denoiser, device=config.device, seed=config.seed)


def sample_channel(config: OFDMLinkConfig) -> Block:
    """The :class:`~semradio.blocks.SampleChannel` of ``config`` (noiseless output kept for the
    genie branch; 8 resampler taps as GNU Radio's with ``--gnuradio``, else 16)."""
    return make_sample_channel(config, config.snr_db, resampler_taps=8 if config.gnuradio else 16)


class SentCounter(SyncBlock):
    """Counts the frames (and images) the transmitter sends; passes them through."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.frames = 0
        self.images = 0

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        self.frames += 1
        self.images += int(frame.data.shape[0])
        return frame


class LinkMeter(SyncBlock):
    """Records each decoded burst's receiver measurements (CFO, SNR, CSI error) and passes it on.

    Reads the receiver's ``ofdm`` dict, ``snr_db``, ``csi_error_var``, ``h`` and (simulation)
    ``eval_h_true``: the channel NMSE ``sum |h - h_true|^2 / sum |h_true|^2`` of the CSI used."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.rows: list[dict[str, Any]] = []

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        t = frame.tags
        o = t.get("ofdm") if isinstance(t.get("ofdm"), dict) else {}
        row = {"seq": t.get("seq"), "cfo": o.get("cfo"), "snr_db": t.get("snr_db"),
               "snr_db_lts": o.get("snr_db_lts"), "metric": o.get("metric"), "nmse_db": None}
        h, ht = t.get("h"), t.get("eval_h_true")
        if h is not None and ht is not None and t.get("csi") != "genie":
            h, ht = np.asarray(h), np.asarray(ht)
            if h.shape == ht.shape:
                den = float(np.sum(np.abs(ht) ** 2))
                if den > 0:
                    row["nmse_db"] = 10 * math.log10(max(float(np.sum(np.abs(h - ht) ** 2)) / den, 1e-30))
        self.rows.append(row)
        return frame


def _branch(fg: Flowgraph, config: OFDMLinkConfig, csi: str, head: Block, source: Block, chain: Any,
            device: str, codec: str) -> dict[str, Any]:
    """Receiver -> equaliser -> [denoiser] -> decoder -> metrics for one CSI mode."""
    from semradio.blocks.codecs.jscc import JSCCDecoder
    from semradio.blocks.denoisers.registry import make_chain_denoiser
    from semradio.blocks.digital.equalizer import MMSEEqualizer
    from semradio.blocks.digital.ofdm_rx import OFDMReceiver
    from semradio.blocks.metrics.metric_sink import MetricSink

    rx = OFDMReceiver(sample_rate=config.sample_rate, estimator=config.estimator, reference=config.reference,
                      backoff=config.backoff, csi=csi, name=f"rx_{csi}")
    meter = LinkMeter(name=f"meter_{csi}")
    eq = MMSEEqualizer(name=f"equalizer_{csi}")
    den = make_chain_denoiser(chain)
    blocks: list[Block] = [rx, meter, eq]
    decoder_codec = codec
    if den is not None:
        den.block.name = f"{den.block.name}_{csi}"
        blocks.append(den.block)
        decoder_codec = den.decoder_codec or codec
    dec = JSCCDecoder(decoder_codec, device=device, name=f"decoder_{csi}")
    csv = None if config.csv is None else config.csv.replace(".csv", "") + f".{csi}.csv"
    sink = MetricSink(csv_path=csv, group_tags=GROUP_TAGS, align_timeout_s=config.timeout, name=f"sink_{csi}")
    fg.connect(head, *blocks, dec, (sink, "rec"))
    fg.connect(source, (sink, "ref"))
    return {"rx": rx, "meter": meter, "denoiser": None if den is None else den.block, "decoder": dec, "sink": sink}


def build(config: OFDMLinkConfig) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks (``source``, ``encoder``, ``normalizer``, ``counter``,
    ``tx``, ``channel``, and per CSI branch ``branches[csi]``)."""
    from semradio.blocks.basic.image_source import ImageSource
    from semradio.blocks.channels.power import PowerNormalizer
    from semradio.blocks.codecs.jscc import JSCCEncoder
    from semradio.blocks.digital.ofdm_tx import OFDMTransmitter
    from semradio.blocks.hier.jscc_chain import codec_of
    from semradio.models.checkpoint import resolve_device

    chain = chain_config(config)
    device = resolve_device(config.device)
    codec = codec_of(chain)
    fg = Flowgraph(f"ofdm_{config.channel}")
    source = ImageSource(config.data, split=config.split, batch=config.batch,
                         frames=None if config.frames == 0 else config.frames,
                         device=None if device.type == "cpu" else str(device), name="source")
    enc = JSCCEncoder(codec, device=str(device), snr_db=config.snr_db, name="encoder")
    norm = PowerNormalizer(name="normalizer")
    counter = SentCounter(name="sent")
    tx = OFDMTransmitter(sample_rate=config.sample_rate, codec=codec, gap=64, keep_grid=True, name="tx")
    fg.connect(source, enc, norm, counter, tx)
    blocks: dict[str, Any] = {"source": source, "encoder": enc, "normalizer": norm, "counter": counter, "tx": tx,
                              "codec": codec, "branches": {}}
    csis = ("estimated", "genie") if config.csi == "both" else (config.csi,)
    if config.gnuradio:
        from semradio.flowgraphs.ofdm_gnuradio import gnuradio_channel

        gr_head = gnuradio_channel(fg, config, tx, blocks)
        try:
            blocks["branches"]["estimated"] = _branch(fg, config, "estimated", gr_head, source, chain, str(device),
                                                      codec)
            if "genie" in csis:
                ch = sample_channel(config)
                fg.connect(tx, ch)
                blocks["channel"] = ch
                blocks["branches"]["genie"] = _branch(fg, config, "genie", ch, source, chain, str(device), codec)
        except BaseException:  # nothing will run: stop GNU Radio and free the bound port
            release_gnuradio(blocks)
            raise
        return fg, blocks
    ch = sample_channel(config)
    fg.connect(tx, ch)
    blocks["channel"] = ch
    for csi in csis:
        blocks["branches"][csi] = _branch(fg, config, csi, ch, source, chain, str(device), codec)
    return fg, blocks


def _branch_summary(b: dict[str, Any], sent_frames: int, sent_images: int) -> dict[str, Any]:
    s = b["sink"].summary()
    rx = b["rx"].status()["ofdm"]
    images = s["images"]
    psnr = ssim = None
    if s["groups"]:
        w = np.array([g["images"] for g in s["groups"]], np.float64)
        psnr = float(np.average([g["psnr_db"] for g in s["groups"]], weights=w))
        ssim = float(np.average([g["ssim"] for g in s["groups"]], weights=w))
    rows = b["meter"].rows
    nmse = [r["nmse_db"] for r in rows if r["nmse_db"] is not None]
    cfo = [r["cfo"] for r in rows if r["cfo"] is not None]
    snr = [r["snr_db"] for r in rows if r["snr_db"] is not None]
    return {
        "psnr_db": psnr, "ssim": ssim, "images": images, "frames_decoded": s["frames"],
        "frames_sent": sent_frames, "delivery": s["frames"] / sent_frames if sent_frames else None,
        "images_sent": sent_images,
        "detections": rx["detections"], "header_crc_failures": rx["header_crc"],
        "cfo_mean": float(np.mean(cfo)) if cfo else None, "cfo_std": float(np.std(cfo)) if cfo else None,
        "snr_db_estimated_mean": float(np.mean(snr)) if snr else None,
        "channel_nmse_db": float(10 * np.log10(np.mean(10 ** (np.array(nmse) / 10)))) if nmse else None,
        "rx_stage_us_per_burst": rx["stage_us_per_burst"],
    }


def summarize(config: OFDMLinkConfig, fg: Flowgraph, blocks: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The run's summary (one JSON-serialisable dict)."""
    counter = blocks["counter"]
    out: dict[str, Any] = {
        "flowgraph": fg.name, "codec": blocks["codec"], "channel": config.channel, "snr_db": config.snr_db,
        "cfo": config.cfo, "sro_ppm": config.sro_ppm, "delay": config.delay, "delay_spread": config.delay_spread,
        "speed": config.speed, "fading": config.fading, "phase_noise": config.phase_noise,
        "gaps": [config.gap_min, config.gap_max], "estimator": config.estimator, "reference": config.reference,
        "denoiser": config.denoiser, "gnuradio": config.gnuradio, "seed": config.seed,
        "frames_sent": counter.frames, "seconds": round(seconds, 2),
        "branches": {csi: _branch_summary(b, counter.frames, counter.images)
                     for csi, b in blocks["branches"].items()},
    }
    if "gnuradio_peer" in blocks:
        out["gnuradio_peer"] = blocks["gnuradio_peer"].report()
    b = out["branches"]
    if "estimated" in b and "genie" in b and b["estimated"]["psnr_db"] is not None \
            and b["genie"]["psnr_db"] is not None:
        out["psnr_loss_db"] = b["genie"]["psnr_db"] - b["estimated"]["psnr_db"]
    return out


def release_gnuradio(blocks: dict[str, Any]) -> None:
    """Stop the spawned GNU Radio process of ``blocks`` (``gnuradio_peer``) and close the sink
    bound for it (``gr_sink``) unless a flowgraph started it (then its own ``stop`` closes it).
    Idempotent; nothing when ``blocks`` has neither."""
    peer = blocks.get("gnuradio_peer")
    if peer is not None:
        peer.close()
    sink = blocks.get("gr_sink")
    if sink is not None:
        sink.close_unstarted()


def run(config: OFDMLinkConfig, scopes: Any = None) -> dict[str, Any]:
    """Build, run to the end of the frames (scopes: ``--gui`` / ``--snapshot`` add the OFDM scope
    on the estimated-CSI receiver: constellation, |H(f)|, CFO and detection metric), summarize."""
    from semradio.blocks.qtgui.ofdm import run_ofdm_flowgraph

    blocks: dict[str, Any] = {}
    try:
        fg, blocks = build(config)
        t0 = time.perf_counter()
        run_ofdm_flowgraph(fg, scopes, blocks, timeout=config.timeout)
        seconds = time.perf_counter() - t0
    finally:
        release_gnuradio(blocks)
    return summarize(config, fg, blocks, seconds)


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for a :func:`run` summary."""
    lines = [f"{out['flowgraph']}: {out['codec']}, {out['channel']} at {out['snr_db']:g} dB, CFO {out['cfo']:g} "
             f"subcarriers, SRO {out['sro_ppm']:g} ppm, delay {out['delay']:g}, {out['frames_sent']} frames "
             f"in {out['seconds']:.1f} s" + (" (through GNU Radio)" if out["gnuradio"] else "")]
    for csi, b in out["branches"].items():
        f = (lambda v, s=".2f": "n/a" if v is None else format(v, s))
        lines.append(f"  {csi:9s}: PSNR {f(b['psnr_db'])} dB, SSIM {f(b['ssim'], '.4f')}, decoded "
                     f"{b['frames_decoded']}/{b['frames_sent']} bursts (header CRC failures {b['header_crc_failures']}), "
                     f"CFO {f(b['cfo_mean'], '.4f')} +- {f(b['cfo_std'], '.4f')}, est. SNR {f(b['snr_db_estimated_mean'])} dB, "
                     f"channel NMSE {f(b['channel_nmse_db'])} dB")
    if "psnr_loss_db" in out:
        how = ("the genie branch on semradio's channel model, independent noise" if out["gnuradio"]
               else "same draws")
        lines.append(f"  estimated CSI loses {out['psnr_loss_db']:.2f} dB PSNR against genie CSI ({how})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(OFDMLinkConfig, run, argv, doc=__doc__, summary=format_summary)


if __name__ == "__main__":
    raise SystemExit(main())
