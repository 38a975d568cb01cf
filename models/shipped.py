"""The shipped VE teacher and EECD student each chain loads by default, and how a chain finds the
denoiser trained for another codec. Plain names and the checkpoint search path only (no torch),
so both the blocks and the evaluations import it.

    >>> from semradio.models.shipped import DEFAULT_EECD, denoiser_for_codec
    >>> DEFAULT_EECD["awgn"]
    'eecd_natural32_awgn_cbr1-6'
    >>> denoiser_for_codec("vaewgan_natural32_awgn_cbr1-6", "eecd", DEFAULT_EECD["awgn"])
    'eecd_vaewgan_natural32_awgn_cbr1-6'
"""

from __future__ import annotations

import logging

from . import registry

log = logging.getLogger("semradio")

#: Shipped VE teachers and EECD nets per channel family (for the natural-patch CBR 1/6 codecs).
DEFAULT_VE = {"awgn": "ve_natural32_awgn_cbr1-6", "rayleigh": "ve_natural32_rayleigh_cbr1-6"}
DEFAULT_EECD = {"awgn": "eecd_natural32_awgn_cbr1-6", "rayleigh": "eecd_natural32_rayleigh_cbr1-6"}
#: Default Alg. 4 subsequence point for s = 2: t_tau2 closest to 0.1 t_m. A short re-noising
#: keeps most of the first step's estimate; on the held-out patches at 10 dB it beats the 0.3
#: used to train the shipped Rayleigh net (27.27 vs 27.22 dB PSNR) and matches the AWGN net's 0.1.
DEFAULT_TAU2_RATIO = 0.1


def denoiser_for_codec(codec: str | None, family: str, default: str) -> str:
    """The denoiser checkpoint of ``family`` ("cddm", "ve-ldm", "eecd") for ``codec``: ``default``
    when no codec is named or ``default`` was trained on it, else the first checkpoint along the
    search path whose JSON ``codec`` is ``codec``; when none is, ``default`` with a warning on the
    ``semradio`` logger (its latents are another codec's: train one with ``semradio train``)."""
    if not codec:
        return default
    own = None
    try:
        own = registry.read_json(registry.find_config(default)).get("codec")
        if own == codec:
            return default
    except (OSError, ValueError):
        pass
    for info in registry.list_checkpoints():
        if info.family == family and info.codec == codec and not info.error:
            return info.name
    log.warning("no %s checkpoint trained on codec %r along the checkpoint path; using %r, trained on %r",
                family, codec, default, own)
    return default


__all__ = ["DEFAULT_EECD", "DEFAULT_TAU2_RATIO", "DEFAULT_VE", "denoiser_for_codec"]
