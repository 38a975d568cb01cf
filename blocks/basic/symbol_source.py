"""A source of random unit-power complex symbols: QPSK or Gaussian latents."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from semradio.runtime import WORK_DONE, Frame, SourceBlock

from semradio.dsp import arrays as A
from semradio.blocks.validation import to_bool, to_choice, to_optional_int, to_seed

SYMBOL_KINDS = ("qpsk", "gaussian")


def qpsk_symbols(gen: A.Generator, shape: tuple[int, ...], like: Any) -> Any:
    """Uniform random QPSK symbols ``(+-1 +- j)/sqrt(2)`` (unit power), complex64."""
    scale = 1.0 / math.sqrt(2.0)
    if A.is_torch(like):
        torch = A._torch()
        bits = torch.randint(0, 2, (*shape, 2), generator=gen, device=like.device, dtype=torch.int8)
        return torch.view_as_complex(bits.to(torch.float32).mul_(2 * scale).sub_(scale))
    bits = gen.integers(0, 2, (*shape, 2), dtype=np.int8)
    buf = bits.astype(np.float32)
    buf *= np.float32(2 * scale)
    buf -= np.float32(scale)
    return buf.view(np.complex64).reshape(shape)


class SymbolSource(SourceBlock):
    """Random complex symbols (B, k) with unit average power: QPSK or Gaussian "latents".

    ``kind="qpsk"``: i.i.d. uniform ``(+-1 +- j)/sqrt(2)``; ``kind="gaussian"``: i.i.d.
    ``CN(0, 1)`` (a stand-in for power-normalized JSCC latents). Equation: none (test signal).

    Parameters
    ----------
    kind : {"qpsk", "gaussian"}, default "qpsk"
        Symbol law. Settable at run time.
    batch : int, default 1
        Items per frame, B (>= 1).
    k : int, default 1024
        Symbols per item (>= 1).
    frames : int, optional
        Stop after this many frames by returning WORK_DONE (None: unbounded). Settable at run time.
    seed : int, optional
        Random seed (None: fresh entropy). Settable at run time (restarts the draws).
    fresh : bool, default True
        True: new symbols every frame; False: one draw re-emitted (e.g. for benchmarks). Settable at
        run time.
    backend : {"numpy", "torch"}, default "numpy"
        Container of the output.
    device : str, default "cpu"
        Torch device (torch only).
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        For ``batch < 1``, ``k < 1``, or an unknown ``kind`` or ``backend``.

    Notes
    -----
    **Inputs**

    None.

    **Outputs**

    ``out`` : complex64 (B, k)
        numpy (``backend="numpy"``) or a torch tensor on ``device`` (``backend="torch"``).

    **Tags written**

    - ``seq``, ``t_ns`` (via ``make_frame``), ``symbol_kind``.

    **Run-time parameters**

    ``kind``, ``frames``, ``seed``, ``fresh``.

    Examples
    --------
    >>> from semradio.blocks import SymbolSource
    >>> src = SymbolSource("qpsk", batch=4, k=256, frames=10, seed=0)   # 10 frames of (4, 256) QPSK symbols
    >>> src.outputs[0].dtype
    'complex64'
    """

    def __init__(self, kind: str = "qpsk", batch: int = 1, k: int = 1024, frames: int | None = None,
                 seed: int | None = None, fresh: bool = True, backend: str = "numpy", device: str = "cpu",
                 name: str | None = None) -> None:
        super().__init__(name)
        batch, k = int(batch), int(k)
        if batch < 1 or k < 1:
            raise ValueError(f"SymbolSource: batch and k must be >= 1, got batch={batch}, k={k}")
        self.batch, self.k = batch, k
        self.add_output("out", dtype="complex64", shape=(k,))
        self.declare_param("kind", kind, "qpsk or gaussian", to_choice("kind", SYMBOL_KINDS))
        self.declare_param("frames", frames, "frames to emit before WORK_DONE (None: unbounded)",
                           to_optional_int("frames", minimum=0))
        self.declare_param("seed", seed, "random seed", to_seed)
        self.declare_param("fresh", fresh, "new symbols every frame (False: repeat one draw)", to_bool)
        backend = to_choice("backend", ("numpy", "torch"))(backend)
        if backend == "torch":
            import torch

            self._like: Any = torch.empty(0, device=device)
        else:
            self._like = np.empty(0, dtype=np.float32)
        self._gens = A.GeneratorPool(seed)
        self._emitted = 0
        self._cached: Any = None

    def on_param_change(self, name: str, value: Any) -> None:
        if name == "seed":
            self._gens.reset(value)
            self._cached = None

    def draw(self) -> Any:
        """One batch of symbols (B, k)."""
        gen = self._gens.get(0, self._like)
        shape = (self.batch, self.k)
        if self.param("kind") == "qpsk":
            return qpsk_symbols(gen, shape, self._like)
        return A.complex_normal(gen, shape, 1.0, self._like)

    def work(self) -> Frame | Any:  # type: ignore[override]
        frames = self.param("frames")
        if frames is not None and self._emitted >= frames:
            return WORK_DONE
        if self.param("fresh") or self._cached is None:
            data = self.draw()
            if not self.param("fresh"):
                self._cached = data
        else:
            data = self._cached
        self._emitted += 1
        return self.make_frame(data, symbol_kind=self.param("kind"))
