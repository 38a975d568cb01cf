"""Scopes on vs off: the demo flowgraph's throughput with and without the live scopes.

    semradio bench scopes --json                      # demo chain (image if the codec loads)
    semradio bench scopes --chain channel --reps 4 --seconds 6

Each repetition runs the demo flowgraph (``flowgraphs/demo_gui.py``, unpaced, unbounded
source) twice, once plain and once with every scope attached through real-time edges and the
scope window open as ``--gui``/``--snapshot`` open it — a child process by default
(``--inprocess``: on this process's main thread), Qt offscreen, redraws bounded by ``--fps``
and the window's CPU budget, flowgraph monitor and control panel included — alternating
which goes first. Throughput is measured in steady state: the
frames out of the chain's last processing block (the JSCC decoder; the equalizer on the
channel chain) times the batch (images/s or symbol rows/s; frames/s too) over ``--seconds``
after a ``--warmup``, sampled from a helper thread in both modes. The
ratio ``on / off`` of each repetition compares two back-to-back runs (slow drifts of this
shared machine's load cancel); ``drop_percent`` comes from the geometric mean of those ratios
over the repetitions, whose order alternates (off-on, on-off, ...), so a bias of the second
run of a pair cancels too (the median is reported as well).
Also reported: CPU time per frame of the flowgraph's process and of the window's process over
the same window, and the overhead ``(on + window) / off - 1`` — much less sensitive to other
jobs on the machine than throughput.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import statistics
import threading
import time
from typing import Any

def _demo() -> Any:
    from semradio.flowgraphs import demo_gui

    return demo_gui


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the scopes benchmark."""
    p.add_argument("--chain", choices=("auto", "image", "channel"), default="auto",
                   help="demo chain (auto: image when the JSCC codec loads)")
    p.add_argument("--reps", type=int, default=6,
                   help="repetitions (each: scopes off and on, the order alternating; keep it even)")
    p.add_argument("--pause", type=float, default=2.0, help="seconds between two runs (the previous one winds down)")
    p.add_argument("--seconds", type=float, default=5.0, help="measurement window per run (s)")
    p.add_argument("--warmup", type=float, default=4.0,
                   help="wait before measuring (s): the window process starts, first paints are dear")
    p.add_argument("--fps", type=float, default=10.0, help="scope redraw rate bound (Hz)")
    p.add_argument("--inprocess", action="store_true", help="draw in the flowgraph's process (default: child)")
    p.add_argument("--gui-cpu", type=float, default=None,
                   help="GUI thread CPU budget, fraction of one core (default: the window's, 0.04)")
    p.add_argument("--batch", type=int, default=None, help="items per frame (demo default)")
    p.add_argument("--k", type=int, default=1024, help="channel chain: symbols per item")
    p.add_argument("--model", choices=("awgn", "rayleigh", "rician"), default="rayleigh",
                   help="channel type (image chain: picks the shipped codec of that channel)")


def _demo_args(demo: Any, args: argparse.Namespace) -> Any:
    """The demo's typed config for this benchmark: unpaced, endless, the chosen chain."""
    return demo.DemoConfig(chain=args.chain, frames=-1, realtime=0, k=args.k, model=args.model,
                           batch=args.batch or None)


class _Sampler(threading.Thread):
    """Counts the frames out of the chain's last processing block over a window, once the
    graph produces output (read from the runner's counter: no stats() call per sample)."""

    def __init__(self, fg: Any, block: str, warmup: float, seconds: float) -> None:
        super().__init__(name="bench-sampler", daemon=True)
        self.fg, self.block, self.warmup, self.seconds = fg, block, warmup, seconds
        self.frames = 0
        self.elapsed = 0.0
        self.cpu_s = 0.0  # this process (flowgraph + scope blocks + server) over the window
        self.gui_cpu_s: float | None = None  # the window's child process over the window
        self.gui_pid: int | None = None

    def _count(self) -> int:
        r = self.fg.runners.get(self.block)
        return int(getattr(r, "frames_out", 0) or 0)

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while self._count() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(self.warmup)
        c0, t0, p0, g0 = self._count(), time.perf_counter(), time.process_time(), _proc_cpu(self.gui_pid)
        time.sleep(self.seconds)
        c1, t1, p1, g1 = self._count(), time.perf_counter(), time.process_time(), _proc_cpu(self.gui_pid)
        self.frames, self.elapsed, self.cpu_s = c1 - c0, t1 - t0, p1 - p0
        if g0 is not None and g1 is not None:
            self.gui_cpu_s = g1 - g0


def _proc_cpu(pid: int | None) -> float | None:
    """CPU seconds (user + system) of a process so far (Linux /proc); None if unknown."""
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def _one(demo: Any, dargs: Any, scopes_on: bool, args: argparse.Namespace) -> dict[str, Any]:
    fg, blocks = demo.build(dargs)
    batch = int(blocks["batch"])
    last = blocks["decoder"] if "decoder" in blocks else blocks.get("denoiser") or blocks["equalizer"]
    sampler = _Sampler(fg, last.name, args.warmup, args.seconds)
    extra: dict[str, Any] = {}
    if scopes_on:
        from semradio.blocks.qtgui.gui_support import ScopeRunner, attach_scopes
        from semradio.blocks.qtgui.qt import ensure_app

        ensure_app(offscreen=True)
        scopes = attach_scopes(fg, {k: v for k, v in blocks.items() if hasattr(v, "work")})
        def stop_when() -> bool:
            if runner.server is not None and runner.server.proc is not None:
                sampler.gui_pid = runner.server.proc.pid  # the window process, once started
            return not sampler.is_alive()

        runner = ScopeRunner(fg, scopes, gui=False, fps=args.fps, cpu_budget=args.gui_cpu,
                             timeout=args.warmup + args.seconds + 120, inprocess=args.inprocess,
                             stop_when=stop_when)
        sampler.start()
        cpu0 = time.thread_time()
        child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        runner.run()
        wall = time.monotonic() - t0
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        main_cpu = time.thread_time() - cpu0
        sampler.join()
        gui_cpu = (child1.ru_utime + child1.ru_stime) - (child0.ru_utime + child0.ru_stime)
        extra = {"gui": "in-process" if args.inprocess else "child process",
                 "gui_cpu_s": round(main_cpu if args.inprocess else gui_cpu, 2),
                 "gui_cpu_fraction": round((main_cpu if args.inprocess else gui_cpu) / wall, 3),
                 "scope_frames": {s.name: s.accepted for s in scopes}}
        if runner.window is not None:
            extra["ticks"] = runner.window.ticks
        if runner.server is not None:
            extra["updates_sent"] = runner.server.sent
    else:
        sampler.start()
        fg.start()
        sampler.join()
        fg.stop()
    fps = sampler.frames / sampler.elapsed if sampler.elapsed else 0.0
    out = {"scopes": "on" if scopes_on else "off", "frames_per_s": round(fps, 2),
           "items_per_s": round(fps * batch, 1), "frames": sampler.frames, "seconds": round(sampler.elapsed, 3),
           "cpu_ms_per_frame": round(1e3 * sampler.cpu_s / sampler.frames, 3) if sampler.frames else None}
    if sampler.gui_cpu_s is not None and sampler.frames:
        out["window_cpu_ms_per_frame"] = round(1e3 * sampler.gui_cpu_s / sampler.frames, 3)
        out["window_cpu_fraction"] = round(sampler.gui_cpu_s / sampler.elapsed, 3)
    return {**out, **extra}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Alternate scopes off/on ``--reps`` times; per-run figures and the on/off ratio."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    demo = _demo()
    dargs = _demo_args(demo, args)
    _, probe = demo.build(dargs)  # which chain, batch (the codec loads once here)
    chain, batch = probe["chain"], int(probe["batch"])
    runs, ratios = [], []
    for rep in range(args.reps):
        order = (False, True) if rep % 2 == 0 else (True, False)
        pair = {}
        for on in order:
            gc.collect()
            time.sleep(args.pause)
            r = _one(demo, dargs, on, args)
            r["rep"] = rep
            runs.append(r)
            pair[on] = r["items_per_s"]
        if pair[False] > 0:
            ratios.append(pair[True] / pair[False])
    off = [r["items_per_s"] for r in runs if r["scopes"] == "off"]
    on = [r["items_per_s"] for r in runs if r["scopes"] == "on"]
    unit = "images_per_s" if chain == "image" else "symbol_rows_per_s"
    ratio = statistics.median(ratios) if ratios else None
    geo = math.exp(statistics.fmean(math.log(x) for x in ratios)) if ratios else None

    def med(key: str, mode: str) -> float | None:
        vals = [r[key] for r in runs if r["scopes"] == mode and r.get(key) is not None]
        return round(statistics.median(vals), 3) if vals else None

    cpu_off, cpu_on, win = med("cpu_ms_per_frame", "off"), med("cpu_ms_per_frame", "on"), \
        med("window_cpu_ms_per_frame", "on")
    return {
        "chain": chain, "batch": batch, "unit": unit, "fps_bound_hz": args.fps, "gui_cpu_budget": args.gui_cpu,
        "gui": "in-process" if args.inprocess else "child process",
        "load_avg": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "off_median": statistics.median(off) if off else None,
        "on_median": statistics.median(on) if on else None,
        "ratio_on_off_per_rep": [round(x, 3) for x in ratios],
        "ratio_on_off_median": None if ratio is None else round(ratio, 3),
        # the order alternates, so the geometric mean cancels a first/second-run bias
        "ratio_on_off_geomean": None if geo is None else round(geo, 3),
        "drop_percent": None if geo is None else round(100.0 * (1.0 - geo), 1),
        # CPU per frame is far less sensitive to the machine's other load than throughput
        "cpu_ms_per_frame_off": cpu_off, "cpu_ms_per_frame_on": cpu_on, "window_cpu_ms_per_frame": win,
        "cpu_overhead_percent": (None if not (cpu_off and cpu_on) else
                                 round(100.0 * ((cpu_on + (win or 0.0)) / cpu_off - 1.0), 1)),
        "runs": runs,
    }
