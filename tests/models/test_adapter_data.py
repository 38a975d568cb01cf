"""The out-of-distribution dataset specs of semradio.models.data (mnist-rgb32, lfw32, texture:NAME):
shapes, ranges, disjoint train/eval splits, and that the existing specs still parse."""

from __future__ import annotations

import numpy as np
import pytest

from semradio.models import data as D

HAS_MNIST = D.default_mnist_dir().is_dir()


def test_grey_to_rgb32_pads_and_replicates() -> None:
    g = np.ones((2, 1, 28, 28), np.float32)
    out = D.grey_to_rgb32(g)
    assert out.shape == (2, 3, 32, 32) and out.dtype == np.float32
    assert out[:, :, 2:30, 2:30].min() == 1.0 and out.sum() == 2 * 3 * 28 * 28
    assert np.array_equal(out[:, 0], out[:, 2])
    odd = D.grey_to_rgb32(np.ones((1, 1, 25, 25), np.float32))
    assert odd[0, 0, 3:28, 3:28].min() == 1.0 and odd.sum() == 3 * 25 * 25
    with pytest.raises(ValueError, match="grey"):
        D.grey_to_rgb32(np.ones((1, 3, 28, 28), np.float32))


@pytest.mark.parametrize("spec,kind", [("mnist-rgb32", "mnist-rgb32"), ("lfw32", "lfw32"),
                                       ("texture:brick", "texture"), ("texture:gravel", "texture")])
def test_new_specs_parse(spec: str, kind: str) -> None:
    assert D.parse_spec(spec).kind == kind


@pytest.mark.parametrize("spec", ["texture:moon", "texture", "lfw32:x"])
def test_bad_specs_are_refused(spec: str) -> None:
    with pytest.raises(ValueError, match="unknown dataset spec"):
        D.parse_spec(spec)


@pytest.mark.parametrize("spec", ["natural32", "natural64", "mnist", "mnist:/x", "cifar10:/x", "photos", "photos:64",
                                  "folder:/x", "folder:/x:32"])
def test_existing_specs_still_parse(spec: str) -> None:
    D.parse_spec(spec)


@pytest.mark.parametrize("name", D.TEXTURES)
def test_texture_split_is_by_region(name: str) -> None:
    tr, ev = D.load_images(f"texture:{name}", "train"), D.load_images(f"texture:{name}", "eval")
    assert tr.shape[1:] == ev.shape[1:] == (3, 32, 32) and tr.dtype == np.float32
    assert 0 < len(tr) <= 64 and 150 <= len(ev) <= 192
    assert np.array_equal(tr[:, 0], tr[:, 1]) and 0.0 <= ev.min() and ev.max() <= 1.0
    # the regions do not overlap: no train patch appears in eval
    flat_ev = {p.tobytes() for p in ev[:, 0]}
    assert not any(p.tobytes() in flat_ev for p in tr[:, 0])
    assert len(D.load_images(f"texture:{name}", "all")) >= len(tr) + len(ev) - 1


def test_lfw32() -> None:
    tr, ev = D.load_images("lfw32", "train"), D.load_images("lfw32", "eval")
    assert tr.shape == (D.LFW_TRAIN, 3, 32, 32) and ev.shape == (100 - D.LFW_TRAIN, 3, 32, 32)
    assert 0.0 <= min(tr.min(), ev.min()) and max(tr.max(), ev.max()) <= 1.0
    assert np.array_equal(np.concatenate([tr, ev]), D.load_images("lfw32", "all"))


@pytest.mark.skipif(not HAS_MNIST, reason="MNIST IDX files not present")
def test_mnist_rgb32() -> None:
    ev = D.load_images("mnist-rgb32", "eval")
    assert ev.shape == (2000, 3, 32, 32)
    grey = D.load_mnist(None, "eval")
    assert np.array_equal(ev[:, 1, 2:30, 2:30], grey[:, 0]) and ev[:, :, :2].max() == 0.0
