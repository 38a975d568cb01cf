"""PGD semantic-error attack as a block: images in, attacked images out (white-box against a
named codec), for testing a link's robustness in a flowgraph (Section III-C of *Latent Diffusion
Model-Enabled Real-Time Semantic Communication Considering Semantic Ambiguities and Channel
Noises*; the math is :mod:`semradio.models.attacks`)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semradio.runtime import Frame

from semradio.blocks.validation import block_error, to_optional_float

from .jscc import DEFAULT_CODEC, _CodecBlock, log

#: Upper bound of ``steps`` (a flowgraph file is untrusted: no endless attack per frame).
MAX_STEPS = 10_000


def _level(v: Any) -> float:
    v = float(v)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"eps_level must be a finite number >= 0, got {v!r}")
    return v


def _steps(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 1 <= int(v) <= MAX_STEPS:
        raise ValueError(f"steps must be an integer in 1..{MAX_STEPS}, got {v!r}")
    return int(v)


class PGDAttack(_CodecBlock):

    """PGD semantic-error attack: images (B, C, H, W) -> ``x + delta``, the error that most
    changes the codec's reconstruction within an L2 budget.

    Per image, ``delta`` maximises ``MSE(G(E(x)), G(E(x + delta)))`` subject to
    ``||delta||_2 <= eps`` and ``0 <= x + delta <= 1`` (eqs. 7-9 of the paper; exact projection,
    normalised-gradient steps of ``2.5 eps / steps``, seeded random start), white-box against
    ``codec`` on its noiseless link (power normalised latent), where
    ``eps = eps_level * sqrt(H W) / 2``: the paper's error level ``||delta||_2 / H`` measured on
    images scaled to [-1, 1] (:func:`semradio.models.attacks.eps_for_level`; 0.3 on 32x32
    images gives eps = 4.8 in [0, 1] units).

    Parameters
    ----------
    codec : str or torch.nn.Module, default "jscc_natural32_awgn_cbr1-6"
        The codec attacked (white-box): a registered name, checkpoint path or DeepJSCC module.
        To test a robust encoder honestly, attack that very codec (an adaptive attack).
    eps_level : float, default 0.3
        Error level ``||delta||_2 / H`` on [-1, 1] images (the paper trains at 0.3), >= 0.
        Settable at run time.
    steps : int, default 20
        PGD iterations (1..10000). Settable at run time.
    snr_db : float, optional
        SNR (dB) the SNR-adaptive layers see when the frame has no ``snr_db`` tag (clipped to
        the codec's training range). Settable at run time.
    seed : int, default 0
        Seed of the attack's random starts (one generator per block, seeded at start()).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the codec runs.
    name : str, optional
        Block name, unique within a flowgraph.

    Attributes
    ----------
    codec_name : str
        The attacked codec's name (or its module's class name).
    device : torch.device
        The device the attack runs on.
    dropped : int
        Frames dropped as unusable (see Raises).

    Raises
    ------
    ValueError
        At construction, naming the block, for a codec that cannot be loaded or a bad
        ``eps_level`` / ``steps``. A frame ``work()`` cannot attack (a wrong container, dtype
        or shape, pixels outside [0, 1] or not finite, a bad ``snr_db`` tag, an SNR-adaptive
        codec without an SNR) is dropped with a warning naming the block and counted in
        ``dropped``: the graph keeps running.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, C, H, W)
        Images in [0, 1], H and W divisible by 4; numpy or torch.

    **Outputs**

    ``out`` : float32 (B, C, H, W)
        ``x + delta`` in [0, 1]; numpy for numpy input, else a torch tensor on the block's device.

    **Tags read**

    - ``snr_db`` (SNR-adaptive codecs; falls back to the ``snr_db`` parameter).

    **Tags written**

    - ``attack`` (str, ``"pgd-l2:<codec>"``), ``attack_eps`` (float, the L2 budget in [0, 1]
      units), ``attack_level`` (float, ``eps_level``).

    Other tags pass through.

    **Run-time parameters**

    ``eps_level``, ``steps``, ``snr_db``.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.blocks.codecs import PGDAttack
    >>> from semradio.runtime import Frame
    >>> atk = PGDAttack(eps_level=0.3, steps=2, snr_db=10.0, device="cpu")
    >>> atk.start()
    >>> x = np.full((1, 3, 32, 32), 0.5, dtype=np.float32)
    >>> out = atk.work(Frame(x, {"seq": 0}))
    >>> out.tags["attack_eps"], round(float(np.linalg.norm(out.data - x)), 3) <= 4.8
    (4.8, True)
    """

    part = "encoder"

    def __init__(self, codec: Any = DEFAULT_CODEC, eps_level: float = 0.3, steps: int = 20,
                 snr_db: float | None = None, seed: int = 0, device: str = "auto", name: str | None = None) -> None:
        super().__init__(codec, device, name, "torch", 1)
        try:
            eps_level, steps = _level(eps_level), _steps(steps)
        except ValueError as exc:
            raise block_error(self, str(exc)) from None
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise block_error(self, f"seed must be an integer, got {seed!r}")
        self.seed = int(seed)
        self._gen: Any = None
        self.dropped = 0
        self.add_input("in", dtype="float32", shape=(self.codec.in_channels, None, None))
        self.add_output("out", dtype="float32", shape=(self.codec.in_channels, None, None))
        self.declare_param("eps_level", eps_level, "error level ||delta||_2/H on [-1, 1] images", _level)
        self.declare_param("steps", steps, "PGD iterations", _steps)
        self.declare_param("snr_db", snr_db, "SNR (dB) the codec assumes when frames carry no snr_db tag",
                           to_optional_float("snr_db"))

    @classmethod
    def example(cls) -> "PGDAttack":
        return cls(steps=2, snr_db=10.0, device="cpu")

    def start(self) -> None:
        import torch

        self._gen = torch.Generator(device=self.device)
        self._gen.manual_seed(self.seed)

    def work(self, frame: Frame) -> Frame | None:  # type: ignore[override]
        try:
            return self._attack(frame)
        except (ValueError, TypeError) as exc:  # untrusted input: drop the frame, keep the graph running
            self.dropped += 1
            msg = exc if isinstance(exc, ValueError) else block_error(self, f"unusable payload: {exc}")
            log.warning("%s (frame %s dropped)", msg, frame.tags.get("seq"))
            return None

    def _attack(self, frame: Frame) -> Frame:
        import torch

        from semradio.models.attacks import eps_for_level, image_side, pgd_attack

        x, as_numpy = self._to_device(frame.data)
        c = self.codec.in_channels
        if x.ndim != 4 or x.shape[1] != c or x.shape[2] % 4 or x.shape[3] % 4 or x.shape[0] == 0:
            raise block_error(self, f"input 'in' must be images (B, {c}, H, W) with H, W divisible by 4, "
                                    f"got {tuple(x.shape)}")
        if not bool(torch.isfinite(x).all()) or float(x.min()) < 0.0 or float(x.max()) > 1.0:
            raise block_error(self, "input 'in' must hold finite pixel values in [0, 1]")
        snr = self._snr(frame, required=True)
        if self._gen is None:
            self.start()
        level = float(self.params["eps_level"])
        eps = eps_for_level(level, image_side(int(x.shape[2]), int(x.shape[3])))
        delta = pgd_attack(self.codec, x, eps, int(self.params["steps"]), snr_db=snr, generator=self._gen)
        out = (x + delta).clamp(0.0, 1.0)
        return frame.replace(self._out(out, as_numpy), attack=f"pgd-l2:{self.codec_name}", attack_eps=float(eps),
                             attack_level=level)


__all__ = ["PGDAttack"]
