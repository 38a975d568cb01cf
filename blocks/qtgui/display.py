"""Whether a ``--gui`` window can open here: a display to draw on and the system libraries Qt's
X11 platform plugin loads. Checked before a flowgraph starts, so that a missing library or
display is one clear line instead of a window process that fails (or an invisible window that
is waited for) after the run. Imports no Qt.

    >>> from semradio.blocks.qtgui.display import XCB_LIBRARIES
    >>> XCB_LIBRARIES["libxcb-icccm.so.4"]
    'libxcb-icccm4'
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

#: Shared libraries the Qt 6 X11 platform plugin (``libqxcb``) needs beyond the C library, and
#: the Debian/Ubuntu package of each (``ldd`` of PySide6 6.11's ``libqxcb.so``; docs/gui.md).
XCB_LIBRARIES: dict[str, str] = {
    "libxcb.so.1": "libxcb1",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def missing_libraries(names: dict[str, str] | None = None) -> list[str]:
    """The shared libraries of ``names`` (default :data:`XCB_LIBRARIES`) the dynamic loader
    cannot load."""
    missing = []
    for soname in (XCB_LIBRARIES if names is None else names):
        try:
            ctypes.CDLL(soname)
        except OSError:
            missing.append(soname)
    return missing


def x11_display_reachable(display: str) -> bool:
    """False when ``display`` is a local X display (``:N``) whose socket is not there; True
    otherwise (remote displays are not probed)."""
    if not display.startswith(":"):
        return True
    number = display[1:].split(".")[0]
    return not number.isdigit() or Path(f"/tmp/.X11-unix/X{number}").exists()


def gui_problem() -> str | None:
    """Why a ``--gui`` window cannot open here (one line naming what to install or set), or
    None when it can. Only Linux is checked; ``QT_QPA_PLATFORM`` other than ``xcb`` is trusted."""
    if not sys.platform.startswith("linux"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None
    display, wayland = os.environ.get("DISPLAY", ""), os.environ.get("WAYLAND_DISPLAY", "")
    if not display and not (wayland and not platform):
        return ("--gui needs a display and DISPLAY is not set (run it on a desktop, over ssh -X, or under "
                "xvfb-run; --snapshot DIR saves the scopes as PNGs without one)")
    if display and not wayland and not x11_display_reachable(display):
        return (f"--gui: no X server at DISPLAY={display} (start one, e.g. Xvfb {display}, or use --snapshot DIR "
                "for PNGs)")
    if display and not (wayland and not platform):
        missing = missing_libraries()
        if missing:
            packages = " ".join(XCB_LIBRARIES[m] for m in missing)
            return (f"--gui: Qt's X11 window needs {', '.join(missing)}, not installed (Debian/Ubuntu: sudo apt-get "
                    f"install {packages}; see docs/gui.md)")
    return None


__all__ = ["XCB_LIBRARIES", "missing_libraries", "x11_display_reachable", "gui_problem"]
