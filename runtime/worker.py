"""``semradio worker``: run a block or a subgraph behind named ZeroMQ endpoints.

A worker places part of a flowgraph in another process or on another host. It reads a spec
(JSON, or TOML for ``.toml`` files), builds the blocks, wires them, and connects named
external endpoints to their ports with :class:`~semradio.blocks.ZMQSource` (inputs) and
:class:`~semradio.blocks.ZMQSink` (outputs) in the native wire format (or any format the
entry asks for). The flowgraph that uses it connects its own ZMQSink/ZMQSource to those
endpoints (see ``flowgraphs/split_hosts.py``).

The spec is a flowgraph file (:mod:`semradio.runtime.graph_file`: blocks as a registered class
+ kwargs, connections, edge options, placement) with ``[inputs.NAME]`` / ``[outputs.NAME]``
tables that put named external endpoints on ports::

    connections = [["eq", "meter.in"]]

    [blocks.eq]
    class = "MMSEEqualizer"                   # a registered block (never an arbitrary callable)

    [blocks.meter]
    class = "PassThrough"

    [inputs.rx]                               # external name -> input port
    to = "eq.in"
    endpoint = "tcp://127.0.0.1:6000"
    # any other key is a ZMQSource argument: pattern (pull), format (native), bind (true),
    # hwm, topic, dtype, shape, curve_server_public, ...

    [outputs.eq]                              # external name -> output port
    from = "meter.out"
    endpoint = "tcp://127.0.0.1:6001"
    # any other key is a ZMQSink argument: pattern (push), bind (true), policy, ...

Defaults: the worker binds every endpoint (peers connect, so a restarted worker is found
again by ZeroMQ's reconnection), PUSH/PULL, native format; TCP binds only to loopback unless
``--allow-remote``; ``--curve-secret`` / ``--curve-authorized`` make every bound endpoint a
CURVE server (see :mod:`semradio.blocks.zeromq.security`).

The worker prints JSON lines on stdout: ``{"event": "ready", "endpoints": {name: endpoint}}``
once every endpoint is bound (a ``tcp://127.0.0.1:*`` endpoint shows its port), and
``{"event": "done", "stats": ..., "bridges": ...}`` when the stream ended; with ``--forever``
it then rebuilds the subgraph and serves the next stream. SIGTERM/SIGINT stop it cleanly.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from .block import Block
from .flowgraph import Flowgraph
from . import graph_file

__all__ = ["load_spec", "build_graph", "WorkerGraph", "run_worker", "add_arguments", "main"]

READY_TIMEOUT_S = 30.0


def load_spec(path: str) -> dict[str, Any]:
    """Read a worker spec (a flowgraph file: TOML when the name ends in ``.toml``, else JSON).

    Raises:
        ValueError: unreadable, not valid TOML/JSON, or not a table at top level.
    """
    return graph_file.load(path)


@dataclass
class WorkerGraph:
    """A built worker: the flowgraph, its blocks by name and the bridge blocks by endpoint name."""

    flowgraph: Flowgraph
    blocks: dict[str, Block]
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict[str, str]:
        """Wait until every endpoint is bound/connected; ``{name: endpoint}``.

        Raises:
            TimeoutError: an endpoint did not come up (the flowgraph's error, if any, is raised
                by ``wait()``).
        """
        deadline = time.monotonic() + timeout
        out = {}
        for name, b in {**self.inputs, **self.outputs}.items():
            while not b.ready.wait(0.05):
                if self.flowgraph.errors() or time.monotonic() > deadline:
                    if self.flowgraph.errors():
                        self.flowgraph.wait(0)
                    raise TimeoutError(f"worker endpoint {name!r} ({b.address}) did not come up")
            out[name] = b.endpoint
        return out

    def bridge_stats(self) -> dict[str, Any]:
        """The bridge blocks' counters by endpoint name."""
        return {name: b.stats for name, b in {**self.inputs, **self.outputs}.items()}


def build_graph(spec: dict[str, Any], allow_remote: bool = False, curve_secret: str | None = None,
                curve_authorized: str | None = None, endpoints: dict[str, str] | None = None,
                input_defaults: dict[str, Any] | None = None) -> WorkerGraph:
    """Build the worker's flowgraph from a spec (see the module docstring).

    Args:
        spec: the parsed spec.
        allow_remote: allow binding non-loopback TCP addresses.
        curve_secret / curve_authorized: CURVE server key file and authorized-clients directory
            for every bound endpoint.
        endpoints: overrides ``{external name: endpoint}``.
        input_defaults: ZMQSource arguments for every input the spec does not set itself (e.g.
            ``{"peer_timeout_s": 5, "fail_on_peer_loss": True}``).
    Raises:
        ValueError: naming the offending entry.
    """
    from .registry import resolve_block

    ZMQSink, ZMQSource = resolve_block("ZMQSink"), resolve_block("ZMQSource")  # the registered bridges
    endpoints = dict(endpoints or {})
    graph = graph_file.parse(spec)  # every class checked to be a registered Block before any is built
    fg, blocks = graph_file.build(graph)
    known = set(spec.get("inputs", {})) | set(spec.get("outputs", {}))
    stray = set(endpoints) - known
    if stray:
        raise ValueError(f"endpoint overrides for unknown names {sorted(stray)}; known: {sorted(known)}")
    wg = WorkerGraph(fg, blocks)
    for kind, table, cls, port_key in (("input", spec.get("inputs", {}), ZMQSource, "to"),
                                       ("output", spec.get("outputs", {}), ZMQSink, "from")):
        for name, entry in dict(table).items():
            if not isinstance(entry, dict) or port_key not in entry:
                raise ValueError(f"{kind} {name!r}: needs {port_key!r} (a 'block.port') and 'endpoint'")
            kw = {k: v for k, v in entry.items() if k not in (port_key, "endpoint")}
            address = endpoints.get(name, entry.get("endpoint"))
            if not isinstance(address, str):
                raise ValueError(f"{kind} {name!r}: needs an 'endpoint' such as 'tcp://127.0.0.1:6000'")
            kw.setdefault("bind", True)
            kw.setdefault("allow_remote", allow_remote)
            if kind == "input":
                for key, value in (input_defaults or {}).items():
                    kw.setdefault(key, value)
            if kw["bind"] and curve_secret:
                kw.setdefault("curve_server_secret", curve_secret)
                if curve_authorized:
                    kw.setdefault("curve_authorized", curve_authorized)
            bname = f"{kind}:{name}"
            if bname in blocks:
                raise ValueError(f"{kind} {name!r}: a block is already named {bname!r}")
            try:
                bridge = cls(address, name=bname, **kw)
            except TypeError as exc:
                raise ValueError(f"{kind} {name!r}: bad option ({exc})") from None
            bname_, _, port_ = entry[port_key].partition(".")
            block, port = blocks[bname_], (port_ if port_ else 0)
            if kind == "input":
                fg.connect(bridge, (block, port))
                wg.inputs[name] = bridge
            else:
                fg.connect((block, port), bridge)
                wg.outputs[name] = bridge
    return wg


def _emit(event: dict[str, Any]) -> None:
    print(json.dumps(event, default=str), flush=True)


def run_worker(spec: dict[str, Any], allow_remote: bool = False, curve_secret: str | None = None,
               curve_authorized: str | None = None, endpoints: dict[str, str] | None = None,
               forever: bool = False, stop: threading.Event | None = None,
               on_event: Callable[[dict[str, Any]], None] = _emit,
               input_defaults: dict[str, Any] | None = None) -> int:
    """Build and run the worker until its stream ends (``forever``: serve stream after
    stream) or ``stop`` is set. Returns 0, or 1 when a block failed (e.g. an input whose peer
    went silent with ``fail_on_peer_loss``)."""
    stop = stop or threading.Event()
    while True:
        wg = build_graph(spec, allow_remote, curve_secret, curve_authorized, endpoints, input_defaults)
        fg = wg.flowgraph
        fg.start()
        try:
            eps = wg.wait_ready()
            on_event({"event": "ready", "name": fg.name, "pid": os.getpid(), "endpoints": eps})
            while not fg.wait(0.1):
                if stop.is_set():
                    break
        except Exception as exc:  # noqa: BLE001 - report, then stop
            fg.stop()
            on_event({"event": "error", "error": f"{type(exc).__name__}: {exc}"})
            return 1
        finally:
            fg.stop()
        on_event({"event": "done", "stopped": stop.is_set(), "stats": fg.stats(), "bridges": wg.bridge_stats()})
        if not forever or stop.is_set():
            return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``semradio worker`` options."""
    p.add_argument("spec", help="worker spec file (.json or .toml)")
    p.add_argument("--endpoint", action="append", default=[], metavar="NAME=URL",
                   help="override the endpoint of an input/output (repeatable)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow binding TCP endpoints on non-loopback addresses")
    p.add_argument("--curve-secret", metavar="FILE",
                   help="CURVE: this worker's secret key file (.key_secret); bound endpoints become CURVE servers")
    p.add_argument("--curve-authorized", metavar="DIR",
                   help="CURVE: directory of authorized client public keys (*.key); default: any client "
                        "that knows the server key")
    p.add_argument("--forever", action="store_true", help="after a stream ends, serve the next one")
    p.add_argument("--peer-timeout", type=float, default=5.0, metavar="S",
                   help="report an input whose peer has been silent this long as stalled (default 5 s)")
    p.add_argument("--fail-on-peer-loss", action="store_true",
                   help="stop with an error (exit 1) when an input's peer stays silent past --peer-timeout")
    p.add_argument("--exit-with-parent", action="store_true",
                   help="exit when the process that started this worker dies (workers spawned by a script)")


def main(args: argparse.Namespace) -> int:
    """Run ``semradio worker`` with parsed arguments."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s semradio worker: %(message)s")
    overrides = {}
    for item in args.endpoint:
        name, sep, url = item.partition("=")
        if not sep:
            print(f"semradio worker: --endpoint expects NAME=URL, got {item!r}", file=sys.stderr)
            return 2
        overrides[name] = url
    inputs = {"peer_timeout_s": args.peer_timeout, "fail_on_peer_loss": args.fail_on_peer_loss}
    try:
        spec = load_spec(args.spec)
        build_graph(spec, args.allow_remote, args.curve_secret, args.curve_authorized, overrides, inputs)  # check early
    except (OSError, ValueError) as exc:
        print(f"semradio worker: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.exit_with_parent:
        from .process import watch_parent

        watch_parent(os.getppid())
    return run_worker(spec, args.allow_remote, args.curve_secret, args.curve_authorized, overrides,
                      args.forever, stop, input_defaults=inputs)
