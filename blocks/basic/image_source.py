"""ImageSource: batches of images from a dataset (bundled photos, MNIST, CIFAR-10, folders)."""

from __future__ import annotations

from typing import Any

import numpy as np

from semradio.runtime import WORK_DONE, Frame, SourceBlock

from semradio.models import data as D
class ImageSource(SourceBlock):
    """Emits batches of images (B, C, H, W) float32 in [0, 1].

    Frames: ``frames=None`` makes one pass over the data (the last frame may hold fewer than
    ``batch`` images); ``frames=n`` emits n frames of exactly ``batch`` images, cycling over the
    data as often as needed (``-1``: forever). With ``shuffle`` the order is a seeded
    permutation, redrawn at each pass.

    Parameters
    ----------
    data : str or array_like, default "natural32"
        A dataset spec (``"natural32"`` — the default, held-out 32x32 patches of the bundled
        photos, no download —, ``"natural64"``, ``"mnist[:DIR]"``, ``"cifar10:PATH"``,
        ``"folder:DIR[:SIZE]"``; see :data:`semradio.models.data.DATASETS`), or an array
        (N, C, H, W) float32.
    split : str, default "eval"
        With a dataset spec: "eval" (held-out), "train" or "all".
    batch : int, default 16
        Images per frame.
    frames : int, optional
        None: one pass over the data; n: n frames of exactly ``batch`` images; ``-1``: forever.
    shuffle : bool, default False
        Seeded random order, redrawn at each pass.
    seed : int, default 0
        Seed of the shuffle.
    limit : int, optional
        Use only the first ``limit`` images.
    device : str, optional
        None or "cpu": numpy arrays; "cuda" (or a torch device): torch tensors on it; "auto": CUDA
        when present, else numpy.
    tags : dict, optional
        Extra tags put on every frame.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        For an unknown spec, an empty dataset or a bad batch size.
    FileNotFoundError
        When a path-based dataset is missing.

    Notes
    -----
    **Outputs**

    ``out`` : float32 (B, C, H, W)
        Images in [0, 1]: a numpy array (``device=None``/"cpu") or a torch tensor on ``device``
        ("cuda", or "auto" = CUDA when present else numpy).

    **Tags written**

    - ``seq``, ``t_ns`` (creation time, for latency);
    - ``image_index`` (int64 (B,)): indices into the dataset;
    - ``dataset``: the spec;
    - plus the ``tags`` given.

    **Run-time parameters**

    None.

    Examples
    --------
    >>> from semradio.blocks import ImageSource
    >>> src = ImageSource("natural32", split="eval", batch=16)   # held-out 32x32 photo patches
    >>> src.outputs[0].dtype
    'float32'
    """

    def __init__(self, data: Any = "natural32", split: str = "eval", batch: int = 16, frames: int | None = None,
                 shuffle: bool = False, seed: int = 0, limit: int | None = None, device: str | None = None,
                 tags: dict | None = None, name: str | None = None) -> None:
        super().__init__(name)
        if isinstance(data, str):
            images = D.load_images(data, split)
            self.dataset = data
        else:
            images = np.asarray(data, dtype=np.float32)
            self.dataset = "array"
        if images.ndim != 4 or len(images) == 0:
            raise ValueError(f"ImageSource {self.name!r}: need a non-empty (N, C, H, W) image set, got {images.shape}")
        if limit is not None:
            images = images[:int(limit)]
        if batch < 1:
            raise ValueError(f"ImageSource {self.name!r}: batch must be >= 1, got {batch}")
        self.images = np.ascontiguousarray(images, dtype=np.float32)
        self.batch = int(batch)
        self.frames = frames
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.extra_tags = dict(tags or {})
        self.device = self._resolve_device(device)
        self.add_output("out", dtype="float32", shape=self.images.shape[1:])
        self._rng = np.random.default_rng(self.seed)
        self._order = self._new_order()
        self._pos = 0
        self._on_device: Any = None

    @staticmethod
    def _resolve_device(device: str | None) -> str | None:
        if device in (None, "cpu", "numpy"):
            return None
        import torch

        if device == "auto":
            return "cuda" if torch.cuda.is_available() else None
        return str(torch.device(device))

    @classmethod
    def example(cls) -> "ImageSource":
        return cls(np.zeros((4, 3, 32, 32), np.float32), batch=2)

    def _new_order(self) -> np.ndarray:
        n = len(self.images)
        return self._rng.permutation(n) if self.shuffle else np.arange(n)

    @property
    def n_frames(self) -> int | None:
        """Frames this source will emit (None: forever)."""
        if self.frames is None:
            return -(-len(self.images) // self.batch)
        return None if self.frames < 0 else int(self.frames)

    def start(self) -> None:
        if self.device is not None and self._on_device is None:
            import torch

            self._on_device = torch.from_numpy(self.images).to(self.device)

    def work(self) -> Frame | Any:
        total = self.n_frames
        if total is not None and self._seq >= total:
            return WORK_DONE
        n = len(self.images)
        if self.frames is None:
            idx = self._order[self._pos:self._pos + self.batch]
            self._pos += len(idx)
        else:
            parts, need = [], self.batch
            while need:
                if self._pos >= n:
                    self._order, self._pos = self._new_order(), 0
                take = self._order[self._pos:self._pos + need]
                parts.append(take)
                self._pos += len(take)
                need -= len(take)
            idx = np.concatenate(parts)
        if self._on_device is not None:
            import torch

            data = self._on_device[torch.from_numpy(idx).to(self.device)]
        else:
            data = self.images[idx]
        return self.make_frame(data, image_index=idx.astype(np.int64), dataset=self.dataset, **self.extra_tags)


__all__ = ["ImageSource"]
