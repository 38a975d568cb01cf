#!/usr/bin/env python3
"""Replay a SigMF recording through a channel (optional) and record the result as SigMF.

    python flowgraphs/sigmf_replay.py --make-demo /tmp/demo          # write a demo recording first
    python flowgraphs/sigmf_replay.py /tmp/demo --json                # as fast as possible
    python flowgraphs/sigmf_replay.py /tmp/demo --realtime --rate-scale 2 --channel awgn --snr-db 5 \\
        --out /tmp/demo_awgn --json                                   # 2x the capture's rate

Flowgraph::

    SigMFSource --> [AWGN/Rayleigh channel] --> ReplayMeter
                                             \\-> SigMFSink (with --out)

Annotations become frame tags (``label``, ``semradio:*`` fields, ``center_freq``...; see
``semradio.blocks.fileio.sigmf_files``); the channel's tags (``snr_db``, ``noise_var``...) become the
annotations of the output recording. The summary (``--json``: one JSON object) gives frames,
samples, wall time, the achieved sample rate (first to last frame) and its ratio to the
capture's rate, the mean
power, and the labels seen.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from typing import Any

import numpy as np

from semradio.blocks import ArraySource, SigMFSink, SigMFSource, make_channel
from semradio.blocks.qtgui.gui_support import add_gui_arguments, run_flowgraph
from semradio.runtime import Flowgraph, Frame, SinkBlock, SyncBlock


class ReplayMeter(SinkBlock):
    """Counts replayed frames and samples, mean power, labels and annotations seen."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.lock = threading.Lock()
        self.frames = 0
        self.samples = 0
        self.energy = 0.0
        self.labels: dict[str, int] = {}
        self.annotations = 0
        self.first: float | None = None
        self.last: float | None = None

    def work(self, frame: Frame) -> None:  # type: ignore[override]
        x = np.asarray(frame.data)
        now = time.perf_counter()
        with self.lock:
            self.first = now if self.first is None else self.first
            self.last = now
            self.frames += 1
            self.samples += x.size
            self.energy += float(np.sum(np.abs(x) ** 2))
            label = frame.tags.get("label")
            if isinstance(label, str):
                self.labels[label] = self.labels.get(label, 0) + 1
            self.annotations += len(frame.tags.get("annotations", []))


class _Labeller(SyncBlock):
    """Labels even frames "qpsk" and odd ones "noise" (demo recordings)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.add_output("out")

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        return frame.replace(label="qpsk" if frame.tags["seq"] % 2 == 0 else "noise")


def make_demo(path: str, frames: int = 64, k: int = 1024, sample_rate: float = 1e6, seed: int = 0) -> str:
    """Write a demo recording: QPSK bursts labelled "qpsk" alternating with noise labelled "noise"."""
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, (frames, k, 2))
    x = ((1 - 2 * bits[..., 0]) + 1j * (1 - 2 * bits[..., 1])) / np.sqrt(2)
    noise = (rng.standard_normal((frames, k)) + 1j * rng.standard_normal((frames, k))) * 0.05
    x = np.where((np.arange(frames) % 2 == 0)[:, None], x * 0.5, 0) + noise
    fg = Flowgraph("make_demo")
    src = ArraySource(x.astype(np.complex64), batch=1)
    sink = SigMFSink(path, "ci16_le", sample_rate=sample_rate, center_freq=2.45e9, description="semradio demo",
                     author="semradio")
    fg.connect(src, _Labeller(name="labeller"), sink)
    fg.run(timeout=60)
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Command-line options (also used by tests)."""
    p.add_argument("path", nargs="?", help="recording (base name or .sigmf-meta)")
    p.add_argument("--make-demo", metavar="PATH", help="write a demo recording to PATH and exit")
    p.add_argument("--frame-len", type=int, default=1024)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--realtime", action="store_true", help="pace at the capture's sample rate")
    p.add_argument("--rate-scale", type=float, default=1.0, help="real-time speed factor")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--channel", choices=("none", "awgn", "rayleigh"), default="none")
    p.add_argument("--snr-db", type=float, default=20.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="record the output as this SigMF recording")
    p.add_argument("--timeout", type=float, default=300.0)
    add_gui_arguments(p)  # --gui, --snapshot DIR: live scopes


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Replay; the summary dict."""
    fg = Flowgraph("sigmf_replay")
    src = SigMFSource(args.path, frame_len=args.frame_len, batch=args.batch, realtime=args.realtime,
                      rate_scale=args.rate_scale, repeat=args.repeat, name="replay")
    meter = ReplayMeter(name="meter")
    head: Any = src
    if args.channel != "none":
        chan = make_channel(args.channel, name="channel", snr_db=args.snr_db, seed=args.seed)
        fg.connect(src, chan)
        head = chan
    fg.connect(head, meter)
    sink = None
    if args.out:
        sink = SigMFSink(args.out, "cf32_le", sample_rate=src.sample_rate, description=f"replay of {args.path}",
                         name="record")
        fg.connect(head, sink)
    t0 = time.perf_counter()
    run_flowgraph(fg, args, {"source": src, "channel": head}, timeout=args.timeout)  # --gui/--snapshot: scopes
    seconds = time.perf_counter() - t0
    rate = src.sample_rate
    # achieved rate between the first and the last frame (start-up excluded)
    span = (meter.last or 0.0) - (meter.first or 0.0)
    per_frame = meter.samples / meter.frames if meter.frames else 0
    achieved = (meter.samples - per_frame) / span if span > 0 else None
    return {
        "flowgraph": "sigmf_replay",
        "config": {k: v for k, v in vars(args).items() if k not in ("json", "make_demo")},
        "frames": meter.frames,
        "samples": meter.samples,
        "seconds": round(seconds, 3),
        "capture_sample_rate": rate,
        "achieved_msps": round(achieved / 1e6, 3) if achieved else None,
        "realtime_factor": round(achieved / rate, 3) if achieved and rate else None,
        "mean_power": meter.energy / meter.samples if meter.samples else None,
        "labels": meter.labels,
        "annotations_seen": meter.annotations,
        "dropped_samples": src.dropped_samples,
        "out": args.out,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.make_demo:
        make_demo(args.make_demo)
        print(json.dumps({"demo": args.make_demo}) if args.json else f"wrote {args.make_demo}.sigmf-meta/-data")
        return 0
    if not args.path:
        parser.error("give a recording path (or --make-demo PATH)")
    out = run(args)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"sigmf_replay: {out['frames']} frames, {out['samples']} samples in {out['seconds']} s "
              f"({out['achieved_msps']} Msps, {out['realtime_factor']}x the capture rate)")
        print(f"  labels {out['labels']}, mean power {out['mean_power']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
