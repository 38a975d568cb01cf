"""DigitalImageRx: received QAM symbols -> soft demapping -> 5G LDPC decoding + CRC -> image
decoder, with counted erasures and concealment."""

from __future__ import annotations

from typing import Any

import numpy as np

from semradio.blocks.digital.image_tx import LENGTH_BYTES, channel_uses, payload_budget
from semradio.blocks.validation import block_error, check_payload
from semradio.dsp import arrays as A
from semradio.runtime import Frame, SyncBlock

#: Pixel value of a concealed image (mid-grey, every channel).
CONCEAL_VALUE = 0.5
#: Largest image side the receiver accepts from an ``image_shape`` tag.
MAX_SIDE = 4096


def _shape_from(value: Any) -> tuple[int, int, int] | None:
    """A validated (C, H, W) from an untrusted tag, or None."""
    if not isinstance(value, (list, tuple)) or len(value) != 3:
        return None
    try:
        c, h, w = (int(v) for v in value)
    except (TypeError, ValueError):
        return None
    if any(float(v) != int(float(v)) for v in value) or c not in (1, 3) or not (1 <= h <= MAX_SIDE) \
            or not (1 <= w <= MAX_SIDE):
        return None
    return c, h, w


class DigitalImageRx(SyncBlock):
    """Digital receiver of the separation baseline: the inverse of
    :class:`~semradio.blocks.digital.image_tx.DigitalImageTx` with the same codec, MCS and CBR.

    Per image: zero-forcing with the receiver's CSI ``h`` (tag; 1 for AWGN), exact bit LLRs with
    the per-symbol noise variance ``s2/|h|^2`` (Sionna ``Demapper("app")``), 5G TB decoding
    (LDPC belief propagation, :class:`~semradio.dsp.digital.transport.TransportLink`) and the TB's
    CRC-24A. Then the 24-bit length, and the image decoder (Pillow) on exactly that many bytes,
    checked for the expected format and size.

    Erasures: an image is *concealed* — replaced by the mid-grey image (every pixel
    :data:`CONCEAL_VALUE` = 0.5) — and counted when its TB fails the CRC (``tb_errors``), when the
    TB decodes but carries no image (``unfit``: the transmitter could not fit one) or a length
    beyond the budget, or when the image decoder rejects the bitstream (``decode_failures``). A
    corrupted bitstream is never shown as a decode.

    Parameters
    ----------
    codec : {"jpeg", "jpeg2000", "webp"}, default "webp"
        Image codec; as the transmitter's.
    mcs : int, default 7
        TS 38.214 Table 5.1.3.1-1 index; as the transmitter's.
    cbr : float, default 1/6
        Channel bandwidth ratio; as the transmitter's.
    iterations : int, default 20
        LDPC belief-propagation iterations.
    image_shape : tuple of int, optional
        (C, H, W), or None: from the ``image_shape`` tag.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    counts : dict
        Running totals {tbs, tb_errors, erasures, unfit, decode_failures}.

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape, a missing ``noise_var``, a bad or inconsistent
        ``image_shape`` or a misshaped ``h``; at construction for an unknown codec or MCS or a bad
        ``image_shape``.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Received symbols ``y = h x + n`` (numpy or torch).

    **Outputs**

    ``out`` : float32 (B, C, H, W)
        Images in [0, 1] (numpy).

    **Tags read**

    - ``h`` (complex (B, k); absent or AWGN: 1);
    - ``noise_var`` (s2, required);
    - ``image_shape`` ([C, H, W], unless given to the constructor; validated against k).

    **Tags written**

    - ``tbs``, ``tb_errors``, ``bler`` (this frame's TB error rate), ``erasures`` (concealed
      images), ``decode_failures``, ``concealed`` (list of bool per image), ``mcs``,
      ``image_codec``.

    Others pass through.

    **Run-time parameters**

    None (all are set at construction).

    Examples
    --------
    >>> from semradio.blocks import DigitalImageRx
    >>> rx = DigitalImageRx("webp", mcs=7)            # must match the DigitalImageTx's codec, MCS and CBR
    >>> rx.outputs[0].dtype
    'float32'
    >>> fg.connect(tx, channel, rx, (MetricSink(), "rec"))  # doctest: +SKIP
    """

    def __init__(self, codec: str = "webp", mcs: int = 7, cbr: float = 1 / 6, iterations: int = 20,
                 image_shape: tuple[int, int, int] | None = None, name: str | None = None) -> None:
        from semradio.dsp.digital.mcs import mcs_entry
        from semradio.models.image_codec import CODECS

        super().__init__(name)
        if codec not in CODECS:
            raise ValueError(f"DigitalImageRx {self.name!r}: codec must be one of {sorted(CODECS)}, got {codec!r}")
        mcs_entry(mcs)
        self.codec = codec
        self.mcs = int(mcs)
        self.cbr = float(cbr)
        self.iterations = int(iterations)
        self.image_shape = None if image_shape is None else _shape_from(image_shape)
        if image_shape is not None and self.image_shape is None:
            raise ValueError(f"DigitalImageRx {self.name!r}: bad image_shape {image_shape!r}")
        self.counts = {"tbs": 0, "tb_errors": 0, "erasures": 0, "unfit": 0, "decode_failures": 0}
        self.add_input("in", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="float32", shape=(None, None, None))

    @classmethod
    def example(cls) -> "DigitalImageRx":
        return cls("webp", mcs=7)

    def _shape(self, frame: Frame, k: int) -> tuple[int, int, int]:
        shape = self.image_shape or _shape_from(frame.tags.get("image_shape"))
        if shape is None:
            raise block_error(self, f"no valid image shape: give image_shape or send an 'image_shape' tag "
                                    f"[C, H, W] (got {frame.tags.get('image_shape')!r})")
        try:
            want = channel_uses(self.cbr, shape)
        except ValueError as exc:
            raise block_error(self, str(exc)) from None
        if want != k:
            raise block_error(self, f"{k} symbols per item, but CBR {self.cbr:g} x {shape} needs {want}")
        return shape

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        from semradio.dsp.digital.mcs import tb_layout
        from semradio.dsp.digital.transport import bits_to_bytes, transport_link
        from semradio.models.image_codec import decode

        y = frame.data
        check_payload(self, y, dtype="complex64")
        y = A.to_numpy(y) if A.is_torch(y) else np.asarray(y)
        b, k = y.shape
        shape = self._shape(frame, int(k))
        noise_var = frame.tags.get("noise_var")
        try:
            noise_var = float(noise_var)
        except (TypeError, ValueError):
            raise block_error(self, f"tag 'noise_var' must be a number >= 0, got {noise_var!r}") from None
        if not noise_var >= 0.0 or not np.isfinite(noise_var):
            raise block_error(self, f"tag 'noise_var' must be a finite number >= 0, got {noise_var}")
        h = frame.tags.get("h")
        model = frame.tags.get("channel_model", frame.tags.get("channel"))
        if h is not None and model != "awgn":
            h = A.to_numpy(h) if A.is_torch(h) else np.asarray(h)
            if h.shape != y.shape or not np.iscomplexobj(h):
                raise block_error(self, f"CSI tag 'h' must be complex {tuple(y.shape)}, got "
                                        f"{getattr(h, 'dtype', None)} {tuple(getattr(h, 'shape', ()))}")
            if not np.isfinite(h).all():
                raise block_error(self, "CSI tag 'h' holds NaN or inf values")
        else:
            h = None
        link = transport_link(tb_layout(self.mcs, int(k)), self.iterations)
        bits, ok = link.decode(y.astype(np.complex64), h, noise_var)
        budget = payload_budget(link.tb_bits)
        out = np.full((b, *shape), CONCEAL_VALUE, np.float32)
        concealed = [True] * b
        unfit = failures = 0
        for i in range(b):
            if not ok[i]:
                continue
            raw = bits_to_bytes(bits[i])
            n = int.from_bytes(raw[:LENGTH_BYTES], "big")
            if n == 0 or n > budget:
                unfit += 1
                continue
            img = decode(raw[LENGTH_BYTES:LENGTH_BYTES + n], self.codec, shape)
            if img is None:
                failures += 1
                continue
            out[i] = img
            concealed[i] = False
        tb_errors = int((~ok).sum())
        erasures = int(sum(concealed))
        for key, v in (("tbs", b), ("tb_errors", tb_errors), ("erasures", erasures), ("unfit", unfit),
                       ("decode_failures", failures)):
            self.counts[key] += v
        return frame.replace(out, tbs=int(b), tb_errors=tb_errors, bler=tb_errors / b, erasures=erasures,
                             decode_failures=failures, concealed=concealed, mcs=self.mcs, image_codec=self.codec)


__all__ = ["DigitalImageRx", "CONCEAL_VALUE"]
