"""ZeroMQ bridge blocks: :class:`ZMQSink` sends frames out of a flowgraph, :class:`ZMQSource`
brings them in. Two wire formats:

``format="native"``
    The runtime's multipart msgpack format (:mod:`semradio.runtime.wire`: header, raw buffer;
    end of stream as its own message): frames keep their dtype, shape and every tag (``seq``,
    ``t_ns``, ``h`` ...). Patterns PUSH/PULL and PUB/SUB; with a ``topic`` a PUB sink sends it
    as an extra first frame and a SUB source subscribes to it and strips it. Use it between
    semradio processes and hosts (``semradio worker``).

``format="gnuradio"``
    GNU Radio 3.10 gr-zeromq stream format (:mod:`semradio.blocks.zeromq.tag_header`): one message
    per frame, ``[key frame]`` + ``[v1 tag header if pass_tags]`` + raw items (complex64,
    float32, int16, int32, uint8, or interleaved int16 I/Q ``ci16`` scaled by 1/32768).
    Patterns PUB/SUB, PUSH/PULL and REQ/REP (a REQ source asks with a u32 item count; a REP
    sink answers with at most that many items). Frame tags become GNU Radio stream tags and
    back as documented in :mod:`semradio.blocks.zeromq.gr_tags` (``packet_len`` per frame; arrays as
    uniform vectors; incoming tags in ``tags["gr_tags"]`` and merged at the frame start;
    ``gr_offset`` = absolute stream offset of the frame's first item). A source cuts the
    stream into frames of ``batch x frame_len`` items, or, with ``packet_len_tag`` set, one
    frame per tagged packet (GNU Radio tagged streams).

Defaults follow GNU Radio: sinks bind, sources connect, 100 ms receive timeout, pass_tags
off. A PUB sink drops frames while nobody subscribes (``min_subscribers`` waits for
subscribers first); TCP binds only to loopback unless ``allow_remote=True``; optional CURVE
(see :mod:`semradio.blocks.zeromq.security`).

Queues: ``hwm`` bounds the socket queue (messages). ``policy="lossless"`` blocks the sink
while the queue is full (backpressure; a PUB sink uses ``XPUB_NODROP`` so a slow subscriber
pushes back instead of losing data); ``policy="realtime"`` drops the frame and counts it.

Counters (``block.stats``, a dict; drops and malformed messages also go to the runtime's
per-block drop counter through ``Block.count_drop``, logged once per kind): ``frames``,
``items`` (GNU Radio items), ``messages``, ``malformed`` and ``malformed_by_kind`` (bad tag
header, bad PMT, wrong item-size multiple, bad native message, wrong topic ...: counted and
dropped, never raised), ``lost`` (frames missing according to gaps in the ``seq`` tag, e.g.
while a worker restarts), ``seq_resets`` (seq went backwards: the sender restarted),
``dropped`` (sink, realtime policy: queue full), ``gr_items_lost`` (gaps in the GNU Radio
offsets), ``untagged_items`` (tagged-stream mode: items outside any packet),
``partial_items_dropped``, ``tags_skipped`` (frame tags with no PMT form),
``tags_out_of_range``.

Reconnection is ZeroMQ's: a connecting socket reconnects when its peer restarts (every
100 ms), so a flowgraph survives a worker restart; frames lost meanwhile show up in ``lost``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import zmq

from semradio.runtime import WORK_DONE, Frame, SinkBlock, SourceBlock
from semradio.runtime import wire
from semradio.runtime.ports import payload_problem
from semradio.runtime.frame import INT64_MAX, SEQ_MAX, is_valid_seq, is_valid_t_ns, reserved_tag_problem

from semradio.blocks.zeromq import tag_header as grh
from semradio.blocks.zeromq.gr_tags import frame_tags_to_gr, gr_tags_to_frame_tags
from semradio.blocks.zeromq.security import CurveConfig, check_bind_endpoint

__all__ = ["ZMQSink", "ZMQSource", "ItemFormat", "ITEM_FORMATS", "items_from_bytes", "items_to_bytes",
           "FORMATS", "SINK_PATTERNS", "SOURCE_PATTERNS"]

log = logging.getLogger("semradio")

FORMATS = ("native", "gnuradio")
SINK_PATTERNS = ("push", "pub", "rep")
SOURCE_PATTERNS = ("pull", "sub", "req")
_POLL_MS = 50
_CI16_SCALE = 32768.0


@dataclass(frozen=True, slots=True)
class ItemFormat:
    """A GNU Radio item type: ``wire`` dtype of one scalar on the wire (little-endian),
    ``out`` dtype of the frame payload, ``scalars`` wire scalars per sample."""

    name: str
    wire: np.dtype
    out: np.dtype
    scalars: int = 1

    @property
    def itemsize(self) -> int:
        """Bytes per sample on the wire (GNU Radio's itemsize)."""
        return self.wire.itemsize * self.scalars


#: Item formats of the GNU Radio wire format (name -> format).
ITEM_FORMATS: dict[str, ItemFormat] = {
    "complex64": ItemFormat("complex64", np.dtype("<c8"), np.dtype(np.complex64)),
    "float32": ItemFormat("float32", np.dtype("<f4"), np.dtype(np.float32)),
    "int16": ItemFormat("int16", np.dtype("<i2"), np.dtype(np.int16)),
    "int32": ItemFormat("int32", np.dtype("<i4"), np.dtype(np.int32)),
    "uint8": ItemFormat("uint8", np.dtype("u1"), np.dtype(np.uint8)),
    "ci16": ItemFormat("ci16", np.dtype("<i2"), np.dtype(np.complex64), 2),
}
ITEM_FORMATS["byte"] = ITEM_FORMATS["uint8"]


def items_from_bytes(payload: Any, fmt: ItemFormat) -> np.ndarray:
    """Raw wire bytes -> 1-D array of ``fmt.out`` samples (``ci16``: (I + jQ) / 32768).

    No copy for the plain formats when the buffer allows (the array is then read-only).
    """
    raw = np.frombuffer(payload, dtype=fmt.wire)
    if fmt.name == "ci16":
        return (raw.astype(np.float32) * np.float32(1.0 / _CI16_SCALE)).view(np.complex64)
    if raw.dtype != fmt.out:
        return raw.astype(fmt.out)
    return raw


def items_to_bytes(data: np.ndarray, fmt: ItemFormat) -> np.ndarray:
    """Samples -> a contiguous little-endian array whose bytes are the wire payload
    (``ci16``: round(x * 32768) clipped to int16, I then Q)."""
    flat = np.asarray(data).reshape(-1)
    if fmt.name == "ci16":
        out = np.empty(2 * flat.size, dtype="<i2")
        out[0::2] = np.clip(np.rint(flat.real * _CI16_SCALE), -32768, 32767)
        out[1::2] = np.clip(np.rint(flat.imag * _CI16_SCALE), -32768, 32767)
        return out
    return np.ascontiguousarray(flat, dtype=fmt.wire)


def _nesting(v: Any, depth: int = 0) -> int:
    """Nesting depth of lists/dicts in a tag value (0 for a leaf), counted up to one past the
    wire format's limit."""
    if depth > wire.MAX_TAG_DEPTH or not isinstance(v, (list, dict)):
        return depth
    items = v.values() if isinstance(v, dict) else v
    return max((_nesting(x, depth + 1) for x in items), default=depth + 1)


def _as_bytes(topic: str | bytes | None) -> bytes | None:
    if topic is None:
        return None
    return topic.encode() if isinstance(topic, str) else bytes(topic)


class _Bridge:
    """Socket setup, counters and stop handling shared by the two bridge blocks."""

    name: str
    _STAT_KEYS: tuple[str, ...] = ()

    def _setup(self, address: str, pattern: str, format: str, bind: bool, hwm: int, policy: str,
               topic: str | bytes | None, timeout_ms: int, allow_remote: bool, linger_ms: int,
               max_bytes: int, curve: CurveConfig, item_format: str, vlen: int, pass_tags: bool) -> None:
        if format not in FORMATS:
            raise ValueError(f"{self.name}: format must be one of {FORMATS}, got {format!r}")
        if policy not in ("lossless", "realtime"):
            raise ValueError(f"{self.name}: policy must be 'lossless' or 'realtime', got {policy!r}")
        if hwm < 0:
            raise ValueError(f"{self.name}: hwm must be >= 0 (0: unbounded), got {hwm}")
        if item_format not in ITEM_FORMATS:
            raise ValueError(f"{self.name}: item_format must be one of {sorted(ITEM_FORMATS)}, got {item_format!r}")
        if vlen < 1:
            raise ValueError(f"{self.name}: vlen must be >= 1, got {vlen}")
        if format == "native" and pattern in ("req", "rep"):
            raise ValueError(f"{self.name}: REQ/REP is only supported with format='gnuradio'")
        if topic is not None and pattern not in ("pub", "sub"):
            raise ValueError(f"{self.name}: a topic needs the pub/sub pattern, not {pattern!r}")
        if bind:
            check_bind_endpoint(address, allow_remote)
        self.address = address
        self.pattern = pattern
        self.format = format
        self.bind = bool(bind)
        self.hwm = int(hwm)
        self.policy = policy
        self.topic = _as_bytes(topic)
        self.timeout_ms = int(timeout_ms)
        self.linger_ms = int(linger_ms)
        self.max_bytes = int(max_bytes)
        self.curve = curve
        self.item_format = ITEM_FORMATS[item_format]
        self.vlen = int(vlen)
        self.pass_tags = bool(pass_tags)
        #: The endpoint actually bound or connected (a bound ``tcp://127.0.0.1:*`` resolved).
        self.endpoint: str | None = None
        #: Set once the socket is bound/connected (tests and scripts wait on it).
        self.ready = threading.Event()
        self._ctx: zmq.Context | None = None
        self._sock: zmq.Socket | None = None
        self._auth: Any = None
        self._halt = threading.Event()
        self._counts: collections.Counter = collections.Counter()
        self._malformed: collections.Counter = collections.Counter()
        self._stats_lock = threading.Lock()
        self._last_seq: int | None = None

    # ---------------------------------------------------------------- counters
    def _count(self, key: str, n: int = 1) -> None:
        with self._stats_lock:
            self._counts[key] += n

    def _bad(self, kind: str, detail: str = "") -> None:
        """Count and drop one malformed message (logged once per kind)."""
        with self._stats_lock:
            self._counts["malformed"] += 1
            self._malformed[kind] += 1
        self.count_drop(f"malformed:{kind}", detail=detail)

    @property
    def stats(self) -> dict[str, Any]:
        """Snapshot of the bridge counters (see the module docstring)."""
        with self._stats_lock:
            out: dict[str, Any] = {k: self._counts.get(k, 0) for k in self._STAT_KEYS}
            out.update({k: v for k, v in self._counts.items() if k not in out})
            out["malformed_by_kind"] = dict(self._malformed)
        return out

    def _track_seq(self, seq: Any) -> None:
        """Count gaps in ``seq`` as lost frames and backward jumps as sender restarts."""
        if type(seq) is not int:
            return
        last = self._last_seq
        if last is not None:
            if seq > last + 1:
                self._count("lost", seq - last - 1)
            elif seq <= last:
                self._count("seq_resets")
        self._last_seq = seq

    # ---------------------------------------------------------------- sockets
    def _should_stop(self) -> bool:
        return self._halt.is_set() or self.stop_requested

    def halt(self) -> None:
        """Abort blocking sends/waits of this block (any thread)."""
        self._halt.set()

    def _open(self, sock_type: int) -> zmq.Socket:
        self._ctx = ctx = zmq.Context()
        sock = ctx.socket(sock_type)
        sock.setsockopt(zmq.LINGER, self.linger_ms)
        sock.setsockopt(zmq.SNDHWM, self.hwm)
        sock.setsockopt(zmq.RCVHWM, self.hwm)
        if self.curve.enabled:
            self._auth = self.curve.apply(ctx, sock)
        if self.bind:
            sock.bind(self.address)
            self.endpoint = sock.getsockopt(zmq.LAST_ENDPOINT).decode()
        else:
            sock.connect(self.address)
            self.endpoint = self.address
        self._sock = sock
        self.ready.set()
        return sock

    def _close(self) -> None:
        if self._sock is not None and not self._sock.closed:
            self._sock.close(self.linger_ms)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        if self._ctx is not None:
            self._ctx.term()
            self._ctx = None


class ZMQSink(_Bridge, SinkBlock):
    """Sends every input frame over ZeroMQ in the native or the GNU Radio format.

    Parameters
    ----------
    address : str
        ZeroMQ endpoint (``tcp://127.0.0.1:5555``, ``ipc:///tmp/x``; a bound
        ``tcp://127.0.0.1:*`` picks a free port, see ``endpoint``).
    pattern : {"push", "pub", "rep"}, default "push"
        Socket pattern; ``"rep"`` with the GNU Radio format only.
    format : {"native", "gnuradio"}, default "native"
        Wire format.
    bind : bool, default True
        Bind (like GNU Radio's sinks) or connect.
    hwm : int, default 16
        Socket high-water mark in messages (0: unbounded).
    policy : {"lossless", "realtime"}, default "lossless"
        ``"lossless"``: block while full; ``"realtime"``: drop and count.
    topic : str or bytes, optional
        PUB only: a first frame sent with every message (GNU Radio's ``key``).
    item_format : str, default "complex64"
        GNU Radio format: item type (see ``ITEM_FORMATS``).
    vlen : int, default 1
        GNU Radio format: vector length.
    pass_tags : bool, default False
        GNU Radio format: prefix each message with the v1 tag header.
    packet_len_tag : str, optional
        GNU Radio format with tags: key of the per-frame packet-length tag (default
        ``"packet_len"``; None: no such tag).
    tag_keys : sequence of str, optional
        GNU Radio format: which frame tags to map (None: all).
    exclude_tags : sequence of str, default ("gr_tags",)
        GNU Radio format: tags never mapped (default: ``gr_tags``, the list an upstream GNU Radio
        source attached).
    srcid : str, optional
        GNU Radio format: the tags' srcid symbol (None: #f, GNU Radio's default).
    min_subscribers : int, default 0
        PUB: before the first frame wait up to ``subscriber_timeout_s`` for that many
        subscriptions (a PUB drops frames while nobody listens).
    subscriber_timeout_s : float, default 5.0
        PUB: how long to wait for ``min_subscribers``.
    send_eos : bool, default True
        Native: send the end-of-stream marker when the input ends.
    drain_timeout_s : float, optional
        After the last frame (and the end of stream), keep the socket open until every connected
        peer has disconnected — a ZMQSource closes once it has read the end of stream — or this
        many seconds passed (counted as ``drain_timeouts``): a receiver that is still reading over
        ``ipc://`` then gets the tail of the stream, which libzmq would drop when the sender
        closes. None: 30 s for the native format; 0 for the GNU Radio format, whose peers never
        end a stream (set it to wait for a slow GNU Radio reader).
    timeout_ms : int, default 100
        REP: poll interval for requests.
    linger_ms : int, default 1000
        How long unsent messages may delay closing (ZMQ_LINGER).
    allow_remote : bool, default False
        Allow binding a non-loopback TCP address.
    curve_server_secret, curve_authorized, curve_server_public, curve_client_secret : str, optional
        CURVE key files (see :class:`~semradio.blocks.zeromq.security.CurveConfig`).
    max_bytes : int, default 2^28
        Native: largest message accepted by the encoder.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        At construction for an unknown pattern, format, policy or item format, ``hwm < 0``,
        ``vlen < 1``, REQ/REP with the native format, a topic without pub/sub, or a non-loopback
        bind without ``allow_remote``; in ``work`` (naming the block) for a GNU Radio frame whose
        size is not a multiple of ``vlen``.

    Notes
    -----
    **Inputs**

    ``in`` : any
        Native: any frame. GNU Radio format: samples of ``item_format``'s dtype (complex64 for
        ``ci16``), any shape (flattened in C order; size a multiple of ``vlen``).

    **Tags read**

    All of them: native: carried verbatim; GNU Radio: mapped to stream tags when ``pass_tags``
    (see :mod:`semradio.blocks.zeromq.gr_tags`).

    **Tags written**

    None (a sink).

    **Run-time parameters**

    None (all are set at construction).

    Examples
    --------
    >>> from semradio.blocks import ZMQSink
    >>> sink = ZMQSink("tcp://127.0.0.1:5600", pattern="push", format="gnuradio")   # to gr-zeromq's pull_source
    >>> [p.name for p in sink.inputs]
    ['in']
    """

    _STAT_KEYS = ("frames", "items", "messages", "dropped", "tags_skipped", "subscriptions", "requests", "peers",
                  "drain_timeouts")

    def __init__(self, address: str, pattern: str = "push", format: str = "native", bind: bool = True,
                 hwm: int = 16, policy: str = "lossless", topic: str | bytes | None = None,
                 item_format: str = "complex64", vlen: int = 1, pass_tags: bool = False,
                 packet_len_tag: str | None = "packet_len", tag_keys: Sequence[str] | None = None,
                 exclude_tags: Sequence[str] = ("gr_tags",), srcid: str | None = None, min_subscribers: int = 0,
                 subscriber_timeout_s: float = 5.0, send_eos: bool = True, drain_timeout_s: float | None = None,
                 timeout_ms: int = 100,
                 linger_ms: int = 1000, allow_remote: bool = False, curve_server_secret: str | None = None,
                 curve_authorized: str | None = None, curve_server_public: str | None = None,
                 curve_client_secret: str | None = None, max_bytes: int = wire.DEFAULT_MAX_BYTES,
                 name: str | None = None) -> None:
        SinkBlock.__init__(self, name)
        if pattern not in SINK_PATTERNS:
            raise ValueError(f"{self.name}: sink pattern must be one of {SINK_PATTERNS}, got {pattern!r}")
        curve = CurveConfig(curve_server_secret, curve_authorized, curve_server_public, curve_client_secret)
        self._setup(address, pattern, format, bind, hwm, policy, topic, timeout_ms, allow_remote, linger_ms,
                    max_bytes, curve, item_format, vlen, pass_tags)
        self.packet_len_tag = packet_len_tag
        self.tag_keys = None if tag_keys is None else list(tag_keys)
        self.exclude_tags = list(exclude_tags)
        self.srcid: Any = srcid if srcid is not None else False
        self.min_subscribers = int(min_subscribers)
        self.subscriber_timeout_s = float(subscriber_timeout_s)
        self.send_eos = bool(send_eos)
        self.drain_timeout_s = float(drain_timeout_s if drain_timeout_s is not None else
                                     (30.0 if format == "native" else 0.0))
        self._monitor: zmq.Socket | None = None
        self._peers = 0
        self._had_peer = False
        dtype = None if format == "native" else self.item_format.out.name
        self.add_input("in", dtype)
        self._offset = 0  # GNU Radio stream offset of the next item
        self._subscriptions = 0
        self._waited_subscribers = False
        self._pending: collections.deque = collections.deque()  # REP: (items, gr tags, start offset)
        self._pending_items = 0
        self._request: int | None = None
        self._ended = False

    @classmethod
    def example(cls) -> "ZMQSink":
        return cls("ipc:///tmp/semradio-example-sink")

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        kind = {"push": zmq.PUSH, "pub": zmq.XPUB, "rep": zmq.REP}[self.pattern]
        sock = self._open(kind)
        if self.pattern == "pub":
            sock.setsockopt(zmq.XPUB_VERBOSE, 1)
            sock.setsockopt(zmq.XPUB_NODROP, 1)
        if self.pattern != "rep":
            sock.setsockopt(zmq.SNDTIMEO, _POLL_MS)
            if self.drain_timeout_s > 0:
                self._monitor = sock.get_monitor_socket(
                    zmq.EVENT_ACCEPTED | zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)

    def stop(self) -> None:
        try:
            if self._sock is not None and not self._should_stop():
                if self.pattern == "rep":
                    self._serve_requests(deadline=time.monotonic() + self.linger_ms / 1000)
                else:
                    if self.format == "native" and self.send_eos:
                        eos = list(wire.encode_eos())
                        self._send(eos if self.topic is None else [self.topic, *eos], lossless=True,
                                   deadline=time.monotonic() + self.linger_ms / 1000, count_drop=False)
                    self._drain()
        finally:
            if self._monitor is not None and self._sock is not None and not self._sock.closed:
                self._sock.disable_monitor()
                self._monitor.close(0)
                self._monitor = None
            self._close()

    # ------------------------------------------------------------ peers
    def _poll_peers(self, timeout_ms: int = 0) -> None:
        """Read the socket monitor's connection events and update the peer count."""
        from zmq.utils.monitor import recv_monitor_message

        mon = self._monitor
        if mon is None:
            return
        while mon.poll(timeout_ms, zmq.POLLIN):
            timeout_ms = 0
            ev = recv_monitor_message(mon)["event"]
            if ev in (zmq.EVENT_ACCEPTED, zmq.EVENT_CONNECTED):
                self._peers += 1
                self._had_peer = True
            elif ev == zmq.EVENT_DISCONNECTED:
                self._peers = max(0, self._peers - 1)
        with self._stats_lock:
            self._counts["peers"] = self._peers

    def _drain(self) -> None:
        """Keep the socket open until the peers leave (they have the whole stream) or
        ``drain_timeout_s`` passes; the flowgraph's stop ends the wait at once."""
        if self._monitor is None:
            return
        deadline = time.monotonic() + self.drain_timeout_s
        self._poll_peers()
        while self._had_peer and self._peers > 0 and not self._should_stop():
            if time.monotonic() > deadline:
                self._count("drain_timeouts")
                self.count_drop("drain_timeout", n=0, detail=f"{self._peers} peer(s) still connected "
                                f"{self.drain_timeout_s:g} s after the end of stream; closing")
                return
            self._poll_peers(_POLL_MS)

    # ------------------------------------------------------------ sending
    def _drain_subscriptions(self) -> None:
        sock = self._sock
        assert sock is not None
        while True:
            try:
                msg = sock.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            if msg[:1] == b"\x01":
                self._subscriptions += 1
                self._count("subscriptions")

    def _wait_subscribers(self) -> None:
        self._waited_subscribers = True
        deadline = time.monotonic() + self.subscriber_timeout_s
        while self._subscriptions < self.min_subscribers and time.monotonic() < deadline and not self._should_stop():
            if self._sock.poll(_POLL_MS, zmq.POLLIN):  # type: ignore[union-attr]
                self._drain_subscriptions()
        if self._subscriptions < self.min_subscribers and not self._should_stop():
            log.warning("%s: only %d of %d subscribers after %.1f s; sending anyway", self.name,
                        self._subscriptions, self.min_subscribers, self.subscriber_timeout_s)

    def _send(self, parts: list[Any], lossless: bool | None = None, deadline: float | None = None,
              count_drop: bool = True) -> bool:
        """Send one multipart message per the policy; False if dropped/stopped/timed out."""
        sock = self._sock
        assert sock is not None
        lossless = self.policy == "lossless" if lossless is None else lossless
        flags = 0 if lossless else zmq.NOBLOCK
        while True:
            try:
                sock.send_multipart(parts, flags, copy=False)
                return True
            except zmq.Again:
                stopping = self._should_stop() or (deadline is not None and time.monotonic() > deadline)
                if not lossless or stopping:
                    if count_drop and not stopping:  # frames unsent at stop are not drops
                        self._count("dropped")
                        self.count_drop("queue_full")
                    return False

    def work(self, frame: Frame) -> None:  # type: ignore[override]
        if self.pattern == "pub":
            self._drain_subscriptions()
            if self.min_subscribers and not self._waited_subscribers:
                self._wait_subscribers()
        if self.format == "native":
            parts = wire.encode_frame(frame, self.max_bytes)
            if self.topic is not None:
                parts = [self.topic, *parts]
            if self._send(list(parts)):
                self._count("frames")
                self._count("messages")
            return None
        data = frame.data
        if type(data).__module__.startswith("torch"):
            data = data.numpy(force=True)
        data = np.asarray(data)
        if data.size % self.vlen:
            raise ValueError(f"{self.name}: frame of {data.size} samples is not a multiple of vlen={self.vlen}")
        nitems = data.size // self.vlen
        payload = items_to_bytes(data, self.item_format)
        tags: list[grh.GrTag] = []
        if self.pass_tags:
            tags, skipped = frame_tags_to_gr(frame.tags, self._offset, nitems, self.packet_len_tag,
                                             self.srcid, self.tag_keys, self.exclude_tags)
            if skipped:
                self._count("tags_skipped", len(skipped))
                self.count_drop("tag_without_pmt_form", n=0, detail=f"tags {skipped} have no PMT form")
        start = self._offset
        self._offset += nitems
        if self.pattern == "rep":
            self._pending.append((payload, tags, start, nitems))
            self._pending_items += nitems
            if self.policy == "realtime":
                while len(self._pending) > max(1, self.hwm):
                    _, _, _, n = self._pending.popleft()
                    self._pending_items -= n
                    self._count("dropped")
                    self.count_drop("queue_full")
                self._serve_requests(deadline=time.monotonic())
            else:
                self._serve_requests(deadline=None)
            self._count("frames")
            return None
        msg = self._gr_message(start, tags, payload)
        parts = [msg] if self.topic is None else [self.topic, msg]
        if self._send(parts):
            self._count("frames")
            self._count("messages")
            self._count("items", nitems)
        return None

    def _gr_message(self, start: int, tags: list[grh.GrTag], payload: np.ndarray) -> bytes | np.ndarray:
        if not self.pass_tags:
            return payload
        return grh.encode_tag_header(start, tags) + payload.tobytes()

    def _serve_requests(self, deadline: float | None) -> None:
        """REP: answer requests until nothing is pending, the deadline passes or stop."""
        sock = self._sock
        assert sock is not None
        while self._pending_items > 0:
            if self._request is None:
                wait = _POLL_MS if deadline is None else max(0, int(min(_POLL_MS, (deadline - time.monotonic()) * 1000)))
                if sock.poll(wait, zmq.POLLIN):
                    req = sock.recv()
                    n = grh.decode_request(req)
                    self._request = self._pending_items if n is None else n
                    self._count("requests")
                else:
                    if self._should_stop() or (deadline is not None and time.monotonic() >= deadline):
                        return
                    continue
            n = min(self._request, self._pending_items)
            if n <= 0:  # a request for 0 items: answer empty
                sock.send(grh.encode_tag_header(self._pending[0][2], []) if self.pass_tags else b"")
                self._request = None
                continue
            chunks, tags, start = [], [], self._pending[0][2]
            left = n
            while left > 0:
                payload, ptags, pstart, pn = self._pending[0]
                take = min(left, pn)
                per = payload.size // pn
                chunks.append(payload[: take * per])
                tags.extend(t for t in ptags if pstart <= t.offset < pstart + take)
                if take == pn:
                    self._pending.popleft()
                else:
                    rest = [t for t in ptags if t.offset >= pstart + take]
                    self._pending[0] = (payload[take * per:], rest, pstart + take, pn - take)
                left -= take
            self._pending_items -= n
            payload = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
            sock.send(self._gr_message(start, tags, payload), copy=False)
            self._request = None
            self._count("messages")
            self._count("items", n)


class ZMQSource(_Bridge, SourceBlock):
    """Receives frames over ZeroMQ in the native or the GNU Radio format.

    Parameters
    ----------
    address : str
        ZeroMQ endpoint, as :class:`ZMQSink`.
    pattern : {"pull", "sub", "req"}, default "pull"
        Socket pattern; ``"req"`` with the GNU Radio format only.
    format : {"native", "gnuradio"}, default "native"
        Wire format.
    bind : bool, default False
        Bind or connect (default: connect, like GNU Radio's sources).
    hwm : int, default 16
        Socket high-water mark in messages (0: unbounded).
    topic : str or bytes, optional
        SUB: subscribe to it and strip the key frame (None subscribes to everything).
    item_format : str, default "complex64"
        GNU Radio format: item type (see ``ITEM_FORMATS``).
    vlen : int, default 1
        GNU Radio format: vector length.
    pass_tags : bool, default False
        GNU Radio format: messages start with a tag header.
    frame_len : int, default 1024
        GNU Radio format: items per row.
    batch : int, default 1
        GNU Radio format: rows per frame.
    packet_len_tag : str, optional
        GNU Radio format: cut one frame per packet marked by this tag (needs ``pass_tags``); items
        outside packets are dropped and counted.
    max_packet_items : int, default 2^24
        Reject larger ``packet_len`` values (counted as ``bad_packet_len``).
    request_items : int, optional
        REQ: items asked for per request (default one frame).
    dtype : str, optional
        Native: the declared output port dtype (None: any).
    shape : sequence of int or None, optional
        Native: the declared output port shape (None: any).
    timeout_ms : int, default 100
        How long one ``work`` call waits for a message (GNU Radio: 100 ms).
    stop_on_eos : bool, default True
        Native: end the stream when the sender's end-of-stream arrives.
    idle_timeout_s : float, optional
        End the stream when nothing arrived for this long after the first message (GNU Radio
        never sends an end of stream); None: never.
    max_frames : int, optional
        End the stream after this many frames; None: never.
    peer_timeout_s : float, optional
        A peer silent this long after its last message is reported as stalled (``status()``,
        ``Flowgraph.stats()``, the scopes' monitor); default 5.0, None: never.
    fail_on_peer_loss : bool, default False
        Then also stop the flowgraph with an error naming the block.
    keep_raw_tags : bool, default False
        GNU Radio format: add each tag's serialized PMT bytes to ``gr_tags``.
    linger_ms : int, default 0
        How long unsent messages may delay closing (ZMQ_LINGER).
    allow_remote : bool, default False
        Allow binding a non-loopback TCP address.
    curve_server_secret, curve_authorized, curve_server_public, curve_client_secret : str, optional
        CURVE key files, as :class:`ZMQSink`.
    max_bytes : int, default 2^28
        Native: largest message accepted.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        At construction for an unknown pattern, format or item format, ``frame_len`` or ``batch``
        below 1, ``packet_len_tag`` in the GNU Radio format without ``pass_tags``, ``hwm < 0``,
        ``vlen < 1``, REQ/REP with the native format, a topic without pub/sub, or a non-loopback
        bind without ``allow_remote``.

    Notes
    -----
    **Outputs**

    ``out``
        Native: the frames as sent (dtype/shape as declared by ``dtype``/``shape``, default any).
        GNU Radio format: ``item_format``'s dtype (complex64 for ``complex64`` and ``ci16``), shape
        ``(batch, frame_len * vlen)`` or, with ``packet_len_tag``, ``(1, packet_len * vlen)``.

    **Tags written**

    - Native: the sender's tags verbatim, including its ``seq`` and ``t_ns``.
    - GNU Radio format: ``seq`` (the stream's own ``seq`` tag at the frame start when present,
      else the previous frame's seq + 1; only the stream's own values count towards ``lost``),
      ``t_ns`` (likewise, else now), ``gr_offset``, ``gr_tags`` and the tags at the frame start
      (see :mod:`semradio.blocks.zeromq.gr_tags`).

    **Run-time parameters**

    None (all are set at construction).

    Examples
    --------
    >>> from semradio.blocks import ZMQSource
    >>> src = ZMQSource("tcp://127.0.0.1:5601", format="gnuradio", frame_len=1024)  # from gr-zeromq's push_sink
    >>> [p.name for p in src.outputs]
    ['out']
    """

    _STAT_KEYS = ("frames", "items", "messages", "malformed", "lost", "seq_resets", "gr_items_lost",
                  "stream_resets", "untagged_items", "bad_packet_len", "partial_items_dropped", "tags_out_of_range",
                  "bad_tags")

    def __init__(self, address: str, pattern: str = "pull", format: str = "native", bind: bool = False,
                 hwm: int = 16, topic: str | bytes | None = None, item_format: str = "complex64", vlen: int = 1,
                 pass_tags: bool = False, frame_len: int = 1024, batch: int = 1,
                 packet_len_tag: str | None = None, max_packet_items: int = 1 << 24,
                 request_items: int | None = None, dtype: str | None = None,
                 shape: Sequence[int | None] | None = None, timeout_ms: int = 100, stop_on_eos: bool = True,
                 idle_timeout_s: float | None = None, max_frames: int | None = None,
                 peer_timeout_s: float | None = 5.0, fail_on_peer_loss: bool = False,
                 keep_raw_tags: bool = False, linger_ms: int = 0, allow_remote: bool = False,
                 curve_server_secret: str | None = None, curve_authorized: str | None = None,
                 curve_server_public: str | None = None, curve_client_secret: str | None = None,
                 max_bytes: int = wire.DEFAULT_MAX_BYTES, name: str | None = None) -> None:
        SourceBlock.__init__(self, name)
        if pattern not in SOURCE_PATTERNS:
            raise ValueError(f"{self.name}: source pattern must be one of {SOURCE_PATTERNS}, got {pattern!r}")
        if frame_len < 1 or batch < 1:
            raise ValueError(f"{self.name}: frame_len and batch must be >= 1, got {frame_len}, {batch}")
        if packet_len_tag and format == "gnuradio" and not pass_tags:
            raise ValueError(f"{self.name}: packet_len_tag needs pass_tags=True (tags travel in the tag header)")
        curve = CurveConfig(curve_server_secret, curve_authorized, curve_server_public, curve_client_secret)
        self._setup(address, pattern, format, bind, hwm, "lossless", topic, timeout_ms, allow_remote, linger_ms,
                    max_bytes, curve, item_format, vlen, pass_tags)
        self.frame_len = int(frame_len)
        self.batch = int(batch)
        self.packet_len_tag = packet_len_tag if format == "gnuradio" else None
        self.max_packet_items = int(max_packet_items)
        self.request_items = int(request_items) if request_items else self.frame_len * self.batch
        self.stop_on_eos = bool(stop_on_eos)
        self.idle_timeout_s = idle_timeout_s
        self.max_frames = max_frames
        self.peer_timeout_s = None if peer_timeout_s is None else float(peer_timeout_s)
        self.fail_on_peer_loss = bool(fail_on_peer_loss)
        self._started: float | None = None
        self.keep_raw_tags = bool(keep_raw_tags)
        if format == "native":
            self.add_output("out", dtype, shape)
        elif self.packet_len_tag:
            self.add_output("out", self.item_format.out.name, (None,))
        else:
            self.add_output("out", self.item_format.out.name, (self.frame_len * self.vlen,))
        self._ready: collections.deque = collections.deque()
        self._eos = False
        self._first_rx: float | None = None
        self._last_rx = 0.0
        self._frames_out = 0
        # GNU Radio stream state
        self._chunks: collections.deque = collections.deque()  # 1-D sample arrays
        self._buf_items = 0
        self._buf_start = 0          # absolute offset of the first buffered item
        self._next_offset: int | None = None
        self._tags: list[grh.GrTag] = []
        self._packet: int | None = None
        self._req_sent_at: float | None = None

    @classmethod
    def example(cls) -> "ZMQSource":
        return cls("ipc:///tmp/semradio-example-source")

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._started = time.monotonic()
        kind = {"pull": zmq.PULL, "sub": zmq.SUB, "req": zmq.REQ}[self.pattern]
        sock = self._open(kind)
        if self.pattern == "sub":
            sock.setsockopt(zmq.SUBSCRIBE, self.topic or b"")
        if self.pattern == "req":
            sock.setsockopt(zmq.REQ_RELAXED, 1)
            sock.setsockopt(zmq.REQ_CORRELATE, 1)

    def stop(self) -> None:
        if self._buf_items:
            self._count("partial_items_dropped", self._buf_items)
        self._close()

    # ------------------------------------------------------------ receiving
    def work(self) -> Any:
        if self._ready:
            return self._emit(self._ready.popleft())
        if self.format == "gnuradio":  # frames are cut one per call: a message never turns into a pile of frames
            frame = self._next_frame()
            if frame is not None:
                return self._emit(frame)
        if self._eos or (self.max_frames is not None and self._frames_out >= self.max_frames):
            return WORK_DONE
        sock = self._sock
        assert sock is not None
        if self.pattern == "req":
            now = time.monotonic()
            if self._req_sent_at is None or now - self._req_sent_at > max(1.0, 10 * self.timeout_ms / 1000):
                sock.send(grh.encode_request(self.request_items))  # REQ_RELAXED allows a resend
                self._req_sent_at = now
        if not sock.poll(self.timeout_ms, zmq.POLLIN):
            now = time.monotonic()
            if (self.idle_timeout_s is not None and self._first_rx is not None
                    and now - self._last_rx > self.idle_timeout_s):
                self._eos = True
                return WORK_DONE
            self._check_peer(now)
            return None
        # drain what is queued (bounded), so small GNU Radio messages do not cost a call each
        for _ in range(64):
            try:
                parts = sock.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                break
            now = time.monotonic()
            self._last_rx = now
            if self._first_rx is None:
                self._first_rx = now
            self._count("messages")
            if self.pattern == "req":
                self._req_sent_at = None
            try:
                if self.format == "native":
                    self._on_native(parts)
                else:
                    self._on_gnuradio(parts)
                    frame = self._next_frame()
                    if frame is not None:
                        self._ready.append(frame)
            except Exception as exc:  # noqa: BLE001 - untrusted input never kills the block
                self._bad("internal", f"{type(exc).__name__}: {exc}")
            if self._ready or self._eos or self.pattern == "req":
                break
        if self._ready:
            return self._emit(self._ready.popleft())
        if self._eos:
            return WORK_DONE
        return None

    # ------------------------------------------------------------ peer
    def _check_peer(self, now: float) -> None:
        """``fail_on_peer_loss``: raise once the peer has been silent for ``peer_timeout_s``."""
        if (self.fail_on_peer_loss and self.peer_timeout_s is not None and self._first_rx is not None
                and now - self._last_rx > self.peer_timeout_s):
            raise RuntimeError(f"{self.name}: peer silent for {now - self._last_rx:.1f} s "
                               f"(peer_timeout_s {self.peer_timeout_s:g}, fail_on_peer_loss)")

    def status(self) -> dict[str, Any]:
        """The peer's state for ``Flowgraph.stats()`` and the scopes' monitor: ``peer`` is
        ``"waiting"`` (nothing received yet), ``"ok"``, ``"stalled"`` (silent for more than
        ``peer_timeout_s``) or ``"ended"`` (end of stream); ``silent_s`` seconds since the last
        message and ``stalled_since`` (Unix time) when stalled."""
        now = time.monotonic()
        if self._eos:
            return {"peer": "ended"}
        if self._first_rx is None:
            return {"peer": "waiting", "silent_s": round(now - self._started, 1) if self._started else None}
        silent = now - self._last_rx
        if self.peer_timeout_s is not None and silent > self.peer_timeout_s:
            return {"peer": "stalled", "silent_s": round(silent, 1),
                    "stalled_since": round(time.time() - silent, 3)}
        return {"peer": "ok", "silent_s": round(silent, 1)}

    def _emit(self, frame: Frame) -> Frame:
        self._frames_out += 1
        self._count("frames")
        return frame

    def _strip_topic(self, parts: list[Any]) -> list[Any] | None:
        if self.topic is None:
            return parts
        if len(parts) < 2 or not parts[0].bytes.startswith(self.topic):
            self._bad("topic", f"message without the key frame {self.topic!r}")
            return None
        return parts[1:]

    def _on_native(self, parts: list[Any]) -> None:
        stripped = self._strip_topic(parts)
        if stripped is None:
            return
        try:
            item = wire.decode_message(stripped, self.max_bytes)
        except wire.WireError as exc:
            self._bad(exc.kind, str(exc))
            return
        if item is wire.EOS:
            if self.stop_on_eos:
                self._eos = True
            return
        problem = payload_problem(self.outputs[0], item.data)  # the declared dtype and item shape
        if problem is not None:
            self._bad("dtype" if problem.startswith("dtype") else "shape", problem)
            return
        problem = reserved_tag_problem(item.tags)
        if problem is not None:
            self._bad("tags", problem)
            return
        self._track_seq(item.tags.get("seq"))
        self._ready.append(item)

    def _on_gnuradio(self, parts: list[Any]) -> None:
        stripped = self._strip_topic(parts)
        if stripped is None:
            return
        if len(stripped) != 1:
            self._bad("parts", f"{len(stripped)} data frames in one message (expected 1)")
            return
        fmt = self.item_format
        nbytes = memoryview(stripped[0].buffer).nbytes
        if nbytes > self.max_bytes:
            self._bad("too_large", f"{nbytes} bytes > max_bytes {self.max_bytes}")
            return
        try:
            msg = grh.split_message(stripped[0].buffer, fmt.itemsize * self.vlen, self.pass_tags,
                                    self.keep_raw_tags)
        except grh.GrFormatError as exc:
            self._bad(exc.kind, str(exc))
            return
        n = len(msg.payload) // (fmt.itemsize * self.vlen)
        expected = self._next_offset
        start = msg.offset if msg.offset is not None else (expected or 0)
        if start + n > INT64_MAX:  # an offset near 2^64: the stream position would leave the int64 range
            self._bad("offset", f"stream offset {start} + {n} items is beyond 2^63-1")
            return
        if expected is not None and start != expected:
            if start > expected:
                self._count("gr_items_lost", start - expected)
            else:
                self._count("stream_resets")
            self._reset_stream(start)
        elif expected is None:
            self._buf_start = start
        tags = []
        for t in msg.tags:
            if start <= t.offset < start + n:
                tags.append(t)
            else:
                self._count("tags_out_of_range")
        if n:
            self._chunks.append(items_from_bytes(msg.payload, fmt))
            self._buf_items += n
        self._tags.extend(tags)
        self._next_offset = start + n
        self._count("items", n)

    def _reset_stream(self, start: int) -> None:
        """Discontinuity: drop the partial frame and restart the buffer at ``start``."""
        if self._buf_items:
            self._count("partial_items_dropped", self._buf_items)
        self._chunks.clear()
        self._buf_items = 0
        self._tags = []
        self._packet = None
        self._buf_start = start

    def _take(self, n: int) -> np.ndarray:
        """Remove and return the first ``n`` buffered items as one 1-D array (copied)."""
        per = self.vlen
        need = n * per
        out = []
        while need > 0:
            c = self._chunks[0]
            if c.size <= need:
                out.append(c)
                need -= c.size
                self._chunks.popleft()
            else:
                out.append(c[:need])
                self._chunks[0] = c[need:]
                need = 0
        self._buf_items -= n
        self._buf_start += n
        return np.concatenate(out) if len(out) > 1 else out[0].copy()

    def _drop_items(self, n: int) -> None:
        if n > 0:
            self._take(n)
            self._count("untagged_items", n)

    def _next_frame(self) -> Frame | None:
        """The next whole frame in the buffer (one per call), or None."""
        if self.packet_len_tag:
            return self._next_packet()
        per_frame = self.frame_len * self.batch
        if self._buf_items < per_frame:
            return None
        start = self._buf_start
        data = self._take(per_frame).reshape(self.batch, self.frame_len * self.vlen)
        return self._make_frame(data, start, per_frame)

    def _next_packet(self) -> Frame | None:
        key = self.packet_len_tag
        while True:
            if self._packet is None:
                cands = sorted((t for t in self._tags if t.key == key and t.offset >= self._buf_start),
                               key=lambda t: t.offset)
                if not cands:
                    self._drop_items(self._buf_items)
                    self._tags = []
                    return None
                tag = cands[0]
                self._drop_items(tag.offset - self._buf_start)
                length = tag.value
                if type(length) is bool or not isinstance(length, int) or not 0 < length <= self.max_packet_items:
                    self._count("bad_packet_len")
                    self.count_drop("bad_packet_len", n=0, detail=f"packet_len {length!r}")
                    self._tags = [t for t in self._tags if t is not tag]
                    continue
                self._packet = int(length)
            if self._buf_items < self._packet:
                return None
            start, n = self._buf_start, self._packet
            data = self._take(n).reshape(1, n * self.vlen)
            self._packet = None
            return self._make_frame(data, start, n)

    def _make_frame(self, data: np.ndarray, start: int, n: int) -> Frame:
        end = start + n
        inside = [t for t in self._tags if start <= t.offset < end]
        self._tags = [t for t in self._tags if t.offset >= end]
        tags = gr_tags_to_frame_tags(inside, start, self.keep_raw_tags)
        # a value nested past the wire format's limit (e.g. a long improper PMT pair chain) could not leave
        # this process: dropped and counted here instead of failing an edge downstream
        if "gr_tags" in tags:  # the raw list: an entry is a map in a list, two levels above its value
            tags["gr_tags"] = [e for e in tags["gr_tags"] if _nesting(e) <= wire.MAX_TAG_DEPTH - 1]
        for key in [k for k, v in tags.items() if _nesting(v) > wire.MAX_TAG_DEPTH]:
            self._count("bad_tags")
            self.count_drop("tag_too_deep", n=0, detail=f"tag {key!r} is nested deeper than {wire.MAX_TAG_DEPTH} levels")
            del tags[key]
        seq = tags.get("seq")
        if is_valid_seq(seq) and seq < SEQ_MAX:  # the stream's own numbering (e.g. a semradio sink upstream)
            self._track_seq(seq)
            self._seq = seq + 1
        else:
            if seq is not None:  # not a usable frame counter: counted, replaced by this source's own
                self._count("bad_tags")
                self.count_drop("bad_seq_tag", n=0, detail=f"stream seq tag {seq!r:.40} is not an int in 0..2^63-2")
            if self._seq >= SEQ_MAX:
                self._seq = 0
            tags["seq"] = self.next_seq()
        if not is_valid_t_ns(tags.get("t_ns")):
            if tags.get("t_ns") is not None:
                self._count("bad_tags")
                self.count_drop("bad_t_ns_tag", n=0, detail=f"stream t_ns tag {tags['t_ns']!r:.40} is not an int64")
            tags["t_ns"] = time.time_ns()
        tags["gr_offset"] = start
        return Frame(data, tags)
