"""Pillow image codecs and the rate controller of the digital baseline."""

from __future__ import annotations

import numpy as np
import pytest

from semradio.models import image_codec as IC
from semradio.models.data import parse_spec, whole_photos


def _photo() -> np.ndarray:
    return whole_photos("eval", 64)[0]


def _need(codec: str) -> None:
    if codec not in IC.available_codecs():
        pytest.skip(f"this Pillow has no {codec} support")


@pytest.mark.parametrize("codec", list(IC.CODECS))
def test_fit_is_the_best_quality_that_fits(codec):
    _need(codec)
    img = _photo()
    for budget in (400, 1200):
        fit = IC.fit_budget(img, codec, budget)
        assert fit is not None and fit.nbytes <= budget
        if codec in ("jpeg", "webp") and fit.quality < (95 if codec == "jpeg" else 100):
            assert len(IC.encode(img, codec, fit.quality + 1)) > budget or \
                len(IC.encode(img, codec, fit.quality + 2)) > budget
        if codec == "jpeg2000":  # 1 % more rate no longer fits (or the search hit its end)
            assert len(IC.encode(img, codec, fit.quality / 1.02)) > budget or fit.quality <= 1.0
        rec = IC.decode(fit.data, codec, img.shape)
        assert rec is not None and rec.shape == img.shape and rec.dtype == np.float32
        mse = float(np.mean((rec - img) ** 2))
        assert 10 * np.log10(1 / mse) > 18
    assert IC.fit_budget(img, codec, 10) is None  # below the headers: nothing fits
    assert 0 < IC.header_bytes(IC.encode(img, codec, 50 if codec != "jpeg2000" else 20), codec) < 600


@pytest.mark.parametrize("codec", list(IC.CODECS))
def test_decode_of_untrusted_bytes_never_raises(codec):
    _need(codec)
    img = _photo()
    data = IC.fit_budget(img, codec, 800).data
    assert IC.decode(data, codec, (3, 32, 32)) is None          # the header says another size
    assert IC.decode(data, codec, (3, 64, 64)) is not None
    assert IC.decode(data[: len(data) // 3], codec, (3, 64, 64)) is None or True  # truncated: never raises
    other = "webp" if codec != "webp" else "jpeg"
    if other in IC.available_codecs():
        assert IC.decode(IC.encode(img, other, 50), codec, (3, 64, 64)) is None  # wrong format
    rng = np.random.default_rng(0)
    for _ in range(20):
        junk = bytearray(data)
        for i in rng.integers(0, len(junk), 8):
            junk[i] ^= 0xFF
        out = IC.decode(bytes(junk), codec, (3, 64, 64))
        assert out is None or (out.shape == (3, 64, 64) and np.isfinite(out).all())
    assert IC.decode(b"", codec, (3, 64, 64)) is None
    with pytest.raises(ValueError):
        IC.encode(img, "gif", 50)


def test_whole_photo_spec():
    assert parse_spec("photos:256").size == 256 and parse_spec("photos").size == 128
    a = whole_photos("eval", 48)
    assert a.shape == (3, 3, 48, 48) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    with pytest.raises(ValueError):
        parse_spec("photos:big")
