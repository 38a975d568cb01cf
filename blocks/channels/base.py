"""Channel blocks: AWGN, Rayleigh, Rician and interference channels (eq. 1 of the ICDM paper; Pei et al.
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
:class:`semradio.dsp.arrays.GeneratorPool`): the link stream draws h_x then n, the CSI
stream draws e, the interference stream draws z (or its latent index) then h_z. So the same
seed gives the same h_x and n whatever the CSI error or the interference, and an
:class:`InterferenceChannel` with Pz = 0 reproduces the plain channel exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


from semradio.blocks.validation import check_payload, to_bool, to_choice, to_float, to_optional_int, to_seed
from semradio.dsp import arrays as A
from semradio.dsp import channel as cm
from semradio.runtime import Block, Frame

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
class FrameDraws:
    """One frame's draws for the desired link (the channel blocks' own record; the training
    link's :class:`semradio.models.link.LinkDraw` is a whole simulated transmission)."""

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

    def _link(self, x: Any, p: dict[str, Any], model: str) -> FrameDraws:
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
        return FrameDraws(h_true, h_est, noise, s2, coherence)

    def _tags(self, link: FrameDraws, p: dict[str, Any], model: str) -> dict[str, Any]:
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


__all__ = ["CHANNEL_TAG_KEYS", "FADING_MODES", "FrameDraws", "LINK_STREAM", "CSI_STREAM", "INTERFERENCE_STREAM"]
