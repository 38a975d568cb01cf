"""The Karras time grid of variance-exploding diffusion (Karras et al., "Elucidating the Design
Space of Diffusion-Based Generative Models"), as the VE latent teacher and its EECD student use
it, and the grid index matched to a channel's noise variance.
"""

from __future__ import annotations

import torch


def karras_grid(n: int = 100, t_min: float = 0.002, t_max: float = 2.0, rho: float = 7.0) -> torch.Tensor:
    """Karras time grid as float64 (N+1,): ``[t_0 = 0, t_1 = t_min, ..., t_N = t_max]``
    (Section IV-B). Index n is the grid index used everywhere (t_m, Alg. 4's tau)."""
    if n < 2:
        raise ValueError(f"the grid needs N >= 2 points, got {n}")
    if not 0.0 < t_min < t_max:
        raise ValueError(f"need 0 < t_min < t_max, got {t_min}, {t_max}")
    if rho <= 0:
        raise ValueError(f"rho must be > 0, got {rho}")
    i = torch.arange(n, dtype=torch.float64)
    a, b = t_min ** (1.0 / rho), t_max ** (1.0 / rho)
    t = (a + i / (n - 1) * (b - a)) ** rho
    t[0], t[-1] = t_min, t_max  # exact endpoints
    return torch.cat([torch.zeros(1, dtype=torch.float64), t])


def match_index(grid: torch.Tensor, noise_var: float) -> int:
    """``m = argmin_{n >= 1} |t_n^2 - s2|`` (Alg. 4 line 4); 0 for s2 <= 0 (no noise)."""
    if not noise_var > 0:
        return 0
    return int(torch.argmin((grid[1:] ** 2 - float(noise_var)).abs())) + 1


__all__ = ["karras_grid", "match_index"]
