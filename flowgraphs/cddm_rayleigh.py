#!/usr/bin/env python3
"""JSCC over Rayleigh fading with the CDDM channel denoiser between equalizer and decoder.

    python flowgraphs/cddm_rayleigh.py --snr-db 10 --frames 20
    python flowgraphs/cddm_rayleigh.py --denoiser none --snr-db 10 --json
    python flowgraphs/cddm_rayleigh.py --channel awgn --snr-db 5

Flowgraph::

    ImageSource -> JSCCEncoder -> PowerNormalizer -> channel -> MMSEEqualizer -> CDDMDenoiser
         |                                                                         |
         |                                                                   JSCCDecoder
         +-------------------------------------------------------------> MetricSink (ref, rec)

Same options as ``jscc_rayleigh.py`` plus ``--denoiser {none,cddm}``. With CDDM the decoder is
the codec's decoder fine-tuned on CDDM outputs (``<codec>_cddm``) when one is shipped
(``--decoder-codec`` overrides); without it, the plain codec's.
"""

from __future__ import annotations

import argparse
import json
import sys

from semradio.blocks.hier import jscc_chain
from semradio.blocks.denoisers.cddm import chain_denoiser


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The JSCC chain's options plus the denoiser's."""
    jscc_chain.add_arguments(p, "rayleigh")
    p.add_argument("--denoiser", choices=("none", "cddm"), default="cddm", help="denoiser after the equalizer")
    p.add_argument("--cddm-model", default=None, help="CDDM checkpoint (default: the shipped one for --channel)")
    p.add_argument("--rule", choices=("cddm", "ddim", "tweedie"), default="cddm",
                   help="reverse-step rule (tweedie: one network evaluation, E[x_0 | x_m])")
    p.add_argument("--max-steps", type=int, default=None, help="cap on the start step m")
    p.add_argument("--decoder-codec", default=None,
                   help="decoder checkpoint (default with CDDM: <codec>_cddm when shipped)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    args.flowgraph_name = f"cddm_{args.channel}"
    out = jscc_chain.run(args, denoiser=chain_denoiser(args))
    print(json.dumps(out) if args.json else jscc_chain.format_summary(out))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
