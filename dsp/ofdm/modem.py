"""OFDM burst modulation and demodulation (numpy, vectorised over symbols).

:func:`modulate_burst` builds a burst from latent symbols (layout in
:mod:`semradio.dsp.ofdm.numerology`); :func:`demodulate` takes the useful part of consecutive
OFDM symbols back to the used carriers, in the transmitter's units (``Y = H X + W``).

    >>> import numpy as np
    >>> from semradio.dsp.ofdm.numerology import Header, OFDMConfig
    >>> cfg = OFDMConfig()
    >>> x = np.exp(2j * np.pi * np.random.default_rng(0).random(100))
    >>> burst, grid = modulate_burst(cfg, x, Header(seq=7, items=1, length=100))
    >>> burst.shape, round(float(np.mean(np.abs(burst) ** 2)), 2)
    ((2064,), 0.99)
"""

from __future__ import annotations

import numpy as np

from .coding import conv_encode, viterbi_decode
from .numerology import HEADER_BITS, HEADER_CODED, Header, OFDMConfig


def ifft_symbols(cfg: OFDMConfig, values: np.ndarray) -> np.ndarray:
    """Used-carrier values (S, n_used) -> time-domain symbols with CP (S, N + CP), unit power
    per sample for unit-power carriers (unitary IFFT times :attr:`OFDMConfig.tx_scale`)."""
    s = values.shape[0]
    grid = np.zeros((s, cfg.fft_size), np.complex128)
    grid[:, cfg.bins(cfg.used)] = values
    t = np.fft.ifft(grid, axis=1) * (np.sqrt(cfg.fft_size) * cfg.tx_scale)
    return np.concatenate([t[:, -cfg.cp_len:], t], axis=1)


def preamble(cfg: OFDMConfig) -> np.ndarray:
    """STS (R periods of N/2 samples) followed by the LTS (2 CP + 2 N), complex128."""
    period = ifft_symbols(cfg, cfg.sts_freq[None])[0, cfg.cp_len: cfg.cp_len + cfg.fft_size // 2]
    lts = ifft_symbols(cfg, cfg.lts_freq[None])[0, cfg.cp_len:]  # one useful copy
    return np.concatenate([np.tile(period, cfg.sts_repetitions), lts[-2 * cfg.cp_len:], lts, lts])


def lts_time(cfg: OFDMConfig) -> np.ndarray:
    """One useful LTS copy in time (N,), for fine timing."""
    return ifft_symbols(cfg, cfg.lts_freq[None])[0, cfg.cp_len:]


def header_values(cfg: OFDMConfig, header: Header) -> np.ndarray:
    """The header's data-slot values (header_symbols * n_data,): the header bits (fields and
    CRC-32) convolutionally encoded (:mod:`semradio.dsp.ofdm.coding`), spread over the slots by
    :attr:`OFDMConfig.header_slots`, BPSK (``1 - 2c``), scrambled."""
    code = conv_encode(header.to_bits())
    return (1.0 - 2.0 * code[cfg.header_slots].astype(np.float64)) * cfg.header_scrambler


def build_grid(cfg: OFDMConfig, latents: np.ndarray, header: Header) -> np.ndarray:
    """Header and data symbols on the used carriers (H + S, n_used): pilots on the comb, the
    header's BPSK then the interleaved latents on the data carriers (unused trailing slots 0)."""
    n = latents.size
    s_data = cfg.data_symbols(n)
    s = cfg.header_symbols + s_data
    vals = np.zeros((s, len(cfg.used)), np.complex128)
    vals[:, cfg.pilot_pos] = cfg.pilot_values(s)
    data = np.zeros(s * len(cfg.data), np.complex128)
    h = cfg.header_symbols * len(cfg.data)
    data[:h] = header_values(cfg, header)
    payload = np.zeros(s_data * len(cfg.data), np.complex128)
    payload[cfg.interleaver(n)] = latents.ravel()
    data[h:] = payload
    vals[:, cfg.data_pos] = data.reshape(s, len(cfg.data))
    return vals


def modulate_burst(cfg: OFDMConfig, latents: np.ndarray, header: Header) -> tuple[np.ndarray, np.ndarray]:
    """A whole burst: ``(samples (burst_len,) complex128, grid (H + S, n_used))``.

    ``latents``: the frame's complex latent symbols in C order (``header.n_values`` of them,
    unit mean power)."""
    if latents.size != header.n_values:
        raise ValueError(f"{latents.size} latent symbols for a header announcing {header.n_values}")
    grid = build_grid(cfg, latents, header)
    body = ifft_symbols(cfg, grid).ravel()
    return np.concatenate([preamble(cfg), body]), grid


def demodulate(cfg: OFDMConfig, x: np.ndarray, start: int, n_symbols: int, backoff: int = 0) -> np.ndarray:
    """Used-carrier values (n_symbols, n_used) of the OFDM symbols whose CP starts at ``start``:
    each FFT window begins ``backoff`` samples before the end of its CP (a timing margin inside
    the CP; its linear phase is part of the estimated channel), unitary FFT divided by
    :attr:`OFDMConfig.tx_scale`."""
    L, n = cfg.symbol_len, cfg.fft_size
    first = start + cfg.cp_len - backoff
    span = x[first:first + (n_symbols - 1) * L + n]
    if first < 0 or span.size < (n_symbols - 1) * L + n:
        raise ValueError(f"{n_symbols} symbols from {start} need {first + (n_symbols - 1) * L + n} samples, "
                         f"got {x.size}")
    seg = np.lib.stride_tricks.sliding_window_view(span, n)[::L]
    f = np.fft.fft(seg, axis=1) / (np.sqrt(cfg.fft_size) * cfg.tx_scale)
    return f[:, cfg.bins(cfg.used)]


def decode_header_bits(cfg: OFDMConfig, soft: np.ndarray) -> np.ndarray:
    """Decided header bits (HEADER_BITS,) from the header grid's soft BPSK values on the data
    slots (header_symbols * n_data,), positive for bit 0 (``Re(conj(H) Y)``: maximum-ratio
    weights): descramble, add the copies of each coded bit, soft Viterbi decoding."""
    s = soft * cfg.header_scrambler
    comb = np.bincount(cfg.header_slots, weights=s, minlength=HEADER_CODED)
    return viterbi_decode(comb)


__all__ = ["ifft_symbols", "preamble", "lts_time", "header_values", "build_grid", "modulate_burst", "demodulate",
           "decode_header_bits", "HEADER_BITS"]
