"""Standard image codecs through Pillow (JPEG, JPEG 2000, WebP) and the rate controller of the
digital baseline: the best quality whose bitstream fits a byte budget.

Codecs (Pillow's bundled libjpeg-turbo, OpenJPEG and libwebp; :func:`available_codecs` says
which this Pillow has):

============ ============================================== ====================================
codec        quality knob (searched)                        bitstream
============ ============================================== ====================================
``jpeg``     ``quality`` 1..95 (integers), 4:2:0,            JFIF, Huffman tables optimised
             ``optimize=True``
``jpeg2000`` compression ratio (``quality_mode="rates"``),   raw J2K codestream (``no_jp2``),
             continuous, irreversible 9/7 wavelet            one quality layer
``webp``     ``quality`` 0..100 (integers), ``method=6``     RIFF/WebP (VP8, lossy)
============ ============================================== ====================================

Rate control (:func:`fit_budget`): the bitstream size grows with quality, so a bisection over the
knob finds the highest quality whose bitstream is at most ``budget`` bytes (integer knobs: the
exact best fitting value if size is monotone in it, and the search then checks every value it
settles on; JPEG 2000: the ratio bisected to 1 % and the fitting end kept). When even the lowest
quality does not fit, the image cannot be sent: :func:`fit_budget` returns None and the link
counts an erasure. :func:`header_bytes` measures what a codec's own headers cost (JPEG: SOI up to
the end of the SOS header; J2K: SOC up to the first SOD; WebP: the RIFF, chunk and VP8 frame
headers, 30 bytes).

Decoding (:func:`decode`) treats the bytes as untrusted: the format must be the expected one,
the size must be the expected (H, W) (checked before pixels are decoded, so a forged header
cannot ask for a huge image) and any Pillow error is reported as a failure, never raised.

    >>> img = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32)
    >>> fit = fit_budget(img, "webp", 1500)
    >>> fit.nbytes <= 1500 and decode(fit.data, "webp", (3, 64, 64)) is not None
    True
"""

from __future__ import annotations

import io
import math
import warnings
from dataclasses import dataclass

import numpy as np

#: Codecs this module drives, by name -> Pillow format.
CODECS: dict[str, str] = {"jpeg": "JPEG", "jpeg2000": "JPEG2000", "webp": "WEBP"}
_FEATURES = {"jpeg": "jpg", "jpeg2000": "jpg_2000", "webp": "webp"}


def available_codecs() -> list[str]:
    """The codecs whose Pillow plugin is present (``PIL.features.check``)."""
    from PIL import features

    return [c for c in CODECS if features.check(_FEATURES[c])]


def _check_codec(codec: str) -> None:
    if codec not in CODECS:
        raise ValueError(f"unknown image codec {codec!r}; expected one of {sorted(CODECS)}")


def to_pil(image: np.ndarray):  # noqa: ANN201 - PIL.Image
    """float (C, H, W) in [0, 1], C = 1 or 3 -> a PIL image (L or RGB), rounded to 8 bits."""
    from PIL import Image

    a = np.asarray(image, np.float32)
    if a.ndim != 3 or a.shape[0] not in (1, 3):
        raise ValueError(f"image must be (C, H, W) with C = 1 or 3, got {a.shape}")
    u8 = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    return Image.fromarray(u8[0], "L") if a.shape[0] == 1 else Image.fromarray(u8.transpose(1, 2, 0), "RGB")


def encode(image: np.ndarray, codec: str, quality: float) -> bytes:
    """The bitstream of ``image`` (float (C, H, W) in [0, 1]) at a quality knob value (see the
    module table; JPEG 2000: the compression ratio, larger = smaller file)."""
    _check_codec(codec)
    im = to_pil(image)
    buf = io.BytesIO()
    if codec == "jpeg":
        im.save(buf, "JPEG", quality=int(quality), optimize=True, subsampling="4:2:0")
    elif codec == "webp":
        im.save(buf, "WEBP", quality=int(quality), method=6, lossless=False)
    else:
        im.save(buf, "JPEG2000", quality_mode="rates", quality_layers=[float(quality)], irreversible=True,
                no_jp2=True, num_resolutions=max(1, min(6, int(math.log2(min(im.size))) - 2)))
    return buf.getvalue()


def decode(data: bytes, codec: str, shape: tuple[int, int, int]) -> np.ndarray | None:
    """float32 (C, H, W) in [0, 1] from a bitstream, or None when it is not a valid ``codec``
    bitstream of an image of ``shape`` (untrusted input: every failure is a None)."""
    from PIL import Image

    _check_codec(codec)
    c, h, w = (int(v) for v in shape)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(bytes(data)), formats=[CODECS[codec]])
            if im.size != (w, h):
                return None
            im.load()
            im = im.convert("L" if c == 1 else "RGB")
            a = np.asarray(im, np.float32) / 255.0
    except Exception:  # noqa: BLE001 - any decoder error of untrusted bytes is a failed decode
        return None
    a = a[None] if c == 1 else a.transpose(2, 0, 1)
    return np.ascontiguousarray(a) if a.shape == (c, h, w) else None


@dataclass(frozen=True)
class Fit:
    """A bitstream that fits: ``data``, its ``quality`` knob value and ``nbytes``."""

    data: bytes
    quality: float
    codec: str

    @property
    def nbytes(self) -> int:
        return len(self.data)


def fit_budget(image: np.ndarray, codec: str, budget: int) -> Fit | None:
    """The highest-quality bitstream of ``image`` with at most ``budget`` bytes, or None when the
    lowest quality does not fit (see the module doc for the search)."""
    _check_codec(codec)
    budget = int(budget)
    if budget <= 0:
        return None
    best: Fit | None = None
    if codec in ("jpeg", "webp"):
        lo, hi = (1, 95) if codec == "jpeg" else (0, 100)
        d = encode(image, codec, lo)
        if len(d) > budget:
            return None
        best = Fit(d, lo, codec)
        while lo < hi:  # invariant: quality lo fits
            mid = (lo + hi + 1) // 2
            d = encode(image, codec, mid)
            if len(d) <= budget:
                lo, best = mid, Fit(d, mid, codec)
            else:
                hi = mid - 1
        return best
    # JPEG 2000: ratio r = raw bytes / target bytes; bisect log r
    raw = int(np.prod(np.shape(image)))
    r_hi = 4.0 * raw  # very small file
    d = encode(image, codec, r_hi)
    if len(d) > budget:
        return None
    best = Fit(d, r_hi, codec)
    r_lo = 1.0
    d = encode(image, codec, r_lo)
    if len(d) <= budget:
        return Fit(d, r_lo, codec)
    for _ in range(40):
        if r_hi / r_lo < 1.01:
            break
        mid = math.sqrt(r_lo * r_hi)
        d = encode(image, codec, mid)
        if len(d) <= budget:
            r_hi, best = mid, Fit(d, mid, codec)
        else:
            r_lo = mid
    return best


def header_bytes(data: bytes, codec: str) -> int:
    """Bytes of a bitstream's own headers (module doc): JPEG up to the end of the SOS segment,
    J2K up to the first SOD marker (inclusive), WebP 30."""
    _check_codec(codec)
    b = bytes(data)
    if codec == "webp":
        return min(30, len(b))
    if codec == "jpeg2000":
        i = b.find(b"\xff\x93")
        return len(b) if i < 0 else i + 2
    i = 2  # after SOI
    while i + 4 <= len(b) and b[i] == 0xFF:
        marker, seg = b[i + 1], int.from_bytes(b[i + 2:i + 4], "big")
        i += 2 + seg
        if marker == 0xDA:  # SOS
            return i
    return len(b)


__all__ = ["CODECS", "Fit", "available_codecs", "decode", "encode", "fit_budget", "header_bytes", "to_pil"]
