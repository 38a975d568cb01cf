"""The ``semradio`` command.

    semradio blocks [--json] [NAME ...]     list blocks: ports, parameters, one-line doc
    semradio run FLOWGRAPH.py [-- ARGS]     run a flowgraph script with its own arguments
    semradio worker SPEC [--endpoint N=URL]  run a block/subgraph behind named ZeroMQ endpoints
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import runpy
import sys
from typing import Any

from .block import Block


def block_classes() -> list[type[Block]]:
    """Every public Block subclass exported by ``semradio.blocks``, sorted by name."""
    import semradio.blocks as blocks_pkg

    found = {}
    for name in getattr(blocks_pkg, "__all__", dir(blocks_pkg)):
        obj = getattr(blocks_pkg, name, None)
        if inspect.isclass(obj) and issubclass(obj, Block) and not name.startswith("_"):
            found[name] = obj
    return [found[k] for k in sorted(found)]


def describe_block(cls: type[Block]) -> dict[str, Any]:
    """Ports, parameters, message ports and doc of a block class (from its ``example()``)."""
    info: dict[str, Any] = {"name": cls.__name__, "module": cls.__module__, "doc": cls.doc_line()}
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
    print(f"{info['name']}  ({info['module']})")
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
    msg_in = [m for m in info["message_inputs"]]
    print(f"    msg in: {', '.join(msg_in)}" + (f"; msg out: {', '.join(info['message_outputs'])}"
                                               if info["message_outputs"] else ""))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``semradio`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="semradio", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    pb = sub.add_parser("blocks", help="list blocks with their ports, parameters and doc")
    pb.add_argument("names", nargs="*", help="only these blocks")
    pb.add_argument("--json", action="store_true", help="print JSON")
    pr = sub.add_parser("run", help="run a flowgraph script: semradio run FLOWGRAPH.py -- ARGS")
    pr.add_argument("script", help="path of the flowgraph script")
    pr.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the script (after --)")
    pw = sub.add_parser("worker", help="run a block or subgraph behind named ZeroMQ endpoints (see "
                                       "semradio.runtime.worker)")
    from . import worker as worker_mod

    worker_mod.add_arguments(pw)
    args = parser.parse_args(argv)
    if args.cmd == "worker":
        return worker_mod.main(args)
    if args.cmd == "blocks":
        classes = block_classes()
        if args.names:
            wanted = {n.lower() for n in args.names}
            classes = [c for c in classes if c.__name__.lower() in wanted]
            if not classes:
                print(f"no block named {', '.join(args.names)}", file=sys.stderr)
                return 2
        infos = [describe_block(c) for c in classes]
        if args.json:
            print(json.dumps(infos, indent=2))
        else:
            for info in infos:
                _print_block(info)
                print()
        return 0
    script = args.script
    if not os.path.isfile(script):
        print(f"semradio run: no such flowgraph script: {script}", file=sys.stderr)
        return 2
    script_args = args.args[1:] if args.args[:1] == ["--"] else args.args
    sys.argv = [script, *script_args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
