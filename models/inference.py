"""ONNX Runtime as the CPU inference backend of the real-time path: a torch module exported once
to ONNX (in memory) and run by an ``onnxruntime.InferenceSession`` with its own thread budget.

Why ONNX Runtime (and not ``torch.compile`` or eager channels-last): on this project's small
convolutional codecs and consistency network at batch 1 the per-call cost of eager PyTorch is
mostly dispatch and allocation, which ONNX Runtime's fused, pre-planned graph removes (measured
here: the Rayleigh codec's encoder 1.13 -> 0.42 ms per image); ``torch.compile`` needs a C++
toolchain and tens of seconds of compilation at every start, and its CPU code for these layers
was not faster in the benchmarks of ``semradio bench realtime``. A session also takes its own
``intra_op_num_threads`` (with spinning off), so each block of a flowgraph gets a thread budget
instead of sharing torch's process-wide pool.

:class:`OnnxModule` keeps the torch module (its parameters, device and attributes stay
reachable, and it is the fallback for inputs the export does not cover) and is called like it:
torch tensors in, torch tensors out. Needs ``onnxruntime`` and ``onnx`` (``pip install -e
".[onnx]"``).

    >>> import torch
    >>> lin = torch.nn.Linear(4, 2)
    >>> fast = OnnxModule(lin, (torch.zeros(1, 4),))                    # doctest: +SKIP
    >>> bool(torch.allclose(fast(torch.ones(3, 4)), lin(torch.ones(3, 4)), atol=1e-5))  # doctest: +SKIP
    True
"""

from __future__ import annotations

import io
import threading
import warnings
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn


def onnx_available() -> bool:
    """True when onnxruntime and onnx import."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def session_options(threads: int = 1) -> Any:
    """ORT session options: ``threads`` intra-op threads that sleep instead of spinning between
    calls (a spinning pool would steal the other blocks' cores), one inter-op thread, every
    graph optimisation."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = max(1, int(threads))
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return so


class OnnxModule(nn.Module):
    """``module`` run by ONNX Runtime on the CPU (module docstring).

    Args:
        module: the torch module (eval mode; kept as ``.torch_module``).
        example_args: the arguments of one call, ``module(*example_args)``; tensors become the
            graph's inputs (axis 0 is the batch axis, exported as dynamic); any other value
            (a latent grid, None) is fixed by the export. A call with another value there, or
            with a tensor of another dtype, non-batch shape or device, or one that needs
            gradients, runs the torch module instead.
        threads: intra-op threads of the session.
    """

    def __init__(self, module: nn.Module, example_args: Sequence[Any], threads: int = 1,
                 cache_key: Any = None) -> None:
        super().__init__()
        import onnxruntime as ort

        self.torch_module = module.eval()
        args = tuple(example_args)
        self.fixed = {i: a for i, a in enumerate(args) if not isinstance(a, torch.Tensor)}
        self.n_args = len(args)
        tensors = tuple(a for a in args if isinstance(a, torch.Tensor))
        #: (dtype, shape without the batch axis) of each graph input: other inputs go to torch
        self.signature = [(t.dtype, tuple(t.shape[1:])) for t in tensors]
        names = [f"in{i}" for i in range(len(tensors))]
        key = None if cache_key is None else (cache_key, tuple(self.signature), repr(self.fixed))
        with _EXPORT_LOCK:  # torch.onnx.export keeps global state: one export at a time per process
            graph = _cached_graph(key)
            session = None
            if graph is not None:
                try:
                    session = ort.InferenceSession(graph, session_options(threads), providers=["CPUExecutionProvider"])
                except Exception:  # noqa: BLE001 - a damaged cache file: forget it and export again
                    _drop_cached(key)
            if session is None:
                graph = _export(module, self.fixed, self.n_args, tensors, names)
                session = ort.InferenceSession(graph, session_options(threads), providers=["CPUExecutionProvider"])
                _cache_graph(key, graph)
        self.session = session

        self.input_names = names
        self.threads = int(threads)

    def __getattr__(self, name: str) -> Any:
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__("torch_module"), name)

    def forward(self, *args: Any) -> torch.Tensor:
        if len(args) != self.n_args or any(args[i] != v for i, v in self.fixed.items()):
            return self.torch_module(*args)
        tensors = [a for i, a in enumerate(args) if i not in self.fixed]
        if any(not isinstance(t, torch.Tensor) or t.device.type != "cpu" or t.requires_grad
               or (t.dtype, tuple(t.shape[1:])) != sig for t, sig in zip(tensors, self.signature)):
            return self.torch_module(*args)
        feeds = {n: np.ascontiguousarray(t.numpy()) for n, t in zip(self.input_names, tensors)}
        return torch.from_numpy(self.session.run(None, feeds)[0])


def _export(module: nn.Module, fixed: dict[int, Any], n_args: int, tensors: tuple[torch.Tensor, ...],
            names: list[str]) -> bytes:
    """The ONNX graph of ``module`` as a function of ``tensors`` (batch axis dynamic)."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(_Fixed(module, fixed, n_args), tensors, buf, input_names=names, output_names=["out"],
                          dynamic_axes={**{n: {0: "batch"} for n in names}, "out": {0: "batch"}},
                          opset_version=OPSET, dynamo=False)
    return buf.getvalue()


OPSET = 17
_EXPORT_LOCK = threading.RLock()  # exports and their digests, one at a time per process (see onnx_codec)
#: Exported graphs by cache key (the weights' digest, the inputs' signature), so that the blocks
#: of a second flowgraph in the same process skip the export.
_EXPORTS: dict[Any, bytes] = {}
ONNX_MAGIC = b"\x08"  # an ONNX ModelProto starts with field 1 (ir_version, varint)


def onnx_cache_dir() -> Any:
    """Where exported graphs are kept between runs: ``user_home()/cache/onnx`` (see
    :func:`semradio.models.registry.user_home`; ``$SEMRADIO_HOME`` moves it)."""
    from .registry import user_home

    return user_home() / "cache" / "onnx"


def _cache_file(key: Any) -> Any:
    import hashlib

    return onnx_cache_dir() / (hashlib.sha1(repr(key).encode()).hexdigest() + ".onnx")


def _cached_graph(key: Any) -> bytes | None:
    """The graph exported under ``key``: from this process, else from the user's cache folder
    (a file that does not start like an ONNX model is ignored; one that fails to load is dropped
    by the caller, :func:`_drop_cached`, and exported again)."""
    if key is None:
        return None
    graph = _EXPORTS.get(key)
    if graph is None:
        try:
            data = _cache_file(key).read_bytes()
        except OSError:
            return None
        if not data.startswith(ONNX_MAGIC):
            return None
        graph = _EXPORTS[key] = data
    return graph


def _drop_cached(key: Any) -> None:
    """Forget the graph of ``key`` in this process and in the cache folder."""
    _EXPORTS.pop(key, None)
    try:
        _cache_file(key).unlink()
    except OSError:
        pass


def _cache_graph(key: Any, graph: bytes) -> None:
    """Keep ``graph`` for this process and, best effort, in the user's cache folder (written to
    a temporary file of its own, then renamed, so a reader never sees half a file)."""
    import os
    import tempfile

    if key is None:
        return
    _EXPORTS[key] = graph
    tmp = None
    try:
        path = _cache_file(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(graph)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def onnx_codec(codec: nn.Module, part: str, threads: int = 1, cache: bool = True) -> nn.Module:
    """A shallow copy of a JSCC ``codec`` whose ``part`` ("encoder" or "decoder") runs in ONNX
    Runtime (:class:`OnnxModule`, ``threads`` intra-op threads); the original is untouched (its
    other modules, parameters and attributes are shared). The export uses one image (or latent)
    of the codec's ``image_size``; other batch sizes run the same graph, other shapes fall back
    to torch. ``cache``: reuse an export of the same weights (SHA-1 of the part's tensors) made
    earlier in this process or kept in :func:`onnx_cache_dir` by an earlier run.

    Written here: the codecs' two parts take an SNR tensor (SNR-adaptive codecs) and the
    decoder a fixed latent grid, which the export must see. Only Deep JSCC codecs
    (:func:`exportable_codec`); anything else raises TypeError.
    """
    import copy

    if part not in ("encoder", "decoder"):
        raise ValueError(f"part must be 'encoder' or 'decoder', got {part!r}")
    if not exportable_codec(codec):
        raise TypeError(f"{type(codec).__name__} is not a Deep JSCC codec: it has no encoder/decoder parts to export")
    if isinstance(getattr(codec, part), OnnxModule):  # already swapped (e.g. by eecd_realtime's --backend)
        return codec
    # one thread at a time: torch.onnx.export keeps global state, and parsing source (the digest,
    # the exporter) in two threads at once trips CPython 3.11's "AST constructor recursion depth
    # mismatch"
    with _EXPORT_LOCK, torch.no_grad():
        img = torch.zeros((1, codec.in_channels, *codec.image_size))
        snr = codec._snr(10.0, 1, img)
        if part == "encoder":
            args: tuple[Any, ...] = (img, snr)
        else:
            z = codec.encoder(img, snr)
            args = (z, codec.spatial_for(int(z.shape[1])), codec._snr(10.0, 1, z))
        module = getattr(codec, part)
        fast = OnnxModule(module, args, threads, cache_key=_digest(module, part) if cache else None)
    out = copy.copy(codec)
    out._modules = dict(codec._modules)  # a module dict of its own: the swap below leaves `codec` alone
    setattr(out, part, fast)
    return out


def exportable_codec(codec: Any) -> bool:
    """True for a Deep JSCC codec (:class:`semradio.models.jscc.DeepJSCC`): the only kind
    :func:`onnx_codec` knows how to export."""
    from .jscc import DeepJSCC

    return isinstance(codec, DeepJSCC)


def _digest(module: nn.Module, tag: str) -> str:
    """SHA-1 of everything the exported graph depends on: ``tag``; the versions of torch, onnx
    and onnxruntime and the opset; the source of every module class in ``module`` (a code change
    exports again); each submodule's plain settings (numbers, strings, booleans and tuples of
    them, e.g. a decoder's output activation; not the training flag: exports run in eval mode) and
    ``extra_repr``; every parameter and buffer (names and bytes)."""
    import hashlib
    import inspect

    import onnx
    import onnxruntime

    h = hashlib.sha1(f"{tag}|torch {torch.__version__}|onnx {onnx.__version__}|ort {onnxruntime.__version__}"
                     f"|opset {OPSET}".encode())
    for cls in sorted({type(m) for m in module.modules()}, key=lambda c: f"{c.__module__}.{c.__qualname__}"):
        h.update(f"{cls.__module__}.{cls.__qualname__}".encode())
        try:
            h.update(inspect.getsource(cls).encode())
        except (OSError, TypeError):
            pass
    for name, m in module.named_modules():
        plain = {k: v for k, v in vars(m).items() if not k.startswith("_") and k != "training" and _plain(v)}
        h.update(f"{name}|{sorted(plain.items())!r}|{m.extra_repr()}".encode())
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _plain(v: Any) -> bool:
    if isinstance(v, (bool, int, float, str)) or v is None:
        return True
    return isinstance(v, (tuple, list)) and all(isinstance(x, (bool, int, float, str)) for x in v)


class _Fixed(nn.Module):
    """``module`` as a function of its tensor arguments alone (the fixed ones put back)."""

    def __init__(self, module: nn.Module, fixed: dict[int, Any], n: int) -> None:
        super().__init__()
        self.module, self.fixed, self.n = module, fixed, n

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        it = iter(tensors)
        return self.module(*[self.fixed[i] if i in self.fixed else next(it) for i in range(self.n)])


__all__ = ["OPSET", "OnnxModule", "exportable_codec", "onnx_available", "onnx_cache_dir", "onnx_codec",
           "session_options"]
