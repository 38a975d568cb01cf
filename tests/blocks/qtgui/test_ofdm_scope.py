"""The OFDM scope: an OFDM receiver's equalised pilots / header / data, |H(f)| over the
subcarriers, and CFO / detection metric per burst. The data path runs without Qt on real
bursts (transmitter -> multipath + CFO + noise -> receiver); hostile tags are counted and
skipped; the view renders offscreen (skipped without PySide6 / pyqtgraph), in this process, from
the wire payload, and in the window's child process."""

from __future__ import annotations

import collections
import math
import os
import re

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from semradio.blocks import ArraySource, NullSink, OFDMReceiver, OFDMTransmitter  # noqa: E402
from semradio.blocks.qtgui import OFDMScope, attach_ofdm_scopes  # noqa: E402
from semradio.blocks.qtgui.ofdm import OFDM_COLORS, H_FLOOR_DB, equalised_points, find_receivers  # noqa: E402
from semradio.dsp.ofdm.numerology import OFDMConfig  # noqa: E402
from semradio.dsp.ofdm.receiver import SyncEvent  # noqa: E402
from semradio.runtime import Flowgraph, Frame  # noqa: E402

CFG = OFDMConfig()
#: A static 3-tap channel (unit power) and the carrier offset of the test link.
TAPS = np.array([1.0, 0.45 + 0.3j, 0.15j]) / np.linalg.norm([1.0, 0.45 + 0.3j, 0.15j])
CFO = 0.3
INF = float("inf")


def true_h_db(cfg: OFDMConfig = CFG) -> np.ndarray:
    """|H(k)|^2 in dB of :data:`TAPS` on the used carriers."""
    h = np.exp(-2j * np.pi * np.outer(cfg.used, np.arange(TAPS.size)) / cfg.fft_size) @ TAPS
    return 20 * np.log10(np.abs(h))


def link_stream(frames: int = 4, items: int = 4, length: int = 512, snr_db: float = 25.0, seed: int = 0):
    """Bursts of unit-power Gaussian latents through TAPS, a CFO of 0.3 subcarriers and noise:
    ``(samples complex64 (n,), latents per burst)``."""
    rng = np.random.default_rng(seed)
    tx = OFDMTransmitter(gap=300)
    latents, parts = [], []
    for seq in range(frames):
        x = ((rng.normal(size=(items, length)) + 1j * rng.normal(size=(items, length))) / math.sqrt(2))
        latents.append(x.astype(np.complex64))
        parts.append(tx.work(Frame(latents[-1], {"seq": seq})).data.reshape(-1))
    s = np.concatenate([*parts, np.zeros(400, np.complex64)])
    n = np.arange(s.size)
    y = np.convolve(s, TAPS)[: s.size] * np.exp(2j * np.pi * CFO / CFG.fft_size * n)
    sigma = math.sqrt(10 ** (-snr_db / 10) / 2)
    y = y + sigma * (rng.normal(size=y.size) + 1j * rng.normal(size=y.size))
    return y.astype(np.complex64), latents


def receive(rx: OFDMReceiver, samples: np.ndarray, chunk: int = 7000) -> list[Frame]:
    out: list[Frame] = []
    for i in range(0, samples.size, chunk):
        got = rx.work(Frame(samples[None, i:i + chunk], {}))
        out.extend(got or [])
    return out


@pytest.fixture(scope="module")
def link():
    """Four received bursts (with grids) and what was sent."""
    samples, latents = link_stream()
    rx = OFDMReceiver(keep_grid=True)
    frames = receive(rx, samples)
    assert [f.tags["seq"] for f in frames] == [0, 1, 2, 3]
    return frames, latents, rx


def nearest_bpsk_error(z: np.ndarray) -> np.ndarray:
    return np.abs(z - np.where(z.real >= 0, 1.0, -1.0))


# ----------------------------------------------------------------------------- data path
def test_receiver_frames_fill_the_buffers(link):
    frames, latents, _ = link
    scope = OFDMScope(max_rate_hz=INF, max_points=100_000, bursts=1)
    for f in frames:
        scope.work(f)
    assert scope.accepted == 4 and scope.rejected_total == 0 and scope.no_grid == 0
    version, tr, tags = scope.traces()
    assert version == 4 and tags["seq"] == 3 and tags["csi"] == "estimated"

    s = CFG.header_symbols + CFG.data_symbols(4 * 512)  # 10 header + 54 data symbols
    assert tr["pilots"].size == s * len(CFG.pilots) and tr["header"].size == CFG.header_symbols * len(CFG.data)
    assert np.percentile(nearest_bpsk_error(tr["pilots"]), 95) < 0.3  # known BPSK pilots at +-1
    assert np.percentile(nearest_bpsk_error(tr["header"]), 95) < 0.3  # the coded header, BPSK
    # the data: exactly the burst's latents (padding left out), in slot order, equalised
    assert tr["data"].size == 4 * 512
    sent = latents[-1].reshape(-1)[np.argsort(CFG.interleaver(4 * 512))]
    err = np.abs(tr["data"] - sent)
    assert np.median(err) < 0.1 and np.percentile(err, 95) < 0.35

    # |H(f)|: the mean over the burst's symbols follows the true channel, spread around it
    np.testing.assert_array_equal(tr["k"], CFG.used)
    np.testing.assert_array_equal(tr["pilot_k"], CFG.pilots)
    assert np.max(np.abs(tr["h_db"] - true_h_db())) < 1.0
    assert np.all(tr["h_db_min"] <= tr["h_db"] + 1e-9) and np.all(tr["h_db"] <= tr["h_db_max"] + 1e-9)

    # CFO and detection metric per burst, over the receiver's stream time
    assert tr["seq"].tolist() == [0, 1, 2, 3] and tr["ok"].all()
    assert np.all(np.abs(tr["cfo"] - CFO) < 0.02)
    assert np.all((tr["metric"] > 0.5) & (tr["metric"] <= 1.0))
    assert np.all(np.diff(tr["t_s"]) > 0)
    starts = [f.tags["ofdm"]["start"] / CFG.sample_rate for f in frames]
    np.testing.assert_allclose(tr["t_s"], starts)


def test_more_bursts_more_points_and_bounded_memory(link):
    frames, _, _ = link
    scope = OFDMScope(max_rate_hz=INF, max_points=1000, bursts=3, history=2)
    for f in frames * 6:  # 24 frames: the rings keep 16 grids and 2 history rows
        scope.work(f)
    assert len(scope._grids) == 16 and len(scope._history) == 2
    _, tr, _ = scope.traces()
    assert tr["data"].size == tr["pilots"].size == 1000  # decimated to max_points
    assert tr["t_s"].size == 2
    scope.set_param("bursts", 1)
    _, tr1, _ = scope.traces()
    assert tr1["header"].size == CFG.header_symbols * len(CFG.data)  # one burst's header
    with pytest.raises(ValueError):
        scope.set_param("bursts", 17)


def test_receiver_events_show_failed_headers_and_the_threshold():
    """With a ``receiver`` the time plots come from its detections (all of them, also those
    whose header failed); malformed events are skipped."""

    class Unbool:
        def __bool__(self):
            raise RuntimeError("no truth value")

    class Stub:
        threshold = 0.05
        events = collections.deque([
            SyncEvent(1000, 0.9, 0.31, 0.95, 20.0, True),
            SyncEvent(30000, 0.2, -0.5, 0.4, 3.0, False),
            SyncEvent("x", 0.5, 0.1, 0.9, 10.0, True),           # not a sample index
            SyncEvent(40000, float("nan"), 0.1, 0.9, 10.0, True),  # no metric
            SyncEvent(50000, 0.5, 1e9, 0.9, 10.0, True),          # impossible CFO
            "garbage",
            SyncEvent(55000, 0.5, 0.1, 0.9, 10.0, Unbool()),      # header_ok that cannot be a bool
            SyncEvent(60000, 0.8, 0.29, 0.9, 19.0, True),
        ])

    scope = OFDMScope(receiver=Stub(), max_rate_hz=INF)
    _, tr, tags = scope.traces()
    assert tr["ok"].tolist() == [True, False, True, True]  # only header_ok=False marks a failure
    np.testing.assert_allclose(tr["t_s"], np.array([1000, 30000, 55000, 60000]) / CFG.sample_rate)
    np.testing.assert_allclose(tr["cfo"], [0.31, -0.5, 0.1, 0.29])
    assert tags["failed"] == 1 and tags["threshold"] == 0.05 and "pilots" not in tr


def test_equalised_points_skip_non_finite_values_and_keep_bounded_work():
    s = CFG.header_symbols + 3000
    y = np.ones((s, len(CFG.used)), np.complex64)
    h = np.ones_like(y)
    h[0, :5] = 0          # y/h = inf
    y[1, :] = np.nan
    pts = equalised_points(CFG, y, h, n_values=None, max_rows=100)
    assert all(np.isfinite(p).all() for p in pts.values())
    assert pts["pilots"].size < (CFG.header_symbols + 100) * len(CFG.pilots)  # only 100 data rows used


def hostile_variants(good: Frame) -> list[tuple[str, Frame]]:
    """(expected reason, frame) for every kind of malformed input."""
    g_y, g_h = good.tags["grid_y"], good.tags["grid_h"]
    o = good.tags["ofdm"]

    def with_tags(**kw):
        t = dict(good.tags)
        for k, v in kw.items():
            if v is KeyError:
                t.pop(k, None)
            else:
                t[k] = v
        return Frame(good.data, t)

    bad: list[tuple[str, Frame]] = [
        ("ofdm", with_tags(ofdm=KeyError)),
        ("ofdm", with_tags(ofdm=[1, 2, 3])),
        ("ofdm", with_tags(ofdm="cfo=0.3")),
        ("ofdm", with_tags(ofdm={**o, "cfo": float("nan")})),
        ("ofdm", with_tags(ofdm={**o, "cfo": "0.3"})),
        ("ofdm", with_tags(ofdm={**o, "cfo": 1e9})),
        ("ofdm", with_tags(ofdm={**o, "cfo": None})),
        ("ofdm", with_tags(ofdm={**o, "cfo": 10 ** 400})),
        ("ofdm", with_tags(ofdm={**o, "metric": 2.0})),
        ("ofdm", with_tags(ofdm={**o, "metric": True})),
        ("ofdm", with_tags(ofdm={**o, "metric": float("-inf")})),
        ("ofdm", with_tags(ofdm={**o, "start": -1})),
        ("ofdm", with_tags(ofdm={**o, "start": 1.5})),
        ("ofdm", with_tags(ofdm={**o, "start": 2 ** 70})),
        ("ofdm", with_tags(ofdm={k: v for k, v in o.items() if k != "start"})),
        ("grid", with_tags(grid_h=KeyError)),
        ("grid", with_tags(grid_y=KeyError)),
        ("grid", with_tags(grid_y=g_y.real.astype(np.float32))),
        ("grid", with_tags(grid_h=np.round(g_h.real).astype(np.int64))),
        ("grid", with_tags(grid_y=g_y[:, :51], grid_h=g_h[:, :51])),
        ("grid", with_tags(grid_y=g_y[0], grid_h=g_h[0])),
        ("grid", with_tags(grid_y=g_y[None], grid_h=g_h[None])),
        ("grid", with_tags(grid_y=g_y[:CFG.header_symbols], grid_h=g_h[:CFG.header_symbols])),
        ("grid", with_tags(grid_y=g_y[:-1])),
        ("grid", with_tags(grid_y=g_y.tolist())),
        ("grid", with_tags(grid_y="grid", grid_h=b"grid")),
        ("grid", with_tags(grid_y=np.zeros((0, 52), np.complex64), grid_h=np.zeros((0, 52), np.complex64))),
        ("container", Frame("not an array", dict(good.tags))),
        ("container", Frame(None, dict(good.tags))),
        ("dtype", Frame(np.zeros((2, 3), np.int16), dict(good.tags))),
    ]
    return bad


def test_hostile_tags_are_counted_and_skipped(link):
    frames, _, _ = link
    good = frames[0]
    scope = OFDMScope(max_rate_hz=INF)
    bad = hostile_variants(good)
    for _, f in bad:
        scope.work(f)  # never raises
    assert scope.frames == len(bad) and scope.accepted == 0 and scope.version == 0
    assert scope.rejected.snapshot() == dict(collections.Counter(reason for reason, _ in bad))
    assert scope.traces()[1] == {}  # nothing stored

    scope.work(good)  # a good frame after all that still gets through
    assert scope.accepted == 1 and scope.traces()[1]["pilots"].size > 0


def test_odd_but_well_formed_values_never_crash_the_accessor(link):
    """Grids of the right form with zeros, NaN and inf, and tags of odd types: accepted, drawn
    without the non-finite points; the payload still crosses the window's wire format."""
    from semradio.blocks.qtgui.remote import decode, encode

    frames, _, _ = link
    good = frames[1]
    y = good.tags["grid_y"].copy()
    h = good.tags["grid_h"].copy()
    y[3] = np.nan
    h[:, 0] = 0
    h[5, 7] = np.inf
    h[:, 9] = np.nan  # one carrier unknown throughout: a gap in |H|
    tags = dict(good.tags, grid_y=y, grid_h=h, seq="seven", snr_db=object(), csi=["x"], channel="c" * 10_000,
                ofdm={**good.tags["ofdm"], "timing_peak": "high", "snr_db_lts": float("nan")})
    scope = OFDMScope(max_rate_hz=INF)
    scope.work(Frame(good.data, tags))
    assert scope.accepted == 1 and scope.rejected_total == 0
    v, tr, shown = scope.traces()
    for cls in ("pilots", "header", "data"):
        assert tr[cls].size > 0 and np.isfinite(tr[cls]).all()
    assert tr["h_db"][0] == H_FLOOR_DB and np.isnan(tr["h_db"][9]) and np.isfinite(np.delete(tr["h_db"], 9)).all()
    assert shown["seq"] is None and "snr_db" not in shown and "csi" not in shown and len(shown["channel"]) == 64
    assert math.isnan(tr["seq"][0])
    back = decode(encode({"t": "data", "scope": scope.name, "payload": [v, tr, shown]}))["payload"]
    assert back[0] == v and back[1]["data"].dtype == np.complex64
    np.testing.assert_array_equal(back[1]["ok"], tr["ok"])


def test_attach_finds_the_receiver_turns_on_its_grid_and_the_scope_fills_in_a_flowgraph():
    rng = np.random.default_rng(3)
    latents = ((rng.normal(size=(6, 256)) + 1j * rng.normal(size=(6, 256))) / math.sqrt(2)).astype(np.complex64)
    fg = Flowgraph("ofdm_scope_test")
    src = ArraySource(latents, batch=2, name="source")
    tx = OFDMTransmitter(gap=200, name="tx")
    rx = OFDMReceiver(name="rx")  # built without keep_grid
    sink = NullSink(name="sink")
    fg.connect(src, tx, rx, sink)
    assert rx.rx.keep_grid is False
    scopes = attach_ofdm_scopes(fg, {"source": src, "rx": rx}, max_rate_hz=INF)
    assert [s.name for s in scopes] == ["ofdm_scope"] and scopes[0].receiver is rx
    assert rx.rx.keep_grid is True
    fg.run(timeout=60)
    scope = scopes[0]
    assert scope.accepted == 3 and scope.no_grid == 0 and scope.rejected_total == 0
    _, tr, tags = scope.traces()
    assert tags["bursts"] == 3 and tags["failed"] == 0
    assert np.allclose(tr["h_db"], 0.0, atol=0.5)  # no channel: |H| = 0 dB
    assert np.percentile(nearest_bpsk_error(tr["pilots"]), 99) < 0.05
    assert tr["ok"].tolist() == [True] * 3


def test_find_receivers_by_role():
    fg = Flowgraph("roles")
    est, genie, other = OFDMReceiver(name="rx_est"), OFDMReceiver(name="rx_genie"), OFDMReceiver(name="rx_x")
    for b in (other, genie, est):
        fg.add(b)
    blocks = {"branches": {"genie": {"rx": genie}, "estimated": {"rx": est}}, "source": None}
    found = find_receivers(fg, blocks)
    assert found == [est, genie, other]  # roles first (estimated CSI first), then the rest
    assert find_receivers(Flowgraph("empty"), {}) == []
    assert attach_ofdm_scopes(Flowgraph("empty"), {}) == []


# ------------------------------------------------------------------------------- Qt views
@pytest.fixture(scope="module")
def app():
    pytest.importorskip("PySide6", reason="PySide6 (the 'gui' extra) is not installed: no Qt scopes to test")
    pytest.importorskip("pyqtgraph", reason="pyqtgraph (the 'gui' extra) is not installed: no Qt scopes to test")
    from semradio.blocks.qtgui.qt.common import binding_drops_none_refs, ensure_app

    if binding_drops_none_refs():
        pytest.skip("the installed PySide6 loses references to None on this Python (6.12.0 on 3.11): "
                    "install 'PySide6-Essentials<6.12'")
    return ensure_app(offscreen=True)


def png_rgb(path) -> np.ndarray:
    from PySide6 import QtGui

    img = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB888)
    assert not img.isNull(), path
    w, h, bpl = img.width(), img.height(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), np.uint8, count=h * bpl).reshape(h, bpl)
    return buf[:, :w * 3].reshape(h, w, 3).copy()


def near_color(rgb: np.ndarray, color, tol: int = 60) -> np.ndarray:
    return np.abs(rgb.astype(int) - np.array(color)).sum(axis=-1) < tol


def patch(rgb: np.ndarray, xy, r: int = 3) -> np.ndarray:
    x, y = xy
    return rgb[max(0, y - r):y + r + 1, max(0, x - r):x + r + 1]


def check_rendered(view, path, tr) -> None:
    """The snapshot shows the points, |H| and the per-burst markers where they belong."""
    from semradio.blocks.qtgui.qt.common import BACKGROUND

    rgb = png_rgb(path)
    assert rgb.shape[:2] == (view.height(), view.width())
    for x in (1.0, -1.0):  # pilots and header at +-1
        assert (patch(rgb, view.data_to_pixel(x, 0.0), 3) != BACKGROUND).any(axis=-1).sum() > 5, x
    assert near_color(rgb, OFDM_COLORS["data"], 80).sum() > 50  # the data cloud (and time markers)
    k = int(np.argmax(tr["h_db"]))
    around = patch(rgb, view.data_to_pixel(tr["k"][k], tr["h_db"][k], "hplot"), 4)
    assert (near_color(around, OFDM_COLORS["h"], 90) | near_color(around, OFDM_COLORS["pilots"], 90)).any()
    for plot, key in (("cfo_plot", "cfo"), ("metric_plot", "metric")):
        px = patch(rgb, view.data_to_pixel(tr["t_s"][-1], tr[key][-1], plot), 4)
        assert near_color(px, OFDM_COLORS["decoded"], 90).any(), plot


def test_view_renders_real_bursts_offscreen(app, link, tmp_path):
    from semradio.blocks.qtgui.ofdm import OFDMView
    from semradio.blocks.qtgui.qt.window import view_for

    frames, _, rx = link
    scope = OFDMScope(receiver=rx, max_rate_hz=INF)
    for f in frames:
        scope.work(f)
    view = view_for(scope)  # registered with the window's view table
    assert isinstance(view, OFDMView)
    view.resize(640, 520)
    assert view.refresh(force=True) and view.render_errors.total == 0
    tr = view.last_traces
    x, y = view.h_curve.getData()
    np.testing.assert_array_equal(x, CFG.used)
    np.testing.assert_allclose(y, tr["h_db"])
    caption = view.caption.text()
    assert abs(float(re.search(r"CFO (-?[0-9.]+)", caption).group(1)) - CFO) < 0.02 and "4 bursts" in caption
    assert view.threshold.isVisible() and view.threshold.value() == pytest.approx(0.03)
    path = view.snapshot(tmp_path)
    assert path.name == "ofdm.png"
    check_rendered(view, path, tr)


def test_view_draws_the_wire_payload_and_survives_bad_data(app, link, tmp_path):
    """The window process draws from the payload the server sends (a RemoteScope)."""
    from semradio.blocks.qtgui.qt.gui_process import RemoteScope
    from semradio.blocks.qtgui.qt.window import view_for
    from semradio.blocks.qtgui.remote import ACCESSORS, decode, encode

    frames, _, _ = link
    scope = OFDMScope(max_rate_hz=INF)
    assert ACCESSORS[scope.scope_kind] == "traces"
    remote = RemoteScope(scope.name, scope.scope_kind, {})
    view = view_for(remote)
    view.resize(640, 520)
    assert view.refresh(force=True)  # nothing received yet: empty plots, no error
    for f in frames:
        scope.work(f)
    payload = list(getattr(scope, ACCESSORS[scope.scope_kind])())
    remote.update(decode(encode({"t": "data", "payload": payload}))["payload"])
    assert view.refresh() and view.render_errors.total == 0
    check_rendered(view, view.snapshot(tmp_path), view.last_traces)
    remote.update([remote.version + 1, {"pilots": "x", "t_s": np.zeros(3)}, {"seq": object()}])
    assert view.refresh() is False and view.render_errors.total == 1  # counted, the view keeps going


@pytest.mark.slow
def test_snapshot_from_the_window_process(app, tmp_path):
    """The scripts' default: the window is a child process; the OFDM view is registered there too."""
    from semradio.blocks.qtgui.gui_support import ScopeOptions
    from semradio.blocks.qtgui.ofdm import run_ofdm_flowgraph

    samples, _ = link_stream(frames=3, items=2, length=512)
    fg = Flowgraph("ofdm_scope_window")
    src = ArraySource(samples.reshape(1, -1), name="source")
    rx = OFDMReceiver(name="rx")
    sink = NullSink(name="sink")
    fg.connect(src, rx, sink)
    shots = run_ofdm_flowgraph(fg, ScopeOptions(snapshot=str(tmp_path)), {"rx": rx}, timeout=60)
    assert {"ofdm", "window"} <= set(shots)
    rgb = png_rgb(shots["ofdm"])
    assert len(np.unique(rgb.reshape(-1, 3), axis=0)) > 10
    assert near_color(rgb, OFDM_COLORS["h"], 60).sum() > 20  # the |H| curve
    assert near_color(rgb, OFDM_COLORS["data"], 80).sum() > 50  # the data cloud
