"""The ``semradio`` command.

    semradio blocks [--json] [NAME ...]            list blocks (plugins included): ports, parameters, doc
    semradio run GRAPH.toml [--set B.K=V] [--json]  run a flowgraph file
    semradio run FLOWGRAPH.py [-- ARGS]            run a flowgraph script with its own arguments
    semradio worker SPEC [--endpoint N=URL]        serve a block or subgraph behind named ZeroMQ endpoints
    semradio checkpoints [--json] [NAME ...]       list checkpoints along the search path
    semradio train FAMILY [options]                train a model family (jscc, cddm, ve-ldm, eecd, ...)
    semradio eval KIND [options]                   evaluations with CSV + PNG (icdm, cdiff)
    semradio sweep [GRID.toml] [options]           a flowgraph over a grid (process pool or Ray), resumable
    semradio digital bler|compare|rates [options]  the digital baseline (image codec + 5G LDPC + QAM)
    semradio bench SUITE [--json]                  benchmarks (runtime, channel, e2e, bridges, ...)

Each subcommand imports only what it needs: ``semradio blocks``, ``run`` of a flowgraph file,
``worker`` and ``checkpoints`` do not import torch unless a block they build needs it.
"""

from __future__ import annotations

import importlib
import sys

#: Subcommand -> (module with ``main(argv) -> int``, one-line help).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "blocks": ("semradio.cli.blocks", "list blocks with their ports, parameters and doc"),
    "run": ("semradio.cli.run", "run a flowgraph file (.toml/.json) or a flowgraph script (.py)"),
    "worker": ("semradio.cli.worker", "run a block or subgraph behind named ZeroMQ endpoints"),
    "checkpoints": ("semradio.cli.checkpoints", "list checkpoints: name, family, location, metrics, command"),
    "train": ("semradio.models.training.cli", "train a model family"),
    "eval": ("semradio.models.evaluation.cli", "evaluations written as CSV + PNG"),
    "sweep": ("semradio.cli.sweep", "run a flowgraph over a grid (process pool or Ray) and plot the curves"),
    "bench": ("semradio.cli.bench", "benchmarks printed as JSON"),
    "digital": ("semradio.cli.digital", "digital baseline: BLER per MCS, PSNR/SSIM vs SNR against JSCC, rates"),
}


def usage() -> str:
    """The top-level help."""
    width = max(map(len, SUBCOMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, help_) in SUBCOMMANDS.items())
    return f"usage: semradio COMMAND [ARGS]\n\ncommands:\n{rows}\n\n'semradio COMMAND --help' for a command's options."


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``semradio`` console script: dispatch to the subcommand's ``main``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd not in SUBCOMMANDS:
        print(f"semradio: unknown command {cmd!r}; commands: {', '.join(SUBCOMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(SUBCOMMANDS[cmd][0])
    try:
        return int(module.main(rest, prog=f"semradio {cmd}") or 0)
    except SystemExit as exc:
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
            return 1
        return 0 if exc.code is None else int(exc.code)


__all__ = ["main", "SUBCOMMANDS", "usage"]
