"""``semradio train FAMILY [options]``: the trainers' command line, generated from their
typed configs (:mod:`semradio.models.training.config`)."""

from __future__ import annotations

import argparse
import shlex
import sys

from semradio.runtime.arguments import OneLineParser

from . import FAMILIES
from .config import add_options, from_namespace


def family_parser(name: str, prog: str = "semradio train") -> argparse.ArgumentParser:
    """The option parser of one family (its options from its config dataclass)."""
    fam = FAMILIES[name]
    cls, _ = fam.load()
    p = OneLineParser(prog=f"{prog} {name}", description=(cls.__doc__ or fam.help).strip())
    add_options(p, cls)
    return p


def main(argv: list[str] | None = None, prog: str = "semradio train") -> int:
    """Parse ``FAMILY [options]``, build the config, train (only the chosen family's module is
    imported). The recorded command is ``semradio train`` followed by the arguments as given."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in FAMILIES:
        top = OneLineParser(prog=prog, description="Train a model family; checkpoints go to the user "
                            "directory ($SEMRADIO_HOME/checkpoints) unless --out-dir. "
                            f"'{prog} FAMILY --help' lists a family's options.")
        top.add_argument("family", choices=list(FAMILIES), metavar="FAMILY",
                         help="; ".join(f"{f.name}: {f.help}" for f in FAMILIES.values()))
        top.parse_args(argv[:1])  # prints usage and exits (or --help)
        return 2
    from . import distributed

    cls, fn = FAMILIES[argv[0]].load()
    config = from_namespace(cls, family_parser(argv[0], prog).parse_args(argv[1:]))
    nproc = int(getattr(config, "nproc", 1) or 1)
    if nproc > 1 and distributed.world_size() == 1:  # start torchrun with this very command
        if argv[0] not in distributed.DDP_FAMILIES:
            raise SystemExit(f"train: --nproc: {argv[0]} does not train data-parallel (only "
                             f"{', '.join(distributed.DDP_FAMILIES)})")
        return distributed.launch(nproc, argv)
    if distributed.world_size() > 1 and argv[0] not in distributed.DDP_FAMILIES:
        raise SystemExit(f"train: {argv[0]} does not train data-parallel (only "
                         f"{', '.join(distributed.DDP_FAMILIES)}); run it in one process")
    try:
        fn(config, command=f"{prog} " + shlex.join(argv))
    except BaseException:
        distributed.cleanup(ok=False)
        raise
    distributed.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
