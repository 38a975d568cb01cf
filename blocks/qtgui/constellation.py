"""ConstellationScope: received vs equalized vs denoised symbols in the complex plane, or the
equalized and denoised symbols against the transmitted ones."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semradio.runtime import Frame

from semradio.dsp import arrays as A
from .arrays import as_complex_items, check_array, constellation_points, decimate
from .base import ScopeBlock, ScopeInputError

#: Input ports of the constellation scope drawn as symbols, in drawing order.
CONSTELLATION_PORTS = ("received", "equalized", "denoised")
#: The optional reference input: the transmitted symbols (e.g. the power normalizer's output).
TRANSMITTED_PORT = "transmitted"
#: Estimates drawn against the transmitted symbols when they are connected.
ESTIMATE_PORTS = ("equalized", "denoised")


class ConstellationScope(ScopeBlock):
    """Constellation scope: the symbols of up to three points of the chain, overlaid, or the
    equalized and denoised symbols against the transmitted ones.

    What is drawn (by :class:`semradio.blocks.qtgui.qt.ConstellationView`), one colour per
    input (received grey, equalized cyan, denoised orange), at most ``max_points`` points of
    the newest frame each, as a 2-D histogram picture:

    * without ``transmitted``: in-phase (x) vs quadrature (y) component, unit-power scale
      (QPSK points at (+-1 +-j)/sqrt(2));
    * with ``transmitted`` (and an estimate of the same size): every real component of the
      estimate (y) against the transmitted component it estimates (x), so a perfect receiver
      draws the diagonal y = x and the spread around it is the error; the caption gives each
      estimate's latent MSE ``10 log10 mean((x_hat - x)^2)`` over the whole frame (dB), so a
      denoiser's effect reads as a tighter cloud and a lower MSE. (JSCC latents are
      Gaussian-like: their I/Q constellation is a shapeless cloud whatever the SNR.)

    Parameters
    ----------
    max_points : int, default 4096
        Points drawn per input (newest frame). Settable at run time.
    max_rate_hz : float, optional
        Frames accepted per second at most (None: 10; see :class:`ScopeBlock`). Settable at run
        time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        At construction or when set, for ``max_points < 1`` or ``max_rate_hz <= 0``. Bad input
        (non-array, empty, integer dtype, odd real length) never raises: it is counted in
        :attr:`rejected` and dropped.

    Notes
    -----
    **Inputs**

    All optional, aligned by ``seq``; connect at least one, through real-time edges:

    ``received`` : complex64 (B, k)
        The channel output y_c (numpy or torch, any device).
    ``equalized`` : float32 (B, 2k) or complex (B, k)
        The equalizer output, real ``[Re; Im]`` or complex.
    ``denoised`` : float32 (B, 2k) or complex (B, k)
        A denoiser output, same forms as ``equalized``.
    ``transmitted`` : float32 (B, 2k) or complex (B, k)
        The transmitted symbols x (same forms), e.g. the power normalizer's output.

    Real payloads are read as ``x_c = x[:k] + j x[k:]`` per item (the project's real form).

    **Outputs**

    None (a sink).

    **Tags read**

    - ``snr_db``, ``sinr_db``, ``channel``, ``equalizer``, ``denoiser`` (shown in the title;
      also kept: ``seq``, ``channel_model``, ``fading``, ``pz``).

    **Tags written**

    None.

    **Run-time parameters**

    ``max_points``, ``max_rate_hz``.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Frame
    >>> from semradio.blocks.qtgui import ConstellationScope
    >>> cs = ConstellationScope(max_rate_hz=float("inf"))
    >>> x = np.ones((2, 8), np.complex64) / np.sqrt(2)
    >>> _ = cs.work(None, Frame.new(np.hstack([x.real, x.imag]) * 0.9, seq=0), None, Frame.new(x, seq=0))
    >>> _, pts, tags = cs.points()
    >>> tags["versus"], round(tags["mse_db_equalized"], 1)
    ('transmitted', -26.0)
    """

    scope_kind = "constellation"

    def __init__(self, max_points: int = 4096, max_rate_hz: float | None = None,
                 name: str | None = None) -> None:
        super().__init__(name, max_rate_hz)
        for port in (*CONSTELLATION_PORTS, TRANSMITTED_PORT):
            self.add_input(port, dtype=None, optional=True)
        self.declare_param("max_points", int(max_points), "points drawn per input (newest frame)",
                           _positive_int)

    def accept(self, *frames: Frame | None) -> dict[str, Any]:  # type: ignore[override]
        data: dict[str, Any] = {}
        tags: dict[str, Any] = {}
        for port, frame in zip((*CONSTELLATION_PORTS, TRANSMITTED_PORT), frames):
            if frame is None:
                continue
            d = frame.data
            check_array(d, port, min_ndim=2)
            if not A.is_complex(d) and int(np.prod(tuple(d.shape[1:]))) % 2:
                raise ScopeInputError("shape", f"input {port!r}: real symbols need an even length, "
                                               f"got {tuple(d.shape)}")
            data[port] = d
            if not tags and port != TRANSMITTED_PORT:
                tags = frame.tags
        return {"data": data, "tags": {k: tags[k] for k in ("seq", "snr_db", "sinr_db", "channel", "channel_model",
                                                             "fading", "pz", "equalizer", "denoiser") if k in tags}}

    def points(self) -> tuple[int, dict[str, np.ndarray], dict[str, Any]]:
        """``(version, {port: complex64 points}, tags)`` of the newest frame, decimated to
        ``max_points`` per port (GUI thread; inputs that fail conversion are counted and
        left out).

        With the ``transmitted`` input and at least one estimate of its size, the points are
        ``x + j x_hat`` per real component (transmitted on the real axis, estimate on the
        imaginary one) for the estimates only, and the tags get ``versus="transmitted"`` and
        ``mse_db_<port>`` (the latent MSE of each estimate over the whole frame, dB)."""
        version, item = self.latest()
        out: dict[str, np.ndarray] = {}
        n = self.param("max_points")
        data = dict(item.get("data", {}))
        tags = dict(item.get("tags", {}))
        tx = data.pop(TRANSMITTED_PORT, None)
        if tx is not None:
            try:
                versus = _versus_transmitted(tx, {p: data[p] for p in ESTIMATE_PORTS if p in data}, n)
            except Exception as exc:  # noqa: BLE001 - bad data never crashes the GUI
                self.rejected.add(f"render:{type(exc).__name__}", detail=str(exc))
                versus = None
            if versus:
                points, mse = versus
                tags["versus"] = TRANSMITTED_PORT
                tags.update({f"mse_db_{p}": v for p, v in mse.items()})
                return version, points, tags
        for port, d in data.items():
            try:
                out[port] = constellation_points(d, n)
            except Exception as exc:  # noqa: BLE001 - bad data never crashes the GUI
                self.rejected.add(f"render:{type(exc).__name__}", detail=str(exc))
        return version, out, tags


def real_components(data: Any) -> np.ndarray:
    """Symbols of each item as float64 (B, 2k) in the real form ``[Re; Im]`` (complex
    payloads are split, real ones kept)."""
    c = as_complex_items(data)
    return np.concatenate([c.real, c.imag], axis=1).astype(np.float64)


def _versus_transmitted(tx: Any, estimates: dict[str, Any],
                        max_points: int) -> tuple[dict[str, np.ndarray], dict[str, float]] | None:
    """Points ``x + j x_hat`` (decimated to ``max_points``) and latent MSE (dB, whole frame)
    of each estimate with the transmitted symbols' size; None when there is none."""
    x = real_components(tx)
    points: dict[str, np.ndarray] = {}
    mse: dict[str, float] = {}
    for port, est in estimates.items():
        e = real_components(est)
        if e.shape != x.shape:
            continue
        err = float(np.mean((e - x) ** 2))
        mse[port] = 10.0 * math.log10(err) if err > 0 else -math.inf
        points[port] = decimate((x + 1j * e).astype(np.complex64), max_points)
    return (points, mse) if points else None


def _positive_int(v: Any) -> int:
    n = int(v)
    if n < 1:
        raise ValueError(f"must be >= 1, got {v!r}")
    return n


__all__ = ["ConstellationScope", "CONSTELLATION_PORTS", "TRANSMITTED_PORT", "ESTIMATE_PORTS", "real_components"]
