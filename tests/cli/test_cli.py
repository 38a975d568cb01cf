"""The semradio command: block listing and running flowgraph scripts."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import semradio.blocks as blocks_pkg
from semradio.runtime import Block
from semradio.cli import main
from semradio.cli.blocks import block_classes


def test_blocks_lists_every_exported_block_with_ports_and_params(capsys):
    assert main(["blocks", "--json"]) == 0
    infos = {i["name"]: i for i in json.loads(capsys.readouterr().out)}
    exported = {n for n in blocks_pkg.__all__ if isinstance(getattr(blocks_pkg, n), type)
                and issubclass(getattr(blocks_pkg, n), Block)}
    assert exported <= set(infos)
    for name, info in infos.items():
        assert "error" not in info, f"{name}: {info.get('error')}"
        assert info["doc"], f"{name} has no docstring"
        assert info["inputs"] or info["outputs"]
    thr = infos["Throttle"]
    assert [p["name"] for p in thr["inputs"]] == ["in"] and thr["params"][0]["name"] == "rate"
    assert len(block_classes()) == len(infos)


def test_blocks_text_output_and_unknown_name(capsys):
    assert main(["blocks", "Throttle"]) == 0
    out = capsys.readouterr().out
    assert "Throttle" in out and "param rate = 30.0" in out
    assert main(["blocks", "NoSuchBlock"]) == 2


def test_run_passes_arguments_to_the_script(tmp_path):
    script = tmp_path / "fg.py"
    out = tmp_path / "out.json"
    script.write_text(textwrap.dedent(f"""
        import argparse, json
        import numpy as np
        from semradio.blocks import ArraySource, CollectSink
        from semradio.runtime import Flowgraph
        p = argparse.ArgumentParser()
        p.add_argument("--frames", type=int)
        a = p.parse_args()
        sink = CollectSink()
        fg = Flowgraph()
        fg.connect(ArraySource(np.zeros((a.frames, 2), np.float32)), sink)
        fg.run()
        json.dump({{"frames": len(sink.frames)}}, open({str(out)!r}, "w"))
    """))
    rc = subprocess.run([sys.executable, "-m", "semradio.cli", "run", str(script), "--", "--frames", "7"],
                        capture_output=True, text=True, timeout=120)
    assert rc.returncode == 0, rc.stderr
    assert json.loads(out.read_text()) == {"frames": 7}


def test_run_missing_script_is_a_clear_error(capsys):
    assert main(["run", "does/not/exist.py"]) == 2
    assert "no such flowgraph script" in capsys.readouterr().err
