"""Receiver-side digital blocks: MMSE and ZF equalisers emitting the Lemma 1 weights
(GNU Radio's gr-digital)."""

from .equalizer import MMSEEqualizer, ZFEqualizer, equalizer_for

__all__ = ["MMSEEqualizer", "ZFEqualizer", "equalizer_for"]
