"""The demo's scopes read at a glance (issue #26): latent symbols drawn against the transmitted
ones with their MSE, PSNR-vs-SNR points that count each image once, the denoiser's paired PSNR
gain, and a sweep that replays the same images at every SNR point."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from semradio.blocks import SymbolSource
from semradio.blocks.qtgui import ConstellationScope, ImageScope, MetricScope
from semradio.runtime import Flowgraph, Frame


def _real_form(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x.real, x.imag], axis=1).astype(np.float32)


def test_constellation_scope_draws_estimates_against_the_transmitted_symbols():
    rng = np.random.default_rng(0)
    tx = ((rng.standard_normal((8, 512)) + 1j * rng.standard_normal((8, 512))) / math.sqrt(2)).astype(np.complex64)
    eq = _real_form(tx) + 0.3 * rng.standard_normal((8, 1024)).astype(np.float32)  # MSE 0.09: -10.5 dB
    dn = _real_form(tx) + 0.1 * rng.standard_normal((8, 1024)).astype(np.float32)  # MSE 0.01: -20 dB
    cs = ConstellationScope(max_points=2000, max_rate_hz=math.inf)
    cs.work(Frame.new(tx * 2, seq=0), Frame.new(eq, seq=0), Frame.new(dn, seq=0), Frame.new(tx, seq=0))
    _, points, tags = cs.points()
    assert tags["versus"] == "transmitted" and set(points) == {"equalized", "denoised"}  # received: not comparable
    assert abs(tags["mse_db_equalized"] - 10 * math.log10(0.09)) < 0.2
    assert abs(tags["mse_db_denoised"] - 10 * math.log10(0.01)) < 0.2
    x = _real_form(tx).reshape(-1)
    for port, est in (("equalized", eq), ("denoised", dn)):
        p = points[port]
        assert p.size == 2000
        idx = (np.arange(2000) * x.size) // 2000  # the same decimation for x and its estimate
        assert np.allclose(p.real, x[idx], atol=1e-6) and np.allclose(p.imag, est.reshape(-1)[idx], atol=1e-6)


def test_constellation_scope_falls_back_to_iq_when_the_transmitted_size_differs():
    cs = ConstellationScope(max_rate_hz=math.inf)
    eq = np.ones((2, 64), np.float32)
    cs.work(None, Frame.new(eq, seq=0), None, Frame.new(np.ones((2, 16), np.complex64), seq=0))
    _, points, tags = cs.points()
    assert "versus" not in tags and set(points) == {"equalized"}
    assert np.allclose(points["equalized"], 1 + 1j)


def _frame(images: np.ndarray, index: list[int], seq: int, **tags) -> Frame:
    return Frame.new(images, seq=seq, image_index=np.asarray(index, np.int64), **tags)


def test_metric_scope_curve_counts_each_image_once():
    """Image 0 (clean, 40 dB) passes twice at 10 dB, image 1 (20 dB) once: the point is the
    mean over the two images (30 dB), not over the three measurements (33.3 dB)."""
    ref = np.full((1, 1, 8, 8), 0.5, np.float32)

    def noisy(psnr: float) -> np.ndarray:
        amp = math.sqrt(10 ** (-psnr / 10))
        return ref + amp * np.where(np.arange(64).reshape(1, 1, 8, 8) % 2, 1.0, -1.0).astype(np.float32)

    ms = MetricScope(max_rate_hz=math.inf)
    for seq, (i, psnr) in enumerate([(0, 40.0), (0, 40.0), (1, 20.0)]):
        ms.work(_frame(ref, [i], seq), Frame.new(noisy(psnr), seq=seq, snr_db=10.0, denoiser="cddm"))
    _, s = ms.series()
    snr, psnr, _ = s["curves"]["cddm"]
    assert snr.tolist() == [10.0] and abs(psnr[0] - 30.0) < 1e-3
    assert s["curve_images"]["cddm"].tolist() == [2]
    ms.reset_curves()
    assert ms.series()[1]["curves"] == {}


def test_image_scope_keeps_the_paired_denoiser_gain_and_restarts_it_when_the_snr_moves():
    rng = np.random.default_rng(1)
    orig = rng.uniform(0.2, 0.8, (4, 3, 8, 8)).astype(np.float32)
    noise = rng.choice([-1.0, 1.0], orig.shape).astype(np.float32)
    received, reconstructed = orig + 0.1 * noise, orig + 0.05 * noise  # a quarter of the MSE: +6.02 dB
    im = ImageScope(max_rate_hz=math.inf)
    for seq in range(3):
        im.work(Frame.new(orig, seq=seq), Frame.new(received, seq=seq, snr_db=10.0, denoiser="cddm"),
                Frame.new(reconstructed, seq=seq, snr_db=10.0, denoiser="cddm"))
    tags = im.images()[2]
    assert abs(tags["denoiser_gain_db"] - 6.02) < 0.01 and tags["gain_frames"] == 3
    im.work(Frame.new(orig, seq=3), Frame.new(received, seq=3, snr_db=5.0, denoiser="cddm"),
            Frame.new(received, seq=3, snr_db=5.0, denoiser="cddm"))
    tags = im.images()[2]
    assert tags["gain_frames"] == 1 and abs(tags["denoiser_gain_db"]) < 1e-9


def _demo():
    from semradio.flowgraphs import demo_gui

    return demo_gui


def test_demo_sweep_runs_once_then_returns_to_the_configured_snr():
    demo = _demo()
    fg = Flowgraph("sweep_test")
    src = SymbolSource(batch=1, k=64, frames=None, seed=0, name="source")
    ch = demo._channel(demo.DemoConfig(snr_db=7.0))
    fg.connect(src, ch)
    seen: list[float] = []
    fg.start()
    try:
        done = demo.start_sweep(fg, [0.0, 20.0], 0.3, final=7.0)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (len(seen) < 3 or seen[-1] != 7.0):
            v = ch.param("snr_db")
            if not seen or seen[-1] != v:
                seen.append(v)
            time.sleep(0.01)
        done.set()
    finally:
        fg.stop()
    assert [v for v in seen if v != 7.0][:2] == [0.0, 20.0] and seen[-1] == 7.0


def test_demo_sweep_replays_the_same_images_and_decodes_denoised_latents_with_the_tuned_decoder():
    demo = _demo()
    try:
        fg, blocks = demo.build_image_chain(demo.DemoConfig(chain="image", sweep_snr="0:20:5", sweep_images=32,
                                                            device="cpu"))
    except (FileNotFoundError, ImportError) as exc:  # pragma: no cover - a checkout without the shipped models
        pytest.skip(f"the shipped codec or CDDM is not available: {exc}")
    assert len(blocks["source"].images) == 32
    assert blocks["transmitted"] is blocks["normalizer"]
    if "denoiser" in blocks:
        assert blocks["decoder"].codec_name.endswith("_cddm")
        assert blocks["denoiser"].param("rule") == "tweedie" and blocks["denoiser"].param("max_steps") is None
    fg2, blocks2 = demo.build_image_chain(demo.DemoConfig(chain="image", device="cpu", denoiser="none"))
    assert len(blocks2["source"].images) > 32 and not str(blocks2["decoder"].codec_name).endswith("_cddm")


def test_views_show_the_latent_mse_and_a_monitor_without_a_scroll_bar():
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    pytest.importorskip("PySide6", reason="PySide6 (the 'gui' extra) is not installed: no Qt views to test")
    pytest.importorskip("pyqtgraph", reason="pyqtgraph (the 'gui' extra) is not installed: no Qt views to test")
    from semradio.blocks import Throttle
    from semradio.blocks.qtgui.qt import ConstellationView, ScopeWindow, ensure_app
    from semradio.blocks.qtgui.qt.common import binding_drops_none_refs

    if binding_drops_none_refs():
        pytest.skip("the installed PySide6 loses references to None on this Python: install 'PySide6-Essentials<6.12'")
    ensure_app(offscreen=True)
    rng = np.random.default_rng(2)
    tx = ((rng.standard_normal((2, 256)) + 1j * rng.standard_normal((2, 256))) / math.sqrt(2)).astype(np.complex64)
    cs = ConstellationScope(max_rate_hz=math.inf)
    cs.work(None, Frame.new(_real_form(tx) + 0.3, seq=0, snr_db=10.0), Frame.new(_real_form(tx) + 0.1, seq=0),
            Frame.new(tx, seq=0))
    view = ConstellationView(cs)
    view.refresh(force=True)
    text = view.caption.text()
    assert view.mode == "transmitted" and "MSE equalized -10.5 dB" in text and "denoised -20.0 dB" in text
    assert "-9.5 dB" in text  # the denoiser's change
    # 15 blocks (the demo's count) fit the monitor of a 1600 x 860 window without scrolling
    fg = Flowgraph("monitor_test")
    head = SymbolSource(batch=1, k=8, frames=1, name="source")
    chain = [head, *(Throttle(1e6, name=f"b{i}") for i in range(14))]
    fg.connect(*chain)
    win = ScopeWindow(fg, [ConstellationScope(name="c")], controls=False)
    win.show()
    fg.run(timeout=10)
    win.monitor.refresh(force=True)
    ensure_app().processEvents()
    assert win.monitor.table.rowCount() == 15
    table = win.monitor.table
    assert table.minimumHeight() >= table.horizontalHeader().height() + 15 * table.verticalHeader().defaultSectionSize()
    assert not table.verticalScrollBar().isVisible()
    win.close()
