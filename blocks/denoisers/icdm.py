"""ICDM interference canceller block (seed 000; Wu et al., "ICDM")."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from semradio.runtime import Block, Frame

from semradio.dsp import arrays as A
from semradio.blocks.denoisers.io import as_float_tensor
from semradio.blocks.validation import block_error, snr_tag, to_choice

ORDERS = (1, 2, 3)
log = logging.getLogger("semradio")


class ICDMCanceller(Block):
    """Separates the desired signal from an unknown interferer with two diffusion priors.

    The MMSE equalizer's output obeys Lemma 1 (eq. 3)::

        y = sqrt(Px) W_s x + sqrt(Pz) W_z z + W_n n

    The block rescales to diffusion units (``sqrt(2) y``), then runs the p-order ConJPC sampler
    (Algorithms 2-3) on the joint gradients of eq. (40): the signal prior s_theta and the
    interference prior s_phi (of the block's channel type; under Rayleigh z includes h_z) plus
    the likelihood terms of eq. (38) (or the DPS / GDM / Projection estimates of eqs. 51-54 with
    ``guidance``). Outputs the two estimates in the equalizer's scale.

    Fading: ``fading="fast"``: h_z new per symbol, the ICDM paper's setting; ``fading="block"``:
    h_z constant per item, or per ``coherence`` symbols, and unknown: the block estimates it per
    frame under the two codecs' latent moments (phase by maximum likelihood, magnitude from the power)
    (:mod:`semradio.models.icdm_fading`) and runs the unfaded interference prior; tag
    ``icdm_gain`` (B, nb) complex holds the estimates. ``sampler``/``eta``/``guidance`` default
    per fading: fast: ConJPC with the priors' tuned variant; block: ancestral DDIM (eta 1) with
    ``dps``, the best of the measured ones there.

    Parameters
    ----------
    channel : {"awgn", "rayleigh"}, default "rayleigh"
        Picks the shipped priors.
    signal : str, optional
        Signal prior name or path, overriding the shipped one.
    interference : str, optional
        Interference prior name or path, overriding the shipped one.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the priors run ("auto": CUDA when present).
    steps : int, default 40
        Sampler steps (T of the seed). Settable at run time.
    order : {1, 2, 3}, default 2
        ConJPC order p. Settable at run time.
    guidance : {"icdm", "exact", "dps", "gdm", "projection"}, optional
        Gradient of the transition term (None: under fast fading the priors'
        ``default_guidance``, the variant that tuned best on training patches, else "icdm";
        under block fading "dps"). Settable at run time.
    beta : float, optional
        Signal guidance weight (None: the weight tuned for the frame's SINR, stored with the
        priors). Settable at run time.
    gamma : float, optional
        Interference guidance weight (None: tuned per SINR, as ``beta``). Settable at run time.
    corrector : {"unconditional", "joint"}, default "unconditional"
        ConJPC corrector ("unconditional" as in Algorithm 2). Settable at run time.
    sampler : {"conjpc", "ddim", "ddpm"}, optional
        The sampler (None: "conjpc" under fast fading, "ddim" under block fading). Settable at
        run time.
    eta : float, optional
        DDIM only, in [0, 1]: 0 deterministic, 1 ancestral, which re-noises each step and so
        corrects guidance errors (None: 1 for DDIM under block fading, else 0). Settable at run
        time.
    seed : int, default 0
        Seed of the initial draws; each frame uses seed + seq, so runs are reproducible.
        Settable at run time.
    samples : int, default 1
        1: one solve per item as in the seed; k > 1 averages k independent solves, a Monte
        Carlo posterior mean, at k times the cost, with the weights tuned for averaged draws
        when stored (``-mean`` tables). Settable at run time.
    enabled : bool, default True
        False passes ``in`` through on both ports, tagged "none". Settable at run time.
    fading : {"fast", "block"}, default "fast"
        The interferer's fading (see above; "fast" whatever is given when ``channel="awgn"``).
    coherence : int, optional
        Block fading: symbols per coherence block (None: one h_z per item).
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    channel : str
        The channel type of the priors.
    fading : str
        The fading the block assumes ("fast" for ``channel="awgn"``).
    coherence : int or None
        Symbols per coherence block under block fading.
    priors : ICDMPriors
        The loaded signal and interference priors.
    device : torch.device
        The device the priors run on.

    Raises
    ------
    ValueError
        At construction, naming the block, for an unknown ``channel`` or ``fading``,
        ``coherence < 1``, priors that cannot be loaded, or a parameter out of its range; in
        ``work()`` for a wrong dtype/shape, missing tags (``W_s``, ``W_n``, ``W_z``,
        ``noise_var``, and ``pz`` or ``sinr_db``), tags of another shape, a negative or
        non-finite interference power, or a sampler that diverged (lower the guidance weights).

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, 2k)
        The equalizer output; numpy or torch.

    **Outputs**

    ``out`` (port 0) : float32 (B, 2k)
        The signal estimate x_hat.
    ``interference`` (port 1) : float32 (B, 2k)
        Estimate of the real form of ``h_z z_c``.

    Both are numpy for numpy input, else torch on the block's device.

    **Tags read**

    - ``W_s``, ``W_n``, ``W_z`` ((B, 2k), from the equalizer), ``noise_var`` (s2);
    - ``pz`` (interference power) or else ``sinr_db`` (then ``Pz = Px/10^(SINR/10) - s2``);
    - ``px`` (default 1);
    - ``snr_db`` (block fading: the SNR of the gain estimate; default ``10 log10(Px/s2)``, 40 dB when s2 = 0).

    **Tags written**

    On both outputs:

    - ``denoiser`` ("icdm", or "none" when bypassed);
    - ``icdm_beta``, ``icdm_gamma``, ``icdm_guidance``, ``icdm_sampler``;
    - ``denoiser_nfe`` (network evaluations of the two priors);
    - ``denoiser_ms`` (wall time of the frame);
    - ``icdm_gain`` (block fading: complex (B, nb), the estimated interferer gains).

    Other tags pass through.

    **Run-time parameters**

    ``enabled``, ``steps``, ``order``, ``guidance``, ``beta``, ``gamma``, ``corrector``,
    ``sampler``, ``eta``, ``seed``, ``samples``.

    Examples
    --------
    >>> from semradio.blocks.denoisers.icdm import ICDMCanceller
    >>> icdm = ICDMCanceller("rayleigh", device="cpu", fading="block")
    >>> [p.name for p in icdm.inputs], [p.name for p in icdm.outputs]
    (['in'], ['out', 'interference'])
    >>> icdm.fading, icdm.param("sampler"), icdm.param("guidance"), icdm.param("eta")
    ('block', 'ddim', 'dps', 1.0)
    """

    def __init__(self, channel: str = "rayleigh", signal: str | None = None, interference: str | None = None,
                 device: str = "auto", steps: int = 40, order: int = 2, guidance: str | None = None,
                 beta: float | None = None, gamma: float | None = None, corrector: str = "unconditional",
                 sampler: str | None = None, eta: float | None = None, seed: int = 0, samples: int = 1,
                 enabled: bool = True, fading: str = "fast", coherence: int | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        from semradio.models.icdm import VARIANTS
        from semradio.models.icdm_fading import FADINGS
        from semradio.models.icdm_sampler import CORRECTORS, SAMPLERS, ICDMPriors

        if channel not in ("awgn", "rayleigh"):
            raise ValueError(f"ICDMCanceller {self.name!r}: channel must be 'awgn' or 'rayleigh', got {channel!r}")
        if fading not in FADINGS:
            raise ValueError(f"ICDMCanceller {self.name!r}: fading must be one of {FADINGS}, got {fading!r}")
        if coherence is not None and int(coherence) < 1:
            raise ValueError(f"ICDMCanceller {self.name!r}: coherence must be >= 1 symbols, got {coherence!r}")
        self.fading = fading if channel != "awgn" else "fast"
        self._warned_fast = False
        self.coherence = None if coherence is None else int(coherence)
        block = self.fading == "block"
        sampler = sampler or ("ddim" if block else "conjpc")
        eta = (1.0 if block and sampler == "ddim" else 0.0) if eta is None else eta
        try:
            self.priors = ICDMPriors.load(channel, device, signal, interference, fading=self.fading)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"ICDMCanceller {self.name!r}: {exc}") from None
        self.channel = channel
        self.device = self.priors.device
        dim = int(np.prod(self.priors.signal.latent_shape))
        if self.coherence is not None and (dim // 2) % self.coherence:
            raise ValueError(f"ICDMCanceller {self.name!r}: coherence {self.coherence} must divide the {dim // 2} "
                             "symbols of an item")
        self.add_input("in", dtype="float32", shape=(dim,))
        self.add_output("out", dtype="float32", shape=(dim,))
        self.add_output("interference", dtype="float32", shape=(dim,))
        opt_float = lambda n: (lambda v: None if v is None else _nonneg(n, v))  # noqa: E731
        self.declare_param("enabled", bool(enabled), "apply the canceller (False: pass through)", bool)
        self.declare_param("steps", steps, "sampler steps (T of the seed)", lambda v: _positive_int("steps", v))
        self.declare_param("order", order, "ConJPC order p", _order)
        if guidance is None:  # the variant tuned best for these priors (semradio train icdm-tune --set-default)
            guidance = "dps" if block else self.priors.signal_config.get("default_guidance", "icdm")
        self.declare_param("guidance", guidance, "gradient of the transition term", to_choice("guidance", VARIANTS))
        self.declare_param("beta", beta, "signal guidance weight (None: tuned per SINR)", opt_float("beta"))
        self.declare_param("gamma", gamma, "interference guidance weight (None: tuned per SINR)", opt_float("gamma"))
        self.declare_param("corrector", corrector, "ConJPC corrector", to_choice("corrector", CORRECTORS))
        self.declare_param("sampler", sampler, "sampler", to_choice("sampler", SAMPLERS))
        self.declare_param("eta", eta, "DDIM stochasticity (0 deterministic, 1 ancestral)", _unit_interval)
        self.declare_param("seed", int(seed), "seed of the initial draws (plus the frame's seq)", int)
        self.declare_param("samples", samples, "independent draws averaged per item (1: the seed's single run)",
                           lambda v: _positive_int("samples", v))

    @classmethod
    def example(cls) -> "ICDMCanceller":
        return cls(device="cpu")

    def _tensor(self, x: Any, what: str) -> Any:
        return as_float_tensor(self, x, what)

    def link_of(self, frame: Frame) -> Any:
        """The frame's :class:`~semradio.models.icdm.Link` (diffusion units); raises
        ``block_error`` for a malformed frame."""
        from semradio.models.icdm import Link, interference_power

        y_in = frame.data
        dim = self.inputs[0].shape[0]
        if A.dtype_name(y_in) != "float32" or len(y_in.shape) != 2 or y_in.shape[1] != dim:
            raise block_error(self, f"input 'in' must be float32 (B, {dim}), got {A.dtype_name(y_in)} "
                                    f"{tuple(y_in.shape)}")
        tags = frame.tags
        for key in ("W_s", "W_n", "W_z", "noise_var"):
            if tags.get(key) is None:
                raise block_error(self, f"the frame has no {key!r} tag; put an MMSEEqualizer upstream")
        s2 = float(tags["noise_var"])
        if not s2 >= 0.0:
            raise block_error(self, f"tag 'noise_var' must be >= 0, got {s2}")
        px = float(tags.get("px", 1.0))
        if not (px > 0.0 and math.isfinite(px)):
            raise block_error(self, f"tag 'px' (signal power) must be finite and > 0, got {px}")
        if tags.get("pz") is not None:
            pz = float(tags["pz"])
        elif tags.get("sinr_db") is not None:
            pz = interference_power(float(tags["sinr_db"]), s2, px)
        else:
            raise block_error(self, "the frame has neither a 'pz' nor a 'sinr_db' tag (the interference power)")
        if not (pz >= 0.0 and math.isfinite(pz)):
            raise block_error(self, f"interference power must be finite and >= 0, got {pz}")
        y = self._tensor(y_in, "input 'in'")
        w = [self._tensor(tags[k], f"tag {k}") for k in ("W_s", "W_n", "W_z")]
        if any(tuple(t.shape) != tuple(y.shape) for t in w):
            raise block_error(self, f"tags W_s/W_n/W_z must have the data's shape {tuple(y.shape)}")
        return Link(y * math.sqrt(2.0), w[0], w[1], w[2], s2=s2, px=px, pz=pz)

    def _moment_snr(self, frame: Frame, link: Any) -> float:
        """The SNR (dB) the latent moments are computed at: the frame's ``snr_db`` tag (else
        ``10 log10(Px / s2)``), clipped to :data:`MOMENT_SNR_RANGE` and rounded to whole dB, so
        that a stream of changing SNRs costs a handful of moments computations."""
        snr = frame.tags.get("snr_db")
        if snr is None:
            snr = 10 * math.log10(link.px / link.s2) if link.s2 > 0 else MOMENT_SNR_RANGE[1]
        return float(round(snr_tag(self, snr, *MOMENT_SNR_RANGE)))

    def _block_coherence(self, frame: Frame, link: Any) -> int | None:
        """Symbols per block of h_z: the frame's ``coherence`` tag when the channel says block
        fading (so the canceller follows a channel changed at run time), else the block's own."""
        tags = frame.tags
        if tags.get("fading") == "fast" and not self._warned_fast:
            self._warned_fast = True
            log.warning("%s: the frames say fast fading; the canceller assumes block fading (one h_z per %s)",
                        self.name, self.coherence or "item")
        c = tags.get("coherence") if tags.get("fading") == "block" else None
        k = link.y.shape[-1] // 2
        if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and 1 <= c <= k and k % c == 0:
            return None if c == k else int(c)
        return self.coherence

    def work(self, frame: Frame) -> dict[str, Frame]:  # type: ignore[override]
        import torch

        p = self.params
        if not p["enabled"]:
            return {"out": frame.replace(denoiser="none"), "interference": frame.replace(denoiser="none")}
        t0 = time.perf_counter()
        link = self.link_of(frame)
        gain_tag: dict[str, Any] = {}
        if self.fading == "block":
            try:
                link, g = self.priors.block_link(link, self._moment_snr(frame, link), self._block_coherence(frame, link))
            except ValueError as exc:
                raise block_error(self, str(exc)) from None
            gain_tag["icdm_gain"] = g.cpu().numpy() if isinstance(frame.data, np.ndarray) else g
        beta, gamma = self.priors.weights(link, p["guidance"], p["sampler"], p["eta"], p["beta"], p["gamma"],
                                          samples=p["samples"])
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(p["seed"]) + int(frame.seq or 0))
        x, z, nfe = self.priors.cancel(link, steps=p["steps"], order=p["order"], guidance=p["guidance"], beta=beta,
                                       gamma=gamma, sampler=p["sampler"], samples=int(p["samples"]),
                                       corrector=p["corrector"], eta=p["eta"], generator=gen)
        if not (bool(torch.isfinite(x).all()) and bool(torch.isfinite(z).all())):
            raise block_error(self, f"the sampler diverged (beta {beta:g}, gamma {gamma:g}); lower the guidance weights")
        x = (x / math.sqrt(2.0)).to(torch.float32)
        z = (z / math.sqrt(2.0)).to(torch.float32)
        numpy_out = isinstance(frame.data, np.ndarray)
        tags = dict(denoiser="icdm", icdm_beta=beta, icdm_gamma=gamma, icdm_guidance=p["guidance"],
                    icdm_sampler=p["sampler"], denoiser_nfe=2 * nfe,
                    denoiser_ms=round((time.perf_counter() - t0) * 1e3, 3), **gain_tag)
        return {"out": frame.replace(x.cpu().numpy() if numpy_out else x, **tags),
                "interference": frame.replace(z.cpu().numpy() if numpy_out else z, **tags)}


#: SNR range (dB) of the latent moments under block fading: the codecs' training range; the
#: frame's SNR is clipped to it and rounded to whole dB (one moments computation per value).
MOMENT_SNR_RANGE = (0.0, 20.0)


def _order(v: Any) -> int:
    iv = int(v)
    if iv not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {v!r}")
    return iv


def _positive_int(name: str, v: Any) -> int:
    iv = int(v)
    if iv < 1:
        raise ValueError(f"{name} must be >= 1, got {v!r}")
    return iv


def _unit_interval(v: Any) -> float:
    fv = float(v)
    if not 0.0 <= fv <= 1.0:
        raise ValueError(f"eta must be in [0, 1], got {v!r}")
    return fv


def _nonneg(name: str, v: Any) -> float:
    fv = float(v)
    if not (fv >= 0.0 and math.isfinite(fv)):
        raise ValueError(f"{name} must be finite and >= 0, got {v!r}")
    return fv


__all__ = ["ICDMCanceller"]
