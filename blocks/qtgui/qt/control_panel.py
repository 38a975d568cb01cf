"""ControlPanel: sliders, spin boxes and combo boxes that retune a running flowgraph."""

from __future__ import annotations

import math
import time
from typing import Any, Iterable

from ..controls import ControlSpec, current_values, discover_controls, send_control
from .common import QtCore, QtWidgets, ScopeView


class ControlPanel(ScopeView):
    """One row per discovered control (:func:`semradio.blocks.qtgui.discover_controls`):
    float parameters get a slider and a spin box (units in the suffix), integers a spin box
    (with an "auto" entry that sends None when the parameter allows it), choices a combo box,
    booleans a check box. Every user change posts ``{param: value}`` to
    the ``ctrl`` message port of each target block (``Flowgraph.post``, thread-safe; handled
    on the block's thread between two frames). Controls exist only for what the flowgraph
    offers: e.g. denoiser and step-count controls appear when a denoiser-like block is in it.

    Args:
        fg: the running (or about to run) flowgraph.
        specs: the controls (default: discovered from ``fg.blocks``).
        extra: more ``(block name, parameter)`` pairs to expose.

    Attributes:
        specs: the controls shown; ``widgets``: parameter -> its input widget;
        ``sent``: the messages sent so far, as ``(targets, message)``.
    """

    snapshot_name = "controls"
    title = "controls"

    def __init__(self, fg: Any, specs: list[ControlSpec] | None = None, extra: Iterable[tuple[str, str]] = (),
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(None, parent)
        self.fg = fg
        self.specs = specs if specs is not None else discover_controls(fg.blocks.values(), extra)
        self.widgets: dict[str, QtWidgets.QWidget] = {}
        self.sent: list[tuple[list[str], dict[str, Any]]] = []
        self._t_sync = 0.0
        box = QtWidgets.QGroupBox("controls")
        form = QtWidgets.QFormLayout(box)
        snr = next((s.value for s in self.specs if s.param == "snr_db"), None)
        for spec in self.specs:
            w = self._make(spec, default=snr)
            w.setToolTip(spec.doc)
            form.addRow(f"{spec.label}", w)
        if not self.specs:
            form.addRow(QtWidgets.QLabel("no controllable parameters"))
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(box)
        lay.addWidget(self.status)
        lay.addStretch(1)
        self.setMinimumSize(260, 160)

    # ------------------------------------------------------------------ widgets
    def _make(self, spec: ControlSpec, default: Any) -> QtWidgets.QWidget:
        if spec.kind == "float":
            return self._float_row(spec, default)
        if spec.kind == "int":
            sb = QtWidgets.QSpinBox()
            lo = int(spec.minimum) - (1 if spec.allow_none else 0)  # one below the range: None
            sb.setRange(lo, int(spec.maximum))
            sb.setSingleStep(max(1, int(spec.step)))
            if spec.allow_none:
                sb.setSpecialValueText("auto")
            sb.setValue(int(spec.value) if spec.value is not None else lo)
            none_at = lo if spec.allow_none else None
            sb.valueChanged.connect(lambda v, s=spec, n=none_at: self._send(s, None if v == n else int(v)))
            self.widgets[spec.param] = sb
            return sb
        if spec.kind == "choice":
            cb = QtWidgets.QComboBox()
            for c in spec.choices:
                cb.addItem(str(c), c)
            if spec.value in spec.choices:
                cb.setCurrentIndex(spec.choices.index(spec.value))
            cb.currentIndexChanged.connect(lambda i, s=spec, c=cb: self._send(s, c.itemData(i)))
            self.widgets[spec.param] = cb
            return cb
        chk = QtWidgets.QCheckBox()
        chk.setChecked(bool(spec.value))
        chk.toggled.connect(lambda v, s=spec: self._send(s, bool(v)))
        self.widgets[spec.param] = chk
        return chk

    def _float_row(self, spec: ControlSpec, default: Any) -> QtWidgets.QWidget:
        row = QtWidgets.QWidget()
        h = QtWidgets.QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        steps = max(1, int(round((spec.maximum - spec.minimum) / spec.step)))
        slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        slider.setRange(0, steps)
        spin = QtWidgets.QDoubleSpinBox()
        spin.setRange(spec.minimum, spec.maximum)
        spin.setSingleStep(spec.step)
        spin.setDecimals(2 if spec.step < 1 else 1)
        if spec.unit:
            spin.setSuffix(f" {spec.unit}")
        value = spec.value if spec.value is not None else default
        if value is None or not math.isfinite(float(value)):
            value = spec.maximum
        value = min(max(float(value), spec.minimum), spec.maximum)
        spin.setValue(value)
        slider.setValue(int(round((value - spec.minimum) / spec.step)))

        def from_slider(i: int) -> None:
            v = spec.minimum + i * spec.step
            if abs(spin.value() - v) > 1e-9:
                spin.setValue(v)  # emits valueChanged -> sends

        def from_spin(v: float) -> None:
            i = int(round((v - spec.minimum) / spec.step))
            if slider.value() != i:
                slider.blockSignals(True)
                slider.setValue(i)
                slider.blockSignals(False)
            self._send(spec, float(v))

        slider.valueChanged.connect(from_slider)
        spin.valueChanged.connect(from_spin)
        h.addWidget(slider, 1)
        h.addWidget(spin)
        self.widgets[spec.param] = spin
        self.widgets[spec.param + ":slider"] = slider
        return row

    # ------------------------------------------------------------------ actions
    def _send(self, spec: ControlSpec, value: Any) -> None:
        try:
            send_control(self.fg, spec, value)
        except Exception as exc:  # noqa: BLE001 - a control never kills the GUI
            self.status.setText(f"could not send {spec.param}: {exc}")
            self.render_errors.add(type(exc).__name__, detail=str(exc))
            return
        self.sent.append((list(spec.targets), spec.message(value)))
        self.status.setText(f"sent {spec.param} = {value} to {', '.join(spec.targets)}")

    def set_value(self, param: str, value: Any) -> None:
        """Set a control as a user would (the widget emits its change, which is sent)."""
        w = self.widgets[param]
        if isinstance(w, QtWidgets.QSpinBox) and value is None:
            w.setValue(w.minimum())  # "auto"
        elif isinstance(w, QtWidgets.QComboBox):
            i = w.findData(value)
            if i < 0:
                raise ValueError(f"{param}: {value!r} is not one of the choices")
            w.setCurrentIndex(i)
        elif isinstance(w, QtWidgets.QCheckBox):
            w.setChecked(bool(value))
        else:
            w.setValue(value)

    def sync(self, values: dict[str, Any]) -> None:
        """Show the flowgraph's current values (without sending anything back); a control
        the user is holding or editing is left alone."""
        for spec in self.specs:
            if spec.param not in values:
                continue
            value = values[spec.param]
            w = self.widgets.get(spec.param)
            slider = self.widgets.get(spec.param + ":slider")
            if w is None or w.hasFocus() or (slider is not None and slider.isSliderDown()):
                continue
            if value is None and spec.kind == "float":
                value = values.get("snr_db")  # e.g. SINR None: no interference, SINR = SNR
            if value is None and not spec.allow_none:
                continue
            for x in (w, slider):
                if x is not None:
                    x.blockSignals(True)
            try:
                if isinstance(w, QtWidgets.QComboBox):
                    i = w.findData(value)
                    if i >= 0:
                        w.setCurrentIndex(i)
                elif isinstance(w, QtWidgets.QCheckBox):
                    w.setChecked(bool(value))
                elif isinstance(w, QtWidgets.QSpinBox):
                    w.setValue(w.minimum() if value is None else int(value))
                elif isinstance(w, QtWidgets.QDoubleSpinBox) and math.isfinite(float(value)):
                    w.setValue(float(value))
                    if slider is not None:
                        slider.setValue(int(round((w.value() - spec.minimum) / spec.step)))
            finally:
                for x in (w, slider):
                    if x is not None:
                        x.blockSignals(False)

    def refresh(self, force: bool = False) -> bool:
        """In-process: follow the blocks' current values (twice a second)."""
        now = time.monotonic()
        if hasattr(self.fg, "blocks") and self.fg.blocks and (force or now - self._t_sync >= 0.5):
            self._t_sync = now
            self.sync(current_values(self.fg, self.specs))
        return False

    def redraw(self) -> None:
        return None


__all__ = ["ControlPanel"]
