"""``semradio blocks [--json] [NAME ...]``: every registered block (semradio's and plugins'),
with its ports, parameters, message ports and one-line doc, built from its ``example()``."""

from __future__ import annotations

import json
import sys
from typing import Any

from semradio.runtime import Block
from semradio.runtime.arguments import OneLineParser
from semradio.runtime.registry import load_registry


def block_classes() -> list[type[Block]]:
    """Every registered block class (semradio's own first, then plugins'), sorted by name."""
    return [e.cls for e in load_registry()]


def describe_block(cls: type[Block], provider: str = "semradio") -> dict[str, Any]:
    """Ports, parameters, message ports and doc of a block class (from its ``example()``)."""
    info: dict[str, Any] = {"name": cls.__name__, "module": cls.__module__, "provider": provider,
                            "doc": cls.doc_line()}
    try:
        blk = cls.example()
    except Exception as exc:  # noqa: BLE001 - listing must not fail on one block
        info["error"] = f"could not instantiate an example: {type(exc).__name__}: {exc}"
        return info
    info["inputs"] = [{"name": p.name, "type": p.describe(), "optional": p.optional} for p in blk.inputs]
    info["outputs"] = [{"name": p.name, "type": p.describe()} for p in blk.outputs]
    docs = blk.param_docs()
    info["params"] = [{"name": k, "value": _plain(v), "doc": docs.get(k, "")} for k, v in blk.params.items()]
    info["message_inputs"] = blk.message_inputs
    info["message_outputs"] = blk.message_outputs
    return info


def _plain(v: Any) -> Any:
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    return repr(v)


def _print_block(info: dict[str, Any]) -> None:
    origin = "" if info["provider"] == "semradio" else f", plugin {info['provider']}"
    print(f"{info['name']}  ({info['module']}{origin})")
    print(f"    {info['doc']}")
    if "error" in info:
        print(f"    ! {info['error']}")
        return
    for p in info["inputs"]:
        print(f"    in   {p['name']:<10} {p['type']}{'  (optional)' if p['optional'] else ''}")
    for p in info["outputs"]:
        print(f"    out  {p['name']:<10} {p['type']}")
    for p in info["params"]:
        print(f"    param {p['name']} = {p['value']!r}  {p['doc']}")
    print(f"    msg in: {', '.join(info['message_inputs'])}" + (f"; msg out: {', '.join(info['message_outputs'])}"
                                                              if info["message_outputs"] else ""))


def main(argv: list[str], prog: str = "semradio blocks") -> int:
    """List the blocks (all, or those named)."""
    parser = OneLineParser(prog=prog, description=__doc__)
    parser.add_argument("names", nargs="*", help="only these blocks")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    entries = list(load_registry())
    if args.names:
        wanted = {n.lower() for n in args.names}
        entries = [e for e in entries if e.cls.__name__.lower() in wanted]
        if not entries:
            print(f"semradio blocks: no block named {', '.join(args.names)}", file=sys.stderr)
            return 2
    infos = [describe_block(e.cls, e.provider) for e in entries]
    if args.json:
        print(json.dumps(infos, indent=2))
    else:
        for info in infos:
            _print_block(info)
            print()
    return 0
