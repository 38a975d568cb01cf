"""semradio.runtime: frames, blocks, ports, flowgraphs, the ZeroMQ scheduler and wire format."""

from .block import WORK_DONE, Block, Param, SinkBlock, SourceBlock, SyncBlock
from .edges import Edge
from .flowgraph import Flowgraph, FlowgraphError
from .frame import TAG_KEYS, Frame, Frames
from .hier import HierBlock
from .ports import PortSpec, incompatibility
from .scheduler import BlockError
from .stats import LatencyStats

__all__ = [
    "WORK_DONE", "Block", "Param", "SinkBlock", "SourceBlock", "SyncBlock", "Edge",
    "Flowgraph", "FlowgraphError", "TAG_KEYS", "Frame", "Frames", "HierBlock", "PortSpec", "incompatibility",
    "BlockError", "LatencyStats",
]
