"""DigitalImageTx: images -> standard image codec -> 5G transport block -> QAM symbols."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from semradio.blocks.validation import block_error
from semradio.dsp import arrays as A
from semradio.runtime import Frame, SyncBlock

#: Bytes of the length field in front of the image bitstream inside the transport block.
LENGTH_BYTES = 3


def channel_uses(cbr: float, shape: tuple[int, int, int]) -> int:
    """``k = CBR x C H W`` complex channel uses: what the JSCC codec spends on the same image."""
    c, h, w = (int(v) for v in shape)
    k = Fraction(cbr).limit_denominator(10_000) * c * h * w
    if k.denominator != 1 or k < 1:
        raise ValueError(f"CBR {cbr} x {c}x{h}x{w} is not a whole number of channel uses")
    return int(k)


def payload_budget(tb_bits: int) -> int:
    """Bytes of image bitstream a TB carries: ``TBS/8`` minus the length field."""
    return tb_bits // 8 - LENGTH_BYTES


class DigitalImageTx(SyncBlock):
    """Digital transmitter of the separation baseline: each image is compressed by a standard
    codec at the best quality whose bitstream fits one 5G transport block, and the TB is sent as
    exactly the channel uses a JSCC codec would spend on the image.

    Per image (C, H, W): ``k = CBR x C H W`` complex symbols (:func:`channel_uses`); at the MCS
    (:mod:`semradio.dsp.digital.mcs`) they carry ``N = k Qm`` coded bits and a TB of ``TBS``
    information bits (TS 38.214). The TB holds ``[L: 24-bit length][L bytes of bitstream][zero
    padding]``, so the image codec gets ``TBS/8 - 3`` bytes (:func:`payload_budget`); the rate
    controller (:func:`semradio.models.image_codec.fit_budget`) picks the quality. Headers: the
    TB CRC-24A and a CRC-24B per code block (inside the TBS accounting of TS 38.212), the 3-byte
    length, and the codec's own headers (JPEG ~300 B, J2K ~150 B, WebP 30 B; see
    :func:`semradio.models.image_codec.header_bytes`). Out of band (configured at both ends, as
    a JSCC decoder knows its codec): codec, MCS, CBR, image size.

    An image whose lowest-quality bitstream does not fit is sent as an empty TB (L = 0): it is
    counted in :attr:`unfit` and in the ``unfit`` tag, and the receiver conceals it.

    Parameters
    ----------
    codec : {"jpeg", "jpeg2000", "webp"}, default "webp"
        Image codec (Pillow).
    mcs : int, default 7
        TS 38.214 Table 5.1.3.1-1 index.
    cbr : float, default 1/6
        Channel bandwidth ratio (channel uses per source value).
    iterations : int, default 20
        The receiver's LDPC iterations; only to share the cached Sionna chain.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Attributes
    ----------
    unfit : int
        Images that did not fit their TB so far.

    Raises
    ------
    ValueError
        At construction for an unknown codec, a codec this Pillow does not support, or an unknown
        MCS.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, C, H, W)
        Images in [0, 1] (numpy or torch), C = 1 or 3.

    **Outputs**

    ``out`` : complex64 (B, k)
        Unit-average-power QAM symbols (numpy).

    **Tags written**

    - ``mcs``, ``image_codec``, ``cbr``, ``k``, ``image_shape`` ([C, H, W]), ``tb_bits``;
    - ``payload_bytes`` (list, per image), ``source_quality`` (list; None if unfit);
    - ``unfit`` (images that did not fit).

    Other tags pass through.

    **Run-time parameters**

    None (all are set at construction).

    Examples
    --------
    >>> from semradio.blocks import DigitalImageTx
    >>> tx = DigitalImageTx("webp", mcs=7)            # WebP + 5G LDPC + QPSK (MCS 7), CBR 1/6
    >>> tx.inputs[0].dtype, tx.outputs[0].dtype
    ('float32', 'complex64')
    >>> fg.connect(ImageSource("photos:128"), tx, AWGNChannel(snr_db=5), rx)  # doctest: +SKIP
    """

    def __init__(self, codec: str = "webp", mcs: int = 7, cbr: float = 1 / 6, iterations: int = 20,
                 name: str | None = None) -> None:
        from semradio.dsp.digital.mcs import mcs_entry
        from semradio.models.image_codec import CODECS, available_codecs

        super().__init__(name)
        if codec not in CODECS:
            raise ValueError(f"DigitalImageTx {self.name!r}: codec must be one of {sorted(CODECS)}, got {codec!r}")
        if codec not in available_codecs():
            raise ValueError(f"DigitalImageTx {self.name!r}: this Pillow has no {codec} support")
        mcs_entry(mcs)
        self.codec = codec
        self.mcs = int(mcs)
        self.cbr = float(cbr)
        self.iterations = int(iterations)
        self.unfit = 0
        self.add_input("in", dtype="float32", shape=(None, None, None))
        self.add_output("out", dtype="complex64", shape=(None,))

    @classmethod
    def example(cls) -> "DigitalImageTx":
        return cls("webp", mcs=7)

    def link_for(self, shape: tuple[int, int, int]) -> Any:
        """The cached :class:`~semradio.dsp.digital.transport.TransportLink` of an image shape."""
        from semradio.dsp.digital.mcs import tb_layout
        from semradio.dsp.digital.transport import transport_link

        return transport_link(tb_layout(self.mcs, channel_uses(self.cbr, shape)), self.iterations)

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        from semradio.dsp.digital.transport import bytes_to_bits
        from semradio.models.image_codec import fit_budget

        x = A.to_numpy(frame.data) if A.is_torch(frame.data) else np.asarray(frame.data)
        if x.ndim != 4 or x.shape[0] == 0 or x.shape[1] not in (1, 3) or x.dtype != np.float32:
            raise block_error(self, f"input 'in' must be float32 images (B, C, H, W) with C = 1 or 3, got "
                                    f"{getattr(x, 'dtype', None)} {tuple(x.shape)}")
        if not np.isfinite(x).all():
            raise block_error(self, "input 'in' holds NaN or inf values")
        shape = tuple(int(v) for v in x.shape[1:])
        try:
            link = self.link_for(shape)
        except ValueError as exc:
            raise block_error(self, str(exc)) from None
        budget = payload_budget(link.tb_bits)
        bits = np.zeros((x.shape[0], link.tb_bits), np.uint8)
        sizes, qualities, unfit = [], [], 0
        for i, img in enumerate(x):
            fit = fit_budget(np.clip(img, 0.0, 1.0), self.codec, budget)
            data = b"" if fit is None else fit.data
            if fit is None:
                unfit += 1
            bits[i] = bytes_to_bits(len(data).to_bytes(LENGTH_BYTES, "big") + data, link.tb_bits)
            sizes.append(len(data))
            qualities.append(None if fit is None else round(float(fit.quality), 3))
        self.unfit += unfit
        y = link.encode(bits)
        return frame.replace(y, mcs=self.mcs, image_codec=self.codec, cbr=self.cbr, k=link.channel_uses,
                             image_shape=list(shape), tb_bits=link.tb_bits, payload_bytes=sizes,
                             source_quality=qualities, unfit=unfit)


__all__ = ["DigitalImageTx", "channel_uses", "payload_budget", "LENGTH_BYTES"]
