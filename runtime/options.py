"""Typed configs as command lines: one dataclass per flowgraph, trainer or tool, its
command-line options generated from the fields.

A field declared with :func:`option` carries its flag, help, choices and ``nargs``; every other
field gets ``--field-name`` from its name. :func:`add_options` adds the options of a dataclass to
an ``argparse`` parser (the standard library's; this module adds only the mapping from fields to
options, which argparse lacks), :func:`from_namespace` builds the dataclass back from the parsed
namespace, and :func:`to_argv` writes a config as the shortest command line that rebuilds it
(the fields that differ from their defaults), which trainers record in their checkpoints.

    >>> from dataclasses import dataclass
    >>> @dataclass
    ... class Demo:
    ...     steps: int = option(100, help="optimizer steps")
    ...     snr_db: tuple[float, float] = option((0.0, 20.0), nargs=2, metavar=("LO", "HI"))
    >>> import argparse
    >>> p = argparse.ArgumentParser(); add_options(p, Demo)
    >>> cfg = from_namespace(Demo, p.parse_args(["--steps", "5"]))
    >>> cfg, to_argv(cfg)
    (Demo(steps=5, snr_db=(0.0, 20.0)), ['--steps', '5'])
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from fractions import Fraction
from typing import Any, Callable, Sequence, TypeVar

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def option(default: Any = _MISSING, *, help: str = "", flag: str | None = None,  # noqa: A002 - argparse's word
           choices: Sequence[Any] | None = None, nargs: int | str | None = None, metavar: Any = None,
           type: Callable[[str], Any] | None = None, cli: bool = True) -> Any:  # noqa: A002
    """A dataclass field with its command-line option.

    Args:
        default: the default (lists and dicts are copied per instance); omit for a required option.
        help: the option's help text.
        flag: the option string (default ``--`` + the field name with ``_`` -> ``-``).
        choices, nargs, metavar, type: as for ``argparse.add_argument`` (``type`` defaults to the
            field's annotation: int, float, str, bool -> a ``store_true`` flag, Fraction, or the
            element type of a tuple/list; a float must be finite, see
            :mod:`semradio.runtime.arguments` for checks such as ``positive_int``).
        cli: False keeps the field out of the command line (set from Python only).
    """
    meta = {"help": help, "flag": flag, "choices": choices, "nargs": nargs, "metavar": metavar, "type": type,
            "cli": cli}
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda d=default: type_copy(d), metadata=meta)
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def type_copy(value: Any) -> Any:
    """A shallow copy of a list/dict/set default."""
    return type(value)(value)


def parse_fraction(text: str) -> Fraction:
    """``"1/6"`` or ``"0.1666"`` -> Fraction (denominators <= 1000)."""
    try:
        return Fraction(text).limit_denominator(1000)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"not a ratio: {text!r} (use e.g. 1/6)") from None


def _scalar_type(tp: Any) -> Callable[[str], Any] | None:
    """The argparse ``type`` for an annotation (None for str)."""
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return _scalar_type(args[0]) if args else None
    if origin in (tuple, list):
        args = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return _scalar_type(args[0]) if args else None
    if tp is Fraction:
        return parse_fraction
    if tp is float:
        from semradio.runtime.arguments import finite_float

        return finite_float
    if tp is int:
        return int
    return None


def _is_bool(tp: Any) -> bool:
    return tp is bool


def _flag(f: dataclasses.Field) -> str:
    return f.metadata.get("flag") or "--" + f.name.replace("_", "-")


def cli_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of a dataclass that appear on the command line."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", True)]


def add_options(parser: argparse.ArgumentParser, cls: type, defaults: dict[str, Any] | None = None) -> None:
    """Add one option per command-line field of dataclass ``cls`` to ``parser`` (``defaults``
    overrides field defaults, e.g. a flowgraph that runs batch 1 by default)."""
    hints = typing.get_type_hints(cls)
    defaults = defaults or {}
    for f in cli_fields(cls):
        tp = hints[f.name]
        meta = f.metadata
        if f.name in defaults:
            default = defaults[f.name]
        elif f.default is not _MISSING:
            default = f.default
        elif f.default_factory is not _MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = _MISSING
        kw: dict[str, Any] = {"dest": f.name, "help": meta.get("help") or None}
        if _is_bool(tp) and meta.get("nargs") is None:
            kw["action"] = "store_true"
            kw["default"] = bool(default) if default is not _MISSING else False
            parser.add_argument(_flag(f), **kw)
            continue
        conv = meta.get("type") or _scalar_type(tp)
        if conv is not None:
            kw["type"] = conv
        for key in ("choices", "nargs", "metavar"):
            if meta.get(key) is not None:
                kw[key] = meta[key]
        if kw.get("nargs") is None and typing.get_origin(tp) in (tuple, list):
            kw["nargs"] = "+"
        if default is _MISSING:
            kw["required"] = True
        else:
            kw["default"] = default
        parser.add_argument(_flag(f), **kw)


def from_namespace(cls: type[T], ns: argparse.Namespace, **overrides: Any) -> T:
    """The dataclass ``cls`` from a namespace parsed with :func:`add_options` (sequences become
    tuples where the field is a tuple); ``overrides`` set fields directly."""
    hints = typing.get_type_hints(cls)
    kw: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name in overrides:
            kw[f.name] = overrides[f.name]
        elif hasattr(ns, f.name):
            v = getattr(ns, f.name)
            if isinstance(v, list) and typing.get_origin(hints[f.name]) is tuple:
                v = tuple(v)
            kw[f.name] = v
    return cls(**kw)  # type: ignore[call-arg]


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not _MISSING:
        return f.default
    if f.default_factory is not _MISSING:  # type: ignore[misc]
        return f.default_factory()  # type: ignore[misc]
    return _MISSING


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _text(v: Any) -> str:
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    if isinstance(v, float) and v.is_integer():
        return f"{v:g}" if abs(v) < 1e16 else repr(v)
    return str(v)


def to_argv(config: Any) -> list[str]:
    """The options that rebuild ``config`` from its class defaults (fields equal to their default
    are left out; ``cli=False`` fields are not representable and left out)."""
    hints = typing.get_type_hints(type(config))
    argv: list[str] = []
    for f in cli_fields(type(config)):
        v = getattr(config, f.name)
        d = _default_of(f)
        if d is not _MISSING and _same(v, d):
            continue
        if _is_bool(hints[f.name]) and f.metadata.get("nargs") is None:
            if v:
                argv.append(_flag(f))
            continue
        if v is None:
            continue
        argv.append(_flag(f))
        if isinstance(v, (list, tuple)):
            argv += [_text(x) for x in v]
        else:
            argv.append(_text(v))
    return argv


__all__ = ["option", "parse_fraction", "add_options", "from_namespace", "to_argv", "cli_fields"]
