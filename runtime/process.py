"""Placing a block in its own worker process (``Flowgraph.add(block, placement="process")``).

The parent re-creates the block in a fresh Python process from its *spec*: the class (module
and qualified name, or the script file for classes defined in ``__main__``), the constructor
arguments recorded by :class:`~semradio.runtime.block.Block`, its name and current parameters.
The spec travels as msgpack on the child's stdin (never pickle), so constructor arguments must
be plain data (numbers, strings, lists, dicts, numpy arrays).

Stream edges to and from the worker are ``ipc://`` sockets carrying the native wire format.
A ``PAIR`` control socket per worker carries, parent -> child: ``stop``, messages for the
block's message inputs; child -> parent: ``ready``, counters every 100 ms, messages the block
posts, and ``done`` with the error, if any.
"""

from __future__ import annotations

import collections
import importlib
import importlib.util
import logging
import os
import subprocess
import sys
import threading
import time
from typing import Any

import zmq

from . import wire
from .block import Block
from .edges import Edge, Receiver, Sender, bind_receiver, connect_sender
from .scheduler import BlockError, BlockRunner

log = logging.getLogger("semradio")
READY_TIMEOUT_S = 120.0
STATS_PERIOD_S = 0.1


# ----------------------------------------------------------------- block specs
def block_spec(block: Block) -> dict[str, Any]:
    """Plain-data description from which :func:`build_block` re-creates ``block``.

    Raises:
        ValueError: the block's constructor arguments cannot be serialized.
    """
    cls = type(block)
    args, kwargs = block._ctor_args if block._ctor_args is not None else ((), {})
    spec: dict[str, Any] = {
        "module": cls.__module__, "qualname": cls.__qualname__, "args": list(args),
        "kwargs": dict(kwargs), "name": block.name, "params": block.params,
    }
    mod = sys.modules.get(cls.__module__)
    spec["file"] = os.path.abspath(mod.__file__) if mod is not None and getattr(mod, "__file__", None) else None
    try:
        wire.encode_tags(spec)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"block {block.name!r} ({cls.__name__}) cannot be placed in a process: its "
                         f"constructor arguments and parameters must be plain data ({exc})") from None
    if "<locals>" in cls.__qualname__:
        raise ValueError(f"block {block.name!r}: class {cls.__qualname__} is defined inside a function; "
                         f"define it at module level to place it in a process")
    return spec


def build_block(spec: dict[str, Any]) -> Block:
    """Import the class named by ``spec`` and construct the block (runs in the worker process,
    which its parent flowgraph spawned with a spec made by :func:`block_spec`). The class is
    checked to be a :class:`Block` subclass before it is called.

    Raises:
        TypeError: the name does not denote a Block subclass.
    """
    module_name, path = spec["module"], spec.get("file")
    if module_name == "__main__":
        if not path:
            raise ValueError("block class defined in an interactive __main__ cannot be placed in a process")
        mod_spec = importlib.util.spec_from_file_location("__semradio_main__", path)
        assert mod_spec is not None and mod_spec.loader is not None
        module = importlib.util.module_from_spec(mod_spec)
        sys.modules["__semradio_main__"] = module
        mod_spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            if not path:
                raise
            mod_spec = importlib.util.spec_from_file_location(module_name, path)
            assert mod_spec is not None and mod_spec.loader is not None
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[module_name] = module
            mod_spec.loader.exec_module(module)
    obj: Any = module
    for part in spec["qualname"].split("."):
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, Block)):
        raise TypeError(f"{module_name}:{spec['qualname']} is not a Block subclass")
    block = obj(*spec.get("args", ()), **spec.get("kwargs", {}))
    block.name = spec["name"]
    for k, v in spec.get("params", {}).items():
        block.set_param(k, v)
    return block


def _error_dict(err: BlockError) -> dict[str, Any]:
    return {"block": err.block, "type": err.block_type, "seq": err.seq, "exc_type": err.exc_type,
            "message": err.exc_message, "traceback": err.traceback}


def _error_from(d: dict[str, Any]) -> BlockError:
    return BlockError(d["block"], d["type"], d.get("seq"), d["exc_type"], d["message"], d.get("traceback", ""))


# ----------------------------------------------------------------- parent side
class ProcessRunner:
    """Parent-side handle of a block running in a worker process (same interface as
    :class:`~semradio.runtime.scheduler.BlockRunner`: ``state``, ``error``, ``counters()``,
    ``post()``)."""

    def __init__(self, block: Block, inputs: list[dict | None], outputs: list[list[dict]],
                 edges: dict[int, Edge], ipc_dir: str | None, supervisor: "Supervisor") -> None:
        self.block = block
        self.spec = {
            "block": block_spec(block), "inputs": inputs, "outputs": outputs,
            "control": f"ipc://{ipc_dir}/ctl-{id(self)}", "sys_path": list(sys.path),
        }
        self.edges = edges
        self.supervisor = supervisor
        self.state = "created"
        self.error: BlockError | None = None
        self.proc: subprocess.Popen | None = None
        self.ctrl: zmq.Socket | None = None
        self._counters: dict[str, Any] = {}
        self.thread = None

    def counters(self) -> dict[str, Any]:
        """Latest counters reported by the worker (plus its pid)."""
        c = dict(self._counters) if self._counters else {}
        c["state"] = self.state
        c["queue_depth"] = sum(e.depth for e in self.edges.values() if e.dst is self.block)
        if self.proc is not None:
            c["pid"] = self.proc.pid
        return c

    def post(self, port: str, msg: Any) -> None:
        """Forward a message to the block in the worker."""
        self.supervisor.send(self, {"cmd": "msg", "port": port, "msg": msg})

    def _update(self, ev: dict[str, Any]) -> None:
        self._counters = ev.get("counters", self._counters)
        for eid, (received, malformed) in ev.get("in", {}).items():
            e = self.edges.get(int(eid))
            if e is not None:
                e.received, e.malformed = received, malformed
        for eid, (sent, dropped) in ev.get("out", {}).items():
            e = self.edges.get(int(eid))
            if e is not None:
                e.sent, e.dropped = sent, dropped


class Supervisor:
    """Starts the workers, then on its own thread relays control traffic and watches them."""

    def __init__(self, flowgraph: Any) -> None:
        self.fg = flowgraph
        self.ctx: zmq.Context = flowgraph._ctx
        self.runners: list[ProcessRunner] = []
        self._outbox: collections.deque = collections.deque()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._kill_at: float | None = None

    def start_all(self, runners: list[ProcessRunner]) -> None:
        """Spawn every worker and wait until each has built its block and bound its inputs."""
        self.runners = runners
        for r in runners:
            r.ctrl = self.ctx.socket(zmq.PAIR)
            r.ctrl.setsockopt(zmq.LINGER, 0)
            r.ctrl.bind(r.spec["control"])
            r.proc = subprocess.Popen(
                [sys.executable, "-c", "from semradio.runtime.process import child_main; child_main()"],
                stdin=subprocess.PIPE)
            assert r.proc.stdin is not None
            r.proc.stdin.write(wire.encode_tags({**r.spec, "parent_pid": os.getpid()}))
            r.proc.stdin.close()
            r.state = "starting"
        deadline = time.monotonic() + READY_TIMEOUT_S
        for r in runners:
            assert r.ctrl is not None and r.proc is not None
            while True:
                if r.ctrl.poll(100):
                    ev = wire.decode_tags(r.ctrl.recv())
                    if ev.get("ev") == "ready":
                        r.state = "running"
                        break
                    if ev.get("ev") == "done":
                        r.state = "failed"
                        r.error = _error_from(ev["error"]) if ev.get("error") else BlockError(
                            r.block.name, type(r.block).__name__, None, "RuntimeError", "worker ended before ready")
                        raise r.error
                if r.proc.poll() is not None:
                    raise RuntimeError(f"worker process for block {r.block.name!r} exited with code "
                                       f"{r.proc.returncode} before it was ready")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"worker process for block {r.block.name!r} not ready after "
                                       f"{READY_TIMEOUT_S}s")
        self._thread = threading.Thread(target=self._loop, name="semradio:supervisor", daemon=True)
        self._thread.start()

    def send(self, runner: ProcessRunner, cmd: dict[str, Any]) -> None:
        """Queue a control command for a worker (any thread)."""
        self._outbox.append((runner, cmd))

    def stop_all(self) -> None:
        """Ask every worker to stop (and, once finished, to exit); kill those alive 1 s later."""
        if not self._stopping:
            self._stopping = True
            self._kill_at = time.monotonic() + 1.0
            for r in self.runners:
                self.send(r, {"cmd": "stop"})

    def join(self, timeout: float) -> None:
        """Wait for the workers to exit (at most ``timeout`` s), then kill what is left."""
        if self._thread is not None:
            self._thread.join(timeout)
        for r in self.runners:
            if r.proc is not None and r.proc.poll() is None:
                r.proc.kill()
                r.proc.wait()

    def close(self) -> None:
        """Make every worker exit and close the control sockets."""
        self.stop_all()
        self.join(1.5)
        for r in self.runners:
            if r.ctrl is not None and not r.ctrl.closed:
                r.ctrl.close(0)

    def _loop(self) -> None:
        poller = zmq.Poller()
        by_sock = {}
        for r in self.runners:
            poller.register(r.ctrl, zmq.POLLIN)
            by_sock[r.ctrl] = r
        while any(r.proc is not None and r.proc.poll() is None for r in self.runners):
            while self._outbox:
                r, cmd = self._outbox.popleft()
                if r.proc is not None and r.proc.poll() is None:
                    try:
                        r.ctrl.send(wire.encode_tags(cmd), zmq.NOBLOCK)
                    except (zmq.Again, TypeError, ValueError) as exc:
                        log.warning("control message to %s not sent: %s", r.block.name, exc)
            for sock, _ in poller.poll(50):
                r = by_sock[sock]
                try:
                    ev = wire.decode_tags(sock.recv())
                except wire.WireError:
                    continue
                kind = ev.get("ev")
                if kind == "stats":
                    r._update(ev)
                elif kind == "msg":
                    self.fg._route_message(r.block, ev["port"], ev["msg"])
                elif kind == "done":
                    r._update(ev)
                    if ev.get("error"):
                        r.error = _error_from(ev["error"])
                        r.state = "failed"
                    else:
                        r.state = "stopped" if ev.get("stopped") else "done"
                    self.fg._runner_done(r)
            for r in self.runners:
                if r.state == "running" and r.proc is not None and r.proc.poll() is not None:
                    r.state = "failed"
                    r.error = BlockError(r.block.name, type(r.block).__name__, None, "RuntimeError",
                                         f"worker process exited with code {r.proc.returncode}")
                    self.fg._runner_done(r)
            if self._kill_at is not None and time.monotonic() > self._kill_at:
                for r in self.runners:
                    if r.proc is not None and r.proc.poll() is None:
                        r.proc.kill()
                    if r.state == "running":
                        r.state = "stopped"


# ------------------------------------------------------------------ child side
#: How often a worker checks that its parent process is alive (s).
PARENT_CHECK_S = 0.2


def watch_parent(parent_pid: int, period_s: float = PARENT_CHECK_S) -> threading.Thread:
    """Exit this process (``os._exit(1)``) as soon as ``parent_pid`` is no longer its parent:
    the parent died (even by SIGKILL) and the worker was re-parented. A daemon thread polling
    ``os.getppid()``; unlike ``PR_SET_PDEATHSIG`` it does not fire when the thread that spawned
    the worker ends, only when the parent process does, and it works on every POSIX system."""

    def loop() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(1)
            time.sleep(period_s)

    t = threading.Thread(target=loop, name="semradio:parent-watch", daemon=True)
    t.start()
    return t


def child_main() -> None:
    """Entry point of a worker process: read the spec from stdin, run the block; exit with the
    parent (:func:`watch_parent`)."""
    spec = wire.decode_tags(sys.stdin.buffer.read())
    parent = spec.get("parent_pid")
    if type(parent) is int:
        watch_parent(parent)
    for p in spec.get("sys_path", []):
        if p not in sys.path:
            sys.path.append(p)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s semradio worker: %(message)s")
    ctx = zmq.Context()
    ctrl = ctx.socket(zmq.PAIR)
    ctrl.setsockopt(zmq.LINGER, 1000)
    ctrl.connect(spec["control"])
    bspec = spec["block"]
    try:
        block = build_block(bspec)
    except BaseException as exc:  # noqa: BLE001
        import traceback

        err = BlockError(bspec["name"], bspec["qualname"], None, type(exc).__name__, str(exc),
                         "".join(traceback.format_exception(exc)))
        ctrl.send(wire.encode_tags({"ev": "done", "error": _error_dict(err)}))
        ctrl.close()
        ctx.term()
        return
    stop = threading.Event()
    done = threading.Event()
    runner = BlockRunner(block, [], [], stop, lambda _r: done.set())
    in_edges, out_edges = [], []
    receivers: list[Receiver | None] = []
    for i, d in enumerate(spec["inputs"]):
        if d is None:
            receivers.append(None)
            continue
        e = Edge(block, 0, block, i, d["policy"], d["hwm"], "ipc", d["max_bytes"], id=d["id"])
        sock, _ = bind_receiver(ctx, e, endpoint=d["endpoint"])
        receivers.append(Receiver(e, sock, None, runner.drops))
        in_edges.append(e)
    senders = []
    for port, descs in enumerate(spec["outputs"]):
        ss = []
        for d in descs:
            e = Edge(block, port, block, 0, d["policy"], d["hwm"], "ipc", d["max_bytes"], id=d["id"])
            ss.append(Sender(e, connect_sender(ctx, e, d["endpoint"]), None, stop))
            out_edges.append(e)
        senders.append(ss)
    runner.set_io(receivers, senders)
    outbox: collections.deque = collections.deque()
    block._message_sink = lambda port, msg: outbox.append((port, msg))

    def report(kind: str, **extra: Any) -> None:
        ev = {"ev": kind, "counters": runner.counters(),
              "in": {str(e.id): [e.received, e.malformed] for e in in_edges},
              "out": {str(e.id): [e.sent, e.dropped] for e in out_edges}}
        ev.update(extra)
        ctrl.send(wire.encode_tags(ev))

    ctrl.send(wire.encode_tags({"ev": "ready", "pid": os.getpid()}))
    runner.start_thread()
    last = 0.0
    while not done.is_set():
        if ctrl.poll(20):
            try:
                cmd = wire.decode_tags(ctrl.recv())
            except wire.WireError:
                cmd = {}
            if cmd.get("cmd") == "stop":
                stop.set()
            elif cmd.get("cmd") == "msg":
                runner.post(cmd["port"], cmd["msg"])
        while outbox:
            port, msg = outbox.popleft()
            try:
                ctrl.send(wire.encode_tags({"ev": "msg", "port": port, "msg": msg}))
            except (TypeError, ValueError) as exc:
                runner.drops.add("unsendable_message", detail=str(exc))
        now = time.monotonic()
        if now - last > STATS_PERIOD_S:
            report("stats")
            last = now
    assert runner.thread is not None
    runner.thread.join()
    report("done", error=_error_dict(runner.error) if runner.error else None, stopped=stop.is_set())
    # Keep the output connections open until the parent says every block has finished:
    # closing them now could lose frames still in the kernel buffers.
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:
        if ctrl.poll(100):
            try:
                if wire.decode_tags(ctrl.recv()).get("cmd") == "stop":
                    stop.set()
            except wire.WireError:
                pass
    runner.close_senders()
    ctrl.close()
    ctx.term()
