"""Channel blocks: AWGN, Rayleigh, Rician and interference channels (seed 000 eq. 1; seed 003
eqs. 15-16), with fast or block fading, imperfect CSI and CSI tags for the equalizer.

All channels take complex64 symbols (B, k) (numpy or torch, any device; the output stays on it)
and emit ``y_c`` of the same shape plus these tags (keys of ``semradio.runtime.TAG_KEYS`` and
channel-specific ones):

============== =====================================================================
``h``          complex (B, k), the CSI known to the receiver (an estimate ``h + e`` with
               imperfect CSI; ones for AWGN); same container/device as the data
``noise_var``  float, s2 = E|n|^2 = Px / 10^(snr_db/10)
``snr_db``     float, configured SNR Px/s2
``sinr_db``    float, Px/(Pz + s2) (= ``snr_db`` for channels without interference)
``channel``    str, "awgn" | "rayleigh" | "rician" | "interference"
``channel_model`` str, fading model of the desired link h_x: "awgn" | "rayleigh" | "rician"
``px``         float, signal power Px
``fading``     str, "fast" | "block" (fading channels only)
``coherence``  int, symbols over which h is constant (1 = fast; k = one h per item)
``csi_error_var`` float, variance of the CSI error e (fading channels only)
``eval_h_true`` complex (B, k), the true h_x (evaluation only: a receiver must not use it)
``eval_noise`` complex (B, k), the noise draw n (only with ``keep_noise=True``)
============== =====================================================================

The interference channel adds ``pz`` (float), ``interference`` (its source: "port", "latents"
or "gaussian"), ``interferer_model`` and, for evaluation only, ``eval_h_z`` (the unknown h_z)
and ``eval_z`` (the power-normalized interference symbols z_c).

Random numbers come from independent, seeded streams per block (see
:class:`semradio.blocks.arrays.GeneratorPool`): the link stream draws h_x then n, the CSI
stream draws e, the interference stream draws z (or its latent index) then h_z. So the same
seed gives the same h_x and n whatever the CSI error or the interference, and an
:class:`InterferenceChannel` with Pz = 0 reproduces the plain channel exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from semradio.runtime import Block, Frame

from . import arrays as A
from . import channel_math as cm
log = logging.getLogger("semradio")

from .validation import (block_error, check_payload, to_bool, to_choice, to_float, to_optional_float,
                         to_optional_int, to_seed)

#: Tag keys written by the channel-side blocks (channels, equalizers, power normalizer), on top
#: of ``semradio.runtime.TAG_KEYS``. Keys starting with ``eval_`` are ground truth for
#: evaluation: a receiver block must not use them.
CHANNEL_TAG_KEYS: dict[str, str] = {
    "channel_model": "str, fading model of the desired link h_x: awgn | rayleigh | rician",
    "px": "float, signal power Px of eq. (1)",
    "pz": "float, interference power Pz of eq. (1) (interference channel)",
    "fading": "str, fast | block (| none for AWGN links of the interference channel)",
    "coherence": "int, symbols over which h is constant (1: fast fading, k: one h per item)",
    "csi_error_var": "float, variance of the CSI error e in h = h_true + e",
    "interference": "str, source of z_c: port | latents | gaussian",
    "interferer_model": "str, fading model of h_z",
    "eval_h_true": "complex (B, k), the true h_x",
    "eval_h_z": "complex (B, k), the interferer's gains h_z (unknown to the receiver)",
    "eval_z": "complex (B, k), the unit-power interference symbols z_c",
    "eval_noise": "complex (B, k), the noise draw n (keep_noise=True)",
    "tx_power": "float, average symbol power P set by the PowerNormalizer",
    "W_s": "float32 (B, 2k), Lemma 1 diagonal W_s = |h|^2/d (Re half, then Im half)",
    "W_n": "float32 (B, 2k), Lemma 1 diagonal W_n = |h|/d",
    "W_z": "float32 (B, 2k), Lemma 1 W_z, compact [Re c; Im c] with c = h/d (see channel_math)",
    "equalizer": "str, mmse | zf | identity (AWGN, Lemma 1)",
}

#: Generator streams of a channel block.
LINK_STREAM, CSI_STREAM, INTERFERENCE_STREAM = 0, 1, 2
FADING_MODES = ("fast", "block")


@dataclass(slots=True)
class LinkDraw:
    """One frame's draws for the desired link."""

    h_true: Any  # complex (B, k), None for AWGN (h = 1)
    h_est: Any   # complex (B, k): the CSI the receiver gets
    noise: Any   # complex (B, k)
    noise_var: float
    coherence: int


class _Channel(Block):
    """Shared machinery of the channel blocks (ports, params, link draws, tags)."""

    channel_name = "channel"

    def __init__(self, name: str | None, *, model: str, snr_db: float, px: float, seed: int | None,
                 keep_noise: bool, check_finite: bool, fading: str | None = None,
                 coherence: int | None = None, csi_error_var: float | None = None,
                 k_factor: float | None = None, los_phase: float | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="complex64", shape=(None,))
        self._model = model
        self.declare_param("snr_db", snr_db, "SNR Px/s2 in dB (+inf: noiseless)",
                           to_float("snr_db", allow_inf=True))
        self.declare_param("px", px, "signal power Px (y = sqrt(Px) h x + ...)",
                           to_float("px", minimum=0.0, strict_min=True))
        self.declare_param("seed", seed, "random seed (None: fresh entropy); setting it restarts the streams",
                           to_seed)
        self.declare_param("keep_noise", keep_noise, "emit the noise draw as tag eval_noise (costs memory)",
                           to_bool)
        self.declare_param("check_finite", check_finite, "reject inputs holding NaN/inf", to_bool)
        if fading is not None:
            self.declare_param("fading", fading, "fast (per symbol) or block fading", to_choice("fading", FADING_MODES))
            self.declare_param("coherence", coherence,
                               "block fading: symbols per coherence block (None: one h per item)",
                               to_optional_int("coherence"))
            self.declare_param("csi_error_var", csi_error_var, "variance of the CSI error e (h_est = h + e)",
                               to_float("csi_error_var", minimum=0.0))
        if k_factor is not None:
            self.declare_param("k_factor", k_factor, "Rician K-factor (linear; LOS/scattered power)",
                               to_float("k_factor", minimum=0.0, allow_inf=True))
            self.declare_param("los_phase", los_phase, "Rician line-of-sight phase (radians)",
                               to_float("los_phase"))
        self._gens = A.GeneratorPool(self.param("seed"))

    # ------------------------------------------------------------------ state
    def on_param_change(self, name: str, value: Any) -> None:
        if name == "seed":
            self._gens.reset(value)

    def start(self) -> None:
        self._gens.reset(self.param("seed"))

    # ------------------------------------------------------------------ draws
    def _coherence(self, p: dict[str, Any], k: int) -> int:
        if p.get("fading", "fast") == "fast":
            return 1
        return min(p["coherence"] or k, k)

    def _gains(self, model: str, gen: Any, batch: int, k: int, coherence: int, p: dict[str, Any],
               like: Any) -> Any:
        """Per-block gains (B, ceil(k/L)) of ``model``."""
        return cm.fading_gains(model, gen, (batch, cm.coherence_blocks(k, coherence)), like,
                               k_factor=p.get("k_factor", 0.0), los_phase=p.get("los_phase", 0.0))

    def _link(self, x: Any, p: dict[str, Any], model: str) -> LinkDraw:
        batch, k = int(x.shape[0]), int(x.shape[1])
        gen = self._gens.get(LINK_STREAM, x)
        s2 = cm.noise_var_from_snr(p["snr_db"], p["px"])
        if model == "awgn":
            h_true, h_est, coherence = None, A.ones_complex((batch, k), x), k
        else:
            coherence = self._coherence(p, k)
            hb = self._gains(model, gen, batch, k, coherence, p, x)
            eb = cm.csi_estimate(hb, self._gens.get(CSI_STREAM, x), p["csi_error_var"], x)
            h_true = cm.expand_coherence(hb, k, coherence)
            h_est = h_true if eb is hb else cm.expand_coherence(eb, k, coherence)
        noise = cm.complex_noise(gen, (batch, k), s2, x)
        return LinkDraw(h_true, h_est, noise, s2, coherence)

    def _tags(self, link: LinkDraw, p: dict[str, Any], model: str) -> dict[str, Any]:
        tags: dict[str, Any] = {
            "h": link.h_est,
            "noise_var": link.noise_var,
            "snr_db": p["snr_db"],
            "sinr_db": p["snr_db"],
            "channel": self.channel_name,
            "channel_model": model,
            "px": p["px"],
            "eval_h_true": link.h_est if link.h_true is None else link.h_true,
        }
        if "fading" in p:
            tags["fading"] = p["fading"] if model != "awgn" else "none"
            tags["coherence"] = link.coherence
            tags["csi_error_var"] = p["csi_error_var"] if model != "awgn" else 0.0
        if p["keep_noise"]:
            tags["eval_noise"] = link.noise
        return tags

    def _check_in(self, x: Any, p: dict[str, Any]) -> None:
        check_payload(self, x, dtype="complex64", finite=p["check_finite"])


class _PlainChannel(_Channel):
    """A channel without interference: ``y_c = sqrt(Px) h x_c + n``."""

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        x = frame.data
        p = self.params
        self._check_in(x, p)
        link = self._link(x, p, self._model)
        y = cm.channel_output(x, link.h_true, link.noise, p["px"])
        return frame.replace(y, **self._tags(link, p, self._model))


class AWGNChannel(_PlainChannel):
    """Additive white Gaussian noise: ``y_c = sqrt(Px) x_c + n``, ``n ~ CN(0, s2)``
    (seed 000 eq. 1 with h = 1, no interference).

    Inputs: ``in``: complex64 (B, k). Outputs: ``out``: complex64 (B, k), same container/device.
    Tags read: none. Tags written: ``h`` (ones), ``noise_var``, ``snr_db``, ``sinr_db``,
    ``channel="awgn"``, ``channel_model="awgn"``, ``px``, ``eval_h_true``, ``eval_noise`` (with
    ``keep_noise``); see the module docstring. Other tags pass through.
    Parameters (all settable at run time, e.g. ctrl ``{"snr_db": 5.0}``):
        ``snr_db`` (default 10; +inf = noiseless), ``px`` (default 1; s2 = Px/10^(snr/10)),
        ``seed`` (None = fresh entropy), ``keep_noise`` (False), ``check_finite`` (True).
    Errors: ValueError naming the block for a wrong dtype/shape or NaN/inf input.
    """

    channel_name = "awgn"

    def __init__(self, snr_db: float = 10.0, px: float = 1.0, seed: int | None = None,
                 keep_noise: bool = False, check_finite: bool = True, name: str | None = None) -> None:
        super().__init__(name, model="awgn", snr_db=snr_db, px=px, seed=seed, keep_noise=keep_noise,
                         check_finite=check_finite)


class RayleighChannel(_PlainChannel):
    """Rayleigh flat fading: ``y_c = sqrt(Px) h x_c + n``, ``h ~ CN(0, 1)``, ``n ~ CN(0, s2)``
    (seed 000 eq. 1, no interference).

    Fading: ``fading="fast"``: an independent h per symbol; ``fading="block"``: h constant
    over ``coherence`` consecutive symbols of an item (``coherence=None``: one h per item, i.e.
    per frame), independent across blocks and items. Imperfect CSI: the emitted ``h`` is
    ``h + e``, ``e ~ CN(0, csi_error_var)`` drawn once per coherence block; the true gains are
    in ``eval_h_true``.

    Inputs: ``in``: complex64 (B, k). Outputs: ``out``: complex64 (B, k), same container/device.
    Tags read: none. Tags written: ``h``, ``noise_var``, ``snr_db``, ``sinr_db``,
    ``channel="rayleigh"``, ``channel_model``, ``px``, ``fading``, ``coherence``,
    ``csi_error_var``, ``eval_h_true``, ``eval_noise`` (with ``keep_noise``). Others pass through.
    Parameters (settable at run time): ``snr_db`` (10), ``px`` (1), ``fading`` ("fast"),
    ``coherence`` (None), ``csi_error_var`` (0), ``seed`` (None), ``keep_noise`` (False),
    ``check_finite`` (True).
    Errors: ValueError naming the block for a wrong dtype/shape or NaN/inf input.
    """

    channel_name = "rayleigh"

    def __init__(self, snr_db: float = 10.0, fading: str = "fast", coherence: int | None = None,
                 csi_error_var: float = 0.0, px: float = 1.0, seed: int | None = None,
                 keep_noise: bool = False, check_finite: bool = True, name: str | None = None) -> None:
        super().__init__(name, model="rayleigh", snr_db=snr_db, px=px, seed=seed, keep_noise=keep_noise,
                         check_finite=check_finite, fading=fading, coherence=coherence,
                         csi_error_var=csi_error_var)


class RicianChannel(_PlainChannel):
    """Rician flat fading (seed 003 eqs. 15-16): ``y_c = sqrt(Px) h x_c + n`` with
    ``h = sqrt(K/(K+1)) e^{j phi} + sqrt(1/(K+1)) h_Rayleigh`` (E|h|^2 = 1; K = 0 is Rayleigh,
    K = inf a fixed phase rotation).

    Fading modes and imperfect CSI as :class:`RayleighChannel`.

    Inputs: ``in``: complex64 (B, k). Outputs: ``out``: complex64 (B, k), same container/device.
    Tags written: as :class:`RayleighChannel` with ``channel="rician"``. Others pass through.
    Parameters (settable at run time): ``snr_db`` (10), ``k_factor`` (K, linear, default 10),
    ``los_phase`` (phi, radians, 0), ``px`` (1), ``fading`` ("fast"), ``coherence`` (None),
    ``csi_error_var`` (0), ``seed`` (None), ``keep_noise`` (False), ``check_finite`` (True).
    Errors: ValueError naming the block for a wrong dtype/shape or NaN/inf input.
    """

    channel_name = "rician"

    def __init__(self, snr_db: float = 10.0, k_factor: float = 10.0, los_phase: float = 0.0,
                 fading: str = "fast", coherence: int | None = None, csi_error_var: float = 0.0,
                 px: float = 1.0, seed: int | None = None, keep_noise: bool = False,
                 check_finite: bool = True, name: str | None = None) -> None:
        super().__init__(name, model="rician", snr_db=snr_db, px=px, seed=seed, keep_noise=keep_noise,
                         check_finite=check_finite, fading=fading, coherence=coherence,
                         csi_error_var=csi_error_var, k_factor=k_factor, los_phase=los_phase)


class InterferenceChannel(_Channel):
    """Fading channel with an additive interferer (seed 000 eq. 1)::

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

    Inputs: ``in``: complex64 (B, k); ``z`` (optional): complex64 (B, k).
    Outputs: ``out``: complex64 (B, k), same container/device as ``in``.
    Tags written: those of the plain channels with ``channel="interference"`` and the actual
    ``sinr_db``, plus ``pz``, ``interference``, ``interferer_model``, ``eval_h_z``,
    ``eval_z``. Tags of the ``in`` frame pass through (those of the ``z`` frame do not).
    Parameters (settable at run time): ``snr_db`` (10), ``sinr_db`` (None), ``pz`` (None),
    ``model`` ("rayleigh"), ``interferer_model`` (None: same as ``model``), ``fading``
    ("fast"), ``coherence`` (None), ``csi_error_var`` (0), ``k_factor`` (10), ``los_phase`` (0),
    ``normalize_z`` (True), ``px`` (1), ``seed`` (None), ``keep_noise`` (False),
    ``check_finite`` (True). Constructor only: ``latents`` (array (N, 2k) real or (N, k)
    complex, or None).
    Errors: ValueError naming the block for wrong dtype/shape, NaN/inf, a ``z`` frame or latent
    set of another shape.
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


#: Channel classes by name (for scripts and sweeps).
CHANNELS: dict[str, type[_Channel]] = {
    "awgn": AWGNChannel,
    "rayleigh": RayleighChannel,
    "rician": RicianChannel,
    "interference": InterferenceChannel,
}


def make_channel(kind: str, **kwargs: Any) -> _Channel:
    """A channel block by name ("awgn", "rayleigh", "rician", "interference"); keyword
    arguments the chosen class does not take are ignored (so one CLI namespace fits all)."""
    import inspect

    try:
        cls = CHANNELS[kind]
    except KeyError:
        raise ValueError(f"unknown channel {kind!r}; expected one of {sorted(CHANNELS)}") from None
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in kwargs.items() if k in accepted})


__all__ = ["CHANNEL_TAG_KEYS", "AWGNChannel", "RayleighChannel", "RicianChannel", "InterferenceChannel", "CHANNELS",
           "make_channel", "LinkDraw", "LINK_STREAM", "CSI_STREAM", "INTERFERENCE_STREAM"]
