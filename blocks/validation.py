"""Input checks and parameter converters shared by the channel-side blocks.

Every check raises ``ValueError`` whose message starts with the block's class and name, so the
runtime's flowgraph error names the block (and the frame's ``seq``) and says what was wrong.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from semradio.runtime import Block

from semradio.dsp import arrays as A
def block_error(block: Block, message: str) -> ValueError:
    """``ValueError("<Class> '<name>': <message>")``."""
    return ValueError(f"{type(block).__name__} {block.name!r}: {message}")


def snr_tag(block: Block, snr: Any, lo: float = -math.inf, hi: float = math.inf) -> float:
    """A frame's ``snr_db`` tag as a float clipped to [lo, hi] dB; ValueError naming the block for
    a value that is not a number, or NaN (``inf`` clips to ``hi``)."""
    try:
        snr = float(snr)
    except (TypeError, ValueError):
        raise block_error(block, f"tag snr_db must be a number, got {snr!r:.40}") from None
    if math.isnan(snr):
        raise block_error(block, "tag snr_db is NaN")
    return min(max(snr, lo), hi)


def check_payload(block: Block, data: Any, *, dtype: str, port: str = "in", ndim: int = 2,
                  even: bool = False, finite: bool = True) -> None:
    """Check a frame payload: numpy/torch array of ``dtype`` with ``ndim`` dims (B, n), a
    non-empty last axis (even if ``even``), and (if ``finite``) no NaN/inf."""
    if not (A.is_torch(data) or hasattr(data, "dtype")):
        raise block_error(block, f"input {port!r} must be a numpy array or torch tensor, got {type(data).__name__}")
    got = A.dtype_name(data)
    if got != dtype:
        raise block_error(block, f"input {port!r} must be {dtype}, got {got} with shape {tuple(data.shape)}")
    if data.ndim != ndim:
        raise block_error(block, f"input {port!r} must have shape (B, n) ({ndim} dims), got {tuple(data.shape)}")
    if data.shape[-1] == 0 or data.shape[0] == 0:
        raise block_error(block, f"input {port!r} is empty: shape {tuple(data.shape)}")
    if even and data.shape[-1] % 2:
        raise block_error(block, f"input {port!r} must have an even length 2k, got shape {tuple(data.shape)}")
    if finite and not A.all_finite(data):
        raise block_error(block, f"input {port!r} holds NaN or inf values")


# ------------------------------------------------------------------------ param converters
def to_float(name: str, *, minimum: float | None = None, strict_min: bool = False,
             allow_inf: bool = False, allow_neg_inf: bool = False) -> Callable[[Any], float]:
    """Converter: a real number, not NaN, optionally bounded below and allowed to be +inf."""

    def convert(value: Any) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if math.isnan(v):
            raise ValueError(f"{name} must not be NaN")
        if math.isinf(v) and not ((v > 0 and allow_inf) or (v < 0 and allow_neg_inf)):
            raise ValueError(f"{name} must be finite, got {v}")
        if minimum is not None and (v < minimum or (strict_min and v == minimum)):
            raise ValueError(f"{name} must be {'>' if strict_min else '>='} {minimum}, got {v}")
        return v

    return convert


def to_optional_float(name: str, **kw: Any) -> Callable[[Any], float | None]:
    """Converter: None or :func:`to_float`."""
    inner = to_float(name, **kw)
    return lambda value: None if value is None else inner(value)


def to_choice(name: str, choices: tuple[str, ...]) -> Callable[[Any], str]:
    """Converter: one of ``choices`` (case-insensitive)."""

    def convert(value: Any) -> str:
        v = str(value).lower()
        if v not in choices:
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        return v

    return convert


def to_optional_int(name: str, minimum: int = 1) -> Callable[[Any], int | None]:
    """Converter: None or an integer >= ``minimum``."""

    def convert(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(f"{name} must be an integer or None, got {value!r}")
        if int(value) < minimum:
            raise ValueError(f"{name} must be >= {minimum}, got {value}")
        return int(value)

    return convert


def to_seed(value: Any) -> int | None:
    """Converter: None (fresh entropy) or a non-negative integer seed."""
    if value is None:
        return None
    if isinstance(value, bool) or int(value) != value or int(value) < 0:
        raise ValueError(f"seed must be a non-negative integer or None, got {value!r}")
    return int(value)


def to_bool(value: Any) -> bool:
    """Converter: a bool (also 0/1, "true"/"false")."""
    if isinstance(value, str):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a boolean, got {value!r}")
    return bool(value)


def to_int(name: str, minimum: int | None = None, maximum: int | None = None) -> Callable[[Any], int]:
    """Converter: an integer (not a bool), optionally bounded."""

    def convert(value: Any) -> int:
        try:
            ok = not isinstance(value, bool) and int(value) == value
        except (TypeError, ValueError, OverflowError):
            ok = False
        if not ok:
            raise ValueError(f"{name} must be an integer, got {value!r}")
        v = int(value)
        if (minimum is not None and v < minimum) or (maximum is not None and v > maximum):
            raise ValueError(f"{name} must be in [{minimum}, {maximum}], got {v}")
        return v

    return convert
