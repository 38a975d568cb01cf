#!/usr/bin/env python3
"""Deep JSCC image transmission over Rayleigh fading (baseline, no denoiser).

    python flowgraphs/jscc_rayleigh.py --frames 50
    python flowgraphs/jscc_rayleigh.py --snr-db 5 --cbr 1/12 --batch 64 --json
    semradio run flowgraphs/jscc_rayleigh.py -- --frames 50 --realtime 30

Flowgraph::

    ImageSource -> [Throttle] -> JSCCEncoder -> PowerNormalizer -> rayleigh channel -> MMSEEqualizer
         |                                                                        -> JSCCDecoder
         +--------------------------------------------------------------> MetricSink (ref, rec)

Default data: held-out 32x32 patches of the photos bundled with scikit-image/scikit-learn
(no download), the shipped codec for the channel and CBR. Prints PSNR/SSIM, images/s and
latency (``--json``: one JSON object). The graph is built by semradio.blocks.hier.jscc_chain.
"""

from __future__ import annotations

import sys

from semradio.blocks.hier.jscc_chain import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], channel="rayleigh", doc=__doc__))
