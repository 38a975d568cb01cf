"""pyqtgraph (PySide6) widgets of the scopes; importing this package imports Qt.

Install with ``pip install -c constraints-cpu.txt -e ".[gui]"``. Headless: set
``QT_QPA_PLATFORM=offscreen`` (``ensure_app`` does it when no display is reachable).
"""

from .common import ScopeView, ensure_app, grab_rgb, has_display, save_png
from .constellation import ConstellationView
from .control_panel import ControlPanel
from .image import ImageView
from .metric import MetricView
from .monitor import FlowgraphMonitor
from .time_scope import TimeView
from .window import ScopeWindow, view_for

__all__ = ["ScopeView", "ensure_app", "grab_rgb", "has_display", "save_png", "ConstellationView", "ControlPanel",
           "ImageView", "MetricView", "FlowgraphMonitor", "TimeView", "ScopeWindow", "view_for"]
