"""Image loaders on small generated files of every format (IDX, CIFAR-10 batches, image folders)
and the bundled-photo patches."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

from semradio.models import data as D
# ------------------------------------------------------------------------------------- IDX
@pytest.mark.parametrize("name", ["t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz"])
def test_idx_roundtrip_raw_and_gzip(tmp_path, name):
    imgs = np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8)
    path = tmp_path / name
    D.write_idx(path, imgs)
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == name.endswith(".gz")
    header = gzip.decompress(raw)[:16] if name.endswith(".gz") else raw[:16]
    assert header == bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2
    np.testing.assert_array_equal(D.read_idx(path), imgs)
    x = D.load_mnist(tmp_path)  # a folder: finds the images file
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x[:, 0], imgs / 255.0, atol=1e-7)


def test_idx_other_types_and_labels(tmp_path):
    labels = np.arange(10, dtype=np.uint8)
    D.write_idx(tmp_path / "labels-idx1-ubyte", labels)
    np.testing.assert_array_equal(D.read_idx(tmp_path / "labels-idx1-ubyte"), labels)
    f = np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)
    D.write_idx(tmp_path / "f.idx", f)
    out = D.read_idx(tmp_path / "f.idx")
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, f)


def test_idx_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.idx"
    bad.write_bytes(b"\x12\x34\x08\x03")
    with pytest.raises(ValueError, match="bad.idx.*magic"):
        D.read_idx(bad)
    imgs = np.zeros((4, 5, 5), np.uint8)
    D.write_idx(tmp_path / "t.idx", imgs)
    (tmp_path / "trunc.idx").write_bytes((tmp_path / "t.idx").read_bytes()[:-7])
    with pytest.raises(ValueError, match="truncated"):
        D.read_idx(tmp_path / "trunc.idx")
    with pytest.raises(FileNotFoundError):
        D.load_mnist(tmp_path / "nowhere")


def test_mnist_split_first_train_last_eval(tmp_path):
    n = D.MNIST_TRAIN + 7
    imgs = (np.arange(n) % 251).astype(np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    D.write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", imgs)
    tr, ev = D.load_mnist(tmp_path, "train"), D.load_mnist(tmp_path, "eval")
    assert len(tr) == D.MNIST_TRAIN and len(ev) == 7
    np.testing.assert_allclose(ev[:, 0, 0, 0] * 255, np.arange(D.MNIST_TRAIN, n) % 251, atol=1e-4)


@pytest.mark.skipif(not D.default_mnist_dir().is_dir(), reason="../shared/datasets/mnist not present")
def test_shared_mnist_eval_split_is_last_2000():
    ev = D.load_images("mnist", "eval")
    assert ev.shape == (2000, 1, 28, 28)
    assert 0.0 <= ev.min() and ev.max() <= 1.0


# ---------------------------------------------------------------------------------- CIFAR
def _cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {b"batch_label": b"test batch", b"labels": rng.integers(0, 10, n).tolist(),
            b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
            b"filenames": [f"img{i}.png".encode() for i in range(n)]}


def test_cifar_batches_folder_and_file(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batches = {"data_batch_1": _cifar_batch(4, 1), "data_batch_2": _cifar_batch(3, 2), "test_batch": _cifar_batch(5, 3)}
    for name, obj in batches.items():
        (folder / name).write_bytes(pickle.dumps(obj, protocol=2))
    tr = D.load_cifar10(folder, "train")
    ev = D.load_cifar10(folder, "eval")
    assert tr.shape == (7, 3, 32, 32) and ev.shape == (5, 3, 32, 32)
    # CIFAR layout: 1024 red, then green, then blue values, row-major
    d = batches["test_batch"][b"data"]
    np.testing.assert_allclose(ev[2, 1, 3, 4] * 255, d[2, 1024 + 3 * 32 + 4], atol=1e-4)
    imgs, labels = D.load_cifar10_batch(folder / "data_batch_2")
    assert labels.tolist() == batches["data_batch_2"][b"labels"]
    assert D.load_images(f"cifar10:{folder}", "all").shape == (12, 3, 32, 32)
    assert D.load_cifar10(folder / "test_batch").shape == (5, 3, 32, 32)


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


def test_cifar_unpickler_refuses_code(tmp_path):
    blob = pickle.dumps({b"data": _Evil()}, protocol=2)
    with pytest.raises(pickle.UnpicklingError, match="refusing to load global"):
        D.safe_unpickle(blob)
    (tmp_path / "data_batch_1").write_bytes(blob)
    with pytest.raises(pickle.UnpicklingError):
        D.load_cifar10(tmp_path, "train")


def test_cifar_wrong_content_is_a_clear_error(tmp_path):
    (tmp_path / "b").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8)}, protocol=2))
    with pytest.raises(ValueError, match="uint8 array \\(N, 3072\\)"):
        D.load_cifar10_batch(tmp_path / "b")


# ---------------------------------------------------------------------------- image folders
def _write_pngs(folder, sizes, mode="RGB"):
    from PIL import Image

    folder.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = []
    for i, (h, w) in enumerate(sizes):
        shape = (h, w, 3) if mode == "RGB" else (h, w)
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        Image.fromarray(a, mode).save(folder / f"im{i}.png")
        arrays.append(a)
    (folder / "notes.txt").write_text("not an image")
    return arrays


def test_image_folder(tmp_path):
    arrays = _write_pngs(tmp_path / "f", [(8, 10)] * 3)
    x = D.load_image_folder(tmp_path / "f")
    assert x.shape == (3, 3, 8, 10) and x.dtype == np.float32
    np.testing.assert_allclose(x[1].transpose(1, 2, 0) * 255, arrays[1], atol=1e-4)
    assert D.load_images(f"folder:{tmp_path / 'f'}").shape == (3, 3, 8, 10)


def test_image_folder_mixed_sizes_need_size(tmp_path):
    _write_pngs(tmp_path / "g", [(8, 10), (12, 6)])
    with pytest.raises(ValueError, match="different sizes"):
        D.load_image_folder(tmp_path / "g")
    x = D.load_images(f"folder:{tmp_path / 'g'}:4")
    assert x.shape == (2, 3, 4, 4)
    grey = D.load_image_folder(tmp_path / "g", size=4, mode="L")
    assert grey.shape == (2, 1, 4, 4)
    with pytest.raises(FileNotFoundError):
        D.load_image_folder(tmp_path / "missing")


# ---------------------------------------------------------------------------- bundled photos
def test_split_is_by_whole_photo_and_disjoint():
    assert not set(D.TRAIN_PHOTOS) & set(D.EVAL_PHOTOS)
    assert set(D.TRAIN_PHOTOS) | set(D.EVAL_PHOTOS) == set(D.NATURAL_PHOTOS)
    # the stereo pair stays on one side
    assert {"motorcycle_left", "motorcycle_right"} <= set(D.TRAIN_PHOTOS)


def test_natural_patches_deterministic_and_valid():
    a = D.natural_patches("eval", 32)
    b = D.load_images("natural32", "eval")
    np.testing.assert_array_equal(a, b)
    assert a.ndim == 4 and a.shape[1:] == (3, 32, 32) and len(a) > 400
    assert a.dtype == np.float32 and 0.0 <= a.min() and a.max() <= 1.0
    assert (a.reshape(len(a), -1).std(axis=1) >= D.MIN_PATCH_STD).all()
    # grid patches are the exact pixels of the photo
    photo = D.load_photo(D.EVAL_PHOTOS[0])
    grid = D.grid_patches(photo, 32)
    np.testing.assert_allclose(grid[1].transpose(1, 2, 0) * 255, photo[0:32, 32:64], atol=1e-4)
    assert D.load_images("natural64", "eval").shape[1:] == (3, 64, 64)


def test_patch_sampler_seeded():
    s1, s2 = D.PatchSampler(seed=3), D.PatchSampler(seed=3)
    x1, x2 = s1.sample(8), s2.sample(8)
    np.testing.assert_array_equal(x1, x2)
    assert x1.shape == (8, 3, 32, 32)
    assert not np.array_equal(x1, D.PatchSampler(seed=4).sample(8))


def test_dihedral_is_the_group_of_the_square():
    p = np.random.default_rng(0).random((5, 5, 3)).astype(np.float32)
    outs = [D.dihedral(p, k) for k in range(8)]
    assert np.array_equal(outs[0], p)
    assert len({o.tobytes() for o in outs}) == 8, "eight distinct symmetries of a generic patch"
    np.testing.assert_array_equal(D.dihedral(D.dihedral(p, 1), 3), p)  # a quarter turn then three more
    np.testing.assert_array_equal(D.dihedral(D.dihedral(p, 5), 5), p)  # every reflection is its own inverse
    np.testing.assert_array_equal(outs[4], p[:, ::-1])
    with pytest.raises(ValueError, match="0..7"):
        D.dihedral(p, 8)


def test_patch_sampler_augmentations():
    plain = D.PatchSampler(seed=3, augment="none").sample(6)
    assert not np.array_equal(plain, D.PatchSampler(seed=3).sample(6)), "flips by default"
    np.testing.assert_array_equal(plain, D.PatchSampler(seed=3, flips=False).sample(6))
    scaled = D.PatchSampler(seed=3, augment="dihedral-scale")
    assert len(scaled.photos) == len(D.TRAIN_PHOTOS) * len(D.AUGMENT_SCALES)
    full, half = scaled.photos[0], scaled.photos[2]
    assert abs(half.shape[0] - full.shape[0] / 2) <= 1 and abs(half.shape[1] - full.shape[1] / 2) <= 1
    x = scaled.sample(16)
    assert x.shape == (16, 3, 32, 32) and x.dtype == np.float32 and 0 <= x.min() and x.max() <= 1
    np.testing.assert_array_equal(x, D.PatchSampler(seed=3, augment="dihedral-scale").sample(16))
    with pytest.raises(ValueError, match="augment"):
        D.PatchSampler(augment="mixup")


def test_augment_other_than_flips_needs_the_photos():
    from semradio.models.training.data import TrainingData

    arrays = TrainingData.from_arrays(np.zeros((4, 1, 8, 8), np.float32), np.zeros((2, 1, 8, 8), np.float32))
    assert arrays.batches(0, augment="flips") is not None
    with pytest.raises(ValueError, match="bundled photos"):
        arrays.batches(0, augment="dihedral")
    assert TrainingData.from_spec("natural32").batches(0, augment="dihedral").augment == "dihedral"


def test_spec_errors():
    for bad in ("imagenet", "cifar10", "folder", "natural16"):
        with pytest.raises(ValueError, match="unknown dataset spec"):
            D.parse_spec(bad)
    with pytest.raises(ValueError, match="split"):
        D.natural_patches("test")
