"""Diffusion denoisers between the equaliser and the decoder: CDDM, the VE latent teacher and
its EECD consistency student, the ICDM interference canceller; and the registry that a JSCC
chain's ``--denoiser`` picks from (plugins included)."""

from .cddm import CDDMDenoiser
from .icdm import ICDMCanceller
from .ve import ConsistencyDenoiser, VELatentDenoiser

__all__ = ["CDDMDenoiser", "ICDMCanceller", "ConsistencyDenoiser", "VELatentDenoiser"]
