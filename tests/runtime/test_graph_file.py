"""Flowgraph files: validation before construction, classes only from the block registry, the
same PSNR as the script, overrides, and worker specs that name a non-block callable."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from semradio.runtime import graph_file
from semradio.runtime.graph_file import GraphFileError
from semradio.runtime.registry import RegistryError, load_registry

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())

CHAIN = {
    "blocks": {"src": {"class": "CountingSource", "kwargs": {"frames": 5, "batch": 2, "size": 4}},
               "hop": {"class": "PassThrough"}, "sink": {"class": "CollectSink"}},
    "connections": [["src", "hop", "sink"]],
}


def test_a_file_builds_and_runs() -> None:
    fg, blocks = graph_file.build(graph_file.parse(CHAIN))
    fg.run(timeout=30)
    assert blocks["sink"].seqs == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("name", ["os:system", "os.system", "subprocess:Popen", "builtins:exec", "builtins.eval",
                                  "semradio.runtime.block:Block", "semradio.blocks.channels.fading:_PlainChannel",
                                  "numpy.ndarray", "NoSuchBlock", "", "x" * 10000])
def test_only_registered_blocks_resolve(name: str) -> None:
    with pytest.raises(RegistryError, match="not a registered block|must be named"):
        load_registry().resolve(name)


def test_registered_names_resolve_to_the_same_class() -> None:
    reg = load_registry()
    cls = reg.resolve("PassThrough")
    for alias in ("semradio.blocks.PassThrough", "semradio.blocks:PassThrough", "semradio.PassThrough",
                  f"{cls.__module__}.PassThrough", f"{cls.__module__}:PassThrough"):
        assert reg.resolve(alias) is cls


@pytest.mark.parametrize("spec, match", [
    ({"blocks": {"x": {"class": "os:system", "args": ["echo pwned"]}}}, "not a registered block"),
    ({"blocks": {"x": {"class": "PassThrough", "kwargs": {"name": "y"}}}}, "table key"),
    ({"blocks": {"x": {"class": "PassThrough", "placement": "gpu"}}}, "placement"),
    ({"blocks": {"x": {"class": "PassThrough"}}, "connections": [{"from": "x", "to": "x", "hwm": 0}]}, "hwm"),
    ({"blocks": {"x": {"class": "PassThrough"}}, "connections": [{"from": "x", "to": "x", "policy": "fast"}]},
     "policy"),
    ({"blocks": {"x": {"class": "PassThrough"}}, "connections": [["x"]]}, "at least two"),
    ({"blocks": {}}, "at least one block"),
    ({"blocks": {"x": {"class": "PassThrough"}}, "extra": 1}, "unknown top-level"),
    ({"blocks": {"x": {"class": "PassThrough", "kwargs": []}}}, "kwargs"),
    ([], "top level"),
])
def test_bad_files_are_one_clear_error(spec, match) -> None:
    with pytest.raises(GraphFileError, match=match):
        graph_file.parse(spec)


def test_a_class_is_checked_before_any_block_is_built(tmp_path) -> None:
    """The registered block comes first in the file; the bad class after it stops the parse, so
    the first block's constructor never runs (nothing is built half-way)."""
    marker = tmp_path / "built"
    spec = {"blocks": {"a": {"class": "IQFileSink", "kwargs": {"path": str(marker)}},
                       "b": {"class": "subprocess:Popen", "args": [["touch", str(marker)]]}}}
    with pytest.raises(GraphFileError):
        graph_file.parse(spec)
    assert not marker.exists()


def test_overrides_set_constructor_arguments() -> None:
    spec = graph_file.apply_overrides(CHAIN, ["src.frames=2", "hop.delay_s=0.0"])
    assert spec["blocks"]["src"]["kwargs"]["frames"] == 2 and CHAIN["blocks"]["src"]["kwargs"]["frames"] == 5
    with pytest.raises(GraphFileError, match="BLOCK.KEY=VALUE"):
        graph_file.apply_overrides(CHAIN, ["frames=2"])
    with pytest.raises(GraphFileError, match="no block named"):
        graph_file.apply_overrides(CHAIN, ["nope.x=1"])


def test_a_block_constructor_error_names_the_block() -> None:
    spec = {"blocks": {"src": {"class": "CountingSource", "kwargs": {"frames": 1, "no_such_argument": 1}}}}
    with pytest.raises(GraphFileError, match="block 'src'"):
        graph_file.build(graph_file.parse(spec))


@pytest.mark.slow
@pytest.mark.parametrize("target", ["os:system", "subprocess:Popen", "builtins:exec"])
def test_worker_spec_naming_a_callable_constructs_nothing_and_exits_2(tmp_path, target: str) -> None:
    """The hardening finding: `semradio worker SPEC` used to call any importable callable."""
    marker = tmp_path / "pwned"
    arg = f"touch {marker}" if target != "subprocess:Popen" else ["touch", str(marker)]
    if target == "builtins:exec":
        arg = f"open({str(marker)!r}, 'w').close()"
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"blocks": {"x": {"class": target, "args": [arg]}},
                                "inputs": {"i": {"to": "x.in", "endpoint": "ipc://" + str(tmp_path / "s")}}}))
    r = subprocess.run([sys.executable, "-m", "semradio.cli", "worker", str(spec)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    assert not marker.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a registered block" in lines[0] and "Traceback" not in r.stderr


@pytest.mark.slow
def test_run_jscc_rayleigh_toml_prints_the_scripts_psnr() -> None:
    """`semradio run flowgraphs/jscc_rayleigh.toml --json` and `flowgraphs/jscc_rayleigh.py
    --json` are the same graph with the same seed: the same PSNR."""
    toml = subprocess.run([sys.executable, "-m", "semradio.cli", "run", str(ROOT / "flowgraphs" / "jscc_rayleigh.toml"),
                           "--set", "source.frames=6", "--json"], capture_output=True, text=True, timeout=300)
    assert toml.returncode == 0, toml.stderr
    script = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / "jscc_rayleigh.py"), "--frames", "6", "--json"],
                            capture_output=True, text=True, timeout=300)
    assert script.returncode == 0, script.stderr
    (group,) = json.loads(toml.stdout)["summaries"]["sink"]["groups"]
    assert group["images"] == 96
    assert group["psnr_db"] == pytest.approx(json.loads(script.stdout)["psnr_db"], abs=1e-9)


def test_run_refuses_a_worker_spec_and_unknown_suffix(tmp_path, capsys) -> None:
    from semradio.cli import main

    spec = tmp_path / "w.json"
    spec.write_text(json.dumps({"blocks": {"x": {"class": "PassThrough"}},
                                "inputs": {"i": {"to": "x.in", "endpoint": "tcp://127.0.0.1:5999"}}}))
    assert main(["run", str(spec)]) == 2
    assert "semradio worker" in capsys.readouterr().err
    assert main(["run", str(tmp_path / "graph.yaml")]) == 2
