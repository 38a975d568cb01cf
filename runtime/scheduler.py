"""Thread-per-block scheduler: the loop that feeds one block from its input edges.

A :class:`BlockRunner` owns a block's receivers and senders and runs on its own thread (or as
the main loop of a worker process). It

* calls ``work`` once per frame (sources: repeatedly), aligning multi-input blocks by ``seq``
  with a bounded wait (``block.align_timeout_s``) and a bounded buffer (``block.align_depth``);
  incomplete sequences are dropped and counted as ``unaligned``;
* delivers queued messages to the block between two ``work`` calls;
* propagates end of stream: a source returning WORK_DONE, or all inputs at EOS, sends EOS on
  every output; a multi-input block also ends early when one input is at EOS and nothing is
  left to pair with it;
* records counters (frames in/out, work time, drops), per call the work time and the age of the
  frame (``now - t_ns``) when its work starts, and, for sinks, latency from ``t_ns``;
* stops promptly when the stop event is set (every blocking wait polls it).

Any exception from ``start``/``work``/``stop`` ends the runner with :class:`BlockError`
naming the block and the frame's ``seq``.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
import traceback
from typing import Any, Callable, Sequence

import zmq
from time import perf_counter_ns, time_ns

from .block import WORK_DONE, Block
from .edges import EOS, Receiver, Sender
from .frame import INT64_MAX, INT64_MIN, Frame, Frames, is_valid_seq
from .stats import DropCounter, LatencyStats

log = logging.getLogger("semradio")
_POLL_MS = 50


class BlockError(RuntimeError):
    """A block raised; carries the block name, its type, the frame ``seq`` and the traceback."""

    def __init__(self, block: str, block_type: str, seq: Any, exc_type: str, message: str, tb: str = "") -> None:
        where = f"on frame seq={seq}" if seq is not None else "outside work()"
        super().__init__(f"block {block!r} ({block_type}) failed {where}: {exc_type}: {message}")
        self.block = block
        self.block_type = block_type
        self.seq = seq
        self.exc_type = exc_type
        self.exc_message = message
        self.traceback = tb


class BlockRunner:
    """Runs one block: see the module docstring."""

    def __init__(self, block: Block, receivers: Sequence[Receiver], senders: Sequence[Sequence[Sender]],
                 stop: threading.Event, on_done: Callable[["BlockRunner"], None] | None = None) -> None:
        self.block = block
        self.receivers: list[Receiver] = []
        self.senders: list[list[Sender]] = []
        self._one_sender: Sender | None = None
        self._slots: list[int] | None = None
        self.set_io(receivers, senders)
        self.stop_event = stop
        self.on_done = on_done
        self.messages: collections.deque = collections.deque()
        self.drops = DropCounter(block.name)
        block._drop_counter = self.drops  # Block.count_drop feeds the runner's counter
        block._stop_event = stop
        self.latency = LatencyStats()
        #: Per call: the block's work time, and the age of the frame when its work starts (``now -
        #: t_ns``: everything upstream, queue waits and wake-ups included). Bounded rings.
        self.work_times = LatencyStats(4096)
        self.entry_age = LatencyStats(4096)
        self.frames_in = 0
        self.frames_out = 0
        self.work_calls = 0
        self.work_ns = 0
        self.state = "created"
        self.error: BlockError | None = None
        self.thread: threading.Thread | None = None
        self._current_seq: Any = None
        self._is_sink = not block.outputs
        self._eos_sent = False
        #: Name of the block whose thread runs this one inline (None: its own thread).
        self.inline_host: str | None = None
        #: The threaded runner at the root of this block's inline chain (None: its own thread).
        self.inline_root: BlockRunner | None = None
        self._inline_started = False
        self._inline_finished = False

    # ------------------------------------------------------------ public
    def set_io(self, receivers: Sequence[Receiver | None], senders: Sequence[Sequence[Sender]]) -> None:
        """Attach the edges: ``receivers`` per input port (None: optional port left
        unconnected, ``work`` then gets None there), ``senders`` per output port."""
        self.receivers = [r for r in receivers if r is not None]
        n_inputs = len(self.block.inputs)
        slots = [i for i, r in enumerate(receivers) if r is not None]
        self._slots = None if len(slots) == n_inputs else slots
        self.senders = [list(s) for s in senders]
        self._one_sender = self.senders[0][0] if len(self.senders) == 1 and len(self.senders[0]) == 1 else None

    def set_inline(self, host: str) -> None:
        """Mark the block as run inline by ``host``'s thread (its single input is fed by
        :meth:`push`, not by a receiver)."""
        self.receivers = []
        self._slots = None
        self.inline_host = host

    def start_thread(self) -> None:
        """Run :meth:`run` on a new daemon thread named after the block."""
        self.thread = threading.Thread(target=self.run, name=f"semradio:{self.block.name}", daemon=True)
        self.thread.start()

    def post(self, port: str, msg: Any) -> None:
        """Queue a message for the block (any thread); delivered between two ``work`` calls (an
        inline block's: by its host's loop, or before its next frame)."""
        self.messages.append((port, msg))
        root = self.inline_root
        if root is not None:  # wake the thread that runs this block: it delivers on its next poll
            root.messages.append((None, self))

    def thread_alive(self) -> bool:
        """True while the thread running this block (its own, or its inline host's) is alive."""
        r = self.inline_root or self
        return r.thread is not None and r.thread.is_alive()

    def counters(self) -> dict[str, Any]:
        """Snapshot of the block's counters (readable while running). ``work_ms`` is the time
        spent in ``work()`` less what the block declares it slept on purpose there (a
        ``slept_s`` attribute: a Throttle's pacing, a scope's rate limit), shown as
        ``slept_ms``."""
        slept_ms = 1e3 * float(getattr(self.block, "slept_s", 0.0) or 0.0)
        out = {
            "state": self.state,
            "frames_in": self.frames_in,
            "frames_out": self.frames_out,
            "work_calls": self.work_calls,
            "work_ms": round(max(0.0, self.work_ns / 1e6 - slept_ms), 3),
            "slept_ms": round(slept_ms, 3),
            "drops": self.drops.total + sum(s.edge.dropped for ss in self.senders for s in ss),
            "drops_by_reason": self.drops.snapshot(),
            "queue_depth": sum(r.edge.depth for r in self.receivers),
        }
        rt_drops = sum(s.edge.dropped for ss in self.senders for s in ss)
        if rt_drops:
            out["drops_by_reason"]["realtime_queue_full"] = rt_drops
        if self._is_sink and self.latency.count:
            out["latency"] = self.latency.percentiles_ms()
        if self.work_times.count:
            out["work_per_call"] = self.work_times.percentiles_ms()
        if self.entry_age.count:
            out["entry_age"] = self.entry_age.percentiles_ms()
        try:
            status = self.block.status()
        except Exception as exc:  # noqa: BLE001 - a report must not break the stats
            status = {"error": f"{type(exc).__name__}: {exc}"}
        if status is not None:
            out["status"] = status
        if self.inline_host is not None:
            out["inline_in"] = self.inline_host
        return out

    # ------------------------------------------------------------- loop
    def run(self) -> None:
        """The block's thread body."""
        block = self.block
        self.state = "running"
        try:
            block.start()
            for child in self._inline_children():
                child.start_inline()
            if not self.receivers:
                self._run_source()
            elif len(self.receivers) == 1:
                self._run_single()
            else:
                self._run_aligned()
        except _StopRunning:
            pass
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a BlockError
            self._fail(exc)
        finally:
            try:
                block.stop()
            except BaseException as exc:  # noqa: BLE001
                if self.error is None:
                    self._current_seq = None
                    self._fail(exc)
            if self.error is None and not self.stop_event.is_set():
                self._send_eos()
            for child in self._inline_children():  # those the end of stream did not reach
                child.finish_inline(eos=False)
            for r in self.receivers:
                r.sock.close(0)
            if self.stop_event.is_set():
                # torn down: nothing is left to deliver, and a thread that outlived the stop's
                # timeout must close its own sockets (and those of the blocks it ran inline),
                # or the ZeroMQ context can never terminate
                self._close_senders_inline()
            # Sender sockets stay open: closing a connection with frames still in the kernel
            # buffers loses them; the flowgraph closes them once every block has finished.
            if self.state == "running":
                self.state = "done"
            if self.on_done is not None:
                self.on_done(self)

    def close_senders(self) -> None:
        """Close the output sockets (call after the runner's thread has ended)."""
        for ss in self.senders:
            for s in ss:
                if s.sock is not None and not s.sock.closed:
                    s.sock.close(0)

    def _close_senders_inline(self) -> None:
        self.close_senders()
        for child in self._inline_children():
            child._close_senders_inline()

    # ------------------------------------------------------------ inline
    def _inline_children(self) -> list["BlockRunner"]:
        return [s.runner for ss in self.senders for s in ss if s.__class__ is InlineSender]

    def start_inline(self) -> None:
        """Start a block that runs inline (on its host's thread, before the host's first
        frame), then the inline blocks it feeds."""
        self.state = "running"
        try:
            self.block.start()
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a BlockError
            self._fail(exc)
            self.finish_inline(eos=False)
            raise _InlineFailed from None
        self._inline_started = True
        for child in self._inline_children():
            child.start_inline()

    def push(self, frame: Frame) -> None:
        """Run an inline block on one frame, on the calling (host) thread: its pending messages
        first, then ``work`` and its outputs, exactly as its own thread would.

        Raises:
            _InlineFailed: this block (or one it feeds inline) failed; the error is recorded
                on that block's runner, and the host ends without failing itself.
        """
        if self.messages:
            self._deliver_messages()
        try:
            self._call_work((frame,))
        except _InlineFailed:
            raise
        except _StopRunning:  # it returned WORK_DONE: it ends here, end of stream downstream
            self.finish_inline(eos=True)
        except BaseException as exc:  # noqa: BLE001 - every failure becomes a BlockError
            self._fail(exc)
            self.finish_inline(eos=False)
            raise _InlineFailed from None

    def finish_inline(self, eos: bool) -> None:
        """End an inline block (idempotent): ``stop()``, the end of stream to what it feeds
        when ``eos`` and nothing failed, then its state and the flowgraph's ``on_done``."""
        if self._inline_finished:
            return
        self._inline_finished = True
        try:
            if self._inline_started:  # (a host that failed to start never started it)
                self.block.stop()
        except BaseException as exc:  # noqa: BLE001
            if self.error is None:
                self._current_seq = None
                self._fail(exc)
        if eos and self.error is None and not self.stop_event.is_set():
            self._send_eos()
        for child in self._inline_children():
            child.finish_inline(eos=False)
        if self.state == "running":
            self.state = "done"
        if self.on_done is not None:
            self.on_done(self)

    def _fail(self, exc: BaseException) -> None:
        tb = "".join(traceback.format_exception(exc))
        # the error before the state: wait() must never see "failed" without its error
        self.error = BlockError(self.block.name, type(self.block).__name__, self._current_seq,
                                type(exc).__name__, str(exc), tb)
        self.state = "failed"
        log.error("%s", self.error)

    def _deliver_messages(self) -> None:
        while self.messages:
            port, msg = self.messages.popleft()
            if port is None:  # a block this thread runs inline has messages waiting
                if not msg._inline_finished and msg.messages:
                    msg._deliver_messages()
                continue
            try:
                self.block.handle_message(port, msg)
            except Exception as exc:  # noqa: BLE001 - a bad message never kills the block
                self.drops.add("bad_message", detail=f"{type(exc).__name__}: {exc}")

    def _run_source(self) -> None:
        stop_is_set = self.stop_event.is_set
        work = self.block.work
        messages = self.messages
        emit = self._emit
        while not stop_is_set():
            if messages:
                self._deliver_messages()
            self._current_seq = None
            t0 = perf_counter_ns()
            out = work()
            self.work_ns += perf_counter_ns() - t0
            self.work_calls += 1
            if out is None:
                time.sleep(0.001)
                continue
            if out is WORK_DONE:
                return
            emit(out)

    def _run_single(self) -> None:
        stop_is_set = self.stop_event.is_set
        recv = self.receivers[0].recv
        messages = self.messages
        call_work = self._call_work
        while not stop_is_set():
            if messages:
                self._deliver_messages()
            item = recv()
            if item is None:
                continue
            if item is EOS:
                return
            self.frames_in += 1
            call_work((item,))

    def _run_aligned(self) -> None:
        stop = self.stop_event
        block = self.block
        n = len(self.receivers)
        poller = zmq.Poller()
        for r in self.receivers:
            poller.register(r.sock, zmq.POLLIN)
        pending: "collections.OrderedDict[Any, list]" = collections.OrderedDict()
        arrived: dict[Any, float] = {}
        at_eos = [False] * n
        buffered = [0] * n  # frames per input waiting in `pending`
        ended_early = False
        while not stop.is_set():
            if self.messages:
                self._deliver_messages()
            got_any = False
            for i, rx in enumerate(self.receivers):
                if at_eos[i]:
                    continue
                item = rx.recv(block=False)
                if item is None:
                    continue
                got_any = True
                if item is EOS:
                    at_eos[i] = True
                    continue
                self.frames_in += 1
                if ended_early:
                    self.drops.add("after_eos")
                    continue
                seq = item.tags.get("seq")
                if seq is None:
                    self.drops.add("no_seq", detail=f"input {block.inputs[i].name} frame without seq tag")
                    continue
                if not is_valid_seq(seq):
                    self.drops.add("bad_seq", detail=f"input {block.inputs[i].name}: seq {seq!r:.40} is not an int")
                    continue
                slot = pending.get(seq)
                if slot is None:
                    slot = pending[seq] = [None] * n
                    arrived[seq] = time.monotonic()
                if slot[i] is not None:
                    self.drops.add("duplicate_seq", detail=f"seq {seq} twice on input {block.inputs[i].name}")
                    continue
                slot[i] = item
                buffered[i] += 1
                if all(f is not None for f in slot):
                    del pending[seq]
                    del arrived[seq]
                    for j in range(n):
                        buffered[j] -= 1
                    # sequences older than this one can no longer complete in order
                    self._call_work(tuple(slot))
            # expire stragglers: too old or too many
            now = time.monotonic()
            while pending:
                seq0 = next(iter(pending))
                if len(pending) > block.align_depth or now - arrived[seq0] > block.align_timeout_s:
                    slot = pending.pop(seq0)
                    del arrived[seq0]
                    for j, f in enumerate(slot):
                        if f is not None:
                            buffered[j] -= 1
                    self.drops.add("unaligned", n=sum(f is not None for f in slot),
                                   detail=f"seq {seq0} incomplete after {block.align_timeout_s}s")
                else:
                    break
            if all(at_eos):
                if pending:
                    self.drops.add("unaligned", n=sum(f is not None for s in pending.values() for f in s),
                                   detail="incomplete at end of stream")
                return
            if not ended_early and any(at_eos[i] and buffered[i] == 0 for i in range(n)):
                # one input is finished and nothing of it waits: no more output is possible
                ended_early = True
                self._send_eos()
                for slot in pending.values():
                    self.drops.add("unaligned", n=sum(f is not None for f in slot), detail="partner input ended")
                pending.clear()
                arrived.clear()
                buffered = [0] * n
            if not got_any:
                poller.poll(_POLL_MS)

    def _call_work(self, frames: tuple[Frame, ...]) -> None:
        # Runs once per frame on every block: kept to a few attribute reads and two clock reads.
        tags = frames[0].tags
        self._current_seq = tags.get("seq")
        args: Sequence[Frame | None] = frames
        if self._slots is not None:  # optional inputs left unconnected get None
            full: list[Frame | None] = [None] * len(self.block.inputs)
            for pos, f in zip(self._slots, frames):
                full[pos] = f
            args = full
        t_ns = tags.get("t_ns")
        stamped = t_ns.__class__ is int and INT64_MIN <= t_ns <= INT64_MAX
        if stamped:
            age = time_ns() - t_ns
            self.entry_age.add(age)
        t0 = perf_counter_ns()
        out = self.block.work(*args)
        dt = perf_counter_ns() - t0
        self.work_ns += dt
        self.work_times.add_in_range(dt)
        self.work_calls += 1
        if self._is_sink:
            if stamped:  # now - t_ns, from the entry age and the work time (one clock read less)
                self.latency.add(age + dt)
            return
        if out.__class__ is Frame:
            one = self._one_sender
            if one is not None:  # one output, one edge: the common case
                self.frames_out += 1
                one.send(out)
                return
        if out is WORK_DONE:
            raise _StopRunning
        if out is not None:
            self._emit(out)

    def _emit(self, out: Any) -> None:
        senders = self.senders
        one = self._one_sender
        if one is not None and out.__class__ is Frame:  # one output, one edge: the common case
            self.frames_out += 1
            one.send(out)
            return
        if isinstance(out, Frame):
            if len(senders) != 1:
                raise ValueError(f"work() returned one Frame but the block has {len(senders)} outputs")
            self._send_port(senders[0], out)
            return
        if out.__class__ is Frames:  # several frames on the single output, in order
            if len(senders) != 1:
                raise ValueError(f"work() returned Frames but the block has {len(senders)} outputs")
            for frame in out:
                self._send_port(senders[0], frame)
            return
        if isinstance(out, dict):
            for name, frame in out.items():
                if frame is not None:
                    self._send_port(senders[self.block.output_index(name)], frame)
            return
        if isinstance(out, (list, tuple)):
            if len(out) != len(senders):
                raise ValueError(f"work() returned {len(out)} frames for {len(senders)} outputs")
            for ss, frame in zip(senders, out):
                if frame is not None:
                    self._send_port(ss, frame)
            return
        raise TypeError(f"work() must return a Frame, a sequence or dict of Frames, None or WORK_DONE; "
                        f"got {type(out).__name__}")

    def _send_port(self, senders: list[Sender], frame: Frame) -> None:
        if not isinstance(frame, Frame):
            raise TypeError(f"work() produced {type(frame).__name__}, expected Frame")
        self.frames_out += 1
        if len(senders) == 1:
            senders[0].send(frame)
            return
        # fan-out: every branch gets its own tag dict, the payload is shared; the copies are
        # made before the first send, since an inline branch runs during its send
        copies = [frame] + [Frame(frame.data, dict(frame.tags)) for _ in senders[1:]]
        for s, f in zip(senders, copies):
            s.send(f)

    def _send_eos(self) -> None:
        if self._eos_sent:
            return
        self._eos_sent = True
        for ss in self.senders:
            for s in ss:
                s.send_eos()


class _StopRunning(Exception):
    """Raised inside the loop when a non-source block returns WORK_DONE."""


class _InlineFailed(_StopRunning):
    """Raised through a host's loop when a block it runs inline failed (the error is on that
    block's runner): the host ends, the flowgraph stops and reports the inline block."""


class InlineSender:
    """The producing end of an edge whose consumer runs inline: :meth:`send` runs the
    consumer's ``work`` on the calling thread (no queue, no copy, no socket). Same interface as
    :class:`~semradio.runtime.edges.Sender`; the edge's ``sent``/``received`` count as usual,
    and a frame sent after the consumer has ended is counted in ``dropped``."""

    __slots__ = ("edge", "runner", "sock")

    def __init__(self, edge: Any, runner: BlockRunner) -> None:
        self.edge = edge
        self.runner = runner
        self.sock = None

    def send(self, frame: Frame) -> bool:
        """Run the consumer on ``frame``; False (counted as dropped) once it has ended."""
        r = self.runner
        edge = self.edge
        if r._inline_finished:  # (a stop is seen by the host's loop, once per frame)
            if not r.stop_event.is_set():
                edge.dropped += 1
            return False
        edge.sent += 1
        edge.received += 1
        r.frames_in += 1
        r.push(frame)
        return True

    def send_eos(self) -> None:
        """End of stream: the consumer ends and passes it on."""
        self.runner.finish_inline(eos=True)
