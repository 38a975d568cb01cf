"""The block base class and its convenience forms (source, sink, 1-in/1-out sync block).

A block declares named, typed stream ports, runtime-settable parameters and message ports, and
implements :meth:`Block.work`, which the scheduler calls once per frame (per aligned set of
frames for a multi-input block) on the block's own thread.

``work`` contract:
    * a source (no inputs) is called repeatedly with no argument; it returns a Frame, None
      (nothing this time) or :data:`WORK_DONE` (end of stream);
    * a block with inputs gets one Frame per input, in input-port order, all with the same
      ``seq`` (multi-input blocks are aligned by ``seq``);
    * it returns a Frame (single output), a sequence with one entry per output (None skips a
      port), a dict ``{port_name: Frame}``, None (nothing to emit) or WORK_DONE.

Parameters are read and written through :meth:`Block.set_param` / :meth:`Block.param` from any
thread. Every block has a message input port ``"ctrl"``: a dict message ``{"snr_db": 10.0}`` (or
``{"set_snr_db": 10.0}``) sets the named parameters. Message handlers run on the block's own
thread between two ``work`` calls, so they need no locking against ``work``.
"""

from __future__ import annotations

import inspect
import itertools
import threading
from dataclasses import dataclass
from time import time_ns
from typing import Any, Callable, Sequence

from .frame import Frame
from .ports import PortSpec


class _WorkDone:
    _instance = None

    def __new__(cls) -> "_WorkDone":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "WORK_DONE"


#: Returned by ``work`` to signal end of stream (as GNU Radio's WORK_DONE).
WORK_DONE = _WorkDone()

_name_counters: dict[str, itertools.count] = {}
_name_lock = threading.Lock()


def _auto_name(cls: type) -> str:
    base = cls.__name__.lower()
    with _name_lock:
        counter = _name_counters.setdefault(base, itertools.count())
        return f"{base}{next(counter)}"


@dataclass(slots=True)
class Param:
    """A runtime-settable parameter: current value, doc, optional validator/converter."""

    name: str
    value: Any
    doc: str = ""
    convert: Callable[[Any], Any] | None = None


def _record_ctor_args(init: Callable[..., None]) -> Callable[..., None]:
    """Wrap a block's ``__init__`` so the outermost call records its arguments (used to
    re-create the block in another process)."""

    def __init__(self: "Block", *args: Any, **kw: Any) -> None:
        depth = self.__dict__.get("_ctor_depth", 0)
        if depth == 0:
            self.__dict__["_ctor_args"] = (args, dict(kw))
        self.__dict__["_ctor_depth"] = depth + 1
        try:
            init(self, *args, **kw)
        finally:
            self.__dict__["_ctor_depth"] = depth

    __init__.__doc__ = init.__doc__
    __init__.__signature__ = inspect.signature(init)  # type: ignore[attr-defined]
    __init__.__wrapped__ = init  # type: ignore[attr-defined]
    return __init__


class Block:
    """Base of every block.

    Subclasses call ``super().__init__(name)`` and then declare ports with
    :meth:`add_input` / :meth:`add_output`, parameters with :meth:`declare_param` and message
    handlers with :meth:`register_message_handler`.

    Attributes:
        name: unique name within a flowgraph (auto-generated when not given).
        inputs / outputs: declared stream ports (:class:`PortSpec`), in index order.
        align_timeout_s: multi-input blocks: how long an incomplete ``seq`` may wait for its
            partners before it is dropped (counted as ``unaligned``).
        align_depth: multi-input blocks: most incomplete ``seq`` kept; the oldest is dropped.
        inline: the block's ``work`` takes microseconds and never waits (tag edits, a few small
            numpy operations), so a flowgraph may run it *inline*: on the thread of the block
            that feeds it, called directly for each frame, with no queue and no thread hop
            (``Flowgraph(fuse=True)``, the default; see :mod:`semradio.runtime.flowgraph`).
            Only a single-input block fed in this process can run inline. Default False.
    """

    #: Run on the producer's thread when possible (see the class docstring); read when the
    #: flowgraph starts. A block sets it in its constructor, or overrides it with a property.
    inline: bool = False
    #: Constructor arguments of the last construction, recorded for process placement.
    _ctor_args: tuple[tuple[Any, ...], dict[str, Any]] | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is None:
            return

        cls.__init__ = _record_ctor_args(init)  # type: ignore[method-assign]

    def __init__(self, name: str | None = None) -> None:
        self.name: str = name or _auto_name(type(self))
        self.inputs: list[PortSpec] = []
        self.outputs: list[PortSpec] = []
        self.message_outputs: list[str] = []
        self._message_handlers: dict[str, Callable[[Any], None]] = {"ctrl": self._handle_ctrl}
        self._params: dict[str, Param] = {}
        self._param_lock = threading.RLock()
        self._message_sink: Callable[[str, Any], None] | None = None
        self._stop_event: threading.Event | None = None
        self._drop_counter: Any = None
        self.align_timeout_s: float = 2.0
        self.align_depth: int = 64

    # ------------------------------------------------------------------ ports
    def add_input(self, name: str, dtype: str | None = None, shape: Sequence[int | None] | None = None,
                  domain: str = "any", optional: bool = False) -> PortSpec:
        """Declare a stream input port (see :class:`PortSpec`)."""
        spec = PortSpec(name, dtype, None if shape is None else tuple(shape), domain, optional)
        if any(p.name == name for p in self.inputs):
            raise ValueError(f"block {self.name!r}: duplicate input port {name!r}")
        self.inputs.append(spec)
        return spec

    def add_output(self, name: str, dtype: str | None = None, shape: Sequence[int | None] | None = None,
                   domain: str = "any") -> PortSpec:
        """Declare a stream output port (see :class:`PortSpec`)."""
        spec = PortSpec(name, dtype, None if shape is None else tuple(shape), domain)
        if any(p.name == name for p in self.outputs):
            raise ValueError(f"block {self.name!r}: duplicate output port {name!r}")
        self.outputs.append(spec)
        return spec

    def input_index(self, port: str | int) -> int:
        """Index of an input port given by name or index; ValueError naming the block if none."""
        return self._port_index(self.inputs, port, "input")

    def output_index(self, port: str | int) -> int:
        """Index of an output port given by name or index; ValueError naming the block if none."""
        return self._port_index(self.outputs, port, "output")

    def _port_index(self, ports: list[PortSpec], port: str | int, kind: str) -> int:
        if isinstance(port, int):
            if 0 <= port < len(ports):
                return port
        else:
            for i, p in enumerate(ports):
                if p.name == port:
                    return i
        names = [p.name for p in ports] or "none"
        raise ValueError(f"block {self.name!r} ({type(self).__name__}) has no {kind} port {port!r}; "
                         f"its {kind}s: {names}")

    # ------------------------------------------------------------- parameters
    def declare_param(self, name: str, value: Any, doc: str = "",
                      convert: Callable[[Any], Any] | None = None) -> None:
        """Declare a runtime-settable parameter; ``convert`` validates/converts new values
        (raise ValueError to reject)."""
        if convert is not None:
            value = convert(value)
        with self._param_lock:
            self._params[name] = Param(name, value, doc, convert)

    def param(self, name: str) -> Any:
        """Current value of a parameter (thread-safe).

        Read without the lock: a ``work`` call reads its parameters once per frame, and one
        dict lookup and one attribute read see either the old or the new value, never a torn
        one (``set_param`` replaces the value with a single assignment under the lock)."""
        try:
            return self._params[name].value
        except KeyError:
            raise KeyError(f"block {self.name!r} has no parameter {name!r}; "
                           f"its parameters: {sorted(self._params)}") from None

    def set_param(self, name: str, value: Any) -> None:
        """Set a parameter from any thread; the converter runs first and may reject the value."""
        with self._param_lock:
            if name not in self._params:
                raise KeyError(f"block {self.name!r} has no parameter {name!r}; "
                               f"its parameters: {sorted(self._params)}")
            p = self._params[name]
            p.value = p.convert(value) if p.convert is not None else value
        self.on_param_change(name, p.value)

    def on_param_change(self, name: str, value: Any) -> None:
        """Hook called after a parameter changed (any thread). Default: nothing."""

    @property
    def params(self) -> dict[str, Any]:
        """Snapshot of all parameter values."""
        with self._param_lock:
            return {k: p.value for k, p in self._params.items()}

    def param_docs(self) -> dict[str, str]:
        """Parameter name -> doc string."""
        with self._param_lock:
            return {k: p.doc for k, p in self._params.items()}

    # --------------------------------------------------------------- messages
    def register_message_handler(self, port: str, handler: Callable[[Any], None]) -> None:
        """Declare a message input port whose messages ``handler(msg)`` receives."""
        self._message_handlers[port] = handler

    def add_message_output(self, port: str) -> None:
        """Declare a message output port (use :meth:`post_message` to send)."""
        if port not in self.message_outputs:
            self.message_outputs.append(port)

    @property
    def message_inputs(self) -> list[str]:
        """Names of the message input ports (always includes ``"ctrl"``)."""
        return list(self._message_handlers)

    def post_message(self, port: str, msg: Any) -> None:
        """Send a message on a message output port (to every connected message input)."""
        if port not in self.message_outputs:
            raise ValueError(f"block {self.name!r} has no message output {port!r}")
        if self._message_sink is not None:
            self._message_sink(port, msg)

    def handle_message(self, port: str, msg: Any) -> None:
        """Dispatch a message to the port's handler (called on the block's thread)."""
        try:
            handler = self._message_handlers[port]
        except KeyError:
            raise ValueError(f"block {self.name!r} has no message input {port!r}; "
                             f"its message inputs: {self.message_inputs}") from None
        handler(msg)

    def _handle_ctrl(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            raise ValueError(f"ctrl message to {self.name!r} must be a dict, got {type(msg).__name__}")
        for key, value in msg.items():
            pname = key[4:] if isinstance(key, str) and key.startswith("set_") else key
            self.set_param(pname, value)

    # ------------------------------------------------------------- runtime hooks
    @property
    def stop_event(self) -> threading.Event | None:
        """The running flowgraph's stop event (None outside a flowgraph). A block that waits
        on something other than its input edges (a socket, a device) polls it to return
        promptly when the flowgraph stops."""
        return self._stop_event

    @property
    def stop_requested(self) -> bool:
        """True once the flowgraph this block runs in is stopping."""
        ev = self._stop_event
        return ev is not None and ev.is_set()

    def count_drop(self, reason: str, n: int = 1, detail: str = "") -> None:
        """Count ``n`` items dropped for ``reason`` (e.g. ``"malformed:pmt"``); they appear in
        the flowgraph's per-block stats (``drops``, ``drops_by_reason``) and the first drop of
        each reason is logged once."""
        if self._drop_counter is None:
            from .stats import DropCounter

            self._drop_counter = DropCounter(self.name)
        self._drop_counter.add(reason, n, detail)

    # ------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Called on the block's thread before the first ``work`` (open devices, load models)."""

    def stop(self) -> None:
        """Called on the block's thread after the last ``work`` (flush, close)."""

    def work(self, *frames: Frame) -> Any:
        """Process one frame per input; see the module docstring for the return contract."""
        raise NotImplementedError(f"{type(self).__name__}.work")

    def status(self) -> dict[str, Any] | None:
        """A block's own health report, shown by ``Flowgraph.stats()`` under ``"status"`` and by
        the scopes' monitor (e.g. a bridge's peer: ``{"peer": "stalled", "silent_s": 12.0}``);
        None (the default): nothing to report. Called from other threads: read, do not block."""
        return None

    @classmethod
    def example(cls) -> "Block":
        """An instance with representative arguments (``semradio blocks`` lists its ports and
        parameters). Blocks whose constructor needs arguments override this."""
        return cls()

    @classmethod
    def doc_line(cls) -> str:
        """First paragraph of the class docstring on one line (shortened to 110 characters)."""
        doc = inspect.getdoc(cls) or ""
        first = " ".join(doc.split("\n\n")[0].split())
        return first if len(first) <= 110 else first[:107] + "..."

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class SourceBlock(Block):
    """A block with outputs and no inputs; :meth:`next_seq` numbers its frames."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self._seq = 0

    def next_seq(self) -> int:
        """Return the next sequence number (0, 1, 2, ...)."""
        s = self._seq
        self._seq += 1
        return s

    def make_frame(self, data: Any, **tags: Any) -> Frame:
        """A frame stamped with the next ``seq`` and the current ``t_ns``."""
        if tags:
            return Frame.new(data, self.next_seq(), **tags)
        # the per-frame path of every source: one dict, no keyword packing
        return Frame(data, {"t_ns": time_ns(), "seq": int(self.next_seq())})


class SinkBlock(Block):
    """A block with inputs and no outputs. The scheduler records latency from ``t_ns``."""


class SyncBlock(Block):
    """A 1-in/1-out block: ``work(frame) -> frame``; override :meth:`process` for the common
    case that only maps the data (tags pass through)."""

    def work(self, frame: Frame) -> Frame | None:  # type: ignore[override]
        return frame.replace(self.process(frame.data))

    def process(self, data: Any) -> Any:
        """Map the payload (B, ...) -> (B, ...)."""
        raise NotImplementedError(f"{type(self).__name__}.process")
