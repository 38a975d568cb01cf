"""Channel blocks: the transmitter's power normaliser, AWGN/Rayleigh/Rician fading and the
interference channel on latent symbols, and the multi-user superposition (GNU Radio's
gr-channels)."""

from .base import CHANNEL_TAG_KEYS
from .fading import AWGNChannel, CHANNELS, RayleighChannel, RicianChannel, make_channel
from .interference import InterferenceChannel
from .power import ComplexToReal, PowerNormalizer
from .sample_channel import SampleChannel
from .superpose import Superpose

__all__ = ["CHANNEL_TAG_KEYS", "AWGNChannel", "CHANNELS", "RayleighChannel", "RicianChannel", "make_channel", "InterferenceChannel", "ComplexToReal", "PowerNormalizer", "SampleChannel", "Superpose"]
