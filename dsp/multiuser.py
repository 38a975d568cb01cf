"""Convex-combination weights of seed 001's multi-user experiments (Figs. 3, 4, 7, 9), and the
superposition itself on tensors (the :class:`~semradio.blocks.channels.superpose.Superpose` block does it
in a flowgraph).

Seed 001 simulates multi-user interference by feeding the decoder a *convex combination* of the
desired user's latent ``x`` and the interferers' latents ``z_i`` (each power-normalized, i.i.d.
images, independent encoders of the same kind) over the same AWGN channel::

    y = a x + sum_i b_i z_i + n,   a + sum_i b_i = 1,   b_i = (1 - a) / N,   n ~ CN(0, s2)

With unit-power, mutually independent symbols the desired power is a^2, the interference power
``sum_i b_i^2 = (1 - a)^2 / N`` and, with unit transmit power, ``s2 = 10^(-SNR/10)``::

    SINR = a^2 / ((1 - a)^2 / N + s2)                                            (i)

(seed 001 appendix E: a = 0.8, N = 1 at SNR 0 dB gives SINR = 0.64 / 1.04 = -2.1 dB; a = 0.9 at
20 dB gives 16.1 dB). SINR is increasing in a on [0, 1] (from 0 to SNR), so a SINR S <= SNR has
one solution a in (0, 1]: with c = S/N, (i) is the quadratic ``(1 - c) a^2 + 2 c a - (c + S s2)
= 0`` whose root in [0, 1] is, in a form stable for every sign of 1 - c::

    a = (c + S s2) / (c + sqrt(c^2 + (1 - c)(c + S s2)))                         (ii)

A SINR above the SNR is not reachable (even a = 1 leaves the noise).
"""


from __future__ import annotations

import math

from typing import Any


def convex_sinr_db(a: float, snr_db: float, n_interferers: int) -> float:
    """SINR (dB) of eq. (i) for the desired weight ``a`` in (0, 1], N interferers, SNR in dB
    (unit transmit power; +inf: noiseless)."""
    if not 0.0 < a <= 1.0:
        raise ValueError(f"the desired user's weight a must lie in (0, 1], got {a}")
    if n_interferers < 1:
        raise ValueError(f"need at least one interferer, got {n_interferers}")
    s2 = 10.0 ** (-snr_db / 10.0)
    den = (1.0 - a) ** 2 / n_interferers + s2
    return math.inf if den == 0.0 else 10.0 * math.log10(a * a / den)


def convex_weight_for_sinr(sinr_db: float, snr_db: float, n_interferers: int) -> float:
    """The desired user's weight a of eq. (ii) giving ``sinr_db`` at ``snr_db`` with N
    interferers of weight ``(1 - a)/N`` each.

    Raises:
        ValueError: SINR not finite, SINR above the SNR (unreachable), or N < 1.
    """
    if n_interferers < 1:
        raise ValueError(f"need at least one interferer, got {n_interferers}")
    if not math.isfinite(sinr_db):
        raise ValueError(f"SINR must be finite, got {sinr_db}")
    if math.isnan(snr_db):
        raise ValueError("SNR must not be NaN")
    if sinr_db > snr_db + 1e-9:
        raise ValueError(f"SINR {sinr_db:g} dB is not reachable at SNR {snr_db:g} dB: the SINR of a convex "
                         f"combination is at most the SNR (a = 1, no interference)")
    S = 10.0 ** (sinr_db / 10.0)
    s2 = 10.0 ** (-snr_db / 10.0)
    c = S / n_interferers
    q = c + S * s2
    disc = max(c * c + (1.0 - c) * q, 0.0)
    return min(q / (c + math.sqrt(disc)), 1.0)


def superpose(x_c: Any, z_c: list[Any], a: float, b: float, s2: float, generator: Any = None) -> Any:
    """``y = a x + b sum_i z_i + n`` for complex torch latents (B, k), n ~ CN(0, s2) (s2 = 0:
    none); ``generator``: a torch.Generator on the latents' device (None: the global one)."""
    import torch

    y = a * x_c
    for z in z_c:
        if z.shape != x_c.shape:
            raise ValueError(f"interferer latent {tuple(z.shape)} does not match the desired {tuple(x_c.shape)}")
        y = y + b * z
    if s2 > 0:
        std = math.sqrt(s2 / 2.0)
        re = torch.randn(x_c.shape, generator=generator, device=x_c.device)
        im = torch.randn(x_c.shape, generator=generator, device=x_c.device)
        y = y + std * torch.complex(re, im)
    return y
