"""A plugin package, installed for real with pip into this environment, adds a block that
`semradio blocks` lists, that a flowgraph file uses and that a JSCC chain takes as `--denoiser`,
and a checkpoint folder that the search path finds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())
SHIPPED = ROOT / "models" / "checkpoints"
DIST = "semradio-plugin-demo"
pytestmark = pytest.mark.slow  # a real pip install and subprocesses

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "semradio-plugin-demo"
version = "0.1.0"

[project.entry-points."semradio.blocks"]
demo = "semradio_plugin_demo.blocks"

[project.entry-points."semradio.checkpoints"]
demo = "semradio_plugin_demo:checkpoint_dirs"

[tool.setuptools]
packages = ["semradio_plugin_demo"]

[tool.setuptools.package-data]
semradio_plugin_demo = ["checkpoints/*"]
"""

BLOCKS = '''
"""A plugin's blocks."""

from semradio.runtime import Frame, SyncBlock


class LatentScale(SyncBlock):
    """Multiplies the equalizer's real latent by ``factor`` (a toy chain denoiser)."""

    def __init__(self, factor: float = 1.0, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="float32", shape=(None,))
        self.add_output("out", dtype="float32", shape=(None,))
        self.declare_param("factor", float(factor), "gain on the latent", float)

    @classmethod
    def for_chain(cls, config):
        return cls(factor=0.0 if config.snr_db < -50 else 1.0, name="scale")

    def work(self, frame: Frame) -> Frame:
        return frame.replace(frame.data * self.param("factor"), denoiser="latent_scale")


__all__ = ["LatentScale"]
'''

INIT = '''
from pathlib import Path


def checkpoint_dirs():
    return [str(Path(__file__).parent / "checkpoints")]
'''


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    src = tmp_path_factory.mktemp("plugin")
    pkg = src / "semradio_plugin_demo"
    (pkg / "checkpoints").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "__init__.py").write_text(textwrap.dedent(INIT))
    (pkg / "blocks.py").write_text(textwrap.dedent(BLOCKS))
    cfg = json.loads((SHIPPED / "jscc_natural32_rayleigh_cbr1-6.json").read_text())
    cfg.update(name="plugin_codec", weights="plugin_codec.safetensors")
    (pkg / "checkpoints" / "plugin_codec.json").write_text(json.dumps(cfg))
    shutil.copy(SHIPPED / "jscc_natural32_rayleigh_cbr1-6.safetensors", pkg / "checkpoints" / "plugin_codec.safetensors")
    r = _pip("install", "--no-deps", "--no-build-isolation", "--no-index", str(src))
    if r.returncode != 0:
        pytest.fail(f"pip install of the plugin failed:\n{r.stdout[-2000:]}\n{r.stderr[-3000:]}")
    yield src
    _pip("uninstall", "-y", DIST)


def _semradio(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semradio.cli", *args], capture_output=True, text=True, timeout=300)


def test_semradio_blocks_lists_the_plugin_block(plugin) -> None:
    r = _semradio("blocks", "LatentScale", "--json")
    assert r.returncode == 0, r.stderr
    (info,) = json.loads(r.stdout)
    assert info["provider"] == "demo" and info["module"] == "semradio_plugin_demo.blocks"
    assert [p["name"] for p in info["params"]] == ["factor"]


def test_a_flowgraph_file_uses_the_plugin_block(plugin, tmp_path) -> None:
    """The plugin block between the equalizer and the decoder: factor 1 reproduces the plain
    chain's PSNR, factor 0 (the latent zeroed) ruins it, so the block really ran."""
    graph = (ROOT / "flowgraphs" / "jscc_rayleigh.toml").read_text()
    graph = graph.replace('"equalizer", "decoder"', '"equalizer", "scale", "decoder"')
    graph += '\n[blocks.scale]\nclass = "LatentScale"\nkwargs = { factor = 1.0 }\n'
    path = tmp_path / "with_plugin.toml"
    path.write_text(graph)
    psnr = {}
    for factor in ("1.0", "0.0"):
        r = _semradio("run", str(path), "--set", "source.frames=4", "--set", f"scale.factor={factor}", "--json")
        assert r.returncode == 0, r.stderr
        psnr[factor] = json.loads(r.stdout)["summaries"]["sink"]["groups"][0]["psnr_db"]
    plain = _semradio("run", str(ROOT / "flowgraphs" / "jscc_rayleigh.toml"), "--set", "source.frames=4", "--json")
    assert psnr["1.0"] == pytest.approx(json.loads(plain.stdout)["summaries"]["sink"]["groups"][0]["psnr_db"])
    assert psnr["0.0"] < psnr["1.0"] - 5


def test_a_chain_takes_the_plugin_block_as_denoiser_and_its_checkpoint(plugin) -> None:
    r = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / "jscc_rayleigh.py"), "--denoiser", "LatentScale",
                        "--codec", "plugin_codec", "--frames", "2", "--json"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["denoiser"] == "LatentScale" and out["codec"] == "plugin_codec" and out["psnr_db"] > 20


def test_the_plugin_checkpoint_folder_is_on_the_search_path(plugin) -> None:
    r = _semradio("checkpoints", "plugin_codec", "--json")
    assert r.returncode == 0, r.stderr
    (row,) = json.loads(r.stdout)
    assert row["origin"] == "plugin:demo" and row["family"] == "jscc"
