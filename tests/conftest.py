"""Shared pytest fixtures and markers.

Markers: ``slow`` (several seconds on a 2-core CPU: subprocesses, a pip install, whole flowgraphs;
``-m "not slow"`` leaves them out), ``gnuradio`` (needs GNU Radio 3.10 under the system Python, ``$SEMRADIO_GR_PYTHON`` or
``/usr/bin/python3``: skipped with the reason when it is absent).
"""

from __future__ import annotations

import functools
import os
import subprocess

import pytest

#: The Python that has GNU Radio (Debian's package installs it for the system Python).
GR_PYTHON = os.environ.get("SEMRADIO_GR_PYTHON", "/usr/bin/python3")


@functools.lru_cache(maxsize=1)
def gnuradio_unavailable() -> str | None:
    """None when GNU Radio's gr-zeromq imports under :data:`GR_PYTHON`, else why not."""
    from semradio.blocks.zeromq.gnuradio_peer import SCRIPT

    if not os.path.exists(GR_PYTHON):
        return f"{GR_PYTHON} does not exist"
    try:
        r = subprocess.run([GR_PYTHON, SCRIPT, "check"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {GR_PYTHON}: {exc}"
    if r.returncode != 0:
        last = (r.stderr.strip().splitlines() or ["?"])[-1]
        return f"{GR_PYTHON} cannot import gnuradio.zeromq ({last}); install Debian's gnuradio package"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gr_items = [i for i in items if i.get_closest_marker("gnuradio")]
    if gr_items and gnuradio_unavailable():
        skip = pytest.mark.skip(reason=f"GNU Radio not available: {gnuradio_unavailable()}")
        for item in gr_items:
            item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def _isolated_user_directory(tmp_path_factory):
    """The tests never read or write the user's own checkpoints: ``$SEMRADIO_HOME`` points at an
    empty temporary folder and ``$SEMRADIO_CHECKPOINTS`` is unset for the whole session (tests
    that need their own set them with monkeypatch)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SEMRADIO_HOME", str(tmp_path_factory.mktemp("semradio_home")))
    mp.delenv("SEMRADIO_CHECKPOINTS", raising=False)
    yield
    mp.undo()


def write_image_folder(path, n: int = 12, size: int = 32, seed: int = 0):
    """``n`` random ``size`` x ``size`` RGB PNGs in a new folder ``path`` (a user's image folder for
    the ``folder:DIR[:SIZE]`` dataset spec); returns ``path``."""
    import numpy as np
    from PIL import Image

    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(path / f"{i:02d}.png")
    return path


@pytest.fixture()
def image_folder_factory(tmp_path):
    """``make(name="imgs", n=12, size=32, seed=0)`` -> a folder of random PNGs under ``tmp_path``."""

    def make(name: str = "imgs", n: int = 12, size: int = 32, seed: int = 0):
        return write_image_folder(tmp_path / name, n, size, seed)

    return make


@pytest.fixture(scope="module")
def one_torch_thread():
    """Run a module's tests on one torch thread (restored afterwards): the neural-network tests
    stay quick and predictable on a small shared CI machine. Opt in with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
