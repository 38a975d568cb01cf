#!/usr/bin/env python3
"""Alias of ``semradio bench`` (:mod:`semradio.cli.bench`)."""

import sys

from semradio.cli.bench import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python tools/bench.py"))
