"""Command-line mistakes as one line: the parser every ``semradio`` entry point uses, and the
``type=`` checks of its options.

A mistake on the command line (an unknown codec, a missing file, ``--batch 0``, ``--snr-db nan``)
prints one line on stderr, ``PROG: error: WHAT (WHAT WOULD DO)``, and exits with status 2 before
anything starts. :class:`OneLineParser` is ``argparse.ArgumentParser`` whose ``error()`` prints
that line without the usage block; the functions below are ``type=`` converters that raise
``argparse.ArgumentTypeError`` naming the bad value and what is accepted (argparse prefixes the
option); :mod:`semradio.models.arguments` adds the checks of dataset specs and checkpoint names.
A check that needs several options at once raises :class:`CommandLineError` after
parsing; :func:`fail` prints it the same way.

    >>> p = OneLineParser(prog="demo")
    >>> _ = p.add_argument("--batch", type=positive_int, default=1)
    >>> p.parse_args(["--batch", "3"]).batch
    3
    >>> positive_int("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 0 is not a positive integer (use 1, 2, ...)
    >>> finite_float("nan")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: 'nan' is not a finite number (use e.g. 10 or -3.5)
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Callable, NoReturn


class CommandLineError(ValueError):
    """A mistake in the command line found after parsing (e.g. two options that do not go
    together); the message names the option, the bad value and what is accepted."""


def one_line(message: str) -> str:
    """``message`` with its line breaks and runs of blanks folded into single spaces."""
    return " ".join(str(message).split())


def fail(prog: str, message: str) -> NoReturn:
    """Print ``PROG: error: MESSAGE`` as one line on stderr and exit with status 2."""
    sys.stderr.write(f"{prog}: error: {one_line(message)}\n")
    sys.stderr.flush()
    raise SystemExit(2)


class OneLineParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose errors are one line on stderr (``PROG: error: ...``,
    exit status 2), without the usage block (``--help`` still shows it).

    Sub-parsers made with ``add_subparsers`` are of this class too.
    """

    def error(self, message: str) -> NoReturn:  # noqa: D102 - argparse's hook
        fail(self.prog, message)


def _number(text: str, kind: Callable[[str], float | int], what: str, example: str) -> float | int:
    try:
        return kind(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"{text!r} is not {what} (use {example})") from None


def positive_int(text: str) -> int:
    """An integer >= 1 (``--batch``, ``--workers``)."""
    v = int(_number(text, int, "an integer", "1, 2, ..."))
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} is not a positive integer (use 1, 2, ...)")
    return v


def nonnegative_int(text: str) -> int:
    """An integer >= 0."""
    v = int(_number(text, int, "an integer", "0, 1, 2, ..."))
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} is negative (use 0, 1, 2, ...)")
    return v


def frame_count(text: str) -> int:
    """A frame count: ``n >= 1`` frames, ``0`` one pass over the data, ``-1`` forever."""
    v = int(_number(text, int, "an integer", "-1 (forever), 0 (one pass over the data) or a count"))
    if v < -1:
        raise argparse.ArgumentTypeError(f"{v} is not a frame count (use -1 (forever), 0 (one pass over the data) "
                                         "or a count)")
    return v


def finite_float(text: str) -> float:
    """A finite real number (``nan`` and ``inf`` are mistakes on a command line)."""
    v = float(_number(text, float, "a number", "e.g. 10 or -3.5"))
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number (use e.g. 10 or -3.5)")
    return v


def db_or_inf(text: str) -> float:
    """A finite number of dB, or ``inf`` (no noise: a noiseless link); ``nan`` and ``-inf`` are
    mistakes."""
    v = float(_number(text, float, "a number", "e.g. 10 or inf"))
    if math.isnan(v) or v == -math.inf:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of dB (use e.g. 10, -3.5 or inf)")
    return v


def positive_float(text: str) -> float:
    """A finite number > 0 (seconds, frames/s, rates)."""
    v = finite_float(text)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number (use e.g. 0.5 or 30)")
    return v


def ratio(text: str) -> str:
    """A positive ratio such as ``1/6`` or ``0.25``, kept as written (CBR labels)."""
    from fractions import Fraction

    try:
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a ratio (use e.g. 1/6 or 1/12)") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive ratio (use e.g. 1/6 or 1/12)")
    return text


def existing_file(text: str) -> str:
    """The path of a file that exists."""
    if not os.path.isfile(text):
        what = "is a folder, not a file" if os.path.isdir(text) else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r} {what} (give the path of an existing file)")
    return text


def existing_dir(text: str) -> str:
    """The path of a folder that exists."""
    if not os.path.isdir(text):
        what = "is a file, not a folder" if os.path.isfile(text) else "does not exist"
        raise argparse.ArgumentTypeError(f"{text!r} {what} (give the path of an existing folder)")
    return text


def output_file(text: str) -> str:
    """A file to write: its folder must exist (the file itself may not yet)."""
    parent = os.path.dirname(os.path.abspath(text))
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text!r} is a folder (give a file name)")
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text!r}: folder {parent!r} does not exist (create it first)")
    return text


def choice_of(names: Callable[[], list[str]] | list[str], what: str) -> Callable[[str], str]:
    """A ``type=`` accepting one of ``names`` (a list, or a function giving it, called only when
    the option is used)."""

    def check(text: str) -> str:
        known = names() if callable(names) else names
        if text not in known:
            raise argparse.ArgumentTypeError(f"unknown {what} {text!r} (use one of: {', '.join(map(str, known))})")
        return text

    check.__name__ = what.replace(" ", "_")
    return check


__all__ = ["CommandLineError", "OneLineParser", "db_or_inf", "fail", "one_line", "positive_int", "nonnegative_int",
           "frame_count", "finite_float", "positive_float", "ratio", "existing_file", "existing_dir", "output_file",
           "choice_of"]
