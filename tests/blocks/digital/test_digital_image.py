"""DigitalImageTx / DigitalImageRx: equal channel uses, decodes equal to the error-free codec,
counted erasures with mid-grey concealment, untrusted tags; the BLER trace of the metric scope."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sionna.phy", reason="the digital link needs Sionna PHY (the phy extra)")

from semradio.blocks.channels.fading import make_channel  # noqa: E402
from semradio.blocks.digital.image_rx import CONCEAL_VALUE, DigitalImageRx  # noqa: E402
from semradio.blocks.digital.image_tx import DigitalImageTx, channel_uses, payload_budget  # noqa: E402
from semradio.models import image_codec as IC  # noqa: E402
from semradio.models.data import whole_photos  # noqa: E402
from semradio.runtime import Frame  # noqa: E402

CODEC = "webp" if "webp" in IC.available_codecs() else "jpeg"


@pytest.fixture(scope="module")
def images():
    return whole_photos("eval", 64)[:2]


def test_equal_channel_uses_and_error_free_decode(images):
    tx, rx = DigitalImageTx(CODEC, mcs=7), DigitalImageRx(CODEC, mcs=7)
    f = tx.work(Frame(images, {"seq": 0}))
    assert f.data.shape == (2, channel_uses(1 / 6, (3, 64, 64))) == (2, 2048)
    assert f.tags["image_shape"] == [3, 64, 64] and f.tags["unfit"] == 0
    budget = payload_budget(f.tags["tb_bits"])
    assert all(0 < n <= budget for n in f.tags["payload_bytes"])
    g = make_channel("rayleigh", snr_db=30.0, fading="block", coherence=256, seed=1).work(f)
    out = rx.work(g)
    assert out.tags["tb_errors"] == 0 and out.tags["erasures"] == 0 and out.tags["bler"] == 0.0
    for img, rec in zip(images, out.data):
        ref = IC.decode(IC.fit_budget(img, CODEC, budget).data, CODEC, img.shape)
        assert np.array_equal(rec, ref)  # exactly what the codec alone gives


def test_failed_crc_is_a_counted_erasure_with_a_grey_image(images):
    tx, rx = DigitalImageTx(CODEC, mcs=15), DigitalImageRx(CODEC, mcs=15)
    g = make_channel("awgn", snr_db=0.0, seed=2).work(tx.work(Frame(images, {"seq": 0})))
    out = rx.work(g)
    assert out.tags["tb_errors"] == 2 and out.tags["erasures"] == 2 and out.tags["concealed"] == [True, True]
    assert np.all(out.data == CONCEAL_VALUE)
    assert rx.counts["tbs"] == 2 and rx.counts["tb_errors"] == 2


def test_an_image_that_cannot_fit_is_sent_empty_and_concealed():
    patches = whole_photos("eval", 32)[:1]  # 32x32 at MCS 3: a 29-byte budget, no codec fits
    tx, rx = DigitalImageTx(CODEC, mcs=3), DigitalImageRx(CODEC, mcs=3)
    f = tx.work(Frame(patches, {"seq": 0}))
    assert f.tags["unfit"] == 1 and f.tags["payload_bytes"] == [0] and tx.unfit == 1
    out = rx.work(make_channel("awgn", snr_db=30.0, seed=0).work(f))
    assert out.tags["tb_errors"] == 0 and out.tags["erasures"] == 1 and rx.counts["unfit"] == 1
    assert np.all(out.data == CONCEAL_VALUE)


def test_untrusted_tags_are_refused(images):
    tx, rx = DigitalImageTx(CODEC, mcs=7), DigitalImageRx(CODEC, mcs=7)
    g = make_channel("awgn", snr_db=20.0, seed=0).work(tx.work(Frame(images, {"seq": 0})))
    for bad in ([3, 10**9, 1], [3, 64], "3x64x64", [2, 64, 64], [3, 64.5, 64], [3, 32, 32]):
        with pytest.raises(ValueError, match="DigitalImageRx"):
            rx.work(g.replace(image_shape=bad))
    for noise in (None, -1.0, float("nan"), "x"):
        with pytest.raises(ValueError, match="noise_var"):
            rx.work(g.replace(noise_var=noise))
    with pytest.raises(ValueError, match="CSI"):
        rx.work(g.replace(channel_model="rayleigh", h=np.ones((2, 5), np.complex64)))
    with pytest.raises(ValueError):
        DigitalImageRx(CODEC, mcs=1)
    assert rx.counts["tbs"] == 0


def test_metric_scope_keeps_the_bler_and_ignores_bad_values(images):
    from semradio.blocks.qtgui.metric import MetricScope

    ms = MetricScope()
    ref = Frame(images, {"seq": 0})
    for bler, tb_err, tbs in ((0.5, 1, 2), (0.0, 0, 2), (7.0, 1, 2), ("x", 1, 2)):
        ms.accept(ref, Frame(images, {"seq": 0, "snr_db": 3.0, "bler": bler, "tb_errors": tb_err, "tbs": tbs}))
    _, s = ms.series()
    assert list(s["bler"]) == [0.5, 0.0] and s["bler_total"] == pytest.approx(0.25)
