"""``--gui`` checks for a display and Qt's X11 libraries before anything starts: one line, exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from semradio.blocks.qtgui.display import XCB_LIBRARIES, gui_problem, missing_libraries, x11_display_reachable

ROOT = Path(__file__).resolve().parents[3]


def test_no_display_is_named(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    if not sys.platform.startswith("linux"):
        pytest.skip("the display check is for Linux")
    problem = gui_problem()
    assert problem is not None and "DISPLAY is not set" in problem and "--snapshot" in problem


def test_a_local_display_without_its_socket_is_unreachable(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":917")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert not x11_display_reachable(":917")
    if sys.platform.startswith("linux"):
        assert "DISPLAY=:917" in (gui_problem() or "")


def test_a_missing_library_is_named_with_its_package():
    assert missing_libraries({"libsemradio-no-such-lib.so.9": "x"}) == ["libsemradio-no-such-lib.so.9"]
    assert all(pkg and " " not in pkg for pkg in XCB_LIBRARIES.values())


@pytest.mark.slow
def test_gui_without_display_exits_2_with_one_line_instead_of_hanging():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / "demo_gui.py"), "--gui", "--frames", "2"],
                       capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "DISPLAY" in lines[0], r.stderr
    assert time.perf_counter() - t0 < 10.0
