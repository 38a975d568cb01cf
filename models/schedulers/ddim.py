"""The DDIM step (Song et al., "Denoising Diffusion Implicit Models", eq. 12), shared by the
CDDM sampler's ``ddim`` rule and the ICDM samplers (deterministic and ancestral)::

    x0_hat = (x_t - sqrt(1 - abar_t) e) / sqrt(abar_t)
    s      = eta sqrt((1 - abar_p) / (1 - abar_t)) sqrt(1 - abar_t / abar_p)
    x_p    = sqrt(abar_p) x0_hat + sqrt(1 - abar_p - s^2) e + s n,     n ~ N(0, I)

from step t to an earlier step p (``abar_p > abar_t``); ``e`` is the noise estimate, already
scaled where the forward process scales its noise (CDDM: ``W_n eps``). ``eta = 0``: the
deterministic step (Euler on the probability-flow ODE in lambda); ``eta = 1``: the ancestral
step (the DDPM posterior over the skipped interval).
"""

from __future__ import annotations

import math
from typing import Any, Callable


def ddim_sigma(abar_t: float, abar_prev: float, eta: float) -> float:
    """The noise level ``s`` of a DDIM step from ``abar_t`` to ``abar_prev`` (0 when eta = 0)."""
    if eta <= 0:
        return 0.0
    return eta * math.sqrt((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev))


def ddim_step(x_t: Any, eps: Any, abar_t: float, abar_prev: float, eta: float = 0.0,
              noise: Callable[[], Any] | None = None) -> Any:
    """One DDIM step (module docstring) on tensors of any shape.

    Args:
        x_t: the current sample.
        eps: the noise estimate at step t (same shape), scaled as the forward process scales noise.
        abar_t, abar_prev: cumulative alphas of the two steps.
        eta: stochasticity in [0, 1].
        noise: called once for ``n`` when ``s > 0`` (keeps the caller's generator and draw order).
    """
    s = ddim_sigma(abar_t, abar_prev, eta)
    c = math.sqrt(max(1 - abar_prev - s * s, 0.0))
    out = math.sqrt(abar_prev) * (x_t - math.sqrt(1.0 - abar_t) * eps) / math.sqrt(abar_t) + c * eps
    if s > 0:
        if noise is None:
            raise ValueError("a stochastic DDIM step (eta > 0) needs a noise source")
        out = out + s * noise()
    return out


__all__ = ["ddim_sigma", "ddim_step"]
