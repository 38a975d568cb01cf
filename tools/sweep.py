#!/usr/bin/env python3
"""Alias of ``semradio sweep`` (:mod:`semradio.cli.sweep`)."""

import sys

from semradio.cli.sweep import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python tools/sweep.py"))
