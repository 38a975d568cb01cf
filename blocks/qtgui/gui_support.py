"""``--gui`` / ``--snapshot DIR`` for flowgraph scripts, through one shared helper.

A script adds the options and swaps its ``fg.run(...)`` for :func:`run_flowgraph`::

    from semradio.blocks.qtgui.gui_support import add_gui_arguments, run_flowgraph

    add_gui_arguments(parser)
    ...
    fg, blocks = build(args)
    run_flowgraph(fg, args, blocks, timeout=args.timeout)   # = fg.run(timeout) without the options

A script that starts and waits for its flowgraph itself brackets that with
``session = open_scopes(fg, args, blocks)`` and ``close_scopes(session)``.

:func:`attach_scopes` adds the scope sinks by the *roles* of the script's blocks (the names
its ``build`` already uses: ``source``/``throttle``, ``channel``, ``equalizer``,
``denoiser``, ``decoder``, ``decoder_no_denoiser``, ``transmitted``), each fed through a real-time edge
(``policy="realtime", hwm=2``) so the scopes never hold the flowgraph back. The flowgraph runs
on its own threads; the window runs in a child process whose main thread Qt owns
(:mod:`semradio.blocks.qtgui.remote`; ``--gui-inprocess``: on this process's main thread).
This module imports no Qt.

Modes:
    ``--gui``: open the window; the flowgraph runs until the window closes or the sources end
    (the window then stays open with the final data; ``--close-at-end`` closes it);
    ``--snapshot DIR``: headless (Qt's offscreen platform); after the
    run, or once ``--snapshot-after N`` frames reached the sinks, every view saves
    ``DIR/<view>.png`` and the whole window ``DIR/window.png``; the flowgraph is then stopped.
    (N counts frames that reached the end of the chain: ``work()`` calls of the non-scope
    sinks.)
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from semradio.runtime import Block
from semradio.runtime.options import add_options, from_namespace, option

from .base import SCOPE_HWM, ScopeBlock, connect_scope
from .constellation import ConstellationScope
from .image import ImageScope
from .metric import MetricScope
from .time_scope import TimeScope

log = logging.getLogger("semradio")
#: How often the runner checks for end of stream, errors, timeouts and snapshot triggers (ms).
CHECK_INTERVAL_MS = 50


@dataclass
class ScopeOptions:
    """How a flowgraph script shows its scopes: the options ``--gui``, ``--snapshot DIR``,
    ``--snapshot-after N``, ``--gui-fps``, ``--gui-cpu``, ``--close-at-end``, ``--gui-inprocess``
    (:func:`add_gui_arguments`); :func:`run_flowgraph` reads them."""

    gui: bool = option(False, help="open the live scopes and control panel")
    snapshot: str | None = option(None, metavar="DIR", help="headless: save a PNG of every scope into DIR (after "
                                                             "the run or --snapshot-after frames)")
    snapshot_after: int | None = option(None, metavar="N", help="take the snapshots once N frames reached the "
                                                                 "sinks, then stop (default: at the end)")
    gui_fps: float = option(10.0, help="scope redraw rate bound (Hz, default 10)")
    gui_cpu: float | None = option(None, metavar="FRACTION", help="CPU budget of the GUI thread, a fraction of "
                                                                  "one core (default 0.04; 0: none)")
    close_at_end: bool = option(False, help="--gui: close the window when the sources end")
    gui_inprocess: bool = option(False, help="draw in this process (default: a child process, which keeps the GUI "
                                             "off the flowgraph's interpreter lock)")


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the :class:`ScopeOptions` (``--gui``, ``--snapshot DIR``, ...) to a flowgraph script's
    parser, as one argument group."""
    add_options(parser.add_argument_group("scopes (pyqtgraph; needs the 'gui' extra)"), ScopeOptions)  # type: ignore[arg-type]


def scope_options(ns: Any) -> ScopeOptions:
    """The :class:`ScopeOptions` of a parsed namespace."""
    return from_namespace(ScopeOptions, ns)


def wants_scopes(args: Any) -> bool:
    """True when ``args`` asks for the GUI or for snapshots."""
    return bool(getattr(args, "gui", False) or getattr(args, "snapshot", None))


def _item_rank(block: Block) -> int | None:
    if not block.outputs:
        return None
    shape = block.outputs[0].shape
    return None if shape is None else len(shape)


def attach_scopes(fg: Any, blocks: dict[str, Block], hwm: int = SCOPE_HWM, max_images: int = 4) -> list[ScopeBlock]:
    """Add the scope sinks that fit the flowgraph's blocks (by role name) and connect them
    through real-time edges; returns them in display order.

    * ConstellationScope: ``received`` <- channel, ``equalized`` <- equalizer,
      ``denoised`` <- denoiser, ``transmitted`` <- transmitted (the block whose output the
      channel carries, e.g. a power normalizer; named by the script, as its seq must match the
      equalizer's) (those present);
    * TimeScope <- channel;
    * ImageScope (image sources, item rank 3): ``original`` <- source (or throttle),
      ``received`` <- decoder_no_denoiser (if any), ``reconstructed`` <- decoder;
    * MetricScope: ``ref`` <- source, ``rec`` <- decoder (images), or, for symbol sources,
      ``rec`` <- denoiser / equalizer (effective SNR 1/EVM^2 as "PSNR" with R = 1).
    """
    src = blocks.get("throttle") or blocks.get("source")  # the paced source when there is one
    ch, eq, dn = blocks.get("channel"), blocks.get("equalizer"), blocks.get("denoiser")
    dec, dec_plain = blocks.get("decoder"), blocks.get("decoder_no_denoiser")
    origin = blocks.get("source") or src
    images = origin is not None and _item_rank(origin) == 3
    scopes: list[ScopeBlock] = []
    if images and dec is not None:
        im = ImageScope(max_images=max_images, name="image_scope")
        connect_scope(fg, src, im, "original", hwm)
        if dec_plain is not None:
            connect_scope(fg, dec_plain, im, "received", hwm)
        connect_scope(fg, dec, im, "reconstructed", hwm)
        scopes.append(im)
    if ch is not None or eq is not None or dn is not None:
        cs = ConstellationScope(name="constellation_scope")
        tx = blocks.get("transmitted")
        for port, b in (("received", ch), ("equalized", eq), ("denoised", dn), ("transmitted", tx)):
            if b is not None:
                connect_scope(fg, b, cs, port, hwm)
        scopes.append(cs)
    if ch is not None:
        ts = TimeScope(name="time_scope")
        connect_scope(fg, ch, ts, "in", hwm)
        scopes.append(ts)
    rec = dec if images else (dn or eq)
    if src is not None and rec is not None:
        ms = MetricScope(name="metric_scope")
        connect_scope(fg, src, ms, "ref", hwm)
        connect_scope(fg, rec, ms, "rec", hwm)
        scopes.append(ms)
    return scopes


def frames_done(fg: Any, exclude: set[str] = frozenset()) -> int:
    """Frames that reached the end of the chain: the most ``work()`` calls of any sink block
    not in ``exclude`` (the scopes); the most frames of any source when there is no sink."""
    stats = fg.stats()
    sinks = [int(stats.get(b.name, {}).get("work_calls", 0) or 0) for b in fg.blocks.values()
             if b.inputs and not b.outputs and b.name not in exclude]
    if sinks:
        return max(sinks)
    return max((int(stats.get(b.name, {}).get("frames_out", 0) or 0) for b in fg.blocks.values() if not b.inputs),
               default=0)


class ScopeRunner:
    """Runs a flowgraph with its scope window (see the module docstring for the modes).

    By default the window is a child process (:mod:`semradio.blocks.qtgui.remote`): the
    flowgraph keeps its process and interpreter lock to itself and the main thread only
    supervises. ``inprocess=True`` runs the window on this process's main thread instead
    (Qt owns it; the flowgraph runs on its own threads): simpler to inspect (tests), dearer
    for a busy flowgraph.

    Args:
        fg: the flowgraph, with its scopes already attached, not started.
        scopes: the scope blocks to show.
        gui: show the window for a user; False: headless snapshots only.
        snapshot_dir: where to save the PNGs (None: no snapshots).
        snapshot_after: take them once this many frames reached the end of the chain (see
            :func:`frames_done`), then stop.
        fps: redraw rate bound (Hz).
        cpu_budget: CPU budget of the GUI thread (fraction of one core; None: the window's
            default, 0: none); see :class:`~semradio.blocks.qtgui.qt.ScopeWindow`.
        timeout: stop the flowgraph after this many seconds (None: no limit).
        close_at_end: ``gui``: close the window when the flowgraph ends (else it stays, with
            the final data, until the user closes it; :meth:`run` returns then).
        title: window title.
        stop_when: polled with the lifecycle checks; True stops the run (benchmarks).
        inprocess: the window in this process (see above).

    Attributes (after :meth:`run`): ``snapshots`` (name -> path), ``window`` (in-process
    only), ``server`` (child-process mode), ``stopped`` (the run was cut short).
    """

    def __init__(self, fg: Any, scopes: list[ScopeBlock], gui: bool = False, snapshot_dir: str | Path | None = None,
                 snapshot_after: int | None = None, fps: float = 10.0, cpu_budget: float | None = None,
                 timeout: float | None = None, close_at_end: bool = False, title: str | None = None,
                 stop_when: Callable[[], bool] | None = None, inprocess: bool = False) -> None:
        self.fg = fg
        self.scopes = scopes
        self.gui = gui
        self.snapshot_dir = None if snapshot_dir is None else Path(snapshot_dir)
        self.snapshot_after = snapshot_after
        self.fps = fps
        self.cpu_budget = cpu_budget
        self.timeout = timeout
        self.close_at_end = close_at_end or not gui
        self.title = title
        self.stop_when = stop_when
        self.inprocess = inprocess
        self.snapshots: dict[str, Path] = {}
        self.error: BaseException | None = None
        self.window: Any = None
        self.server: Any = None
        self.stopped = False
        self._finished = False
        self._t0 = 0.0
        self._t_enough: float | None = None
        self._scope_names = {b.name for b in scopes}

    def run(self) -> dict[str, Path]:
        """Start the flowgraph and the window; return when both are done (snapshot paths).
        Raises the flowgraph's :class:`~semradio.runtime.FlowgraphError` if a block failed."""
        if self.inprocess:
            self._run_inprocess()
        else:
            self._run_child()
        if self.error is not None:
            raise self.error
        return self.snapshots

    # ------------------------------------------------------------ shared logic
    def _should_stop(self, now: float) -> str | None:
        """Why the run should stop now (``"stop_when"``, ``"timeout"``, ``"snapshot"``) or None."""
        if self.stop_when is not None and self.stop_when():
            return "stop_when"
        if self.timeout is not None and now - self._t0 > self.timeout:
            log.info("flowgraph %r: timeout after %ss, stopping", getattr(self.fg, "name", ""), self.timeout)
            return "timeout"
        if self.snapshot_after is not None and frames_done(self.fg, self._scope_names) >= self.snapshot_after:
            if self._t_enough is None:
                self._t_enough = now
            if all(s.accepted > 0 for s in self.scopes) or now - self._t_enough > 2.0:
                return "snapshot"
        return None

    # ------------------------------------------------------- child-process GUI
    def _run_child(self) -> None:
        from semradio.runtime import FlowgraphError

        from .remote import ScopeServer

        self.server = server = ScopeServer(self.fg, self.scopes, gui=self.gui, fps=self.fps,
                                           cpu_budget=self.cpu_budget, title=self.title,
                                           close_at_end=self.close_at_end)
        server.start()
        self._t0 = server.t_started = time.monotonic()
        self.fg.start()
        interrupted = False
        try:
            while True:
                try:
                    if self.fg.wait(timeout=CHECK_INTERVAL_MS / 1000.0):
                        break
                except FlowgraphError as exc:
                    self.error = exc
                    break
                if server.closed.is_set():  # the user closed the window
                    self.stopped = True
                    break
                if server.gui_exited.is_set() and not server.closed.wait(0.2):
                    code = server.proc.returncode if server.proc is not None else None
                    self.error = RuntimeError(f"the scope window process ended unexpectedly (exit code {code})")
                    self.stopped = True
                    break
                why = self._should_stop(time.monotonic())
                if why is not None:
                    if why == "snapshot":
                        self._child_snapshot()
                    self.stopped = True
                    break
        except KeyboardInterrupt:  # Ctrl+C: stop the flowgraph and close the window
            self.stopped = interrupted = True
        finally:
            server.t_stopped = time.monotonic()
            self.fg.stop()
            try:
                if self.snapshot_dir is not None and not self.snapshots and self.error is None:
                    self._child_snapshot()
                if not server.gui_exited.is_set():
                    server.finish(self.stopped)
                    if self.gui and not self.close_at_end and not server.closed.is_set() and not interrupted:
                        try:
                            server.wait_gui()  # the window stays with the final data until closed
                        except KeyboardInterrupt:
                            pass
            finally:
                server.close()

    def _child_snapshot(self) -> None:
        try:
            self.snapshots = self.server.snapshot(self.snapshot_dir)
        except RuntimeError as exc:
            self.error = exc

    # --------------------------------------------------------- in-process GUI
    def _run_inprocess(self) -> None:
        from .qt import ScopeWindow, ensure_app
        from .qt.common import QtCore

        app = ensure_app(offscreen=not self.gui)
        self.window = win = ScopeWindow(self.fg, self.scopes, fps=self.fps, title=self.title,
                                        cpu_budget=self.cpu_budget)
        win.on_close.append(self._closed)
        lifecycle = QtCore.QTimer()  # end of stream, errors, timeout, snapshot trigger
        lifecycle.setInterval(CHECK_INTERVAL_MS)
        lifecycle.timeout.connect(self._check)
        old_sigint = None
        if self.gui:
            old_sigint = signal.signal(signal.SIGINT, lambda *_: self._finish(stop=True, quit_app=True))
        win.show()
        self._t0 = time.monotonic()
        if win.monitor is not None:
            win.monitor.t_started = self._t0
        self.fg.start()
        win.start()
        lifecycle.start()
        try:
            app.exec()
        finally:
            lifecycle.stop()
            win.timer.stop()
            if old_sigint is not None:
                signal.signal(signal.SIGINT, old_sigint)
            self.fg.stop()
            win.on_close.clear()
            win.close()

    def _check(self) -> None:
        if self._finished:
            return
        from semradio.runtime import FlowgraphError

        try:
            done = self.fg.wait(timeout=0)
        except FlowgraphError as exc:
            self.error = exc
            self._finish(stop=True, quit_app=True)
            return
        if done:
            self._finish(stop=False, quit_app=self.close_at_end)
            return
        why = self._should_stop(time.monotonic())
        if why is not None:
            self._finish(stop=True, quit_app=True if why == "stop_when" else self.close_at_end)

    def _finish(self, stop: bool, quit_app: bool) -> None:
        from .qt import ensure_app

        if self._finished:
            if quit_app:
                ensure_app().quit()
            return
        self._finished = True
        self.stopped = stop
        win = self.window
        if win.monitor is not None:
            win.monitor.t_stopped = time.monotonic()
        win.refresh_all(force=True)  # the newest data, the monitor while the graph still runs
        if self.snapshot_dir is not None:
            try:
                self.snapshots = win.snapshot(self.snapshot_dir)
            except OSError as exc:
                self.error = exc
                quit_app = True
        if stop:
            self.fg.stop()
        win.status.setText("flowgraph finished" if not stop else "flowgraph stopped")
        if quit_app:
            win.timer.stop()
            ensure_app().quit()

    def _closed(self) -> None:
        from .qt import ensure_app

        self._finished = True
        self.stopped = True
        self.fg.stop()
        ensure_app().quit()


class ScopeSession:
    """Scopes for a script that starts and waits for its flowgraph itself (see
    :func:`open_scopes`): the window process and its server, opened before ``fg.start()``,
    closed after ``fg.stop()`` (snapshots are taken then, from the scopes' last data;
    ``--snapshot-after`` does not apply)."""

    def __init__(self, fg: Any, args: Any, scopes: list[ScopeBlock], title: str | None = None) -> None:
        from .remote import ScopeServer

        self.args = args
        self.snapshots: dict[str, Path] = {}
        self.server = ScopeServer(fg, scopes, gui=bool(getattr(args, "gui", False)),
                                  fps=float(getattr(args, "gui_fps", 10.0) or 10.0),
                                  cpu_budget=getattr(args, "gui_cpu", None), title=title,
                                  close_at_end=bool(getattr(args, "close_at_end", False)))
        self.server.start()
        self.server.t_started = time.monotonic()

    def close(self) -> dict[str, Path]:
        """Take the snapshots (``--snapshot``), tell the window the flowgraph ended, wait for a
        ``--gui`` window to be closed by the user, shut the window process down."""
        server = self.server
        server.t_stopped = time.monotonic()
        try:
            directory = getattr(self.args, "snapshot", None)
            if directory:
                self.snapshots = server.snapshot(directory)
                print(f"scope snapshots: {', '.join(str(p) for p in self.snapshots.values())}", file=sys.stderr)
            if not server.gui_exited.is_set():
                server.finish(stopped=False)
                if server.gui and not server.options["close_at_end"] and not server.closed.is_set():
                    try:
                        server.wait_gui()
                    except KeyboardInterrupt:
                        pass
        finally:
            server.close()
        return self.snapshots


def open_scopes(fg: Any, args: Any, blocks: dict[str, Block], title: str | None = None) -> ScopeSession | None:
    """For scripts with their own start/wait: attach the scopes and open the window process
    (None without ``--gui``/``--snapshot``). Call before ``fg.start()``; after ``fg.stop()``
    call :func:`close_scopes`."""
    if not wants_scopes(args):
        return None
    require_gui_packages(bool(getattr(args, "gui", False)))
    return ScopeSession(fg, args, attach_scopes(fg, blocks), title)


def close_scopes(session: ScopeSession | None) -> dict[str, Path]:
    """Finish what :func:`open_scopes` opened (no-op for None); the snapshot paths."""
    return {} if session is None else session.close()


def require_gui_packages(gui: bool = False) -> None:
    """Exit with one line on stderr (status 2) saying what to install or set when pyqtgraph or
    PySide6 is missing, or, for a window (``gui``), when there is no display or Qt's X11 plugin
    lacks a system library (:func:`semradio.blocks.qtgui.display.gui_problem`) — checked before
    anything starts, rather than a window process failing, or an invisible window being waited
    for, later."""
    import importlib.util
    import os

    from semradio.runtime.arguments import fail

    prog = os.path.basename(sys.argv[0] or "semradio")
    missing = [m for m in ("PySide6", "pyqtgraph") if importlib.util.find_spec(m) is None]
    if missing:
        fail(prog, f"--gui/--snapshot need the Python packages {' and '.join(missing)} "
                   '(pip install -c constraints-cpu.txt -e ".[gui]")')
    if gui:
        from .display import gui_problem

        problem = gui_problem()
        if problem:
            fail(prog, problem)


def run_flowgraph(fg: Any, args: Any, blocks: dict[str, Block], timeout: float | None = None,
                  title: str | None = None,
                  extra_scopes: Callable[[Any, dict[str, Block]], list[Any]] | None = None) -> dict[str, Path] | None:
    """Run ``fg`` as a script asked: plain ``fg.run(timeout)`` without ``--gui``/``--snapshot``,
    else attach the scopes (``extra_scopes(fg, blocks)`` first, e.g. a family's own, then
    :func:`attach_scopes`) and run under a :class:`ScopeRunner`. Returns the snapshot paths
    (None in the plain case). Prints where the snapshots went on stderr (stdout stays the
    script's, e.g. its JSON)."""
    if not wants_scopes(args):
        fg.run(timeout=timeout)
        return None
    require_gui_packages(bool(getattr(args, "gui", False)))
    scopes = [*(extra_scopes(fg, blocks) if extra_scopes is not None else []), *attach_scopes(fg, blocks)]
    runner = ScopeRunner(fg, scopes, gui=bool(getattr(args, "gui", False)),
                         inprocess=bool(getattr(args, "gui_inprocess", False)),
                         snapshot_dir=getattr(args, "snapshot", None),
                         snapshot_after=getattr(args, "snapshot_after", None),
                         fps=float(getattr(args, "gui_fps", 10.0) or 10.0),
                         cpu_budget=getattr(args, "gui_cpu", None), timeout=timeout,
                         close_at_end=bool(getattr(args, "close_at_end", False)), title=title)
    shots = runner.run()
    if shots:
        print(f"scope snapshots: {', '.join(str(p) for p in shots.values())}", file=sys.stderr)
    return shots


__all__ = ["ScopeOptions", "scope_options", "add_gui_arguments", "wants_scopes", "attach_scopes", "run_flowgraph", "ScopeRunner", "frames_done",
           "require_gui_packages", "open_scopes", "close_scopes", "ScopeSession"]
