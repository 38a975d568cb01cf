"""semradio.blocks: the block library, one subpackage per family, as GNU Radio users know them.

========================= =================================================================
``basic``                 ArraySource, CountingSource, ImageSource, SymbolSource, CollectSink,
                          NullSink, PassThrough, Throttle
``channels``              PowerNormalizer, ComplexToReal, AWGNChannel, RayleighChannel,
                          RicianChannel, InterferenceChannel, Superpose
``digital``               MMSEEqualizer, ZFEqualizer, OFDMTransmitter, OFDMReceiver,
                          DiffusionChannelEstimator, DigitalImageTx, DigitalImageRx
``codecs``                JSCCEncoder, JSCCDecoder, CDiffDecoder, LatentAdapter, PGDAttack
``denoisers``             CDDMDenoiser, VELatentDenoiser, ConsistencyDenoiser, ICDMCanceller
                          (and the registry behind a chain's ``--denoiser``)
``metrics``               MetricSink, ChannelMeter
``zeromq``                ZMQSink, ZMQSource (native and gr-zeromq formats, PMT, CURVE)
``fileio``                IQFileSource, IQFileSink, SigMFSource, SigMFSink
``qtgui``                 ConstellationScope, TimeScope, ImageScope, MetricScope, the window
``hier``                  typed hierarchical blocks (the JSCC chain)
========================= =================================================================

Every block class is also importable from here (``from semradio.blocks import AWGNChannel``).
Names resolve lazily (``lazy_loader``): ``import semradio.blocks`` imports no family, no ZeroMQ
bridge and no torch; a family is imported on first use, and the blocks that run networks import
torch only when they are built.

Modules that moved when the families were introduced stay importable under their old names
(``semradio.blocks.channel_math`` is :mod:`semradio.dsp.channel`, ``semradio.blocks.jscc_chain``
is :mod:`semradio.blocks.hier.jscc_chain`, ...; see ``MOVED_MODULES``).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

import lazy_loader as _lazy

#: Block classes (and helpers) by family subpackage: what ``from semradio.blocks import X`` finds.
FAMILY_EXPORTS: dict[str, list[str]] = {
    "basic": ["ArraySource", "CollectSink", "CountingSource", "ImageSource", "NullSink", "PassThrough",
              "SymbolSource", "Throttle"],
    "channels": ["AWGNChannel", "ComplexToReal", "InterferenceChannel", "PowerNormalizer", "RayleighChannel",
                 "RicianChannel", "SampleChannel", "Superpose", "make_channel"],
    "digital": ["DiffusionChannelEstimator", "DigitalImageRx", "DigitalImageTx", "MMSEEqualizer", "OFDMReceiver",
                "OFDMTransmitter", "ZFEqualizer"],
    "codecs": ["CDiffDecoder", "JSCCDecoder", "JSCCEncoder", "LatentAdapter", "PGDAttack"],
    "denoisers": ["CDDMDenoiser", "ConsistencyDenoiser", "ICDMCanceller", "VELatentDenoiser"],
    "metrics": ["ChannelMeter", "MetricSink"],
    "zeromq": ["ZMQSink", "ZMQSource"],
    "fileio": ["IQFileSink", "IQFileSource", "SigMFSink", "SigMFSource"],
    "qtgui": ["ConstellationScope", "ImageScope", "MetricScope", "OFDMScope", "TimeScope"],
}

#: Old module names under ``semradio.blocks`` -> where the module lives now.
MOVED_MODULES: dict[str, str] = {
    "arrays": "semradio.dsp.arrays",
    "channel_math": "semradio.dsp.channel",
    "image_data": "semradio.models.data",
    "image_source": "semradio.blocks.basic.image_source",
    "symbol_source": "semradio.blocks.basic.symbol_source",
    "channel": "semradio.blocks.channels.fading",
    "power": "semradio.blocks.channels.power",
    "superpose": "semradio.blocks.channels.superpose",
    "equalizer": "semradio.blocks.digital.equalizer",
    "jscc": "semradio.blocks.codecs.jscc",
    "cdiff_decoder": "semradio.blocks.codecs.cdiff_decoder",
    "cddm_denoiser": "semradio.blocks.denoisers.cddm",
    "ve_denoiser": "semradio.blocks.denoisers.ve",
    "icdm_canceller": "semradio.blocks.denoisers.icdm",
    "chain_denoisers": "semradio.blocks.denoisers.registry",
    "denoiser_io": "semradio.blocks.denoisers.io",
    "metric_sink": "semradio.blocks.metrics.metric_sink",
    "channel_meter": "semradio.blocks.metrics.channel_meter",
    "zmq_bridge": "semradio.blocks.zeromq.bridge",
    "pmt": "semradio.blocks.zeromq.pmt",
    "gr_tag_header": "semradio.blocks.zeromq.tag_header",
    "gr_tags": "semradio.blocks.zeromq.gr_tags",
    "zmq_security": "semradio.blocks.zeromq.security",
    "iq_files": "semradio.blocks.fileio.iq_files",
    "sigmf_files": "semradio.blocks.fileio.sigmf_files",
    "jscc_chain": "semradio.blocks.hier.jscc_chain",
    "scopes": "semradio.blocks.qtgui",
}

_lazy_getattr, _lazy_dir, _names = _lazy.attach(
    __name__, submodules=["validation", "hier", *FAMILY_EXPORTS], submod_attrs=FAMILY_EXPORTS)

__all__ = sorted(name for names in FAMILY_EXPORTS.values() for name in names)


def __getattr__(name: str) -> Any:
    if name in MOVED_MODULES:
        return importlib.import_module(MOVED_MODULES[name])
    return _lazy_getattr(name)


def __dir__() -> list[str]:
    return sorted(set(_lazy_dir()) | set(MOVED_MODULES))


def _moved_target(fullname: str) -> str | None:
    """New module path of an old ``semradio.blocks.<name>[.<sub>...]`` path, or None."""
    prefix = __name__ + "."
    if not fullname.startswith(prefix):
        return None
    head, _, rest = fullname[len(prefix):].partition(".")
    if head not in MOVED_MODULES:
        return None
    return MOVED_MODULES[head] + (f".{rest}" if rest else "")


class _MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Lets ``import semradio.blocks.<old name>`` statements find the moved module (the same
    module object, registered under both names)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        new = _moved_target(fullname)
        if new is None:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def create_module(self, spec: Any) -> Any:
        return importlib.import_module(_moved_target(spec.name))  # type: ignore[arg-type]

    def exec_module(self, module: Any) -> None:
        return None


if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
    sys.meta_path.insert(0, _MovedModuleFinder())  # before the path finder: old names never load a copy
