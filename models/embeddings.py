"""Network building blocks shared by the diffusion families."""

from __future__ import annotations

import math

import torch


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of steps t (B,) -> (B, dim) (Vaswani et al., "Attention Is All You
    Need"): ``[cos(t f_i), sin(t f_i)]`` with ``f_i = max_period^(-i / (dim/2))``; used by the
    CDDM, ICDM, VE/EECD and CDiff networks."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=1)


__all__ = ["timestep_embedding"]
