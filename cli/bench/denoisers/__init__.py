"""Denoisers: network evaluations (NFE) and milliseconds per frame of every shipped denoiser.

``semradio bench denoisers --json`` runs one section per denoiser family; each family's
timing code lives in a module of this package (``cddm``, ``ve``, ``icdm``, ``cdiff``) with ``add_arguments(parser)`` (its
own options, prefixed with the family name where they could clash) and ``run(args) -> dict``.
``--family`` picks a subset. Shared options: ``--repeat`` (timed frames, median reported),
``--snr-db``, ``--batch`` and ``--threads`` (torch CPU threads; pass 1 on a shared machine).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

#: Denoiser families, each benchmarked by the module of that name in this package.
FAMILIES: tuple[str, ...] = ("cddm", "ve", "icdm", "cdiff")


def _module(family: str) -> Any:
    return importlib.import_module(f"{__name__}.{family}")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", nargs="+", choices=FAMILIES, default=list(FAMILIES),
                   help="denoiser families to time (default: all)")
    p.add_argument("--repeat", type=int, default=5, help="timed frames per setting (median reported)")
    p.add_argument("--snr-db", type=float, nargs="+", default=(0.0, 10.0, 20.0))
    p.add_argument("--batch", type=int, nargs="+", default=(1, 64))
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    for family in FAMILIES:
        extra = getattr(_module(family), "add_arguments", None)
        if extra is not None:
            extra(p)


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    out: dict[str, Any] = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                           "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    for family in args.family:
        out[family] = _module(family).run(args)
    return out
