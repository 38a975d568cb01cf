"""Array-backend helpers shared by the channel-side blocks: numpy or torch, any device.

The channel math (:mod:`semradio.dsp.channel`) is written once against these few
helpers, so a numpy array stays a numpy array and a torch tensor stays a torch tensor on its own
device (CPU or CUDA); nothing here moves data between host and device.

Random numbers: :func:`make_generator` gives a ``numpy.random.Generator`` for numpy payloads and
a ``torch.Generator`` on the tensor's device for torch payloads, both seeded from
``(seed, stream)`` so that independent streams (link, CSI error, interference, ...) of one block
are reproducible and do not shift each other.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from semradio.runtime.frame import is_torch_tensor

#: A numpy array or a torch tensor.
Array = Any
#: A ``numpy.random.Generator`` or a ``torch.Generator``.
Generator = Any


def is_torch(x: Any) -> bool:
    """True when ``x`` is a torch tensor."""
    return is_torch_tensor(x)


def _torch() -> Any:
    return sys.modules["torch"]


def backend_key(x: Array) -> tuple[str, str]:
    """``("numpy", "cpu")`` or ``("torch", "<device>")``: where generators for ``x`` live."""
    if is_torch(x):
        return ("torch", str(x.device))
    return ("numpy", "cpu")


def derive_seed(seed: int | None, stream: int) -> int | None:
    """A 63-bit integer seed for ``stream`` of a block seeded with ``seed`` (None stays None)."""
    if seed is None:
        return None
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(stream)]).generate_state(2, np.uint32)
    return (int(state[0]) << 31 | int(state[1]) >> 1) & 0x7FFFFFFFFFFFFFFF


def make_generator(seed: int | None, stream: int, like: Array) -> Generator:
    """A generator for payloads like ``like``, seeded from ``(seed, stream)``.

    numpy: ``np.random.default_rng(SeedSequence([seed, stream]))``; torch: a
    ``torch.Generator`` on ``like.device`` seeded with :func:`derive_seed`. ``seed=None`` draws
    fresh OS entropy.
    """
    if is_torch(like):
        torch = _torch()
        gen = torch.Generator(device=like.device)
        s = derive_seed(seed, stream)
        if s is None:
            gen.seed()
        else:
            gen.manual_seed(s)
        return gen
    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(np.random.SeedSequence([int(seed) & 0xFFFFFFFFFFFFFFFF, int(stream)]))


class GeneratorPool:
    """Lazily created generators of one block, one per (backend, device, stream).

    ``get(stream, like)`` returns the generator for ``like``'s backend/device; ``reset(seed)``
    forgets them all so the next draws restart from the seed.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        self._gens: dict[tuple[str, str, int], Generator] = {}

    def reset(self, seed: int | None) -> None:
        """Forget every generator; the next ``get`` re-seeds from ``seed``."""
        self.seed = seed
        self._gens = {}

    def get(self, stream: int, like: Array) -> Generator:
        """The generator of ``stream`` for payloads like ``like``."""
        key = (*backend_key(like), stream)
        gen = self._gens.get(key)
        if gen is None:
            gen = self._gens[key] = make_generator(self.seed, stream, like)
        return gen


# ----------------------------------------------------------------------------- creation
def complex_normal(gen: Generator, shape: tuple[int, ...], var: float, like: Array) -> Array:
    """Circularly-symmetric complex Gaussian ``CN(0, var)`` samples, complex64, shaped ``shape``.

    Real and imaginary parts are independent ``N(0, var/2)``. One generator call fills an
    interleaved float32 buffer that is then viewed as complex64 (no copy).
    """
    scale = math.sqrt(var / 2.0)
    if is_torch(like):
        torch = _torch()
        buf = torch.randn((*shape, 2), generator=gen, device=like.device, dtype=torch.float32)
        if scale != 1.0:
            buf.mul_(scale)
        return torch.view_as_complex(buf)
    buf = gen.standard_normal((*shape, 2), dtype=np.float32)
    if scale != 1.0:
        buf *= np.float32(scale)
    return buf.view(np.complex64).reshape(shape)


def uniform_integers(gen: Generator, high: int, n: int, like: Array) -> Array:
    """``n`` integers uniform in ``[0, high)`` (index array for ``like``'s backend/device)."""
    if is_torch(like):
        torch = _torch()
        return torch.randint(0, high, (n,), generator=gen, device=like.device)
    return gen.integers(0, high, n)


def ones_complex(shape: tuple[int, ...], like: Array) -> Array:
    """complex64 ones on ``like``'s backend/device."""
    if is_torch(like):
        torch = _torch()
        return torch.ones(shape, dtype=torch.complex64, device=like.device)
    return np.ones(shape, dtype=np.complex64)


def ones_real(shape: tuple[int, ...], like: Array) -> Array:
    """float32 ones on ``like``'s backend/device."""
    if is_torch(like):
        torch = _torch()
        return torch.ones(shape, dtype=torch.float32, device=like.device)
    return np.ones(shape, dtype=np.float32)


def full_complex(shape: tuple[int, ...], value: complex, like: Array) -> Array:
    """complex64 array filled with ``value`` on ``like``'s backend/device."""
    if is_torch(like):
        torch = _torch()
        return torch.full(shape, complex(value), dtype=torch.complex64, device=like.device)
    return np.full(shape, value, dtype=np.complex64)


def as_like(a: Any, like: Array) -> Array:
    """``a`` (array-like) as ``like``'s container, on ``like``'s device, keeping ``a``'s dtype."""
    if is_torch(like):
        torch = _torch()
        if is_torch(a):
            return a.to(like.device)
        return torch.as_tensor(np.asarray(a), device=like.device)
    if is_torch(a):
        return a.detach().cpu().numpy()
    return np.asarray(a)


# ---------------------------------------------------------------------------- elementwise
def abs2(c: Array) -> Array:
    """``|c|^2`` of a complex array as a real (float32 for complex64) array."""
    if is_torch(c):
        return c.real.square() + c.imag.square()
    re, im = c.real, c.imag
    out = np.multiply(re, re)
    out += im * im
    return out


def is_complex(a: Array) -> bool:
    """True for a complex array or tensor."""
    if is_torch(a):
        return bool(a.is_complex())
    return np.iscomplexobj(a)


def sqrt(a: Array) -> Array:
    """Elementwise square root."""
    if is_torch(a):
        return a.sqrt()
    return np.sqrt(a)


def conj(c: Array) -> Array:
    """Complex conjugate (a materialized array for torch, not a lazy view)."""
    if is_torch(c):
        return c.conj().resolve_conj()
    return np.conj(c)


def maximum(a: Array, value: float) -> Array:
    """Elementwise ``max(a, value)``."""
    if is_torch(a):
        return a.clamp_min(value)
    return np.maximum(a, np.asarray(value, dtype=a.dtype))


def concat_last(a: Array, b: Array) -> Array:
    """Concatenate two arrays along the last axis."""
    if is_torch(a):
        return _torch().cat([a, b], dim=-1)
    return np.concatenate([a, b], axis=-1)


def repeat_last(a: Array, repeats: int) -> Array:
    """Repeat every element ``repeats`` times along the last axis (``[a, a, b, b, ...]``)."""
    if is_torch(a):
        return a.repeat_interleave(repeats, dim=-1)
    return np.repeat(a, repeats, axis=-1)


def all_finite(a: Array) -> bool:
    """True when no element is NaN or infinite (real or complex)."""
    if is_torch(a):
        torch = _torch()
        if a.is_complex():
            a = torch.view_as_real(a)
        return bool(torch.isfinite(a).all())
    if a.dtype.kind == "c":
        a = a.view(a.real.dtype) if a.flags.c_contiguous else np.stack([a.real, a.imag])
    return bool(np.isfinite(a).all())


def mean_last(a: Array) -> Array:
    """Mean over the last axis."""
    if is_torch(a):
        return a.mean(dim=-1)
    return a.mean(axis=-1)


def to_numpy(a: Array) -> np.ndarray:
    """A host numpy copy/view of ``a`` (for tests, meters and reports)."""
    if is_torch(a):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def dtype_name(a: Array) -> str:
    """numpy-style dtype name of an array or tensor."""
    if is_torch(a):
        return str(a.dtype).removeprefix("torch.")
    return np.asarray(a).dtype.name
