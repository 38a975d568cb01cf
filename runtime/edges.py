"""Edges: ZeroMQ PUSH/PULL socket pairs that carry frames between two blocks.

* In-process edges (``inproc://``) hand over a reference: the sender appends the Frame to a
  deque shared with the receiver, so the payload is never copied and a CUDA tensor never leaves
  the GPU. The ZeroMQ socket pair only wakes the receiver: a one-byte token is sent when the
  deque goes from empty to one frame, so a busy edge moves frames with no socket call and no
  thread switch per frame (the receiver sleeps on the socket only when it has run dry).
* Cross-process/host edges (``ipc://``, ``tcp://``) send the native wire format
  (:mod:`semradio.runtime.wire`): a msgpack header then the raw buffer, zero copy where pyzmq
  allows. Malformed messages are counted by kind and dropped.

Queues are bounded by the high-water mark ``hwm`` of each end, as ZeroMQ's PUSH/PULL pairs are
(about ``2 hwm`` frames in all: an in-process deque holds exactly ``2 hwm``). Policy ``"lossless"`` blocks the producer while the queue is
full (backpressure, checking the stop event); ``"realtime"`` never blocks: a frame that finds the
queue full is dropped and counted.
"""

from __future__ import annotations

import collections
import itertools
import threading
from dataclasses import dataclass, field
from typing import Any

import zmq

from . import wire
from .frame import Frame
from .stats import DropCounter

POLICIES = ("lossless", "realtime")
TRANSPORTS = ("inproc", "ipc", "tcp")
_EOS_INPROC = object()  # the end-of-stream item of an in-process deque
_WAKE = b"w"  # an in-process edge's wake-up token
_POLL_MS = 50
_ZERO_COPY_MIN = 65536  # bytes; smaller payloads are cheaper to copy (pyzmq's own threshold)
# The hot path calls the Cython socket methods directly: pyzmq's Python-level wrappers add
# about 0.4 us per call for features edges do not use.
_backend_send = zmq.backend.Socket.send
_backend_recv = zmq.backend.Socket.recv
_backend_get = zmq.backend.Socket.get
_edge_ids = itertools.count()


#: What a receiver returns for an end-of-stream marker.
EOS = wire.EOS


@dataclass(eq=False)
class Edge:
    """A connection from ``src.outputs[src_port]`` to ``dst.inputs[dst_port]``.

    Counters (``sent``, ``received``, ``dropped``) are written by one thread each and read by
    anyone; ``depth`` = frames queued now (sent - received - malformed).
    """

    src: Any
    src_port: int
    dst: Any
    dst_port: int
    policy: str = "lossless"
    hwm: int = 16
    transport: str = "inproc"
    max_bytes: int = wire.DEFAULT_MAX_BYTES
    id: int = field(default_factory=lambda: next(_edge_ids))
    endpoint: str = ""
    sent: int = 0
    received: int = 0
    dropped: int = 0
    malformed: int = 0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"edge policy must be one of {POLICIES}, got {self.policy!r}")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"edge transport must be one of {TRANSPORTS}, got {self.transport!r}")
        if self.hwm < 1:
            raise ValueError(f"edge hwm must be >= 1, got {self.hwm}")

    @property
    def depth(self) -> int:
        """Frames queued on the edge right now."""
        return max(0, self.sent - self.received - self.malformed)

    def label(self) -> str:
        """``src.port -> dst.port`` with port names."""
        return (f"{self.src.name}.{self.src.outputs[self.src_port].name} -> "
                f"{self.dst.name}.{self.dst.inputs[self.dst_port].name}")

    def counters(self) -> dict[str, int]:
        """Snapshot of the edge counters."""
        return {"sent": self.sent, "received": self.received, "dropped": self.dropped,
                "malformed": self.malformed, "depth": self.depth}


def _make_socket(ctx: zmq.Context, kind: int, hwm: int) -> zmq.Socket:
    """A PUSH or PULL socket with the edge's bound; blocking calls time out every 50 ms so the
    owner can check its stop event (no exception or poll per message on the fast path)."""
    sock = ctx.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    if kind == zmq.PUSH:
        sock.setsockopt(zmq.SNDHWM, hwm)
        sock.setsockopt(zmq.SNDTIMEO, _POLL_MS)
    else:
        sock.setsockopt(zmq.RCVHWM, hwm)
        sock.setsockopt(zmq.RCVTIMEO, _POLL_MS)
    return sock


class InprocQueue:
    """The shared state of an in-process edge: the frames (a deque, at most ``2 hwm``), and the
    event a lossless sender waits on while the queue is full, set by the receiver once the queue
    is down to half (so a full queue costs one wake-up per half queue, not one per frame)."""

    __slots__ = ("frames", "space", "waiting")

    def __init__(self) -> None:
        self.frames: collections.deque = collections.deque()
        self.space = threading.Event()
        self.waiting = False


class Sender:
    """The producing end of an edge (used by exactly one thread)."""

    def __init__(self, edge: Edge, sock: zmq.Socket, store: InprocQueue | None, stop: threading.Event) -> None:
        self.edge = edge
        self.sock = sock
        self._queue = store
        self._stop = stop
        self._lossless = edge.policy == "lossless"

    def _send(self, head: bytes, payload: Any = None) -> bool:
        """Send a one- or two-part message per the edge policy; False if dropped or stopped.

        Lossless: a blocking send that times out every 50 ms to check the stop event.
        Real-time: a non-blocking send; a full queue means the frame is dropped.
        """
        sock = self.sock
        send = _backend_send
        flags = 0 if self._lossless else zmq.NOBLOCK
        while True:
            try:
                if payload is None:
                    send(sock, head, flags)
                else:
                    send(sock, head, flags | zmq.SNDMORE)
                    # the rest of an accepted message never blocks; big buffers go zero copy
                    send(sock, payload, 0, copy=len(payload) < _ZERO_COPY_MIN)
                return True
            except zmq.Again:
                if not self._lossless or self._stop.is_set():
                    return False

    def _put(self, item: Any) -> bool:
        """Append to the in-process queue per the edge policy (a full queue: wait, lossless, or
        drop, real-time); wake the receiver when the queue was empty. False if dropped or
        stopped."""
        st = self._queue
        q = st.frames
        hwm = 2 * self.edge.hwm  # the capacity of the PUSH/PULL pair it stands for: SNDHWM + RCVHWM
        if len(q) >= hwm:
            if not self._lossless:
                return False
            while len(q) >= hwm:
                st.space.clear()
                st.waiting = True
                if len(q) < hwm:  # the receiver made room before it could see the flag
                    break
                if self._stop.is_set():
                    st.waiting = False
                    return False
                st.space.wait(_POLL_MS / 1000)
            st.waiting = False
        q.append(item)
        if len(q) == 1:  # the receiver may be asleep on the socket: one token wakes it
            try:
                _backend_send(self.sock, _WAKE, zmq.NOBLOCK)
            except zmq.Again:  # tokens already waiting: it will wake anyway
                pass
        return True

    def send(self, frame: Frame) -> bool:
        """Send one frame; returns False when it was dropped (real-time, queue full) or the
        flowgraph is stopping."""
        edge = self.edge
        if self._queue is not None:
            ok = self._put(frame)
        else:
            parts = wire.encode_frame_packed(frame, edge.max_bytes)
            ok = self._send(parts[0], parts[1]) if len(parts) == 2 else self._send(parts[0])
        if ok:
            edge.sent += 1
        elif not self._stop.is_set():
            edge.dropped += 1
        return ok

    def send_eos(self) -> None:
        """Send the end-of-stream marker (always lossless)."""
        lossless, self._lossless = self._lossless, True
        try:
            if self._queue is not None:
                self._put(_EOS_INPROC)
            else:
                self._send(wire.encode_eos()[0])
        finally:
            self._lossless = lossless


class Receiver:
    """The consuming end of an edge (used by exactly one thread).

    :meth:`recv` returns a Frame, :data:`EOS`, or None when nothing is queued (or a
    malformed message was counted and dropped).
    """

    def __init__(self, edge: Edge, sock: zmq.Socket, store: InprocQueue | None, drops: DropCounter) -> None:
        self.edge = edge
        self.sock = sock
        self._queue = store
        self._drops = drops

    def recv(self, block: bool = True) -> Any:
        """Next frame, EOS, or None if nothing came within 50 ms (``block=False``: at once)."""
        st = self._queue
        if st is not None:
            q = st.frames
            try:
                item = q.popleft()
            except IndexError:  # run dry: sleep on the socket until a token (or a stale one) comes
                try:
                    _backend_recv(self.sock, 0 if block else zmq.NOBLOCK)
                except zmq.Again:
                    return None
                try:
                    item = q.popleft()
                except IndexError:  # a stale token: its frame was taken already
                    return None
            if st.waiting and len(q) <= self.edge.hwm:  # the sender waits for room (half the queue): wake it
                st.waiting = False
                st.space.set()
            if item is _EOS_INPROC:
                return EOS
            self.edge.received += 1
            return item
        flags = 0 if block else zmq.NOBLOCK
        try:
            sock = self.sock
            parts = [_backend_recv(sock, flags)]  # header: small, copied
            while _backend_get(sock, zmq.RCVMORE):  # payload: zero copy
                parts.append(_backend_recv(sock, 0, copy=False))
        except zmq.Again:
            return None
        edge = self.edge
        try:
            item = wire.decode_message(parts, edge.max_bytes)
        except wire.WireError as exc:
            edge.malformed += 1
            self._drops.add(f"malformed:{exc.kind}", detail=str(exc))
            return None
        if item is not EOS:
            edge.received += 1
        return item


def open_edge(ctx: zmq.Context, edge: Edge, stop: threading.Event, drops: DropCounter,
              ipc_dir: str | None = None) -> tuple[Sender, Receiver]:
    """Create and connect both sockets of an in-process edge (any transport).

    The receiver binds, the sender connects. For ``tcp`` the receiver binds an ephemeral
    loopback port.
    """
    rx_sock, endpoint = bind_receiver(ctx, edge, ipc_dir)
    tx_sock = connect_sender(ctx, edge, endpoint)
    store = InprocQueue() if edge.transport == "inproc" else None
    return Sender(edge, tx_sock, store, stop), Receiver(edge, rx_sock, store, drops)


def bind_receiver(ctx: zmq.Context, edge: Edge, ipc_dir: str | None = None,
                  endpoint: str | None = None) -> tuple[zmq.Socket, str]:
    """Bind the PULL end of an edge; returns the socket and the endpoint peers connect to."""
    sock = _make_socket(ctx, zmq.PULL, edge.hwm)
    if endpoint is None:
        if edge.transport == "inproc":
            endpoint = f"inproc://semradio-edge-{edge.id}"
        elif edge.transport == "ipc":
            if ipc_dir is None:
                raise ValueError("ipc edges need an ipc directory")
            endpoint = f"ipc://{ipc_dir}/e{edge.id}"
        else:
            endpoint = "tcp://127.0.0.1:*"
    sock.bind(endpoint)
    if edge.transport == "tcp":
        endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
    edge.endpoint = endpoint
    return sock, endpoint


def connect_sender(ctx: zmq.Context, edge: Edge, endpoint: str) -> zmq.Socket:
    """Connect the PUSH end of an edge to ``endpoint``."""
    sock = _make_socket(ctx, zmq.PUSH, edge.hwm)
    sock.connect(endpoint)
    return sock
