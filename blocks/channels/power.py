"""Transmitter power normalization and the receiver's complex -> real mapping."""

from __future__ import annotations

from semradio.runtime import Frame, SyncBlock

from semradio.dsp import channel as cm
from semradio.blocks.validation import block_error, check_payload, to_float


class PowerNormalizer(SyncBlock):
    """Real latent (B, 2k) -> complex symbols (B, k) with average power P per item.

    §II-A of the ICDM paper (the input of eq. 1): the latent ``x`` is split into a real (first half)
    and an imaginary (second half) part, ``x_c = x[:k] + j x[k:]``, and scaled per item so that
    ``mean_i |x_c,i|^2 = P``::

        x_c <- sqrt(P / mean|x_c|^2) x_c

    Parameters
    ----------
    power : float, default 1.0
        The average symbol power P (> 0). Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape (odd length), NaN/inf, or an all-zero item (its
        power cannot be normalized).

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, 2k)
        Real latents (e.g. a JSCC encoder's output, flattened).

    **Outputs**

    ``out`` : complex64 (B, k)
        Symbols, average power P per item; numpy or torch as the input, on the input's device.

    **Tags read**

    None.

    **Tags written**

    - ``tx_power`` (float, P). Other tags pass through.

    **Run-time parameters**

    ``power``.

    Examples
    --------
    >>> from semradio.blocks import PowerNormalizer
    >>> norm = PowerNormalizer(power=1.0)
    >>> norm.inputs[0].dtype, norm.outputs[0].dtype   # real latent (B, 2k) -> complex symbols (B, k)
    ('float32', 'complex64')
    """

    def __init__(self, power: float = 1.0, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="float32", shape=(None,))
        self.add_output("out", dtype="complex64", shape=(None,))
        self.declare_param("power", power, "average symbol power P per item",
                           to_float("power", minimum=0.0, strict_min=True))

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        x = frame.data
        check_payload(self, x, dtype="float32", even=True, finite=False)
        power = self.param("power")
        try:
            out = cm.normalize_power(x, power)
        except ValueError as exc:
            raise block_error(self, str(exc)) from None
        return frame.replace(out, tx_power=power)


class ComplexToReal(SyncBlock):
    """Complex symbols (B, k) -> real vector (B, 2k) ``[Re; Im]`` (inverse of the mapping in
    :class:`PowerNormalizer`, without the power scaling).

    Parameters
    ----------
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape or NaN/inf.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Complex symbols ``y_c``.

    **Outputs**

    ``out`` : float32 (B, 2k)
        ``[Re(y_c); Im(y_c)]`` per item; same container and device.

    **Tags read**

    None.

    **Tags written**

    None; all tags pass through.

    **Run-time parameters**

    None.

    Examples
    --------
    >>> from semradio.blocks import ComplexToReal
    >>> c2r = ComplexToReal()
    >>> c2r.inputs[0].dtype, c2r.outputs[0].dtype
    ('complex64', 'float32')
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="float32", shape=(None,))

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        check_payload(self, frame.data, dtype="complex64")
        return frame.replace(cm.complex_to_real(frame.data))
