#!/usr/bin/env python3
"""Deep JSCC image transmission over Rayleigh fading (the README demo).

    python flowgraphs/jscc_rayleigh.py --frames 50
    python flowgraphs/jscc_rayleigh.py --snr-db 5 --cbr 1/12 --batch 64 --json
    python flowgraphs/jscc_rayleigh.py --denoiser cddm --snr-db 10
    semradio run flowgraphs/jscc_rayleigh.py -- --frames 50 --realtime 30

Flowgraph::

    ImageSource -> [Throttle] -> JSCCEncoder -> PowerNormalizer -> channel -> MMSEEqualizer
         |                                                           -> [denoiser] -> JSCCDecoder
         +--------------------------------------------------------------> MetricSink (ref, rec)

Default data: held-out 32x32 patches of the photos bundled with scikit-image/scikit-learn
(no download), the shipped codec for the channel and CBR. Prints PSNR/SSIM, images/s and
latency (``--json``: one JSON object). The graph is :mod:`semradio.blocks.hier.jscc_chain`;
``flowgraphs/jscc_rayleigh.toml`` is the same graph as a flowgraph file.
"""

from __future__ import annotations

from typing import Any

from semradio.blocks.hier.jscc_chain import JSCCChainConfig, check_config, format_summary, run
from semradio.flowgraphs.app import flowgraph_main


def main(argv: list[str] | None = None, defaults: dict[str, Any] | None = None) -> int:
    """The script's entry point (``defaults`` overrides option defaults, e.g. the channel)."""
    return flowgraph_main(JSCCChainConfig, run, argv, doc=__doc__, summary=format_summary,
                          defaults={"channel": "rayleigh", **(defaults or {})}, check=check_config)


if __name__ == "__main__":
    raise SystemExit(main())
