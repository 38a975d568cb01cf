"""The diffusion channel estimator as a streaming block: LS channel grids in, cleaned grids out."""

from __future__ import annotations

import numpy as np

from semradio.blocks.validation import block_error, check_payload, to_choice
from semradio.runtime import Frame, SyncBlock

METHODS = ("tweedie", "ancestral")


class DiffusionChannelEstimator(SyncBlock):
    """Clean least-squares channel estimates with a diffusion model: ``h_LS = h + dh`` in,
    ``E[h | h_LS]`` out (one Tweedie step, or the mean of ancestral-sampler draws), with its
    expected error variance as a tag (:mod:`semradio.dsp.ofdm.diffusion`,
    :class:`semradio.models.channel_denoiser.DiffusionChannelEstimator`).

    The same model is the OFDM receiver's ``estimator="diffusion"``
    (:class:`~semradio.blocks.digital.OFDMReceiver`); this block serves LS grids that come from
    elsewhere (another receiver, a capture, a pilot extractor).

    Parameters
    ----------
    model : str, default "chest_tdllink"
        Checkpoint name or path.
    device : {"cpu", "cuda", "auto"}, default "cpu"
        Where the model runs.
    method : {"tweedie", "ancestral"}, default "tweedie"
        One Tweedie step, or the mean of ancestral-sampler draws.
    steps : int, default 8
        Ancestral sampler steps (>= 1).
    samples : int, default 4
        Ancestral draws averaged (>= 1).
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape, NaN/inf, or a missing or bad ``noise_var`` tag
        (the runtime counts and drops such a frame); at construction for an unknown ``method`` or
        ``steps``/``samples`` below 1.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, rows * K)
        LS channel grids, row-major (B grids of the model's ``rows x K``), numpy.

    **Outputs**

    ``out`` : complex64 (B, rows * K)
        Estimates.

    **Tags read**

    - ``noise_var`` (required): the LS error variance ``v`` (complex, per entry; e.g. the noise
      variance over the pilot energy), a float or (B,) floats.

    **Tags written**

    - ``est_error_var`` (float (B,)): the model's held-out MSE per entry at that level (what an
      equaliser adds to its noise variance);
    - ``estimator`` ("diffusion").

    Others pass through.

    **Run-time parameters**

    None (all are set at construction).

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Frame
    >>> blk = DiffusionChannelEstimator()
    >>> rows, k = blk.shape
    >>> h = np.ones((2, rows * k), np.complex64)
    >>> out = blk.work(Frame(h, {"noise_var": 0.1}))
    >>> out.data.shape, out.tags["est_error_var"].shape
    ((2, 52), (2,))
    """

    def __init__(self, model: str = "chest_tdllink", device: str = "cpu", method: str = "tweedie", steps: int = 8,
                 samples: int = 4, name: str | None = None) -> None:
        super().__init__(name)
        from semradio.models.channel_denoiser import DiffusionChannelEstimator as Estimator

        to_choice("method", METHODS)(method)
        if int(steps) < 1 or int(samples) < 1:
            raise ValueError(f"{self.name}: steps and samples must be >= 1")
        self.estimator = Estimator.load(model, device=device)
        self.shape = tuple(self.estimator.shape)
        self.method, self.steps, self.samples = method, int(steps), int(samples)
        self._rng = np.random.default_rng(0)
        self.add_input("in", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="complex64", shape=(None,))

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        x = frame.data
        check_payload(self, x, dtype="complex64", finite=True)
        rows, k = self.shape
        if x.ndim != 2 or x.shape[1] != rows * k:
            raise block_error(self, f"expected (B, {rows * k}) LS grids of {rows} x {k}, got {tuple(x.shape)}")
        v = frame.tags.get("noise_var")
        if v is None:
            raise block_error(self, "the frame has no 'noise_var' tag (the LS error variance)")
        try:
            lv = np.broadcast_to(np.asarray(v, np.float64), (x.shape[0],))
        except (ValueError, TypeError):
            raise block_error(self, f"tag 'noise_var' must be a float or ({x.shape[0]},) floats") from None
        if not np.all(np.isfinite(lv)) or np.any(lv < 0):
            raise block_error(self, "tag 'noise_var' must be finite and >= 0")
        h, err = self.estimator.estimate(np.asarray(x).reshape(-1, rows, k), lv, method=self.method,
                                         steps=self.steps, samples=self.samples, rng=self._rng)
        return frame.replace(h.reshape(x.shape), est_error_var=err.astype(np.float64), estimator="diffusion")


__all__ = ["DiffusionChannelEstimator", "METHODS"]
