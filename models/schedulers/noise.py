"""Discrete noise schedules (DDPM notation): betas, alphas, cumulative products, and the
decreasing step sequences samplers walk.

``alpha_t = 1 - beta_t``, ``abar_t = prod_{s<=t} alpha_s`` for t = 0..T-1 (index 0 is the
least noisy step). The signal-to-noise ratio of step t is ``abar_t / (1 - abar_t)``. The
CDDM and ICDM networks are trained on a :class:`NoiseSchedule`; CDiff's conditional schedule is
built from the same :func:`linear_betas`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

SCHEDULES = ("linear", "cosine")


def linear_betas(T: int, beta_1: float = 1e-4, beta_T: float = 0.02) -> torch.Tensor:
    """``beta_t`` linearly spaced from ``beta_1`` to ``beta_T`` (Ho et al. 2020), float64 (T,)."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")
    if not 0.0 < beta_1 <= beta_T < 1.0:
        raise ValueError(f"need 0 < beta_1 <= beta_T < 1, got {beta_1}, {beta_T}")
    return torch.linspace(beta_1, beta_T, T, dtype=torch.float64)


def cosine_betas(T: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021): ``abar(t) = cos^2(((t/T)+s)/(1+s) * pi/2) /
    cos^2(s/(1+s) * pi/2)``, betas ``1 - abar_t/abar_{t-1}`` clipped at ``max_beta``; (T,) f64."""
    if T < 1:
        raise ValueError(f"T must be >= 1, got {T}")

    def f(t: float) -> float:
        return math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2

    betas = [min(1.0 - f(t + 1) / f(t), max_beta) for t in range(T)]
    return torch.tensor(betas, dtype=torch.float64)


@dataclass(frozen=True)
class NoiseSchedule:
    """A discrete schedule with its derived tables (float64 tensors of shape (T,)).

    Attributes:
        betas, alphas, alpha_bars: ``beta_t``, ``alpha_t = 1 - beta_t``, ``abar_t``.
        kind: ``"linear"`` or ``"cosine"``; ``params``: the arguments it was built with.
    """

    kind: str
    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    params: dict

    @classmethod
    def make(cls, kind: str = "linear", T: int = 1000, **params: float) -> "NoiseSchedule":
        """Build ``kind`` (``"linear"``: beta_1, beta_T; ``"cosine"``: s) with T steps."""
        if kind == "linear":
            betas = linear_betas(T, **params)
        elif kind == "cosine":
            betas = cosine_betas(T, **params)
        else:
            raise ValueError(f"unknown schedule {kind!r}; choose one of {SCHEDULES}")
        alphas = 1.0 - betas
        return cls(kind, betas, alphas, torch.cumprod(alphas, 0), {"T": T, **params})

    @property
    def T(self) -> int:
        """Number of steps."""
        return int(self.betas.numel())

    def step_for_noise_ratio(self, ratio: float | torch.Tensor) -> torch.Tensor:
        """Step m whose ``(1 - abar_m) / abar_m`` is closest to ``ratio`` (per element).

        For CDDM the ratio is the channel's s2: then ``abar_m`` matches ``1/(1 + s2)``, the
        KL-matched start step of the reverse process (seed 002, "采样过程").
        """
        r = torch.as_tensor(ratio, dtype=torch.float64).reshape(-1, 1)
        table = ((1.0 - self.alpha_bars) / self.alpha_bars).reshape(1, -1)
        # compare in log domain: ratios span many decades
        return torch.argmin((torch.log(table) - torch.log(r.clamp_min(1e-300))).abs(), dim=1)

    def to_config(self) -> dict:
        """Plain-data description (for checkpoint JSON)."""
        return {"kind": self.kind, **self.params}

    @classmethod
    def from_config(cls, cfg: dict) -> "NoiseSchedule":
        """Inverse of :meth:`to_config`."""
        cfg = dict(cfg)
        return cls.make(cfg.pop("kind"), **cfg)


def spaced_timesteps(schedule: NoiseSchedule, steps: int) -> list[int]:
    """``round(linspace(0, T-1, steps+1))[::-1][:-1]``: ``steps`` decreasing DDPM steps
    (diffusers' "linspace" spacing); a trajectory over them then ends at step 0.

        >>> spaced_timesteps(NoiseSchedule.make("linear", T=10, beta_1=1e-4, beta_T=0.02), 3)
        [9, 6, 3]
    """
    if not 1 <= steps <= schedule.T:
        raise ValueError(f"steps must be in 1..{schedule.T}, got {steps}")
    ts = np.linspace(0, schedule.T - 1, steps + 1).round()[::-1][:-1].astype(np.int64)
    return [int(t) for t in ts]
