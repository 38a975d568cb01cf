"""Digital blocks (GNU Radio's gr-digital): MMSE and ZF equalisers emitting the Lemma 1 weights,
and the OFDM transmitter and receiver that carry latent frames over a sample stream."""

from .equalizer import MMSEEqualizer, ZFEqualizer, equalizer_for
from .ofdm_rx import OFDMReceiver
from .ofdm_tx import OFDMTransmitter

__all__ = ["MMSEEqualizer", "ZFEqualizer", "equalizer_for", "OFDMReceiver", "OFDMTransmitter"]
