"""Live scopes (issue #10): scope sink blocks, control discovery and the pyqtgraph window.

The blocks here import no Qt: they are sinks fed through real-time edges that keep only the
newest frame under a lock, accept a bounded number of frames per second and never raise on
bad input (see :mod:`.base`), so they can be listed by ``semradio blocks`` and used headless:

* :class:`ConstellationScope` — received vs equalized vs denoised symbols;
* :class:`TimeScope` — |h|, |y| and configured vs measured SNR per frame;
* :class:`ImageScope` — original | received | reconstructed images with PSNR/SSIM;
* :class:`MetricScope` — running PSNR/SSIM/latency and per-SNR curves;
* :class:`OFDMScope` — an OFDM receiver's equalised pilots/header/data, |H(f)| over the
  subcarriers, CFO and detection metric per burst (:func:`attach_ofdm_scopes`).

The widgets live in :mod:`semradio.blocks.qtgui.qt` (pyqtgraph on PySide6, the ``gui``
extra): a view per scope, ``FlowgraphMonitor`` (per-block frames/s, queue, drops) and
``ControlPanel`` (controls discovered by :func:`discover_controls`). By default the window runs
in a child process fed over ZeroMQ (:mod:`.remote`), keeping Qt off the flowgraph's
interpreter lock. :mod:`semradio.blocks.qtgui.gui_support` gives every flowgraph script
``--gui`` and ``--snapshot DIR`` with a few lines.
"""

from .base import SCOPE_HWM, ScopeBlock, ScopeInputError, connect_scope
from .constellation import CONSTELLATION_PORTS, ConstellationScope
from .controls import ControlSpec, discover_controls, send_control
from .image import IMAGE_PORTS, ImageScope
from .metric import MetricScope
from .ofdm import OFDMScope, attach_ofdm_scopes
from .time_scope import TimeScope

__all__ = ["SCOPE_HWM", "ScopeBlock", "ScopeInputError", "connect_scope", "ConstellationScope",
           "CONSTELLATION_PORTS", "ImageScope", "IMAGE_PORTS", "MetricScope", "OFDMScope", "TimeScope", "ControlSpec",
           "discover_controls", "send_control", "attach_ofdm_scopes"]
