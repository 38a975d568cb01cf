#!/usr/bin/env python3
"""Receive images from a capture: any SigMF recording or raw IQ file holding semradio OFDM bursts
(written by ``ofdm_sigmf_tx.py``, replayed by ``sigmf_replay.py``, or recorded elsewhere).

    python flowgraphs/ofdm_sigmf_rx.py /tmp/cap                         # a SigMF recording
    python flowgraphs/ofdm_sigmf_rx.py /tmp/cap_awgn --reference /tmp/cap --json
    python flowgraphs/ofdm_sigmf_rx.py /tmp/dump.cf32 --format cf32_le --sample-rate 10e6
    python flowgraphs/ofdm_sigmf_rx.py /tmp/dump.ci16 --format ci16_le --truth /tmp/cap --save-images /tmp/out

Flowgraph::

    IQFileSource -> SampleGuard -> OFDMReceiver -> BurstGate -> MMSEEqualizer -> JSCCDecoder -> ImageCollector

The samples are read raw (``IQFileSource``; a SigMF recording's ``.sigmf-data`` in its
``core:datatype``, a raw file in ``--format``), so a truncated or corrupted file is decoded as far
as it goes. The receiver (``semradio.dsp.ofdm``: Schmidl & Cox detection, CFO, LTS timing, coded
header with CRC-32, LMMSE channel estimate) turns each burst into latents with their CSI; the
gate drops bursts whose header announces another codec or a latent size the decoder cannot
take; the MMSE equaliser and the SNR-adaptive decoder make the images (the decoder is told the
estimated SNR clipped to the range its codec was trained on: a clean capture measures ~120 dB,
which the decoder's SNR input has never seen).

Ground truth is only ever *read* from the metadata, and validated
(:mod:`semradio.flowgraphs.ofdm_sigmf_common`): the burst annotations (or ``--truth
RECORDING``'s) name the dataset, split and indices of each burst's images, the codec and the
encoder's SNR. PSNR/SSIM need them (and a dataset spec that names no path, unless ``--data``
vouches for it); the channel NMSE ``sum |h - h_true|^2 / sum |h_true|^2`` of the estimate also
needs the noiseless samples (``--reference``, the ``CAPTURE.noiseless`` companion written with
the same samples, or the capture itself when its metadata says it is the clean waveform and its
checksum holds) and the transmitted grids, which are rebuilt by re-encoding the annotated images.
A metric whose ground truth is missing is reported as null with the reason.

Report (``--json``: one JSON object): bursts annotated / detected / header-decoded (CRC
failures) / decoded / delivered, what was dropped and why, per-burst CFO (subcarrier spacings
and Hz), estimated SNR, channel NMSE, PSNR/SSIM, and the capture's sample accounting (padding,
trailing bytes, non-finite samples, checksum). ``--save-images DIR`` writes the decoded images
as PNG files.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from semradio.flowgraphs.app import flowgraph_main
from semradio.flowgraphs.ofdm_sigmf_common import (NS, BurstTruth, Truth, numerology_from,
                                                   parse_numerology_text, positional_as_option, read_metadata,
                                                   safe_dataset, sanitize, sha512_of, truth_from_annotations)
from semradio.models.arguments import checkpoint_ref, dataset_spec
from semradio.runtime import Flowgraph, Frame, Frames, SinkBlock, SyncBlock
from semradio.runtime.arguments import positive_float, positive_int
from semradio.runtime.options import option

_NO_CAPTURE = "give the capture to decode (CAPTURE: a SigMF recording or a raw IQ file)"
#: Grids registered ahead of the receiver (samples of look-ahead).
GRID_LOOKAHEAD = 1 << 15
#: Largest image the decoder is asked for (pixels per image, and per burst).
MAX_PIXELS_PER_IMAGE = 256 * 256
MAX_PIXELS_PER_BURST = 1 << 22
#: Bursts for which the transmitted grid is rebuilt (channel NMSE); the rest get none.
MAX_GRIDS = 4096
#: Bursts listed in the text summary.
LISTED = 40


@dataclass
class OFDMSigMFRxConfig:
    """Settings of the receiver (one field per command-line option)."""

    capture: str | None = option(None, metavar="CAPTURE", help="SigMF recording (base name or either file) or raw "
                                                                "IQ file; also the positional CAPTURE")
    format: str | None = option(None, help="sample format (default: the recording's core:datatype; cf32_le for a "
                                           "raw file): cf32_le, cf64_le, ci16_le, ci8, cu8")
    sample_rate: float | None = option(None, help="sample rate in Hz (default: core:sample_rate; 10e6 for a raw file)")
    truth: str | None = option(None, metavar="RECORDING", help="read what was sent from this SigMF recording's "
                                                               "annotations instead of the capture's")
    reference: str | None = option(None, metavar="RECORDING", help="noiseless samples aligned with the capture "
                                                                   "(SigMF or raw in --format), for the channel NMSE")
    data: str | None = option(None, type=dataset_spec,
                              help="dataset spec of the original images (overrides and vouches for the "
                                         "annotated one)")
    split: str | None = option(None, choices=("eval", "train", "all"), help="split of the original images")
    ofdm: str | None = option(None, metavar="K=V,...", help="numerology, e.g. header_symbols=10,cp_len=16 (default: "
                                                            "the capture's semradio:ofdm, else the receiver's)")
    codec: str | None = option(None, type=checkpoint_ref("codec"),
                               help="decoder codec (default: the annotated one if shipped, else the shipped "
                                          "Rayleigh one for --cbr)")
    cbr: str = option("1/6", choices=("1/6", "1/12"), help="CBR of the default codec")
    estimator: str = option("lmmse", choices=("lmmse", "ls", "diffusion"),
                            help="channel estimator (diffusion: the learned denoiser of the LS channel, chest_tdllink)")
    channel_reference: str = option("preamble", choices=("preamble", "pilots"),
                                    help="preamble: LTS + header tracked by the pilots; pilots: per-symbol pilots")
    threshold: float = option(0.03, help="detection threshold on the Schmidl & Cox metric, in (0, 1)")
    chunk: int = option(4096, type=positive_int, help="samples per frame read from the file")
    save_images: str | None = option(None, metavar="DIR", help="write the decoded images as PNG files here")
    device: str = option("auto", help="codec device: auto, cpu, cuda")
    timeout: float = option(900.0, type=positive_float, help="stop after this many seconds")


# ----------------------------------------------------------------------------- the capture
@dataclass
class Capture:
    """What the receiver knows about its input before decoding.

    Attributes:
        kind: "sigmf" or "raw". data: the sample file. fmt: its IQ format name.
        sample_rate: Hz. samples: whole samples in the file; trailing_bytes: bytes past them.
        meta: the parsed ``.sigmf-meta`` (None for a raw file or unreadable metadata).
        sha512: of the data file. checksum: "ok", "mismatch", "absent" (SigMF without
            ``core:sha512``) or "n/a" (raw).
        notes: what was ignored or assumed.
    """

    path: str
    kind: str
    data: str
    fmt: str
    sample_rate: float
    samples: int
    trailing_bytes: int
    meta: dict[str, Any] | None
    meta_path: str | None
    sha512: str
    checksum: str
    notes: list[str]


def _sigmf_files(path: str) -> tuple[str, str] | None:
    """``(meta, data)`` when ``path`` names a SigMF recording, else None."""
    for suffix in (".sigmf-meta", ".sigmf-data", ".sigmf"):
        if path.endswith(suffix):
            base = path[: -len(suffix)]
            return base + ".sigmf-meta", base + ".sigmf-data"
    if os.path.isfile(path + ".sigmf-meta") or os.path.isfile(path + ".sigmf-data"):
        return path + ".sigmf-meta", path + ".sigmf-data"
    return None


def _complex_format(name: Any, what: str) -> str:
    from semradio.blocks.fileio.iq_files import IQ_FORMATS

    if not isinstance(name, str) or name not in IQ_FORMATS:
        raise ValueError(f"{what}: sample format {name!r:.60} is not one of {sorted(IQ_FORMATS)}")
    if not IQ_FORMATS[name].is_complex:
        raise ValueError(f"{what}: {name} is real-valued; OFDM bursts need complex samples")
    return name


def open_capture(path: str, fmt: str | None, sample_rate: float | None, what: str = "capture") -> Capture:
    """Inspect a capture (SigMF or raw): format, rate, sample count, checksum, metadata.

    Raises:
        ValueError: no such file, an unusable format, or a multi-channel recording.
    """
    from semradio.blocks.fileio.iq_files import IQ_FORMATS

    notes: list[str] = []
    files = _sigmf_files(path)
    meta = None
    meta_path = None
    if files is not None:
        meta_path, data = files
        kind = "sigmf"
        if not os.path.isfile(data):
            raise ValueError(f"{what}: no sample file {data}")
        if os.path.isfile(meta_path):
            try:
                meta = read_metadata(meta_path)
            except ValueError as exc:
                notes.append(f"metadata ignored: {exc}")
        else:
            notes.append(f"no metadata file {meta_path}: decoded as a raw file")
    else:
        kind, data = "raw", path
        if not os.path.isfile(data):
            raise ValueError(f"{what}: no such file {path}")
    glob = meta["global"] if meta else {}
    if fmt is None:
        dt = glob.get("core:datatype")
        if dt is None:
            fmt = "cf32_le"
            if kind == "sigmf":
                notes.append("no core:datatype: cf32_le assumed")
        else:
            fmt = dt
    fmt = _complex_format(fmt, what)
    channels = glob.get("core:num_channels", 1)
    if channels != 1:
        raise ValueError(f"{what}: core:num_channels={channels!r:.40}; only single-channel recordings are supported")
    for cap in meta.get("captures", []) if meta and isinstance(meta.get("captures"), list) else []:
        if isinstance(cap, dict) and cap.get("core:header_bytes"):
            notes.append("core:header_bytes in a capture segment is not supported: the bytes are read as samples")
    rate = sample_rate
    if rate is None:
        sr = glob.get("core:sample_rate")
        if isinstance(sr, (int, float)) and not isinstance(sr, bool) and math.isfinite(sr) and 0 < sr <= 1e12:
            rate = float(sr)
        else:
            rate = 10e6
            notes.append("no usable core:sample_rate: 10 MS/s assumed" if kind == "sigmf" and meta
                         else "sample rate not given: 10 MS/s assumed")
    if not (math.isfinite(rate) and rate > 0):
        raise ValueError(f"{what}: sample rate must be positive, got {rate}")
    size = os.path.getsize(data)
    sb = IQ_FORMATS[fmt].sample_bytes
    sha = sha512_of(data)
    checksum = "n/a"
    if kind == "sigmf" and meta:
        want = glob.get("core:sha512")
        checksum = "absent" if not isinstance(want, str) else ("ok" if want.lower() == sha else "mismatch")
    return Capture(path, kind, data, fmt, float(rate), size // sb, size % sb, meta, meta_path, sha, checksum, notes)


class SampleFile:
    """Random access to the samples of a file (NaN past its end): the noiseless reference."""

    def __init__(self, path: str, fmt: str, samples: int) -> None:
        from semradio.blocks.fileio.iq_files import IQ_FORMATS

        self.path, self.fmt, self.samples = path, fmt, int(samples)
        self.sample_bytes = IQ_FORMATS[fmt].sample_bytes
        self._fh: Any = None

    def read(self, first: int, n: int) -> np.ndarray:
        """complex64 (n,) samples ``first .. first+n`` (NaN where the file has none)."""
        from semradio.blocks.fileio.iq_files import decode_iq

        out = np.full(n, np.nan + 0j, np.complex64)
        lo, hi = max(0, first), min(self.samples, first + n)
        if hi > lo:
            if self._fh is None:
                self._fh = open(self.path, "rb")
            self._fh.seek(lo * self.sample_bytes)
            out[lo - first: hi - first] = decode_iq(self._fh.read((hi - lo) * self.sample_bytes), self.fmt)
        return out

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


# ----------------------------------------------------------------------------- blocks
class SampleGuard(SyncBlock):
    """Cleans the sample chunks before the receiver and attaches its genie inputs.

    The zero padding of the file source's last chunk (``valid_samples``) is cut off: the
    receiver sees exactly the capture's samples. Samples of implausible magnitude
    (``|x| > max_abs``, e.g. corrupted bytes read as floats near 1e38, which would overflow the
    detector's float32 energy sums) are zeroed and counted
    (``implausible``; NaN/inf are left to the receiver, which zeroes and counts them). With a
    reference: the noiseless samples (``eval_noiseless``) and, shortly before each annotated burst,
    its transmitted grid (``eval_tx_grid`` / ``eval_tx_seq``) are attached. The receiver takes one
    grid per chunk, so a chunk with several due grids is cut into as many pieces (the receiver
    accepts any chunking).

    Inputs: ``in``: complex64 (1, n) chunks tagged ``sample_offset``. Outputs: the same samples.

    Args:
        reader: ``reader(first, n)`` -> complex64 (n,) noiseless samples; None: the chunk itself
            is noiseless; False: no reference (nothing attached).
        grids: ``(annotated start or None, seq, grid (S, n_used))``.
        max_abs: largest plausible sample magnitude.
    """

    def __init__(self, reader: Callable[[int, int], np.ndarray] | None | bool = False,
                 grids: list[tuple[int | None, int, np.ndarray]] | None = None, max_abs: float = 1e15,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", "complex64")
        self.add_output("out", "complex64")
        self.reader = reader
        self.grids = sorted(grids or [], key=lambda g: -1 if g[0] is None else g[0])
        self.max_abs = float(max_abs)
        self.implausible = 0
        self._next = 0

    def work(self, frame: Frame) -> Frame | Frames | None:  # type: ignore[override]
        x = np.asarray(frame.data).reshape(-1)
        valid = frame.tags.get("valid_samples")
        cut = isinstance(valid, int) and 0 <= valid < x.size
        if cut:  # the file source's zero padding of a last, incomplete chunk: not samples of the capture
            x = x[:valid]
        with np.errstate(invalid="ignore", over="ignore"):
            big = np.abs(x) > self.max_abs
        if big.any():
            self.implausible += int(big.sum())
            self.count_drop("implausible_samples", int(big.sum()), f"samples with |x| > {self.max_abs:g} zeroed")
            x = np.where(big, 0, x).astype(np.complex64)
        n = x.size
        if n == 0:
            return None
        if self.reader is False:
            return frame.replace(x.reshape(1, n)) if big.any() or cut else frame
        s = frame.tags.get("sample_offset", 0)
        clean = x.copy() if self.reader is None else self.reader(int(s), n)  # type: ignore[operator]
        due = []
        while self._next < len(self.grids):
            start, seq, grid = self.grids[self._next]
            if start is not None and start > s + n + GRID_LOOKAHEAD:
                break
            due.append((seq, grid))
            self._next += 1
        pieces = max(1, min(len(due), n))
        if not due:
            return frame.replace(x.reshape(1, n), eval_noiseless=clean.reshape(1, n))
        cuts = np.linspace(0, n, pieces + 1).astype(int)
        out = []
        for i in range(pieces):
            a, b = cuts[i], cuts[i + 1]
            tags = dict(frame.tags, sample_offset=int(s) + int(a), eval_noiseless=clean[a:b].reshape(1, b - a))
            for seq, grid in due[i::pieces]:
                tags["eval_tx_grid"], tags["eval_tx_seq"] = grid, int(seq)
            out.append(Frame(x[a:b].reshape(1, b - a), tags))
        return Frames(out)


class BurstGate(SyncBlock):
    """Passes the bursts the decoder can take, records every burst's receiver measurements.

    Drops (counted by reason): a header announcing another codec (``codec_mismatch``; id 0 = no
    claim passes), a latent length that fits no image of the codec or a too large image
    (``latent_size``). Computes the channel NMSE of the estimate when the receiver tagged the true
    channel (``eval_h_true``). The SNR the decoder is told (``snr_db``) is the receiver's
    estimate clipped to ``snr_range``, the range an SNR-adaptive codec was trained on: on a clean
    capture the estimate is ~120 dB, far outside what the decoder's SNR input has seen; the
    estimate itself stays in ``snr_db_estimated``.

    Inputs: ``in``: complex64 (items, length) from the receiver (tags ``seq``, ``h``, ``ofdm``,
    ``snr_db``, ``codec_id``, [``eval_h_true``]). Outputs: the same frame, with ``image_size``
    (H, W), ``nmse_db``, ``snr_db`` (clipped) and ``snr_db_estimated``.

    Args:
        codec_model: the decoder's codec (for its latent size). codec_ids: the header ids it
            answers to (its name's; a checkpoint path's file stem's too).
        sizes: image (H, W) by seq, from the ground truth.
        snr_range: (lo, hi) dB the decoder's SNR is clipped to (None: not clipped).
    """

    def __init__(self, codec_model: Any, codec_ids: set[int], sizes: dict[int, tuple[int, int]],
                 snr_range: tuple[float, float] | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", "complex64")
        self.add_output("out", "complex64")
        self.codec_model, self.codec_ids, self.sizes = codec_model, {0, *codec_ids}, sizes
        self.snr_range = snr_range
        self.rows: list[dict[str, Any]] = []
        self.dropped: dict[str, int] = {}
        self.other_codecs: dict[int, int] = {}

    def _drop(self, row: dict[str, Any], reason: str) -> None:
        row["status"] = f"dropped: {reason}"
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self.count_drop(reason, 1, {"codec_mismatch": "header announces another codec",
                                    "latent_size": "latent length fits no image the decoder takes"}[reason])

    def work(self, frame: Frame) -> Frame | None:  # type: ignore[override]
        t = frame.tags
        o = t.get("ofdm") if isinstance(t.get("ofdm"), dict) else {}
        items, length = (int(v) for v in np.shape(frame.data))
        row: dict[str, Any] = {"start": o.get("start"), "seq": t.get("seq"), "items": items, "length": length,
                               "codec_id": t.get("codec_id"), "snr_db": t.get("snr_db"), "nmse_db": None,
                               "status": "decoded"}
        self.rows.append(row)
        h, ht = t.get("h"), t.get("eval_h_true")
        if h is not None and ht is not None:
            h, ht = np.asarray(h), np.asarray(ht)
            den = float(np.sum(np.abs(ht) ** 2)) if h.shape == ht.shape else 0.0
            if den > 0 and np.isfinite(den):
                row["nmse_db"] = 10 * math.log10(max(float(np.sum(np.abs(h - ht) ** 2)) / den, 1e-30))
        cid = t.get("codec_id")
        if isinstance(cid, int) and cid not in self.codec_ids:
            self.other_codecs[cid] = self.other_codecs.get(cid, 0) + 1
            self._drop(row, "codec_mismatch")
            return None
        size = self.sizes.get(int(t.get("seq", -1)))
        spatial = getattr(self.codec_model, "spatial_for", None)
        if spatial is not None:
            try:
                hw = spatial(2 * length, size)
            except ValueError:
                try:
                    size = None
                    hw = spatial(2 * length, None)
                except ValueError:
                    self._drop(row, "latent_size")
                    return None
            pixels = 16 * hw[0] * hw[1]
            if pixels > MAX_PIXELS_PER_IMAGE or pixels * items > MAX_PIXELS_PER_BURST:
                self._drop(row, "latent_size")
                return None
        tags: dict[str, Any] = {"nmse_db": row["nmse_db"]}
        snr = row["snr_db"]
        if self.snr_range is not None and isinstance(snr, float):
            tags["snr_db"] = min(max(snr, self.snr_range[0]), self.snr_range[1])
            tags["snr_db_estimated"] = snr
        row["decoder_snr_db"] = tags.get("snr_db", snr)
        if size is not None:
            tags["image_size"] = tuple(size)
        return frame.replace(frame.data, **tags)


class ImageCollector(SinkBlock):
    """Scores each decoded burst against its original images and optionally saves them.

    Inputs: ``in``: float32 (B, C, H, W) images in [0, 1] (tags ``seq``, ``ofdm``, ``snr_db``,
    ``nmse_db``).

    Args:
        truth: what each seq carried. originals: ``(dataset, split)`` -> images (N, C, H, W) or
            the reason they are unavailable (a str).
        save_dir: write ``burst<seq>_at<start>_row<j>[_img<index>].png`` here (None: nothing).
    """

    def __init__(self, truth: dict[int, BurstTruth], originals: dict[tuple[str, str], Any],
                 save_dir: str | None, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", "float32")
        self.truth, self.originals, self.save_dir = truth, originals, save_dir
        self.rows: list[dict[str, Any]] = []
        self.saved = 0

    def start(self) -> None:
        if self.save_dir:
            os.makedirs(self.save_dir, exist_ok=True)

    def work(self, frame: Frame) -> None:  # type: ignore[override]
        from semradio.models.metrics import psnr, ssim

        img = np.asarray(frame.data, dtype=np.float32)
        t = frame.tags
        o = t.get("ofdm") if isinstance(t.get("ofdm"), dict) else {}
        seq = int(t.get("seq", -1))
        row: dict[str, Any] = {"start": o.get("start"), "seq": seq, "items": int(img.shape[0]), "images": None,
                               "psnr_db": None, "ssim": None,
                               "psnr_per_image": None, "psnr_reason": None}
        tr = self.truth.get(seq)
        ref = None
        if tr is None:
            row["psnr_reason"] = "burst not annotated"
        else:
            row["images"] = list(tr.images)
            orig = self.originals.get((tr.dataset, tr.split))
            if isinstance(orig, str) or orig is None:
                row["psnr_reason"] = orig or "original images unavailable"
            elif len(tr.images) != img.shape[0]:
                row["psnr_reason"] = f"{img.shape[0]} images decoded, {len(tr.images)} annotated"
            elif max(tr.images) >= len(orig):
                row["psnr_reason"] = f"image index past the {len(orig)} images of {tr.dataset}/{tr.split}"
            else:
                ref = orig[list(tr.images)]
                if ref.shape != img.shape:
                    row["psnr_reason"] = f"decoded {img.shape[1:]} images, originals are {ref.shape[1:]}"
                    ref = None
        if ref is not None:
            p, s = psnr(ref, img), ssim(ref, img)
            row.update(psnr_per_image=[float(v) for v in p], ssim_per_image=[float(v) for v in s],
                       psnr_db=float(np.mean(p)), ssim=float(np.mean(s)))
        if self.save_dir:
            self._save(img, seq, o.get("start"), row["images"])
        self.rows.append(row)

    def _save(self, img: np.ndarray, seq: int, start: Any, indices: list[int] | None) -> None:
        from PIL import Image

        u8 = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        for j in range(u8.shape[0]):
            a = u8[j]
            a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
            extra = f"_img{indices[j]}" if indices is not None and j < len(indices) else ""
            Image.fromarray(a).save(os.path.join(self.save_dir or ".", f"burst{seq}_at{start}_row{j}{extra}.png"))
            self.saved += 1


# ----------------------------------------------------------------------------- ground truth
def _shipped_codecs() -> list[str]:
    from semradio.models.checkpoint import list_codecs

    return list(list_codecs())


def choose_codec(config: OFDMSigMFRxConfig, truth: Truth, glob: dict[str, Any]) -> tuple[str, str, list[str]]:
    """The decoder codec, where it came from, and notes. Only shipped codec names are taken
    from a file; ``--codec`` may be anything ``load_codec`` accepts."""
    from semradio.blocks.hier.jscc_chain import default_codec

    if config.codec:
        return config.codec, "option", []
    notes: list[str] = []
    shipped = set(_shipped_codecs())
    named = sorted({b.codec for b in truth.bursts.values() if b.codec})
    if not named and isinstance(glob.get(NS + "codec"), str):
        named = [glob[NS + "codec"]]
    ok = [c for c in named if c in shipped]
    if len(ok) == 1:
        return ok[0], "annotations", notes
    if len(ok) > 1:
        notes.append(f"the annotations name several codecs {ok}: {ok[0]} used (the others' bursts are dropped)")
        return ok[0], "annotations", notes
    if named:
        notes.append(f"annotated codec {named[0]!r:.80} is not a shipped codec: ignored (pass --codec to use it)")
    data = config.data if config.data and safe_dataset(config.data) else "natural32"
    return default_codec(data, "rayleigh", config.cbr), "default", notes


def training_snr_range(codec: str) -> tuple[float, float] | None:
    """The SNR range (dB) an SNR-adaptive codec was trained on (its checkpoint config), or None."""
    from semradio.models.checkpoint import read_config

    try:
        cfg = read_config(codec)
    except (OSError, ValueError, KeyError):
        return None
    r = cfg.get("train", {}).get("snr_db_range") if isinstance(cfg.get("train"), dict) else None
    if (isinstance(r, list) and len(r) == 2 and all(isinstance(v, (int, float)) for v in r)
            and math.isfinite(r[0]) and math.isfinite(r[1]) and r[0] <= r[1]):
        return float(r[0]), float(r[1])
    return None


def choose_numerology(config: OFDMSigMFRxConfig, glob: dict[str, Any], truth: Truth
                      ) -> tuple[dict[str, int], list[str]]:
    """The receiver's numerology: ``--ofdm``, else the capture's ``semradio:ofdm`` global, else
    the one every burst annotation names (a replay keeps those, not the global), else the
    defaults."""
    if config.ofdm:
        kw = parse_numerology_text(config.ofdm)
        if kw is None:
            raise ValueError(f"--ofdm {config.ofdm!r}: expected KEY=VALUE,... with keys fft_size, cp_len, "
                             f"half_width, pilot_spacing, header_symbols")
        kw, notes = numerology_from(kw)
        if notes:
            raise ValueError(f"--ofdm {config.ofdm!r}: {'; '.join(notes)}")
        return kw, []
    if NS + "ofdm" in glob:
        return numerology_from(glob[NS + "ofdm"])
    if len(truth.numerologies) == 1:
        return numerology_from(parse_numerology_text(next(iter(truth.numerologies))))
    if len(truth.numerologies) > 1:
        return {}, [f"the annotations name {len(truth.numerologies)} numerologies: the receiver's default used"]
    return {}, []


def load_originals(truth: Truth, config: OFDMSigMFRxConfig) -> dict[tuple[str, str], Any]:
    """``(dataset, split)`` -> the images (N, C, H, W), or the reason they are unavailable.
    ``--data``/``--split`` replace the annotated ones (and vouch for a spec naming a path)."""
    from semradio.models import data as D

    out: dict[tuple[str, str], Any] = {}
    for b in truth.bursts.values():
        key = (b.dataset, b.split)
        if key in out:
            continue
        spec, split = config.data or b.dataset, config.split or b.split
        if config.data is None and not safe_dataset(spec):
            out[key] = f"dataset spec {spec!r:.80} from the capture names a path: pass --data to trust it"
            continue
        if len(out) >= 8:
            out[key] = "more than 8 datasets annotated"
            continue
        try:
            out[key] = D.load_images(spec, split)
        except (ValueError, OSError) as exc:
            out[key] = f"cannot load {spec}/{split}: {exc}"
    return out


def rebuild_grids(truth: Truth, originals: dict[tuple[str, str], Any], codec: str, numerology: dict[str, int],
                  sample_rate: float, device: str) -> tuple[list[tuple[int | None, int, np.ndarray]], str | None]:
    """The transmitted grid of each annotated burst (re-encoded: the encoder is deterministic),
    or the reason there are none."""
    from semradio.blocks.channels.power import PowerNormalizer
    from semradio.blocks.codecs.jscc import JSCCEncoder
    from semradio.blocks.digital.ofdm_tx import OFDMTransmitter

    encoders: dict[str, Any] = {}
    shipped = set(_shipped_codecs())
    norm = PowerNormalizer(name="ref_normalizer")
    grids: list[tuple[int | None, int, np.ndarray]] = []
    reason = None
    for b in list(truth.bursts.values())[:MAX_GRIDS]:
        name = b.codec if b.codec in shipped else codec
        orig = originals.get((b.dataset, b.split))
        if isinstance(orig, str) or orig is None or max(b.images) >= len(orig):
            reason = "original images unavailable"
            continue
        if name not in encoders:
            encoders[name] = (JSCCEncoder(name, device=device, name="ref_encoder"),
                              OFDMTransmitter(sample_rate=sample_rate, codec=name, keep_grid=True, name="ref_tx",
                                              **numerology))
        enc, tx = encoders[name]
        if b.encoder_snr_db is None and getattr(enc.codec, "snr_adaptive", False):
            reason = "the encoder's SNR is not annotated"
            continue
        f = Frame(np.ascontiguousarray(orig[list(b.images)]), {"seq": b.seq})
        if b.encoder_snr_db is not None:
            f = f.replace(f.data, snr_db=b.encoder_snr_db)
        try:
            out = tx.work(norm.work(enc.work(f)))
        except ValueError as exc:
            reason = f"cannot re-encode: {exc}"
            continue
        grids.append((b.start, b.seq, out.tags["eval_tx_grid"]))
    return grids, (None if grids else reason or "no annotated bursts")


def find_reference(config: OFDMSigMFRxConfig, cap: Capture) -> tuple[Any, dict[str, Any]]:
    """The noiseless samples aligned with the capture: a reader (``None`` = the capture itself),
    or ``False`` and the reason there is none; and a description."""
    if config.reference:
        try:
            ref = open_capture(config.reference, config.format if _sigmf_files(config.reference) is None else None,
                               cap.sample_rate, "--reference")
        except ValueError as exc:
            return False, {"kind": None, "reason": str(exc)}
        desc = {"kind": "option", "path": ref.data, "samples": ref.samples}
        if ref.samples < cap.samples:
            desc["note"] = f"the reference has {ref.samples} samples, the capture {cap.samples}"
        return SampleFile(ref.data, ref.fmt, ref.samples), desc
    glob = cap.meta["global"] if cap.meta else {}
    declared = glob.get(NS + "reference")
    # the companion written beside the capture (its name from the metadata only if it is a plain name)
    name = None
    if isinstance(declared, dict) and isinstance(declared.get("path"), str):
        p = declared["path"]
        if p and os.path.basename(p) == p and p not in (".", ".."):
            name = p
    candidates = []
    if cap.kind == "sigmf":
        base = cap.data[: -len(".sigmf-data")]
        if name:
            candidates.append(os.path.join(os.path.dirname(base), name))
        candidates.append(base + ".noiseless")
    for c in candidates:
        files = _sigmf_files(c)
        if files is None or not (os.path.isfile(files[0]) and os.path.isfile(files[1])):
            continue
        try:
            meta = read_metadata(files[0])
            of = meta["global"].get(NS + "noiseless_of")
            if not (isinstance(of, dict) and of.get("sha512") == cap.sha512):
                return False, {"kind": None, "reason": f"{files[0]} was not made with these samples (checksum)"}
            ref = open_capture(c, None, cap.sample_rate, "noiseless companion")
        except ValueError as exc:
            return False, {"kind": None, "reason": f"companion {c}: {exc}"}
        return SampleFile(ref.data, ref.fmt, ref.samples), {"kind": "companion", "path": ref.data,
                                                            "samples": ref.samples}
    if declared == "self":
        if cap.checksum == "ok":
            return None, {"kind": "self", "path": cap.data, "samples": cap.samples}
        return False, {"kind": None, "reason": f"the capture was written noiseless but its checksum is "
                                               f"{cap.checksum}: not the samples written"}
    if cap.kind == "raw":
        why = "a raw capture: give the noiseless samples with --reference"
    elif isinstance(declared, dict):
        why = "the noiseless companion named in the metadata is missing"
    else:
        why = "no noiseless reference (none declared in the metadata; give one with --reference)"
    return False, {"kind": None, "reason": why}


# ----------------------------------------------------------------------------- run
def run(config: OFDMSigMFRxConfig) -> dict[str, Any]:
    """Inspect the capture, decode it, score it; the report dict (``error`` set when the run
    failed part-way: the counts so far are still reported).

    Raises:
        ValueError: no capture, or a capture that cannot be read at all.
    """
    from semradio.blocks.codecs.jscc import JSCCDecoder
    from semradio.blocks.digital.equalizer import MMSEEqualizer
    from semradio.blocks.digital.ofdm_rx import OFDMReceiver
    from semradio.blocks.fileio.iq_files import IQFileSource
    from semradio.dsp.ofdm.numerology import codec_id
    from semradio.models.checkpoint import resolve_device
    from semradio.runtime.flowgraph import FlowgraphError

    if not config.capture:
        raise ValueError(_NO_CAPTURE)
    if config.chunk < 64 or not 0 < config.threshold < 1:
        raise ValueError("--chunk must be >= 64 and --threshold in (0, 1)")
    t0 = time.perf_counter()
    cap = open_capture(config.capture, config.format, config.sample_rate)
    notes = list(cap.notes)
    glob = cap.meta["global"] if cap.meta else {}

    # ground truth: the capture's annotations, or --truth's
    truth_src = "capture"
    annotations = cap.meta.get("annotations") if cap.meta else None
    if config.truth:
        tfiles = _sigmf_files(config.truth)
        if tfiles is None or not os.path.isfile(tfiles[0]):
            raise ValueError(f"--truth: no SigMF metadata for {config.truth}")
        annotations = read_metadata(tfiles[0]).get("annotations")
        truth_src = tfiles[0]
    truth = truth_from_annotations(annotations, cap.samples)
    numerology, nnotes = choose_numerology(config, glob, truth)
    notes += nnotes
    codec, codec_src, cnotes = choose_codec(config, truth, glob)
    notes += cnotes
    originals = load_originals(truth, config)
    device = str(resolve_device(config.device))

    reader, ref_desc = find_reference(config, cap)
    nmse_reason = ref_desc.get("reason")
    grids: list[tuple[int | None, int, np.ndarray]] = []
    if reader is not False:
        grids, why = rebuild_grids(truth, originals, codec, numerology, cap.sample_rate, device)
        if not grids:
            nmse_reason = f"no transmitted grids: {why}"

    # the flowgraph
    fg = Flowgraph("ofdm_sigmf_rx")
    src = IQFileSource(cap.data, cap.fmt, sample_rate=cap.sample_rate, frame_len=config.chunk, partial="pad",
                       name="source")
    rx = OFDMReceiver(sample_rate=cap.sample_rate, estimator=config.estimator, reference=config.channel_reference,
                      threshold=config.threshold, name="rx", **numerology)
    dec = JSCCDecoder(codec, device=device, name="decoder")
    sizes = {}
    for s, b in truth.bursts.items():
        orig = originals.get((b.dataset, b.split))
        if isinstance(orig, np.ndarray):
            sizes[s] = (int(orig.shape[2]), int(orig.shape[3]))
    snr_range = training_snr_range(codec) if getattr(dec.codec, "snr_adaptive", False) else None
    ids = {codec_id(codec), codec_id(os.path.splitext(os.path.basename(codec))[0])}
    gate = BurstGate(dec.codec, ids, sizes, snr_range, name="gate")
    eq = MMSEEqualizer(name="equalizer")
    col = ImageCollector(truth.bursts, originals, config.save_images, name="collector")
    if reader is not False and grids:
        guard = SampleGuard(None if reader is None else reader.read, grids, name="guard")
    else:
        guard = SampleGuard(name="guard")
    fg.connect(src, guard, rx, gate, eq, dec, col)
    error = None
    finished = False
    try:
        fg.start()
        finished = fg.wait(config.timeout)
    except FlowgraphError as exc:
        error = str(exc)
    finally:
        fg.stop()
        if reader:
            reader.close()
    out = report(config, cap, truth, truth_src, codec, codec_src, numerology, rx, gate, col, originals,
                 ref_desc, nmse_reason, notes)
    out["capture"]["implausible_samples"] = guard.implausible
    out["seconds"] = round(time.perf_counter() - t0, 2)
    if error is not None:
        out["error"] = error
    elif not finished:
        out["error"] = f"timed out after {config.timeout:g} s"
    return sanitize(out)


def _mean_db(values: list[float]) -> float | None:
    """10 log10 of the mean of linear values given in dB."""
    return float(10 * np.log10(np.mean(10 ** (np.asarray(values) / 10)))) if values else None


def report(config: OFDMSigMFRxConfig, cap: Capture, truth: Truth, truth_src: str, codec: str, codec_src: str,
           numerology: dict[str, int], rx: Any, gate: BurstGate, col: ImageCollector,
           originals: dict[tuple[str, str], Any], ref_desc: dict[str, Any], nmse_reason: str | None,
           notes: list[str]) -> dict[str, Any]:
    """The run's report (see the module docstring)."""
    from semradio.dsp.ofdm.numerology import OFDMConfig, codec_id

    st = rx.status()["ofdm"]
    fft = numerology.get("fft_size", OFDMConfig().fft_size)
    hz = cap.sample_rate / fft
    events = list(rx.rx.events)
    decoded = {r["start"]: r for r in gate.rows}
    scored = {}
    for r in col.rows:
        scored.setdefault(r["start"], r)
    per_burst = []
    for e in events:
        row: dict[str, Any] = {"start": e.start, "header_ok": e.header_ok, "cfo": round(e.cfo, 6),
                               "cfo_hz": round(e.cfo * hz, 1), "metric": round(e.metric, 4),
                               "timing_peak": round(e.timing_peak, 4), "snr_db_lts": round(e.snr_db, 2)}
        d = decoded.get(e.start)
        if not e.header_ok:
            row["status"] = "header_crc"
        elif d is None:
            row["status"] = "incomplete"
        else:
            row.update({k: d.get(k) for k in ("seq", "items", "length", "codec_id", "snr_db", "decoder_snr_db",
                                              "nmse_db", "status")})
            c = scored.get(e.start)
            if c is not None:
                row.update({k: c.get(k) for k in ("images", "psnr_db", "ssim", "psnr_reason")})
            elif d["status"] == "decoded":
                row["status"] = "not delivered"
        per_burst.append(row)
    decoded_seqs = [r["seq"] for r in gate.rows]
    delivered = [r for r in col.rows]
    complete = len(events) < (rx.rx.events.maxlen or 0)
    header_ok = sum(1 for e in events if e.header_ok) if complete else st["bursts"] + st["oversize"]
    annotated = sorted(truth.bursts)
    seen = set(r["seq"] for r in delivered)
    psnr_all = [p for r in delivered if r.get("psnr_per_image") for p in r["psnr_per_image"]]
    ssim_all = [s for r in delivered if r.get("ssim_per_image") for s in r["ssim_per_image"]]
    nmse = [r["nmse_db"] for r in gate.rows if r["nmse_db"] is not None]
    cfo = [e.cfo for e in events if e.header_ok]
    snr = [r["snr_db"] for r in gate.rows if r["snr_db"] is not None]
    psnr_reason = None
    if not psnr_all:
        if not truth.bursts:
            psnr_reason = ("the capture has no burst annotations (what was sent is unknown; give --truth RECORDING)"
                           if truth_src == "capture" else f"{truth_src} has no usable burst annotations")
        else:
            reasons = sorted({r["psnr_reason"] for r in delivered if r.get("psnr_reason")}
                             | {v for v in originals.values() if isinstance(v, str)})
            psnr_reason = "; ".join(reasons) if reasons else "no burst was delivered"
    if nmse:
        nmse_reason = None
    elif nmse_reason is None:
        nmse_reason = "no decoded burst had its true channel (reference samples or grid missing)"
    other = {f"{cid}": [n for n in _shipped_codecs() if codec_id(n) == cid] for cid in gate.other_codecs}
    out: dict[str, Any] = {
        "flowgraph": "ofdm_sigmf_rx",
        "capture": {"path": cap.path, "kind": cap.kind, "data": cap.data, "format": cap.fmt,
                    "sample_rate": cap.sample_rate, "samples": cap.samples, "trailing_bytes": cap.trailing_bytes,
                    "checksum": cap.checksum,
                    "nonfinite_samples": st.get("nonfinite_samples", 0), "description":
                        (cap.meta or {}).get("global", {}).get("core:description") if cap.meta else None},
        "codec": codec, "codec_source": codec_src, "numerology": numerology or "default",
        "decoder_snr_range_db": list(gate.snr_range) if gate.snr_range else None,
        "truth": {"source": truth_src if truth.bursts or truth.burst_annotations else None,
                  "annotations": truth.annotations, "burst_annotations": truth.burst_annotations,
                  "invalid": truth.invalid, "conflicting": truth.conflicting[:100],
                  "beyond_data": truth.beyond_data},
        "bursts_annotated": len(annotated) if truth.bursts else None,
        "detections": st["detections"], "sync_failures": (st["detections"] - len(events)) if complete else None,
        "headers_ok": header_ok, "header_crc_failures": st["header_crc"],
        "bursts_decoded": st["bursts"], "incomplete": max(0, header_ok - st["bursts"] - st["oversize"]),
        "oversize": st["oversize"], "overflow_samples": st["overflow_samples"],
        "dropped": dict(gate.dropped), "other_codec_ids": other,
        "bursts_delivered": len(delivered), "images_decoded": int(sum(r["items"] for r in delivered)),
        "duplicate_seqs": len(decoded_seqs) - len(set(decoded_seqs)),
        "missing_bursts": [s for s in annotated if s not in seen][:200],
        "unexpected_bursts": sorted(s for s in seen if truth.bursts and s not in truth.bursts)[:200],
        "cfo_mean": float(np.mean(cfo)) if cfo else None, "cfo_std": float(np.std(cfo)) if cfo else None,
        "cfo_hz_mean": float(np.mean(cfo) * hz) if cfo else None,
        "snr_db_estimated_mean": float(np.mean(snr)) if snr else None,
        "channel_nmse_db": _mean_db(nmse), "channel_nmse_reason": nmse_reason, "reference": ref_desc,
        "psnr_db": float(np.mean(psnr_all)) if psnr_all else None,
        "ssim": float(np.mean(ssim_all)) if ssim_all else None, "images_scored": len(psnr_all),
        "psnr_reason": psnr_reason,
        "saved_images": col.saved if config.save_images else None, "save_dir": config.save_images,
        "per_burst": per_burst, "events_kept": len(events), "notes": notes,
    }
    if not complete:
        notes.append(f"per_burst lists the last {len(events)} synchronised detections only")
    return out


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run`'s report."""
    f = (lambda v, s=".2f": "n/a" if v is None else format(v, s))
    c = out["capture"]
    lines = [f"ofdm_sigmf_rx: {c['path']} ({c['kind']}, {c['format']}, {c['samples']} samples at "
             f"{c['sample_rate'] / 1e6:g} MS/s, checksum {c['checksum']}), codec {out['codec']} "
             f"({out['codec_source']})",
             f"  bursts: annotated {f(out['bursts_annotated'], 'd')}, detected {out['detections']} "
             f"({f(out['sync_failures'], 'd')} without LTS sync), header ok "
             f"{out['headers_ok']} (CRC failures {out['header_crc_failures']}), decoded {out['bursts_decoded']}, "
             f"delivered {out['bursts_delivered']} ({out['images_decoded']} images); incomplete {out['incomplete']}, "
             f"dropped {out['dropped'] or 0}, missing {len(out['missing_bursts'])}",
             f"  CFO {f(out['cfo_mean'], '.4f')} +- {f(out['cfo_std'], '.4f')} subcarriers "
             f"({f(out['cfo_hz_mean'], '.0f')} Hz), est. SNR {f(out['snr_db_estimated_mean'])} dB, channel NMSE "
             f"{f(out['channel_nmse_db'])} dB" + (f" ({out['channel_nmse_reason']})" if out["channel_nmse_reason"]
                                                  else ""),
             f"  PSNR {f(out['psnr_db'])} dB, SSIM {f(out['ssim'], '.4f')} over {out['images_scored']} images"
             + (f" ({out['psnr_reason']})" if out["psnr_reason"] else "")]
    if c["trailing_bytes"] or c["nonfinite_samples"] or c.get("implausible_samples"):
        lines.append(f"  samples: {c['trailing_bytes']} trailing bytes ignored, {c['nonfinite_samples']} non-finite "
                     f"and {c.get('implausible_samples', 0)} implausibly large samples zeroed")
    for cid, names in out["other_codec_ids"].items():
        lines.append(f"  header codec id {cid} = {', '.join(names) or 'not a shipped codec'}"
                     + (f": decode those bursts with --codec {names[0]}" if names else ""))
    if out["truth"]["beyond_data"]:
        lines.append(f"  {out['truth']['beyond_data']} burst annotations start past the end of the samples "
                     f"(truncated capture)")
    if out["truth"]["invalid"]:
        lines.append(f"  annotations ignored: {out['truth']['invalid']}")
    for b in out["per_burst"][:LISTED]:
        extra = "" if b.get("seq") is None else (f" seq {b['seq']}, {b['items']} items, SNR {f(b['snr_db'])} dB, "
                                                  f"NMSE {f(b['nmse_db'])} dB, PSNR {f(b.get('psnr_db'))} dB")
        lines.append(f"    @{b['start']}: {b['status']}, CFO {b['cfo']:+.4f} ({b['cfo_hz']:+.0f} Hz), "
                     f"metric {b['metric']:.3f}" + extra)
    if len(out["per_burst"]) > LISTED:
        lines.append(f"    ... {len(out['per_burst']) - LISTED} more (--json lists all)")
    if out["saved_images"]:
        lines.append(f"  saved {out['saved_images']} images to {out['save_dir']}")
    for n in out["notes"]:
        lines.append(f"  note: {n}")
    if "error" in out:
        lines.append(f"  error: {out['error']}")
    return "\n".join(lines)


def _run_cli(config: OFDMSigMFRxConfig) -> dict[str, Any]:
    """:func:`run` for the command line: an unreadable capture is an error (exit status 2)."""
    try:
        return run(config)
    except (ValueError, OSError) as exc:
        print(f"{os.path.basename(sys.argv[0])}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    """The script's entry point (the capture may be given as the positional argument CAPTURE).
    Exit status 1 when the decoding failed part-way (the report is still printed)."""
    args = positional_as_option(list(sys.argv[1:] if argv is None else argv), OFDMSigMFRxConfig, "capture")
    result: dict[str, Any] = {}

    def _run(config: OFDMSigMFRxConfig) -> dict[str, Any]:
        result.update(_run_cli(config))
        return result

    rc = flowgraph_main(OFDMSigMFRxConfig, _run, args, doc=__doc__, summary=format_summary, scopes=False)
    return 1 if "error" in result else rc


if __name__ == "__main__":
    raise SystemExit(main())
