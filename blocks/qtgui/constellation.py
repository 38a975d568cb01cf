"""ConstellationScope: received vs equalized vs denoised symbols in the complex plane."""

from __future__ import annotations

from typing import Any

import numpy as np

from semradio.runtime import Frame

from semradio.dsp import arrays as A
from .arrays import check_array, constellation_points
from .base import ScopeBlock, ScopeInputError

#: Input ports of the constellation scope, in drawing order.
CONSTELLATION_PORTS = ("received", "equalized", "denoised")


class ConstellationScope(ScopeBlock):
    """Constellation scope: the symbols of up to three points of the chain, overlaid.

    Inputs (all optional, aligned by ``seq``; connect at least one, through real-time edges):
        ``received``: the channel output y_c, complex64 (B, k) (numpy or torch, any device);
        ``equalized``: the equalizer output, real float32 (B, 2k) ``[Re; Im]`` or complex (B, k);
        ``denoised``: a denoiser output, same forms as ``equalized``.
    Real payloads are read as ``x_c = x[:k] + j x[k:]`` per item (the project's real form).
    Tags read: ``snr_db``, ``sinr_db``, ``channel``, ``equalizer``, ``denoiser`` (shown in the
    title). Parameters: ``max_points`` (points drawn per input, 2048; settable at run time).

    What is drawn (by :class:`semradio.blocks.qtgui.qt.ConstellationView`): in-phase (x) vs
    quadrature (y) component, unit-power scale (QPSK points at (+-1 +-j)/sqrt(2)), one colour
    per connected input, at most ``max_points`` points of the newest frame each, as a 2-D
    histogram picture.
    Bad input (non-array, empty, integer dtype, odd real length) is counted in
    :attr:`rejected` and dropped.
    """

    scope_kind = "constellation"

    def __init__(self, max_points: int = 4096, max_rate_hz: float | None = None,
                 name: str | None = None) -> None:
        super().__init__(name, max_rate_hz)
        for port in CONSTELLATION_PORTS:
            self.add_input(port, dtype=None, optional=True)
        self.declare_param("max_points", int(max_points), "points drawn per input (newest frame)",
                           _positive_int)

    def accept(self, *frames: Frame | None) -> dict[str, Any]:  # type: ignore[override]
        data: dict[str, Any] = {}
        tags: dict[str, Any] = {}
        for port, frame in zip(CONSTELLATION_PORTS, frames):
            if frame is None:
                continue
            d = frame.data
            check_array(d, port, min_ndim=2)
            if not A.is_complex(d) and int(np.prod(tuple(d.shape[1:]))) % 2:
                raise ScopeInputError("shape", f"input {port!r}: real symbols need an even length, "
                                               f"got {tuple(d.shape)}")
            data[port] = d
            if not tags:
                tags = frame.tags
        return {"data": data, "tags": {k: tags[k] for k in ("seq", "snr_db", "sinr_db", "channel", "channel_model",
                                                             "fading", "pz", "equalizer", "denoiser") if k in tags}}

    def points(self) -> tuple[int, dict[str, np.ndarray], dict[str, Any]]:
        """``(version, {port: complex64 points}, tags)`` of the newest frame, decimated to
        ``max_points`` per port (GUI thread; inputs that fail conversion are counted and
        left out)."""
        version, item = self.latest()
        out: dict[str, np.ndarray] = {}
        n = self.param("max_points")
        for port, d in item.get("data", {}).items():
            try:
                out[port] = constellation_points(d, n)
            except Exception as exc:  # noqa: BLE001 - bad data never crashes the GUI
                self.rejected.add(f"render:{type(exc).__name__}", detail=str(exc))
        return version, out, dict(item.get("tags", {}))


def _positive_int(v: Any) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(f"must be >= 1, got {v!r}")
    return n


__all__ = ["ConstellationScope", "CONSTELLATION_PORTS"]
