"""``semradio checkpoints [--json] [NAME ...]``: every checkpoint along the search path
(``$SEMRADIO_CHECKPOINTS``, the user directory, plugins, the shipped ones) with its family, the
codec it was trained for, the checkpoint its training started from, where it is, its held-out metrics and the command that trained it;
a checkpoint that hides another of the same name (a user model named like a shipped one) says so."""

from __future__ import annotations

import json
import sys

from semradio.models import registry
from semradio.runtime.arguments import OneLineParser


def main(argv: list[str], prog: str = "semradio checkpoints") -> int:
    """List checkpoints (all, or those named)."""
    parser = OneLineParser(prog=prog, description=__doc__)
    parser.add_argument("names", nargs="*", help="only these checkpoints")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--path", action="store_true", help="print the search path and exit")
    args = parser.parse_args(argv)
    if args.path:
        for d in registry.search_path():
            print(f"{d.origin:<10} {d.path}{'' if d.path.is_dir() else '  (absent)'}")
        return 0
    infos = registry.list_checkpoints()
    if args.names:
        infos = [i for i in infos if i.name in set(args.names)]
        if not infos:
            print(f"semradio checkpoints: none named {', '.join(args.names)}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps([i.as_dict() for i in infos], indent=2))
        return 0
    names = [i.name for i in infos]
    for i in infos:
        hidden = names.index(i.name) != infos.index(i)
        print(f"{i.name}  [{i.family}, {i.origin}{', hidden by an earlier one' if hidden else ''}]")
        print(f"    {i.path}")
        if i.codec:
            print(f"    codec: {i.codec}")
        if i.init:
            print(f"    started from: {i.init}")
        if i.metrics:
            print(f"    held-out: {i.metrics}")
        if i.command:
            print(f"    trained by: {i.command}")
        for s in i.shadows:
            print(f"    ! shadows {s}")
        if i.error:
            print(f"    ! {i.error}")
    return 0
