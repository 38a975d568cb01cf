"""Padding and masking of variable-length received latents for the CDiff decoder (seed 001).

One CDiff decoder serves several CBRs and encoders (seed 001, sec. 3.1 and appendix D): a
received real latent ``y`` of length ``n <= L`` (``n = 2k``, k complex symbols) is zero-padded to
the fixed length ``L = C H W`` and reshaped to image-size maps ``y~`` of shape (C, H, W) (the
"padded-and-reshaped" conditioning of eq. 5). A 0/1 mask of the same shape marks the positions
that carry latent values, so a zero symbol and a padded slot stay distinguishable.

Layout: row-major, ``y~[c, h, w] = y[c H W + h W + w]`` for flat index < n, else 0. The inverse
:func:`unpad_latent` returns the first n values, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch


def cond_channels_for(max_length: int, image_size: Sequence[int]) -> int:
    """Smallest C with ``C H W >= max_length`` (the number of conditioning maps)."""
    h, w = int(image_size[0]), int(image_size[1])
    if max_length < 1 or h < 1 or w < 1:
        raise ValueError(f"need max_length >= 1 and a positive image size, got {max_length}, {tuple(image_size)}")
    return math.ceil(max_length / (h * w))


def latent_mask(lengths: torch.Tensor, total: int) -> torch.Tensor:
    """Mask (B, total) float32: 1 at flat positions ``< lengths[b]``, else 0."""
    if lengths.ndim != 1:
        raise ValueError(f"lengths must be (B,), got {tuple(lengths.shape)}")
    if int(lengths.min()) < 0 or int(lengths.max()) > total:
        raise ValueError(f"lengths must lie in 0..{total}, got {lengths.min().item()}..{lengths.max().item()}")
    pos = torch.arange(total, device=lengths.device)
    return (pos[None, :] < lengths[:, None]).to(torch.float32)


def pad_latent(latent: torch.Tensor, shape: Sequence[int],
               lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a real latent (B, n) to image-size maps.

    Args:
        latent: (B, n) real latents, n <= C H W. Values at positions ``>= lengths[b]`` are ignored
            (set to 0), so a batch may mix CBRs: pad each to the longest and pass ``lengths``.
        shape: (C, H, W) of the conditioning maps.
        lengths: (B,) int64 valid lengths (default: n for every item).

    Returns:
        ``(maps, mask)``, both (B, C, H, W) float32 on ``latent``'s device; ``maps`` is the
        padded-and-reshaped ``y~`` of seed 001 eq. 5, ``mask`` is 1 where a latent value sits.
    """
    if latent.ndim != 2:
        raise ValueError(f"pad_latent: expected a (B, n) latent, got {tuple(latent.shape)}")
    c, h, w = (int(s) for s in shape)
    total = c * h * w
    b, n = latent.shape
    if n > total:
        raise ValueError(f"pad_latent: latent length {n} exceeds C*H*W = {total} of shape {(c, h, w)}")
    if lengths is None:
        lengths = torch.full((b,), n, dtype=torch.long, device=latent.device)
    lengths = lengths.to(device=latent.device, dtype=torch.long)
    if lengths.shape != (b,):
        raise ValueError(f"pad_latent: lengths must be ({b},), got {tuple(lengths.shape)}")
    if b and int(lengths.max()) > n:
        raise ValueError(f"pad_latent: a length {int(lengths.max())} exceeds the latent width {n}")
    mask = latent_mask(lengths, total)
    flat = torch.zeros(b, total, dtype=torch.float32, device=latent.device)
    flat[:, :n] = latent.to(torch.float32)
    flat = flat * mask
    return flat.reshape(b, c, h, w), mask.reshape(b, c, h, w)


def unpad_latent(maps: torch.Tensor, length: int) -> torch.Tensor:
    """Exact inverse of :func:`pad_latent` for one length: (B, C, H, W) -> (B, length)."""
    if maps.ndim != 4:
        raise ValueError(f"unpad_latent: expected (B, C, H, W) maps, got {tuple(maps.shape)}")
    total = maps.shape[1] * maps.shape[2] * maps.shape[3]
    if not 0 <= length <= total:
        raise ValueError(f"unpad_latent: length {length} outside 0..{total}")
    return maps.reshape(maps.shape[0], total)[:, :length]


def stochastic_mask(latent: torch.Tensor, keep: float, generator: torch.Generator | None = None,
                    soft: bool = True, shard: Any = None) -> torch.Tensor:
    """Stochastic ("soft") masking of an encoder output (seed 001, appendix D), (B, n) -> (B, n).

    Each real entry survives with probability ``keep``; a dropped entry is scaled by a uniform
    factor in [0, 1) when ``soft`` (else zeroed). The result is rescaled per item to the input's
    mean power (the re-normalization before the channel), so the power constraint still holds.
    ``shard``: this rank's rows of a data-parallel batch (:func:`semradio.models.link.sharded_draw`).
    """
    from semradio.models.link import sharded_draw

    if not 0.0 < keep <= 1.0:
        raise ValueError(f"stochastic_mask: keep must lie in (0, 1], got {keep}")

    def uniform(shp: tuple[int, ...]) -> torch.Tensor:
        return torch.rand(shp, generator=generator, device=latent.device, dtype=latent.dtype)

    u = sharded_draw(uniform, tuple(latent.shape), shard)
    drop = sharded_draw(uniform, tuple(latent.shape), shard) >= keep
    scale = torch.where(drop, u if soft else torch.zeros_like(u), torch.ones_like(u))
    out = latent * scale
    p_in = latent.pow(2).mean(dim=1, keepdim=True)
    p_out = out.pow(2).mean(dim=1, keepdim=True).clamp_min(1e-12)
    return out * torch.sqrt(p_in / p_out)
