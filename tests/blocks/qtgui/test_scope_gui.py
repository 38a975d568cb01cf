"""The pyqtgraph scopes, offscreen (issue #10): every view renders real frames of a running
flowgraph and its PNG snapshot shows the expected content; the control panel retunes a
running channel and the measured SNR follows; closing the window stops the flowgraph."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PySide6", reason="PySide6 (the 'gui' extra) is not installed: no Qt scopes to test")
pytest.importorskip("pyqtgraph", reason="pyqtgraph (the 'gui' extra) is not installed: no Qt scopes to test")

from semradio.blocks import ArraySource, InterferenceChannel, MMSEEqualizer, SymbolSource, Throttle  # noqa: E402
from semradio.blocks.qtgui import ConstellationScope  # noqa: E402
from semradio.blocks.qtgui.gui_support import ScopeRunner, attach_scopes  # noqa: E402
from semradio.blocks.qtgui.qt import ScopeWindow, ensure_app  # noqa: E402
from semradio.blocks.qtgui.qt.common import BACKGROUND, COLORS  # noqa: E402
from semradio.runtime import Flowgraph, Frame, SyncBlock  # noqa: E402

QPSK = [(a / math.sqrt(2), b / math.sqrt(2)) for a in (1, -1) for b in (1, -1)]


@pytest.fixture(scope="module")
def app():
    from semradio.blocks.qtgui.qt.common import binding_drops_none_refs

    if binding_drops_none_refs():
        pytest.skip("the installed PySide6 loses references to None on this Python (6.12.0 on 3.11): "
                    "install 'PySide6-Essentials<6.12'")
    return ensure_app(offscreen=True)


def png_rgb(path: Path) -> np.ndarray:
    """A PNG file as uint8 (H, W, 3)."""
    from PySide6 import QtGui

    img = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    assert not img.isNull(), path
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
    return buf[:, :w * 3].reshape(h, w, 3).copy()


def patch(rgb: np.ndarray, xy: tuple[int, int], r: int = 3) -> np.ndarray:
    x, y = xy
    return rgb[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1].reshape(-1, 3).astype(int)


def is_background(px: np.ndarray) -> np.ndarray:
    return np.all(px == np.array(BACKGROUND), axis=-1)


def channel_chain(snr_db=30.0, frames=20, model="awgn", rate=None):
    fg = Flowgraph("gui_test")
    src = SymbolSource(batch=2, k=1024, frames=frames, seed=1, name="source")
    ch = InterferenceChannel(snr_db=snr_db, pz=0.0, model=model, seed=2, keep_noise=True, name="channel")
    eq = MMSEEqualizer(name="equalizer")
    blocks = {"source": src, "channel": ch, "equalizer": eq}
    head = src
    if rate:
        head = blocks["throttle"] = Throttle(rate, name="throttle")
        fg.connect(src, head)
    fg.connect(head, ch, eq)
    return fg, blocks


def run_snapshot(fg, blocks, out: Path, **kw) -> ScopeRunner:
    scopes = attach_scopes(fg, blocks)
    runner = ScopeRunner(fg, scopes, gui=False, snapshot_dir=out, timeout=30, inprocess=True, **kw)
    runner.run()
    return runner


def view_named(runner: ScopeRunner, name: str):
    return next(v for v in runner.window.all_views() if v.snapshot_name == name)


# ----------------------------------------------------------------------------- channel chain
def test_constellation_and_time_snapshots_show_the_received_symbols(app, tmp_path):
    fg, blocks = channel_chain(snr_db=30.0, frames=20)
    runner = run_snapshot(fg, blocks, tmp_path)
    assert set(runner.snapshots) == {"constellation", "time", "metrics", "monitor", "controls", "window"}

    view = view_named(runner, "constellation")
    eq = view.last_points["equalized"]
    assert eq.size == 2048
    assert np.min(np.abs(eq[:, None] - np.array([complex(*q) for q in QPSK])[None]), axis=1).max() < 0.2
    rgb = png_rgb(runner.snapshots["constellation"])
    assert rgb.shape[:2] == (view.height(), view.width())
    for q in QPSK:  # drawn points around each QPSK position, with the equalized (cyan) layer in them
        px = patch(rgb, view.data_to_pixel(*q), 4)
        assert (~is_background(px)).sum() >= 10, q
        assert np.any((px[:, 2] >= 200) & (px[:, 1] >= 150)), q  # cyan (0, 200, 255) (+ grey where both)
    for empty in [(0.0, 0.0), (0.707, 0.0), (0.0, -0.707), (-0.3, 0.3)]:  # nothing between them
        assert is_background(patch(rgb, view.data_to_pixel(*empty), 3)).all(), empty

    tview = view_named(runner, "time")
    x, y = tview.h_curve.getData()
    assert len(x) == 512 and np.allclose(y, 0.0, atol=1e-5)  # AWGN: |h| = 1 = 0 dB
    seq, meas = tview.measured_curve.getData()
    assert len(seq) >= 1 and np.all(np.abs(meas - 30.0) < 0.5)
    trgb = png_rgb(runner.snapshots["time"])
    h = trgb.shape[0]
    yellow = np.abs(trgb.astype(int) - np.array(COLORS["h"])).sum(axis=-1) < 60
    green = np.abs(trgb.astype(int) - np.array(COLORS["measured"])).sum(axis=-1) < 60
    assert yellow[: h // 2].sum() > 100 and yellow[h // 2:].sum() == 0  # |h| trace in the top plot
    assert green[h // 2:].sum() > 5  # measured SNR points in the bottom plot
    # the legends are keys in the title rows, above the plots, not boxes over the traces
    assert tview.top.legend is None and tview.bottom.legend is None
    vb_top = tview.glw.mapTo(tview, tview.glw.mapFromScene(tview.top.vb.sceneBoundingRect().topLeft())).y()
    assert 0 < vb_top < h // 2 and yellow[:vb_top].sum() > 5  # the |h| key, above the top plot

    mview = view_named(runner, "metrics")
    t, p = mview.psnr_curve.getData()
    assert len(t) >= 1 and abs(p[-1] - 30.0) < 1.0
    snr, psnr = mview.group_curves["none"].getData()
    assert snr.tolist() == [30.0]

    mon = view_named(runner, "monitor")
    rows = {r.block: r for r in mon.rows}
    assert set(rows) >= {"source", "channel", "equalizer", "constellation_scope"}
    assert rows["source"].frames == 20 and rows["channel"].state == "done"
    window = png_rgb(runner.snapshots["window"])
    assert window.shape[0] > 500 and window.shape[1] > 1000


class NoisyCopy(SyncBlock):
    """Stands in for a JSCC decoder: the images plus Gaussian noise of std ``sigma``."""

    def __init__(self, sigma: float, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="float32")
        self.add_output("out", dtype="float32")
        self.sigma = sigma
        self.rng = np.random.default_rng(0)

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        noise = self.rng.normal(0.0, self.sigma, frame.data.shape).astype(np.float32)
        return frame.replace(frame.data + noise, snr_db=12.0)


def test_image_and_metric_snapshots_show_the_images_and_their_quality(app, tmp_path):
    colors = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.2, 0.3, 0.9], [0.8, 0.8, 0.1]], np.float32)
    images = np.repeat(np.repeat(colors[:, :, None, None], 16, axis=2), 24, axis=3)  # (4, 3, 16, 24)
    images = np.concatenate([images] * 6)  # 24 images, 6 frames of 4
    fg = Flowgraph("image_test")
    src = ArraySource(images, batch=4, name="source")
    dec = NoisyCopy(0.05, name="decoder")
    fg.connect(src, dec)
    runner = run_snapshot(fg, {"source": src, "decoder": dec}, tmp_path)
    assert {"images", "metrics"} <= set(runner.snapshots)

    view = view_named(runner, "images")
    panels = view.last_panels
    assert list(panels) == ["original", "reconstructed"]
    orig = panels["original"]["image"]
    assert orig.shape == (32, 48, 3)  # 4 images of 16x24 in a 2x2 mosaic
    np.testing.assert_array_equal(orig[:16, :24], np.full((16, 24, 3), (230, 26, 26)))
    assert panels["reconstructed"]["image"].shape == orig.shape
    assert panels["reconstructed"]["psnr_db"] == pytest.approx(26.02, abs=0.3)  # 10 log10(1 / 0.05^2)
    assert 0.0 < panels["reconstructed"]["ssim"] < 1.0
    assert "PSNR 26." in view.panels["reconstructed"]["label"].text()  # caption: PSNR / SSIM vs original

    rgb = png_rgb(runner.snapshots["images"])
    for port in ("original", "reconstructed"):  # the centre of each tile shows its colour
        for i, c in enumerate(colors):
            r, q = divmod(i, 2)
            got = patch(rgb, view.panel_pixel(port, q * 24 + 12, r * 16 + 8), 2).mean(axis=0)
            assert np.abs(got - c * 255).max() < 40, (port, i, got)

    mview = view_named(runner, "metrics")
    t, s = mview.ssim_curve.getData()
    assert len(s) >= 1 and 0.0 < s[-1] < 1.0
    snr, psnr = mview.group_curves["none"].getData()
    assert snr.tolist() == [12.0] and psnr[0] == pytest.approx(26.02, abs=0.3)


# --------------------------------------------------------------------------------- controls
def test_control_panel_retunes_the_running_channel_and_the_measured_snr_follows(app):
    fg, blocks = channel_chain(snr_db=20.0, frames=None, model="rayleigh", rate=100.0)
    scopes = attach_scopes(fg, blocks)
    ts = next(s for s in scopes if s.name == "time_scope")
    win = ScopeWindow(fg, scopes, fps=20)
    panel = win.controls
    assert {"snr_db", "sinr_db", "model"} <= set(panel.widgets)

    def frames_after(change_seq, key, cond, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app.processEvents()
            with ts._lock:
                hist = [h[1:] for h in ts._history if h[1] is not None and h[1] > change_seq]
            _, item = ts.latest()
            if len(hist) >= 5 and cond(hist, item):
                return hist
            time.sleep(0.02)
        raise AssertionError(f"{key}: the scopes never saw the change")

    fg.start()
    win.start()
    try:
        frames_after(-1, "start", lambda h, i: True)
        seq0 = ts.latest()[1]["tags"]["seq"]
        panel.set_value("snr_db", 2.0)  # as a user would: spin box -> ctrl message
        assert panel.sent[-1] == (["channel"], {"snr_db": 2.0})
        hist = frames_after(seq0, "snr", lambda h, i: h[-1][1] == 2.0)
        after = [h for h in hist if h[1] == 2.0]
        measured = np.array([h[2] for h in after])
        assert np.all(np.abs(measured - 2.0) < 0.5)  # 10 log10(Px / mean|n|^2) of each frame

        seq1 = ts.latest()[1]["tags"]["seq"]
        panel.set_value("model", "awgn")  # channel type combo box
        frames_after(seq1, "model", lambda h, i: i["tags"].get("channel_model") == "awgn")
        _, tr, _ = ts.traces()
        assert np.allclose(tr["h_db"], 0.0, atol=1e-5)
        assert blocks["channel"].param("model") == "awgn" and blocks["channel"].param("snr_db") == 2.0
    finally:
        fg.stop()
        win.close()


def test_bad_data_never_crashes_a_view(app):
    from semradio.blocks.qtgui.qt import ConstellationView

    block = ConstellationScope(name="garbage")
    view = ConstellationView(block)
    block._latest = {"data": {"received": "not an array", "equalized": np.zeros((1, 3), np.float32)}}
    block.version += 1
    view.refresh()  # conversion errors are counted by the block, the view keeps going
    assert block.rejected_total == 2
    block.points = lambda: (_ for _ in ()).throw(RuntimeError("boom"))  # type: ignore[method-assign]
    block.version += 1
    assert view.refresh() is False and view.render_errors.total == 1


def test_closing_the_window_stops_the_flowgraph(app):
    from PySide6 import QtCore

    fg, blocks = channel_chain(snr_db=10.0, frames=None, rate=100.0)
    scopes = attach_scopes(fg, blocks)
    runner = ScopeRunner(fg, scopes, gui=True, timeout=30, inprocess=True)
    QtCore.QTimer.singleShot(600, lambda: runner.window.close())
    t0 = time.monotonic()
    runner.run()
    assert time.monotonic() - t0 < 10
    assert all(c["state"] in ("stopped", "done") for c in fg.stats().values())
    assert all(s.accepted > 0 for s in scopes)


# ------------------------------------------------------------------------------- scripts
@pytest.mark.slow
def test_channel_scope_script_snapshots_from_the_window_process(tmp_path, capsys):
    """The scripts' default: the window in a child process (payloads over ZeroMQ)."""
    from semradio.flowgraphs import channel_scope

    out = tmp_path / "shots"
    assert channel_scope.main(["--channel", "awgn", "--snr-db", "25", "--frames", "100000", "--batch", "2", "--k", "256",
                     "--snapshot", str(out), "--snapshot-after", "10", "--timeout", "60", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert 10 <= summary["frames"] < 100000  # stopped after the snapshots, long before the end
    for name in ("constellation", "time", "metrics", "monitor", "controls", "window"):
        rgb = png_rgb(out / f"{name}.png")
        assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 10, name  # not blank
    # the constellation: four clusters of equalized (cyan) pixels, one per quadrant around
    # their common centre, and nothing at the centre itself
    rgb = png_rgb(out / "constellation.png").astype(int)
    ys, xs = np.nonzero((rgb[..., 2] >= 200) & (rgb[..., 1] >= 150) & (rgb[..., 0] < 200))
    keep = ~((ys < 110) & (xs < 110))  # the legend's swatches sit in the top-left corner
    ys, xs = ys[keep], xs[keep]
    cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    quadrants = {(bool(y < cy), bool(x < cx)) for y, x in zip(ys, xs)}
    assert quadrants == {(True, True), (True, False), (False, True), (False, False)}
    span = np.percentile(np.abs(xs - cx), 90)
    near = (np.abs(ys - cy) < span / 3) & (np.abs(xs - cx) < span / 3)
    assert near.sum() == 0


def test_control_messages_and_payloads_cross_the_process_boundary():
    """The window process's side of the protocol, played by the test: hello -> setup,
    ready -> scope payloads, post -> the running channel's SNR changes."""
    import zmq

    from semradio.blocks.qtgui.remote import ScopeServer, decode, encode

    fg, blocks = channel_chain(snr_db=20.0, frames=None, rate=100.0)
    scopes = attach_scopes(fg, blocks)
    server = ScopeServer(fg, scopes, launch=False)
    server.start()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(server.endpoint)

    def recv_until(kind, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sock.poll(100):
                msg = decode(sock.recv())
                if msg["t"] == kind:
                    return msg
        raise AssertionError(f"no {kind!r} message")

    fg.start()
    try:
        sock.send(encode({"t": "hello"}))
        setup = recv_until("setup")
        assert [s["kind"] for s in setup["scopes"]] == ["constellation", "time", "metric"]
        assert "snr_db" in [c["param"] for c in setup["controls"]]
        seen = {}
        deadline = time.monotonic() + 10
        while set(seen) != {"constellation_scope", "time_scope", "metric_scope"} and time.monotonic() < deadline:
            sock.send(encode({"t": "ready"}))
            msg = recv_until("data")
            seen[msg["scope"]] = msg["payload"]
        version, points, tags = seen["constellation_scope"]
        assert version > 0 and points["equalized"].dtype == np.complex64 and tags["snr_db"] == 20.0
        sock.send(encode({"t": "post", "block": "channel", "port": "ctrl", "msg": {"snr_db": 3.0}}))
        deadline = time.monotonic() + 10
        while blocks["channel"].param("snr_db") != 3.0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert blocks["channel"].param("snr_db") == 3.0
        sock.send(encode({"t": "closed"}))
        assert server.closed.wait(5)
    finally:
        fg.stop()
        sock.close(0)
        ctx.term()
        server.close()


def test_open_and_close_scopes_around_a_scripts_own_start_and_wait(tmp_path):
    """Scripts that start/wait themselves (gnuradio_bridge.py) bracket that with
    open_scopes/close_scopes; the snapshots come from the scopes' last data."""
    from semradio.blocks.qtgui.gui_support import ScopeOptions, close_scopes, open_scopes

    assert open_scopes(Flowgraph("plain"), ScopeOptions(), {}) is None and close_scopes(None) == {}
    assert open_scopes(Flowgraph("plain"), None, {}) is None
    fg, blocks = channel_chain(snr_db=25.0, frames=40, rate=200.0)
    session = open_scopes(fg, ScopeOptions(snapshot=str(tmp_path)), blocks)
    fg.start()
    try:
        assert fg.wait(30)
    finally:
        fg.stop()
        shots = close_scopes(session)
    assert set(shots) >= {"constellation", "time", "metrics", "window"}
    rgb = png_rgb(shots["constellation"])
    assert ((rgb[..., 2] >= 200) & (rgb[..., 1] >= 150)).sum() > 50  # equalized points drawn
