"""Diffusion schedulers apart from the networks (as in diffusers): the discrete noise schedule
and its step spacing (:mod:`.noise`), the DDIM step (:mod:`.ddim`), the Karras VE grid
(:mod:`.karras`) and the Gaussian closed form the samplers are tested against (:mod:`.gaussian`).
The networks' sinusoidal time embedding is :func:`semradio.models.embeddings.timestep_embedding`.
"""

from .ddim import ddim_sigma, ddim_step
from .gaussian import gaussian_eps
from .karras import karras_grid, match_index
from .noise import SCHEDULES, NoiseSchedule, cosine_betas, linear_betas, spaced_timesteps

__all__ = ["NoiseSchedule", "SCHEDULES", "linear_betas", "cosine_betas", "spaced_timesteps", "ddim_step",
           "ddim_sigma", "karras_grid", "match_index", "gaussian_eps"]
