"""OFDM numerology and burst layout of the semradio link.

One burst carries one frame of latent symbols::

    | STS: R x N/2    | LTS: 2 CP + 2 N         | header: H x (CP + N)   | data: S x (CP + N)   |
      R repetitions     two copies of a long       BPSK, rate-1/3 K=7 conv. latents on the data
      of one N/2-sample training symbol (fine      code of (seq, items,     carriers, pilots on a
      sequence          timing, CFO, noise)        length, codec, CRC-32)   comb in every symbol
      (detection,
      coarse CFO)

The STS is 802.11a's idea with Schmidl & Cox's period: R periods of N/2 samples (the OFDM
symbol of its even carriers), so the delayed autocorrelation (lag N/2) can average over
``(R - 2) N/2`` samples; that window sets how far below 0 dB SNR a burst is still detected
(see :mod:`semradio.dsp.ofdm.sync`).

Subcarriers are indexed ``k = -N/2 .. N/2 - 1`` (FFT bin ``k mod N``); the used ones are
``1 <= |k| <= W`` (DC and the band edges stay empty, 802.11a-style); pilots sit every
``pilot_spacing`` used carriers counted from each band edge inward, so both edges are pilots and
interpolation never extrapolates. Every training, pilot and header value is a fixed pseudo-random
BPSK/QPSK sequence (seed ``pn_seed``) known to both ends.

Power: the frequency-domain values (latents, pilots, header BPSK) have unit mean power; the
transmitter scales the IFFT so that a burst has unit mean power per sample; the receiver undoes
the same scale, so on every used carrier ``Y = H X + W``, ``E|X|^2 = 1``.

Sionna PHY's ``ResourceGrid`` describes the same grid (``to_sionna_resource_grid``); the
streaming transmitter and receiver use the numpy tables below (one burst per call, no per-call
tensor set-up; see :mod:`semradio.dsp.ofdm.estimation` for the comparison with Sionna's LS
estimator).

    >>> cfg = OFDMConfig()
    >>> len(cfg.used), len(cfg.pilots), len(cfg.data), cfg.symbol_len, cfg.preamble_len
    (52, 14, 38, 80, 544)
    >>> cfg.burst_len(512 * 16)
    19104
"""

from __future__ import annotations

import functools
import math
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .coding import coded_length


@dataclass(frozen=True)
class OFDMConfig:
    """Numerology of the link (both ends must use the same).

    Attributes:
        fft_size: N, FFT length (samples per useful symbol).
        cp_len: cyclic prefix (samples); the LTS gets a double one.
        half_width: W, used carriers ``1 <= |k| <= W``.
        pilot_spacing: one pilot every this many used carriers (comb, in every symbol).
        sts_repetitions: R, periods of N/2 samples in the short training sequence (>= 4).
        header_symbols: OFDM symbols of the header (its data slots carry the coded header,
            cyclically repeated to fill them; at least ``coded_length(HEADER_BITS)`` slots). 16
            symbols (608 slots for 354 coded bits) decode 79 % of bursts at 0 dB over TDL-A
            where 10 decode 69 % (``tests/dsp/ofdm/test_receiver.py`` measures 5 dB).
        sample_rate: samples per second (the subcarrier spacing is ``sample_rate / fft_size``).
        pn_seed: seed of the training, pilot and header-scrambling sequences.
        interleave_seed: seed of the latent-to-carrier interleaver.
    """

    fft_size: int = 64
    cp_len: int = 16
    half_width: int = 26
    pilot_spacing: int = 4
    sts_repetitions: int = 12
    header_symbols: int = 16
    sample_rate: float = 10e6
    pn_seed: int = 0x5E3
    interleave_seed: int = 0x1A7

    def __post_init__(self) -> None:
        n = self.fft_size
        if n < 16 or n & (n - 1):
            raise ValueError(f"fft_size must be a power of two >= 16, got {n}")
        if not 0 < self.cp_len < n:
            raise ValueError(f"cp_len must be in 1..{n - 1}, got {self.cp_len}")
        if not 2 <= self.half_width < n // 2:
            raise ValueError(f"half_width must be in 2..{n // 2 - 1}, got {self.half_width}")
        if not (math.isfinite(self.sample_rate) and self.sample_rate > 0):
            raise ValueError(f"sample_rate must be a finite number > 0, got {self.sample_rate}")
        if self.sts_repetitions < 4:
            raise ValueError(f"sts_repetitions must be >= 4, got {self.sts_repetitions}")
        if self.pilot_spacing < 2:
            raise ValueError(f"pilot_spacing must be >= 2, got {self.pilot_spacing}")
        if self.header_symbols * len(self.data) < HEADER_CODED:
            raise ValueError(f"the header needs {HEADER_CODED} data slots, "
                             f"{self.header_symbols} symbols hold {self.header_symbols * len(self.data)}")

    # ------------------------------------------------------------------ carriers
    @functools.cached_property
    def used(self) -> np.ndarray:
        """Used subcarrier indices ``k`` (int64, ascending)."""
        w = self.half_width
        return np.concatenate([np.arange(-w, 0), np.arange(1, w + 1)]).astype(np.int64)

    @functools.cached_property
    def pilots(self) -> np.ndarray:
        """Pilot subcarriers: every ``pilot_spacing``-th used carrier from each band edge inward."""
        s, w = self.pilot_spacing, self.half_width
        neg = np.arange(-w, 0, s)
        pos = np.arange(w, 0, -s)[::-1]
        return np.concatenate([neg, pos]).astype(np.int64)

    @functools.cached_property
    def data(self) -> np.ndarray:
        """Data subcarriers: the used ones that are not pilots."""
        return np.setdiff1d(self.used, self.pilots)

    @functools.cached_property
    def pilot_pos(self) -> np.ndarray:
        """Positions of the pilots within :attr:`used`."""
        return np.searchsorted(self.used, self.pilots)

    @functools.cached_property
    def data_pos(self) -> np.ndarray:
        """Positions of the data carriers within :attr:`used`."""
        return np.searchsorted(self.used, self.data)

    def bins(self, k: np.ndarray) -> np.ndarray:
        """FFT bins of subcarrier indices."""
        return np.mod(k, self.fft_size)

    # ------------------------------------------------------------------ lengths
    @property
    def symbol_len(self) -> int:
        """Samples per OFDM symbol with its cyclic prefix."""
        return self.fft_size + self.cp_len

    @property
    def sts_len(self) -> int:
        """Samples of the STS: R N/2."""
        return self.sts_repetitions * (self.fft_size // 2)

    @property
    def detection_window(self) -> int:
        """Samples the detector's delayed autocorrelation sums over: (R - 2) N/2 (one period
        left for the channel's delay spread, one for the lag)."""
        return (self.sts_repetitions - 2) * (self.fft_size // 2)

    @property
    def lts_offset(self) -> int:
        """Offset of the LTS' first useful copy from the burst start."""
        return self.sts_len + 2 * self.cp_len

    @property
    def preamble_len(self) -> int:
        """Samples of STS + LTS."""
        return self.sts_len + 2 * self.cp_len + 2 * self.fft_size

    @property
    def header_offset(self) -> int:
        """Offset of the header's first symbol from the burst start."""
        return self.preamble_len

    def data_symbols(self, n_values: int) -> int:
        """OFDM data symbols that carry ``n_values`` latent symbols."""
        return max(1, math.ceil(n_values / len(self.data)))

    def burst_len(self, n_values: int) -> int:
        """Samples of a burst carrying ``n_values`` latent symbols."""
        return self.preamble_len + (self.header_symbols + self.data_symbols(n_values)) * self.symbol_len

    @property
    def tx_scale(self) -> float:
        """Time-domain gain after a unitary IFFT that gives unit mean power per sample when the
        used carriers have unit power: ``sqrt(N / n_used)``."""
        return math.sqrt(self.fft_size / len(self.used))

    @property
    def subcarrier_spacing(self) -> float:
        """Hz."""
        return self.sample_rate / self.fft_size

    # ------------------------------------------------------------------ known sequences
    def _rng(self, stream: int) -> np.random.Generator:
        return np.random.default_rng([self.pn_seed, stream])

    @functools.cached_property
    def sts_freq(self) -> np.ndarray:
        """STS values on the used carriers: QPSK on the even ones, 0 on the odd ones, scaled by
        sqrt(2) to keep unit mean power: periodic with period N/2 in time."""
        q = (self._rng(1).integers(0, 2, (len(self.used), 2)) * 2 - 1) @ np.array([1, 1j]) / math.sqrt(2)
        return np.where(self.used % 2 == 0, q * math.sqrt(2), 0).astype(np.complex128)

    @functools.cached_property
    def lts_freq(self) -> np.ndarray:
        """LTS values on the used carriers: BPSK."""
        return (self._rng(2).integers(0, 2, len(self.used)) * 2 - 1).astype(np.complex128)

    def pilot_values(self, n_symbols: int) -> np.ndarray:
        """Pilot values (n_symbols, n_pilots): BPSK, a fresh pseudo-random row per symbol (the
        header's symbols come first, then the data's)."""
        return _pilot_table(self, n_symbols)

    @functools.cached_property
    def header_scrambler(self) -> np.ndarray:
        """±1 per header slot: the coded header bits are scrambled with it."""
        n = self.header_symbols * len(self.data)
        return (self._rng(4).integers(0, 2, n) * 2 - 1).astype(np.float64)

    @functools.cached_property
    def header_slots(self) -> np.ndarray:
        """Coded header bit carried by each data slot of the header symbols (row-major over symbols
        x data carriers): ``i mod HEADER_CODED`` at slot ``perm[i]`` of a fixed pseudo-random
        permutation (an interleaver: neighbouring coded bits land on distant carriers and
        symbols; the slots beyond ``HEADER_CODED`` repeat the first coded bits)."""
        n = self.header_symbols * len(self.data)
        perm = self._rng(5).permutation(n)
        out = np.empty(n, np.int64)
        out[perm] = np.arange(n) % HEADER_CODED
        out.setflags(write=False)
        return out

    def interleaver(self, n_values: int) -> np.ndarray:
        """Slot (row-major over data symbols x data carriers) of latent symbol ``i``: a fixed
        pseudo-random permutation of the burst's data slots, so a frequency-selective fade hits
        latents scattered over the whole frame."""
        return _interleaver(self, n_values)

    def to_sionna_resource_grid(self, n_symbols: int) -> Any:
        """The data part of a burst as a Sionna PHY ``ResourceGrid`` (``num_ofdm_symbols =
        n_symbols``; guard carriers and DC null as here; a comb pilot pattern at
        :attr:`pilots`): for cross-checking against Sionna's estimators."""
        import torch
        from sionna.phy.ofdm import PilotPattern, ResourceGrid

        n = self.fft_size
        lo = n // 2 - self.half_width          # guard carriers below
        hi = n // 2 - 1 - self.half_width      # and above (bins k = -N/2 .. N/2-1)
        mask = np.zeros((1, 1, n_symbols, len(self.used)), bool)  # over the effective carriers
        pilots = self.pilot_values(n_symbols)
        mask[..., self.pilot_pos] = True
        pp = PilotPattern(torch.tensor(mask), torch.tensor(pilots.reshape(1, 1, -1), dtype=torch.complex64))
        return ResourceGrid(num_ofdm_symbols=n_symbols, fft_size=n, subcarrier_spacing=self.subcarrier_spacing,
                            num_tx=1, num_streams_per_tx=1, cyclic_prefix_length=self.cp_len,
                            num_guard_carriers=(lo, hi), dc_null=True, pilot_pattern=pp)


@functools.lru_cache(maxsize=32)
def _pilot_table_cached(cfg: OFDMConfig, n_symbols: int) -> np.ndarray:
    rng = np.random.default_rng([cfg.pn_seed, 3])
    t = (rng.integers(0, 2, (n_symbols, len(cfg.pilots))) * 2 - 1).astype(np.complex128)
    t.setflags(write=False)
    return t


def _pilot_table(cfg: OFDMConfig, n_symbols: int) -> np.ndarray:
    # grow in powers of two so that bursts of many lengths share a few cached tables
    size = 1 << max(6, (n_symbols - 1).bit_length())
    return _pilot_table_cached(cfg, size)[:n_symbols]


@functools.lru_cache(maxsize=64)
def _interleaver(cfg: OFDMConfig, n_values: int) -> np.ndarray:
    n_slots = cfg.data_symbols(n_values) * len(cfg.data)
    perm = np.random.default_rng([cfg.interleave_seed, n_values]).permutation(n_slots)[:n_values]
    perm.setflags(write=False)
    return perm


# ---------------------------------------------------------------------------- header fields
#: Header fields and their widths in bits (then CRC-32).
HEADER_FIELDS: tuple[tuple[str, int], ...] = (("version", 4), ("seq", 32), ("items", 12), ("length", 20),
                                              ("codec", 12))
HEADER_VERSION = 1
HEADER_BITS = sum(w for _, w in HEADER_FIELDS) + 32
#: Coded header bits (rate 1/3 with the 6-bit zero tail).
HEADER_CODED = coded_length(HEADER_BITS)


def codec_id(name: str | None) -> int:
    """12-bit identifier of a codec name carried in the header (CRC-32 of the name, folded);
    0 for none."""
    if not name:
        return 0
    c = zlib.crc32(name.encode())
    return ((c ^ (c >> 12) ^ (c >> 24)) & 0xFFF) or 1


@dataclass(frozen=True)
class Header:
    """The fields a burst's header carries.

    Attributes:
        seq: the frame counter of the transmitted frame (32 bits).
        items: images (rows) in the frame (12 bits).
        length: latent symbols per item, k (20 bits).
        codec: :func:`codec_id` of the codec that made the latents (12 bits).
    """

    seq: int
    items: int
    length: int
    codec: int = 0
    version: int = field(default=HEADER_VERSION)

    def __post_init__(self) -> None:
        for name, width in HEADER_FIELDS:
            v = getattr(self, name)
            if not 0 <= v < (1 << width):
                raise ValueError(f"header field {name}={v} does not fit {width} bits")
        if self.items < 1 or self.length < 1:
            raise ValueError("a burst carries at least one item of one symbol")

    @property
    def n_values(self) -> int:
        """Latent symbols in the burst."""
        return self.items * self.length

    def to_bits(self) -> np.ndarray:
        """The fields, MSB first, then the CRC-32 (IEEE 802.3, as ``zlib.crc32`` and GNU
        Radio's ``digital.crc32_bb``) of the field bytes: (HEADER_BITS,) uint8."""
        bits = np.concatenate([_to_bits(getattr(self, n), w) for n, w in HEADER_FIELDS])
        return np.concatenate([bits, _to_bits(zlib.crc32(np.packbits(bits).tobytes()), 32)])

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> "Header | None":
        """The header of ``HEADER_BITS`` decided bits, or None when the CRC fails or a field is
        out of range (never garbage)."""
        bits = np.asarray(bits, np.uint8)
        if bits.size != HEADER_BITS:
            return None
        payload, crc = bits[:-32], bits[-32:]
        if zlib.crc32(np.packbits(payload).tobytes()) != _from_bits(crc):
            return None
        value, n = _from_bits(payload), payload.size
        vals = {}
        for name, width in HEADER_FIELDS:
            n -= width
            vals[name] = (value >> n) & ((1 << width) - 1)
        if vals["version"] != HEADER_VERSION or vals["items"] < 1 or vals["length"] < 1:
            return None
        return cls(**vals)


def _to_bits(value: int, width: int) -> np.ndarray:
    return np.array([(value >> (width - 1 - i)) & 1 for i in range(width)], np.uint8)


def _from_bits(bits: np.ndarray) -> int:
    """MSB-first bits -> int."""
    pad = (-bits.size) % 8
    return int.from_bytes(np.packbits(bits).tobytes(), "big") >> pad


__all__ = ["OFDMConfig", "Header", "HEADER_BITS", "HEADER_CODED", "HEADER_FIELDS", "HEADER_VERSION", "codec_id"]
