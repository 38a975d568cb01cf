"""LPIPS (Zhang et al., CVPR 2018) with an AlexNet backbone — only from a local weights file.

No LPIPS weights ship with semradio and nothing downloads them. :func:`load_lpips` takes one
safetensors file holding both parts, with the key names of the reference implementations:

* backbone (torchvision ``alexnet().features``): ``features.{0,3,6,8,10}.weight`` / ``.bias``;
* linear heads (``lpips`` package, ``alex`` v0.1): ``lin{0..4}.model.1.weight`` of shape
  (1, C_l, 1, 1) (``lin{l}.weight`` is accepted too).

Distance (LPIPS eq. 1): images in [0, 1] -> ``2x - 1`` -> the scaling layer
``(x - shift) / scale``; for each of the five ReLU outputs f_l (C_l, H_l, W_l) of both images,
unit-normalize over channels, and::

    d(x, x0) = sum_l mean_{h,w} || w_l * (f_l(x) - f_l(x0)) ||_2^2

Without genuine LPIPS weights the number means nothing; tests only check the plumbing
(d(x, x) = 0, d >= 0) with random weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)
#: (features index, in, out, kernel, stride, padding) of AlexNet's convolutions.
_ALEX = ((0, 3, 64, 11, 4, 2), (3, 64, 192, 5, 1, 2), (6, 192, 384, 3, 1, 1), (8, 384, 256, 3, 1, 1),
         (10, 256, 256, 3, 1, 1))


class LPIPSAlex(nn.Module):
    """The LPIPS network (AlexNet features + five linear heads); see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleDict({str(i): nn.Conv2d(a, b, k, s, p) for i, a, b, k, s, p in _ALEX})
        self.lins = nn.ModuleList(nn.Conv2d(b, 1, 1, bias=False) for _, _, b, _, _, _ in _ALEX)
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1))

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = ((2 * x - 1) - self.shift) / self.scale
        out = []
        for n, (i, *_rest) in enumerate(_ALEX):
            if n in (1, 2):
                x = nn.functional.max_pool2d(x, 3, 2)
            x = torch.relu(self.convs[str(i)](x))
            out.append(x)
        return out

    @torch.no_grad()
    def distance(self, ref: Any, rec: Any) -> np.ndarray:
        """Per-image LPIPS (B,) for images (B, 3, H, W) in [0, 1] (numpy or torch)."""
        dev = self.shift.device
        a = torch.as_tensor(ref, dtype=torch.float32).to(dev)
        b = torch.as_tensor(rec, dtype=torch.float32).to(dev)
        if a.shape[1] == 1:
            a, b = a.expand(-1, 3, -1, -1), b.expand(-1, 3, -1, -1)
        total = torch.zeros(a.shape[0], device=dev)
        for fa, fb, lin in zip(self.features(a), self.features(b), self.lins):
            na = fa / (fa.square().sum(1, keepdim=True).sqrt() + 1e-10)
            nb = fb / (fb.square().sum(1, keepdim=True).sqrt() + 1e-10)
            total += lin((na - nb).square()).mean(dim=(1, 2, 3))
        return total.double().cpu().numpy()


def load_lpips(path: str | Path, device: Any = "cpu") -> LPIPSAlex:
    """LPIPS-Alex from a local safetensors file (key names in the module docstring).

    Raises:
        FileNotFoundError: no such file. KeyError: a required tensor is missing.
    """
    from safetensors.torch import load_file

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"LPIPS weights file {p} not found (none ship with semradio)")
    t = load_file(str(p))
    net = LPIPSAlex()
    state = {}
    for i, *_ in _ALEX:
        for part in ("weight", "bias"):
            state[f"convs.{i}.{part}"] = t[f"features.{i}.{part}"]
    for n in range(len(_ALEX)):
        key = f"lin{n}.model.1.weight" if f"lin{n}.model.1.weight" in t else f"lin{n}.weight"
        state[f"lins.{n}.weight"] = t[key]
    state["shift"], state["scale"] = net.shift, net.scale
    net.load_state_dict(state)
    return net.to(device).eval()
