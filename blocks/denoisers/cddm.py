"""CDDM channel denoiser block (Wu et al., *CDDM: Channel Denoising Diffusion Models for Wireless
Semantic Communications*, IEEE TWC 2024; see docs/references.md)."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from semradio.runtime import Frame, SyncBlock

from semradio.dsp import arrays as A
from semradio.blocks.denoisers.io import as_float_tensor
from semradio.blocks.validation import block_error, to_choice

#: Shipped CDDM per channel (for the natural-patch CBR 1/6 codecs).
DEFAULT_CDDM = {"awgn": "cddm_natural32_awgn_cbr1-6", "rayleigh": "cddm_natural32_rayleigh_cbr1-6"}


class CDDMDenoiser(SyncBlock):
    """Removes channel noise from the MMSE equalizer's output with a channel denoising
    diffusion model.

    With ``y = W_s x + W_n n`` (Lemma 1 of the ICDM paper, tags from :class:`MMSEEqualizer`), the block
    rescales to unit per-component power (``y~ = sqrt(2) y``), starts the reverse process at
    ``x_m = y~ / sqrt(1 + s2)`` with m the step whose ``abar_m`` matches ``1/(1 + s2)``
    (KL-matched), and runs the CDDM rule ``x_{t-1} = (x_t - (1 - alpha_t) W_n eps_theta /
    sqrt(1 - abar_t)) / sqrt(alpha_t)`` (or DDIM) down to t = 0, or takes one Tweedie step
    ``E[x_0 | x_m]`` (rule "tweedie", 1 network evaluation); the output is the estimate of
    ``W_s x`` in the equalizer's scale (see :mod:`semradio.models.cddm`).

    Parameters
    ----------
    model : str, default "cddm_natural32_rayleigh_cbr1-6"
        Shipped name or checkpoint path.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the network runs.
    rule : {"cddm", "ddim", "tweedie"}, default "cddm"
        Reverse-step rule. Settable at run time.
    enabled : bool, default True
        False passes frames through, tagged "none". Settable at run time.
    max_steps : int, optional
        Caps m, trading accuracy for speed (None: the KL-matched m). Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape or missing W/noise_var tags; at construction for
        a model that cannot be loaded.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, 2k)
        Equalizer output; numpy or torch.

    **Outputs**

    ``out`` : float32 (B, 2k)
        Denoised latent; numpy for numpy input, else a torch tensor on the block's device.

    **Tags read**

    - ``W_s``, ``W_n`` ((B, 2k), from the equalizer), ``noise_var`` (s2).

    **Tags written**

    - ``denoiser`` ("cddm" or "none" when bypassed), ``cddm_start_step`` (m);
    - ``denoiser_nfe`` (network evaluations), ``denoiser_ms`` (wall time of the frame).

    **Run-time parameters**

    ``enabled``, ``rule``, ``max_steps``.

    Examples
    --------
    >>> from semradio.blocks import CDDMDenoiser
    >>> den = CDDMDenoiser("cddm_natural32_rayleigh_cbr1-6", device="cpu", rule="tweedie")
    >>> den.param("rule")
    'tweedie'
    """

    def __init__(self, model: str = DEFAULT_CDDM["rayleigh"], device: str = "auto", rule: str = "cddm",
                 enabled: bool = True, max_steps: int | None = None, name: str | None = None) -> None:
        super().__init__(name)
        from semradio.models.cddm import RULES, load_cddm

        try:
            self.net, self.schedule, self.config = load_cddm(model, device)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"CDDMDenoiser {self.name!r}: {exc}") from None
        self.model_name = model
        self.device = next(self.net.parameters()).device
        dim = int(np.prod(self.net.latent_shape))
        self.add_input("in", dtype="float32", shape=(dim,))
        self.add_output("out", dtype="float32", shape=(dim,))
        self.declare_param("enabled", bool(enabled), "apply the denoiser (False: pass through)", bool)
        self.declare_param("rule", rule, "reverse-step rule: cddm (the CDDM paper), ddim or tweedie (1 evaluation)",
                           to_choice("rule", RULES))
        self.declare_param("max_steps", max_steps, "cap on the start step m (None: KL-matched m)",
                           lambda v: None if v is None else max(0, int(v)))

    @classmethod
    def example(cls) -> "CDDMDenoiser":
        return cls(device="cpu")

    def _tensor(self, x: Any, what: str) -> Any:
        return as_float_tensor(self, x, what)

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        import torch

        from semradio.models.cddm import bind_condition, cddm_sample, from_diffusion_units, start_step, to_diffusion_units

        p = self.params
        if not p["enabled"]:
            return frame.replace(denoiser="none")
        y_in = frame.data
        if A.dtype_name(y_in) != "float32" or len(y_in.shape) != 2 or y_in.shape[1] != self.inputs[0].shape[0]:
            raise block_error(self, f"input 'in' must be float32 (B, {self.inputs[0].shape[0]}), "
                                    f"got {A.dtype_name(y_in)} {tuple(y_in.shape)}")
        tags = frame.tags
        for key in ("W_s", "W_n", "noise_var"):
            if tags.get(key) is None:
                raise block_error(self, f"the frame has no {key!r} tag; put an MMSEEqualizer upstream")
        t0 = time.perf_counter()
        y = self._tensor(y_in, "input 'in'")
        w_s, w_n = self._tensor(tags["W_s"], "tag W_s"), self._tensor(tags["W_n"], "tag W_n")
        if w_s.shape != y.shape or w_n.shape != y.shape:
            raise block_error(self, f"tags W_s/W_n must have the data's shape {tuple(y.shape)}")
        s2 = float(tags["noise_var"])
        m = start_step(self.schedule, s2)
        if p["max_steps"] is not None:
            m = min(m, p["max_steps"])
        with torch.no_grad():
            x, nfe = cddm_sample(bind_condition(self.net, w_s, w_n), to_diffusion_units(y), w_n, s2,
                                 self.schedule, rule=p["rule"], m=m)
            out = from_diffusion_units(x).to(torch.float32)
        data = out.cpu().numpy() if isinstance(y_in, np.ndarray) else out
        return frame.replace(data, denoiser="cddm", cddm_start_step=m, denoiser_nfe=nfe,
                             denoiser_ms=round((time.perf_counter() - t0) * 1e3, 3))


def chain_denoiser(config: Any) -> Any:
    """The CDDM of a JSCC chain (``config.channel``, ``config.device``, optional
    ``config.cddm_model``, ``config.rule``, ``config.max_steps``): the CDDM trained on the chain's
    codec (:func:`semradio.models.shipped.denoiser_for_codec`), with the codec's decoder
    fine-tuned on CDDM outputs (``<codec>_cddm``) when one exists along the checkpoint search path
    (:class:`~semradio.blocks.denoisers.registry.ChainDenoiser`)."""
    from semradio.blocks.denoisers.registry import ChainDenoiser
    from semradio.blocks.hier.jscc_chain import codec_of
    from semradio.models.checkpoint import list_codecs
    from semradio.models.shipped import channel_family, denoiser_for_codec

    family = channel_family(config.channel)
    codec = codec_of(config)
    model = getattr(config, "cddm_model", None) or denoiser_for_codec(codec, "cddm", DEFAULT_CDDM[family],
                                                                     channel=config.channel)
    tuned = f"{codec}_cddm" if f"{codec}_cddm" in list_codecs() else None
    block = CDDMDenoiser(model, device=config.device, rule=getattr(config, "rule", "cddm"),
                         max_steps=getattr(config, "max_steps", None), name="cddm")
    return ChainDenoiser(block, tuned)


def latent_mse_db(estimate: Any, reference: Any) -> float:
    """``10 log10(mean((estimate - reference)^2))`` over all elements (latent MSE in dB)."""
    e = np.asarray(estimate, dtype=np.float64) - np.asarray(reference, dtype=np.float64)
    return 10.0 * math.log10(float(np.mean(e * e)))


__all__ = ["CDDMDenoiser", "DEFAULT_CDDM", "chain_denoiser", "latent_mse_db"]
