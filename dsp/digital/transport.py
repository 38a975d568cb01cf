"""Bits over complex channel uses and back: the 5G NR transport-block chain of Sionna PHY with
QAM and soft demapping.

Transmit (per item, TS 38.212/38.211 as implemented by Sionna PHY's ``TBEncoder``): CRC-24A on the
TB, segmentation into code blocks with a CRC-24B each (when more than one), 5G LDPC encoding,
rate matching to the code blocks' lengths, bit interleaving, PDSCH scrambling; then Gray QAM
(Sionna ``Mapper``, unit average power).

Receive, given ``y = h x + n`` with ``n ~ CN(0, s2)`` and the receiver's CSI ``h`` per symbol:
zero-forcing ``x_eq = y / h`` whose noise variance is ``s2 / |h|^2``; exact bit LLRs (Sionna
``Demapper("app")``, ``log p(b=1)/p(b=0)``) with that per-symbol variance; then ``TBDecoder``
(descrambling, de-interleaving, rate recovery, belief-propagation LDPC decoding with ``num_iter``
iterations, CRC checks). The TB's CRC-24A decides: a failed TB is an erasure, its bits are not
used.

    >>> link = TransportLink(tb_layout(20, 8192))          # doctest: +SKIP
    >>> x = link.encode(bits)            # (B, 27144) uint8 -> (B, 8192) complex64   # doctest: +SKIP
    >>> bits_hat, ok = link.decode(x, np.ones_like(x), 1e-3)                        # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import io
import threading
from typing import Any

import numpy as np

from semradio.dsp.digital.mcs import TBLayout

#: Floor of |h|^2 in the per-symbol noise variance s2/|h|^2 (a deep fade gives LLRs near 0).
MIN_GAIN2 = 1e-12


class TransportLink:
    """Encoder and decoder of one :class:`~semradio.dsp.digital.mcs.TBLayout` (Sionna PHY, torch
    on the CPU; needs the ``phy`` extra).

    Args:
        layout: the transport block (MCS, channel uses, TBS).
        num_iter: belief-propagation iterations of the LDPC decoder (20; boxplus-phi check nodes).
        n_rnti / n_id: scrambling identities (TS 38.211 7.3.1.1).
    """

    def __init__(self, layout: TBLayout, num_iter: int = 20, n_rnti: int = 1, n_id: int = 1) -> None:
        import torch
        from sionna.phy.mapping import Demapper, Mapper
        from sionna.phy.nr import TBDecoder, TBEncoder

        self.layout = layout
        self.num_iter = int(num_iter)
        with contextlib.redirect_stdout(io.StringIO()):  # Sionna prints a note on TBS quantisation
            self._enc = TBEncoder(target_tb_size=layout.tb_bits, num_coded_bits=layout.coded_bits,
                                  target_coderate=layout.rate, num_bits_per_symbol=layout.qm, n_rnti=n_rnti,
                                  n_id=n_id, channel_type="PDSCH", device="cpu")
        if self._enc.tb_size != layout.tb_bits or self._enc.n != layout.coded_bits:
            raise ValueError(f"Sionna's TBEncoder made TBS {self._enc.tb_size}/{self._enc.n} coded bits, "
                             f"expected {layout.tb_bits}/{layout.coded_bits}")
        self._dec = TBDecoder(self._enc, num_bp_iter=self.num_iter, device="cpu")
        self._map = Mapper("qam", layout.qm, device="cpu")
        self._demap = Demapper("app", "qam", layout.qm, device="cpu")
        self._torch = torch
        self._lock = threading.Lock()

    @property
    def tb_bits(self) -> int:
        return self.layout.tb_bits

    @property
    def channel_uses(self) -> int:
        return self.layout.channel_uses

    def encode(self, bits: np.ndarray) -> np.ndarray:
        """Bits (B, TBS) in {0, 1} -> symbols (B, k) complex64, unit average power."""
        torch = self._torch
        b = np.asarray(bits)
        if b.ndim != 2 or b.shape[1] != self.tb_bits:
            raise ValueError(f"bits must have shape (B, {self.tb_bits}), got {b.shape}")
        with self._lock, torch.no_grad():
            c = self._enc(torch.as_tensor(b, dtype=torch.float32))
            x = self._map(c)
        return x.numpy().astype(np.complex64)

    def llrs(self, y: np.ndarray, h: np.ndarray | None, noise_var: float) -> np.ndarray:
        """Bit LLRs (B, k Qm) float32 of received symbols (B, k) with CSI ``h`` (None: 1)."""
        torch = self._torch
        y = np.asarray(y, np.complex64)
        if h is None:
            x_eq = y
            no = np.full(y.shape, max(float(noise_var), 1e-12), np.float32)
        else:
            h = np.asarray(h, np.complex64)
            g2 = np.maximum(np.abs(h) ** 2, MIN_GAIN2)
            x_eq = (y * np.conj(h) / g2).astype(np.complex64)
            no = (max(float(noise_var), 1e-12) / g2).astype(np.float32)
        with self._lock, torch.no_grad():
            out = self._demap(torch.as_tensor(x_eq), torch.as_tensor(no))
        return out.numpy()

    def decode(self, y: np.ndarray, h: np.ndarray | None, noise_var: float) -> tuple[np.ndarray, np.ndarray]:
        """``(bits (B, TBS) uint8, ok (B,) bool)``: decoded bits and the TB CRC-24A check."""
        torch = self._torch
        lam = self.llrs(y, h, noise_var)
        with self._lock, torch.no_grad():
            b_hat, crc = self._dec(torch.as_tensor(lam))
        return b_hat.numpy().astype(np.uint8), crc.numpy().astype(bool).reshape(-1)


_CACHE: dict[tuple[Any, ...], TransportLink] = {}
_CACHE_LOCK = threading.Lock()


def transport_link(layout: TBLayout, num_iter: int = 20) -> TransportLink:
    """A shared :class:`TransportLink` per (layout, iterations) (building one costs ~0.3 s)."""
    key = (layout, int(num_iter))
    with _CACHE_LOCK:
        link = _CACHE.get(key)
        if link is None:
            link = _CACHE[key] = TransportLink(layout, num_iter)
        return link


def bytes_to_bits(data: bytes, n_bits: int) -> np.ndarray:
    """``data`` as bits (n_bits,) uint8, MSB first, zero-padded (ValueError if it does not fit)."""
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    if bits.size > n_bits:
        raise ValueError(f"{len(data)} bytes do not fit in {n_bits} bits")
    out = np.zeros(n_bits, np.uint8)
    out[:bits.size] = bits
    return out


def bits_to_bytes(bits: np.ndarray) -> bytes:
    """Bits (n,) (n a multiple of 8), MSB first -> bytes."""
    return np.packbits(np.asarray(bits, np.uint8)).tobytes()


__all__ = ["TransportLink", "transport_link", "bytes_to_bits", "bits_to_bytes", "MIN_GAIN2"]
