"""PGDAttack block: attacked images within the budget and the box, tags, the same result as the
model function under the same seed, run-time parameters, bad frames dropped (the graph keeps
running), parameter checks at construction, and its docstring example."""

from __future__ import annotations

import doctest

import numpy as np
import pytest
import torch

from semradio.blocks import CollectSink, ImageSource
from semradio.blocks.codecs import PGDAttack
from semradio.models.attacks import distortion, pgd_attack
from semradio.runtime import Flowgraph, Frame

CODEC = "jscc_natural32_awgn_cbr1-6"


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    from semradio.models.data import natural_patches, subset

    return subset(natural_patches("eval"), 3, seed=0)


@pytest.fixture(scope="module")
def block() -> PGDAttack:
    torch.set_num_threads(1)
    b = PGDAttack(CODEC, eps_level=0.3, steps=3, snr_db=10.0, seed=7, device="cpu")
    return b


def test_output_within_budget_box_and_tags(block, images):
    block.start()
    out = block.work(Frame(images, {"seq": 0, "snr_db": 20.0}))
    assert isinstance(out.data, np.ndarray) and out.data.dtype == np.float32 and out.data.shape == images.shape
    d = (out.data - images).reshape(len(images), -1)
    assert np.all(np.linalg.norm(d, axis=1) <= 4.8 + 1e-4)
    assert out.data.min() >= 0.0 and out.data.max() <= 1.0
    assert out.tags["attack"] == f"pgd-l2:{CODEC}" and out.tags["attack_eps"] == pytest.approx(4.8)
    assert out.tags["attack_level"] == 0.3 and out.tags["seq"] == 0 and out.tags["snr_db"] == 20.0
    # the same delta as the model function with the same seed, at the frame's SNR
    gen = torch.Generator().manual_seed(7)
    x = torch.from_numpy(images)
    ref = pgd_attack(block.codec, x, 4.8, 3, snr_db=20.0, generator=gen)
    np.testing.assert_allclose(out.data, (x + ref).clamp(0, 1).numpy(), atol=1e-4)
    # it is an attack: the codec's output moves far more than under the same-size random error
    r = torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    r = (x + r * 4.8 / r.flatten(1).norm(dim=1)[:, None, None, None]).clamp(0, 1) - x
    assert float(distortion(block.codec, x, torch.from_numpy(out.data) - x, 20.0).mean()) \
        > 3 * float(distortion(block.codec, x, r, 20.0).mean())


def test_run_time_parameters_and_torch_input(block, images):
    block.start()
    block.set_param("eps_level", 0.1)
    try:
        out = block.work(Frame(torch.from_numpy(images[:1]), {"seq": 1}))
    finally:
        block.set_param("eps_level", 0.3)
    assert torch.is_tensor(out.data)
    assert out.tags["attack_eps"] == pytest.approx(1.6)
    assert float((out.data - torch.from_numpy(images[:1])).norm()) <= 1.6 + 1e-4
    with pytest.raises(ValueError):
        block.set_param("steps", 0)
    with pytest.raises(ValueError):
        block.set_param("eps_level", float("nan"))


@pytest.mark.parametrize("bad", [
    np.zeros((2, 3, 32, 32), dtype=np.float64),            # dtype
    np.zeros((2, 1, 32, 32), dtype=np.float32),            # channels
    np.zeros((2, 3, 30, 30), dtype=np.float32),            # not divisible by 4
    np.full((1, 3, 32, 32), 1.5, dtype=np.float32),        # outside [0, 1]
    np.full((1, 3, 32, 32), np.nan, dtype=np.float32),     # not finite
    "not an array",
    np.array([None]),                                      # object dtype
])
def test_bad_frames_are_dropped_with_a_warning(block, bad, caplog):
    n = block.dropped
    with caplog.at_level("WARNING", logger="semradio"):
        assert block.work(Frame(bad, {"seq": 5})) is None
    assert block.dropped == n + 1
    assert "PGDAttack" in caplog.text and "dropped" in caplog.text


def test_bad_snr_tag_and_missing_snr_are_dropped(images):
    b = PGDAttack(CODEC, steps=1, device="cpu")  # SNR-adaptive codec, no snr_db parameter
    b.start()
    assert b.work(Frame(images[:1], {"seq": 0})) is None
    assert b.work(Frame(images[:1], {"seq": 1, "snr_db": "loud"})) is None
    assert b.dropped == 2
    assert b.work(Frame(images[:1], {"seq": 2, "snr_db": 5.0})) is not None


def test_run_time_snr_must_be_a_number():
    b = PGDAttack(CODEC, steps=1, snr_db=10.0, device="cpu")
    with pytest.raises(ValueError, match="NaN"):
        b.set_param("snr_db", float("nan"))
    assert b.params["snr_db"] == 10.0


def test_construction_checks():
    for kw in ({"eps_level": -0.1}, {"steps": 0}, {"steps": 2.5}, {"seed": "x"}, {"codec": "no_such_codec"}):
        with pytest.raises(ValueError, match="PGDAttack"):
            PGDAttack(device="cpu", **kw)


def test_in_a_flowgraph(images):
    src = ImageSource(images, batch=2)
    atk = PGDAttack(CODEC, steps=1, snr_db=10.0, device="cpu")
    sink = CollectSink()
    fg = Flowgraph("attack")
    fg.connect(src, atk)
    fg.connect(atk, sink)
    fg.run(timeout=60)
    assert [f.batch for f in sink.frames] == [2, 1]
    assert all(f.tags["attack_eps"] == pytest.approx(4.8) for f in sink.frames)


def test_docstring_example():
    import semradio.blocks.codecs.attack as mod

    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
