"""Flowgraph: blocks wired by ZeroMQ edges, one thread per block, optional worker processes.

Example::

    fg = Flowgraph("demo")
    fg.connect(source, encoder, normalizer, channel, equalizer, decoder, (sink, "rec"))
    fg.connect(source, (sink, "ref"))                  # fan-out
    fg.add(decoder, placement="process")              # own process, edges over ipc://
    fg.run()                                          # start, wait for end of stream
    print(fg.stats())

Edge policy ``"lossless"`` (default) applies backpressure; ``"realtime"`` drops (counted)
when the consumer falls behind. See :mod:`semradio.runtime.edges`.

Inline blocks (operator fusion): a block that declares ``inline = True`` (its work takes
microseconds and never waits, e.g. :class:`~semradio.blocks.PassThrough`,
:class:`~semradio.blocks.NullSink`) and has a single input fed by a block of this process runs on
its producer's thread, called directly per frame: a hop through a queue and a thread wake-up costs
more than such a block's work, and Python's lock serialises the two threads anyway. Chains of
inline blocks run on the thread of the first threaded block upstream. Their counters, messages,
parameters, errors and end of stream behave as on their own thread (``stats()`` names the host in
``inline_in``; messages posted to an inline block are delivered by its host's loop, within one
poll of 50 ms or before its next frame); only a lossless edge is fused, and it never queues.
``Flowgraph(fuse=False)`` gives every block its own thread.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import threading
import time
from typing import Any, Iterable, Union

import zmq

from .block import Block
from .edges import Edge, Receiver, Sender, bind_receiver, connect_sender, open_edge
from .hier import HierBlock
from .ports import incompatibility
from .process import ProcessRunner, Supervisor
from .scheduler import BlockError, BlockRunner, InlineSender

log = logging.getLogger("semradio")

Endpoint = Union[Block, HierBlock, tuple[Union[Block, HierBlock], Union[str, int]]]
PLACEMENTS = ("thread", "process")


class FlowgraphError(RuntimeError):
    """Raised by :meth:`Flowgraph.wait`/``run`` when a block failed; ``errors`` lists every
    :class:`BlockError` (the first one is the message)."""

    def __init__(self, errors: list[BlockError]) -> None:
        super().__init__(str(errors[0]) if errors else "flowgraph failed")
        self.errors = errors


class Flowgraph:
    """A graph of blocks connected by edges; see the module docstring.

    Args:
        name: label used in logs and stats.
        policy: default edge policy, ``"lossless"`` or ``"realtime"``.
        hwm: default edge queue bound (frames).
        fuse: run blocks that declare ``inline = True`` on their producer's thread (see the
            module docstring); False: one thread per block.
    """

    def __init__(self, name: str = "flowgraph", policy: str = "lossless", hwm: int = 16,
                 fuse: bool = True) -> None:
        self.name = name
        self.fuse = bool(fuse)
        self.default_policy = policy
        self.default_hwm = hwm
        self.blocks: dict[str, Block] = {}
        self.placements: dict[str, str] = {}
        self.edges: list[Edge] = []
        self.msg_routes: dict[tuple[str, str], list[tuple[Block, str]]] = {}
        self.runners: dict[str, Any] = {}
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._ctx: zmq.Context | None = None
        self._ipc_dir: str | None = None
        self._started = False
        self._finished = False
        self._supervisor: Any = None
        self._hiers: list[HierBlock] = []

    # -------------------------------------------------------------- building
    def add(self, block: Block | HierBlock, placement: str = "thread") -> Block | HierBlock:
        """Add a block (idempotent); ``placement="process"`` runs it in a worker process. A
        :class:`~semradio.runtime.hier.HierBlock` adds its inner blocks (with their own
        placements) and edges."""
        if isinstance(block, HierBlock):
            self._add_hier(block)
            return block
        if placement not in PLACEMENTS:
            raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
        if not isinstance(block, Block):
            raise TypeError(f"expected a Block, got {type(block).__name__}")
        other = self.blocks.get(block.name)
        if other is not None and other is not block:
            raise ValueError(f"two different blocks are named {block.name!r}; give them distinct names")
        if self._started:
            raise RuntimeError("cannot add blocks to a running flowgraph")
        self.blocks[block.name] = block
        if placement != "thread" or block.name not in self.placements:
            self.placements[block.name] = placement
        block._message_sink = lambda port, msg, _b=block: self._route_message(_b, port, msg)
        return block

    def connect(self, *endpoints: Endpoint, policy: str | None = None, hwm: int | None = None,
                transport: str = "inproc") -> list[Edge]:
        """Connect consecutive endpoints: ``connect(a, b, c)`` wires a->b->c.

        An endpoint is a block (port 0) or ``(block, port)`` with the port given by name or
        index. An output may feed several inputs (fan-out); an input takes one edge.
        ``transport`` forces ``"ipc"``/``"tcp"`` (wire format) even between two blocks of this
        process (benchmarks, tests); edges to a process-placed block always use ipc.
        """
        if len(endpoints) < 2:
            raise ValueError("connect() needs at least two endpoints")
        edges = []
        for a, b in zip(endpoints[:-1], endpoints[1:]):
            src, sport = self._resolve(self._inner(a, "output")[0], "output")
            for target in self._inner(b, "input"):
                dst, dport = self._resolve(target, "input")
                edge = Edge(src, sport, dst, dport, policy or self.default_policy, hwm or self.default_hwm, transport)
                self.edges.append(edge)
                edges.append(edge)
        return edges

    def _inner(self, ep: Any, kind: str) -> list[Endpoint]:
        """Plain endpoints behind ``ep``: itself, or the inner ports of a hierarchical block
        (one output; one or more inputs), resolved through nested ones."""
        block, port = ep if isinstance(ep, tuple) else (ep, 0)
        if not isinstance(block, HierBlock):
            return [ep]
        self._add_hier(block)
        inner = [block.inner_output(port)] if kind == "output" else block.inner_inputs(port)
        return [e for i in inner for e in self._inner(i, kind)]

    def _add_hier(self, hier: HierBlock) -> None:
        if any(h is hier for h in self._hiers):
            return
        self._hiers.append(hier)
        for name, blk in hier.blocks.items():
            self.add(blk, hier.placements.get(name, "thread"))
        for child in hier.children:
            self._add_hier(child)
        for a, b, opts in hier.connections:
            self.connect(a, b, policy=opts["policy"], hwm=opts["hwm"])

    def msg_connect(self, src: Block, src_port: str, dst: Block, dst_port: str = "ctrl") -> None:
        """Route messages posted on ``src``'s message output to ``dst``'s message input."""
        self.add(src) if src.name not in self.blocks else None
        self.add(dst) if dst.name not in self.blocks else None
        if src_port not in src.message_outputs:
            raise ValueError(f"block {src.name!r} has no message output {src_port!r}; "
                             f"its message outputs: {src.message_outputs}")
        if dst_port not in dst.message_inputs:
            raise ValueError(f"block {dst.name!r} has no message input {dst_port!r}; "
                             f"its message inputs: {dst.message_inputs}")
        self.msg_routes.setdefault((src.name, src_port), []).append((dst, dst_port))

    def _resolve(self, ep: Endpoint, kind: str) -> tuple[Block, int]:
        if isinstance(ep, tuple):
            if len(ep) != 2:
                raise ValueError(f"endpoint must be a block or (block, port), got {ep!r}")
            block, port = ep
        else:
            block, port = ep, 0
        if block.name not in self.blocks:
            self.add(block)
        elif self.blocks[block.name] is not block:
            raise ValueError(f"two different blocks are named {block.name!r}; give them distinct names")
        idx = block.output_index(port) if kind == "output" else block.input_index(port)
        return block, idx

    def validate(self) -> None:
        """Check port types of every edge and that every required input is fed exactly once.

        Raises:
            ValueError: naming both ends of the offending connection.
        """
        problems = []
        fed: dict[tuple[str, int], Edge] = {}
        for e in self.edges:
            op, ip = e.src.outputs[e.src_port], e.dst.inputs[e.dst_port]
            why = incompatibility(op, ip)
            if why:
                problems.append(f"cannot connect {e.src.name}.{op.name} ({op.describe()}) -> "
                                f"{e.dst.name}.{ip.name} ({ip.describe()}): {why}")
            key = (e.dst.name, e.dst_port)
            if key in fed:
                prev = fed[key]
                problems.append(f"input {e.dst.name}.{ip.name} is fed twice: by "
                                f"{prev.src.name}.{prev.src.outputs[prev.src_port].name} and by "
                                f"{e.src.name}.{op.name}")
            fed[key] = e
            if e.src is e.dst:
                problems.append(f"block {e.src.name!r} is connected to itself")
        for b in self.blocks.values():
            for i, ip in enumerate(b.inputs):
                if (b.name, i) not in fed and not ip.optional:
                    problems.append(f"input {b.name}.{ip.name} ({ip.describe()}) is not connected")
        if not self.blocks:
            problems.append("the flowgraph has no blocks")
        if problems:
            raise ValueError(f"flowgraph {self.name!r} is invalid:\n  " + "\n  ".join(problems))

    # --------------------------------------------------------------- running
    def start(self) -> None:
        """Validate, open every edge, start worker processes then one thread per block."""
        if self._started:
            raise RuntimeError("a flowgraph runs once; build a new one to run again")
        self.validate()
        self._started = True
        self._ctx = zmq.Context()
        try:
            self._start_locked()
        except BaseException:
            self._stop.set()
            self._cleanup(force=True)
            raise

    def _start_locked(self) -> None:
        ctx = self._ctx
        assert ctx is not None
        in_proc = {n for n, p in self.placements.items() if p == "process"}
        needs_ipc = bool(in_proc) or any(e.transport == "ipc" for e in self.edges)
        if needs_ipc:
            self._ipc_dir = tempfile.mkdtemp(prefix="semradio-")
        # local blocks get their runner now: receivers count malformed input into its drops
        local = {n: BlockRunner(b, [], [], self._stop, self._runner_done)
                 for n, b in self.blocks.items() if n not in in_proc}
        inline = self._inline_edges(local)
        receivers: dict[str, list[Receiver | None]] = {n: [None] * len(self.blocks[n].inputs) for n in local}
        senders: dict[str, list[list[Sender]]] = {n: [[] for _ in self.blocks[n].outputs] for n in local}
        remote_in: dict[str, list[dict | None]] = {n: [None] * len(self.blocks[n].inputs) for n in in_proc}
        remote_out: dict[str, list[list[dict]]] = {n: [[] for _ in self.blocks[n].outputs] for n in in_proc}
        for e in self.edges:
            src, dst = e.src.name, e.dst.name
            if e.id in inline:
                senders[src][e.src_port].append(InlineSender(e, local[dst]))
                continue
            if src in local and dst in local:
                tx, rx = open_edge(ctx, e, self._stop, local[dst].drops, self._ipc_dir)
                senders[src][e.src_port].append(tx)
                receivers[dst][e.dst_port] = rx
                continue
            # an edge touching a worker process: ipc with the wire format; the receiver binds
            e.transport = "ipc"
            e.endpoint = f"ipc://{self._ipc_dir}/e{e.id}"
            desc = {"id": e.id, "hwm": e.hwm, "policy": e.policy, "max_bytes": e.max_bytes, "endpoint": e.endpoint}
            if dst in local:
                sock, _ = bind_receiver(ctx, e, endpoint=e.endpoint)
                receivers[dst][e.dst_port] = Receiver(e, sock, None, local[dst].drops)
            else:
                remote_in[dst][e.dst_port] = desc
            if src in local:
                senders[src][e.src_port].append(Sender(e, connect_sender(ctx, e, e.endpoint), None, self._stop))
            else:
                remote_out[src][e.src_port].append(desc)
        runners: dict[str, Any] = {}
        for name, r in local.items():
            r.set_io(receivers[name], senders[name])
            runners[name] = r
        for e in self.edges:
            if e.id in inline:
                local[e.dst.name].set_inline(e.src.name)
        for r in local.values():  # the threaded runner at the root of each inline chain
            if r.inline_host is not None:
                root = local[r.inline_host]
                while root.inline_host is not None:
                    root = local[root.inline_host]
                r.inline_root = root
        if in_proc:
            self._supervisor = Supervisor(self)
            for name in in_proc:
                edges_of = {e.id: e for e in self.edges if name in (e.src.name, e.dst.name)}
                runners[name] = ProcessRunner(self.blocks[name], remote_in[name], remote_out[name],
                                              edges_of, self._ipc_dir, self._supervisor)
            self.runners = runners
            self._supervisor.start_all([runners[n] for n in in_proc])
        self.runners = runners
        for r in local.values():
            if r.inline_host is None:
                r.start_thread()

    def _inline_edges(self, local: dict[str, BlockRunner]) -> set[int]:
        """Ids of the edges whose consumer runs inline on the producer's thread: ``fuse`` is
        on, the consumer declares ``inline``, has one input, and both ends are threads of this
        process joined by a lossless in-process edge (a real-time edge is there to decouple the
        producer from its consumer: it keeps its queue). A cycle of such blocks would have no
        thread to run it: every block on one keeps its own."""
        if not self.fuse:
            return set()
        host: dict[str, str] = {}
        ids: dict[str, int] = {}
        for e in self.edges:
            dst = e.dst
            if (getattr(dst, "inline", False) is True and len(dst.inputs) == 1 and e.transport == "inproc"
                    and e.policy == "lossless" and e.src.name in local and dst.name in local):
                host[dst.name] = e.src.name
                ids[dst.name] = e.id
        for name in list(host):
            seen = {name}
            h = host.get(name)
            while h is not None and h in host:
                if h in seen:  # a cycle: no thread at its root
                    for n in seen:
                        host.pop(n, None)
                    break
                seen.add(h)
                h = host.get(h)
        return {ids[n] for n in host}

    def _runner_done(self, runner: Any) -> None:
        if runner.error is not None:
            self._stop.set()
            if self._supervisor is not None:
                self._supervisor.stop_all()
        with self._done:
            self._done.notify_all()

    def _all_done(self) -> bool:
        return all(r.state in ("done", "failed", "stopped") for r in self.runners.values())

    def errors(self) -> list[BlockError]:
        """Block errors so far."""
        return [r.error for r in self.runners.values() if r is not None and r.error is not None]

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every block has finished (end of stream) or one failed.

        Returns:
            True when finished, False on timeout.
        Raises:
            FlowgraphError: a block raised; the graph has been stopped.
        """
        if not self._started:
            raise RuntimeError("flowgraph not started")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._done:
            while not self._all_done() and not self.errors():
                remaining = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        errs = self.errors()
        if errs:
            self.stop()
            raise FlowgraphError(errs)
        self._cleanup(force=False)
        return True

    def stop(self, timeout: float = 1.5) -> None:
        """Stop every block (returns within ~``timeout`` s even with blocked sockets)."""
        if not self._started:
            return
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.stop_all()
        deadline = time.monotonic() + timeout
        for r in self.runners.values():
            if isinstance(r, BlockRunner) and r.thread is not None:
                r.thread.join(max(0.0, deadline - time.monotonic()))
        if self._supervisor is not None:
            self._supervisor.join(max(0.05, deadline - time.monotonic()))
        for r in self.runners.values():
            if r.state == "running":
                r.state = "stopped"
        self._cleanup(force=True)

    def run(self, timeout: float | None = None) -> None:
        """``start()`` then ``wait()``; Ctrl-C or a timeout stops the graph."""
        self.start()
        try:
            if not self.wait(timeout):
                log.info("flowgraph %r: timeout after %ss, stopping", self.name, timeout)
        finally:
            self.stop()

    def _cleanup(self, force: bool) -> None:
        if self._finished:
            return
        alive = [r for r in self.runners.values() if isinstance(r, BlockRunner) and r.thread_alive()]
        if alive and not force:
            return
        self._finished = True
        if self._supervisor is not None:
            self._supervisor.close()
        for r in self.runners.values():
            if isinstance(r, BlockRunner) and not r.thread_alive():
                r.close_senders()
        if self._ctx is not None and not alive:
            # term() waits for lingering messages of finished senders: never block the caller
            threading.Thread(target=self._ctx.term, name="semradio:ctx-term", daemon=True).start()
        if self._ipc_dir is not None:
            shutil.rmtree(self._ipc_dir, ignore_errors=True)

    def __enter__(self) -> "Flowgraph":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # ------------------------------------------------------ control, counters
    def post(self, block: Block | str, port: str, msg: Any) -> None:
        """Send a message to a block's message input (any thread; before start it is handled
        at once)."""
        b = self.blocks[block] if isinstance(block, str) else block
        r = self.runners.get(b.name)
        if r is None:
            b.handle_message(port, msg)
        else:
            r.post(port, msg)

    def set_param(self, block: Block | str, name: str, value: Any) -> None:
        """Set a block parameter through its ``ctrl`` port (works for worker processes too)."""
        self.post(block, "ctrl", {name: value})

    def _route_message(self, src: Block, port: str, msg: Any) -> None:
        for dst, dport in self.msg_routes.get((src.name, port), ()):
            self.post(dst, dport, msg)

    def stats(self) -> dict[str, dict[str, Any]]:
        """Per-block counters: frames in/out, drops, work time, queue depth, state (and latency
        percentiles at sinks); readable while running."""
        out = {}
        for name, b in self.blocks.items():
            r = self.runners.get(name)
            c = r.counters() if r is not None else {"state": "created"}
            c["placement"] = self.placements.get(name, "thread")
            out[name] = c
        return out

    def edge_stats(self) -> dict[str, dict[str, int]]:
        """Per-edge counters (sent, received, dropped, malformed, depth)."""
        return {e.label(): dict(e.counters(), policy=e.policy, transport=e.transport) for e in self.edges}

    def format_stats(self) -> str:
        """The per-block counters as a text table."""
        rows = [f"{'block':<22}{'state':<9}{'in':>9}{'out':>9}{'drops':>7}{'queue':>6}{'work ms':>10}  latency"]
        for name, c in self.stats().items():
            lat = c.get("latency", {})
            lat_s = f"p50 {lat['p50_ms']:.2f} / p99 {lat['p99_ms']:.2f} ms" if lat else ""
            rows.append(f"{name:<22}{c.get('state', ''):<9}{c.get('frames_in', 0):>9}{c.get('frames_out', 0):>9}"
                        f"{c.get('drops', 0):>7}{c.get('queue_depth', 0):>6}{c.get('work_ms', 0):>10.1f}  {lat_s}")
        return "\n".join(rows)

    def to_json(self) -> str:
        """Stats of blocks and edges as JSON."""
        return json.dumps({"blocks": self.stats(), "edges": self.edge_stats()})

    def __iter__(self) -> Iterable[Block]:
        return iter(self.blocks.values())
