"""The scope window as a process of its own: ``python -m semradio.blocks.qtgui.qt.gui_process
ENDPOINT`` (started by :class:`semradio.blocks.qtgui.remote.ScopeServer`).

It connects to the flowgraph process, receives the setup (scopes, controls, window options)
and then the scopes' payloads, and draws them with the same views as the in-process window,
through proxies (:class:`RemoteScope`, :class:`RemoteFlowgraph`) that look like the scope
blocks and the flowgraph to the views. Control changes go back as ``post`` messages. After
each redraw tick it sends ``ready`` for the next updates, so the flowgraph side never prepares
more than the window draws. It exits when told to, when the window is closed (after telling
the flowgraph) or when the flowgraph process goes away. ``SEMRADIO_SCOPES_DEBUG=1`` prints the
redraw period and the window's CPU use once a second (stderr).
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Any

import zmq

from semradio.runtime.stats import DropCounter

from ..controls import ControlSpec
from ..image import panels_from_images
from ..remote import decode, encode

#: Give up when no setup arrives within this many seconds.
SETUP_TIMEOUT_S = 60.0
#: How often the window drains the socket (ms).
POLL_MS = 40


class RemoteScope:
    """Stands in for a scope block of the flowgraph process: the views read ``version``,
    ``param()`` and the accessor (``points``, ``traces``, ``panels``, ``series``), served
    from the newest payload received."""

    def __init__(self, name: str, kind: str, params: dict[str, Any], data_range: float = 1.0) -> None:
        self.name = name
        self.scope_kind = kind
        self.params = dict(params)
        self.data_range = data_range
        self.version = 0
        self.accepted = 0
        self.rejected = DropCounter(f"{name} (window)")
        self._payload: list[Any] = []

    def param(self, name: str) -> Any:
        return self.params[name]

    def update(self, payload: list[Any]) -> None:
        """A new payload: ``[version, *accessor outputs]``."""
        self._payload = payload
        self.version = int(payload[0]) if payload else self.version + 1
        self.accepted += 1

    def _get(self, n: int) -> tuple[Any, ...]:
        if not self._payload:
            return (0,) + ({},) * n
        return tuple(self._payload)

    def points(self) -> tuple[Any, ...]:
        return self._get(2)

    def traces(self) -> tuple[Any, ...]:
        return self._get(2)

    def series(self) -> tuple[Any, ...]:
        v, s = self._get(1)
        if not s:
            return v, {"t_quality": _empty(), "psnr_db": _empty(), "ssim": _empty(), "t_latency": _empty(),
                       "latency_ms": _empty(), "curves": {}, "last": {}}
        return v, s

    def panels(self) -> tuple[Any, ...]:
        v, imgs, tags = self._get(2)
        return v, panels_from_images(imgs, int(self.params.get("max_images", 4)), self.data_range), tags


def _empty() -> Any:
    import numpy as np

    return np.zeros(0)


class RemoteFlowgraph:
    """Stands in for the flowgraph: ``name``, ``post()`` (sent back as a control message)
    and ``monitor_snapshot()`` (the newest stats received)."""

    def __init__(self, name: str, sock: Any) -> None:
        self.name = name
        self.blocks: dict[str, Any] = {}
        self._sock = sock
        self._stats: dict[str, Any] = {"stats": {}, "tap_drops": {}, "elapsed": None, "time": None}

    def post(self, block: Any, port: str, msg: Any) -> None:
        name = block if isinstance(block, str) else block.name
        self._sock.send(encode({"t": "post", "block": name, "port": port, "msg": msg}))

    def update_stats(self, msg: dict[str, Any]) -> None:
        self._stats = {"stats": msg.get("stats") or {}, "tap_drops": msg.get("tap_drops") or {},
                       "elapsed": msg.get("elapsed"), "time": msg.get("time")}

    def monitor_snapshot(self) -> dict[str, Any]:
        return self._stats


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``gui_process ENDPOINT``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) != 1:
        print("usage: python -m semradio.blocks.qtgui.qt.gui_process ENDPOINT", file=sys.stderr)
        return 2
    # Ctrl+C in the terminal reaches the whole process group: the flowgraph process handles it
    # and closes this window, which must not die of it with a traceback of its own
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()
    ctx = zmq.Context()
    sock = ctx.socket(zmq.PAIR)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SNDTIMEO, 2000)
    sock.connect(argv[0])
    sock.send(encode({"t": "hello", "pid": os.getpid()}))
    if not sock.poll(int(SETUP_TIMEOUT_S * 1000)):
        print("scope window: no setup from the flowgraph process", file=sys.stderr)
        return 1
    setup = decode(sock.recv())
    if setup.get("t") != "setup":
        print(f"scope window: expected setup, got {setup.get('t')!r}", file=sys.stderr)
        return 1

    from .common import QtCore, ensure_app
    from .window import ScopeWindow

    app = ensure_app(offscreen=not setup.get("gui", False))
    scopes = [RemoteScope(s["name"], s["kind"], s.get("params", {}), s.get("data_range", 1.0))
              for s in setup.get("scopes", [])]
    by_name = {s.name: s for s in scopes}
    fg = RemoteFlowgraph(setup.get("fg_name", ""), sock)
    specs = [ControlSpec(**{**c, "choices": tuple(c.get("choices") or ())}) for c in setup.get("controls", [])]
    win = ScopeWindow(fg, scopes, fps=setup.get("fps", 10.0), title=setup.get("title"),
                      cpu_budget=setup.get("cpu_budget"), control_specs=specs)
    state = {"quit": False, "closing": False}

    def send(msg: dict[str, Any]) -> None:
        try:
            sock.send(encode(msg), zmq.NOBLOCK)
        except zmq.Again:
            pass

    def handle(msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "data":
            s = by_name.get(msg.get("scope"))
            if s is not None:
                s.update(list(msg.get("payload") or []))
        elif t == "stats":
            fg.update_stats(msg)
            if win.controls is not None and msg.get("controls"):
                win.controls.sync(msg["controls"])
        elif t == "snapshot":
            win.refresh_all(force=True)
            try:
                paths = {k: str(v) for k, v in win.snapshot(msg["dir"]).items()}
                sock.send(encode({"t": "snapshot_done", "id": msg.get("id"), "paths": paths}))
            except Exception as exc:  # noqa: BLE001 - reported to the flowgraph side
                sock.send(encode({"t": "snapshot_done", "id": msg.get("id"), "error": f"{type(exc).__name__}: {exc}"}))
        elif t == "finished":
            win.refresh_all(force=True)
            win.status.setText("flowgraph stopped" if msg.get("stopped") else "flowgraph finished")
            if setup.get("close_at_end"):
                state["quit"] = True
        elif t == "quit":
            state["quit"] = True

    def poll() -> None:
        for _ in range(256):
            try:
                raw = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            try:
                msg = decode(raw)
            except Exception:  # noqa: BLE001 - a malformed message is dropped
                continue
            if isinstance(msg, dict):
                handle(msg)
        if os.getppid() != parent:  # the flowgraph process is gone
            state["quit"] = True
        if state["quit"]:
            timer.stop()
            win.on_close.clear()
            win.close()
            app.quit()

    def closed() -> None:
        if not state["quit"]:
            send({"t": "closed"})
        state["quit"] = True
        app.quit()

    win.on_close.append(closed)
    win.on_tick.append(lambda: send({"t": "ready"}))
    if os.environ.get("SEMRADIO_SCOPES_DEBUG"):
        dbg = QtCore.QTimer()
        dbg.setInterval(1000)
        dbg.timeout.connect(lambda: print(f"[scope window] ticks {win.ticks} period {win.redraw_interval_s:.3f} s "
                                          f"cpu {win.cpu_fraction} process cpu {time.process_time():.2f} s",
                                          file=sys.stderr, flush=True))
        dbg.start()
    timer = QtCore.QTimer()
    timer.setInterval(POLL_MS)
    timer.timeout.connect(poll)
    win.show()
    win.start()
    timer.start()
    send({"t": "ready"})
    app.exec()
    sock.close(0)
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
