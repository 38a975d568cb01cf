"""Digital blocks (GNU Radio's gr-digital): MMSE and ZF equalisers emitting the Lemma 1 weights,
the OFDM transmitter and receiver that carry latent frames over a sample stream, the
diffusion channel estimator, and the digital baseline's image transmitter and receiver (image
codec + 5G LDPC + QAM)."""

from .channel_estimator import DiffusionChannelEstimator
from .equalizer import MMSEEqualizer, ZFEqualizer, equalizer_for
from .image_rx import DigitalImageRx
from .image_tx import DigitalImageTx
from .ofdm_rx import OFDMReceiver
from .ofdm_tx import OFDMTransmitter

__all__ = ["DiffusionChannelEstimator", "DigitalImageRx", "DigitalImageTx", "MMSEEqualizer", "ZFEqualizer",
           "equalizer_for", "OFDMReceiver", "OFDMTransmitter"]
