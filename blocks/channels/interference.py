"""Interference channel: a desired link plus an interferer's symbols (eq. 1 of the ICDM paper; Pei et al.
eqs. 15-16).

Ports, tags and random streams are described in :mod:`semradio.blocks.channels.base`.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from semradio.blocks.channels.base import INTERFERENCE_STREAM, LINK_STREAM, _Channel
from semradio.blocks.validation import block_error, check_payload, to_bool, to_choice, to_optional_float, to_float, to_seed
from semradio.dsp import arrays as A
from semradio.dsp import channel as cm
from semradio.runtime import Frame

log = logging.getLogger("semradio")


class InterferenceChannel(_Channel):
    """Fading channel with an additive interferer (eq. 1 of the ICDM paper)::

        y_c = sqrt(Px) h_x x_c + sqrt(Pz) h_z z_c + n,   n ~ CN(0, s2)
        SNR = Px / s2,   SINR = Px / (Pz + s2)

    ``h_x`` and ``h_z`` are independent, each of a selectable model ("awgn" = 1, "rayleigh",
    "rician" with the block's ``k_factor``/``los_phase``), with the same fading mode
    (fast/block, ``coherence``). The receiver knows h_x (tag ``h``, with optional CSI error) but
    not h_z: it is emitted only as ``eval_h_z`` for evaluation.

    The interference ``z_c`` (scaled per item to unit average power when ``normalize_z``):

    * from the optional input ``z`` when it is connected (another encoder's frames, complex64
      (B, k), aligned by ``seq``);
    * else from the stored latent set ``latents`` when given (rows drawn uniformly per item;
      real (N, 2k) latents are mapped to complex as in :class:`PowerNormalizer`, complex (N, k)
      used as is; each row is normalized to unit power);
    * else ``z_c ~ CN(0, 1)`` (Gaussian interference; normalized per item too when
      ``normalize_z``, so every item has average power exactly 1 like an encoder's frames).

    Interference power: set either ``sinr_db`` (then ``Pz = Px/10^(sinr/10) - s2``; a SINR
    above the SNR cannot be met: Pz = 0 is sent, the ``sinr_db`` tag says so, and a warning is
    logged once) or ``pz`` directly; setting one at run time clears the other.
    With neither, Pz = 1. With Pz = 0 the output equals the plain channel of ``model`` with the
    same seed, bit for bit.

    Parameters
    ----------
    snr_db : float, default 10.0
        SNR ``Px/s2`` in dB (+inf: noiseless). Settable at run time.
    sinr_db : float, optional
        SINR ``Px/(Pz + s2)`` in dB (None: use ``pz``). Settable at run time.
    pz : float, optional
        Interference power Pz (None: from ``sinr_db``; neither given: 1). Settable at run time.
    model : {"awgn", "rayleigh", "rician"}, default "rayleigh"
        Fading model of h_x. Settable at run time.
    interferer_model : {"awgn", "rayleigh", "rician"}, optional
        Fading model of h_z (None: same as ``model``). Settable at run time.
    fading : {"fast", "block"}, default "fast"
        Fading mode of both gains, as :class:`RayleighChannel`. Settable at run time.
    coherence : int, optional
        Block fading: symbols per coherence block (None: one gain per item). Settable at run time.
    csi_error_var : float, default 0.0
        Variance of the CSI error on the emitted ``h``. Settable at run time.
    k_factor : float, default 10.0
        Rician K-factor (linear). Settable at run time.
    los_phase : float, default 0.0
        Rician line-of-sight phase (radians). Settable at run time.
    latents : array_like, optional
        Constructor only: a stored latent set to draw ``z_c`` from, (N, 2k) real or (N, k)
        complex (None: none).
    normalize_z : bool, default True
        Scale ``z_c`` per item to unit average power. Settable at run time.
    px : float, default 1.0
        Signal power Px. Settable at run time.
    seed : int, optional
        Random seed (None: fresh entropy). Settable at run time.
    keep_noise : bool, default False
        Emit the noise draw as tag ``eval_noise``. Settable at run time.
    check_finite : bool, default True
        Reject inputs holding NaN/inf. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape, NaN/inf, a ``z`` frame or latent set of
        another shape; at construction when both ``sinr_db`` and ``pz`` are given, or for a
        misshaped ``latents`` set.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Desired symbols ``x_c``.
    ``z`` (optional) : complex64 (B, k)
        Interferer's symbols ``z_c``, aligned by ``seq``.

    **Outputs**

    ``out`` : complex64 (B, k)
        ``y_c``, same container/device as ``in``.

    **Tags written**

    - Those of the plain channels with ``channel="interference"`` and the actual ``sinr_db``;
    - ``pz``, ``interference``, ``interferer_model``, ``eval_h_z``, ``eval_z``.

    Tags of the ``in`` frame pass through (those of the ``z`` frame do not).

    **Run-time parameters**

    All but ``latents``: ``snr_db``, ``sinr_db``, ``pz``, ``model``, ``interferer_model``,
    ``fading``, ``coherence``, ``csi_error_var``, ``k_factor``, ``los_phase``, ``normalize_z``,
    ``px``, ``seed``, ``keep_noise``, ``check_finite``.

    Examples
    --------
    >>> from semradio.blocks import InterferenceChannel
    >>> ch = InterferenceChannel(snr_db=20.0, sinr_db=0.0, model="rayleigh", seed=0)
    >>> [p.name for p in ch.inputs]                  # desired symbols, interferer's symbols
    ['in', 'z']
    """

    channel_name = "interference"

    def __init__(self, snr_db: float = 10.0, sinr_db: float | None = None, pz: float | None = None,
                 model: str = "rayleigh", interferer_model: str | None = None, fading: str = "fast",
                 coherence: int | None = None, csi_error_var: float = 0.0, k_factor: float = 10.0,
                 los_phase: float = 0.0, latents: Any = None, normalize_z: bool = True,
                 px: float = 1.0, seed: int | None = None, keep_noise: bool = False,
                 check_finite: bool = True, name: str | None = None) -> None:
        if sinr_db is not None and pz is not None:
            raise ValueError("InterferenceChannel: give sinr_db or pz, not both")
        if sinr_db is None and pz is None:
            pz = 1.0
        super().__init__(name, model=model, snr_db=snr_db, px=px, seed=seed, keep_noise=keep_noise,
                         check_finite=check_finite, fading=fading, coherence=coherence,
                         csi_error_var=csi_error_var, k_factor=k_factor, los_phase=los_phase)
        self.add_input("z", dtype="complex64", shape=(None,), optional=True)
        models = cm.FADING_MODELS
        self.declare_param("model", model, "fading model of h_x", to_choice("model", models))
        self.declare_param("interferer_model", interferer_model, "fading model of h_z (None: as model)",
                           lambda v: None if v is None else to_choice("interferer_model", models)(v))
        self.declare_param("sinr_db", sinr_db, "SINR Px/(Pz + s2) in dB (None: use pz)",
                           to_optional_float("sinr_db", allow_inf=True))
        self.declare_param("pz", pz, "interference power Pz (None: from sinr_db)",
                           to_optional_float("pz", minimum=0.0))
        self.declare_param("normalize_z", normalize_z, "scale z_c per item to unit average power", to_bool)
        self._latents = None if latents is None else self._prepare_latents(latents)
        self._sinr_warned: tuple[float, float] | None = None
        self._latents_on: dict[tuple[str, str], Any] = {}

    def _prepare_latents(self, latents: Any) -> np.ndarray:
        a = A.to_numpy(latents)
        if a.ndim != 2 or a.shape[0] == 0:
            raise block_error(self, f"latents must be (N, 2k) real or (N, k) complex, got shape {a.shape}")
        try:
            if np.iscomplexobj(a):
                return cm.normalize_complex_power(a.astype(np.complex64))
            if a.shape[1] % 2:
                raise ValueError(f"real latents need an even length 2k, got shape {a.shape}")
            return cm.normalize_power(a.astype(np.float32))
        except ValueError as exc:
            raise block_error(self, f"latents: {exc}") from None

    def on_param_change(self, name: str, value: Any) -> None:
        super().on_param_change(name, value)
        other = {"sinr_db": "pz", "pz": "sinr_db"}.get(name)
        if other is not None and value is not None:
            with self._param_lock:
                self._params[other].value = None

    def interference_power(self, p: dict[str, Any], noise_var: float) -> float:
        """Pz from the ``sinr_db`` or ``pz`` parameter (see the class docstring)."""
        if p["sinr_db"] is not None:
            try:
                return cm.interference_power_from_sinr(p["sinr_db"], noise_var, p["px"])
            except ValueError as exc:
                # A SINR above the SNR cannot be met (e.g. an SNR slider moved below the SINR
                # in a running graph): send no interference (SINR = SNR, stated in the
                # sinr_db tag) rather than stop the flowgraph, and warn once per setting.
                key = (p["sinr_db"], noise_var)
                if key != self._sinr_warned:
                    self._sinr_warned = key
                    log.warning("%s: %s; sending Pz = 0 (SINR = SNR)", self.name, exc)
                return 0.0
        return float(p["pz"] or 0.0)

    def _interference_symbols(self, x: Any, z_frame: Frame | None, gen: Any,
                              p: dict[str, Any]) -> tuple[Any, str]:
        batch, k = int(x.shape[0]), int(x.shape[1])
        if z_frame is not None:
            z = z_frame.data
            check_payload(self, z, dtype="complex64", port="z", finite=p["check_finite"])
            if tuple(z.shape) != (batch, k):
                raise block_error(self, f"input 'z' has shape {tuple(z.shape)}, expected {(batch, k)} like 'in'")
            z = A.as_like(z, x)
            source = "port"
        elif self._latents is not None:
            if self._latents.shape[1] != k:
                raise block_error(self, f"latent set has k = {self._latents.shape[1]} symbols, frames have k = {k}")
            key = A.backend_key(x)
            lat = self._latents_on.get(key)
            if lat is None:
                lat = self._latents_on[key] = A.as_like(self._latents, x)
            z = lat[A.uniform_integers(gen, lat.shape[0], batch, x)]
            return z, "latents"  # rows are unit power already
        else:
            z = A.complex_normal(gen, (batch, k), 1.0, x)
            source = "gaussian"
        if p["normalize_z"]:
            try:
                z = cm.normalize_complex_power(z)
            except ValueError as exc:
                raise block_error(self, f"input 'z': {exc}") from None
        return z, source

    def work(self, frame: Frame, z_frame: Frame | None = None) -> Frame:  # type: ignore[override]
        x = frame.data
        p = self.params
        self._check_in(x, p)
        model = p["model"]
        link = self._link(x, p, model)
        pz = self.interference_power(p, link.noise_var)
        gen = self._gens.get(INTERFERENCE_STREAM, x)
        z, source = self._interference_symbols(x, z_frame, gen, p)
        imodel = p["interferer_model"] or model
        batch, k = int(x.shape[0]), int(x.shape[1])
        if imodel == "awgn":
            h_z = None
        else:
            h_z = cm.expand_coherence(self._gains(imodel, gen, batch, k, link.coherence, p, x), k, link.coherence)
        w = cm.interference_term(h_z, z, pz) if pz > 0.0 else None
        y = cm.channel_output(x, link.h_true, link.noise, p["px"], w)
        tags = self._tags(link, p, model)
        tags.update(
            sinr_db=cm.sinr_db_of(p["px"], pz, link.noise_var),
            pz=pz,
            interference=source,
            interferer_model=imodel,
            eval_h_z=A.ones_complex((batch, k), x) if h_z is None else h_z,
            eval_z=z,
        )
        return frame.replace(y, **tags)


__all__ = ["InterferenceChannel"]
