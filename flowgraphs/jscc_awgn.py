#!/usr/bin/env python3
"""Deep JSCC image transmission over AWGN: ``jscc_rayleigh.py`` with ``--channel awgn`` as the
default (same options).

    python flowgraphs/jscc_awgn.py --snr-db 10 --cbr 1/6 --frames 0 --batch 64
    python flowgraphs/jscc_awgn.py --data mnist --frames 0 --batch 100
"""

from __future__ import annotations

from semradio.flowgraphs.jscc_rayleigh import main

if __name__ == "__main__":
    raise SystemExit(main(defaults={"channel": "awgn"}))
