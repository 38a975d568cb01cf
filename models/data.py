"""Image data for the JSCC chain: bundled natural photos, MNIST IDX, CIFAR-10 batches, folders.

Every loader returns float32 images (N, C, H, W) with values in [0, 1].

Default data (no download): the colour photographs bundled with scikit-image
(``skimage/data``) and scikit-learn (``load_sample_images``), split by *whole photo*:

=========== =====================================================================================
train       astronaut, rocket, motorcycle_left, motorcycle_right, hubble_deep_field, retina,
            immunohistochemistry (skimage ``ihc.png``), flower (sklearn)
eval        chelsea (the cat), coffee, china (sklearn)
=========== =====================================================================================

The stereo pair motorcycle_left/right stays on one side of the split (they are near
duplicates). Grey-level photos (camera, brick, grass, gravel, moon, ...) are not used for the
codecs: they code colour and a replicated grey image is a different source (three of them are
out-of-distribution sets, below). Synthetic images (colour
wheel ``color.png``, chessboard, logo) are not natural photos and are left out too.

Patches: evaluation uses a fixed, non-overlapping grid (stride = patch size, starting at the
top-left corner) of every eval photo; training draws seeded random crops from a photo chosen
uniformly (so a large photo such as retina does not dominate) with random horizontal flips.
Near-uniform patches (pixel standard deviation below ``MIN_PATCH_STD`` = 0.02 over the patch)
are skipped in both: a flat patch carries no structure and would only inflate PSNR.

Other sources, from a path:

* MNIST IDX files (``*-idx3-ubyte`` raw or ``.gz``): :func:`read_idx`, :func:`load_mnist`;
  ``../shared/datasets/mnist`` (the MNIST test set) is used with the split of its README:
  the first 8,000 images for training, the last 2,000 for evaluation.
* CIFAR-10 python batches (``data_batch_1`` ... ``test_batch``): :func:`load_cifar10`. CIFAR
  ships pickles; they are read with :class:`RestrictedUnpickler`, which resolves only the three
  numpy globals an ndarray needs (``_reconstruct``, ``ndarray``, ``dtype``) and refuses every
  other global, so a crafted file cannot run code.
* folders of images (Pillow): :func:`load_image_folder`.

Out-of-distribution (OOD) sets for the natural-photo codecs (grey sources replicated to RGB, no
download; the latent adapter of :mod:`semradio.models.adapter` is trained one-shot on the
"train" split and evaluated on the "eval" split, which never overlap):

* ``mnist-rgb32[:DIR]``: MNIST digits padded 28x28 -> 32x32 (2 black pixels each side) and
  replicated to 3 channels (:func:`load_mnist_rgb32`); same split as ``mnist``;
* ``lfw32``: the 100 faces of scikit-image's LFW subset (``skimage.data.lfw_subset()``, 25x25
  grey), resized (bicubic) to 32x32 and replicated to 3 channels (:func:`load_lfw32`); train:
  the first :data:`LFW_TRAIN` = 20 faces, eval: the other 80;
* ``texture:NAME`` (NAME in :data:`TEXTURES`: brick, grass, gravel): 32x32 grid patches of the
  512x512 grey texture photo, replicated to 3 channels (:func:`texture_patches`); train: the
  patches of the top :data:`TEXTURE_TRAIN_ROWS` = 128 rows (one region), eval: the patches
  below it.

:func:`load_images` picks one by a spec string (see :data:`DATASETS`).
"""

from __future__ import annotations

import functools
import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from semradio.models.safe_pickle import RestrictedUnpickler
from semradio.models.safe_pickle import safe_unpickle as _safe_unpickle

#: Bundled colour photos: name -> (package, file name inside the package's data folder).
NATURAL_PHOTOS: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "astronaut.png"),
    "rocket": ("skimage", "rocket.jpg"),
    "motorcycle_left": ("skimage", "motorcycle_left.png"),
    "motorcycle_right": ("skimage", "motorcycle_right.png"),
    "hubble_deep_field": ("skimage", "hubble_deep_field.jpg"),
    "retina": ("skimage", "retina.jpg"),
    "immunohistochemistry": ("skimage", "ihc.png"),
    "flower": ("sklearn", "flower.jpg"),
    "chelsea": ("skimage", "chelsea.png"),
    "coffee": ("skimage", "coffee.png"),
    "china": ("sklearn", "china.jpg"),
}
#: Photos whose patches train the codecs.
TRAIN_PHOTOS: tuple[str, ...] = ("astronaut", "rocket", "motorcycle_left", "motorcycle_right",
                                 "hubble_deep_field", "retina", "immunohistochemistry", "flower")
#: Held-out photos: evaluation only.
EVAL_PHOTOS: tuple[str, ...] = ("chelsea", "coffee", "china")
#: Patches with a pixel standard deviation below this are skipped (near-uniform).
MIN_PATCH_STD = 0.02
#: MNIST split of ../shared/datasets/README.md: first 8,000 train, last 2,000 eval.
MNIST_TRAIN = 8000

#: Spec strings understood by :func:`load_images`.
DATASETS = {
    "natural32": "32x32 patches of the bundled colour photos (split by photo, see module doc)",
    "natural64": "64x64 patches of the bundled colour photos",
    "mnist[:DIR]": "MNIST IDX images (default DIR: ../shared/datasets/mnist), 1x28x28",
    "cifar10:PATH": "CIFAR-10 python batches (a cifar-10-batches-py folder or one batch file), 3x32x32",
    "folder:DIR[:SIZE]": "every image in DIR (Pillow), RGB, centre-cropped/resized to SIZE if given",
    "photos[:SIZE]": "the bundled photos of the split as whole images, centre-cropped square and resized to "
                     "SIZE (default 128)",
    "mnist-rgb32[:DIR]": "MNIST padded to 32x32 and replicated to RGB, 3x32x32 (OOD set of the natural codecs)",
    "lfw32": "the 100 LFW faces of scikit-image resized to 32x32, RGB-replicated (train: first 20, eval: 80)",
    "texture:NAME": "32x32 patches of a scikit-image grey texture (brick, grass, gravel), RGB-replicated "
                    "(train: top 128 rows, eval: the rest)",
}
#: Grey texture photos of scikit-image usable as ``texture:NAME`` (512x512 uint8 each).
TEXTURES: tuple[str, ...] = ("brick", "grass", "gravel")
#: ``texture:NAME`` split: patches whose top edge is above this row train, the others evaluate.
TEXTURE_TRAIN_ROWS = 128
#: ``lfw32`` split: the first 20 faces train, the other 80 evaluate.
LFW_TRAIN = 20


# ----------------------------------------------------------------------- bundled photos
def _package_data_dir(package: str) -> Path:
    if package == "skimage":
        import skimage.data

        return Path(skimage.data.__file__).resolve().parent
    if package == "sklearn":
        import sklearn.datasets

        return Path(sklearn.datasets.__file__).resolve().parent / "images"
    raise ValueError(f"unknown package {package!r}")


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """A bundled colour photo as uint8 (H, W, 3) (cached; read-only)."""
    from PIL import Image

    try:
        package, filename = NATURAL_PHOTOS[name]
    except KeyError:
        raise ValueError(f"unknown photo {name!r}; bundled photos: {sorted(NATURAL_PHOTOS)}") from None
    path = _package_data_dir(package) / filename
    with Image.open(path) as im:
        a = np.array(im.convert("RGB"), dtype=np.uint8)
    a.setflags(write=False)
    return a


def photos_for(split: str) -> tuple[str, ...]:
    """Photo names of a split: "train", "eval" or "all"."""
    if split == "train":
        return TRAIN_PHOTOS
    if split == "eval":
        return EVAL_PHOTOS
    if split == "all":
        return TRAIN_PHOTOS + EVAL_PHOTOS
    raise ValueError(f"split must be 'train', 'eval' or 'all', got {split!r}")


def grid_patches(image: np.ndarray, size: int, stride: int | None = None) -> np.ndarray:
    """Patches (N, C, size, size) float32 in [0, 1] on a grid from the top-left corner.

    ``image`` is uint8 (H, W, C) (or (H, W)); ``stride`` defaults to ``size`` (no overlap);
    partial patches at the right/bottom edges are dropped.
    """
    a = np.asarray(image)
    if a.ndim == 2:
        a = a[:, :, None]
    stride = stride or size
    h, w = a.shape[:2]
    out = [a[y:y + size, x:x + size] for y in range(0, h - size + 1, stride)
           for x in range(0, w - size + 1, stride)]
    if not out:
        return np.zeros((0, a.shape[2], size, size), np.float32)
    return (np.stack(out).transpose(0, 3, 1, 2).astype(np.float32) / 255.0)


def drop_flat(patches: np.ndarray, min_std: float = MIN_PATCH_STD) -> np.ndarray:
    """Patches whose pixel standard deviation is at least ``min_std``."""
    if min_std <= 0 or len(patches) == 0:
        return patches
    keep = patches.reshape(len(patches), -1).std(axis=1) >= min_std
    return patches[keep]


def natural_patches(split: str = "eval", size: int = 32, stride: int | None = None,
                    min_std: float = MIN_PATCH_STD) -> np.ndarray:
    """Deterministic grid patches (N, 3, size, size) of the photos of ``split`` (photo order as
    in :data:`TRAIN_PHOTOS` / :data:`EVAL_PHOTOS`, row-major within a photo)."""
    parts = [drop_flat(grid_patches(load_photo(n), size, stride), min_std) for n in photos_for(split)]
    return np.concatenate(parts)


def whole_photos(split: str = "eval", size: int = 128) -> np.ndarray:
    """The photos of ``split`` as whole images (N, 3, size, size) float32 in [0, 1]: each
    centre-cropped to a square and resized (bicubic) to ``size`` (the digital baseline's whole
    images; the held-out ones are chelsea, coffee and china)."""
    from PIL import Image

    if not 8 <= int(size) <= 4096:
        raise ValueError(f"photo size must be in 8..4096, got {size!r}")
    out = [np.asarray(_resize_crop(Image.fromarray(load_photo(n)), int(size)), np.float32).transpose(2, 0, 1) / 255.0
           for n in photos_for(split)]
    return np.stack(out)


#: Augmentations of :class:`PatchSampler` (``semradio train jscc --augment``).
AUGMENTS = ("none", "flips", "dihedral", "dihedral-scale")
#: Photo scales of the ``dihedral-scale`` augmentation (1 = the photo as bundled).
AUGMENT_SCALES = (1.0, 0.75, 0.5)


def dihedral(p: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th (0..7) of the 8 symmetries of the square applied to an (H, W, C) patch:
    ``k % 4`` quarter turns, then a horizontal flip when ``k >= 4`` (k = 0: unchanged)."""
    if not 0 <= int(k) < 8:
        raise ValueError(f"dihedral index must be in 0..7, got {k!r}")
    q = np.rot90(p, int(k) % 4, axes=(0, 1))
    return q[:, ::-1] if k >= 4 else q


class PatchSampler:
    """Seeded random crops of the photos of a split, for training.

    Each item: a photo chosen uniformly, a uniform crop position, re-drawn while the patch is
    near-uniform (std < ``min_std``), then the augmentation:

    * ``"flips"`` (default): a horizontal flip with probability 1/2;
    * ``"dihedral"``: one of the 8 symmetries of the square, uniformly (:func:`dihedral`);
    * ``"dihedral-scale"``: the same, from the photo at a scale drawn uniformly from
      :data:`AUGMENT_SCALES` (Pillow's bicubic resize, computed once): a downscaled photo puts
      more edges and texture into one patch, as in the held-out roofs of ``china``;
    * ``"none"``.

    Args:
        split: "train" (default), "eval" or "all".
        size: patch side.
        seed: seed of the numpy generator (same seed -> same patch sequence).
        flips: False is ``augment="none"`` (kept for existing callers).
        augment: one of :data:`AUGMENTS`.
    """

    def __init__(self, split: str = "train", size: int = 32, seed: int = 0, flips: bool = True,
                 min_std: float = MIN_PATCH_STD, augment: str = "flips") -> None:
        if augment not in AUGMENTS:
            raise ValueError(f"augment must be one of {AUGMENTS}, got {augment!r}")
        if not flips and augment not in ("flips", "none"):
            raise ValueError(f"flips=False contradicts augment={augment!r}")
        self.augment = augment if flips else "none"
        self.size = int(size)
        if self.augment == "dihedral-scale":
            self.photos = [p for n in photos_for(split) for p in _scaled_photos(load_photo(n), self.size)]
        else:
            self.photos = [load_photo(n).astype(np.float32) / 255.0 for n in photos_for(split)]
        self.flips = self.augment != "none"
        self.min_std = float(min_std)
        self.rng = np.random.default_rng(seed)

    def sample(self, n: int) -> np.ndarray:
        """``n`` patches (n, 3, size, size) float32 in [0, 1]."""
        s = self.size
        out = np.empty((n, 3, s, s), np.float32)
        aug = self.augment
        for i in range(n):
            for _ in range(100):
                img = self.photos[self.rng.integers(len(self.photos))]
                y = self.rng.integers(img.shape[0] - s + 1)
                x = self.rng.integers(img.shape[1] - s + 1)
                p = img[y:y + s, x:x + s]
                if p.std() >= self.min_std:
                    break
            if aug == "flips":
                if self.rng.random() < 0.5:
                    p = p[:, ::-1]
            elif aug != "none":
                p = dihedral(p, int(self.rng.integers(8)))
            out[i] = p.transpose(2, 0, 1)
        return out


def _scaled_photos(photo: np.ndarray, size: int) -> list[np.ndarray]:
    """``photo`` (H, W, 3) uint8 at each of :data:`AUGMENT_SCALES` (bicubic), float32 in [0, 1];
    scales that would leave a side below ``size`` are skipped."""
    from PIL import Image

    im = Image.fromarray(photo)
    out = []
    for sc in AUGMENT_SCALES:
        w, h = round(im.width * sc), round(im.height * sc)
        if min(w, h) < size:
            continue
        r = im if sc == 1.0 else im.resize((w, h), Image.BICUBIC)
        out.append(np.asarray(r, np.float32) / 255.0)
    return out


# ------------------------------------------------------------------------------- MNIST IDX
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _open_maybe_gz(path: str | os.PathLike) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        data = f.read()
    return gzip.decompress(data) if head == b"\x1f\x8b" else data


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """An IDX file (raw or gzip) as a numpy array.

    Layout: big-endian magic ``0x0000TTDD`` (TT = element type: 0x08 uint8, 0x09 int8,
    0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64; DD = number of dimensions), then DD
    uint32 sizes, then the elements.

    Raises:
        ValueError: a bad magic, an unknown type, or a truncated file (naming the file).
    """
    raw = _open_maybe_gz(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic {raw[:4].hex()})")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{type_code:02x}")
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = np.dtype(_IDX_TYPES[type_code])
    count = int(np.prod(dims)) if dims else 1
    body = raw[4 + 4 * ndim:]
    if len(body) < count * dtype.itemsize:
        raise ValueError(f"{path}: truncated IDX data ({len(body)} bytes for {count} x {dtype.itemsize})")
    arr = np.frombuffer(body, dtype, count).reshape(dims)
    return arr.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool | None = None) -> None:
    """Write an array as IDX (gzip when ``compress`` or the path ends in .gz); the inverse of
    :func:`read_idx` (tests make small MNIST-like files with it)."""
    a = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    try:
        code = codes[a.dtype.newbyteorder("=")]
    except KeyError:
        raise ValueError(f"dtype {a.dtype} has no IDX type") from None
    blob = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    blob += a.astype(np.dtype(_IDX_TYPES[code])).tobytes()
    if compress or (compress is None and str(path).endswith(".gz")):
        blob = gzip.compress(blob)
    Path(path).write_bytes(blob)


def default_mnist_dir() -> Path:
    """``$SEMRADIO_DATASETS/mnist`` if set, else ``<project>/../shared/datasets/mnist``."""
    env = os.environ.get("SEMRADIO_DATASETS")
    if env:
        return Path(env) / "mnist"
    return Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "mnist"


def _find_idx_images(directory: Path, prefix: str = "t10k") -> Path:
    for name in (f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"):
        if (directory / name).is_file():
            return directory / name
    found = sorted(p for p in directory.glob("*idx3*"))
    if not found:
        raise FileNotFoundError(f"no MNIST images (*idx3-ubyte[.gz]) in {directory}")
    return found[0]


def load_mnist(path: str | os.PathLike | None = None, split: str = "all") -> np.ndarray:
    """MNIST images (N, 1, 28, 28) float32 in [0, 1] from an IDX file or a folder holding one.

    ``split``: "all", "train" (first :data:`MNIST_TRAIN` = 8,000) or "eval" (the rest).
    """
    p = Path(path) if path is not None else default_mnist_dir()
    if p.is_dir():
        p = _find_idx_images(p)
    if not p.exists():
        raise FileNotFoundError(f"MNIST not found at {p} (the project runs without it: use natural32)")
    arr = read_idx(p)
    if arr.ndim != 3:
        raise ValueError(f"{p}: MNIST images must be a 3-D IDX array (N, rows, cols), got {arr.shape}")
    imgs = arr.astype(np.float32)[:, None] / 255.0
    return _split(imgs, split, MNIST_TRAIN)


def _split(arr: np.ndarray, split: str, n_train: int) -> np.ndarray:
    if split == "all":
        return arr
    if split == "train":
        return arr[:n_train]
    if split == "eval":
        return arr[n_train:]
    raise ValueError(f"split must be 'train', 'eval' or 'all', got {split!r}")


# ------------------------------------------------------------------------------ CIFAR-10
def safe_unpickle(blob: bytes) -> Any:
    """Unpickle a CIFAR-10 batch with :class:`semradio.models.safe_pickle.RestrictedUnpickler`
    (bytes keys kept, as CIFAR expects): arrays only, no code."""
    return _safe_unpickle(blob, encoding="bytes")


CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))


def load_cifar10_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> (images (N, 3, 32, 32) float32 in [0, 1], labels (N,) int64)."""
    obj = safe_unpickle(Path(path).read_bytes())
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: a CIFAR batch is a dict, got {type(obj).__name__}")
    data = obj.get(b"data", obj.get("data"))
    labels = obj.get(b"labels", obj.get("labels", obj.get(b"fine_labels")))
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        shape = getattr(data, "shape", None)
        raise ValueError(f"{path}: 'data' must be a uint8 array (N, 3072), got {type(data).__name__} {shape}")
    imgs = data.reshape(-1, 3, 32, 32).astype(np.float32) / 255.0
    lab = np.asarray(labels if labels is not None else np.zeros(len(imgs)), dtype=np.int64)
    return imgs, lab


def load_cifar10(path: str | os.PathLike, split: str = "all") -> np.ndarray:
    """CIFAR-10 images (N, 3, 32, 32) float32 from a ``cifar-10-batches-py`` folder or one batch.

    In a folder, ``split`` "train" reads ``data_batch_1..5``, "eval" reads ``test_batch`` and
    "all" both (missing batches are skipped; none found is an error). For a single file the
    split is ignored.
    """
    p = Path(path)
    if p.is_file():
        return load_cifar10_batch(p)[0]
    names = {"train": CIFAR_TRAIN_BATCHES, "eval": ("test_batch",),
             "all": CIFAR_TRAIN_BATCHES + ("test_batch",)}.get(split)
    if names is None:
        raise ValueError(f"split must be 'train', 'eval' or 'all', got {split!r}")
    parts = [load_cifar10_batch(p / n)[0] for n in names if (p / n).is_file()]
    if not parts:
        raise FileNotFoundError(f"no CIFAR-10 batches {names} in {p}")
    return np.concatenate(parts)


# --------------------------------------------------------------------------- image folders
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def load_image_folder(path: str | os.PathLike, size: int | None = None, mode: str = "RGB") -> np.ndarray:
    """Every image file in a folder (sorted by name) as (N, C, H, W) float32 in [0, 1].

    Args:
        path: the folder (not recursive).
        size: resize the short side to ``size`` and centre-crop to ``size x size``; None keeps
            the images as they are (they must then all have the same size).
        mode: Pillow mode, "RGB" (C = 3) or "L" (C = 1).
    """
    from PIL import Image

    p = Path(path)
    if not p.is_dir():
        raise FileNotFoundError(f"image folder {p} does not exist")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in {p}")
    out = []
    for f in files:
        with Image.open(f) as im:
            im = im.convert(mode)
            if size is not None:
                im = _resize_crop(im, size)
            a = np.asarray(im, dtype=np.float32) / 255.0
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    shapes = {a.shape for a in out}
    if len(shapes) > 1:
        raise ValueError(f"images in {p} have different sizes {sorted(shapes)}; pass size=")
    return np.stack(out)


def _resize_crop(im: Any, size: int) -> Any:
    from PIL import Image

    w, h = im.size
    s = size / min(w, h)
    if s != 1.0:
        im = im.resize((max(size, round(w * s)), max(size, round(h * s))), Image.Resampling.BICUBIC)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return im.crop((left, top, left + size, top + size))


# ------------------------------------------------------------------ out-of-distribution sets
def grey_to_rgb32(images: np.ndarray) -> np.ndarray:
    """Grey images (N, 1, h, w) with h, w <= 32 -> (N, 3, 32, 32): zero-padded to 32x32 (centred,
    the extra pixel of an odd margin at the bottom/right) and replicated to 3 channels."""
    a = np.asarray(images, np.float32)
    if a.ndim != 4 or a.shape[1] != 1 or a.shape[2] > 32 or a.shape[3] > 32:
        raise ValueError(f"grey_to_rgb32: expected grey images (N, 1, h<=32, w<=32), got {a.shape}")
    top, left = (32 - a.shape[2]) // 2, (32 - a.shape[3]) // 2
    out = np.zeros((len(a), 1, 32, 32), np.float32)
    out[:, :, top:top + a.shape[2], left:left + a.shape[3]] = a
    return np.repeat(out, 3, axis=1)


def load_mnist_rgb32(path: str | os.PathLike | None = None, split: str = "all") -> np.ndarray:
    """MNIST (split as :func:`load_mnist`) as (N, 3, 32, 32) float32: padded 28 -> 32, RGB-replicated."""
    return grey_to_rgb32(load_mnist(path, split))


def load_lfw32(split: str = "all") -> np.ndarray:
    """The 100 faces of ``skimage.data.lfw_subset()`` (25x25 grey in [0, 1]) resized (bicubic,
    clipped to [0, 1]) to 32x32 and replicated to RGB: (N, 3, 32, 32) float32. ``split``: "train"
    (first :data:`LFW_TRAIN`), "eval" (the others) or "all"."""
    import skimage.data
    from PIL import Image

    faces = np.asarray(skimage.data.lfw_subset()[:100], np.float32)
    big = np.stack([np.asarray(Image.fromarray(f, mode="F").resize((32, 32), Image.Resampling.BICUBIC))
                    for f in faces]).clip(0.0, 1.0).astype(np.float32)
    return _split(np.repeat(big[:, None], 3, axis=1), split, LFW_TRAIN)


def texture_patches(name: str, split: str = "all", size: int = 32) -> np.ndarray:
    """Non-overlapping ``size`` x ``size`` grid patches of a scikit-image grey texture photo
    (:data:`TEXTURES`), near-uniform ones dropped (:func:`drop_flat`), RGB-replicated:
    (N, 3, size, size) float32. ``split`` "train": patches whose top edge lies above row
    :data:`TEXTURE_TRAIN_ROWS` (one region of the photo); "eval": the others; "all": both."""
    import skimage.data

    if name not in TEXTURES:
        raise ValueError(f"unknown texture {name!r}; expected one of {TEXTURES}")
    img = np.asarray(getattr(skimage.data, name)(), np.uint8)
    if split not in ("train", "eval", "all"):
        raise ValueError(f"split must be 'train', 'eval' or 'all', got {split!r}")
    rows = {"train": img[:TEXTURE_TRAIN_ROWS], "eval": img[TEXTURE_TRAIN_ROWS:], "all": img}[split]
    grey = drop_flat(grid_patches(rows, size))
    return np.repeat(grey, 3, axis=1)


# ----------------------------------------------------------------------------- dispatcher
@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec: ``kind`` and optional ``path`` / ``size``."""

    kind: str
    path: str | None = None
    size: int | None = None


def parse_spec(spec: str) -> DatasetSpec:
    """Parse a spec string of :data:`DATASETS` (ValueError listing the accepted forms)."""
    kind, _, rest = spec.partition(":")
    kind = kind.lower()
    if kind in ("natural32", "natural64", "natural") and not rest:
        return DatasetSpec("natural", size=64 if kind == "natural64" else 32)
    if kind == "mnist":
        return DatasetSpec("mnist", rest or None)
    if kind == "mnist-rgb32":
        return DatasetSpec("mnist-rgb32", rest or None)
    if kind == "lfw32" and not rest:
        return DatasetSpec("lfw32", size=32)
    if kind == "texture" and rest in TEXTURES:
        return DatasetSpec("texture", rest, 32)
    if kind == "cifar10" and rest:
        return DatasetSpec("cifar10", rest)
    if kind == "photos" and (not rest or rest.isdigit()):
        return DatasetSpec("photos", size=int(rest) if rest else 128)
    if kind == "folder" and rest:
        path, _, size = rest.rpartition(":") if rest.rsplit(":", 1)[-1].isdigit() else (rest, "", "")
        return DatasetSpec("folder", path, int(size) if size else None)
    raise ValueError(f"unknown dataset spec {spec!r}; expected one of: " + ", ".join(DATASETS))


def load_images(spec: str, split: str = "eval") -> np.ndarray:
    """Images (N, C, H, W) float32 in [0, 1] for a spec of :data:`DATASETS` and a split
    ("train", "eval" or "all"; folders ignore it)."""
    s = parse_spec(spec)
    if s.kind == "natural":
        return natural_patches(split, s.size or 32)
    if s.kind == "mnist":
        return load_mnist(s.path, split)
    if s.kind == "mnist-rgb32":
        return load_mnist_rgb32(s.path, split)
    if s.kind == "lfw32":
        return load_lfw32(split)
    if s.kind == "texture":
        return texture_patches(str(s.path), split)
    if s.kind == "cifar10":
        return load_cifar10(s.path, split)
    if s.kind == "photos":
        return whole_photos(split, s.size or 128)
    return load_image_folder(s.path, s.size)


def subset(images: np.ndarray, n: int | None, seed: int | None = None) -> np.ndarray:
    """The first ``n`` images, or ``n`` drawn without replacement with ``seed`` (None: all)."""
    if n is None or n >= len(images):
        return images
    if seed is None:
        return images[:n]
    idx = np.sort(np.random.default_rng(seed).choice(len(images), n, replace=False))
    return images[idx]


__all__: Sequence[str] = [
    "NATURAL_PHOTOS", "TRAIN_PHOTOS", "EVAL_PHOTOS", "MIN_PATCH_STD", "MNIST_TRAIN", "DATASETS",
    "load_photo", "photos_for", "whole_photos", "grid_patches", "drop_flat", "natural_patches", "PatchSampler",
    "read_idx", "write_idx", "default_mnist_dir", "load_mnist", "RestrictedUnpickler", "safe_unpickle",
    "load_cifar10_batch", "load_cifar10", "load_image_folder", "DatasetSpec", "parse_spec", "load_images",
    "subset", "TEXTURES", "TEXTURE_TRAIN_ROWS", "LFW_TRAIN", "grey_to_rgb32", "load_mnist_rgb32", "load_lfw32",
    "texture_patches",
]
