"""Control discovery: which parameters of a flowgraph's blocks the control panel shows.

The panel is built from what the flowgraph offers (``block.params``, ``param_docs()``), not
from a fixed list of blocks: a parameter gets a control when its name is in
:data:`CONTROL_CATALOG` — SNR, SINR, channel type (``model`` of a block with an SNR),
fading, K-factor, and, on denoiser-like blocks only (a class name containing "Denoiser", or
a ``denoiser``/steps-like parameter), the denoiser choice (``denoiser``, ``rule``,
``method``, ...), on/off (``enabled``) and the step count (``steps``, ``max_steps``, ...;
None = "auto"). Parameters of the same name on several blocks share one control (e.g. the
SNR of the channel and the SNR an SNR-adaptive JSCC encoder assumes). A control sends
``{param: value}`` to each target's ``ctrl`` message port with ``Flowgraph.post`` — the
thread-safe path that also reaches worker processes.

Choices of a string parameter come from, in order: a ``param_choices`` dict on the block
(``{"denoiser": ("none", "cddm", ...)}`` — blocks may declare it), the ``one of (...)`` list
in the error of the parameter's converter for an impossible value (the
:func:`semradio.blocks.validation.to_choice` message), or the current value alone.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from semradio.runtime import Block

#: Steps-like parameter names of denoisers (int, or None for "automatic").
STEP_PARAMS = ("steps", "num_steps", "n_steps", "sampling_steps", "max_steps", "nfe", "denoise_steps")
#: Choice-like parameter names of denoisers.
DENOISER_CHOICE_PARAMS = ("denoiser", "method", "sampler", "variant", "mode", "kind", "rule")
#: Parameters never shown (set up once, not tuned live).
EXCLUDED_PARAMS = ("seed", "device", "check_finite", "keep_noise", "px")

#: Parameter name -> how its control looks (label, kind, range, step, unit).
CONTROL_CATALOG: dict[str, dict[str, Any]] = {
    "snr_db": {"label": "SNR", "kind": "float", "minimum": -10.0, "maximum": 40.0, "step": 0.5, "unit": "dB"},
    "sinr_db": {"label": "SINR", "kind": "float", "minimum": -10.0, "maximum": 40.0, "step": 0.5, "unit": "dB"},
    "model": {"label": "channel type", "kind": "choice", "needs": "snr_db"},
    "fading": {"label": "fading", "kind": "choice", "needs": "snr_db"},
    "k_factor": {"label": "Rician K", "kind": "float", "minimum": 0.0, "maximum": 20.0, "step": 0.5, "unit": "",
                 "needs": "snr_db"},
    "denoiser": {"label": "denoiser", "kind": "choice", "denoiser_only": True},
    "enabled": {"label": "denoiser on", "kind": "bool", "denoiser_only": True},
}
for _name in DENOISER_CHOICE_PARAMS:
    CONTROL_CATALOG.setdefault(_name, {"label": f"denoiser {_name}", "kind": "choice", "denoiser_only": True})
for _name in STEP_PARAMS:
    CONTROL_CATALOG.setdefault(_name, {"label": "denoiser steps", "kind": "int", "minimum": 0, "maximum": 1000,
                                       "step": 1, "unit": "", "denoiser_only": True, "allow_none": True})


@dataclass
class ControlSpec:
    """One control of the panel (a dataclass; :func:`discover_controls` builds them).

    Parameters
    ----------
    param : str
        Parameter name sent in the ``ctrl`` message.
    targets : list of str
        Names of the blocks that receive it.
    label : str
        Text shown next to the control.
    kind : {"float", "int", "choice", "bool"}
        ``"float"`` (slider + spin box), ``"int"`` (spin box), ``"choice"`` (combo box) or
        ``"bool"`` (check box).
    value : object
        The current value (first target's; None when unset).
    doc : str, default ""
        Tooltip.
    minimum, maximum, step : float, default 0.0, 1.0, 1.0
        Ranges of numeric controls.
    unit : str, default ""
        Unit of numeric controls.
    choices : tuple, default ()
        Allowed values of a choice.
    allow_none : bool, default False
        An ``int`` control that may also send None ("auto", e.g. a step cap).

    Examples
    --------
    >>> from semradio.blocks.qtgui import ControlSpec
    >>> spec = ControlSpec("snr_db", ["channel"], "SNR", "float", 10.0, minimum=-5.0, maximum=30.0, unit="dB")
    >>> spec.message(5.0)                  # what send_control posts to each target's ctrl port
    {'snr_db': 5.0}
    """

    param: str
    targets: list[str]
    label: str
    kind: str
    value: Any
    doc: str = ""
    minimum: float = 0.0
    maximum: float = 1.0
    step: float = 1.0
    unit: str = ""
    choices: tuple[Any, ...] = field(default_factory=tuple)
    allow_none: bool = False

    def message(self, value: Any) -> dict[str, Any]:
        """The ``ctrl`` message setting ``value``."""
        return {self.param: value}


def is_denoiser_block(block: Block) -> bool:
    """True for a block that looks like a denoiser: class name containing "denois", or a
    ``denoiser`` / steps-like parameter (:data:`STEP_PARAMS`)."""
    if "denois" in type(block).__name__.lower():
        return True
    names = set(block.params)
    return bool(names & {"denoiser", *STEP_PARAMS})


def param_choices(block: Block, name: str) -> tuple[Any, ...]:
    """Allowed values of a string parameter (see the module docstring); ``()`` if unknown."""
    declared = getattr(block, "param_choices", None)
    if isinstance(declared, dict) and name in declared:
        return tuple(declared[name])
    spec = getattr(block, "_params", {}).get(name)  # the runtime's Param record (converter)
    convert = getattr(spec, "convert", None)
    if convert is None:
        return ()
    try:
        convert("\x00<no such value>")
    except (ValueError, TypeError) as exc:
        m = re.search(r"one of (\(.*?\)|\[.*?\])", str(exc))
        if m:
            try:
                vals = ast.literal_eval(m.group(1))
                return tuple(vals) if isinstance(vals, (tuple, list)) else ()
            except (ValueError, SyntaxError):
                return ()
    return ()


def _numeric_kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    return None


def discover_controls(blocks: Iterable[Block], extra: Iterable[tuple[str, str]] = ()) -> list[ControlSpec]:
    """The controls for a flowgraph's blocks (``fg.blocks.values()``), in catalog order, then
    the ``extra`` (block name, parameter) pairs the caller asks for.

    A catalog parameter with ``needs`` only counts on blocks that also have that parameter
    (``model`` is a channel type only on a block with ``snr_db``); steps-like parameters only
    on denoiser-like blocks; string parameters become choices when their choices can be found
    (else they are left out); parameters with no usable kind are left out.
    """
    blocks = list(blocks)
    by_param: dict[str, list[Block]] = {}
    for b in blocks:
        params = b.params
        denoiser = is_denoiser_block(b)
        for name in params:
            entry = CONTROL_CATALOG.get(name)
            if entry is None or name in EXCLUDED_PARAMS:
                continue
            if entry.get("needs") and entry["needs"] not in params:
                continue
            if entry.get("denoiser_only") and not denoiser:
                continue
            by_param.setdefault(name, []).append(b)
    wanted = [(n, None) for n in by_param]
    for bname, pname in extra:
        wanted.append((pname, bname))
    order = {name: i for i, name in enumerate(CONTROL_CATALOG)}
    wanted.sort(key=lambda t: order.get(t[0], len(order)))
    specs: list[ControlSpec] = []
    seen: set[tuple[str, tuple[str, ...]]] = set()
    named = {b.name: b for b in blocks}
    for pname, bname in wanted:
        targets = by_param.get(pname, []) if bname is None else [named[bname]] if bname in named else []
        targets = [t for t in targets if pname in t.params]
        if not targets:
            continue
        key = (pname, tuple(t.name for t in targets))
        if key in seen:
            continue
        seen.add(key)
        spec = _make_spec(pname, targets)
        if spec is not None:
            specs.append(spec)
    return specs


def _make_spec(pname: str, targets: list[Block]) -> ControlSpec | None:
    first = targets[0]
    values = [t.param(pname) for t in targets]
    value = next((v for v in values if v is not None), None)
    entry = dict(CONTROL_CATALOG.get(pname, {}))
    kind = entry.get("kind") or _numeric_kind(value)
    doc = first.param_docs().get(pname, "")
    label = entry.get("label", pname)
    tooltip = f"{doc} (blocks: {', '.join(t.name for t in targets)})".strip()
    if kind == "choice":
        choices = param_choices(first, pname)
        if not choices:
            if isinstance(value, str):
                choices = (value,)
            else:
                return None
        if value not in choices and value is not None:
            choices = (value, *choices)
        return ControlSpec(pname, [t.name for t in targets], label, "choice", value, tooltip, choices=choices)
    if kind in ("float", "int"):
        if value is not None and not isinstance(value, (int, float)):
            return None
        lo = float(entry.get("minimum", min(0.0, value or 0.0)))
        hi = float(entry.get("maximum", max(1.0, 4 * (value or 1.0))))
        if value is not None and math.isfinite(value):
            lo, hi = min(lo, float(value)), max(hi, float(value))
        return ControlSpec(pname, [t.name for t in targets], label, kind, value, tooltip, minimum=lo, maximum=hi,
                           step=float(entry.get("step", 0.5 if kind == "float" else 1)), unit=entry.get("unit", ""),
                           allow_none=bool(entry.get("allow_none", False)))
    if kind == "bool":
        if not isinstance(value, bool):
            return None
        return ControlSpec(pname, [t.name for t in targets], label, "bool", bool(value), tooltip)
    return None


def current_values(fg: Any, specs: list[ControlSpec]) -> dict[str, Any]:
    """Each control's current value: the parameter of its first target block (a control
    panel shows what the running flowgraph really uses, e.g. after a sweep changed it)."""
    out: dict[str, Any] = {}
    for spec in specs:
        b = fg.blocks.get(spec.targets[0]) if spec.targets else None
        if b is not None:
            try:
                out[spec.param] = b.param(spec.param)
            except KeyError:
                pass
    return out


def send_control(fg: Any, spec: ControlSpec, value: Any) -> None:
    """Post ``{spec.param: value}`` to the ``ctrl`` port of every target block of ``spec``."""
    for name in spec.targets:
        fg.post(name, "ctrl", spec.message(value))


__all__ = ["ControlSpec", "CONTROL_CATALOG", "STEP_PARAMS", "DENOISER_CHOICE_PARAMS", "EXCLUDED_PARAMS",
           "discover_controls",
           "param_choices", "is_denoiser_block", "send_control", "current_values"]
