"""CDiff decoder block: the conditional diffusion decoder of the CDiff paper ("diffusion autoencoder").

The block turns a received (equalized) real latent directly into images with a trained
:class:`semradio.models.cdiff.CDiffUNet`; it replaces the JSCC decoder, not a latent denoiser.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from semradio.runtime import Frame, SyncBlock

from semradio.dsp import arrays as A
from semradio.blocks.denoisers.io import as_float_tensor
from semradio.blocks.validation import block_error, to_float, to_seed

#: Shipped CDiff decoders per dataset (AWGN, trained over SNR -10..10 dB). Each config's
#: ``codec`` names the encoder it decodes: ``acbr_natural32_awgn_ae`` (frozen) for the patches,
#: ``acbr_mnist_awgn_cdiff`` for MNIST (the ``_ae`` encoder trained on jointly with CDiff, as
#: the CDiff paper trains them).
DEFAULT_CDIFF = {"mnist": "cdiff_mnist_awgn", "natural32": "cdiff_natural32_awgn"}


class CDiffDecoder(SyncBlock):
    """Decodes images from a received real latent with the CDiff conditional DDPM (the CDiff paper).

    Math (eqs. 5-8 of the CDiff paper; derivation in :mod:`semradio.models.cdiff`): the latent ``y``
    (B, n) is zero-padded to the conditioning capacity ``C_cond H W`` and reshaped to maps
    ``y~`` with a 0/1 mask (:func:`semradio.models.cdiff_latent.pad_latent`), so any ``n <=
    C_cond H W`` is accepted and one decoder serves every CBR and encoder it was trained on.
    The reverse chain starts at ``x_T ~ N(w_T sqrt(abar_T) y~, delta_T I)`` (eq. 5 at t = T,
    ``delta_t = (1 - abar_t) - w_t^2 abar_t``) and runs ``steps`` network evaluations of the
    x0 predictor ``xhat_theta(x_t, y~, t)`` (eq. 6), each followed by the posterior step of
    eq. 7 with ``eps_theta`` from eq. 8 in its conditional form ``(x_t - (1-w_t) sqrt(abar_t)
    xhat - w_t sqrt(abar_t) y~) / sqrt(delta_t)``. With ``steps < T`` the steps are a
    DDIM-style sub-sequence ``x_s = mu_s(xhat) + sqrt(delta_s - sigma^2) eps_theta + sigma z``,
    ``sigma^2 = eta^2 delta_s delta_{t|s} / delta_t`` (eta = 1 and steps = T: exactly eq. 7;
    eta = 0: deterministic). The output is the last ``xhat`` mapped from [-1, 1] to [0, 1].

    What the decoder expects: the latent the model was trained on, i.e. an encoder output
    power-normalized to unit average symbol power and received over AWGN *without* MMSE
    shrinkage (``PowerNormalizer -> AWGNChannel -> MMSEEqualizer`` with its default
    ``awgn="identity"``, the same as :func:`semradio.models.link.simulate_link`).

    Parameters
    ----------
    model : str, default "cdiff_mnist_awgn"
        Shipped name (e.g. ``"cdiff_mnist_awgn"``) or a checkpoint path.
    device : {"auto", "cpu", "cuda"}, default "auto"
        "auto": CUDA when present.
    steps : int, optional
        Reverse steps, in 1..T (None: the checkpoint's ``sample_steps``). Settable at run time.
    eta : float, optional
        In [0, 1] (None: the checkpoint's ``eta``). Settable at run time.
    seed : int, optional
        Sampler noise seed (None: fresh entropy); setting it restarts the sampler's noise stream.
        Settable at run time.
    max_batch : int, default 256
        Images per network call; larger frames are decoded in chunks.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong container/dtype/ndim, an empty batch or latent, NaN/inf
        values, or a latent longer than the conditioning capacity; at construction for a model that
        cannot be loaded, ``max_batch < 1``, or ``steps``/``eta`` out of range.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, n)
        Real received latent (first half real parts), n <= C_cond H W; numpy or torch (any
        device).

    **Outputs**

    ``out`` : float32 (B, C, H, W)
        Images in [0, 1]; numpy for numpy input, else a torch tensor on the block's device.

    **Tags read**

    None (the latent length carries the CBR).

    **Tags written**

    - ``decoder`` ("cdiff");
    - ``decoder_nfe`` (network evaluations per image = the number of reverse steps);
    - ``decoder_ms`` (wall time of the frame, ms).

    Other tags pass through.

    **Run-time parameters**

    ``steps``, ``eta``, ``seed``.

    Examples
    --------
    >>> from semradio.blocks import CDiffDecoder
    >>> dec = CDiffDecoder("cdiff_mnist_awgn", device="cpu", steps=1)
    >>> dec.param("steps")
    1
    """

    def __init__(self, model: str = DEFAULT_CDIFF["mnist"], device: str = "auto", steps: int | None = None,
                 eta: float | None = None, seed: int | None = None, max_batch: int = 256,
                 name: str | None = None) -> None:
        super().__init__(name)
        from semradio.models.cdiff import load_cdiff

        try:
            self.net, self.schedule, self.config = load_cdiff(model, device)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"CDiffDecoder {self.name!r}: {exc}") from None
        if int(max_batch) < 1:
            raise ValueError(f"CDiffDecoder {self.name!r}: max_batch must be >= 1, got {max_batch}")
        self.model_name = str(model)
        self.device = next(self.net.parameters()).device
        self.max_batch = int(max_batch)
        self.image_shape = tuple(int(v) for v in self.config["image_shape"])
        self.cond_shape = tuple(int(v) for v in self.config["cond_shape"])
        self.capacity = int(np.prod(self.cond_shape))
        T = self.schedule.T
        self.add_input("in", dtype="float32", shape=(None,))
        self.add_output("out", dtype="float32", shape=self.image_shape)

        def to_steps(v: Any) -> int:
            try:
                s = int(v)
            except (TypeError, ValueError):
                raise ValueError(f"steps must be an integer, got {v!r}") from None
            if isinstance(v, bool) or (isinstance(v, float) and v != s) or not 1 <= s <= T:
                raise ValueError(f"steps must be an integer in 1..{T}, got {v!r}")
            return s

        eta_num = to_float("eta", minimum=0.0)

        def to_eta(v: Any) -> float:
            e = eta_num(v)
            if e > 1.0:
                raise ValueError(f"eta must lie in [0, 1], got {v!r}")
            return e

        self.declare_param("steps", self.config.get("sample_steps", T) if steps is None else steps,
                           f"reverse steps = network evaluations per image (1..{T}; < T skips steps DDIM-style)",
                           to_steps)
        self.declare_param("eta", self.config.get("eta", 0.0) if eta is None else eta,
                           "sampler stochasticity: 1 = ancestral posterior steps (eq. 7), 0 = deterministic",
                           to_eta)
        self.declare_param("seed", seed, "sampler noise seed (None: fresh entropy); setting it restarts the stream",
                           to_seed)
        self._gen = self._new_generator(self.param("seed"))

    @classmethod
    def example(cls) -> "CDiffDecoder":
        return cls(device="cpu", seed=0)

    # ------------------------------------------------------------------ state
    def _new_generator(self, seed: int | None) -> Any:
        import torch

        gen = torch.Generator(device=self.device)
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(A.derive_seed(int(seed), 0))
        return gen

    def on_param_change(self, name: str, value: Any) -> None:
        if name == "seed":
            self._gen = self._new_generator(value)

    def start(self) -> None:
        self._gen = self._new_generator(self.param("seed"))

    @property
    def nfe(self) -> int:
        """Network evaluations per image at the current ``steps``."""
        from semradio.models.cdiff import timestep_schedule

        return len(timestep_schedule(self.schedule.T, self.param("steps")))

    # ------------------------------------------------------------------ work
    def _check(self, y: Any) -> None:
        if not (A.is_torch(y) or isinstance(y, np.ndarray)):
            raise block_error(self, f"input 'in' must be a numpy array or torch tensor, got {type(y).__name__}")
        if A.dtype_name(y) != "float32":
            raise block_error(self, f"input 'in' must be float32, got {A.dtype_name(y)} with shape {tuple(y.shape)}")
        if y.ndim != 2:
            raise block_error(self, f"input 'in' must be real latents (B, n), got shape {tuple(y.shape)}")
        if y.shape[0] == 0 or y.shape[1] == 0:
            raise block_error(self, f"input 'in' is empty: shape {tuple(y.shape)}")
        if y.shape[1] > self.capacity:
            raise block_error(self, f"latent length {y.shape[1]} exceeds the decoder's conditioning capacity "
                                    f"{self.capacity} = C*H*W of {self.cond_shape} (model {self.model_name!r})")
        if not A.all_finite(y):
            raise block_error(self, "input 'in' holds NaN or inf values")

    def decode(self, y: Any) -> Any:
        """Latents (B, n) (float32 torch tensor on the block's device) -> images (B, C, H, W) in
        [0, 1] on the same device, in chunks of ``max_batch``."""
        import torch

        from semradio.models.cdiff import bind_condition, cdiff_sample, from_model_units, image_cond
        from semradio.models.cdiff_latent import pad_latent

        p = self.params
        outs = []
        with torch.no_grad():
            for i in range(0, int(y.shape[0]), self.max_batch):
                maps, mask = pad_latent(y[i:i + self.max_batch], self.cond_shape)
                x0 = cdiff_sample(bind_condition(self.net, maps, mask), image_cond(maps, self.image_shape[0]),
                                  self.schedule, p["steps"], p["eta"], self._gen)
                outs.append(from_model_units(x0).to(torch.float32))
        return outs[0] if len(outs) == 1 else torch.cat(outs, 0)

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        y_in = frame.data
        self._check(y_in)
        t0 = time.perf_counter()
        img = self.decode(as_float_tensor(self, y_in, "input 'in'"))
        data = img.cpu().numpy() if isinstance(y_in, np.ndarray) else img
        if self.device.type == "cuda" and not isinstance(y_in, np.ndarray):
            import torch

            torch.cuda.synchronize(self.device)
        return frame.replace(data, decoder="cdiff", decoder_nfe=self.nfe,
                             decoder_ms=round((time.perf_counter() - t0) * 1e3, 3))


__all__ = ["CDiffDecoder", "DEFAULT_CDIFF"]
