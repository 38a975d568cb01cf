"""Flowgraph files: a whole flowgraph described as data (TOML or JSON), in the spirit of GNU
Radio's ``.grc`` — run with ``semradio run GRAPH.toml``, and served behind ZeroMQ endpoints with
``semradio worker GRAPH.toml`` (the same format).

Format (TOML shown; JSON has the same structure; top-level keys come before any table)::

    name = "jscc_rayleigh"              # optional: flowgraph name
    policy = "lossless"                 # optional: default edge policy ("lossless" | "realtime")
    hwm = 16                            # optional: default queue bound (frames) per edge
    connections = [                     # chains of "block" (port 0) or "block.port"
      ["source", "encoder", "channel", "sink.rec"],
      ["source", "sink.ref"],
      {from = "channel", to = "scope", policy = "realtime", hwm = 2},   # one edge with options
    ]

    [blocks.channel]                    # block name -> class and arguments
    class = "RayleighChannel"           # a registered block (see semradio.runtime.registry)
    kwargs = {snr_db = 10.0, seed = 0}  # constructor keyword arguments (plain data)
    args = []                           # optional positional arguments
    params = {}                         # optional: runtime parameters set before the start
    placement = "thread"                # optional: "thread" (default) or "process"

    [inputs.rx]                         # workers: an external endpoint feeding an input port
    to = "channel.in"
    endpoint = "tcp://127.0.0.1:6000"   # other keys: ZMQSource arguments (pattern, format, ...)

    [outputs.tx]                        # workers: an output port served on an endpoint
    from = "sink.out"
    endpoint = "tcp://127.0.0.1:6001"   # other keys: ZMQSink arguments

Everything in a file is untrusted input: the structure is validated key by key, classes resolve
only to registered :class:`~semradio.runtime.block.Block` subclasses — a lookup in
:mod:`semradio.runtime.registry`, checked for every block *before* any block is constructed —
and every error is a :class:`GraphFileError` (a ``ValueError``) with one line naming the entry.
Command-line overrides (``--set encoder.snr_db=5``) go through :func:`apply_overrides`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from .block import Block
from .flowgraph import Flowgraph
from .registry import RegistryError, load_registry

#: Keys a file may hold at top level, per block, per edge table.
TOP_KEYS = frozenset({"name", "policy", "hwm", "connections", "blocks", "inputs", "outputs"})
BLOCK_KEYS = frozenset({"class", "args", "kwargs", "params", "placement"})
EDGE_KEYS = frozenset({"from", "to", "policy", "hwm"})
POLICIES = ("lossless", "realtime")
PLACEMENTS = ("thread", "process")
#: Bounds on untrusted files: size, blocks, connections.
MAX_FILE_BYTES = 1 << 20
MAX_BLOCKS = 1024
MAX_CONNECTIONS = 4096


class GraphFileError(ValueError):
    """A flowgraph file or worker spec that cannot be used; the message names the entry."""


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a flowgraph file: TOML when the name ends in ``.toml``, else JSON.

    Raises:
        GraphFileError: unreadable, too large, not TOML/JSON, or not a table at top level.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise GraphFileError(f"{path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise GraphFileError(f"{path}: larger than {MAX_FILE_BYTES} bytes")
    try:
        if path.endswith(".toml"):
            import tomllib

            spec = tomllib.loads(raw.decode())
        else:
            spec = json.loads(raw)
    except Exception as exc:  # noqa: BLE001 - any parse error becomes one clear line
        raise GraphFileError(f"{path}: {type(exc).__name__}: {exc}") from None
    if not isinstance(spec, dict):
        raise GraphFileError(f"{path}: the top level must be a table/object")
    return spec


@dataclass
class BlockSpec:
    """One validated ``[blocks.NAME]`` entry (the class already resolved)."""

    name: str
    cls: type[Block]
    args: list[Any] = field(default_factory=list)
    kwargs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    placement: str = "thread"


@dataclass
class EdgeSpec:
    """One validated edge: ``(block, port)`` to ``(block, port)`` with optional policy/hwm."""

    src: tuple[str, str | int]
    dst: tuple[str, str | int]
    policy: str | None = None
    hwm: int | None = None


@dataclass
class GraphSpec:
    """A validated flowgraph file."""

    name: str
    policy: str
    hwm: int
    blocks: dict[str, BlockSpec]
    edges: list[EdgeSpec]
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]


def _endpoint(ref: Any, blocks: dict[str, Any], what: str) -> tuple[str, str | int]:
    if not isinstance(ref, str) or not ref:
        raise GraphFileError(f"{what}: expected 'block' or 'block.port', got {ref!r}")
    name, _, port = ref.partition(".")
    if name not in blocks:
        raise GraphFileError(f"{what}: no block named {name!r}; blocks: {sorted(blocks)}")
    return name, (port if port else 0)


def _policy(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if value not in POLICIES:
        raise GraphFileError(f"{what}: policy must be one of {POLICIES}, got {value!r}")
    return str(value)


def _hwm(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1_000_000:
        raise GraphFileError(f"{what}: hwm must be an integer in 1..1000000, got {value!r}")
    return value


def parse(spec: dict[str, Any]) -> GraphSpec:
    """Validate a loaded file and resolve its classes (nothing is constructed).

    Raises:
        GraphFileError: naming the offending entry.
    """
    if not isinstance(spec, dict):
        raise GraphFileError("the top level must be a table/object")
    unknown = set(spec) - TOP_KEYS
    if unknown:
        raise GraphFileError(f"unknown top-level keys {sorted(unknown)}; expected {sorted(TOP_KEYS)}")
    name = spec.get("name", "flowgraph")
    if not isinstance(name, str):
        raise GraphFileError(f"name must be a string, got {name!r}")
    policy = _policy(spec.get("policy", "lossless"), "policy") or "lossless"
    hwm = _hwm(spec.get("hwm", 16), "hwm") or 16
    raw_blocks = spec.get("blocks", {})
    if not isinstance(raw_blocks, dict) or not raw_blocks:
        raise GraphFileError("blocks: expected a table of at least one block")
    if len(raw_blocks) > MAX_BLOCKS:
        raise GraphFileError(f"blocks: more than {MAX_BLOCKS}")
    registry = load_registry()
    blocks: dict[str, BlockSpec] = {}
    for bname, entry in raw_blocks.items():
        what = f"block {bname!r}"
        if not isinstance(entry, dict) or not isinstance(entry.get("class"), str):
            raise GraphFileError(f"{what}: needs a 'class' string naming a registered block, e.g. 'PassThrough'")
        extra = set(entry) - BLOCK_KEYS
        if extra:
            raise GraphFileError(f"{what}: unknown keys {sorted(extra)}; expected {sorted(BLOCK_KEYS)}")
        try:
            cls = registry.resolve(entry["class"])
        except RegistryError as exc:
            raise GraphFileError(f"{what}: {exc}") from None
        args, kwargs, params = entry.get("args", []), entry.get("kwargs", {}), entry.get("params", {})
        if not isinstance(args, list) or not isinstance(kwargs, dict) or not isinstance(params, dict):
            raise GraphFileError(f"{what}: args must be a list, kwargs and params tables")
        placement = entry.get("placement", "thread")
        if placement not in PLACEMENTS:
            raise GraphFileError(f"{what}: placement must be one of {PLACEMENTS}, got {placement!r}")
        if "name" in kwargs:
            raise GraphFileError(f"{what}: the block's name is its table key; remove kwargs.name")
        blocks[bname] = BlockSpec(bname, cls, list(args), dict(kwargs), dict(params), placement)
    conns = spec.get("connections", [])
    if not isinstance(conns, list) or len(conns) > MAX_CONNECTIONS:
        raise GraphFileError(f"connections: expected a list of at most {MAX_CONNECTIONS} chains or edge tables")
    edges: list[EdgeSpec] = []
    for i, chain in enumerate(conns):
        what = f"connections[{i}]"
        if isinstance(chain, dict):
            extra = set(chain) - EDGE_KEYS
            if extra or "from" not in chain or "to" not in chain:
                raise GraphFileError(f"{what}: an edge table needs 'from' and 'to' (optional policy, hwm); "
                                     f"got {sorted(chain)}")
            edges.append(EdgeSpec(_endpoint(chain["from"], blocks, what), _endpoint(chain["to"], blocks, what),
                                  _policy(chain.get("policy"), what), _hwm(chain.get("hwm"), what)))
        elif isinstance(chain, list) and len(chain) >= 2:
            refs = [_endpoint(ref, blocks, what) for ref in chain]
            edges += [EdgeSpec(a, b) for a, b in zip(refs[:-1], refs[1:])]
        else:
            raise GraphFileError(f"{what}: expected a list of at least two endpoints or an edge table, got {chain!r}")
    ios: dict[str, dict[str, dict[str, Any]]] = {}
    for kind, port_key in (("inputs", "to"), ("outputs", "from")):
        table = spec.get(kind, {})
        if not isinstance(table, dict):
            raise GraphFileError(f"{kind}: expected a table")
        ios[kind] = {}
        for ename, entry in table.items():
            what = f"{kind[:-1]} {ename!r}"
            if not isinstance(entry, dict) or port_key not in entry or not isinstance(entry.get("endpoint"), str):
                raise GraphFileError(f"{what}: needs {port_key!r} (a 'block.port') and an 'endpoint' string such as "
                                     f"'tcp://127.0.0.1:6000'")
            _endpoint(entry[port_key], blocks, what)
            ios[kind][ename] = dict(entry)
    return GraphSpec(name, policy, hwm, blocks, edges, ios["inputs"], ios["outputs"])


def apply_overrides(spec: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """``["block.key=value", ...]`` set ``blocks.block.kwargs.key`` (the value parsed as a TOML
    value: ``5``, ``5.0``, ``"text"``, ``true``, ``[1, 2]``; a bare word is a string). Returns a
    new spec.

    Raises:
        GraphFileError: a malformed override or an unknown block.
    """
    import copy
    import tomllib

    out = copy.deepcopy(spec)
    blocks = out.get("blocks") if isinstance(out.get("blocks"), dict) else {}
    for item in overrides:
        target, sep, text = item.partition("=")
        bname, dot, key = target.partition(".")
        if not sep or not dot or not key:
            raise GraphFileError(f"--set expects BLOCK.KEY=VALUE, got {item!r}")
        if bname not in blocks or not isinstance(blocks[bname], dict):
            raise GraphFileError(f"--set {item!r}: no block named {bname!r}; blocks: {sorted(blocks)}")
        try:
            value = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            value = text
        blocks[bname].setdefault("kwargs", {})[key] = value
    return out


def build_block(spec: BlockSpec) -> Block:
    """Construct one block of a validated spec (its class is a registered Block subclass) and
    apply its ``params``.

    Raises:
        GraphFileError: the constructor or a parameter refused its arguments.
    """
    try:
        block = spec.cls(*spec.args, name=spec.name, **spec.kwargs)
    except Exception as exc:  # noqa: BLE001 - one line naming the block
        raise GraphFileError(f"block {spec.name!r} ({spec.cls.__name__}): cannot build it: "
                             f"{type(exc).__name__}: {exc}") from None
    for key, value in spec.params.items():
        try:
            block.set_param(key, value)
        except Exception as exc:  # noqa: BLE001
            raise GraphFileError(f"block {spec.name!r}: parameter {key!r}: {type(exc).__name__}: {exc}") from None
    return block


def build(graph: GraphSpec) -> tuple[Flowgraph, dict[str, Block]]:
    """Construct the blocks and wire the flowgraph of a validated spec (without its external
    inputs/outputs, which :mod:`semradio.runtime.worker` adds).

    Raises:
        GraphFileError: a block could not be built or an edge was refused.
    """
    fg = Flowgraph(graph.name, policy=graph.policy, hwm=graph.hwm)
    blocks: dict[str, Block] = {}
    for name, bs in graph.blocks.items():
        blocks[name] = build_block(bs)
        try:
            fg.add(blocks[name], placement=bs.placement)
        except Exception as exc:  # noqa: BLE001
            raise GraphFileError(f"block {name!r}: {exc}") from None
    for i, e in enumerate(graph.edges):
        try:
            fg.connect((blocks[e.src[0]], e.src[1]), (blocks[e.dst[0]], e.dst[1]), policy=e.policy, hwm=e.hwm)
        except Exception as exc:  # noqa: BLE001
            raise GraphFileError(f"edge {e.src[0]}.{e.src[1]} -> {e.dst[0]}.{e.dst[1]}: {exc}") from None
    return fg, blocks


def summarize(fg: Flowgraph, blocks: dict[str, Block], seconds: float) -> dict[str, Any]:
    """What ``semradio run GRAPH --json`` prints: the flowgraph's counters, and the ``summary()``
    of every block that has one (e.g. a MetricSink's PSNR/SSIM per group)."""
    summaries = {}
    for name, b in blocks.items():
        fn = getattr(b, "summary", None)
        if callable(fn):
            try:
                summaries[name] = fn()
            except Exception as exc:  # noqa: BLE001 - a summary must not lose the others
                summaries[name] = {"error": f"{type(exc).__name__}: {exc}"}
    return {"flowgraph": fg.name, "seconds": round(seconds, 3), "summaries": summaries,
            "blocks": {n: {k: c.get(k) for k in ("state", "frames_in", "frames_out", "work_ms") if k in c}
                       for n, c in fg.stats().items()}}


__all__ = ["GraphFileError", "BlockSpec", "EdgeSpec", "GraphSpec", "load", "parse", "apply_overrides", "build",
           "build_block", "summarize", "TOP_KEYS", "BLOCK_KEYS", "POLICIES", "PLACEMENTS"]
