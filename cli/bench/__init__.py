"""``semradio bench SUITE``: throughput and latency, printed as text (``--json``: one JSON
object); ``--quick`` runs each measurement for a fraction of a second (indicative figures).
A failed check says what failed and by how much (``checks_failed`` in the JSON).

    semradio bench runtime --json     # native edges vs raw pyzmq, 6-block chain
    semradio bench channel --json     # channel blocks in a flowgraph vs plain numpy
    semradio bench e2e --json         # the Rayleigh JSCC flowgraph: images/s, p50/p99 latency
    semradio bench scopes --json      # demo flowgraph throughput with live scopes on vs off
    semradio bench bridges --json     # ZMQ bridges: native / GNU Radio format over tcp
    semradio bench denoisers --json   # NFE and ms per frame of every shipped denoiser
    semradio bench metrics --json     # MSE/PSNR, SSIM, LPIPS ms per image
    semradio bench hostile --json     # hostile inputs: counts per class, peak RSS under the largest
    semradio bench phy --json         # OFDM receiver Msamples/s per stage on one core; --realtime 5e6
    semradio bench realtime --json    # EECD chain at 30/60 frames/s, s = 1/2: misses, latency per block, torch vs ONNX

(``semradio bench SUITE ...`` is the same command.) Each suite is a module of this package
with ``add_arguments(parser)`` and ``run(args) -> dict``. Benchmarks report speed, as ratios
against a reference measured in the same run where there is one; tests check correctness.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time

from semradio.cli.bench.report import apply_quick, render
from semradio.runtime.arguments import OneLineParser

SUITES = ("runtime", "channel", "e2e", "bridges", "scopes", "denoisers", "metrics", "hostile", "phy", "realtime")


def main(argv: list[str] | None = None, prog: str = "semradio bench") -> int:
    """Run one suite (only its module is imported) and print its JSON."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUITES:
        top = OneLineParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
        top.add_argument("suite", choices=SUITES)
        top.parse_args(argv[:1])
        return 2
    mod = importlib.import_module(f"{__name__}.{argv[0]}")
    parser = OneLineParser(prog=f"{prog} {argv[0]}", description=mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object (default: readable text)")
    parser.add_argument("--quick", action="store_true",
                        help="short measurements (seconds in all): indicative figures, e.g. to try a setup")
    mod.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    args.suite = argv[0]
    quick = apply_quick(parser, args) if args.quick else []
    t0 = time.time()
    result = mod.run(args)
    out = {
        "suite": args.suite,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "seconds": round(time.time() - t0, 2),
        "results": result,
    }
    if args.quick:
        out["quick"] = quick
    print(render(out, args.json))
    return 0

