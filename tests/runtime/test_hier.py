"""Hierarchical blocks: inner blocks and edges join the flowgraph, outer ports map to inner ones
(an input may fan out), nested hierarchical blocks resolve, bad ports are named."""

from __future__ import annotations

import numpy as np
import pytest

from semradio.blocks import ArraySource, CollectSink, PassThrough
from semradio.runtime import Flowgraph, HierBlock


class Hops(HierBlock):
    def __init__(self, name: str, n: int = 2) -> None:
        super().__init__(name)
        hops = [PassThrough(name=f"{name}_hop{i}") for i in range(n)]
        self.connect(*hops)
        self.add_input("in", hops[0])
        self.add_output("out", (hops[-1], "out"))


class Nested(HierBlock):
    def __init__(self) -> None:
        super().__init__("nested")
        a, b = Hops("a"), Hops("b", 3)
        self.connect(a, b)
        self.add_input("in", a)
        self.add_output("out", (b, 0))


def _data() -> np.ndarray:
    return np.arange(12, dtype=np.float32).reshape(6, 2)


def test_nested_hierarchical_blocks_run_like_one_block() -> None:
    src, sink = ArraySource(_data(), batch=2, name="src"), CollectSink(name="sink")
    fg = Flowgraph("t")
    fg.connect(src, Nested(), sink)
    fg.run(timeout=30)
    assert sorted(fg.blocks) == sorted(["src", "sink", "a_hop0", "a_hop1", "b_hop0", "b_hop1", "b_hop2"])
    np.testing.assert_array_equal(np.concatenate([f.data for f in sink.frames]), _data())


def test_an_input_fans_out_to_several_inner_inputs() -> None:
    class Split(HierBlock):
        def __init__(self) -> None:
            super().__init__("split")
            self.left, self.right = CollectSink(name="left"), CollectSink(name="right")
            self.add_input("in", self.left, (self.right, "in"))

    split = Split()
    fg = Flowgraph("t")
    fg.connect(ArraySource(_data(), batch=3, name="src"), split)
    fg.run(timeout=30)
    assert len(split.left.frames) == len(split.right.frames) == 2


def test_unknown_ports_are_named() -> None:
    fg = Flowgraph("t")
    with pytest.raises(ValueError, match="no output port 'nope'"):
        fg.connect((Hops("x"), "nope"), CollectSink(name="s"))
    with pytest.raises(ValueError, match="no input port 3"):
        fg.connect(ArraySource(_data(), name="s2"), (Hops("y"), 3))


def test_jscc_link_is_the_chain_between_source_and_sink() -> None:
    from semradio.blocks.hier import JSCCChainConfig, JSCCLink
    from semradio.blocks.hier.jscc_chain import build

    fg, blocks = build(JSCCChainConfig(frames=1, batch=2, device="cpu"))
    link = blocks["link"]
    assert isinstance(link, JSCCLink) and link.input_names == ["in"] and link.output_names == ["out"]
    assert [e.src.name for e in fg.edges if e.dst.name == "decoder"] == ["equalizer"]
    assert sorted(link.all_blocks()) == ["channel", "decoder", "encoder", "equalizer", "normalizer"]
