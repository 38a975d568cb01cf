"""VAE-WGAN JSCC codec: a variational Deep JSCC encoder and a WGAN-GP generator as decoder.

*Latent Diffusion Model-Enabled Real-Time Semantic Communication Considering Semantic
Ambiguities and Channel Noises*, Section III-A/B (eqs. 2-4) and Appendix B (Algorithm 5). The
encoder ``E_phi`` outputs the parameters of ``q_phi(z|x) = N(mu, sigma^2)``; the decoder is the
generator ``G_psi`` of a Wasserstein GAN with gradient penalty whose critic is ``D_gamma``::

    z = mu + sigma * eps,  eps ~ N(0, I)                                    (reparameterisation)
    L_E = alpha_phi KL(N(mu, sigma^2) || N(0, I)) + (1 - alpha_phi) rec(G(E(x)), x)
    L_G = rec(G(E(x)), x) + (1 - alpha_psi) (-D(G(z)) - D(G(E(x))))
    L_D = -2 D(x) + D(G(z)) + D(G(E(x))) + lambda GP(x^_1) + lambda GP(x^_2)
    GP(x^) = (||grad_x^ D(x^)||_2 - 1)^2,  x^ = eps x + (1 - eps) x_fake, eps ~ U[0, 1]

Here the networks are those of :class:`semradio.models.jscc.DeepJSCC` (the same encoder and
decoder stacks, optional GDN and SNR-adaptive AF modules); only the encoder's last convolution
outputs ``2c`` maps: ``c`` for ``mu`` and ``c`` for ``log sigma^2``. :meth:`VAEWGAN.encode`
returns ``mu`` (deterministic), so the codec blocks, flowgraphs and every denoiser trained on a
codec's latents use this codec unchanged; :meth:`VAEWGAN.encode_stats` returns ``(mu, logvar)``
and :meth:`VAEWGAN.sample` the reparameterised draw used in training
(:mod:`semradio.models.training.vae_wgan`).

    >>> import torch
    >>> codec = VAEWGAN(latent_channels=4, channels=(8, 8), middle=0)
    >>> x = torch.rand(2, 3, 32, 32)
    >>> mu, logvar = codec.encode_stats(x)
    >>> mu.shape, logvar.shape, bool(torch.equal(codec.encode(x), mu))
    (torch.Size([2, 256]), torch.Size([2, 256]), True)
    >>> Critic(channels=(8, 16, 32))(x).shape
    torch.Size([2])
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch
from torch import nn

from .jscc import DeepJSCC, DeepJSCCEncoder

#: Architecture name of the codec in checkpoint configs.
ARCHITECTURE = "vae_wgan"
#: Architecture name of the critic checkpoint (not a codec).
CRITIC_ARCHITECTURE = "wgan_critic"
#: ``log sigma^2`` is clamped to this range before use (numerical safety of exp).
LOGVAR_RANGE = (-30.0, 20.0)


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise ``KL(N(mu, sigma^2) || N(0, 1)) = (mu^2 + sigma^2 - 1 - log sigma^2) / 2``.

    Args:
        mu: means, any shape.
        logvar: ``log sigma^2``, the same shape.

    Returns:
        The KL divergence in nats per element, the shape of ``mu`` (sum or average it as needed).
    """
    if mu.shape != logvar.shape:
        raise ValueError(f"kl_standard_normal: mu {tuple(mu.shape)} and logvar {tuple(logvar.shape)} differ")
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``z = mu + exp(logvar / 2) * eps``, ``eps ~ N(0, I)`` drawn from ``generator``; (B, n) -> (B, n)."""
    eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
    return mu + torch.exp(0.5 * logvar) * eps


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     eps: torch.Tensor | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """WGAN-GP penalty ``mean_b (||grad_x^ D(x^_b)||_2 - 1)^2`` on ``x^ = eps real + (1 - eps) fake``.

    Gulrajani et al., "Improved training of Wasserstein GANs" (the paper's ref. [54]); Algorithm 5
    lines 3-7. ``real`` and ``fake``: (B, ...) images; ``eps``: (B,) in [0, 1] (default: drawn
    uniformly from ``generator``); ``critic`` maps (B, ...) -> (B,) (or (B, 1)). Differentiable in
    the critic's parameters (``create_graph``). Returns a scalar tensor.
    """
    if real.shape != fake.shape:
        raise ValueError(f"gradient_penalty: real {tuple(real.shape)} and fake {tuple(fake.shape)} differ")
    b = real.shape[0]
    if eps is None:
        eps = torch.rand(b, generator=generator, device=real.device, dtype=real.dtype)
    e = eps.reshape(b, *([1] * (real.ndim - 1))).to(real.dtype)
    x_hat = (e * real.detach() + (1.0 - e) * fake.detach()).requires_grad_(True)
    out = critic(x_hat).reshape(b)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    return (grad.reshape(b, -1).norm(dim=1) - 1.0).pow(2).mean()


class VAEEncoder(DeepJSCCEncoder):
    """:class:`DeepJSCCEncoder` whose last convolution outputs ``2c`` maps: ``mu`` and ``log sigma^2``.

    ``forward`` returns ``mu`` (B, 2k) with 2k = c (H/4)(W/4), flattened channel-major like
    the Deep JSCC latent; :meth:`stats` returns ``(mu, logvar)``, both (B, 2k).
    """

    def __init__(self, in_channels: int, latent_channels: int, channels: Sequence[int], middle: int,
                 gdn: bool, snr_adaptive: bool) -> None:
        super().__init__(in_channels, latent_channels, channels, middle, gdn, snr_adaptive)
        self.latent_channels = int(latent_channels)
        self.out = nn.Conv2d(int(channels[1]), 2 * self.latent_channels, 5, 1, 2)

    def stats(self, images: torch.Tensor, snr_db: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        x = images - 0.5
        for stage in self.stages:
            x = stage(x, snr_db)
        h = self.out(x)
        c = self.latent_channels
        logvar = h[:, c:].clamp(*LOGVAR_RANGE)
        return h[:, :c].flatten(1), logvar.flatten(1)

    def forward(self, images: torch.Tensor, snr_db: torch.Tensor | None = None) -> torch.Tensor:
        return self.stats(images, snr_db)[0]


class VAEWGAN(DeepJSCC):
    """VAE-WGAN JSCC codec: :class:`DeepJSCC` with a variational encoder (see the module doc).

    Same arguments and :meth:`config` as :class:`DeepJSCC` (``VAEWGAN(**codec.config())``
    rebuilds it); ``encode`` returns ``mu``, so at inference the codec is deterministic.
    """

    def __init__(self, in_channels: int = 3, image_size: Sequence[int] = (32, 32), latent_channels: int = 16,
                 channels: Sequence[int] = (64, 128), middle: int = 2, gdn: bool = False,
                 snr_adaptive: bool = False, output: str = "sigmoid") -> None:
        super().__init__(in_channels, image_size, latent_channels, channels, middle, gdn, snr_adaptive, output)
        self.encoder = VAEEncoder(self.in_channels, self.latent_channels, self.channels, self.middle, self.gdn,
                                  self.snr_adaptive)

    def encode_stats(self, images: torch.Tensor, snr_db: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Images (B, C, H, W) in [0, 1] -> ``(mu, logvar)``, each (B, 2k), ``logvar = log sigma^2``."""
        if images.ndim != 4 or images.shape[1] != self.in_channels or images.shape[2] % 4 or images.shape[3] % 4:
            raise ValueError(f"VAEWGAN.encode_stats: expected images (B, {self.in_channels}, H, W) with H, W "
                             f"divisible by 4, got {tuple(images.shape)}")
        return self.encoder.stats(images, self._snr(snr_db, images.shape[0], images))

    def sample(self, images: torch.Tensor, snr_db: Any = None,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reparameterised latent ``z = mu + sigma eps`` (B, 2k) with ``(mu, logvar)`` (training)."""
        mu, logvar = self.encode_stats(images, snr_db)
        return reparameterize(mu, logvar, generator), mu, logvar


class Critic(nn.Module):
    """WGAN-GP critic ``D_gamma``: images (B, C, H, W) in [0, 1] -> scores (B,), no batch norm.

    Three 4x4 stride-2 convolutions with LeakyReLU(0.2) (``features``: (B, C3 H/8 W/8)), then
    one fully connected layer ``fc`` (the layer the out-of-distribution adapter of Algorithm 2
    replaces). ``image_size`` must be divisible by 8.
    """

    def __init__(self, in_channels: int = 3, image_size: Sequence[int] = (32, 32),
                 channels: Sequence[int] = (64, 128, 256)) -> None:
        super().__init__()
        h, w = (int(s) for s in image_size)
        if h % 8 or w % 8:
            raise ValueError(f"Critic: image size must be divisible by 8, got {h}x{w}")
        if len(channels) != 3:
            raise ValueError(f"Critic: channels must be three widths, got {channels}")
        self.in_channels = int(in_channels)
        self.image_size = (h, w)
        self.channels = tuple(int(c) for c in channels)
        layers: list[nn.Module] = []
        prev = self.in_channels
        for c in self.channels:
            layers += [nn.Conv2d(prev, c, 4, 2, 1), nn.LeakyReLU(0.2)]
            prev = c
        self.conv = nn.Sequential(*layers)
        self.fc = nn.Linear(prev * (h // 8) * (w // 8), 1)

    def config(self) -> dict[str, Any]:
        """Constructor keyword arguments (JSON-serializable)."""
        return {"in_channels": self.in_channels, "image_size": list(self.image_size), "channels": list(self.channels)}

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> flattened features (B, F) before the last layer."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (self.in_channels, *self.image_size):
            raise ValueError(f"Critic: expected images (B, {self.in_channels}, {self.image_size[0]}, "
                             f"{self.image_size[1]}), got {tuple(images.shape)}")
        return self.conv(images - 0.5).flatten(1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(images)).squeeze(1)


def warm_start_from_jscc(model: VAEWGAN, base: nn.Module, logvar_init: float = -8.0) -> dict[str, Any]:
    """Copy every tensor whose name and shape match from a :class:`DeepJSCC` ``base`` into
    ``model``; the encoder's output convolution gets ``mu`` from ``base``'s output convolution
    and a ``log sigma^2`` head with zero weights and bias ``logvar_init``. Returns a record
    (tensors copied, total)."""
    src = base.state_dict()
    own = model.state_dict()
    same = {k: v for k, v in src.items() if k in own and own[k].shape == v.shape}
    c = model.latent_channels
    for key in ("encoder.out.weight", "encoder.out.bias"):
        if key in src and key in own and own[key].shape[0] == 2 * c and src[key].shape[0] == c \
                and own[key].shape[1:] == src[key].shape[1:]:
            t = own[key].clone()
            t[:c] = src[key]
            t[c:] = 0.0 if key.endswith("weight") else float(logvar_init)
            same[key] = t
    own.update(same)
    model.load_state_dict(own)
    return {"tensors_copied": len(same), "tensors": len(own), "logvar_init": float(logvar_init)}


__all__ = ["ARCHITECTURE", "CRITIC_ARCHITECTURE", "VAEWGAN", "VAEEncoder", "Critic", "kl_standard_normal",
           "reparameterize", "gradient_penalty", "warm_start_from_jscc"]
