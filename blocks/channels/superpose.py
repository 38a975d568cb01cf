"""Superposition of several users' symbols (the CDiff paper's multi-user experiments; the weights are
in :mod:`semradio.dsp.multiuser`)."""

from __future__ import annotations

import math

from semradio.dsp.multiuser import convex_sinr_db, convex_weight_for_sinr
from semradio.runtime import Block, Frame

from semradio.dsp import arrays as A
from semradio.blocks.validation import block_error, check_payload


class Superpose(Block):
    """Sum of N users' complex symbols scaled to unit power: ``out = (in0 + ... + in{N-1}) /
    sqrt(N)``.

    For mutually independent unit-power inputs (PowerNormalizer outputs) the output has unit
    average power, so an :class:`InterferenceChannel` with ``pz = (1 - a)^2 / N`` and
    ``normalize_z=False`` adds exactly ``sum_i ((1 - a)/N) z_i`` (the CDiff paper's convex combination,
    see :mod:`semradio.dsp.multiuser`).

    Parameters
    ----------
    n_inputs : int, default 2
        N, the number of inputs (>= 1).
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape, NaN/inf, or inputs of different shapes; at
        construction for ``n_inputs`` not an integer >= 1.

    Notes
    -----
    **Inputs**

    ``in0`` ... ``in{N-1}`` : complex64 (B, k)
        Aligned by ``seq`` (the runtime pairs the frames of equal ``seq``); numpy or torch,
        converted to ``in0``'s container/device.

    **Outputs**

    ``out`` : complex64 (B, k)
        The scaled sum, container/device of ``in0``.

    **Tags read**

    None.

    **Tags written**

    - ``superposed`` (N). Tags of ``in0`` pass through, the others' do not.

    **Run-time parameters**

    None.

    Examples
    --------
    >>> from semradio.blocks import Superpose
    >>> [p.name for p in Superpose(3).inputs]
    ['in0', 'in1', 'in2']
    """

    def __init__(self, n_inputs: int = 2, name: str | None = None) -> None:
        super().__init__(name)
        if int(n_inputs) < 1 or int(n_inputs) != n_inputs:
            raise ValueError(f"Superpose: n_inputs must be an integer >= 1, got {n_inputs!r}")
        self.n_inputs = int(n_inputs)
        for i in range(self.n_inputs):
            self.add_input(f"in{i}", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="complex64", shape=(None,))

    @classmethod
    def example(cls) -> "Superpose":
        return cls(2)

    def work(self, *frames: Frame) -> Frame:  # type: ignore[override]
        first = frames[0].data
        check_payload(self, first, dtype="complex64", port="in0")
        total = first
        for i, f in enumerate(frames[1:], start=1):
            z = f.data
            check_payload(self, z, dtype="complex64", port=f"in{i}")
            if tuple(z.shape) != tuple(first.shape):
                raise block_error(self, f"input 'in{i}' has shape {tuple(z.shape)}, expected {tuple(first.shape)} "
                                        f"like 'in0'")
            total = total + A.as_like(z, first)
        out = total if self.n_inputs == 1 else total * (1.0 / math.sqrt(self.n_inputs))
        if not A.is_torch(out):
            out = out.astype("complex64", copy=False)
        return frames[0].replace(out, superposed=self.n_inputs)


__all__ = ["Superpose", "convex_sinr_db", "convex_weight_for_sinr"]
