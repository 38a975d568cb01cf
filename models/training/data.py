"""Training data for every trainer: random training batches and fixed held-out images of any
dataset the loaders of :mod:`semradio.models.data` read (``natural32``, ``natural64``,
``mnist[:DIR]``, ``cifar10:PATH``, ``folder:DIR[:SIZE]``), or of arrays given from Python.

    >>> data = TrainingData.from_spec("natural32")
    >>> batches = data.batches(seed=0)          # random 32x32 crops of the training photos
    >>> batches.sample(8).shape
    (8, 3, 32, 32)
    >>> data.held_out(16).shape                 # 16 held-out grid patches, always the same ones
    (16, 3, 32, 32)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from semradio.models import data as D


class BatchSource(Protocol):
    """Anything with ``sample(n) -> (n, C, H, W) float32`` images."""

    def sample(self, n: int) -> np.ndarray: ...


class ArrayBatches:
    """Random batches (with replacement) of an image array, optionally with horizontal flips."""

    def __init__(self, images: np.ndarray, rng: np.random.Generator, flips: bool) -> None:
        self.images = images
        self.rng = rng
        self.flips = flips

    def sample(self, n: int) -> np.ndarray:
        """``n`` images (n, C, H, W), drawn with replacement, each flipped with probability 1/2."""
        x = self.images[self.rng.integers(len(self.images), size=n)]
        if self.flips:
            flip = self.rng.random(n) < 0.5
            x[flip] = x[flip][..., ::-1]
        return x


@dataclass
class TrainingData:
    """One dataset as trainers use it.

    Attributes:
        spec: the dataset spec (or a name for arrays given from Python).
        train_images: training images (N, C, H, W) float32 in [0, 1], or None for the bundled
            photos, which are sampled as random crops instead.
        eval_images: held-out images (M, C, H, W).
        flips: horizontal flips in training batches (not for digits).
        description: what the data is, for the checkpoint's JSON.
    """

    spec: str
    train_images: np.ndarray | None
    eval_images: np.ndarray
    flips: bool
    description: str
    patch_size: int | None = None

    @classmethod
    def from_spec(cls, spec: str) -> "TrainingData":
        """The dataset of a spec string (ValueError for an unknown spec, FileNotFoundError for a
        missing file or folder)."""
        s = D.parse_spec(spec)
        eval_images = D.load_images(spec, "eval")
        if s.kind == "natural":
            size = s.size or 32
            return cls(spec, None, eval_images, True,
                       f"random {size}x{size} crops (+ horizontal flips) of the bundled photos "
                       f"{', '.join(D.TRAIN_PHOTOS)}; held out: {', '.join(D.EVAL_PHOTOS)}", patch_size=size)
        train = D.load_images(spec, "train")
        if s.kind == "mnist":
            return cls(spec, train, eval_images, False, f"MNIST {spec}: first {len(train)} images of the IDX file "
                                                        f"(no flips)")
        return cls(spec, train, eval_images, True, f"{spec}: {len(train)} training images (+ horizontal flips)")

    @classmethod
    def from_arrays(cls, train: np.ndarray, held_out: np.ndarray, name: str = "arrays",
                    flips: bool = True) -> "TrainingData":
        """Data given as arrays (N, C, H, W) float32 in [0, 1]."""
        for what, a in (("train", train), ("held_out", held_out)):
            if a.ndim != 4 or a.dtype != np.float32 or len(a) == 0:
                raise ValueError(f"{what} images must be non-empty float32 (N, C, H, W), got {a.dtype} {a.shape}")
        return cls(name, np.ascontiguousarray(train), np.ascontiguousarray(held_out), flips,
                   f"{name}: {len(train)} training images" + (" (+ horizontal flips)" if flips else ""))

    @classmethod
    def coerce(cls, data: "str | TrainingData") -> "TrainingData":
        """A :class:`TrainingData` from a spec string (or itself)."""
        return data if isinstance(data, TrainingData) else cls.from_spec(str(data))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the images."""
        return tuple(int(v) for v in self.eval_images.shape[1:])  # type: ignore[return-value]

    @property
    def tag(self) -> str:
        """Short name used in checkpoint names: natural32, natural64, mnist, cifar10, mnist-rgb32, lfw32,
        texture-NAME or folder."""
        try:
            s = D.parse_spec(self.spec)
        except ValueError:
            return self.spec
        named = {"natural": f"natural{s.size}", "mnist": "mnist", "cifar10": "cifar10", "mnist-rgb32": "mnist-rgb32",
                 "lfw32": "lfw32", "texture": f"texture-{s.path}"}
        return named.get(s.kind, "folder")

    def batches(self, seed: int, rng: np.random.Generator | None = None, augment: str = "flips") -> BatchSource:
        """Training batches; ``rng`` shares a generator with the caller (else one seeded from
        ``seed``). For the bundled photos: seeded random crops (:class:`semradio.models.data.PatchSampler`)
        with ``augment`` (one of :data:`semradio.models.data.AUGMENTS`); image arrays take only
        ``"flips"`` (their own default).

        Raises:
            ValueError: an unknown ``augment``, or one other than ``"flips"`` for image arrays.
        """
        if augment not in D.AUGMENTS:
            raise ValueError(f"augment must be one of {D.AUGMENTS}, got {augment!r}")
        if self.train_images is None:
            sampler = D.PatchSampler("train", self.patch_size or 32, seed=seed, augment=augment)
            if rng is not None:
                sampler.rng = rng
            return sampler
        if augment != "flips":
            raise ValueError(f"augment {augment!r} applies to the bundled photos (natural32, natural64), "
                             f"not to {self.spec}")
        return ArrayBatches(self.train_images, rng if rng is not None else np.random.default_rng(seed), self.flips)

    def held_out(self, n: int | None = None, seed: int = 0) -> np.ndarray:
        """``n`` held-out images drawn with a fixed seed (all when None or 0)."""
        return D.subset(self.eval_images, n or None, seed=seed)

    def check_codec(self, codec: Any) -> None:
        """Raise ValueError when the images do not match the codec's input (C, H, W): the
        denoisers' networks are built on the codec's latent shape."""
        want = (int(codec.in_channels), *(int(v) for v in codec.image_size))
        if self.image_shape != want:
            raise ValueError(f"data {self.spec!r} holds {self.image_shape[0]}x{self.image_shape[1]}x"
                             f"{self.image_shape[2]} images; the codec takes {want[0]}x{want[1]}x{want[2]} "
                             f"(use e.g. folder:DIR:{want[1]})")


__all__ = ["TrainingData", "ArrayBatches", "BatchSource"]
