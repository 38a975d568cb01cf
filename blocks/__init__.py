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

# JSCC side (issue #4): image sources, JSCC encoder/decoder, metric sink.
from .image_source import ImageSource
from .jscc import JSCCDecoder, JSCCEncoder
from .metric_sink import MetricSink

__all__ += ["ImageSource", "JSCCEncoder", "JSCCDecoder", "MetricSink"]

# Scopes (issue #10): sinks for the live pyqtgraph scopes (they import no Qt; the widgets are in
# semradio.blocks.scopes.qt, --gui/--snapshot in semradio.blocks.scopes.gui_support).
from .scopes import ConstellationScope, ImageScope, MetricScope, TimeScope

__all__ += ["ConstellationScope", "ImageScope", "MetricScope", "TimeScope"]

# Denoisers (issue #5): CDDM channel denoising between the equalizer and the decoder.
from .cddm_denoiser import CDDMDenoiser

__all__ += ["CDDMDenoiser"]

# VE latent diffusion and EECD consistency denoisers (issue #7; seed 003).
from .ve_denoiser import ConsistencyDenoiser, VELatentDenoiser

__all__ += ["ConsistencyDenoiser", "VELatentDenoiser"]

# ICDM interference canceller (issue #6; seed 000): two diffusion priors + ConJPC sampler.
from .icdm_canceller import ICDMCanceller

__all__ += ["ICDMCanceller"]

# CDiff conditional diffusion decoder (issue #8; seed 001) and the multi-user superposition.
from .cdiff_decoder import CDiffDecoder
from .superpose import Superpose

__all__ += ["CDiffDecoder", "Superpose"]
