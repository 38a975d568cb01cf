#!/usr/bin/env python3
"""Alias of ``semradio train`` (:mod:`semradio.models.training.cli`): ``python tools/train.py
FAMILY [options]`` trains FAMILY (jscc, cddm, ve-ldm, eecd, icdm-prior, icdm-tune, cdiff,
cdiff-codec); checkpoints go to the user directory unless ``--out-dir``."""

import sys

from semradio.models.training.cli import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], prog="python tools/train.py"))
