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
import dataclasses
import os
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from semradio.blocks import ArraySource, SigMFSink, SigMFSource, make_channel
from semradio.flowgraphs.app import flowgraph_main
from semradio.runtime import Flowgraph, Frame, SinkBlock, SyncBlock
from semradio.runtime.arguments import positive_float, positive_int
from semradio.runtime.options import add_options, from_namespace, option, to_argv

_NO_RECORDING = "give a recording path (or --make-demo PATH)"


@dataclass
class SigMFReplayConfig:
    """Settings of the replay (one field per command-line option; also used by tests)."""

    path: str | None = option(None, metavar="RECORDING", help="recording (base name or .sigmf-meta); also "
                                                              "accepted as the positional argument RECORDING")
    make_demo: str | None = option(None, metavar="PATH", help="write a demo recording to PATH and exit")
    frame_len: int = option(1024, type=positive_int, help="samples per row of a frame")
    batch: int = option(1, type=positive_int, help="rows per frame")
    realtime: bool = option(False, help="pace at the capture's sample rate")
    rate_scale: float = option(1.0, help="real-time speed factor")
    repeat: int = option(1, help="passes over the recording (-1: forever)")
    channel: str = option("none", choices=("none", "awgn", "rayleigh"), help="channel model (none: no channel)")
    snr_db: float = option(20.0, help="channel SNR in dB")
    seed: int = option(0, help="channel seed")
    out: str | None = option(None, help="record the output as this SigMF recording")
    timeout: float = option(300.0, type=positive_float, help="stop after this many seconds")


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


def build(config: SigMFReplayConfig) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks (``source``, [``channel``], ``meter``, [``record``]).

    Raises:
        ValueError: no recording path.
    """
    if not config.path:
        raise ValueError(_NO_RECORDING)
    fg = Flowgraph("sigmf_replay")
    src = SigMFSource(config.path, frame_len=config.frame_len, batch=config.batch, realtime=config.realtime,
                      rate_scale=config.rate_scale, repeat=config.repeat, name="replay")
    meter = ReplayMeter(name="meter")
    blocks: dict[str, Any] = {"source": src, "meter": meter}
    head: Any = src
    if config.channel != "none":
        head = blocks["channel"] = make_channel(config.channel, name="channel", snr_db=config.snr_db,
                                                seed=config.seed)
        fg.connect(src, head)
    fg.connect(head, meter)
    if config.out:
        blocks["record"] = SigMFSink(config.out, "cf32_le", sample_rate=src.sample_rate,
                                     description=f"replay of {config.path}", name="record")
        fg.connect(head, blocks["record"])
    return fg, blocks


def run(config: SigMFReplayConfig, scopes: Any = None) -> dict[str, Any]:
    """Replay (with live scopes or snapshots when ``scopes``, a
    :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions`, asks); the summary dict. With
    ``make_demo`` set: write the demo recording instead, ``{"demo": PATH}``.

    Raises:
        ValueError: neither a recording path nor ``make_demo``.
    """
    from semradio.blocks.qtgui.gui_support import run_flowgraph

    if config.make_demo:
        make_demo(config.make_demo)
        return {"demo": config.make_demo}
    fg, blocks = build(config)
    src, meter = blocks["source"], blocks["meter"]
    t0 = time.perf_counter()
    run_flowgraph(fg, scopes, {"source": src, "channel": blocks.get("channel", src)},  # --gui/--snapshot: scopes
                  timeout=config.timeout)
    seconds = time.perf_counter() - t0
    rate = src.sample_rate
    # achieved rate between the first and the last frame (start-up excluded)
    span = (meter.last or 0.0) - (meter.first or 0.0)
    per_frame = meter.samples / meter.frames if meter.frames else 0
    achieved = (meter.samples - per_frame) / span if span > 0 else None
    return {
        "flowgraph": "sigmf_replay",
        "config": {k: v for k, v in dataclasses.asdict(config).items() if k != "make_demo"},
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
        "out": config.out,
    }


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run`'s summary."""
    if "demo" in out:
        return f"wrote {out['demo']}.sigmf-meta/-data"
    return (f"sigmf_replay: {out['frames']} frames, {out['samples']} samples in {out['seconds']} s "
            f"({out['achieved_msps']} Msps, {out['realtime_factor']}x the capture rate)\n"
            f"  labels {out['labels']}, mean power {out['mean_power']:.4f}")


def _recording_as_option(argv: list[str]) -> list[str]:
    """``argv`` with the positional RECORDING (``sigmf_replay.py /tmp/demo --json``) given as
    ``--path RECORDING`` instead: the config's options are all flags. Unchanged when there is
    no positional argument, or when the arguments do not parse (the real parser reports it)."""
    from semradio.blocks.qtgui.gui_support import add_gui_arguments, scope_options

    p = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    p.add_argument("recording", nargs="?")
    add_options(p, SigMFReplayConfig)
    add_gui_arguments(p)
    p.add_argument("--json", action="store_true")
    try:
        ns, rest = p.parse_known_args(argv)
    except argparse.ArgumentError:
        return argv
    if ns.recording is None:
        return argv
    config = from_namespace(SigMFReplayConfig, ns, path=ns.recording)
    return [*to_argv(config), *to_argv(scope_options(ns)), *(["--json"] if ns.json else []), *rest]


def _run_cli(config: SigMFReplayConfig, scopes: Any) -> dict[str, Any]:
    """:func:`run` for the command line: no recording is a usage error (exit status 2)."""
    if not config.path and not config.make_demo:
        print(f"{os.path.basename(sys.argv[0])}: error: {_NO_RECORDING}", file=sys.stderr)
        raise SystemExit(2)
    return run(config, scopes)


def main(argv: list[str] | None = None) -> int:
    """The script's entry point (the recording may be given as the positional argument)."""
    args = _recording_as_option(list(sys.argv[1:] if argv is None else argv))
    return flowgraph_main(SigMFReplayConfig, _run_cli, args, doc=__doc__, summary=format_summary)


if __name__ == "__main__":
    raise SystemExit(main())
