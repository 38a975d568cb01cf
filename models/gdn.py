"""Generalized divisive normalization (GDN) and its inverse (IGDN).

Ballé, Laparra, Simoncelli, "Density modeling of images using a generalized normalization
transformation", ICLR 2016 (eq. 5 with alpha = 2, epsilon = 1/2)::

    GDN:   y_i = x_i / sqrt(beta_i + sum_j gamma_ij x_j^2)
    IGDN:  y_i = x_i * sqrt(beta_i + sum_j gamma_ij x_j^2)

applied per pixel across the C channels of a (B, C, H, W) feature map. beta > 0 and
gamma >= 0 are kept in range by the usual reparametrization (stored as square roots with a small
pedestal, clamped from below), so plain SGD/Adam steps can never make the denominator vanish.
Deep JSCC with attention modules (ADJSCC; Xu et al., IEEE TCSVT 2021) uses GDN after every
encoder convolution and IGDN in the decoder.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_PEDESTAL = 2.0 ** -36


def gdn_norm(x: torch.Tensor, beta: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
    """``sqrt(beta_i + sum_j gamma_ij x_j^2)`` for x (B, C, H, W), beta (C,), gamma (C, C)."""
    c = x.shape[1]
    return torch.sqrt(F.conv2d(x * x, gamma.view(c, c, 1, 1), beta))


class GDN(nn.Module):
    """GDN (``inverse=False``) or IGDN (``inverse=True``) over the channels of (B, C, H, W).

    Args:
        channels: C.
        inverse: IGDN (multiply by the norm) instead of GDN (divide by it).
        beta_min: lower bound of beta (keeps the GDN denominator >= sqrt(beta_min)).
        gamma_init: initial diagonal of gamma (beta starts at 1, so GDN starts near identity).
    """

    def __init__(self, channels: int, inverse: bool = False, beta_min: float = 1e-6,
                 gamma_init: float = 0.1) -> None:
        super().__init__()
        self.channels = int(channels)
        self.inverse = bool(inverse)
        self.beta_bound = (beta_min + _PEDESTAL) ** 0.5
        self.gamma_bound = _PEDESTAL ** 0.5
        self.beta = nn.Parameter(torch.sqrt(torch.ones(channels) + _PEDESTAL))
        self.gamma = nn.Parameter(torch.sqrt(gamma_init * torch.eye(channels) + _PEDESTAL))

    def effective_params(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The constrained ``(beta (C,), gamma (C, C))`` actually applied."""
        beta = self.beta.clamp_min(self.beta_bound).square() - _PEDESTAL
        gamma = self.gamma.clamp_min(self.gamma_bound).square() - _PEDESTAL
        return beta, gamma

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta, gamma = self.effective_params()
        norm = gdn_norm(x, beta, gamma)
        return x * norm if self.inverse else x / norm

    def extra_repr(self) -> str:
        return f"{self.channels}, inverse={self.inverse}"
