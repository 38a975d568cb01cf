"""ICDM under block fading: the interferer's gain ``h_z`` constant over a block and unknown.

Under fast Rayleigh fading (a new ``h_z`` per symbol, the setting of "Interference Cancellation
Diffusion Models for Wireless Semantic Communications") the faded interference ``h_z z`` given
``|z|`` is exactly CN(0, |z|^2): its structure is gone, and no prior can add more than the bound
of :func:`semradio.models.evaluation.icdm.interference_bound`. When ``h_z`` stays constant over a
block (a frame, or ``coherence`` symbols), ``h_z z`` is a scaled, rotated copy of ``z`` and keeps
all of its structure. This module estimates the block gain and hands the sampler the *unfaded*
interference model, so the interference prior trained without fading (AWGN) applies as is.

Model, per item, equalizer scale (complex, k symbols; the MMSE equalizer's Lemma 1 form)::

    y_i = alpha_i x_i + a_i g_b z_i + u_i,   alpha_i = sqrt(Px) W_s,i,
    a_i = sqrt(Pz) conj(c_i),  c_i = h_i / (|h_i|^2 + s2),  u_i ~ CN(0, s2 W_n,i^2)

with ``g_b = h_z`` on the symbols of block b, unknown. Choice (and why): the gain is estimated
*before* the sampler, under an improper-Gaussian model of x and z (each
symbol's mean, variance and pseudo-variance over training latents of the two codecs,
:func:`latent_moments`), not jointly inside the sampler. The latents are far from circular
(mean power 36 % of the interferer's total, pseudo-variance about half of the variance), so the
phase of ``g`` is identifiable from second-order statistics alone. Re-fitting ``g`` by least
squares on the sampler's running (Tweedie) estimates locks the two onto each other and was
worse; re-fitting on its output and running again gained nothing at twice the cost (the ICDM
results page, docs/results/icdm.md). The sampler then runs with ``W_z = c conj(g_hat)``, which is
eq. (3) for the unfaded z.

Written here (no library has it): the per-block improper-Gaussian likelihood and its search
over ``|g|`` (from the received power) and the phase of ``g`` (a grid).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from semradio.dsp import channel as cm

from .icdm import Link

#: The interference prior of block fading: trained on unfaded interferer latents.
BLOCK_INTERFERENCE_PRIOR = "icdm_interference_natural32_awgn_cbr1-6"
#: Training patches the latent moments are computed from.
MOMENT_PATCHES = 2000
FADINGS = ("fast", "block")


@dataclass(frozen=True)
class LatentMoments:
    """First and second moments of a codec's unit-power complex latents, per symbol (k,):
    ``mean = E[x]``, ``var = E|x - mean|^2``, ``pvar = E[(x - mean)^2]`` (pseudo-variance; 0
    for a circular variable)."""

    mean: torch.Tensor
    var: torch.Tensor
    pvar: torch.Tensor

    @classmethod
    def of(cls, latents: torch.Tensor) -> "LatentMoments":
        """Moments of complex latents (N, k)."""
        if latents.ndim != 2 or not latents.is_complex() or latents.shape[0] < 2:
            raise ValueError(f"latents must be complex (N >= 2, k), got {tuple(latents.shape)} {latents.dtype}")
        mean = latents.mean(0)
        d = latents - mean
        return cls(mean, (d.abs() ** 2).mean(0), (d * d).mean(0))


@functools.lru_cache(maxsize=16)
def latent_moments(codec: str, snr_db: float, data: str = "natural32", n: int = MOMENT_PATCHES) -> LatentMoments:
    """:class:`LatentMoments` of the shipped codec ``codec`` (power-normalized latents of the
    first ``n`` training patches of ``data``, encoded at ``snr_db``; cached per process)."""
    from . import data as D
    from .checkpoint import load_codec

    if data != "natural32":
        raise ValueError(f"latent moments are defined for the natural32 patches, got data {data!r}")
    net = load_codec(codec, "cpu").eval()
    imgs = D.natural_patches("train", 32)[:n]
    with torch.no_grad():
        lat = torch.cat([cm.normalize_power(net.encode(torch.from_numpy(np.ascontiguousarray(imgs[i:i + 500])),
                                                       float(snr_db))) for i in range(0, len(imgs), 500)])
    return LatentMoments.of(lat)


def _blocks(v: torch.Tensor, coherence: int | None) -> torch.Tensor:
    """(B, k) -> (B, nb, L) (``coherence`` L must divide k; None: one block per item)."""
    B, k = v.shape[-2], v.shape[-1]
    L = k if coherence is None else int(coherence)
    if L < 1 or k % L:
        raise ValueError(f"coherence {coherence} must divide the {k} symbols of an item")
    return v.reshape(B, k // L, L)


def block_gain_ml(y: torch.Tensor, alpha: torch.Tensor, a: torch.Tensor, noise_var: torch.Tensor,
                  mx: LatentMoments, mz: LatentMoments, coherence: int | None = None,
                  phases: int = 64) -> torch.Tensor:
    """Block gains ``g`` of ``y = alpha x + a g z + u`` (see the module docstring) under the
    improper-Gaussian model of x and z: the phase by maximum likelihood on a grid, at the
    magnitude of a moment estimate from the received power (which leaves out the cross term
    ``2 Re(alpha m_x conj(a g m_z))`` of the two means: with the shipped codecs' moments it is
    at most 6.5 % of the interference term, so |g| is slightly biased, most for weak interferers).

    Per symbol, ``w = alpha x + b z + u`` (``b = a g``) has mean ``alpha m_x + b m_z``, variance
    ``V = alpha^2 v_x + |b|^2 v_z + s_u`` and pseudo-variance ``P = alpha^2 p_x + b^2 p_z``; its
    real pair has covariance ``S = 1/2 [[V + Re P, Im P], [Im P, V - Re P]]``, and the block's
    negative log-likelihood is ``sum_i log det S_i + r_i^T S_i^-1 r_i`` (r the residual from the
    mean). ``|g|`` comes from the block's received power,
    ``|g|^2 = (sum |y|^2 - alpha^2 E|x|^2 - s_u) / sum |a|^2 E|z|^2``; the phase is the best of
    ``phases`` grid points.

    Parameters
    ----------
    y : complex (B, k) equalizer output.
    alpha : real (B, k) signal weight ``sqrt(Px) W_s``.
    a : complex (B, k) interference weight ``sqrt(Pz) conj(c)``.
    noise_var : real (B, k) noise variance per symbol ``s2 W_n^2``.
    mx, mz : moments of x and z, (k,) each.
    coherence : symbols per block of ``h_z`` (must divide k); None: one block per item.
    phases : phase grid size.

    Returns
    -------
    complex (B, nb) gains, nb = k / coherence (1 with ``coherence=None``).

    Examples
    --------
    >>> import torch
    >>> k = 4096
    >>> gen = torch.Generator().manual_seed(0)
    >>> z = torch.complex(torch.randn(1, k, generator=gen) * 1.2, torch.randn(1, k, generator=gen) * 0.4) + 0.5
    >>> mz = LatentMoments(torch.full((k,), 0.5 + 0j), torch.full((k,), 1.6), torch.full((k,), 1.28 + 0j))
    >>> mx = LatentMoments(torch.zeros(k, dtype=torch.complex64), torch.ones(k), torch.zeros(k, dtype=torch.complex64))
    >>> g = torch.tensor(0.6 - 0.8j)
    >>> y = g * z
    >>> g_hat = block_gain_ml(y, torch.zeros(1, k), torch.ones(1, k, dtype=torch.complex64), torch.full((1, k), 1e-3), mx, mz)
    >>> bool((g_hat - g).abs() < 0.1)
    True
    """
    B, k = y.shape
    yb, ab = _blocks(y, coherence), _blocks(a, coherence)
    al, nv = _blocks(alpha.to(y.real.dtype), coherence), _blocks(noise_var.to(y.real.dtype), coherence)
    nb, L = yb.shape[1], yb.shape[2]
    m = [t.to(y.device).reshape(nb, L) for t in (mx.mean, mx.var, mx.pvar, mz.mean, mz.var, mz.pvar)]
    mxm, mxv, mxp, mzm, mzv, mzp = m
    ex2, ez2 = mxm.abs() ** 2 + mxv, mzm.abs() ** 2 + mzv
    num = (yb.abs() ** 2 - al ** 2 * ex2 - nv).sum(-1)
    den = (ab.abs() ** 2 * ez2).sum(-1)
    # no interference reaches the receiver (Pz = 0): nothing to estimate, the gain is 0
    mag = torch.where(den > 1e-12, (num / den.clamp_min(1e-12)).clamp_min(1e-6), torch.zeros_like(num)).sqrt()
    grid = torch.exp(1j * torch.arange(phases, dtype=torch.float64) * (2 * math.pi / phases)).to(y.dtype)
    cand = mag[..., None].to(y.dtype) * grid.to(y.device)  # (B, nb, G)
    b = ab[:, :, None, :] * cand[..., None]  # (B, nb, G, L)
    alg = al[:, :, None, :]
    mxm, mxv, mxp, mzm, mzv, mzp = (t[:, None, :] for t in m)  # (nb, 1, L) against (B, nb, G, L)
    r = yb[:, :, None, :] - alg * mxm - b * mzm
    V = alg ** 2 * mxv + b.abs() ** 2 * mzv + nv[:, :, None, :]
    P = alg ** 2 * mxp + b * b * mzp
    s11, s22, s12 = 0.5 * (V + P.real), 0.5 * (V - P.real), 0.5 * P.imag
    det = (s11 * s22 - s12 ** 2).clamp_min(1e-30)
    rr, ri = r.real, r.imag
    nll = (torch.log(det) + (s22 * rr ** 2 - 2 * s12 * rr * ri + s11 * ri ** 2) / det).sum(-1)  # (B, nb, G)
    return cand.gather(-1, nll.argmin(-1, keepdim=True))[..., 0]


def link_terms(link: Link) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(y, alpha, a, noise_var)`` of :func:`block_gain_ml` (equalizer scale, complex (B, k))
    from a :class:`Link` in diffusion units whose ``w_z`` is the equalizer's ``c`` (no h_z)."""
    k = link.y.shape[-1] // 2
    y = cm.real_to_complex(link.y / math.sqrt(2.0))
    alpha = math.sqrt(link.px) * link.w_x[:, :k]
    a = math.sqrt(link.pz) * cm.real_to_complex(link.w_z).conj()
    return y, alpha, a, link.s2 * link.w_n[:, :k] ** 2


def with_block_gain(link: Link, g: torch.Tensor, coherence: int | None = None) -> Link:
    """``link`` with ``W_z = c conj(g)`` per symbol: eq. (3) for the unfaded interference z when
    ``h_z = g`` (g complex (B, nb), constant over each block of ``coherence`` symbols)."""
    k = link.y.shape[-1] // 2
    c = cm.real_to_complex(link.w_z)
    gs = g.to(c.dtype).repeat_interleave(k // g.shape[-1], dim=-1)
    return Link(link.y, link.w_x, link.w_n, cm.complex_to_real(c * gs.conj()), s2=link.s2, px=link.px, pz=link.pz)


def estimate_block_link(link: Link, mx: LatentMoments, mz: LatentMoments, coherence: int | None = None,
                        phases: int = 64) -> tuple[Link, torch.Tensor]:
    """The link the sampler runs on under block fading, and the gain estimates (B, nb)."""
    g = block_gain_ml(*link_terms(link), mx, mz, coherence=coherence, phases=phases)
    return with_block_gain(link, g, coherence), g


__all__ = ["BLOCK_INTERFERENCE_PRIOR", "FADINGS", "LatentMoments", "block_gain_ml", "estimate_block_link",
           "latent_moments", "link_terms", "with_block_gain"]
