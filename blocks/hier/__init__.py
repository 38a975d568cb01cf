"""Hierarchical blocks: typed sub-graphs used like one block (GNU Radio's hier_block2; the base
class is :class:`semradio.runtime.HierBlock`) — :class:`JSCCLink` (encoder -> power normaliser ->
channel -> equaliser -> [denoiser] -> decoder) and the JSCC chain flowgraph built around it."""

from .jscc_chain import JSCCChainConfig, JSCCLink

__all__ = ["JSCCChainConfig", "JSCCLink"]
