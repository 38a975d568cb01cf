"""Checkpoints: safetensors weights + a JSON config, saved and loaded for every model family.

A checkpoint named ``NAME`` is two files in a folder, found along the search path of
:mod:`semradio.models.registry` (``$SEMRADIO_CHECKPOINTS``, the user directory, plugins' folders,
then the shipped ``semradio/models/checkpoints/``, i.e. ``models/checkpoints/`` of the repository):

* ``NAME.safetensors`` — the state dict (float32 tensors), read with ``safetensors`` only:
  nothing is ever unpickled;
* ``NAME.json`` — ``{"name", "architecture", "kwargs" (constructor arguments), "cbr", "k",
  "image_shape", "channel", "train" (the exact training command, data, steps, seed, time,
  ...), "metrics" (held-out results), "weights" (file name), "sha256" (of the weights)}``.

:func:`load_codec` accepts a name (``list_codecs()``), a path to either file, or a path without
extension, and returns the model in eval mode on the requested device. :func:`save_weights`
never replaces an existing checkpoint unless asked (``overwrite=True``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from . import registry
from .cdiff_codec import ARCHITECTURE as ADAPTIVE_ARCHITECTURE, AdaptiveCBRCodec
from .jscc import ARCHITECTURE, DeepJSCC
from .vae_wgan import ARCHITECTURE as VAE_WGAN_ARCHITECTURE, VAEWGAN

#: Folder of the shipped checkpoints (read-only; see :mod:`semradio.models.registry`).
CHECKPOINT_DIR = registry.SHIPPED_DIR

#: Architecture name -> constructor taking the config's ``kwargs``.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {ARCHITECTURE: DeepJSCC, ADAPTIVE_ARCHITECTURE: AdaptiveCBRCodec,
                                                      VAE_WGAN_ARCHITECTURE: VAEWGAN}


def resolve_device(device: Any = None) -> torch.device:
    """``None``/"auto" -> CUDA when available else CPU; anything else as ``torch.device``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save_weights(model: nn.Module, path: str | Path, config: dict[str, Any], architecture: str,
                 kwargs: dict[str, Any], overwrite: bool = False) -> Path:
    """Write ``path.safetensors`` (float32 state dict) and ``path.json`` (``config`` plus
    ``architecture``, constructor ``kwargs``, weights file name and SHA-256), each through a
    temporary file and an atomic rename. Returns the JSON path. Shared by every model family.

    Raises:
        FileExistsError: either file exists and ``overwrite`` is False.
    """
    from safetensors.torch import save_file

    base = Path(path)
    base = base.with_suffix("") if base.suffix in (".json", ".safetensors") else base
    registry.output_base(base.name, base.parent, overwrite)  # refuses to replace without overwrite
    base.parent.mkdir(parents=True, exist_ok=True)
    weights = base.with_name(base.name + ".safetensors")
    state = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.state_dict().items()}
    tmp = weights.with_name(weights.name + ".tmp")
    # one metadata key: safetensors writes a metadata map in hash order, so two keys would make the
    # bytes (and the SHA-256) of identical weights differ from run to run
    save_file(state, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, weights)
    return write_config(base, dict(config, architecture=architecture, kwargs=kwargs))


def write_config(base: Path, config: dict[str, Any], weights_from: Path | None = None) -> Path:
    """Write ``base.json``: ``config`` with ``name`` (default the file name), ``weights`` and the
    weights' SHA-256, through a temporary file and an atomic rename. ``weights_from``: first copy
    that safetensors file to ``base.safetensors`` the same way (a checkpoint derived from another
    with new metadata, e.g. tuned guidance weights). Returns the JSON path."""
    weights = base.with_name(base.name + ".safetensors")
    if weights_from is not None:
        base.parent.mkdir(parents=True, exist_ok=True)
        tmp = weights.with_name(weights.name + ".tmp")
        tmp.write_bytes(Path(weights_from).read_bytes())
        os.replace(tmp, weights)
    cfg = dict(config)
    cfg.setdefault("name", base.name)
    cfg["weights"] = weights.name
    cfg["sha256"] = sha256_of(weights)
    js = base.with_name(base.name + ".json")
    tmp_js = js.with_name(js.name + ".tmp")
    tmp_js.write_text(json.dumps(cfg, indent=2) + "\n")
    os.replace(tmp_js, js)
    return js


def load_weights(name_or_path: str | Path, architecture: str, build: Callable[[dict[str, Any]], nn.Module],
                 device: Any = None, kind: str = "model") -> tuple[nn.Module, dict[str, Any]]:
    """A network saved by :func:`save_weights`: find ``NAME.json`` (a path, or a name along the
    search path), check its ``architecture``, build the network with ``build(kwargs)`` (a copy of
    the config's ``kwargs``), load the safetensors state strictly (nothing is unpickled), and
    return it in eval mode on ``device`` with the JSON config (``_path``: where it was found).

    Raises:
        FileNotFoundError: naming the places tried.
        ValueError: an architecture mismatch or a malformed config.
    """
    from safetensors.torch import load_file

    cfg = read_config(name_or_path, kind=f"{kind} checkpoint")
    if cfg.get("architecture") != architecture:
        raise ValueError(f"{cfg['_path']}: architecture {cfg.get('architecture')!r} is not {architecture!r}")
    net = build(dict(cfg["kwargs"]))
    net.load_state_dict(load_file(str(Path(cfg["_path"]).with_name(cfg["weights"])), device="cpu"), strict=True)
    net.to(resolve_device(device)).eval()
    return net, cfg


def save_codec(model: nn.Module, path: str | Path, config: dict[str, Any], overwrite: bool = False) -> Path:
    """Write a codec checkpoint (a :class:`DeepJSCC` or an :class:`AdaptiveCBRCodec`; see
    :func:`save_weights`). Returns the JSON path."""
    arch = (ADAPTIVE_ARCHITECTURE if isinstance(model, AdaptiveCBRCodec)
            else VAE_WGAN_ARCHITECTURE if isinstance(model, VAEWGAN) else ARCHITECTURE)
    return save_weights(model, path, config, arch, model.config(), overwrite)  # type: ignore[operator]


def read_config(name_or_path: str | Path, kind: str = "checkpoint") -> dict[str, Any]:
    """The JSON config of a checkpoint (with ``_path``: the JSON file's path)."""
    path = registry.find_config(name_or_path, kind=kind)
    cfg = registry.read_json(path)
    cfg["_path"] = str(path)
    return cfg


def load_codec(name_or_path: str | Path, device: Any = None, check_hash: bool = False) -> nn.Module:
    """A codec from a name or a checkpoint path, in eval mode on ``device``.

    Args:
        name_or_path: ``"jscc_natural32_awgn_cbr1-6"`` (see :func:`list_codecs`), or a path to
            ``X.json`` / ``X.safetensors`` / ``X``.
        device: None or "auto" (CUDA when present), "cpu", "cuda", a torch.device.
        check_hash: verify the weights' SHA-256 against the config.

    The model gets a ``codec_config`` attribute holding the JSON config.
    """
    from safetensors.torch import load_file

    cfg = read_config(name_or_path, kind="codec")
    arch = cfg.get("architecture")
    try:
        ctor = ARCHITECTURES[arch]
    except KeyError:
        raise ValueError(f"codec {cfg['_path']}: unknown architecture {arch!r}; known: {sorted(ARCHITECTURES)}") from None
    weights = Path(cfg["_path"]).with_name(cfg["weights"])
    if check_hash and cfg.get("sha256") and sha256_of(weights) != cfg["sha256"]:
        raise ValueError(f"codec {weights}: SHA-256 does not match its config")
    model = ctor(**cfg["kwargs"])
    dev = resolve_device(device)
    state = load_file(str(weights), device="cpu")
    model.load_state_dict(state, strict=True)
    model.to(dev).eval()
    model.codec_config = cfg  # type: ignore[attr-defined]
    return model


def list_codecs(directory: str | Path | None = None) -> list[str]:
    """Names of the codec checkpoints (a codec architecture with its weights file) in
    ``directory``, or along the whole search path when None (each name once)."""
    dirs = None if directory is None else [registry.SearchDir(Path(directory), "dir")]
    return sorted({c.name for c in registry.list_checkpoints(dirs) if c.family in ("jscc", "cdiff-codec", "vae-wgan")})


def codec_name(data: str, channel: str, cbr_label: str) -> str:
    """Name convention: ``jscc_<data>_<channel>_cbr<a>-<b>`` (e.g. cbr1-6)."""
    return f"jscc_{data}_{channel}_cbr{cbr_label.replace('/', '-')}"
