"""``semradio eval KIND ...``: ``icdm`` (sweep, point, bound), ``cdiff`` (snr, cbr, sinr) and ``chest``
(channel estimation NMSE vs pilot SNR)."""

from __future__ import annotations

import importlib
import sys

#: Evaluation kinds -> module with ``main(argv, prog)``.
KINDS = {"adapter": "semradio.models.evaluation.adapter",
         "icdm": "semradio.models.evaluation.icdm", "cdiff": "semradio.models.evaluation.cdiff",
         "chest": "semradio.models.evaluation.chest", "robust": "semradio.models.evaluation.robust",
         "codecs": "semradio.models.evaluation.codecs"}


def main(argv: list[str] | None = None, prog: str = "semradio eval") -> int:
    """Dispatch to the kind's own command line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: {prog} {{{','.join(KINDS)}}} ...  ('{prog} KIND --help' for its options)")
        return 0
    if not argv or argv[0] not in KINDS:
        given = f"unknown kind {argv[0]!r}" if argv else "a kind is needed"
        print(f"{prog}: error: {given} (use one of: {', '.join(KINDS)})", file=sys.stderr)
        return 2
    return int(importlib.import_module(KINDS[argv[0]]).main(argv[1:], prog=f"{prog} {argv[0]}") or 0)
