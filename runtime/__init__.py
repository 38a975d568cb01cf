"""semradio.runtime: frames, blocks, ports, flowgraphs, the ZeroMQ scheduler and wire format."""

from .block import WORK_DONE, Block, Param, SinkBlock, SourceBlock, SyncBlock
from .frame import TAG_KEYS, Frame
from .ports import PortSpec, incompatibility

__all__ = [
    "WORK_DONE", "Block", "Param", "SinkBlock", "SourceBlock", "SyncBlock",
    "TAG_KEYS", "Frame", "PortSpec", "incompatibility",
]
