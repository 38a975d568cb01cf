"""Typed training configs: the dataclass <-> command-line mapping of
:mod:`semradio.runtime.options`, and the resume signature of a run."""

from __future__ import annotations

from fractions import Fraction
from typing import Any, Sequence

from semradio.runtime.options import add_options, cli_fields, from_namespace, option, parse_fraction, to_argv


def signature(config: Any, keys: Sequence[str]) -> dict[str, Any]:
    """``{key: value}`` of the named fields, tuples as lists and fractions as text: what a
    resumable run stores to recognise its own settings."""
    out: dict[str, Any] = {}
    for k in keys:
        v = getattr(config, k)
        out[k] = str(v) if isinstance(v, Fraction) else list(v) if isinstance(v, tuple) else v
    return out


__all__ = ["option", "parse_fraction", "add_options", "from_namespace", "to_argv", "cli_fields", "signature"]
