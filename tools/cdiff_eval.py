#!/usr/bin/env python3
"""Alias of ``semradio eval cdiff`` (:mod:`semradio.models.evaluation.cdiff`)."""

import sys

from semradio.models.evaluation.cdiff import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python tools/cdiff_eval.py"))
