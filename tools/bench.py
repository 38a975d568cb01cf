#!/usr/bin/env python3
"""semradio benchmarks: throughput and latency, printed as one JSON object.

    python tools/bench.py runtime --json     # native edges vs raw pyzmq, 6-block chain
    python tools/bench.py channel --json     # channel blocks in a flowgraph vs plain numpy
    python tools/bench.py scopes --json      # demo flowgraph throughput with live scopes on vs off
    python tools/bench.py bridges --json     # ZMQ bridges: native / GNU Radio format over tcp
    python tools/bench.py metrics --json     # MSE/PSNR, SSIM, LPIPS ms per image

Each suite lives in ``tools/bench_<suite>.py`` and exposes ``add_arguments(parser)`` and
``run(args) -> dict``. Benchmarks report speed; tests check correctness.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time

SUITES = ("runtime", "channel", "e2e", "bridges", "scopes", "denoisers", "metrics")


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="suite", required=True)
    modules = {}
    for name in SUITES:
        mod = importlib.import_module(f"bench_{name}")
        p = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        p.add_argument("--json", action="store_true", help="print only the JSON object")
        mod.add_arguments(p)
        modules[name] = mod
    args = parser.parse_args(argv)
    t0 = time.time()
    result = modules[args.suite].run(args)
    out = {
        "suite": args.suite,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "seconds": round(time.time() - t0, 2),
        "results": result,
    }
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
