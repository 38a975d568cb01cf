"""The scope window in its own process: the flowgraph side (Qt-free) and the wire codec.

Why: the GUI thread and the flowgraph's block threads share one interpreter lock. Measured
on the channel chain, redrawing the pyqtgraph window in the flowgraph's process costs the
flowgraph several times the GUI's own CPU share (Qt calls release and re-take the lock
constantly), so by default the window runs in a child process
(:mod:`semradio.blocks.qtgui.qt.gui_process`) and only light payloads cross over.

Protocol: one ZeroMQ PAIR socket over ``ipc://`` (the flowgraph side binds, the GUI
connects); every message is a tag map of the wire format (numpy arrays as an ext type: dtype, shape, raw
bytes — never pickle) with a type ``t``:

* GUI -> flowgraph: ``hello``; ``ready`` (the GUI redrew and wants the next updates: credit
  based, so the flowgraph side never produces more than the GUI draws); ``post`` (a control
  message for ``fg.post(block, port, msg)``); ``closed`` (the user closed the window);
  ``snapshot_done`` (paths or error);
* flowgraph -> GUI: ``setup`` (scopes, controls, window options); ``data`` (a scope's newest
  payload: what its accessor returns — decimated points, traces, the shown images, series);
  ``stats`` (the monitor's snapshot, once a second); ``snapshot`` (save PNGs into a
  directory); ``finished`` (the flowgraph ended); ``quit``.

The server thread sends with ``NOBLOCK`` on a bounded queue: a stalled GUI never blocks it.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from semradio.runtime import wire

from .base import ScopeBlock
from .controls import ControlSpec, current_values, discover_controls
from .monitor import monitor_snapshot

log = logging.getLogger("semradio")

#: Accessor the server calls per scope kind (what the GUI's views read).
ACCESSORS = {"constellation": "points", "time": "traces", "image": "images", "metric": "series", "ofdm": "traces"}
#: Seconds between two monitor snapshots sent to the GUI.
STATS_INTERVAL_S = 1.0
#: The server thread wakes at least this often (ms) for commands and the child's state.
SERVER_POLL_MS = 100


# ------------------------------------------------------------------------------- codec
def _plain(obj: Any) -> Any:
    """Sets -> sorted lists, paths -> str, tuples -> lists (inside dicts and lists); numpy
    values and arrays are left to the wire format."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def encode(obj: dict[str, Any]) -> bytes:
    """A GUI message (a dict with str keys) as the wire format's tag map
    (:func:`semradio.runtime.wire.encode_tags`: numpy arrays, scalars and complex numbers
    supported)."""
    return wire.encode_tags(_plain(obj))


def decode(buf: bytes) -> dict[str, Any]:
    """Inverse of :func:`encode`, with the wire format's validation (bounded sizes and nesting,
    whitelisted dtypes): a malformed message raises :class:`semradio.runtime.wire.WireError`."""
    return wire.decode_tags(buf)


def scope_kind(block: Any) -> str:
    """The kind of a scope block (``constellation``, ``time``, ``image``, ``metric``)."""
    return str(block.scope_kind)


# ------------------------------------------------------------------------------ server
class ScopeServer:
    """Flowgraph side of a scope window in a child process (see the module docstring).

    Args:
        fg: the flowgraph (not necessarily started yet).
        scopes: its scope blocks, in display order.
        gui: a window for a user (False: offscreen, snapshots only).
        fps / cpu_budget / title: window options (see ScopeWindow).
        close_at_end: the window closes when the flowgraph ends.
        python: interpreter for the child (default: this one).
        launch: start the window process (False: a client connects to :attr:`endpoint`
            itself — tests, or a window started by hand).

    Attributes:
        connected / closed / gui_exited: events (GUI said hello, user closed the window,
        the child process ended); ``sent``: data messages sent; ``dropped``: updates not sent
        because the GUI's queue was full.
    """

    def __init__(self, fg: Any, scopes: list[ScopeBlock], gui: bool = False, fps: float = 10.0,
                 cpu_budget: float | None = None, title: str | None = None, close_at_end: bool = False,
                 controls: list[ControlSpec] | None = None, python: str | None = None, launch: bool = True) -> None:
        self.fg = fg
        self.scopes = list(scopes)
        self.gui = gui
        self.options = {"fps": float(fps), "cpu_budget": cpu_budget, "title": title,
                        "close_at_end": bool(close_at_end or not gui), "gui": bool(gui)}
        self.controls = controls if controls is not None else discover_controls(fg.blocks.values())
        self.python = python or sys.executable
        self.launch = launch
        self.endpoint = ""
        self.connected = threading.Event()
        self.closed = threading.Event()
        self.gui_exited = threading.Event()
        self.sent = 0
        self.dropped = 0
        #: When the flowgraph started / stopped (``time.monotonic()``; set by the runner).
        self.t_started: float | None = None
        self.t_stopped: float | None = None
        self.post_errors = 0
        self._commands: queue.Queue = queue.Queue()
        self._replies: dict[int, Any] = {}
        self._reply_events: dict[int, threading.Event] = {}
        self._next_id = 0
        self._stop = threading.Event()
        self._credit = False
        self._sent_versions: dict[str, int] = {}
        self._t_stats = 0.0
        self._dir: str | None = None
        self.proc: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None
        self.sock: Any = None
        self._ctx: Any = None

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Bind the socket, start the GUI process and the server thread."""
        self._dir = tempfile.mkdtemp(prefix="semradio-scopes-")
        self.endpoint = endpoint = f"ipc://{self._dir}/gui"
        self._ctx = zmq.Context()
        self.sock = self._ctx.socket(zmq.PAIR)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.setsockopt(zmq.SNDHWM, 16)
        self.sock.setsockopt(zmq.SNDTIMEO, 2000)  # "blocking" sends give up after 2 s
        self.sock.bind(endpoint)
        if self.launch:
            env = dict(os.environ)
            if not self.gui:
                env["QT_QPA_PLATFORM"] = "offscreen"
            self.proc = subprocess.Popen([self.python, "-m", "semradio.blocks.qtgui.qt.gui_process", endpoint],
                                         env=env, stdin=subprocess.DEVNULL)
        self.thread = threading.Thread(target=self._loop, name="semradio:scope-server", daemon=True)
        self.thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Ask the GUI to quit (if it runs), stop the thread, reap the child, clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self._command("quit")
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(2.0)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
        self._stop.set()
        if self.thread is not None:
            self.thread.join(2.0)
        if self.sock is not None:
            self.sock.close(0)
        if self._ctx is not None:
            self._ctx.term()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    # --------------------------------------------------------- main-thread API
    def flush(self) -> None:
        """Send every scope's newest data and the stats now (e.g. before a snapshot)."""
        self._command("flush")

    def snapshot(self, directory: str | Path, timeout: float = 60.0) -> dict[str, Path]:
        """Flush, have the GUI save its PNGs into ``directory``, wait for the paths.

        Raises:
            RuntimeError: the GUI did not answer in time or reported an error.
        """
        if not self.connected.wait(timeout):
            raise RuntimeError(f"the scope window did not start within {timeout:.0f} s")
        self.flush()
        reply = self._request("snapshot", {"dir": str(Path(directory).resolve())}, timeout)
        if reply.get("error"):
            raise RuntimeError(f"scope snapshots failed: {reply['error']}")
        return {k: Path(v) for k, v in reply.get("paths", {}).items()}

    def finish(self, stopped: bool) -> None:
        """Tell the GUI the flowgraph ended (after a last flush)."""
        self.flush()
        self._command("finished", {"stopped": bool(stopped)})

    def wait_gui(self, timeout: float | None = None) -> bool:
        """Wait until the GUI process exits; True if it did."""
        return self.gui_exited.wait(timeout)

    def _command(self, kind: str, body: dict[str, Any] | None = None) -> None:
        self._commands.put((kind, body or {}, None))

    def _request(self, kind: str, body: dict[str, Any], timeout: float) -> dict[str, Any]:
        rid = self._next_id = self._next_id + 1
        ev = self._reply_events[rid] = threading.Event()
        self._commands.put((kind, dict(body, id=rid), rid))
        if not ev.wait(timeout):
            raise RuntimeError(f"the scope window did not answer {kind!r} within {timeout:.0f} s")
        return self._replies.pop(rid)

    # ------------------------------------------------------------- the thread
    def _send(self, msg: dict[str, Any], block: bool = False) -> bool:
        try:
            self.sock.send(encode(msg), 0 if block else zmq.NOBLOCK)
            return True
        except zmq.Again:
            self.dropped += 1
            return False

    def _setup(self) -> dict[str, Any]:
        scopes = []
        for b in self.scopes:
            params = {k: v for k, v in b.params.items() if isinstance(v, (int, float, str, bool)) or v is None}
            scopes.append({"name": b.name, "kind": scope_kind(b), "params": params,
                           "data_range": float(getattr(b, "data_range", 1.0))})
        return {"t": "setup", "fg_name": getattr(self.fg, "name", ""), "scopes": scopes,
                "controls": [asdict(c) for c in self.controls], **self.options}

    def _send_updates(self, force: bool = False) -> bool:
        """Send the scopes with new data (all with ``force``) and, once a second, the
        stats; True when some scope data went out."""
        any_data = False
        for b in self.scopes:
            v = b.version
            if v == 0 or (not force and self._sent_versions.get(b.name) == v):
                continue  # no data yet, or nothing new
            try:
                payload = getattr(b, ACCESSORS[scope_kind(b)])()
                msg = {"t": "data", "scope": b.name, "payload": list(payload)}
                ok = self._send(msg, block=force)
            except Exception as exc:  # noqa: BLE001 - a payload that cannot be sent is counted
                b.rejected.add(f"send:{type(exc).__name__}", detail=str(exc))
                ok = True
            if ok:
                self._sent_versions[b.name] = v
                self.sent += 1
                any_data = True
        now = time.monotonic()
        if force or now - self._t_stats >= STATS_INTERVAL_S:
            self._t_stats = now
            elapsed = None
            if self.t_started is not None:
                elapsed = (self.t_stopped if self.t_stopped is not None else now) - self.t_started
            snap = monitor_snapshot(self.fg, {b.name for b in self.scopes}, elapsed)
            snap["controls"] = current_values(self.fg, self.controls)
            self._send({**_plain(snap), "t": "stats"}, block=force)
        return any_data

    def _handle(self, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "hello":
            self._send(self._setup(), block=True)
            self.connected.set()
        elif t == "ready":
            self._credit = True
        elif t == "post":
            try:
                self.fg.post(msg["block"], msg.get("port", "ctrl"), msg["msg"])
            except Exception as exc:  # noqa: BLE001 - a bad control message is counted
                self.post_errors += 1
                log.warning("scope window: control message %r failed: %s", msg, exc)
        elif t == "closed":
            self.closed.set()
        elif t == "snapshot_done":
            rid = msg.get("id")
            if rid in self._reply_events:
                self._replies[rid] = msg
                self._reply_events.pop(rid).set()

    def _loop(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        while not self._stop.is_set():
            exited = self.proc is not None and self.proc.poll() is not None  # before draining its last words
            for i in range(64):
                if not poller.poll(0 if i else SERVER_POLL_MS):
                    break
                try:
                    msg = decode(self.sock.recv(zmq.NOBLOCK))
                except zmq.Again:
                    break
                except Exception as exc:  # noqa: BLE001 - a malformed message is dropped
                    log.warning("scope window: malformed message dropped (%s)", exc)
                    continue
                if isinstance(msg, dict):
                    self._handle(msg)
            if exited:
                self.gui_exited.set()
            while True:
                try:
                    kind, body, rid = self._commands.get_nowait()
                except queue.Empty:
                    break
                if kind == "flush":
                    if self.connected.is_set():
                        self._send_updates(force=True)
                else:
                    self._send({"t": kind, **body}, block=True)
            if self._credit and self.connected.is_set():
                self._credit = not self._send_updates()  # keep the credit until data went out


def _plain(obj: Any) -> Any:
    """Stats made msgpack-friendly (inf/nan floats kept; numpy scalars converted)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    return obj


__all__ = ["ScopeServer", "encode", "decode", "ACCESSORS", "scope_kind"]
