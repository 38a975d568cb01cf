#!/usr/bin/env python3
"""Alias of ``semradio eval icdm`` (:mod:`semradio.models.evaluation.icdm`)."""

import sys

from semradio.models.evaluation.icdm import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python tools/icdm_eval.py"))
