"""Semantic codecs as blocks: the Deep JSCC encoder and decoder and the CDiff conditional
diffusion decoder. The networks are built when a block is constructed (torch is imported then)."""

from .adapter import LatentAdapter
from .attack import PGDAttack
from .cdiff_decoder import CDiffDecoder
from .jscc import JSCCDecoder, JSCCEncoder

__all__ = ["CDiffDecoder", "JSCCDecoder", "JSCCEncoder", "LatentAdapter", "PGDAttack"]
