"""The package layout: dependencies point one way (runtime <- dsp <- models <- blocks <-
flowgraphs <- cli), importing the runtime or the block library costs no torch, no test or script
edits sys.path to reach project code, and the packaging lists every package."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
#: Each layer may import the ones with a smaller number (pure math may be shared downwards).
LAYERS = {"runtime": 0, "dsp": 1, "models": 2, "blocks": 3, "flowgraphs": 4, "cli": 5}


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
    return out


def test_dependencies_point_one_way() -> None:
    """Every import, module-level or inside a function, goes to the same or a lower layer: no
    import cycle between runtime, models and blocks."""
    bad = []
    for top, rank in LAYERS.items():
        for f in sorted((ROOT / top).rglob("*.py")):
            for line, name in _imports(f):
                parts = name.split(".")
                if parts[0] == "semradio" and len(parts) > 1 and LAYERS.get(parts[1], -1) > rank:
                    bad.append(f"{f.relative_to(ROOT)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("code", [
    "import sys, semradio.runtime, semradio.blocks; assert 'torch' not in sys.modules",
    "import sys, semradio.models, semradio.dsp; assert 'torch' not in sys.modules",
    "import sys; from semradio.blocks import AWGNChannel, MMSEEqualizer, ZMQSink, SigMFSource, MetricSink; "
    "assert 'torch' not in sys.modules",
    "import sys; from semradio.runtime.registry import load_registry; load_registry(); "
    "assert 'torch' not in sys.modules",
    "import sys; from semradio.cli import main; main(['checkpoints', '--path']); assert 'torch' not in sys.modules",
])
def test_no_torch_on_import(code: str) -> None:
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_old_module_paths_still_import_the_moved_modules() -> None:
    import semradio.blocks.channel_math as old_cm
    import semradio.blocks.scopes.gui_support as old_gui
    from semradio.blocks import image_data, jscc_chain
    from semradio.blocks.hier import jscc_chain as new_chain
    from semradio.blocks.qtgui import gui_support
    from semradio.dsp import channel
    from semradio.models import data

    assert old_cm is channel and old_gui is gui_support and image_data is data and jscc_chain is new_chain


def test_no_test_or_script_edits_sys_path() -> None:
    r = subprocess.run(["git", "grep", "-n", "sys.path", "--", "tests", "tools", "flowgraphs"], cwd=ROOT,
                       capture_output=True, text=True)
    hits = [line for line in r.stdout.splitlines() if not line.startswith("tests/test_layout.py")]
    assert not hits, "\n".join(hits)


def test_packaging_lists_every_package() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    dirs = {v: k for k, v in cfg["package-dir"].items()}
    found = set()
    for d, pkg in dirs.items():
        for init in (ROOT / d).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / d)
            found.add(".".join([pkg, *rel.parts]))
    assert found == set(cfg["packages"])
