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

    def __init__(self, module: nn.Module, example_args: Sequence[Any], threads: int = 1) -> None:
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
        buf = io.BytesIO()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(_Fixed(module, self.fixed, self.n_args), tensors, buf, input_names=names,
                              output_names=["out"],
                              dynamic_axes={**{n: {0: "batch"} for n in names}, "out": {0: "batch"}},
                              opset_version=17, dynamo=False)
        self.session = ort.InferenceSession(buf.getvalue(), session_options(threads),
                                            providers=["CPUExecutionProvider"])
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


class _Fixed(nn.Module):
    """``module`` as a function of its tensor arguments alone (the fixed ones put back)."""

    def __init__(self, module: nn.Module, fixed: dict[int, Any], n: int) -> None:
        super().__init__()
        self.module, self.fixed, self.n = module, fixed, n

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        it = iter(tensors)
        return self.module(*[self.fixed[i] if i in self.fixed else next(it) for i in range(self.n)])


__all__ = ["OnnxModule", "onnx_available", "session_options"]
