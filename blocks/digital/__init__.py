"""Digital blocks (GNU Radio's gr-digital): MMSE and ZF equalisers emitting the Lemma 1 weights,
the OFDM transmitter and receiver that carry latent frames over a sample stream, and the
diffusion channel estimator."""

from .channel_estimator import DiffusionChannelEstimator
from .equalizer import MMSEEqualizer, ZFEqualizer, equalizer_for
from .ofdm_rx import OFDMReceiver
from .ofdm_tx import OFDMTransmitter

__all__ = ["DiffusionChannelEstimator", "MMSEEqualizer", "ZFEqualizer", "equalizer_for", "OFDMReceiver", "OFDMTransmitter"]
