"""What ``ofdm_sigmf_tx.py`` writes into a SigMF capture and ``ofdm_sigmf_rx.py`` reads back:
the annotation schema, the OFDM numerology record, and their validation.

The capture (``OUT.sigmf-meta`` / ``OUT.sigmf-data``, ``cf32_le``) describes itself:

* global: ``core:sample_rate``, ``core:datatype``, ``core:description``, ``core:recorder``,
  ``semradio:version``, ``semradio:ofdm`` (:func:`numerology_record`: the
  :class:`~semradio.dsp.ofdm.OFDMConfig` both ends must share), ``semradio:dataset`` /
  ``semradio:split`` / ``semradio:codec`` / ``semradio:encoder_snr_db`` / ``semradio:images`` /
  ``semradio:batch`` / ``semradio:bursts``, ``semradio:channel`` (the simulated channel, or
  ``{"name": "none"}``) and ``semradio:reference`` (where the noiseless samples are: ``"self"``
  or ``{"kind": "companion", "path": ...}``, see below);
* one annotation per burst (``core:label`` = :data:`BURST_LABEL`): ``core:sample_start`` /
  ``core:sample_count`` (the burst, multipath tail included), ``core:comment``, and as
  ``semradio:<key>`` JSON scalars only (so that they survive ``sigmf_replay.py``, which copies
  the scalar fields of the annotation covering each replayed frame into its own annotations):
  ``seq`` and ``burst`` (the header's frame counter; ``burst`` survives a replay, which renumbers
  ``seq``), ``items``, ``length`` (complex symbols per image), ``images`` (the dataset indices
  sent, comma-separated, in row order), ``dataset``, ``split``, ``codec``, ``codec_id``,
  ``encoder_snr_db``, ``ofdm`` (the numerology as ``key=value,...``: the global is lost in a
  replay), ``tx_channel`` and, with a channel, ``channel_snr_db``, ``cfo``
  (subcarrier spacings), ``sro_ppm``, ``gap`` (idle samples the channel put before the burst).

Ground truth for the channel NMSE: a receiver needs the noiseless received samples and the
transmitted grid of each burst. The grid is not stored: the encoder is deterministic, so the
receiver rebuilds it by re-encoding the annotated images with the annotated codec and SNR. The
noiseless samples are the capture itself when no channel was applied (``"self"``), else a
companion recording ``OUT.noiseless`` written beside it (same length and sample positions; its
global ``semradio:noiseless_of`` holds the capture's ``core:sha512``, so a receiver only pairs
it with the very samples it was made with).

Everything here reads untrusted metadata: values are type- and range-checked, dataset specs
that name a file or folder are not trusted (the user must pass them), codec names are plain
names (the receiver accepts only shipped ones), and nothing is ever imported or built by name.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from typing import Any

#: ``core:label`` of a burst annotation.
BURST_LABEL = "ofdm_burst"
#: The namespace of semradio's SigMF fields.
NS = "semradio:"
#: Largest ``.sigmf-meta`` file the receiver parses (bytes).
MAX_META_BYTES = 64 << 20
#: Most annotations the receiver looks at.
MAX_ANNOTATIONS = 1_000_000
#: Most images one burst can carry (the header's 12-bit ``items`` field).
MAX_ITEMS = 4095
#: Largest dataset index accepted from a file.
MAX_INDEX = 10_000_000
#: Dataset kinds whose spec names no path (safe to take from a capture).
SAFE_DATASETS = ("natural32", "natural64", "natural", "mnist")
SPLITS = ("eval", "train", "all")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
#: Numerology fields the receiver block takes, with their accepted ranges.
#: (A capture's numerology sizes the receiver's tables: fft_size <= 1024 and cp_len <= 256 keep
#: them to a few MB.)
_NUMEROLOGY_INTS = {"fft_size": (16, 1024), "cp_len": (1, 256), "half_width": (2, 511),
                    "pilot_spacing": (2, 64), "header_symbols": (1, 256)}


# ----------------------------------------------------------------------------- CLI helper
def positional_as_option(argv: list[str], config_cls: type, field_name: str) -> list[str]:
    """``argv`` with one positional argument turned into ``--field-name VALUE`` (the flowgraph
    configs have flags only; see :func:`semradio.flowgraphs.app.flowgraph_main`). Unchanged
    when there is no positional argument or the arguments do not parse (the real parser then
    reports the error)."""
    from semradio.runtime.options import add_options

    p = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    p.add_argument("_positional", nargs="?")
    add_options(p, config_cls)
    p.add_argument("--json", action="store_true")
    try:
        ns, _ = p.parse_known_args(argv)
    except (argparse.ArgumentError, SystemExit):
        return argv
    value = ns._positional
    if value is None:
        return argv
    out = list(argv)
    out.remove(value)
    return ["--" + field_name.replace("_", "-"), value, *out]


# ----------------------------------------------------------------------------- numerology
def numerology_record(cfg: Any) -> dict[str, Any]:
    """The ``semradio:ofdm`` global of a capture for an :class:`~semradio.dsp.ofdm.OFDMConfig`."""
    return {"fft_size": cfg.fft_size, "cp_len": cfg.cp_len, "half_width": cfg.half_width,
            "pilot_spacing": cfg.pilot_spacing, "sts_repetitions": cfg.sts_repetitions,
            "header_symbols": cfg.header_symbols, "sample_rate": float(cfg.sample_rate),
            "pn_seed": cfg.pn_seed, "interleave_seed": cfg.interleave_seed,
            "used_carriers": int(len(cfg.used)), "pilot_carriers": int(len(cfg.pilots)),
            "data_carriers": int(len(cfg.data)), "symbol_len": cfg.symbol_len,
            "preamble_len": cfg.preamble_len, "subcarrier_spacing_hz": float(cfg.subcarrier_spacing)}


def numerology_text(cfg: Any) -> str:
    """The numerology as one annotation scalar: ``"fft_size=64,cp_len=16,..."`` (the fields the
    receiver block takes)."""
    return ",".join(f"{k}={getattr(cfg, k)}" for k in _NUMEROLOGY_INTS)


def parse_numerology_text(text: Any) -> dict[str, int] | None:
    """``"fft_size=64,header_symbols=16"`` -> ``{"fft_size": 64, ...}`` (known keys, values in
    range), else None."""
    if not isinstance(text, str) or len(text) > 256:
        return None
    out: dict[str, int] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or key not in _NUMEROLOGY_INTS or not value.strip().isdigit() or len(value) > 6:
            return None
        lo, hi = _NUMEROLOGY_INTS[key]
        v = int(value)
        if not lo <= v <= hi:
            return None
        out[key] = v
    return out or None


def _int(v: Any, lo: int, hi: int) -> int | None:
    """``v`` when it is an int (not a bool) in ``[lo, hi]``, else None."""
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        return None
    return v


def _float(v: Any, lo: float, hi: float) -> float | None:
    """``v`` as a finite float in ``[lo, hi]``, else None."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) and lo <= f <= hi else None


def numerology_from(value: Any) -> tuple[dict[str, int], list[str]]:
    """Receiver keyword arguments (``fft_size`` ... ``header_symbols``) from a capture's
    ``semradio:ofdm`` record, and notes on what was ignored. Fields that are missing or out of
    range keep the receiver's defaults; the result is checked by building an ``OFDMConfig``
    (all defaults and a note when it is inconsistent)."""
    from semradio.dsp.ofdm.numerology import OFDMConfig

    notes: list[str] = []
    if value is None:
        return {}, notes
    if not isinstance(value, dict):
        return {}, ["semradio:ofdm is not an object: default numerology"]
    kw: dict[str, int] = {}
    for key, (lo, hi) in _NUMEROLOGY_INTS.items():
        if key in value:
            v = _int(value[key], lo, hi)
            if v is None:
                notes.append(f"semradio:ofdm.{key}={value[key]!r:.40} out of range: default used")
            else:
                kw[key] = v
    default = OFDMConfig()
    for key in ("sts_repetitions", "pn_seed", "interleave_seed"):
        if key in value and value[key] != getattr(default, key):
            notes.append(f"semradio:ofdm.{key}={value[key]!r:.40} differs from the receiver's "
                         f"{getattr(default, key)} (not configurable): bursts may not decode")
    try:
        OFDMConfig(**kw)
    except (ValueError, TypeError) as exc:
        return {}, [*notes, f"semradio:ofdm inconsistent ({exc}): default numerology"]
    return kw, notes


# ----------------------------------------------------------------------------- metadata
def read_metadata(path: str) -> dict[str, Any]:
    """The parsed ``.sigmf-meta`` JSON object (size-limited).

    Raises:
        ValueError: unreadable, too large, not JSON, or not an object with a ``global`` object.
    """
    try:
        size = os.path.getsize(path)
        if size > MAX_META_BYTES:
            raise ValueError(f"{size} bytes (more than {MAX_META_BYTES})")
        with open(path, "rb") as f:
            meta = json.loads(f.read().decode("utf-8"), parse_constant=_reject_constant)
    except (OSError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("global"), dict):
        raise ValueError(f"{path} has no 'global' object")
    return meta


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-standard JSON constant {name}")


def sha512_of(path: str, limit: int | None = None) -> str:
    """Hex SHA-512 of a file (the first ``limit`` bytes when given)."""
    h = hashlib.sha512()
    left = limit
    with open(path, "rb") as f:
        while left is None or left > 0:
            chunk = f.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            h.update(chunk)
            if left is not None:
                left -= len(chunk)
    return h.hexdigest()


def safe_dataset(spec: str) -> bool:
    """Whether a dataset spec read from a file may be loaded: bundled data only (no path)."""
    kind, _, rest = spec.partition(":")
    return kind.lower() in SAFE_DATASETS and not rest


# ----------------------------------------------------------------------------- annotations
def burst_annotation(start: int, count: int, seq: int, images: list[int], length: int, dataset: str,
                     split: str, codec: str, codec_id: int, encoder_snr_db: float, numerology: str,
                     channel: dict[str, Any] | None = None) -> dict[str, Any]:
    """The SigMF annotation of one transmitted burst (module docstring)."""
    ann: dict[str, Any] = {
        "core:sample_start": int(start), "core:sample_count": int(count), "core:label": BURST_LABEL,
        "core:comment": f"burst {seq}: {len(images)} images of {dataset}/{split}",
        NS + "seq": int(seq), NS + "burst": int(seq), NS + "items": len(images), NS + "length": int(length),
        NS + "images": ",".join(str(int(i)) for i in images), NS + "dataset": dataset, NS + "split": split,
        NS + "codec": codec, NS + "codec_id": int(codec_id), NS + "encoder_snr_db": float(encoder_snr_db),
        NS + "ofdm": numerology, NS + "tx_channel": "none" if channel is None else str(channel["name"]),
    }
    if channel is not None:
        for key in ("channel_snr_db", "cfo", "sro_ppm", "gap"):
            if channel.get(key) is not None:
                ann[NS + key] = channel[key]
    return ann


@dataclass(frozen=True)
class BurstTruth:
    """What one burst carried, from the annotations.

    Attributes:
        seq: the header's frame counter.
        images: dataset indices, one per row of the burst.
        dataset / split: where the images come from (``dataset`` may be unsafe: see
            :func:`safe_dataset`).
        codec: the codec name the transmitter used (None when not annotated).
        encoder_snr_db: the SNR the (SNR-adaptive) encoder assumed (None when not annotated).
        start: the first annotated sample of the burst (None when unknown).
    """

    seq: int
    images: tuple[int, ...]
    dataset: str
    split: str
    codec: str | None
    encoder_snr_db: float | None
    start: int | None = field(default=None, compare=False)


@dataclass
class Truth:
    """The ground truth a capture's annotations give (see :func:`truth_from_annotations`).

    Attributes:
        bursts: by header seq.
        annotations: annotations looked at; ``burst_annotations``: those describing a burst.
        invalid: burst annotations ignored, by reason (bad field, conflicting copies...).
        conflicting: seqs whose annotations disagree (left out of ``bursts``).
        beyond_data: burst annotations starting past the end of the samples.
        numerologies: the distinct valid ``semradio:ofdm`` strings of the burst annotations.
    """

    bursts: dict[int, BurstTruth] = dataclasses.field(default_factory=dict)
    annotations: int = 0
    burst_annotations: int = 0
    invalid: dict[str, int] = dataclasses.field(default_factory=dict)
    conflicting: list[int] = dataclasses.field(default_factory=list)
    beyond_data: int = 0
    numerologies: set[str] = dataclasses.field(default_factory=set)

    def _bad(self, reason: str) -> None:
        self.invalid[reason] = self.invalid.get(reason, 0) + 1


def _images(v: Any) -> tuple[int, ...] | None:
    if not isinstance(v, str) or not 0 < len(v) <= 16 * MAX_ITEMS:
        return None
    out = []
    for part in v.split(","):
        part = part.strip()
        if not part.isdigit() or len(part) > 8:
            return None
        i = int(part)
        if i >= MAX_INDEX:
            return None
        out.append(i)
    return tuple(out) if 0 < len(out) <= MAX_ITEMS else None


def _parse_one(a: dict[str, Any], truth: Truth) -> BurstTruth | None:
    seq = _int(a.get(NS + "burst"), 0, 0xFFFFFFFF)
    if seq is None and NS + "burst" not in a and a.get("core:label") == BURST_LABEL:
        seq = _int(a.get(NS + "seq"), 0, 0xFFFFFFFF)
    if seq is None:
        truth._bad("burst id")
        return None
    images = _images(a.get(NS + "images"))
    if images is None:
        truth._bad("images")
        return None
    items = a.get(NS + "items")
    if items is not None and _int(items, 1, MAX_ITEMS) != len(images):
        truth._bad("items != number of images")
        return None
    dataset, split = a.get(NS + "dataset"), a.get(NS + "split")
    if not isinstance(dataset, str) or not 0 < len(dataset) <= 512 or "\x00" in dataset:
        truth._bad("dataset")
        return None
    if split not in SPLITS:
        truth._bad("split")
        return None
    codec = a.get(NS + "codec")
    if codec is not None and not (isinstance(codec, str) and _NAME.match(codec)):
        truth._bad("codec (ignored)")   # the burst stays: only its codec name is unusable
        codec = None
    snr = a.get(NS + "encoder_snr_db")
    if snr is not None:
        snr = _float(snr, -50.0, 100.0)
        if snr is None:
            truth._bad("encoder_snr_db")
            return None
    start = _int(a.get("core:sample_start"), 0, 1 << 62)
    return BurstTruth(seq, images, dataset, split, codec, snr, start)


def truth_from_annotations(annotations: Any, total_samples: int | None = None) -> Truth:
    """Validate a capture's annotations and collect what each burst carried.

    Annotations without any ``semradio:`` burst field are not burst annotations and are skipped.
    Several annotations may describe the same burst (a replayed capture has one per replayed
    frame): they must agree, else the burst is left out (``conflicting``). Malformed ones are
    counted in ``invalid`` by reason; nothing raises.

    Args:
        annotations: the ``annotations`` list of a ``.sigmf-meta`` (anything is accepted).
        total_samples: samples in the data file (annotations starting later are counted in
            ``beyond_data`` and still used: the burst was sent, it is just not in the file).
    """
    truth = Truth()
    if not isinstance(annotations, list):
        if annotations is not None:
            truth._bad("annotations is not a list")
        return truth
    if len(annotations) > MAX_ANNOTATIONS:
        truth._bad(f"more than {MAX_ANNOTATIONS} annotations (rest ignored)")
        annotations = annotations[:MAX_ANNOTATIONS]
    starts: dict[int, int] = {}
    found: dict[int, BurstTruth] = {}
    bad: set[int] = set()
    for a in annotations:
        truth.annotations += 1
        if not isinstance(a, dict):
            truth._bad("annotation is not an object")
            continue
        if NS + "images" not in a and NS + "burst" not in a:
            continue
        truth.burst_annotations += 1
        num = a.get(NS + "ofdm")
        if parse_numerology_text(num) is not None and len(truth.numerologies) < 16:
            truth.numerologies.add(num)
        b = _parse_one(a, truth)
        if b is None:
            continue
        if b.start is not None and total_samples is not None and b.start >= total_samples:
            truth.beyond_data += 1
        if b.start is not None:
            starts[b.seq] = min(starts.get(b.seq, b.start), b.start)
        old = found.get(b.seq)
        if old is None:
            found[b.seq] = b
        elif old != b:
            bad.add(b.seq)
    for seq in sorted(bad):
        truth._bad("conflicting annotations of one burst")
        del found[seq]
    truth.conflicting = sorted(bad)
    truth.bursts = {s: dataclasses.replace(b, start=starts.get(s)) for s, b in sorted(found.items())}
    return truth


def sanitize(value: Any) -> Any:
    """``value`` with non-finite floats as None (strict JSON), numpy scalars as Python ones."""
    if isinstance(value, dict):
        return {str(k): sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [sanitize(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        try:
            value = value.item()
        except (ValueError, TypeError):
            return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


__all__ = ["BURST_LABEL", "NS", "BurstTruth", "Truth", "burst_annotation", "numerology_from", "numerology_record",
           "numerology_text", "parse_numerology_text",
           "positional_as_option", "read_metadata", "safe_dataset", "sanitize", "sha512_of",
           "truth_from_annotations"]
