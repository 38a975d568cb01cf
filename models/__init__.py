"""semradio.models: neural networks, diffusion schedulers and samplers, data loaders, the
checkpoint registry, and the training and evaluation code behind ``semradio train`` and
``semradio eval``.

Names resolve lazily, so ``import semradio.models`` does not import torch; the JSCC codec API is
re-exported here (``from semradio.models import load_codec``).
"""

from __future__ import annotations

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "checkpoint": ["list_codecs", "load_codec", "read_config", "save_codec"],
        "gdn": ["GDN"],
        "jscc": ["DeepJSCC", "latent_channels_for"],
    },
)
