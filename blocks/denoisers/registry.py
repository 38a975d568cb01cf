"""Denoisers a JSCC chain can put between its equaliser and its decoder, by name — the
``--denoiser`` of the chain flowgraphs and sweeps.

Built in: ``none``, ``cddm`` (CDDM with the codec's CDDM-fine-tuned decoder when one exists),
``ve`` (the VE latent teacher), ``eecd1`` / ``eecd2`` (EECD with one or two steps). Any other
name is looked up among the registered blocks (:mod:`semradio.runtime.registry`), so a plugin's
block works too: it must have one input and one output taking the equaliser's frames (real
``(B, 2k)`` latents with the Lemma 1 tags ``W_s``, ``W_n``, ``noise_var``, ``snr_db``). The class
is built with ``cls.for_chain(config)`` when it defines that classmethod (it reads what it needs
from the chain's config: ``channel``, ``device``, ``codec``, ``seed``, ...), else with ``cls()``;
a block may name a decoder fine-tuned for its outputs in a ``decoder_codec`` attribute.

    >>> from semradio.blocks.hier.jscc_chain import JSCCChainConfig
    >>> den = make_chain_denoiser(JSCCChainConfig(denoiser="cddm", channel="rayleigh"))  # doctest: +SKIP
    >>> den.block.name, den.decoder_codec                                                 # doctest: +SKIP
    ('cddm', 'jscc_natural32_rayleigh_cbr1-6_cddm')
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from semradio.runtime import Block

#: Built-in chain denoisers: name -> "module:factory" (``factory(config) -> ChainDenoiser``).
CHAIN_DENOISERS: dict[str, str | None] = {
    "none": None,
    "cddm": "semradio.blocks.denoisers.cddm:chain_denoiser",
    "ve": "semradio.blocks.denoisers.ve:chain_ve",
    "eecd1": "semradio.blocks.denoisers.ve:chain_eecd1",
    "eecd2": "semradio.blocks.denoisers.ve:chain_eecd2",
}


@dataclass
class ChainDenoiser:
    """A denoiser block for a chain, and the decoder checkpoint it wants (None: the codec's)."""

    block: Block
    decoder_codec: str | None = None


def chain_denoiser_names() -> list[str]:
    """The built-in names, then every registered block with one input and one output."""
    from semradio.runtime.registry import load_registry

    plugin = [e.cls.__name__ for e in load_registry() if e.provider != "semradio"]
    return list(CHAIN_DENOISERS) + sorted(plugin)


def make_chain_denoiser(config: Any) -> ChainDenoiser | None:
    """The denoiser named by ``config.denoiser`` (None for "none").

    Raises:
        ValueError: an unknown name (the message lists the known ones), or a registered block
            that does not have exactly one input and one output.
    """
    name = getattr(config, "denoiser", "none") or "none"
    if name in CHAIN_DENOISERS:
        target = CHAIN_DENOISERS[name]
        if target is None:
            return None
        module, func = target.split(":")
        return getattr(importlib.import_module(module), func)(config)
    from semradio.runtime.registry import RegistryError, load_registry

    try:
        cls = load_registry().resolve(name)
    except RegistryError:
        raise ValueError(f"unknown denoiser {name!r}; expected one of {chain_denoiser_names()}") from None
    for_chain = getattr(cls, "for_chain", None)
    block = for_chain(config) if callable(for_chain) else cls()
    if len(block.inputs) != 1 or len(block.outputs) != 1:
        raise ValueError(f"denoiser {name!r}: a chain denoiser needs one input and one output, {cls.__name__} has "
                         f"{len(block.inputs)} and {len(block.outputs)}")
    return ChainDenoiser(block, getattr(block, "decoder_codec", None))


__all__ = ["CHAIN_DENOISERS", "ChainDenoiser", "chain_denoiser_names", "make_chain_denoiser"]
