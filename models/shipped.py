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
from pathlib import Path
from typing import Any

from . import registry

log = logging.getLogger("semradio")

#: Shipped VE teachers and EECD nets per channel family (for the natural-patch CBR 1/6 codecs).
DEFAULT_VE = {"awgn": "ve_natural32_awgn_cbr1-6", "rayleigh": "ve_natural32_rayleigh_cbr1-6"}
DEFAULT_EECD = {"awgn": "eecd_natural32_awgn_cbr1-6", "rayleigh": "eecd_natural32_rayleigh_cbr1-6"}
#: Default Alg. 4 subsequence point for s = 2: t_tau2 closest to 0.1 t_m. A short re-noising
#: keeps most of the first step's estimate; on the held-out patches at 10 dB it beats the 0.3
#: used to train the shipped Rayleigh net (27.27 vs 27.22 dB PSNR) and matches the AWGN net's 0.1.
DEFAULT_TAU2_RATIO = 0.1


def _codec_key(codec: str) -> str:
    """A codec reference as a name: a checkpoint path (``dir/NAME`` or ``dir/NAME.json``) counts
    as its ``NAME``, as checkpoint JSONs record the codec they were trained on by either."""
    return Path(codec).stem if registry.is_path(codec) else codec


def channel_family(channel: Any) -> str:
    """The shipped models' channel family of a channel name: ``"awgn"``, else ``"rayleigh"``
    (Rayleigh, Rician, block fading and interference use the models trained on fading).

    Example:
        >>> channel_family("awgn"), channel_family("rician")
        ('awgn', 'rayleigh')
    """
    return "awgn" if channel == "awgn" else "rayleigh"


_warned: set[tuple[str, str, str]] = set()


def denoiser_for_codec(codec: str | None, family: str, default: str, channel: str | None = None,
                       warn: bool = True) -> str:
    """The denoiser checkpoint of ``family`` ("cddm", "ve-ldm", "eecd") for ``codec``.

    ``default`` when no codec is named or ``default`` was trained on it; else the first checkpoint
    along the search path whose JSON ``codec`` is ``codec`` (a path and its name count as the
    same), one trained on ``channel``'s family (AWGN, or fading: Rayleigh, Rician, ...) first;
    when none is, ``default``, with a warning on the ``semradio`` logger (once per codec and
    family) unless ``warn`` is False: its latents are another codec's, train one with
    ``semradio train``."""
    if not codec:
        return default
    key = _codec_key(codec)
    own = None
    try:
        own = registry.read_json(registry.find_config(default)).get("codec")
        if isinstance(own, str) and _codec_key(own) == key:
            return default
    except (OSError, ValueError):
        pass
    found = []
    for info in registry.list_checkpoints():
        if info.family == family and isinstance(info.codec, str) and _codec_key(info.codec) == key and not info.error:
            found.append(info)
    if found and channel is not None:
        for info in found:
            if info.channel is not None and channel_family(info.channel) == channel_family(channel):
                return info.name
    if found:
        return found[0].name
    if warn and (family, key, default) not in _warned:
        _warned.add((family, key, default))
        log.warning("no %s checkpoint trained on codec %r along the checkpoint path; using %r, trained on %r",
                    family, codec, default, own)
    return default


__all__ = ["DEFAULT_EECD", "DEFAULT_TAU2_RATIO", "DEFAULT_VE", "denoiser_for_codec"]
