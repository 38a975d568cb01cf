"""Moved to :mod:`semradio.models.schedulers` (kept while imports are updated)."""

from semradio.models.schedulers.noise import *  # noqa: F401,F403
from semradio.models.schedulers.noise import NoiseSchedule, cosine_betas, linear_betas, spaced_timesteps  # noqa: F401
