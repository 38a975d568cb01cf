"""Scope blocks without Qt (issue #10): pure helpers, latest-data stores fed by a running
flowgraph through real-time edges, bad input counted and dropped, control discovery."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from semradio.blocks import (ArraySource, InterferenceChannel, MMSEEqualizer, PassThrough, SymbolSource, Throttle,
                             make_channel)
from semradio.blocks.qtgui import ConstellationScope, ImageScope, TimeScope, connect_scope, discover_controls
from semradio.blocks.qtgui.arrays import (as_complex_items, constellation_points, decimate, density_rgb, grid_shape,
                                           psnr_db, ssim_mean, tile_images)
from semradio.blocks.qtgui.controls import param_choices, send_control
from semradio.blocks.qtgui.gui_support import attach_scopes
from semradio.blocks.qtgui.monitor import block_rates
from semradio.runtime import Flowgraph, Frame, SyncBlock

QPSK = np.array([1 + 1j, 1 - 1j, -1 + 1j, -1 - 1j]) / math.sqrt(2)


def channel_chain(snr_db: float = 30.0, frames: int | None = 20, model: str = "awgn", rate: float | None = None):
    """SymbolSource -> [Throttle] -> InterferenceChannel (Pz = 0) -> MMSE; blocks by role."""
    fg = Flowgraph("scope_test")
    src = SymbolSource(batch=2, k=1024, frames=frames, seed=1, name="source")
    ch = InterferenceChannel(snr_db=snr_db, pz=0.0, model=model, seed=2, keep_noise=True, name="channel")
    eq = MMSEEqualizer(name="equalizer")
    head = src
    blocks = {"source": src, "channel": ch, "equalizer": eq}
    if rate:
        head = blocks["throttle"] = Throttle(rate, name="throttle")
        fg.connect(src, head)
    fg.connect(head, ch, eq)
    return fg, blocks


def nearest_qpsk_distance(points: np.ndarray) -> np.ndarray:
    return np.min(np.abs(points[:, None] - QPSK[None, :]), axis=1)


# ----------------------------------------------------------------------------- pure helpers
def test_complex_views_decimation_and_tiles():
    c = (np.arange(8) + 1j * np.arange(8, 16)).astype(np.complex64).reshape(2, 4)
    real = np.concatenate([c.real, c.imag], axis=1).astype(np.float32)  # [Re; Im] per item
    np.testing.assert_array_equal(as_complex_items(real), c)
    np.testing.assert_array_equal(as_complex_items(c), c)
    assert decimate(np.arange(10), 4).tolist() == [0, 2, 5, 7]
    assert constellation_points(np.zeros((50, 1000), np.complex64), 300).size == 300
    assert grid_shape(4) == (2, 2) and grid_shape(3) == (2, 2) and grid_shape(5, cols=5) == (1, 5)
    imgs = np.zeros((3, 3, 4, 5), np.float32)
    imgs[1] = 1.0
    imgs[2, 0] = 0.5  # half red
    tile = tile_images(imgs, 4)
    assert tile.shape == (8, 10, 3) and tile.dtype == np.uint8
    assert (tile[:4, :5] == 0).all() and (tile[:4, 5:] == 255).all()
    assert tile[4:, :5].tolist() == [[[128, 0, 0]] * 5] * 4 and (tile[4:, 5:] == 0).all()
    gray = tile_images(np.full((1, 1, 2, 2), 0.25, np.float32), 1)
    assert gray.shape == (2, 2, 3) and (gray == 64).all()
    ref = np.zeros((2, 8), np.float32)
    assert psnr_db(ref, ref + 0.1) == pytest.approx(20.0)
    assert psnr_db(ref, ref) == math.inf


def test_ssim_matches_scikit_image_and_density_picture():
    skm = pytest.importorskip("skimage.metrics", reason="scikit-image is the SSIM oracle")
    rng = np.random.default_rng(3)
    a = rng.random((3, 3, 24, 20)).astype(np.float32)
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1).astype(np.float32)
    want = np.mean([skm.structural_similarity(x, y, data_range=1.0, channel_axis=0, gaussian_weights=True,
                                              sigma=1.5, use_sample_covariance=False)
                    for x, y in zip(a.astype(np.float64), b.astype(np.float64))])
    assert ssim_mean(a, b) == pytest.approx(want, abs=1e-6)
    assert ssim_mean(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ssim_mean(a[:, :, :8, :8], b[:, :, :8, :8]) is None  # smaller than the 11x11 window
    # one point per layer: a 60 % pixel of its colour, colours add, outside/NaN points ignored
    pic = density_rgb([(np.array([0.1 + 0.1j, 5.0, np.nan]), (200, 0, 0)), (np.array([0.1 + 0.1j]), (0, 100, 0))],
                      bins=4, extent=1.0)
    assert pic.shape == (4, 4, 3) and pic[2, 2].tolist() == [120, 60, 0] and int(pic.sum()) == 180
    many = density_rgb([(np.full(5, -0.9 - 0.9j), (200, 0, 0))], bins=4, extent=1.0)  # saturates at 100 %
    assert many[0, 0].tolist() == [200, 0, 0]


# --------------------------------------------------------------- scopes in a running graph
def test_scopes_keep_the_newest_frames_of_a_running_flowgraph():
    fg, blocks = channel_chain(snr_db=30.0, frames=20)
    scopes = {s.name: s for s in attach_scopes(fg, blocks)}
    assert set(scopes) == {"constellation_scope", "time_scope", "metric_scope"}
    realtime = [e for e in fg.edges if e.dst.name in scopes]
    assert realtime and all(e.policy == "realtime" and e.hwm == 2 for e in realtime)
    fg.run(timeout=30)
    assert not fg.errors()

    cs = scopes["constellation_scope"]
    assert cs.accepted > 0 and cs.rejected_total == 0
    _, points, tags = cs.points()
    assert set(points) == {"received", "equalized"} and tags["snr_db"] == 30.0
    for p in points.values():  # AWGN at 30 dB: every point within 0.2 of a QPSK point
        assert p.size == 2048 and nearest_qpsk_distance(p).max() < 0.2

    _, tr, _ = scopes["time_scope"].traces()
    assert tr["h_db"].shape == (512,) and np.allclose(tr["h_db"], 0.0, atol=1e-5)  # AWGN: |h| = 1
    assert tr["y_db"].shape == (512,)
    measured = tr["measured_snr_db"][np.isfinite(tr["measured_snr_db"])]
    assert measured.size >= 1 and np.all(np.abs(measured - 30.0) < 0.5)
    assert np.all(tr["snr_db"] == 30.0)

    _, series = scopes["metric_scope"].series()
    assert series["psnr_db"].size >= 1 and series["latency_ms"].size >= 1
    # effective SNR 1/EVM^2 of the MMSE output at 30 dB AWGN: about 30 dB
    assert abs(series["psnr_db"][-1] - 30.0) < 1.0
    assert list(series["curves"]) == ["none"]


def test_metric_scope_builds_per_snr_curves_while_the_snr_moves():
    fg, blocks = channel_chain(snr_db=20.0, frames=None, rate=200.0)
    scopes = {s.name: s for s in attach_scopes(fg, blocks)}
    ms = scopes["metric_scope"]
    ms.set_param("max_rate_hz", 1000.0)
    fg.start()
    try:
        for snr in (20.0, 5.0):
            fg.set_param("channel", "snr_db", snr)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                curves = ms.series()[1]["curves"]
                if "none" in curves and snr in curves["none"][0].tolist():
                    break
                time.sleep(0.02)
    finally:
        fg.stop()
    snrs, psnr, _ = ms.series()[1]["curves"]["none"]
    assert snrs.tolist() == [5.0, 20.0]
    assert psnr[1] - psnr[0] > 10.0  # about 15 dB more effective SNR at 20 dB than at 5 dB


class BadPayload(SyncBlock):
    """Replaces the payload with something no scope can draw (per ``kind``)."""

    def __init__(self, kind: str, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        self.kind = kind

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        b = frame.batch
        bad = {"int": np.zeros((b, 8), np.int32), "odd": np.zeros((b, 7), np.float32),
               "list": [[1, 2]] * b, "images": np.zeros((b, 5, 4, 4), np.float32),
               "badh": np.zeros((b, 8), np.complex64)}[self.kind]
        tags = {"h": np.zeros((b, 3), np.float32)} if self.kind == "badh" else {}
        return frame.replace(bad, **tags)


@pytest.mark.parametrize("kind, scope, port", [
    ("int", ConstellationScope, "received"),
    ("odd", ConstellationScope, "equalized"),
    ("list", TimeScope, "in"),
    ("badh", TimeScope, "in"),
    ("images", ImageScope, "original"),
])
def test_bad_input_is_counted_and_dropped_never_raised(kind, scope, port):
    fg = Flowgraph("bad_input")
    src = ArraySource(np.zeros((12, 8), np.float32), batch=2, name="src")
    bad = BadPayload(kind, name="bad")
    s = scope(name="scope")
    fg.connect(src, bad)
    connect_scope(fg, bad, s, port)
    fg.run(timeout=20)
    assert not fg.errors() and fg.stats()["scope"]["state"] == "done"
    assert s.frames > 0 and s.accepted == 0 and s.rejected_total == s.frames


def test_scope_with_no_input_connected_ends_at_once():
    fg = Flowgraph("empty_scope")
    fg.add(ConstellationScope(name="scope"))
    fg.run(timeout=5)
    assert fg.stats()["scope"]["state"] == "done"


# ------------------------------------------------------------------------------ controls
class FakeDenoiser(SyncBlock):
    """A stand-in for a denoiser block: on/off, a rule choice and a step cap (None: auto), as
    CDDMDenoiser declares them, plus an excluded parameter."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")
        from semradio.blocks.validation import to_choice

        self.declare_param("enabled", True, "apply the denoiser", bool)
        self.declare_param("rule", "cddm", "reverse-step rule", to_choice("rule", ("cddm", "ddim")))
        self.declare_param("max_steps", None, "cap on the start step (None: automatic)",
                           lambda v: None if v is None else max(0, int(v)))
        self.declare_param("seed", 0, "not a live control", int)

    def process(self, data):
        return data


def test_controls_are_discovered_from_what_the_flowgraph_offers():
    ch = InterferenceChannel(snr_db=12.0, pz=0.0, name="channel")
    plain = make_channel("rayleigh", snr_db=12.0, name="plain")
    enc_like = PassThrough(name="pass")
    specs = {s.param: s for s in discover_controls([ch, plain, enc_like])}
    assert list(specs) == ["snr_db", "sinr_db", "model", "fading", "k_factor"]
    assert specs["snr_db"].targets == ["channel", "plain"] and specs["snr_db"].kind == "float"
    assert specs["snr_db"].value == 12.0 and specs["snr_db"].unit == "dB"
    assert specs["model"].label == "channel type" and specs["model"].choices == ("awgn", "rayleigh", "rician")
    assert specs["fading"].choices == ("fast", "block")
    assert "steps" not in specs and "denoiser" not in specs  # no denoiser in the graph: no controls

    dn = FakeDenoiser(name="denoiser")
    specs = {s.param: s for s in discover_controls([ch, dn])}
    assert {"enabled", "rule", "max_steps"} <= set(specs) and "seed" not in specs
    assert specs["enabled"].kind == "bool" and specs["enabled"].value is True
    assert specs["rule"].kind == "choice" and specs["rule"].choices == ("cddm", "ddim")
    steps = specs["max_steps"]
    assert steps.kind == "int" and steps.value is None and steps.allow_none and steps.targets == ["denoiser"]
    assert param_choices(dn, "rule") == ("cddm", "ddim")
    # blocks without catalog parameters get no controls ("kind" of a symbol source is not a
    # denoiser choice); a steps-like parameter makes a block denoiser-like
    assert discover_controls([PassThrough(name="other"), SymbolSource(name="symbols")]) == []
    other = PassThrough(name="sampler")
    other.declare_param("nfe", 4, "function evaluations", int)
    assert [s.param for s in discover_controls([other])] == ["nfe"]


def test_send_control_posts_to_every_target():
    ch = InterferenceChannel(snr_db=12.0, pz=0.0, name="channel")
    plain = make_channel("awgn", snr_db=12.0, name="plain")
    fg = Flowgraph("controls")
    fg.add(ch)
    fg.add(plain)
    spec = next(s for s in discover_controls(fg.blocks.values()) if s.param == "snr_db")
    send_control(fg, spec, 3.5)  # not started: handled at once
    assert ch.param("snr_db") == 3.5 and plain.param("snr_db") == 3.5


def test_monitor_rates_separate_scope_tap_drops():
    prev = {"a": {"frames_out": 10, "state": "running", "work_calls": 10, "work_ms": 5.0, "drops": 0},
            "s": {"frames_in": 6, "work_calls": 3, "frames_out": 0, "state": "running",
                  "latency": {"p50_ms": 1.0, "p99_ms": 2.0}}}
    cur = {"a": {"frames_out": 30, "state": "running", "work_calls": 30, "work_ms": 15.0, "drops": 7,
                 "queue_depth": 2},
           "s": {"frames_in": 16, "work_calls": 8, "frames_out": 0, "state": "running",
                 "latency": {"p50_ms": 1.0, "p99_ms": 2.0}}}
    rows = {r.block: r for r in block_rates(prev, cur, 2.0, {"a": 5}, elapsed=4.0)}
    a, s = rows["a"], rows["s"]
    assert a.fps == 10.0 and a.mean_fps == 7.5 and a.drops == 2 and a.scope_drops == 5 and a.queue == 2
    assert a.work_ms == pytest.approx(0.5) and s.fps == 2.5 and s.latency == "1.0 / 2.0"
    assert len(a.cells()) == 10
