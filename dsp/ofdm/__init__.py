"""OFDM physical layer math: numerology and burst layout, modulation, synchronisation, channel
and noise estimation (numpy; Sionna PHY for cross-checks)."""

from .numerology import HEADER_BITS, Header, OFDMConfig, codec_id

__all__ = ["OFDMConfig", "Header", "HEADER_BITS", "codec_id"]
