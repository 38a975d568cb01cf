"""Capture files: raw IQ (cf32_le, ci16_le, ci8, cu8, ...) and SigMF recordings with
annotations as tags (GNU Radio's file source/sink, gr-sigmf)."""

from .iq_files import IQFileSink, IQFileSource
from .sigmf_files import SigMFSink, SigMFSource

__all__ = ["IQFileSink", "IQFileSource", "SigMFSink", "SigMFSource"]
