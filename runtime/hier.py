"""Hierarchical blocks: a sub-graph with its own named ports, used like one block (GNU Radio's
``hier_block2``).

A :class:`HierBlock` holds blocks and the edges between them, and maps its input ports to inner
input ports (one outer input may feed several inner ones) and its output ports to inner output
ports. Adding it to a :class:`~semradio.runtime.flowgraph.Flowgraph` (or connecting to it) adds
the inner blocks and edges; an edge to ``(hier, "in")`` becomes edges to the inner inputs, one
from ``(hier, "out")`` an edge from the inner output. Inner blocks keep their names, so they
show up in the flowgraph's stats, scopes and controls as themselves.

    >>> from semradio.blocks import ArraySource, CollectSink, PassThrough
    >>> class TwoHops(HierBlock):
    ...     def __init__(self, name="two_hops"):
    ...         super().__init__(name)
    ...         a, b = PassThrough(name="hop_a"), PassThrough(name="hop_b")
    ...         self.connect(a, b)
    ...         self.add_input("in", (a, "in"))
    ...         self.add_output("out", (b, "out"))
    >>> import numpy as np
    >>> from semradio.runtime import Flowgraph
    >>> src = ArraySource(np.zeros((4, 2), np.float32), batch=2, name="src")
    >>> sink = CollectSink(name="sink")
    >>> fg = Flowgraph("demo"); _ = fg.connect(src, TwoHops(), sink); fg.run(timeout=10)
    >>> list(fg.blocks), len(sink.frames)
    (['src', 'hop_a', 'hop_b', 'sink'], 2)
"""

from __future__ import annotations

from typing import Any, Union

from .block import Block

InnerEndpoint = Union[Block, "HierBlock", tuple[Union[Block, "HierBlock"], Union[str, int]]]


class HierBlock:
    """A typed sub-graph with named ports (see the module docstring).

    Args:
        name: the hierarchical block's name (its inner blocks keep their own).
    """

    def __init__(self, name: str | None = None) -> None:
        self.name = name or type(self).__name__.lower()
        self.blocks: dict[str, Block] = {}
        self.placements: dict[str, str] = {}
        self.children: list[HierBlock] = []
        self.connections: list[tuple[InnerEndpoint, InnerEndpoint, dict[str, Any]]] = []
        self._inputs: dict[str, list[InnerEndpoint]] = {}
        self._outputs: dict[str, InnerEndpoint] = {}

    # -------------------------------------------------------------- building
    def add(self, block: Block | HierBlock, placement: str = "thread") -> Block | HierBlock:
        """Add an inner block or hierarchical block (idempotent)."""
        if isinstance(block, HierBlock):
            if block not in self.children:
                self.children.append(block)
            return block
        if not isinstance(block, Block):
            raise TypeError(f"expected a Block or HierBlock, got {type(block).__name__}")
        other = self.blocks.get(block.name)
        if other is not None and other is not block:
            raise ValueError(f"{self.name}: two different blocks are named {block.name!r}")
        self.blocks[block.name] = block
        self.placements.setdefault(block.name, placement)
        return block

    def connect(self, *endpoints: InnerEndpoint, policy: str | None = None, hwm: int | None = None) -> None:
        """Connect consecutive inner endpoints (as :meth:`Flowgraph.connect`)."""
        if len(endpoints) < 2:
            raise ValueError("connect() needs at least two endpoints")
        for ep in endpoints:
            self.add(ep[0] if isinstance(ep, tuple) else ep)
        for a, b in zip(endpoints[:-1], endpoints[1:]):
            self.connections.append((a, b, {"policy": policy, "hwm": hwm}))

    def add_input(self, name: str, *targets: InnerEndpoint) -> None:
        """Expose input ``name``, fed to every inner input in ``targets``."""
        if not targets:
            raise ValueError(f"{self.name}: input {name!r} needs at least one inner input")
        for t in targets:
            self.add(t[0] if isinstance(t, tuple) else t)
        self._inputs[name] = list(targets)

    def add_output(self, name: str, source: InnerEndpoint) -> None:
        """Expose the inner output ``source`` as output ``name``."""
        self.add(source[0] if isinstance(source, tuple) else source)
        self._outputs[name] = source

    # -------------------------------------------------------------- ports
    @property
    def input_names(self) -> list[str]:
        return list(self._inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self._outputs)

    def _port(self, table: dict[str, Any], port: str | int, kind: str) -> str:
        names = list(table)
        if isinstance(port, int) and not isinstance(port, bool):
            if not 0 <= port < len(names):
                raise ValueError(f"{self.name}: no {kind} port {port}; its {kind}s: {names}")
            return names[port]
        if port not in table:
            raise ValueError(f"{self.name}: no {kind} port {port!r}; its {kind}s: {names}")
        return str(port)

    def inner_inputs(self, port: str | int = 0) -> list[InnerEndpoint]:
        """The inner input endpoints behind input ``port`` (name or index)."""
        return self._inputs[self._port(self._inputs, port, "input")]

    def inner_output(self, port: str | int = 0) -> InnerEndpoint:
        """The inner output endpoint behind output ``port`` (name or index)."""
        return self._outputs[self._port(self._outputs, port, "output")]

    def all_blocks(self) -> dict[str, Block]:
        """Every block inside, nested hierarchical blocks included, by name."""
        out = dict(self.blocks)
        for child in self.children:
            out.update(child.all_blocks())
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {len(self.all_blocks())} blocks>"


__all__ = ["HierBlock"]
