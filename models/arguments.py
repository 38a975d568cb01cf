"""Command-line checks of what the models layer knows: dataset specs and checkpoint names
(``type=`` converters for :class:`semradio.runtime.arguments.OneLineParser`, raising
``argparse.ArgumentTypeError`` with the bad value and what is accepted).

    >>> dataset_spec("natural32")
    'natural32'
    >>> checkpoint_ref("codec")("jscc_natural32_awgn_cbr1-6")
    'jscc_natural32_awgn_cbr1-6'
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable


def dataset_spec(text: str) -> str:
    """A dataset spec of :data:`semradio.models.data.DATASETS` whose files are there (a
    ``folder:DIR`` that exists, ``cifar10:PATH``, ``mnist[:DIR]``)."""
    from semradio.models.data import DATASETS, default_mnist_dir, parse_spec

    try:
        spec = parse_spec(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"unknown dataset {text!r} (use one of: {', '.join(DATASETS)})") from None
    if spec.kind == "mnist" and spec.path is None:
        path = default_mnist_dir()
        if not path.exists():
            raise argparse.ArgumentTypeError(f"{text!r}: MNIST is not at {path} (use mnist:DIR with the folder of "
                                             "the IDX files, or set $SEMRADIO_DATASETS; natural32 needs no download)")
    elif spec.path is not None and not Path(spec.path).exists():
        raise argparse.ArgumentTypeError(f"{text!r}: {spec.path!r} does not exist (give an existing "
                                         f"{'folder' if spec.kind == 'folder' else 'path'})")
    elif spec.kind == "folder" and not Path(str(spec.path)).is_dir():
        raise argparse.ArgumentTypeError(f"{text!r}: {spec.path!r} is not a folder")
    return text


#: Checkpoint kind -> the registry families it accepts (see :data:`semradio.models.registry.FAMILIES`).
CHECKPOINT_FAMILIES: dict[str, tuple[str, ...]] = {"codec": ("jscc", "cdiff-codec"), "CDDM": ("cddm",),
                                                   "EECD": ("eecd",), "CDiff": ("cdiff",), "VE": ("ve-ldm",)}


def known_checkpoints(kind: str) -> list[str]:
    """Names of the checkpoints of ``kind`` along the search path (every family when ``kind``
    has none listed in :data:`CHECKPOINT_FAMILIES`)."""
    from semradio.models.registry import list_checkpoints

    families = CHECKPOINT_FAMILIES.get(kind)
    return sorted({c.name for c in list_checkpoints() if c.error is None and (families is None or
                                                                              c.family in families)})


def checkpoint_ref(kind: str = "checkpoint") -> Callable[[str], str]:
    """A ``type=`` that accepts a checkpoint name found along the search path, or a path to a
    checkpoint's ``.json`` (``kind``: "codec", or any word for the message)."""

    def check(text: str) -> str:
        from semradio.models.registry import find_config

        try:
            find_config(text, kind=kind)
        except FileNotFoundError:
            names = known_checkpoints(kind)
            shown = ", ".join(names[:8]) + (f", ... ({len(names)} in all)" if len(names) > 8 else "")
            raise argparse.ArgumentTypeError(
                f"no {kind} {text!r} (use a name listed by 'semradio checkpoints'"
                f"{': ' + shown if shown else ''}; or the path of a checkpoint's .json)") from None
        return text

    check.__name__ = f"{kind}_checkpoint"
    return check


__all__ = ["dataset_spec", "checkpoint_ref", "known_checkpoints", "CHECKPOINT_FAMILIES"]
