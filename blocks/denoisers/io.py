"""Input handling shared by the denoiser blocks (CDDM, VE/EECD, ICDM)."""

from __future__ import annotations

from typing import Any

import numpy as np

from semradio.runtime import Block

from semradio.dsp import arrays as A
from semradio.blocks.validation import block_error


def as_float_tensor(block: Block, x: Any, what: str) -> Any:
    """A numpy array or torch tensor (any shape) as a float32 torch tensor on ``block.device``;
    a clear block error naming ``what`` for anything else."""
    import torch

    if A.is_torch(x):
        return x.to(block.device, torch.float32)
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(block.device)
    raise block_error(block, f"{what} must be a numpy array or torch tensor, got {type(x).__name__}")
