"""Equalizers with known h_x: MMSE (eq. 4 of the ICDM paper, eq. 17 of Pei et al.) and zero forcing, emitting
the Lemma 1 weights (eq. 3 of the ICDM paper) that the denoisers condition on."""

from __future__ import annotations

from typing import Any

from semradio.runtime import Frame, SyncBlock

from semradio.dsp import arrays as A
from semradio.dsp import channel as cm
from semradio.blocks.validation import block_error, check_payload, to_bool, to_choice

AWGN_MODES = ("identity", "equalize")


class _Equalizer(SyncBlock):
    kind = "mmse"

    def __init__(self, awgn: str = "identity", check_finite: bool = True, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="float32", shape=(None,))
        self.declare_param("awgn", awgn, "AWGN frames: 'identity' (Lemma 1: y = y_c, W = I) or "
                           "'equalize' (apply the formula with h = 1)", to_choice("awgn", AWGN_MODES))
        self.declare_param("check_finite", check_finite, "reject inputs holding NaN/inf", to_bool)

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        y_c = frame.data
        p = self.params
        check_payload(self, y_c, dtype="complex64", finite=p["check_finite"])
        tags = frame.tags
        model = tags.get("channel_model", tags.get("channel"))
        if model == "awgn" and p["awgn"] == "identity":
            y, w_s, w_n, w_z = cm.identity_weights(y_c)
            return frame.replace(y, W_s=w_s, W_n=w_n, W_z=w_z, equalizer="identity")
        h = tags.get("h")
        if h is None:
            raise block_error(self, "the frame has no CSI tag 'h' (complex (B, k)); put a channel block "
                                    "(or a CSI source) upstream")
        if not (A.is_torch(h) or hasattr(h, "shape")) or tuple(h.shape) != tuple(y_c.shape):
            shape = getattr(h, "shape", None)
            raise block_error(self, f"CSI tag 'h' has shape {None if shape is None else tuple(shape)}, "
                                    f"expected {tuple(y_c.shape)} like the data")
        if not A.is_complex(h):
            raise block_error(self, f"CSI tag 'h' must be complex, got {A.dtype_name(h)}")
        if A.is_torch(h) != A.is_torch(y_c) or (A.is_torch(h) and h.device != y_c.device):
            h = A.as_like(h, y_c)
        noise_var = tags.get("noise_var")
        if noise_var is None:
            if self.kind == "mmse":
                raise block_error(self, "the frame has no 'noise_var' tag (MMSE needs s2)")
            noise_var = 0.0
        noise_var = float(noise_var)
        if not noise_var >= 0.0:
            raise block_error(self, f"tag 'noise_var' must be >= 0, got {noise_var}")
        y, w_s, w_n, w_z = cm.equalize(y_c, h, noise_var, self.kind)
        return frame.replace(y, W_s=w_s, W_n=w_n, W_z=w_z, equalizer=self.kind)


class MMSEEqualizer(_Equalizer):
    """MMSE equalization with the receiver's CSI, output in real form with Lemma 1 weights.

    Per symbol (eq. 4 of the ICDM paper; eq. 17 of Pei et al.)::

        y_eq = conj(h) y_c / (|h|^2 + s2),      y = [Re y_eq; Im y_eq]  (real, 2k)

    and (eq. 3 of the ICDM paper, Lemma 1) ``y = sqrt(Px) W_s x + sqrt(Pz) W_z z + W_n n'`` with
    ``W_s = |h|^2/(|h|^2+s2)``, ``W_n = |h|/(|h|^2+s2)``, ``W_z = [[Hr, Hi], [-Hi, Hr]] /
    (|h|^2+s2)``, ``z`` the real form of ``h_z z_c`` and ``n'`` the real form of the rotated
    noise ``conj(h) n/|h|`` (same law as n). The identity holds exactly (to float rounding)
    for what this block outputs when the CSI is perfect.

    AWGN convention: for frames whose ``channel_model`` (or ``channel``) tag is ``"awgn"`` the
    block follows Lemma 1's AWGN case by default (``awgn="identity"``): ``y = [Re; Im](y_c)``
    and ``W_s = W_z = W_n = I``; the MMSE shrinkage 1/(1+s2) is *not* applied. With
    ``awgn="equalize"`` it applies the formula with h = 1 instead (``W_s = 1/(1+s2)``, ...);
    either way the emitted weights describe the output exactly.

    Parameters
    ----------
    awgn : {"identity", "equalize"}, default "identity"
        AWGN frames: Lemma 1's identity (``y = y_c``, W = I) or the formula with h = 1. Settable
        at run time.
    check_finite : bool, default True
        Reject inputs holding NaN/inf. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape, NaN/inf, a missing or misshaped ``h`` tag, or a
        missing ``noise_var`` tag.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Received symbols y_c (numpy or torch, any device).

    **Outputs**

    ``out`` : float32 (B, 2k)
        ``y``, same container/device.

    **Tags read**

    - ``h`` (complex (B, k), required unless AWGN identity);
    - ``noise_var`` (s2, required);
    - ``channel_model``/``channel``.

    **Tags written**

    float32 (B, 2k), same container/device as the data:

    - ``W_s``: diagonal of W_s, ``|h|^2/d`` for the Re half then again for the Im half;
    - ``W_n``: diagonal of W_n, ``|h|/d`` for both halves;
    - ``W_z``: compact ``[Re c; Im c]`` with ``c = h/d`` = ``[Re h/d; Im h/d]``: W_z is the
      real form of multiplying by ``conj(c)``; apply it with
      :func:`semradio.dsp.channel.apply_w_z` (dense: ``w_z_matrix``);

    and ``equalizer``: ``"mmse"`` or ``"identity"`` (AWGN); where ``d = max(|h|^2 + s2, 1e-30)``.
    Other tags pass through.

    **Run-time parameters**

    ``awgn``, ``check_finite``.

    Examples
    --------
    >>> from semradio.blocks import MMSEEqualizer
    >>> eq = MMSEEqualizer()
    >>> eq.inputs[0].dtype, eq.outputs[0].dtype       # complex symbols -> real latent (B, 2k)
    ('complex64', 'float32')
    """

    kind = "mmse"


class ZFEqualizer(_Equalizer):
    """Zero-forcing equalization with the receiver's CSI, output in real form with Lemma 1
    weights (the s2 -> 0 limit of :class:`MMSEEqualizer`)::

        y_eq = conj(h) y_c / |h|^2 = y_c / h,    y = [Re y_eq; Im y_eq]

    so ``W_s = I``, ``W_n = diag(1/|h|)`` and ``W_z`` encoded as ``[Re h/|h|^2; Im h/|h|^2]``
    (the compact form of :class:`MMSEEqualizer` with ``d = |h|^2``, floored at 1e-30: where
    h = 0 all weights and the output are 0, so the identity of eq. 3 still holds).

    AWGN frames: as :class:`MMSEEqualizer` (with h = 1 ZF is the identity anyway).

    Parameters
    ----------
    awgn : {"identity", "equalize"}, default "identity"
        AWGN frames, as :class:`MMSEEqualizer`. Settable at run time.
    check_finite : bool, default True
        Reject inputs holding NaN/inf. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape, NaN/inf, a missing or misshaped ``h`` tag.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Received symbols y_c.

    **Outputs**

    ``out`` : float32 (B, 2k)
        ``y``, same container/device.

    **Tags read**

    - ``h`` (required unless AWGN), ``noise_var`` (optional), ``channel_model``/``channel``.

    **Tags written**

    - ``W_s``, ``W_n``, ``W_z`` (float32 (B, 2k), as in :class:`MMSEEqualizer`);
    - ``equalizer`` ("zf" or "identity").

    Others pass through.

    **Run-time parameters**

    ``awgn``, ``check_finite``.

    Examples
    --------
    >>> from semradio.blocks import ZFEqualizer
    >>> ZFEqualizer().outputs[0].dtype
    'float32'
    """

    kind = "zf"


def equalizer_for(kind: str, **kwargs: Any) -> _Equalizer:
    """An equalizer block by name: "mmse" or "zf"."""
    kinds = {"mmse": MMSEEqualizer, "zf": ZFEqualizer}
    try:
        return kinds[kind](**kwargs)
    except KeyError:
        raise ValueError(f"unknown equalizer {kind!r}; expected one of {sorted(kinds)}") from None
