"""Denoisers a JSCC chain can put between its equalizer and its decoder, by name.

Each entry maps a ``--denoiser`` name to ``"module:function"``; the function takes the chain's
parsed arguments (``args.channel``, ``args.device``, ``args.data``, ``args.cbr``, ...) and
returns a 1-in/1-out block fed with :class:`~semradio.blocks.digital.equalizer.MMSEEqualizer` frames
(real ``(B, 2k)`` latents with the Lemma 1 tags). It may also set ``args.decoder_codec`` to a
decoder fine-tuned for its outputs. ``"none"`` means no denoiser.
"""

from __future__ import annotations

import importlib
from typing import Any

#: name -> "module:factory" (module relative to semradio.blocks).
CHAIN_DENOISERS: dict[str, str | None] = {
    "none": None,
    "cddm": "cddm_denoiser:chain_denoiser",
    "ve": "ve_denoiser:chain_ve",
    "eecd1": "ve_denoiser:chain_eecd1",
    "eecd2": "ve_denoiser:chain_eecd2",
}


def make_chain_denoiser(args: Any) -> Any:
    """The block for ``args.denoiser`` (None for "none"); a clear error for an unknown name."""
    name = getattr(args, "denoiser", "none") or "none"
    if name not in CHAIN_DENOISERS:
        raise ValueError(f"unknown denoiser {name!r}; expected one of {sorted(CHAIN_DENOISERS)}")
    target = CHAIN_DENOISERS[name]
    if target is None:
        return None
    module, func = target.split(":")
    return getattr(importlib.import_module(f"semradio.blocks.{module}"), func)(args)


__all__ = ["CHAIN_DENOISERS", "make_chain_denoiser"]
