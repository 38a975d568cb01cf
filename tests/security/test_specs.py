"""Finding 1: a worker spec or flowgraph file naming a callable that is not a registered block
constructs nothing; `semradio worker` exits 2 with one line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semradio.runtime import graph_file
from semradio.runtime.graph_file import GraphFileError

DANGEROUS = ["os:system", "os.system", "subprocess:Popen", "subprocess.run", "builtins:exec", "builtins.eval",
             "builtins:open", "pickle:loads", "shutil:rmtree", "importlib:import_module", "ctypes:CDLL",
             "semradio.runtime.process:build_block", "semradio.runtime.block:Block", "socket:socket"]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["os:system", "subprocess:Popen", "builtins:exec"])
def test_worker_spec_naming_a_callable_constructs_nothing_and_exits_2(tmp_path, target: str) -> None:
    marker = tmp_path / "pwned"
    arg = {"os:system": f"touch {marker}", "subprocess:Popen": ["touch", str(marker)],
           "builtins:exec": f"open({str(marker)!r}, 'w').close()"}[target]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"blocks": {"x": {"class": target, "args": [arg]}},
                                "inputs": {"i": {"to": "x.in", "endpoint": "ipc://" + str(tmp_path / "s")}}}))
    r = subprocess.run([sys.executable, "-m", "semradio.cli", "worker", str(spec)], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2, r.stderr
    assert not marker.exists()
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a registered block" in lines[0] and "Traceback" not in r.stderr


@given(name=st.sampled_from(DANGEROUS) | st.text(max_size=40), kwargs=st.dictionaries(st.text(max_size=5),
                                                                                     st.integers(), max_size=3))
@settings(max_examples=300, deadline=None)
def test_no_class_string_but_a_registered_block_resolves(name: str, kwargs: dict) -> None:
    """Any class string outside the registry is refused at parse time, before construction."""
    from semradio.runtime.registry import load_registry

    spec = {"blocks": {"x": {"class": name, "kwargs": kwargs}}}
    if name in load_registry():
        return
    with pytest.raises(GraphFileError):
        graph_file.parse(spec)


@given(spec=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                         lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                   max_size=4), max_leaves=20))
@settings(max_examples=300, deadline=None)
def test_any_json_structure_is_accepted_or_one_clear_error(spec) -> None:
    try:
        graph_file.parse(spec)
    except GraphFileError:
        pass
