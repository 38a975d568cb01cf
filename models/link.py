"""The differentiable link used to train codecs: power normalize -> channel -> equalize.

It is the torch path of the very functions the channel blocks run
(:mod:`semradio.dsp.channel`), so a codec trained here sees exactly what the flowgraph
``PowerNormalizer -> AWGNChannel/RayleighChannel -> MMSEEqualizer`` produces::

    x_c = sqrt(P / mean|x_c|^2) (x[:k] + j x[k:])              (PowerNormalizer, P = 1)
    y_c = h x_c + n,   n ~ CN(0, s2),  s2 = 1 / 10^(snr_db/10)   (seed 000 eq. 1, Px = 1)
    AWGN (h = 1):   y = [Re y_c; Im y_c]                        (MMSEEqualizer, Lemma 1 identity)
    Rayleigh:       h ~ CN(0, 1) per symbol (fast fading),
                    y = [Re; Im](conj(h) y_c / (|h|^2 + s2))    (MMSEEqualizer, seed 000 eq. 4)

Gradients flow through the power normalization and the equalizer to the encoder; h and n are
drawn from a ``torch.Generator`` so training runs are reproducible.
"""

from __future__ import annotations

from typing import Any

import torch

from semradio.dsp import arrays as A
from semradio.dsp import channel as cm
#: Channels :func:`simulate_link` models.
LINK_CHANNELS = ("awgn", "rayleigh")


def sharded_draw(draw: Any, shape: tuple[int, ...], shard: Any = None) -> Any:
    """``draw(shape)``, or, for one shard of a data-parallel batch (``shard.rank`` of
    ``shard.world`` ranks, each holding ``shape[0]`` rows of the global batch), this rank's rows of
    ``draw((shape[0] * world, *shape[1:]))``: every rank draws the global batch's random numbers
    from its (identically seeded) generator and keeps its own rows, so the ranks together see
    exactly the draws of one process training on the global batch."""
    if shard is None or int(shard.world) <= 1:
        return draw(shape)
    b = shape[0]
    full = draw((b * int(shard.world), *shape[1:]))
    return full[int(shard.rank) * b:(int(shard.rank) + 1) * b]


def simulate_link(latent: torch.Tensor, channel: str, snr_db: float, generator: torch.Generator | None = None,
                  power: float = 1.0, equalizer: str = "mmse", shard: Any = None) -> torch.Tensor:
    """Real latent (B, 2k) -> equalized real channel output (B, 2k), differentiable.

    Args:
        latent: encoder output (B, 2k), float32, any device.
        channel: "awgn" or "rayleigh" (fast fading, h ~ CN(0, 1) per symbol).
        snr_db: SNR P/s2 in dB (one value for the batch; +inf: noiseless).
        generator: torch generator on ``latent``'s device (None: the global RNG).
        power: average symbol power P of the normalizer.
        equalizer: "mmse" or "zf" (Rayleigh only; AWGN output is the identity of Lemma 1).
        shard: this rank's share of a data-parallel batch (``rank``, ``world``; see
            :func:`sharded_draw`), None for the whole batch.
    """
    if channel not in LINK_CHANNELS:
        raise ValueError(f"unknown training channel {channel!r}; expected one of {LINK_CHANNELS}")
    x_c = cm.normalize_power(latent, power)
    batch, k = x_c.shape
    s2 = cm.noise_var_from_snr(float(snr_db), power)
    gen = generator if generator is not None else _default_generator(latent)
    h = None if channel == "awgn" else sharded_draw(lambda shp: cm.rayleigh_gains(gen, shp, x_c), (batch, k), shard)
    noise = sharded_draw(lambda shp: cm.complex_noise(gen, shp, s2, x_c), (batch, k), shard) if s2 > 0 \
        else torch.zeros_like(x_c)
    y_c = cm.channel_output(x_c, h, noise, power)
    if h is None:
        return cm.complex_to_real(y_c)
    y, _, _, _ = cm.equalize(y_c, h, s2, equalizer)
    return y


class LinkDraw:
    """One simulated transmission of a latent batch, as the trainers and evaluations of the
    denoisers use it: the transmitted ``x``, the received ``y`` and the Lemma 1 weights, all real
    (B, 2k) in the equaliser's scale, and the noise variance ``s2``.

    ``x = [Re; Im] normalize_power(z)``; AWGN: ``y = [Re; Im](x_c + n)``, ``W_s = 1``,
    ``W_n = 1``; fast Rayleigh (h ~ CN(0, 1) per symbol): ``y`` the MMSE output with
    ``W_s = |h|^2 / (|h|^2 + s2)``, ``W_n = |h| / (|h|^2 + s2)`` (seed 000 Lemma 1). Noise and
    gains come from ``gen`` in the order n, h (the order the trainers were written with);
    ``shard``: this rank's rows of a data-parallel batch (:func:`sharded_draw`).

        >>> import torch
        >>> d = LinkDraw(torch.randn(4, 16), "rayleigh", 10.0, make_generator(0))
        >>> d.x.shape, d.y.shape, d.w_s.shape
        (torch.Size([4, 16]), torch.Size([4, 16]), torch.Size([4, 16]))
    """

    def __init__(self, z: torch.Tensor, channel: str, snr_db: float, gen: torch.Generator, shard: Any = None) -> None:
        if channel not in LINK_CHANNELS:
            raise ValueError(f"unknown training channel {channel!r}; expected one of {LINK_CHANNELS}")
        x_c = cm.normalize_power(z)
        self.s2 = cm.noise_var_from_snr(snr_db)
        n = sharded_draw(lambda shp: cm.complex_noise(gen, shp, self.s2, x_c), tuple(x_c.shape), shard)
        if channel == "awgn":
            y_c = cm.channel_output(x_c, None, n)
            self.y, self.w_s, self.w_n, _ = cm.identity_weights(y_c)
        else:
            h = sharded_draw(lambda shp: cm.rayleigh_gains(gen, shp, x_c), tuple(x_c.shape), shard)
            y_c = cm.channel_output(x_c, h, n)
            self.y, self.w_s, self.w_n, _ = cm.equalize(y_c, h, self.s2, "mmse")
        self.x = cm.complex_to_real(x_c)


def _default_generator(like: Any) -> torch.Generator:
    gen = torch.Generator(device=like.device)
    gen.seed()
    return gen


def make_generator(seed: int, device: Any = "cpu") -> torch.Generator:
    """A seeded torch generator on ``device`` (stream 7 of ``seed``, see ``arrays.derive_seed``)."""
    gen = torch.Generator(device=device)
    gen.manual_seed(A.derive_seed(int(seed), 7))
    return gen
