"""CDiff: conditional DDPM decoder of seed 001 (sections 3.2, appendices C-D).

The decoder reconstructs the image ``x0`` (scaled to [-1, 1]) directly from the received real
latent ``y``, padded and reshaped to image-size maps ``y~`` (:mod:`semradio.models.cdiff_latent`).

Derivation of eqs. 5-8 (the seed's PDF extraction garbles eqs. 7-8; they follow from the
conditional diffusion model it cites, CDiffuSE, Lu et al. 2022). Steps t = 1..T, ``alpha_t =
1 - beta_t``, ``abar_t = prod_{s<=t} alpha_s``, ``abar_0 = 1``; conditioning weight ``w_t``
(CDiffuSE's interpolation weight ``m_t``) on a linear schedule ``w_t = w_max t / T`` (w_0 = 0).

* Eq. 5 (forward marginal)::

      q(x_t | x0, y~) = N(mu_t, delta_t I),   mu_t = (1 - w_t) sqrt(abar_t) x0 + w_t sqrt(abar_t) y~,
      delta_t = (1 - abar_t) - w_t^2 abar_t

  i.e. ``x_t = mu_t + sqrt(delta_t) eps``. It needs ``delta_t > 0``, i.e. ``w_t^2 <
  (1-abar_t)/abar_t``; with the seed's T = 200, betas 1e-4..0.0095 this holds for the linear w_t
  up to ``w_T = 1`` (smallest delta_t = 7.5e-5 at t = 1; :class:`CDiffSchedule` checks every
  step and raises otherwise). With ``w_T = 1`` the x0 term vanishes at t = T, so
  ``q(x_T | y~) = N(sqrt(abar_T) y~, delta_T I)`` is the exact start of the reverse chain
  (CDiffuSE's m_T = 1).
* One-step transition (CDiffuSE's q(x_t | x_{t-1}, y)), consistent with eq. 5 at every t::

      x_t = r_t sqrt(alpha_t) x_{t-1} + (w_t - r_t w_{t-1}) sqrt(abar_t) y~ + sqrt(delta_{t|t-1}) eps,
      r_t = (1 - w_t)/(1 - w_{t-1}),  delta_{t|t-1} = delta_t - r_t^2 alpha_t delta_{t-1}

  More generally, from s < t: ``A_{t|s} = (1-w_t)/(1-w_s) sqrt(abar_t/abar_s)``,
  ``delta_{t|s} = delta_t - A_{t|s}^2 delta_s`` (must be > 0; also checked).
* Eq. 6: ``L = E_{t, x0, y, eps} || xhat_theta(x_t, y~, t) - x0 ||^2`` (:func:`cdiff_loss`).
* Eq. 8 (noise reparameterization): consistent with eq. 5 it reads
  ``eps_theta = (x_t - (1-w_t) sqrt(abar_t) xhat - w_t sqrt(abar_t) y~) / sqrt(delta_t)``
  (the seed prints the unconditional DDPM form; the two agree when w_t = 0).
* Eq. 7 (reverse step) is the Gaussian posterior q(x_{t-1} | x_t, x0, y~) with x0 replaced by
  xhat (eq. 3 (a)). Bayes on the prior N(mu_{t-1}, delta_{t-1}) and the transition above gives::

      mean = mu_{t-1}(xhat) + A_{t|t-1} delta_{t-1} / sqrt(delta_t) * eps_theta,
      var  = delta_{t-1} delta_{t|t-1} / delta_t

  and expanding mu_{t-1}, eps_theta gives the form ``psi_x x_t + psi_y y~ - psi_eps eps_theta +
  sigma z`` of eq. 7 (:func:`CDiffSchedule.eq7_coefficients`, CDiffuSE's c_xt, c_yt, c_et; the
  seed's ``sqrt(delta_t) z`` is this posterior standard deviation sigma_t).
* Step skipping (DDIM-style, Song et al. 2021) on a sub-sequence t > s::

      x_s = mu_s(xhat) + sqrt(delta_s - sigma^2) eps_theta + sigma z,
      sigma^2 = eta^2 delta_s delta_{t|s} / delta_t

  For every eta it keeps the marginals q(x_s | x0, y~) of eq. 5 when xhat = x0; eta = 1 with
  s = t - 1 is exactly the posterior step of eq. 7, eta = 0 is deterministic.

The sampler starts from ``x_T ~ N(w_T sqrt(abar_T) y~, (delta_T + (1-w_T)^2 abar_T) I)`` (exact
for w_T = 1; otherwise the unknown x0 term is replaced by unit-variance noise), and the last step
returns xhat.

The network :class:`CDiffUNet` (appendix C, scaled down): ConvNeXt blocks (depthwise 7x7, GroupNorm
with one group, two pointwise convolutions, GELU, time-embedding added), linear attention in each
stage, full attention at the bottleneck, sinusoidal time embedding; input ``[x_t, y~, mask]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from semradio.models.embeddings import timestep_embedding
from semradio.models.schedulers import linear_betas

#: x0-predictor signature: (x_t (B,C,H,W), t (B,) int64 in 1..T) -> xhat (B,C,H,W).
X0Fn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# --------------------------------------------------------------------------- schedule (eq. 5)
def linear_cond_weights(T: int, w_max: float = 1.0) -> torch.Tensor:
    """Conditioning weights ``w_t = w_max t / T`` for t = 0..T, float64 (T+1,)."""
    if not 0.0 <= w_max <= 1.0:
        raise ValueError(f"w_max must lie in [0, 1], got {w_max}")
    return torch.arange(T + 1, dtype=torch.float64) * (w_max / T)


@dataclass(frozen=True)
class CDiffSchedule:
    """Tables of eq. 5 indexed by t = 0..T (float64 tensors of shape (T+1,); index 0: clean).

    Attributes:
        betas, alphas, alpha_bars: ``beta_t`` (beta_0 = 0), ``alpha_t``, ``abar_t`` (abar_0 = 1).
        w: conditioning weights ``w_t`` (w_0 = 0).
        delta: ``delta_t = (1 - abar_t) - w_t^2 abar_t`` (delta_0 = 0, > 0 for t >= 1).
        params: the arguments it was built with.
    """

    betas: torch.Tensor
    alphas: torch.Tensor
    alpha_bars: torch.Tensor
    w: torch.Tensor
    delta: torch.Tensor
    params: dict

    @classmethod
    def make(cls, T: int = 200, beta_1: float = 1e-4, beta_T: float = 0.0095, w_max: float = 1.0) -> "CDiffSchedule":
        """Linear betas ``beta_1..beta_T`` over T steps and linear ``w_t`` up to ``w_max`` (seed 001 app. D)."""
        betas = torch.cat([torch.zeros(1, dtype=torch.float64), linear_betas(T, beta_1, beta_T)])
        alphas = 1.0 - betas
        abar = torch.cumprod(alphas, 0)
        w = linear_cond_weights(T, w_max)
        delta = (1.0 - abar) - w ** 2 * abar
        sched = cls(betas, alphas, abar, w, delta, {"T": T, "beta_1": beta_1, "beta_T": beta_T, "w_max": w_max})
        if float(delta[1:].min()) <= 0.0:
            t_bad = int(torch.nonzero(delta[1:] <= 0)[0]) + 1
            raise ValueError(f"CDiffSchedule: delta_t <= 0 at t = {t_bad} (w_max = {w_max} too large for these "
                             f"betas; need w_t^2 < (1 - abar_t)/abar_t)")
        step = sched.transition_var(torch.arange(1, T + 1), torch.arange(0, T))
        if float(step.min()) <= 0.0:
            raise ValueError("CDiffSchedule: a one-step transition variance delta_{t|t-1} is <= 0; lower w_max")
        return sched

    @property
    def T(self) -> int:
        return int(self.params["T"])

    def mean_coefs(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``((1 - w_t) sqrt(abar_t), w_t sqrt(abar_t))`` for integer t (any shape), float64."""
        sa = self.alpha_bars[t].sqrt()
        return (1.0 - self.w[t]) * sa, self.w[t] * sa

    def transition_gain(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``A_{t|s} = (1 - w_t)/(1 - w_s) sqrt(abar_t / abar_s)`` (s < t), float64."""
        return (1.0 - self.w[t]) / (1.0 - self.w[s]) * (self.alpha_bars[t] / self.alpha_bars[s]).sqrt()

    def transition_var(self, t: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """``delta_{t|s} = delta_t - A_{t|s}^2 delta_s``, the variance of q(x_t | x_s, y~)."""
        return self.delta[t] - self.transition_gain(t, s) ** 2 * self.delta[s]

    def eq7_coefficients(self, t: int) -> dict[str, float]:
        """``psi_x, psi_y, psi_eps, sigma`` of eq. 7 for the step t -> t-1 (t >= 2, w_t < 1), with
        eps_theta as in eq. 8 (conditional form): x_{t-1} = psi_x x_t + psi_y y~ - psi_eps eps + sigma z.

        From mean = mu_{t-1}(xhat) + A delta_{t-1}/sqrt(delta_t) eps and
        xhat = (x_t - b_t y~ - sqrt(delta_t) eps) / a_t, with (a, b) = :meth:`mean_coefs`.
        """
        if not 2 <= t <= self.T:
            raise ValueError(f"eq7_coefficients: t must lie in 2..{self.T}, got {t}")
        tt, ss = torch.tensor(t), torch.tensor(t - 1)
        a_t, b_t = self.mean_coefs(tt)
        if float(a_t) == 0.0:
            raise ValueError(f"eq7_coefficients: w_t = 1 at t = {t}: x_t holds no x0 term, so eq. 8 cannot "
                             "express xhat through eps (use the x0 form of cdiff_sample)")
        a_s, b_s = self.mean_coefs(ss)
        A = self.transition_gain(tt, ss)
        d_t, d_s = self.delta[tt], self.delta[ss]
        psi_x = a_s / a_t
        psi_y = b_s - a_s * b_t / a_t
        psi_eps = a_s * d_t.sqrt() / a_t - A * d_s / d_t.sqrt()
        sigma = (d_s * self.transition_var(tt, ss) / d_t).sqrt()
        return {"psi_x": float(psi_x), "psi_y": float(psi_y), "psi_eps": float(psi_eps), "sigma": float(sigma)}


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Per-item float64 coefficients (B,) -> (B, 1, 1, 1) in ``like``'s dtype/device."""
    return v.to(device=like.device, dtype=like.dtype).reshape(-1, *([1] * (like.ndim - 1)))


def forward_diffuse(x0: torch.Tensor, y_maps: torch.Tensor, t: torch.Tensor, eps: torch.Tensor,
                    schedule: CDiffSchedule) -> torch.Tensor:
    """Eq. 5: ``x_t = (1-w_t) sqrt(abar_t) x0 + w_t sqrt(abar_t) y~ + sqrt(delta_t) eps``.

    ``x0``, ``y_maps`` (conditioning in the image's shape: its first C_img maps), ``eps``:
    (B, C, H, W); ``t``: (B,) int64 in 0..T.
    """
    a, b = schedule.mean_coefs(t.cpu())
    d = schedule.delta[t.cpu()].sqrt()
    return _bcast(a, x0) * x0 + _bcast(b, x0) * y_maps + _bcast(d, x0) * eps


def eps_from_x0(x_t: torch.Tensor, x0_hat: torch.Tensor, y_maps: torch.Tensor, t: torch.Tensor,
                schedule: CDiffSchedule) -> torch.Tensor:
    """Eq. 8 in the conditional form consistent with eq. 5: ``(x_t - mu_t(xhat)) / sqrt(delta_t)``."""
    a, b = schedule.mean_coefs(t.cpu())
    d = schedule.delta[t.cpu()].sqrt()
    return (x_t - _bcast(a, x_t) * x0_hat - _bcast(b, x_t) * y_maps) / _bcast(d, x_t)


def image_cond(y_maps: torch.Tensor, channels: int) -> torch.Tensor:
    """The part of the conditioning maps that enters eq. 5 (image channels; zero-filled if fewer)."""
    if y_maps.shape[1] >= channels:
        return y_maps[:, :channels]
    pad = torch.zeros(y_maps.shape[0], channels - y_maps.shape[1], *y_maps.shape[2:], dtype=y_maps.dtype,
                      device=y_maps.device)
    return torch.cat([y_maps, pad], dim=1)


def timestep_schedule(T: int, steps: int) -> list[int]:
    """Decreasing sub-sequence of ``steps`` steps from T down to >= 1 (evenly spaced; steps = T: all)."""
    if not 1 <= steps <= T:
        raise ValueError(f"steps must lie in 1..{T}, got {steps}")
    ts = torch.linspace(T, 1, steps).round().long().tolist()
    out: list[int] = []
    for t in ts:
        if not out or t < out[-1]:
            out.append(int(t))
    return out


@torch.no_grad()
def cdiff_sample(x0_fn: X0Fn, y_img: torch.Tensor, schedule: CDiffSchedule, steps: int | None = None,
                 eta: float = 1.0, generator: torch.Generator | None = None,
                 x_T: torch.Tensor | None = None, clip: float | None = 1.0) -> torch.Tensor:
    """Reverse process (eqs. 7-8) with optional step skipping; returns xhat_0 (B, C, H, W).

    Args:
        x0_fn: x0 predictor (network bound to the conditioning), see :data:`X0Fn`.
        y_img: conditioning in the image's shape (:func:`image_cond`), the y~ of eq. 5.
        schedule: the eq. 5 tables.
        steps: number of network evaluations (default T: the full chain of eq. 7).
        eta: 1 = ancestral posterior sampling (eq. 7), 0 = deterministic DDIM-style steps.
        generator: torch generator for the start noise and z.
        x_T: start point (default: ``w_T sqrt(abar_T) y~ + sqrt(delta_T + (1-w_T)^2 abar_T) z``).
        clip: clamp xhat to [-clip, clip] at every step (None: no clamp).
    """
    T = schedule.T
    seq = timestep_schedule(T, steps or T)
    dev, dt = y_img.device, y_img.dtype

    def noise() -> torch.Tensor:
        return torch.randn(y_img.shape, generator=generator, device=dev, dtype=dt)

    if x_T is None:
        a_T, b_T = schedule.mean_coefs(torch.tensor(T))
        x = float(b_T) * y_img + math.sqrt(float(schedule.delta[T] + a_T ** 2)) * noise()
    else:
        x = x_T.to(device=dev, dtype=dt)
    B = x.shape[0]
    x0 = x
    for i, t in enumerate(seq):
        tt = torch.full((B,), t, dtype=torch.long)
        x0 = x0_fn(x, tt.to(dev))
        if clip is not None:
            x0 = x0.clamp(-clip, clip)
        s = seq[i + 1] if i + 1 < len(seq) else 0
        if s == 0:
            break
        ss = torch.full((B,), s, dtype=torch.long)
        eps = eps_from_x0(x, x0, y_img, tt, schedule)
        a_s, b_s = schedule.mean_coefs(ss)
        d_s = schedule.delta[ss]
        var = eta ** 2 * d_s * schedule.transition_var(tt, ss) / schedule.delta[tt]
        x = (_bcast(a_s, x) * x0 + _bcast(b_s, x) * y_img + _bcast((d_s - var).clamp_min(0).sqrt(), x) * eps)
        if eta > 0:
            x = x + _bcast(var.sqrt(), x) * noise()
    return x0


# --------------------------------------------------------------------------- network
class ConvNeXtBlock(nn.Module):
    """ConvNeXt block (Liu et al. 2022) with a time pathway: dw7x7 -> +MLP(temb) -> GroupNorm(1)
    -> 1x1 (x mult) -> GELU -> GroupNorm(1) -> 1x1, plus a (1x1 if widths differ) skip."""

    def __init__(self, ch_in: int, ch_out: int, temb: int, mult: int = 2) -> None:
        super().__init__()
        self.dw = nn.Conv2d(ch_in, ch_in, 7, padding=3, groups=ch_in)
        self.time = nn.Sequential(nn.GELU(), nn.Linear(temb, ch_in))
        self.net = nn.Sequential(nn.GroupNorm(1, ch_in), nn.Conv2d(ch_in, ch_out * mult, 1), nn.GELU(),
                                 nn.GroupNorm(1, ch_out * mult), nn.Conv2d(ch_out * mult, ch_out, 1))
        self.skip = nn.Conv2d(ch_in, ch_out, 1) if ch_in != ch_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.dw(x) + self.time(temb)[:, :, None, None]
        return self.net(h) + self.skip(x)


class LinearAttention(nn.Module):
    """Pre-norm residual linear attention (Katharopoulos/Shen): softmax over features of q and
    over positions of k, O(HW) cost; ``heads`` heads of width ``dim_head``."""

    def __init__(self, ch: int, heads: int = 1, dim_head: int = 32) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        hidden = heads * dim_head
        self.norm = nn.GroupNorm(1, ch)
        self.qkv = nn.Conv2d(ch, hidden * 3, 1, bias=False)
        self.out = nn.Sequential(nn.Conv2d(hidden, ch, 1), nn.GroupNorm(1, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = (u.reshape(b, self.heads, -1, h * w) for u in self.qkv(self.norm(x)).chunk(3, dim=1))
        q = q.softmax(dim=-2) * self.scale
        k = k.softmax(dim=-1)
        ctx = torch.einsum("bhdn,bhen->bhde", k, v)
        out = torch.einsum("bhde,bhdn->bhen", ctx, q).reshape(b, -1, h, w)
        return x + self.out(out)


class FullAttention(nn.Module):
    """Pre-norm residual multi-head dot-product attention over positions (bottleneck)."""

    def __init__(self, ch: int, heads: int = 2, dim_head: int = 32) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head ** -0.5
        hidden = heads * dim_head
        self.norm = nn.GroupNorm(1, ch)
        self.qkv = nn.Conv2d(ch, hidden * 3, 1, bias=False)
        self.out = nn.Conv2d(hidden, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q, k, v = (u.reshape(b, self.heads, -1, h * w) for u in self.qkv(self.norm(x)).chunk(3, dim=1))
        attn = torch.einsum("bhdi,bhdj->bhij", q * self.scale, k).softmax(dim=-1)
        out = torch.einsum("bhij,bhdj->bhdi", attn, v).reshape(b, -1, h, w)
        return x + self.out(out)


class CDiffUNet(nn.Module):
    """x0 predictor xhat_theta(x_t, y~, t) of eq. 6 (seed 001 appendix C, narrower).

    Input: ``x_t`` (B, C_img, H, W), conditioning maps ``y~`` and ``mask`` (B, C_cond, H, W) each
    (see :func:`semradio.models.cdiff_latent.pad_latent`), steps t (B,) int64. Output: xhat (B,
    C_img, H, W). H and W must be divisible by 2^(len(mults)-1). ``width`` is the base feature
    dimension (the seed's dim = 32 with mults (1, 2, 4, 8); here e.g. 16-32 with (1, 2, 2)).

    ``proj_channels`` > 0 (needs ``image_size``) adds a learned *latent projection*: a linear map
    of the flattened ``[y~, mask]`` to ``proj_channels`` maps of size (H/4, W/4), upsampled
    (nearest) and concatenated to the input. The padded-and-reshaped latent has no spatial
    meaning (entry i of an encoder's fully connected output lands at pixel i), so a
    convolutional U-Net alone has to learn a global rearrangement through its bottleneck; the
    projection gives every pixel a global view of the latent from the first layer (ours, not in
    the seed).
    """

    def __init__(self, image_channels: int = 1, cond_channels: int = 1, width: int = 24,
                 mults: Sequence[int] = (1, 2, 2), attn_dim_head: int = 16,
                 image_size: Sequence[int] | None = None, proj_channels: int = 0) -> None:
        super().__init__()
        self.image_channels, self.cond_channels = image_channels, cond_channels
        self.width, self.mults = width, tuple(mults)
        self.attn_dim_head = attn_dim_head
        self.image_size = None if image_size is None else tuple(int(s) for s in image_size)
        self.proj_channels = int(proj_channels)
        temb = width * 4
        self.temb_dim = width
        self.time_mlp = nn.Sequential(nn.Linear(width, temb), nn.GELU(), nn.Linear(temb, temb))
        self.proj = None
        if self.proj_channels:
            if self.image_size is None:
                raise ValueError("CDiffUNet: proj_channels needs image_size")
            h, w = self.image_size
            self._proj_hw = ((h + 3) // 4, (w + 3) // 4)
            n = cond_channels * h * w
            self.proj = nn.Linear(2 * n, self.proj_channels * self._proj_hw[0] * self._proj_hw[1])
        self.init = nn.Conv2d(image_channels + 2 * cond_channels + self.proj_channels, width, 7, padding=3)
        dims = [width * m for m in self.mults]
        self.downs = nn.ModuleList()
        c_prev = width
        for i, d in enumerate(dims):
            last = i == len(dims) - 1
            self.downs.append(nn.ModuleList([
                ConvNeXtBlock(c_prev, d, temb), ConvNeXtBlock(d, d, temb), LinearAttention(d, 1, attn_dim_head),
                nn.Conv2d(d, d, 4, stride=2, padding=1) if not last else nn.Identity()]))
            c_prev = d
        self.mid1 = ConvNeXtBlock(c_prev, c_prev, temb)
        self.mid_attn = FullAttention(c_prev, 2, attn_dim_head)
        self.mid2 = ConvNeXtBlock(c_prev, c_prev, temb)
        self.ups = nn.ModuleList()
        for i, d in reversed(list(enumerate(dims))):
            d_next = dims[i - 1] if i > 0 else width
            self.ups.append(nn.ModuleList([
                ConvNeXtBlock(c_prev + d, d, temb), ConvNeXtBlock(d, d, temb), LinearAttention(d, 1, attn_dim_head),
                nn.ConvTranspose2d(d, d_next, 4, stride=2, padding=1) if i > 0 else nn.Conv2d(d, d_next, 1)]))
            c_prev = d_next
        self.final = ConvNeXtBlock(width, width, temb)
        self.out = nn.Conv2d(width, image_channels, 1)

    def forward(self, x_t: torch.Tensor, y_maps: torch.Tensor, mask: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        emb = self.time_mlp(timestep_embedding(t, self.temb_dim))
        parts = [x_t, y_maps, mask]
        if self.proj is not None:
            p = self.proj(torch.cat([y_maps.flatten(1), mask.flatten(1)], dim=1))
            p = p.reshape(p.shape[0], self.proj_channels, *self._proj_hw)
            parts.append(nn.functional.interpolate(p, size=x_t.shape[2:], mode="nearest"))
        h = self.init(torch.cat(parts, dim=1))
        skips = []
        for b1, b2, attn, down in self.downs:
            h = attn(b2(b1(h, emb), emb))
            skips.append(h)
            h = down(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for b1, b2, attn, up in self.ups:
            h = torch.cat([h, skips.pop()], dim=1)
            h = attn(b2(b1(h, emb), emb))
            h = up(h)
        return self.out(self.final(h, emb))


    def config(self) -> dict:
        """Constructor keyword arguments (JSON-serializable)."""
        return {"image_channels": self.image_channels, "cond_channels": self.cond_channels, "width": self.width,
                "mults": list(self.mults), "attn_dim_head": self.attn_dim_head,
                "image_size": None if self.image_size is None else list(self.image_size),
                "proj_channels": self.proj_channels}


def bind_condition(net: CDiffUNet, y_maps: torch.Tensor, mask: torch.Tensor) -> X0Fn:
    """``x0_fn(x_t, t) = net(x_t, y~, mask, t)`` for :func:`cdiff_sample`."""

    def x0_fn(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return net(x, y_maps, mask, t)

    return x0_fn


def cdiff_loss(net: CDiffUNet, x0: torch.Tensor, y_maps: torch.Tensor, mask: torch.Tensor,
               schedule: CDiffSchedule, generator: torch.Generator | None = None,
               focus_steps: Sequence[int] = (), focus_frac: float = 0.0, shard: Any = None) -> torch.Tensor:
    """Eq. 6: mean of ``||xhat_theta(x_t, y~, t) - x0||^2`` with t ~ U{1..T}, x_t from eq. 5.

    ``x0``: images in [-1, 1] (B, C_img, H, W); ``y_maps``, ``mask``: (B, C_cond, H, W).

    ``focus_steps``/``focus_frac``: each item's t is, with probability ``focus_frac``, drawn
    uniformly from ``focus_steps`` instead (e.g. the sampler's grid ``timestep_schedule(T, S)``
    of an S-step decoder: with S = 1 only t = T is ever evaluated, which U{1..T} trains in 1 of
    T draws). The loss stays an x0 regression at every t, so the model remains a valid
    diffusion decoder for any step count. ``shard``: this rank's rows of a data-parallel batch
    (every draw made for the global batch, :func:`semradio.models.link.sharded_draw`).
    """
    from semradio.models.link import sharded_draw

    B = x0.shape[0]
    dev = generator.device if generator is not None else torch.device("cpu")
    t = sharded_draw(lambda shp: torch.randint(1, schedule.T + 1, shp, generator=generator, device=dev), (B,), shard)
    if focus_frac > 0 and len(focus_steps):
        if not 0.0 <= focus_frac <= 1.0 or min(focus_steps) < 1 or max(focus_steps) > schedule.T:
            raise ValueError(f"focus_frac must lie in [0, 1] and focus_steps in 1..{schedule.T}")
        pick = sharded_draw(lambda shp: torch.rand(shp, generator=generator, device=dev), (B,), shard) < focus_frac
        grid = torch.as_tensor(list(focus_steps), dtype=torch.long, device=dev)
        idx = sharded_draw(lambda shp: torch.randint(len(grid), shp, generator=generator, device=dev), (B,), shard)
        t = torch.where(pick, grid[idx], t)
    eps = sharded_draw(lambda shp: torch.randn(shp, generator=generator, device=x0.device, dtype=x0.dtype),
                       tuple(x0.shape), shard)
    y_img = image_cond(y_maps, x0.shape[1])
    x_t = forward_diffuse(x0, y_img, t.cpu(), eps, schedule)
    return torch.mean((net(x_t, y_maps, mask, t.to(x0.device)) - x0) ** 2)


def to_model_units(images: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] -> x0 in [-1, 1]."""
    return images * 2.0 - 1.0


def from_model_units(x: torch.Tensor) -> torch.Tensor:
    """x0 in [-1, 1] -> images in [0, 1] (clamped)."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


# --------------------------------------------------------------------------- checkpoints
ARCHITECTURE = "cdiff_unet"


def save_cdiff(net: CDiffUNet, schedule: CDiffSchedule, path: str | Path, config: dict[str, Any], overwrite: bool = False) -> Path:
    """Write ``path.safetensors`` + ``path.json`` (``config`` plus the schedule parameters, the
    architecture, network kwargs, weights file name and SHA-256). Returns the JSON path."""
    from .checkpoint import save_weights

    return save_weights(net, path, dict(config, schedule=dict(schedule.params)), ARCHITECTURE, net.config(), overwrite)


def load_cdiff(name_or_path: str | Path, device: Any = None) -> tuple[CDiffUNet, CDiffSchedule, dict[str, Any]]:
    """A trained CDiff decoder (network in eval mode on ``device``, its schedule, its JSON config)
    from a shipped name (``models/checkpoints/NAME.json``) or a path; safetensors only."""
    from .checkpoint import load_weights

    net, cfg = load_weights(name_or_path, ARCHITECTURE, lambda kw: CDiffUNet(**kw), device, "CDiff")
    return net, CDiffSchedule.make(**cfg["schedule"]), cfg