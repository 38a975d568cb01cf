"""Hierarchical blocks: typed sub-graphs such as the JSCC chain (GNU Radio's hier_block2)."""

