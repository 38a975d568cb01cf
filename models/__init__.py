"""semradio.models: neural networks, noise schedules, samplers and shipped checkpoints."""

# JSCC codecs (issue #4): Deep JSCC / ADJSCC, GDN, checkpoints, image metrics.
from .checkpoint import list_codecs, load_codec, read_config, save_codec
from .gdn import GDN
from .jscc import DeepJSCC, latent_channels_for

__all__ = ["DeepJSCC", "GDN", "latent_channels_for", "load_codec", "save_codec", "list_codecs", "read_config"]
