"""ZeroMQ bridges in the native wire format and in GNU Radio 3.10's gr-zeromq format (PMT
serialisation, the v1 tag header, tag mapping), and CURVE security (GNU Radio's gr-zeromq)."""

from .bridge import ZMQSink, ZMQSource

__all__ = ["ZMQSink", "ZMQSource"]
