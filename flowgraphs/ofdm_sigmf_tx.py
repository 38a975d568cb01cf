#!/usr/bin/env python3
"""Transmit images into a SigMF capture: JSCC latents on OFDM bursts, optionally through a
simulated sample-level channel, each burst annotated with what it carries.

    python flowgraphs/ofdm_sigmf_tx.py /tmp/cap --images 16 --batch 4
    python flowgraphs/ofdm_sigmf_tx.py /tmp/cap_tdl --images 16 --channel tdl-a --snr-db 10 --cfo 0.3 --json
    python flowgraphs/ofdm_sigmf_rx.py /tmp/cap                       # decode it in another process
    python flowgraphs/sigmf_replay.py /tmp/cap --channel awgn --snr-db 20 --out /tmp/cap_awgn
    python flowgraphs/ofdm_sigmf_rx.py /tmp/cap_awgn --reference /tmp/cap

Flowgraph::

    ImageSource -> JSCCEncoder -> PowerNormalizer -> OFDMTransmitter -> [SampleChannel] -> BurstRecorder
                                                                                     (OUT [+ OUT.noiseless])

The first ``--images`` images of ``--data``/``--split`` (in order), ``--batch`` per burst, are
encoded by the shipped Rayleigh-trained SNR-adaptive codec for ``--cbr`` (the encoder assumes
``--snr-db``), power-normalised and modulated (``semradio.dsp.ofdm``: N = 64, CP = 16, 52 used
carriers, repeated-STS preamble, LTS, coded header with seq/items/length/codec/CRC-32, then the
data), ``--gap`` zeros after each burst. ``--channel`` (default ``none``) puts the stream through
:class:`~semradio.blocks.SampleChannel` with ofdm_link.py's options (``awgn``, ``taps``,
``tdl-a`` .. ``cdl-e``, ``--cfo`` in subcarrier spacings, ``--sro-ppm``, ``--delay``,
``--phase-noise``, idle gaps ``--gap-min/--gap-max``) at ``--channel-snr-db`` (default
``--snr-db``).

The recording (``OUT.sigmf-meta`` + ``OUT.sigmf-data``, ``cf32_le``, unit mean power per burst
sample) starts with ``--lead`` idle samples and is padded with idle samples to a multiple of
``--align`` (idle = zeros, or noise at the channel's level with a channel), so that a replay in
frames of ``--align`` samples (``sigmf_replay.py``'s default 1024) loses no burst. Its metadata
(global and one annotation per burst) is described in
:mod:`semradio.flowgraphs.ofdm_sigmf_common`; with a channel, the noiseless channel output is
written as the companion recording ``OUT.noiseless`` (same sample positions), which is what the
receiver measures the channel NMSE against (``--no-noiseless``: not written).

Summary (``--json``: one JSON object): the files, samples, bursts, images, codec, channel,
duration at the sample rate, and the capture's SHA-512.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from semradio.flowgraphs.app import flowgraph_main
from semradio.flowgraphs.ofdm_channel import CHANNELS, SampleChannelOptions, make_sample_channel
from semradio.flowgraphs.ofdm_channel import channel_record as _channel_record
from semradio.flowgraphs.ofdm_sigmf_common import (NS, SPLITS, burst_annotation, numerology_record,
                                                   numerology_text, positional_as_option)
from semradio.models.arguments import checkpoint_ref, dataset_spec
from semradio.runtime import Block, Flowgraph, Frame, SinkBlock
from semradio.runtime.arguments import positive_float, positive_int
from semradio.runtime.options import option

_NO_OUT = "give the recording to write (OUT)"


@dataclass
class OFDMSigMFTxConfig(SampleChannelOptions):
    """Settings of the transmitter (one field per command-line option; the simulated channel's
    are :class:`~semradio.flowgraphs.ofdm_channel.SampleChannelOptions`, off by default)."""

    out: str | None = option(None, metavar="OUT", help="recording to write (base name; also the positional OUT)")
    images: int = option(16, help="images to send: the first N of --data/--split, in order")
    batch: int = option(4, type=positive_int, help="images per burst")
    data: str = option("natural32", type=dataset_spec,
                       help="dataset spec (natural32: held-out photo patches, no download)")
    split: str = option("eval", choices=SPLITS)
    cbr: str = option("1/6", choices=("1/6", "1/12"), help="channel bandwidth ratio k/(CHW)")
    codec: str | None = option(None, type=checkpoint_ref("codec"),
                               help="codec (default: the shipped Rayleigh-trained one for --data, --cbr)")
    snr_db: float = option(10.0, help="SNR (dB) the SNR-adaptive encoder assumes; the channel's too "
                                      "unless --channel-snr-db")
    gap: int = option(256, help="zero samples the transmitter appends to each burst")
    lead: int = option(512, help="idle samples before the first burst")
    align: int = option(1024, help="pad the recording with idle samples to a multiple of this many samples")
    center_freq: float | None = option(None, help="core:frequency of the capture (Hz), if any")
    channel: str = option("none", choices=CHANNELS, help="simulated channel (none: the clean waveform)")
    channel_snr_db: float | None = option(None, help="per-sample SNR of the channel in dB (default: --snr-db)")
    no_noiseless: bool = option(False, help="with a channel: do not write the OUT.noiseless companion")
    description: str | None = option(None, help="core:description (default: what was sent)")
    device: str = option("auto", help="encoder device: auto, cpu, cuda")
    timeout: float = option(600.0, type=positive_float, help="stop after this many seconds")


def channel_record(config: OFDMSigMFTxConfig) -> dict[str, Any]:
    """The ``semradio:channel`` global: the channel's settings (``{"name": "none"}`` without one)."""
    return _channel_record(config, channel_snr(config))


def channel_snr(config: OFDMSigMFTxConfig) -> float:
    """The channel's per-sample SNR (dB)."""
    return config.snr_db if config.channel_snr_db is None else float(config.channel_snr_db)


def sample_channel(config: OFDMSigMFTxConfig) -> Block:
    """The :class:`~semradio.blocks.SampleChannel` of ``config`` (noiseless output kept)."""
    return make_sample_channel(config, channel_snr(config))


class BurstRecorder(SinkBlock):
    """Writes the transmitted (or channel-output) bursts as a SigMF recording, one annotation per
    burst, and with ``noiseless_path`` the frames' ``eval_noiseless`` as a companion recording.

    Inputs:
        ``in``: complex64 (1, n) frames, one burst each (its trailing gap included), from an
        :class:`~semradio.blocks.OFDMTransmitter` or a :class:`~semradio.blocks.SampleChannel`.
    Tags read: ``seq``, ``burst_len``, ``image_index`` (int (B,)), ``dataset``, ``k``; from a
    channel: ``eval_burst_start``, ``eval_epsilon``, ``eval_taps``, ``eval_gap``,
    ``eval_noiseless`` (complex64 (1, n)).

    Args:
        path: the recording's base name.
        global_info: extra global fields (``semradio:*``, ``core:description``...).
        sample_rate: ``core:sample_rate`` (Hz). center_freq: ``core:frequency`` of the capture.
        lead / align: idle samples before the first burst; pad the end to a multiple of ``align``.
        idle_noise_var: complex noise variance of the idle samples (0: zeros).
        channel: the per-burst channel fields of the annotations (None: no channel).
        noiseless_path: base name of the companion noiseless recording (None: none).
        split / codec / codec_id / encoder_snr_db / numerology: annotated on every burst.
        seed: seed of the idle noise.
    Attributes:
        samples: samples written; ``bursts``: bursts written; ``annotations``: their annotations.
    """

    def __init__(self, path: str, global_info: dict[str, Any], sample_rate: float, center_freq: float | None,
                 lead: int, align: int, idle_noise_var: float, channel: dict[str, Any] | None,
                 noiseless_path: str | None, split: str, codec: str, codec_id: int, encoder_snr_db: float,
                 numerology: str, seed: int = 0, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", "complex64")
        self.path, self.noiseless_path = path, noiseless_path
        self.global_info = dict(global_info)
        self.sample_rate, self.center_freq = float(sample_rate), center_freq
        self.lead, self.align = int(lead), max(1, int(align))
        self.idle_noise_var = float(idle_noise_var)
        self.channel = channel
        self.split, self.codec, self.codec_id, self.encoder_snr_db = split, codec, codec_id, encoder_snr_db
        self.numerology = numerology
        self.rng = np.random.default_rng([int(seed), 0x1D1E])
        self.samples = 0
        self.bursts = 0
        self.images = 0
        self.annotations: list[dict[str, Any]] = []
        self.sha512: str | None = None
        self._fh: Any = None
        self._fh0: Any = None
        self._started_at: str | None = None

    def _idle(self, n: int) -> None:
        """Append ``n`` idle samples (noise at the channel's level; zeros in the companion)."""
        if n <= 0:
            return
        x = np.zeros(n, np.complex64)
        if self.idle_noise_var > 0:
            s = math.sqrt(self.idle_noise_var / 2)
            x = (s * (self.rng.standard_normal(n) + 1j * self.rng.standard_normal(n))).astype(np.complex64)
        self._write(x, np.zeros(n, np.complex64))

    def _write(self, x: np.ndarray, clean: np.ndarray | None) -> None:
        from semradio.blocks.fileio.iq_files import encode_iq

        self._fh.write(encode_iq(x, "cf32_le").tobytes())
        if self._fh0 is not None:
            self._fh0.write(encode_iq(clean if clean is not None else np.zeros_like(x), "cf32_le").tobytes())
        self.samples += x.size

    def start(self) -> None:
        import datetime as dt

        from semradio.blocks.fileio.sigmf_files import sigmf_paths

        self._started_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        paths = [self.path] + ([self.noiseless_path] if self.noiseless_path else [])
        handles = []
        for p in paths:
            _, data = sigmf_paths(p)
            os.makedirs(os.path.dirname(os.path.abspath(data)), exist_ok=True)
            handles.append(open(data, "wb"))
        self._fh = handles[0]
        self._fh0 = handles[1] if len(handles) > 1 else None
        self.samples = self.bursts = self.images = 0
        self.annotations = []
        self._idle(self.lead)

    def work(self, frame: Frame) -> None:  # type: ignore[override]
        x = np.asarray(frame.data).reshape(-1).astype(np.complex64, copy=False)
        t = frame.tags
        clean = None
        if self._fh0 is not None:
            clean = np.asarray(t.get("eval_noiseless")).reshape(-1).astype(np.complex64, copy=False)
            if clean.size != x.size:
                raise ValueError(f"{self.name}: eval_noiseless has {clean.size} samples, the frame {x.size}")
        burst_len = int(t["burst_len"])
        per_burst: dict[str, Any] | None = None
        if self.channel is None:
            first, count = 0, burst_len
        else:
            first = max(0, int(math.floor(float(t.get("eval_burst_start", 0.0)))))
            eps = float(t.get("eval_epsilon", 1.0))
            taps = np.asarray(t.get("eval_taps", np.ones(1))).reshape(-1)
            count = int(math.ceil(burst_len / eps)) + max(0, taps.size - 1)
            per_burst = dict(self.channel, gap=int(t.get("eval_gap", 0)))
        images = [int(i) for i in np.asarray(t["image_index"]).reshape(-1)]
        seq = int(t.get("seq", self.bursts)) & 0xFFFFFFFF
        self.annotations.append(burst_annotation(
            self.samples + first, count, seq, images, int(t["k"]), str(t.get("dataset", "array")), self.split,
            self.codec, self.codec_id, self.encoder_snr_db, self.numerology, per_burst))
        self._write(x, clean)
        self.bursts += 1
        self.images += len(images)

    def stop(self) -> None:
        if self._fh is None:
            return
        self._idle(-self.samples % self.align)
        for fh in (self._fh, self._fh0):
            if fh is not None:
                fh.close()
        self._fh = self._fh0 = None
        for a in self.annotations:  # a multipath tail may reach past the last sample
            a["core:sample_count"] = max(1, min(a["core:sample_count"], self.samples - a["core:sample_start"]))
        self.global_info[NS + "bursts"] = self.bursts
        self.global_info[NS + "images"] = self.images
        self.sha512 = self._write_meta(self.path, self.global_info, self.annotations)
        if self.noiseless_path:
            info = dict(self.global_info)
            info["core:description"] = f"noiseless channel output of {os.path.basename(self.path)} (evaluation only)"
            info[NS + "reference"] = "self"
            info[NS + "noiseless_of"] = {"path": os.path.basename(self.path), "sha512": self.sha512}
            self._write_meta(self.noiseless_path, info, self.annotations)

    def _write_meta(self, path: str, info: dict[str, Any], annotations: list[dict[str, Any]]) -> str:
        """Write ``path``'s ``.sigmf-meta`` (validated by ``sigmf``); returns its ``core:sha512``."""
        import sigmf
        from sigmf import SigMFFile

        from semradio.blocks.fileio.sigmf_files import sigmf_paths

        meta, data = sigmf_paths(path)
        glob: dict[str, Any] = {"core:datatype": "cf32_le", "core:version": sigmf.__specification__,
                                "core:sample_rate": self.sample_rate, "core:recorder": "semradio ofdm_sigmf_tx.py",
                                "core:extensions": [{"name": "semradio", "version": "0.1.0", "optional": True}]}
        glob.update(info)
        rec = SigMFFile(data_file=data, global_info=glob)
        cap: dict[str, Any] = {"core:datetime": self._started_at}
        if self.center_freq is not None:
            cap["core:frequency"] = float(self.center_freq)
        rec.add_capture(0, metadata=cap)
        for a in annotations:
            md = {k: v for k, v in a.items() if k not in ("core:sample_start", "core:sample_count")}
            rec.add_annotation(a["core:sample_start"], a["core:sample_count"], metadata=md)
        if os.path.exists(meta):
            os.remove(meta)
        rec.tofile(meta)
        return str(rec.get_global_field("core:sha512"))


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("semradio")
    except Exception:  # noqa: BLE001 - not installed: still write a capture
        return "unknown"


def build(config: OFDMSigMFTxConfig) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks (``source``, ``encoder``, ``normalizer``, ``tx``,
    [``channel``], ``recorder``).

    Raises:
        ValueError: a bad setting (no OUT, too many images, unknown codec...).
    """
    from semradio.blocks.basic.image_source import ImageSource
    from semradio.blocks.channels.power import PowerNormalizer
    from semradio.blocks.codecs.jscc import JSCCEncoder
    from semradio.blocks.digital.ofdm_tx import OFDMTransmitter
    from semradio.blocks.hier.jscc_chain import default_codec
    from semradio.dsp.ofdm.numerology import codec_id
    from semradio.models import data as D
    from semradio.models.checkpoint import resolve_device

    if not config.out:
        raise ValueError(_NO_OUT)
    if config.images < 1 or config.batch < 1:
        raise ValueError("--images and --batch must be >= 1")
    if config.gap < 0 or config.lead < 0 or config.align < 1:
        raise ValueError("--gap and --lead must be >= 0, --align >= 1")
    images = D.load_images(config.data, config.split)
    if config.images > len(images):
        raise ValueError(f"{config.data}/{config.split} has {len(images)} images, --images asks for {config.images}")
    codec = config.codec or default_codec(config.data, "rayleigh", config.cbr)
    device = resolve_device(config.device)
    fg = Flowgraph("ofdm_sigmf_tx")
    source = ImageSource(config.data, split=config.split, batch=config.batch, frames=None, limit=config.images,
                         name="source")
    enc = JSCCEncoder(codec, device=str(device), snr_db=config.snr_db, name="encoder")
    norm = PowerNormalizer(name="normalizer")
    tx = OFDMTransmitter(sample_rate=config.sample_rate, codec=codec, gap=config.gap, name="tx")
    cid = codec_id(codec)
    chan = channel_record(config)
    info: dict[str, Any] = {
        "core:description": config.description or (
            f"semradio OFDM JSCC capture: {config.images} images of {config.data}/{config.split}, "
            f"{config.batch} per burst, codec {codec}, channel {config.channel}"),
        NS + "version": _version(), NS + "ofdm": numerology_record(tx.cfg), NS + "dataset": config.data,
        NS + "split": config.split, NS + "codec": codec, NS + "codec_id": cid, NS + "cbr": config.cbr,
        NS + "encoder_snr_db": config.snr_db, NS + "batch": config.batch, NS + "channel": chan,
        NS + "lead": config.lead, NS + "align": config.align, NS + "gap": config.gap,
    }
    blocks: dict[str, Any] = {"source": source, "encoder": enc, "normalizer": norm, "tx": tx, "codec": codec}
    fg.connect(source, enc, norm, tx)
    head: Block = tx
    per_burst = None
    noiseless = None
    idle = 0.0
    if config.channel != "none":
        head = blocks["channel"] = sample_channel(config)
        fg.connect(tx, head)
        per_burst = {"name": config.channel, "channel_snr_db": chan["snr_db"], "cfo": config.cfo,
                     "sro_ppm": config.sro_ppm}
        snr = channel_snr(config)
        idle = 0.0 if math.isinf(snr) else 10.0 ** (-snr / 10.0)
        if not config.no_noiseless:
            noiseless = config.out + ".noiseless"
            info[NS + "reference"] = {"kind": "companion", "path": os.path.basename(noiseless)}
        else:
            info[NS + "reference"] = None
    else:
        info[NS + "reference"] = "self"
    rec = BurstRecorder(config.out, info, config.sample_rate, config.center_freq, config.lead, config.align, idle,
                        per_burst, noiseless, config.split, codec, cid, config.snr_db, numerology_text(tx.cfg),
                        seed=config.seed, name="recorder")
    fg.connect(head, rec)
    blocks["recorder"] = rec
    return fg, blocks


def run(config: OFDMSigMFTxConfig) -> dict[str, Any]:
    """Build, run to the last image, write the recording(s); the summary dict."""
    from semradio.blocks.fileio.sigmf_files import sigmf_paths

    fg, blocks = build(config)
    t0 = time.perf_counter()
    fg.run(timeout=config.timeout)
    rec: BurstRecorder = blocks["recorder"]
    meta, data = sigmf_paths(config.out or "")
    out: dict[str, Any] = {
        "flowgraph": "ofdm_sigmf_tx", "meta": meta, "data": data,
        "noiseless": None if rec.noiseless_path is None else sigmf_paths(rec.noiseless_path)[0],
        "samples": rec.samples, "bursts": rec.bursts, "images": rec.images, "batch": config.batch,
        "data_spec": config.data, "split": config.split, "codec": blocks["codec"], "encoder_snr_db": config.snr_db,
        "channel": config.channel, "channel_snr_db": None if config.channel == "none" else channel_snr(config),
        "sample_rate": config.sample_rate, "duration_s": rec.samples / config.sample_rate,
        "sha512": rec.sha512, "seconds": round(time.perf_counter() - t0, 2),
    }
    if rec.images < config.images:
        out["warning"] = f"only {rec.images} of {config.images} images were sent (timeout?)"
    return out


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run`'s summary."""
    ch = "no channel" if out["channel"] == "none" else f"channel {out['channel']} at {out['channel_snr_db']:g} dB"
    lines = [f"ofdm_sigmf_tx: {out['images']} images of {out['data_spec']}/{out['split']} in {out['bursts']} bursts "
             f"({out['codec']}, encoder at {out['encoder_snr_db']:g} dB), {ch}",
             f"  wrote {out['meta']} / .sigmf-data: {out['samples']} samples ({out['duration_s'] * 1e3:.2f} ms at "
             f"{out['sample_rate'] / 1e6:g} MS/s)"]
    if out["noiseless"]:
        lines.append(f"  noiseless companion (channel NMSE reference): {out['noiseless']}")
    if "warning" in out:
        lines.append(f"  warning: {out['warning']}")
    return "\n".join(lines)


def _run_cli(config: OFDMSigMFTxConfig) -> dict[str, Any]:
    """:func:`run` for the command line: a bad setting is a usage error (exit status 2), a failed
    flowgraph exit status 1."""
    from semradio.runtime.flowgraph import FlowgraphError

    try:
        return run(config)
    except (ValueError, OSError) as exc:
        print(f"{os.path.basename(sys.argv[0])}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except FlowgraphError as exc:
        print(f"{os.path.basename(sys.argv[0])}: error: the flowgraph failed: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def main(argv: list[str] | None = None) -> int:
    """The script's entry point (the recording may be given as the positional argument OUT)."""
    args = positional_as_option(list(sys.argv[1:] if argv is None else argv), OFDMSigMFTxConfig, "out")
    return flowgraph_main(OFDMSigMFTxConfig, _run_cli, args, doc=__doc__, summary=format_summary, scopes=False)


if __name__ == "__main__":
    raise SystemExit(main())
