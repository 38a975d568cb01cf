"""semradio.blocks: the block library (sources, channel, equalizer, codecs, denoisers, sinks)."""

from .basic import ArraySource, CollectSink, CountingSource, NullSink, PassThrough, Throttle

__all__ = ["ArraySource", "CollectSink", "CountingSource", "NullSink", "PassThrough", "Throttle"]

# Channel side (issue #3): power normalizer, channels, equalizers, test source and meter.
from .channel import AWGNChannel, InterferenceChannel, RayleighChannel, RicianChannel, make_channel
from .channel_meter import ChannelMeter
from .equalizer import MMSEEqualizer, ZFEqualizer
from .power import ComplexToReal, PowerNormalizer
from .symbol_source import SymbolSource

__all__ += ["AWGNChannel", "InterferenceChannel", "RayleighChannel", "RicianChannel", "make_channel",
            "ChannelMeter", "MMSEEqualizer", "ZFEqualizer", "ComplexToReal", "PowerNormalizer",
            "SymbolSource"]

# Bridges (issue #9): ZeroMQ in native and GNU Radio formats, raw IQ and SigMF files.
from .iq_files import IQFileSink, IQFileSource
from .sigmf_files import SigMFSink, SigMFSource
from .zmq_bridge import ZMQSink, ZMQSource

__all__ += ["ZMQSink", "ZMQSource", "IQFileSink", "IQFileSource", "SigMFSink", "SigMFSource"]
