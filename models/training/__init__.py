"""semradio.models.training: every model family's trainer, importable.

One optimizer loop and resumable state (:mod:`.loop`), one simulated link
(:class:`semradio.models.link.LinkDraw`), one data layer (:class:`.data.TrainingData`: any dataset
the loaders read, or arrays), and per family a typed config and a ``train`` function:

============== ======================== ==============================================
family          config                   what it trains
============== ======================== ==============================================
``jscc``        :class:`JSCCConfig`      Deep JSCC / ADJSCC codec
``cddm``        ``CDDMConfig``           CDDM channel denoiser (+ decoder fine-tune)
``ve-ldm``      ``VEConfig``             VE latent diffusion teacher
``eecd``        ``EECDConfig``           EECD consistency distillation of the teacher
``icdm-prior``  ``ICDMPriorConfig``      ICDM signal / interference prior
``icdm-tune``   ``ICDMTuneConfig``       ICDM guidance weights per SINR
``cdiff``       ``CDiffConfig``          CDiff conditional diffusion decoder
``cdiff-codec`` ``CDiffCodecConfig``     adaptive-CBR encoder + matched AE / VAE decoder
``chest``       ``ChestConfig``          diffusion channel estimator on channel grids
============== ======================== ==============================================

    >>> from semradio.models.training import JSCCConfig, train
    >>> config = train(JSCCConfig(steps=30, name="my_codec"), data="folder:my_photos:32")  # doctest: +SKIP

``train(config, data)`` picks the family from the config's type; ``data`` is a dataset spec or a
:class:`TrainingData` and defaults to the config's ``data``. Checkpoints go to the user directory
(:mod:`semradio.models.registry`); an existing one is replaced only with ``overwrite=True``.
``semradio train FAMILY --help`` is the same from the command line (:mod:`.cli`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .data import TrainingData


@dataclass(frozen=True)
class Family:
    """A trainable model family: where its config class and train function live."""

    name: str
    module: str
    config: str
    train: str
    help: str

    def load(self) -> tuple[type, Any]:
        """(config class, train function)."""
        mod = importlib.import_module(self.module)
        return getattr(mod, self.config), getattr(mod, self.train)


#: The families of ``semradio train``, by command name.
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("jscc", f"{__name__}.jscc", "JSCCConfig", "train_jscc",
           "Deep JSCC / ADJSCC image codec over AWGN or Rayleigh"),
    Family("cddm", f"{__name__}.cddm", "CDDMConfig", "train_cddm",
           "CDDM channel denoiser for a codec (+ decoder fine-tuning)"),
    Family("ve-ldm", f"{__name__}.ve", "VEConfig", "train_ve", "VE latent diffusion channel denoiser (teacher)"),
    Family("eecd", f"{__name__}.ve", "EECDConfig", "train_eecd", "EECD consistency distillation of a VE teacher"),
    Family("icdm-prior", f"{__name__}.icdm", "ICDMPriorConfig", "train_prior",
           "ICDM signal/interference prior (Algorithm 1)"),
    Family("icdm-tune", f"{__name__}.icdm", "ICDMTuneConfig", "tune_guidance",
           "ICDM guidance weights beta, gamma per SINR (eq. 40)"),
    Family("cdiff", f"{__name__}.cdiff", "CDiffConfig", "train_cdiff", "CDiff conditional diffusion decoder"),
    Family("cdiff-codec", f"{__name__}.cdiff_codec", "CDiffCodecConfig", "train_cdiff_codec",
           "adaptive-CBR encoder + matched AE or VAE decoder"),
    Family("adapter", f"{__name__}.adapter", "AdapterConfig", "train_adapter", "one-shot latent adapter for OOD images"),
    Family("chest", f"{__name__}.chest", "ChestConfig", "train_chest",
           "diffusion channel estimator (denoiser of LS estimates) on 3GPP channel grids"),
    Family("robust", f"{__name__}.robust", "RobustConfig", "train_robust", "encoder robust to PGD semantic errors"),
    Family("vae-wgan", f"{__name__}.vae_wgan", "VAEWGANConfig", "train_vae_wgan", "VAE-WGAN JSCC codec (Algorithm 5)"),
)}

_EXPORTS = {f.config: f for f in FAMILIES.values()}


def family_of(config: Any) -> Family:
    """The family whose config class ``config`` is an instance of."""
    for fam in FAMILIES.values():
        cls, _ = fam.load()
        if isinstance(config, cls):
            return fam
    raise TypeError(f"not a training config: {type(config).__name__}; expected one of "
                    f"{sorted(f.config for f in FAMILIES.values())}")


def train(config: Any, data: str | TrainingData | None = None, command: str | None = None) -> Any:
    """Train the family of ``config`` on ``data`` (default: the config's own ``data``, or the
    bundled photos) and return what its trainer returns (the checkpoint's JSON config)."""
    _, fn = family_of(config).load()
    return fn(config, data, command=command) if data is not None else fn(config, command=command)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return _EXPORTS[name].load()[0]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["FAMILIES", "Family", "TrainingData", "family_of", "train", *sorted(_EXPORTS)]
