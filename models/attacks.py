"""Semantic errors found by projected gradient descent (PGD): the white-box attack of
*Latent Diffusion Model-Enabled Real-Time Semantic Communication Considering Semantic Ambiguities
and Channel Noises* (Section III-C, eqs. 7-9) against a Deep JSCC codec.

The semantic error ``delta`` (B, C, H, W) solves eq. (7)/(8)::

    max_delta  d(G(E(x)), G(E(x + delta))) - lam ||delta||_2
    s.t.       ||delta||_2 <= eps (per image),   0 <= x + delta <= 1

with ``d`` the mean squared error over the image, by the PGD iteration of eq. (9)::

    delta^i = P_C(delta^{i-1} + eta grad e(delta^{i-1}) / ||grad e(delta^{i-1})||_2)

(ascent on the distortion = descent on eq. (8)'s ``e(delta) = lam ||delta|| - d``). ``G(E(.))``
is the codec as the link sees it: ``decode(normalize_power(encode(x)))`` at the SNR given to the
SNR-adaptive layers, *without* channel noise (the attacker at the transmitter does not know the
noise draw; for AWGN the noiseless path is the mean of the received latent).

Choices, and what the paper's text leaves out (every one is a parameter here):

* **Norm p and its data range.** The paper reports budgets as an "error level"
  ``||delta||_p / H`` (H the image side; Table I: 0.1 ... 0.5, training at 0.3) but never states
  p nor the data range. We take p = 2 measured on images scaled to [-1, 1] (the paper's data
  range): in the [0, 1] units of this project ``eps = level * H / 2`` (:func:`eps_for_level`),
  e.g. 4.8 for 32x32 at level 0.3, an RMS error of 0.087 per pixel value (21.2 dB PSNR of
  ``x + delta`` against ``x``). p = inf is not a sensible reading (``0.3 H`` exceeds the data
  range), so the L-inf attack is offered for completeness with ``eps`` given directly.
* **Projection P_C** (eq. 9: the Euclidean projection onto C). C is the intersection of the
  L2 ball and the box ``-x <= delta <= 1 - x``. The composition of the two projections is not
  the projection onto the intersection; :func:`project_l2_box` computes the exact one: by the
  KKT conditions it is ``clip(t v, -x, 1 - x)`` with the largest ``t`` in (0, 1] whose result
  lies in the ball (the norm is non-decreasing in t because the box holds 0), found by bisection
  per image. For L-inf both sets are boxes and clipping is exact.
* **The constraint** ``E(x + delta) ~ N(0, I)`` (the VAE prior of the paper's encoder) is
  dropped: a Deep JSCC encoder has no prior, and the link normalises the latent's power anyway.
* **Step count** ("until converged"): 20 steps for evaluation, fewer in training (the trainer's
  ``--pgd-steps``). **Step size** eta_1 (not given): ``2.5 eps / steps`` with the normalised
  gradient (L2) or the gradient's sign (L-inf), the usual choice that lets PGD cross the ball
  and come back. **lam** (not given): 0 by default, since the projection already enforces the
  budget.
* **Start.** Algorithm 1 starts from ``delta^0 = 0``, where the gradient of the squared distance
  vanishes (``x + 0`` reproduces ``G(E(x))`` exactly), so PGD would never move. We start from a
  random point (a uniformly random direction of norm ``eps / 2`` for L2, uniform in the box for
  L-inf, then projected) drawn from a seeded ``torch.Generator``; ``random_start=False`` keeps
  the paper's zero start (and returns zero when the gradient is exactly zero).
* The codec is left unchanged (its ``requires_grad`` flags are restored) and in whatever
  train/eval mode it is in (Deep JSCC has no dropout or batch norm).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch

#: Norms :func:`pgd_attack` supports.
NORMS = ("l2", "linf")


def image_side(height: int, width: int) -> float:
    """The ``H`` of the error level for an image of ``height`` x ``width``: the side itself for a
    square image, the geometric mean ``sqrt(height * width)`` otherwise (the one rule the block,
    the trainer and the evaluation share)."""
    return float(height) if height == width else math.sqrt(float(height) * float(width))


def eps_for_level(level: float, image_side: float, data_range: float = 2.0) -> float:
    """L2 budget in [0, 1] pixel units for the paper's error level ``||delta||_2 / H``
    (``H``: :func:`image_side`).

    The level is measured on images of ``data_range`` (2: images scaled to [-1, 1], as the
    paper's data are); an image in [0, 1] is ``data_range`` times smaller, so
    ``eps = level * H / data_range``.

        >>> eps_for_level(0.3, 32)
        4.8
    """
    if level < 0 or image_side <= 0 or data_range <= 0:
        raise ValueError(f"eps_for_level: need level >= 0, image_side > 0, data_range > 0; "
                         f"got {level}, {image_side}, {data_range}")
    return float(level) * float(image_side) / float(data_range)


def level_for_eps(eps: float, image_side: int, data_range: float = 2.0) -> float:
    """Inverse of :func:`eps_for_level`: the error level ``||delta||_2 / H`` of an L2 budget."""
    return float(eps) * float(data_range) / int(image_side)


def _per_image_norm(t: torch.Tensor) -> torch.Tensor:
    """L2 norm of each item of (B, ...) as (B,)."""
    return t.flatten(1).norm(dim=1)


def _bcast(v: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, *([1] * (like.ndim - 1)))


def project_l2_box(delta: torch.Tensor, x: torch.Tensor, eps: float | torch.Tensor, iters: int = 40) -> torch.Tensor:
    """Exact Euclidean projection of ``delta`` onto ``{||d||_2 <= eps} ∩ {0 <= x + d <= 1}``.

    Per image (B, C, H, W), ``P_C(v) = argmin_{d in C} ||d - v||_2^2 / 2`` (the ``P_C`` of
    eq. (9)). The box ``[-x, 1 - x]`` holds 0 (for ``x`` in [0, 1]), so by the KKT conditions
    ``P_C(v) = clip(t v, -x, 1 - x)`` with ``t = 1 / (1 + mu)`` in (0, 1], ``mu >= 0`` the
    ball's multiplier: ``t = 1`` when the clipped ``v`` already lies in the ball, else the
    ``t`` at which its norm equals ``eps`` (non-decreasing in ``t``), found by ``iters``
    bisection steps (the result is then moved onto ``t_lo``, which is feasible).

    Args:
        delta: (B, ...) perturbations.
        x: (B, ...) clean images in [0, 1] (the box is ``[-x, 1 - x]``).
        eps: L2 budget, a float or (B,) tensor, >= 0.
        iters: bisection steps (40: ``t`` within 1e-12).

    Returns:
        (B, ...) the projection; every item has ``||d|| <= eps`` and ``0 <= x + d <= 1``.

        >>> import torch
        >>> x = torch.full((1, 1, 2, 2), 0.5)
        >>> d = project_l2_box(torch.ones(1, 1, 2, 2), x, eps=0.4)
        >>> round(float(d.norm()), 6), bool((x + d).max() <= 1)
        (0.4, True)
    """
    if delta.shape != x.shape:
        raise ValueError(f"project_l2_box: delta {tuple(delta.shape)} and x {tuple(x.shape)} differ")
    lo_box, hi_box = -x, 1.0 - x
    b = delta.shape[0]
    eps_t = torch.as_tensor(eps, dtype=delta.dtype, device=delta.device).expand(b) if not torch.is_tensor(eps) \
        or eps.ndim == 0 else eps.to(delta)
    if bool((eps_t < 0).any()):
        raise ValueError("project_l2_box: eps must be >= 0")

    def at(t: torch.Tensor) -> torch.Tensor:
        return torch.minimum(torch.maximum(_bcast(t, delta) * delta, lo_box), hi_box)

    full = at(torch.ones(b, dtype=delta.dtype, device=delta.device))
    inside = _per_image_norm(full) <= eps_t
    if bool(inside.all()):
        return full
    t_lo = torch.zeros(b, dtype=delta.dtype, device=delta.device)
    t_hi = torch.ones_like(t_lo)
    for _ in range(iters):
        mid = 0.5 * (t_lo + t_hi)
        ok = _per_image_norm(at(mid)) <= eps_t
        t_lo = torch.where(ok, mid, t_lo)
        t_hi = torch.where(ok, t_hi, mid)
    out = at(t_lo)
    return torch.where(_bcast(inside, delta), full, out)


def project_linf_box(delta: torch.Tensor, x: torch.Tensor, eps: float) -> torch.Tensor:
    """Exact projection onto ``{||d||_inf <= eps} ∩ {0 <= x + d <= 1}`` (both boxes: clip)."""
    return torch.minimum(torch.maximum(delta, torch.clamp(-x, min=-eps)), torch.clamp(1.0 - x, max=eps))


def codec_path(codec: Any, snr_db: float | None, normalize: bool = True) -> Callable[[torch.Tensor], torch.Tensor]:
    """``x -> G(E(x))`` as the attacker sees the codec: ``decode(normalize_power(encode(x)))``
    at ``snr_db`` (the SNR-adaptive layers' input; ignored by codecs without them), no noise.
    ``normalize=False`` skips the power normalisation (a codec whose decoder takes the raw
    latent, e.g. a linear test codec). The normalised latent is handed to the decoder as the
    equaliser hands it (real (B, 2k), first half real parts)."""
    from semradio.dsp import channel as cm

    def path(images: torch.Tensor) -> torch.Tensor:
        z = codec.encode(images, snr_db)
        if normalize:
            z = cm.complex_to_real(cm.normalize_power(z))
        return codec.decode(z, snr_db, tuple(images.shape[2:]))

    return path


def pgd_attack(codec: Any, images: torch.Tensor, eps: float, steps: int = 20, step_size: float | None = None,
               snr_db: float | None = 10.0, norm: str = "l2", lam: float = 0.0,
               generator: torch.Generator | None = None, random_start: bool = True,
               normalize: bool = True) -> torch.Tensor:
    """The semantic error of eqs. (7)-(9): PGD ascent on ``d(G(E(x)), G(E(x + delta)))``.

    Args:
        codec: a white-box codec with ``encode(images, snr_db)`` and
            ``decode(latent, snr_db, image_size)`` (:class:`semradio.models.jscc.DeepJSCC`);
            gradients flow through it, its parameters are not changed.
        images: (B, C, H, W) clean images ``x`` in [0, 1].
        eps: budget in [0, 1] pixel units per image (L2: :func:`eps_for_level`; L-inf: per pixel).
        steps: PGD iterations (>= 0; 0 returns the start point).
        step_size: eta_1 (default ``2.5 eps / steps``), the length of each normalised step.
        snr_db: the SNR the SNR-adaptive layers see (the link's SNR; None for other codecs).
        norm: "l2" (normalised-gradient steps, :func:`project_l2_box`) or "linf" (sign steps).
        lam: penalty ``lam ||delta||_2`` of eq. (8) subtracted from the distortion (default 0).
        generator: torch generator for the random start (None: the global RNG).
        random_start: start from a random point (see the module docstring) instead of 0.
        normalize: power-normalise the latent before decoding, as the link does.

    Returns:
        delta (B, C, H, W), detached, with ``||delta|| <= eps`` per image and
        ``0 <= images + delta <= 1``.
    """
    if norm not in NORMS:
        raise ValueError(f"pgd_attack: norm must be one of {NORMS}, got {norm!r}")
    if images.ndim != 4:
        raise ValueError(f"pgd_attack: expected images (B, C, H, W), got {tuple(images.shape)}")
    if not (eps >= 0 and math.isfinite(eps)) or steps < 0:
        raise ValueError(f"pgd_attack: need a finite eps >= 0 and steps >= 0, got eps={eps}, steps={steps}")
    x = images.detach()
    if eps == 0:
        return torch.zeros_like(x)
    eta = float(step_size) if step_size is not None else 2.5 * eps / max(1, steps)
    project = (lambda d: project_l2_box(d, x, eps)) if norm == "l2" else (lambda d: project_linf_box(d, x, eps))
    if random_start:
        r = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) if generator is not None \
            else torch.randn_like(x)
        if norm == "l2":
            r = r * _bcast(0.5 * eps / _per_image_norm(r).clamp_min(1e-12), r)
        else:
            r = (torch.rand(x.shape, generator=generator, device=x.device, dtype=x.dtype) * 2 - 1) * eps \
                if generator is not None else (torch.rand_like(x) * 2 - 1) * eps
        delta = project(r)
    else:
        delta = torch.zeros_like(x)
    params = list(codec.parameters()) if hasattr(codec, "parameters") else []
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    path = codec_path(codec, snr_db, normalize)
    try:
        with torch.enable_grad():
            with torch.no_grad():
                ref = path(x)
            for _ in range(steps):
                d = delta.clone().requires_grad_(True)
                dist = ((path(x + d) - ref) ** 2).flatten(1).mean(dim=1)
                obj = dist - lam * _per_image_norm(d) if lam else dist
                (g,) = torch.autograd.grad(obj.sum(), d)
                if norm == "l2":
                    g = g / _bcast(_per_image_norm(g).clamp_min(1e-30), g)
                else:
                    g = g.sign()
                delta = project(delta + eta * g)
    finally:
        for p, f in zip(params, flags):
            p.requires_grad_(f)
    return delta.detach()


def distortion(codec: Any, images: torch.Tensor, delta: torch.Tensor, snr_db: float | None = 10.0,
               normalize: bool = True) -> torch.Tensor:
    """(B,) ``d(G(E(x)), G(E(x + delta)))``, the MSE the attack maximises (no noise)."""
    path = codec_path(codec, snr_db, normalize)
    with torch.no_grad():
        return ((path(images + delta) - path(images)) ** 2).flatten(1).mean(dim=1)


__all__ = ["NORMS", "image_side", "eps_for_level", "level_for_eps", "project_l2_box", "project_linf_box", "codec_path",
           "pgd_attack", "distortion"]
