#!/usr/bin/env python3
"""JSCC over Rayleigh fading with the CDDM channel denoiser between equalizer and decoder.

    python flowgraphs/cddm_rayleigh.py --snr-db 10 --frames 20
    python flowgraphs/cddm_rayleigh.py --denoiser none --snr-db 10 --json
    python flowgraphs/cddm_rayleigh.py --channel awgn --snr-db 5 --rule tweedie

Flowgraph::

    ImageSource -> JSCCEncoder -> PowerNormalizer -> channel -> MMSEEqualizer -> CDDMDenoiser
         |                                                                         |
         |                                                                   JSCCDecoder
         +-------------------------------------------------------------> MetricSink (ref, rec)

Same options as ``jscc_rayleigh.py`` (``--denoiser`` defaults to ``cddm``) plus the CDDM's. With
CDDM the decoder is the codec's decoder fine-tuned on CDDM outputs (``<codec>_cddm``) when one
exists (``--decoder-codec`` overrides); without it, the plain codec's.
``flowgraphs/cddm_rayleigh.toml`` is the same graph as a flowgraph file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from semradio.blocks.hier import jscc_chain
from semradio.flowgraphs.app import flowgraph_main
from semradio.models.arguments import checkpoint_ref
from semradio.runtime.arguments import positive_int
from semradio.runtime.options import option


@dataclass
class CDDMChainConfig(jscc_chain.JSCCChainConfig):
    """The JSCC chain's settings with CDDM as the default denoiser, and the CDDM's own."""

    denoiser: str = option("cddm", help="denoiser after the equalizer (none, cddm, ve, eecd1, eecd2, a plugin)")
    cddm_model: str | None = option(None, type=checkpoint_ref("CDDM"),
                                    help="CDDM checkpoint (default: the shipped one for --channel)")
    rule: str = option("cddm", choices=("cddm", "ddim", "tweedie"),
                       help="reverse-step rule (tweedie: one network evaluation, E[x_0 | x_m])")
    max_steps: int | None = option(None, type=positive_int, help="cap on the start step m")


def run(config: CDDMChainConfig, scopes: Any = None) -> dict[str, Any]:
    """The chain with its denoiser, named ``cddm_<channel>``."""
    config.flowgraph_name = config.flowgraph_name or f"cddm_{config.channel}"
    return jscc_chain.run(config, scopes=scopes)


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(CDDMChainConfig, run, argv, doc=__doc__, summary=jscc_chain.format_summary,
                          check=jscc_chain.check_config)


if __name__ == "__main__":
    raise SystemExit(main())
