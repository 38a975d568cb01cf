"""VE latent diffusion channel denoiser (teacher) and its 1-2 step consistency distillation EECD
(Pei et al., Section IV, eqs. 25-28, Algorithm 4)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from semradio.runtime import Frame, SyncBlock

from semradio.dsp import arrays as A
from semradio.blocks.denoisers.io import as_float_tensor
from semradio.blocks.validation import block_error, to_choice
from semradio.models.shipped import DEFAULT_EECD, DEFAULT_TAU2_RATIO, DEFAULT_VE, channel_family, denoiser_for_codec

SQRT2 = float(np.sqrt(2.0))


class _EqualizedInput(SyncBlock):
    """Shared port set-up and input checks: ``in`` float32 (B, D) with W_s, W_n, noise_var tags."""

    def _ports(self, dim: int) -> None:
        self.add_input("in", dtype="float32", shape=(dim,))
        self.add_output("out", dtype="float32", shape=(dim,))

    def _tensor(self, x: Any, what: str) -> Any:
        return as_float_tensor(self, x, what)

    def _inputs(self, frame: Frame) -> tuple[Any, Any, Any, float]:
        """(y~ in diffusion units, W_s, W_n, s2) as tensors on the block's device."""
        y_in = frame.data
        dim = self.inputs[0].shape[0]
        if not (isinstance(y_in, np.ndarray) or A.is_torch(y_in)):
            raise block_error(self, f"input 'in' must be a numpy array or torch tensor, got {type(y_in).__name__}")
        if A.dtype_name(y_in) != "float32" or len(y_in.shape) != 2 or y_in.shape[1] != dim:
            raise block_error(self, f"input 'in' must be float32 (B, {dim}), got {A.dtype_name(y_in)} "
                                    f"{tuple(y_in.shape)}")
        tags = frame.tags
        for key in ("W_s", "W_n", "noise_var"):
            if tags.get(key) is None:
                raise block_error(self, f"the frame has no {key!r} tag; put an MMSEEqualizer upstream")
        y = self._tensor(y_in, "input 'in'")
        w_s, w_n = self._tensor(tags["W_s"], "tag W_s"), self._tensor(tags["W_n"], "tag W_n")
        if w_s.shape != y.shape or w_n.shape != y.shape:
            raise block_error(self, f"tags W_s/W_n must have the data's shape {tuple(y.shape)}")
        try:
            s2 = float(tags["noise_var"])
        except (TypeError, ValueError):
            raise block_error(self, f"tag noise_var must be a number, got {tags['noise_var']!r}") from None
        if not s2 >= 0:
            raise block_error(self, f"tag noise_var must be >= 0, got {s2}")
        return y * SQRT2, w_s, w_n, s2

    def _emit(self, frame: Frame, out: Any, **tags: Any) -> Frame:
        import torch

        out = out.to(torch.float32)
        data = out.cpu().numpy() if isinstance(frame.data, np.ndarray) else out
        return frame.replace(data, **tags)


class VELatentDenoiser(_EqualizedInput):
    """Removes channel noise from the MMSE equalizer's output with the VE latent diffusion model
    (eqs. 25-27 of Pei et al.; the EECD teacher).

    With the equalizer's ``y = W_s x + W_n n`` (Lemma 1) rescaled to ``y~ = sqrt(2) y``
    (``= H_z z_R + H_n sigma eps``, eq. 22, ``H_z = W_s``, ``H_n = W_n``), the block starts the
    probability-flow ODE ``dz/dt = H_n eps_theta(z, t)`` at ``z_{t_m} = y~`` with ``t_m`` the Karras
    grid point minimizing ``|t_m^2 - s2|`` and integrates it (Euler or Heun) down to ``t_0 = 0``;
    the output is ``H_z^{-1} z_0`` (``W_s`` floored) or ``z_0`` in the equalizer's scale (per the
    checkpoint's ``output``), divided by sqrt(2). NFE grows with the noise: m (Euler) or 2m - 1
    (Heun); see :mod:`semradio.models.ve`.

    Parameters
    ----------
    model : str, default "ve_natural32_rayleigh_cbr1-6"
        Shipped name or checkpoint path.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the network runs.
    solver : {"heun", "euler"}, default "heun"
        PF-ODE solver. Settable at run time.
    enabled : bool, default True
        False passes frames through, tagged "none". Settable at run time.
    max_steps : int, optional
        A cap on m (None: the matched m). Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape or missing/invalid tags; at construction for a
        model that cannot be loaded.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, 2k)
        Equalizer output; numpy or torch.

    **Outputs**

    ``out`` : float32 (B, 2k)
        Denoised latent; numpy for numpy input, else a torch tensor on the block's device.

    **Tags read**

    - ``W_s``, ``W_n`` ((B, 2k)), ``noise_var`` (s2).

    **Tags written**

    - ``denoiser`` ("ve", or "none" when disabled), ``ve_start_index`` (m);
    - ``denoiser_nfe``, ``denoiser_ms``.

    **Run-time parameters**

    ``enabled``, ``solver``, ``max_steps``.

    Examples
    --------
    >>> from semradio.blocks import VELatentDenoiser
    >>> den = VELatentDenoiser("ve_natural32_rayleigh_cbr1-6", device="cpu", solver="heun")
    >>> den.param("solver")
    'heun'
    """

    def __init__(self, model: str = DEFAULT_VE["rayleigh"], device: str = "auto", solver: str = "heun",
                 enabled: bool = True, max_steps: int | None = None, name: str | None = None) -> None:
        super().__init__(name)
        from semradio.models.ve import load_ve

        try:
            self.net, self.grid, self.config = load_ve(model, device)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"VELatentDenoiser {self.name!r}: {exc}") from None
        self.model_name = model
        self.device = next(self.net.parameters()).device
        self.output = self.config.get("output", "latent")
        self.ws_floor = float(self.config.get("ws_floor", 0.05))
        self._ports(int(np.prod(self.net.latent_shape)))
        self.declare_param("enabled", bool(enabled), "apply the denoiser (False: pass through)", bool)
        self.declare_param("solver", solver, "PF-ODE solver: heun or euler", to_choice("solver", ("heun", "euler")))
        self.declare_param("max_steps", max_steps, "cap on the start index m (None: matched m)",
                           lambda v: None if v is None else max(0, int(v)))

    @classmethod
    def example(cls) -> "VELatentDenoiser":
        return cls(device="cpu")

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        import torch

        from semradio.models.ve import bind, match_index, to_output, ve_sample

        p = self.params
        if not p["enabled"]:
            return frame.replace(denoiser="none")
        t0 = time.perf_counter()
        y, w_s, w_n, s2 = self._inputs(frame)
        m = match_index(self.grid, s2)
        if p["max_steps"] is not None:
            m = min(m, p["max_steps"])
        with torch.no_grad():
            z, nfe = ve_sample(bind(self.net, w_s, w_n), y, w_n, self.grid, m, p["solver"])
            out = to_output(z, w_s, self.output, self.ws_floor)
        return self._emit(frame, out, denoiser="ve", ve_start_index=m, denoiser_nfe=nfe,
                          denoiser_ms=round((time.perf_counter() - t0) * 1e3, 3))


class ConsistencyDenoiser(_EqualizedInput):
    """One- or two-step channel denoiser distilled from the VE teacher (EECD, Alg. 4 of Pei et al.).

    ``z^ = f_theta(y~, t_m)`` with ``t_m`` matched to s2 as in :class:`VELatentDenoiser`; for
    ``steps = 2`` the estimate is re-noised to the subsequence point ``tau_2`` (grid time closest
    to ``tau2_ratio t_m``), ``z = z^ + t_{tau_2} H_n eps``, and ``z^ = f_theta(z, t_{tau_2})``. The
    output is ``H_z^{-1} z^`` (or ``z^``, per the checkpoint) in the equalizer's scale. NFE = steps,
    whatever the SNR. ``f_theta`` has the boundary parameterization of
    :mod:`semradio.models.consistency`.

    Parameters
    ----------
    model : str, default "eecd_natural32_rayleigh_cbr1-6"
        Shipped name or checkpoint path.
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the network runs.
    steps : {1, 2}, default 1
        Subsequence length s of Algorithm 4. Settable at run time.
    enabled : bool, default True
        False passes frames through, tagged "none". Settable at run time.
    seed : int, default 0
        Seed of the s = 2 re-noising draws.
    tau2_ratio : float, optional
        In (0, 1] (None: :data:`DEFAULT_TAU2_RATIO`). Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape or missing/invalid tags; at construction for a
        model that cannot be loaded, or ``steps``/``tau2_ratio`` out of range.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, 2k)
        As :class:`VELatentDenoiser`.

    **Outputs**

    ``out`` : float32 (B, 2k)
        As :class:`VELatentDenoiser`.

    **Tags read**

    As :class:`VELatentDenoiser`.

    **Tags written**

    - ``denoiser`` ("eecd" or "none"), ``eecd_start_index`` (m);
    - ``denoiser_nfe``, ``denoiser_ms``.

    **Run-time parameters**

    ``enabled``, ``steps``, ``tau2_ratio``.

    Examples
    --------
    >>> from semradio.blocks import ConsistencyDenoiser
    >>> den = ConsistencyDenoiser("eecd_natural32_rayleigh_cbr1-6", device="cpu", steps=2)
    >>> den.param("steps")
    2
    """

    def __init__(self, model: str = DEFAULT_EECD["rayleigh"], device: str = "auto", steps: int = 1,
                 enabled: bool = True, seed: int = 0, tau2_ratio: float | None = None,
                 name: str | None = None) -> None:
        super().__init__(name)
        import torch

        from semradio.models.consistency import load_eecd

        try:
            self.net, self.grid, self.config = load_eecd(model, device)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"ConsistencyDenoiser {self.name!r}: {exc}") from None
        self.model_name = model
        self.device = next(self.net.parameters()).device
        self.output = self.config.get("output", "latent")
        self.ws_floor = float(self.config.get("ws_floor", 0.05))
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(seed))
        self._ports(int(np.prod(self.net.latent_shape)))
        self.declare_param("enabled", bool(enabled), "apply the denoiser (False: pass through)", bool)
        self.declare_param("steps", steps, "subsequence length s of Algorithm 4 (1 or 2)", _steps)
        self.declare_param("tau2_ratio", DEFAULT_TAU2_RATIO if tau2_ratio is None else tau2_ratio,
                           "s = 2: re-noise to the grid time closest to RATIO * t_m", _ratio)

    @classmethod
    def example(cls) -> "ConsistencyDenoiser":
        return cls(device="cpu")

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        import torch

        from semradio.models.consistency import eecd_sample
        from semradio.models.ve import match_index, to_output

        p = self.params
        if not p["enabled"]:
            return frame.replace(denoiser="none")
        t0 = time.perf_counter()
        y, w_s, w_n, s2 = self._inputs(frame)
        m = match_index(self.grid, s2)
        with torch.no_grad():
            z, nfe = eecd_sample(self.net, y, w_s, w_n, self.grid, m, p["steps"], p["tau2_ratio"], self.generator)
            out = to_output(z, w_s, self.output, self.ws_floor)
        return self._emit(frame, out, denoiser="eecd", eecd_start_index=m, denoiser_nfe=nfe,
                          denoiser_ms=round((time.perf_counter() - t0) * 1e3, 3))


def _steps(value: Any) -> int:
    """Converter for ``steps``: 1 or 2."""
    if isinstance(value, bool) or value not in (1, 2):
        raise ValueError(f"steps must be 1 or 2, got {value!r}")
    return int(value)


def _ratio(value: Any) -> float:
    """Converter for ``tau2_ratio``: a float in (0, 1]."""
    v = float(value)
    if not 0.0 < v <= 1.0:
        raise ValueError(f"tau2_ratio must be in (0, 1], got {value!r}")
    return v


def model_for_codec(config: Any, family: str, default: str) -> str:
    """The denoiser checkpoint of ``family`` ("ve-ldm", "eecd") for a chain config's ``codec``
    (:func:`semradio.models.shipped.denoiser_for_codec`)."""
    return denoiser_for_codec(getattr(config, "codec", None), family, default,
                              channel=getattr(config, "channel", None))


def chain_ve(config: Any) -> Any:
    """The VE teacher of a JSCC chain (``config.channel``, ``config.device``, optional
    ``config.ve_model``, ``config.solver``)."""
    from semradio.blocks.denoisers.registry import ChainDenoiser

    family = channel_family(getattr(config, "channel", "rayleigh"))
    model = getattr(config, "ve_model", None) or model_for_codec(config, "ve-ldm", DEFAULT_VE[family])
    return ChainDenoiser(VELatentDenoiser(model, device=getattr(config, "device", "auto"),
                                          solver=getattr(config, "solver", None) or "heun", name="ve"))


def _chain_eecd(config: Any, steps: int) -> Any:
    from semradio.blocks.denoisers.registry import ChainDenoiser

    family = channel_family(getattr(config, "channel", "rayleigh"))
    model = getattr(config, "eecd_model", None) or model_for_codec(config, "eecd", DEFAULT_EECD[family])
    return ChainDenoiser(ConsistencyDenoiser(model, device=getattr(config, "device", "auto"), steps=steps,
                                             seed=getattr(config, "seed", 0), name=f"eecd{steps}"))


def chain_eecd1(config: Any) -> Any:
    """EECD with s = 1 for a JSCC chain (``config.channel``, ``config.device``, optional ``config.eecd_model``)."""
    return _chain_eecd(config, 1)


def chain_eecd2(config: Any) -> Any:
    """EECD with s = 2 for a JSCC chain."""
    return _chain_eecd(config, 2)


__all__ = ["ConsistencyDenoiser", "DEFAULT_EECD", "DEFAULT_TAU2_RATIO", "DEFAULT_VE", "VELatentDenoiser",
           "chain_eecd1", "chain_eecd2", "chain_ve", "model_for_codec"]
