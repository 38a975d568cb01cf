"""``semradio worker SPEC``: serve a block or subgraph behind named ZeroMQ endpoints (see
:mod:`semradio.runtime.worker`)."""

from __future__ import annotations

import argparse

from semradio.runtime import worker as worker_mod
from semradio.runtime.arguments import OneLineParser


def main(argv: list[str], prog: str = "semradio worker") -> int:
    """Parse the worker's options and run it."""
    parser = OneLineParser(prog=prog, description=worker_mod.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    worker_mod.add_arguments(parser)
    return worker_mod.main(parser.parse_args(argv))
