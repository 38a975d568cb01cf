"""Basic blocks: array, counting, image and symbol sources; collecting and null sinks;
pass-through and throttle (GNU Radio's gr-blocks / gr-analog sources)."""

from .flow import PassThrough, Throttle
from .image_source import ImageSource
from .sinks import CollectSink, NullSink
from .sources import ArraySource, CountingSource
from .symbol_source import SymbolSource

__all__ = ["PassThrough", "Throttle", "ImageSource", "CollectSink", "NullSink", "ArraySource", "CountingSource", "SymbolSource"]
