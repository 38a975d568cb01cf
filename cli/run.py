"""``semradio run``: run a flowgraph file or a flowgraph script.

    semradio run flowgraphs/jscc_rayleigh.toml --json              # a flowgraph file
    semradio run flowgraphs/jscc_rayleigh.toml --set channel.snr_db=5 --set source.frames=0
    semradio run flowgraphs/jscc_rayleigh.py -- --frames 50         # a script, with its own options

A flowgraph file (:mod:`semradio.runtime.graph_file`) runs until its sources end (or
``--timeout``); the output is each block's counters and the ``summary()`` of the blocks that have
one (a MetricSink's PSNR/SSIM per group), as text or one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
import time
from typing import Any

from semradio.runtime.arguments import OneLineParser

GRAPH_SUFFIXES = (".toml", ".json")


def run_graph_file(path: str, overrides: list[str] | None = None, timeout: float | None = None,
                   fail_on_peer_loss: bool = False, peer_timeout_s: float | None = None) -> dict[str, Any]:
    """Load, validate, build and run a flowgraph file; its summary (see
    :func:`semradio.runtime.graph_file.summarize`).

    Raises:
        semradio.runtime.graph_file.GraphFileError: the file is not usable (one line).
        semradio.runtime.FlowgraphError: a block failed while running.
    """
    from semradio.runtime import graph_file

    spec = graph_file.apply_overrides(graph_file.load(path), overrides or [])
    graph = graph_file.parse(spec)
    if graph.inputs or graph.outputs:
        raise graph_file.GraphFileError(f"{path}: has external inputs/outputs; serve it with 'semradio worker'")
    fg, blocks = graph_file.build(graph)
    for b in blocks.values():  # ZeroMQ sources: how long a silent peer is tolerated
        if hasattr(b, "fail_on_peer_loss"):
            b.fail_on_peer_loss = b.fail_on_peer_loss or fail_on_peer_loss
            if peer_timeout_s is not None:
                b.peer_timeout_s = peer_timeout_s
    t0 = time.perf_counter()
    fg.run(timeout=timeout)
    return graph_file.summarize(fg, blocks, time.perf_counter() - t0)


def format_summary(out: dict[str, Any]) -> str:
    """Readable lines for :func:`run_graph_file`'s summary."""
    lines = [f"{out['flowgraph']}: {out['seconds']:.2f} s"]
    for name, s in out["summaries"].items():
        for g in (s.get("groups") or []) if isinstance(s, dict) else []:
            metrics = ", ".join(f"{k} {v:.4g}" for k, v in g.items() if isinstance(v, float) and k in
                                ("psnr_db", "ssim", "mse_db", "lpips", "latency_p50_ms", "latency_p99_ms"))
            lines.append(f"  {name}: {g.get('images', '?')} images: {metrics}")
    for name, c in out["blocks"].items():
        lines.append(f"  {name:<12} in {c.get('frames_in')}, out {c.get('frames_out')}, work {c.get('work_ms')} ms")
    return "\n".join(lines)


def run_script(script: str, args: list[str]) -> int:
    """Run a flowgraph script as ``python SCRIPT ARGS`` would (in this process)."""
    if not os.path.isfile(script):
        print(f"semradio run: no such flowgraph script: {script}", file=sys.stderr)
        return 2
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))  # the script's folder, as python SCRIPT does
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 1
        return exc.code if isinstance(exc.code, int) else 0
    return 0


def main(argv: list[str], prog: str = "semradio run") -> int:
    """Run a flowgraph file or script."""
    if argv and argv[0].endswith(".py"):
        rest = argv[1:]
        return run_script(argv[0], rest[1:] if rest[:1] == ["--"] else rest)
    parser = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("graph", help="flowgraph file (.toml or .json) or script (.py, options after --)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="BLOCK.KEY=VALUE",
                        help="override a block's constructor argument (a TOML value; repeatable)")
    parser.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--peer-timeout", type=float, default=None, metavar="S",
                        help="ZeroMQ sources: report a peer silent this long as stalled (default: their own, 5 s)")
    parser.add_argument("--fail-on-peer-loss", action="store_true",
                        help="ZeroMQ sources: stop with an error when a peer stays silent past the timeout")
    args = parser.parse_args(argv)
    if not args.graph.endswith(GRAPH_SUFFIXES):
        print(f"semradio run: {args.graph}: expected a .toml/.json flowgraph file or a .py script", file=sys.stderr)
        return 2
    from semradio.runtime import FlowgraphError
    from semradio.runtime.graph_file import GraphFileError

    try:
        out = run_graph_file(args.graph, args.overrides, args.timeout, args.fail_on_peer_loss, args.peer_timeout)
    except GraphFileError as exc:
        print(f"semradio run: {exc}", file=sys.stderr)
        return 2
    except FlowgraphError as exc:
        print(f"semradio run: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(out, default=str) if args.json else format_summary(out))
    return 0
