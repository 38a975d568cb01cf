"""OFDM transmitter: a frame of latent symbols -> one burst of complex baseband samples."""

from __future__ import annotations

from typing import Any

import numpy as np

from semradio.blocks.validation import block_error, check_payload, to_bool, to_float, to_int
from semradio.dsp import arrays as A
from semradio.dsp.ofdm.modem import modulate_burst
from semradio.dsp.ofdm.numerology import HEADER_FIELDS, Header, OFDMConfig, codec_id
from semradio.runtime import Frame, SyncBlock

_MAX_ITEMS = (1 << dict(HEADER_FIELDS)["items"]) - 1
#: Largest ``gap`` (zero samples after a burst).
MAX_GAP = 1 << 24
_MAX_LENGTH = (1 << dict(HEADER_FIELDS)["length"]) - 1

#: Tags the OFDM blocks write (on top of ``semradio.runtime.TAG_KEYS`` and the channel keys).
OFDM_TAG_KEYS: dict[str, str] = {
    "packet_len": "int, samples of the frame (GNU Radio's tagged-stream length tag)",
    "burst_len": "int, samples of the burst without the trailing gap",
    "sample_rate": "float, samples per second",
    "fft_size": "int, OFDM FFT size N",
    "cp_len": "int, cyclic prefix in samples",
    "codec_id": "int, 12-bit identifier of the codec (semradio.dsp.ofdm.codec_id)",
    "eval_tx_grid": "complex64 (S, n_used), the transmitted header+data grid (evaluation only)",
    "eval_tx_seq": "int, the seq the grid belongs to (evaluation only)",
    "csi": "str, genie | estimated: where the receiver's h and noise_var come from",
    "ofdm": "dict, the receiver's per-burst measurements (see OFDMReceiver)",
}


def ofdm_params(block: Any, fft_size: int, cp_len: int, half_width: int, pilot_spacing: int,
                header_symbols: int, sample_rate: float) -> None:
    """Declare the numerology parameters shared by the transmitter and the receiver (construction
    time only: both ends must agree, see :class:`semradio.dsp.ofdm.OFDMConfig`)."""
    block.cfg = OFDMConfig(fft_size=int(fft_size), cp_len=int(cp_len), half_width=int(half_width),
                           pilot_spacing=int(pilot_spacing), header_symbols=int(header_symbols),
                           sample_rate=float(sample_rate))


class OFDMTransmitter(SyncBlock):
    """Latent symbols -> one OFDM burst per frame (preamble, header, pilots, data, gap).

    The burst (layout and equations in :mod:`semradio.dsp.ofdm.numerology`): a Schmidl & Cox
    short training symbol, a doubled long training symbol, a header of BPSK symbols (fields
    ``seq`` (the frame's, mod 2^32), ``items`` = B, ``length`` = k, ``codec`` and a CRC-32;
    rate-1/3 convolutional code, interleaved, scrambled) and ``ceil(B k / n_data)`` data symbols carrying the
    latents, interleaved over the data carriers, with BPSK pilots on a comb in every symbol;
    then ``gap`` zero samples. The used carriers have unit mean power when the latents do
    (put a :class:`~semradio.blocks.PowerNormalizer` upstream); the burst then has about unit
    mean power per sample (times ``amplitude``).

    Parameters
    ----------
    fft_size : int, default 64
        N, FFT length (samples per useful symbol; a power of two >= 16).
    cp_len : int, default 16
        Cyclic prefix in samples (the LTS gets a double one).
    half_width : int, default 26
        W, used carriers ``1 <= |k| <= W``.
    pilot_spacing : int, default 4
        One pilot every this many used carriers.
    header_symbols : int, default 16
        OFDM symbols of the header.
    sample_rate : float, default 10e6
        Samples per second, in Hz (the subcarrier spacing is ``sample_rate / fft_size``).
    codec : str, default ""
        Name carried in the header as :func:`~semradio.dsp.ofdm.codec_id` ("" = 0).
    gap : int, default 0
        Zero samples after each burst (at most 2^24). Settable at run time.
    amplitude : float, default 1.0
        Sample scale (> 0; 1: unit mean power per sample). Settable at run time.
    keep_grid : bool, default False
        Tag ``eval_tx_grid`` and ``eval_tx_seq``. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape, NaN/inf, or more than 4095 items / 2^20 - 1
        symbols per item (what the header can announce); at construction for an invalid
        numerology (see :class:`~semradio.dsp.ofdm.numerology.OFDMConfig`).

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Latent symbols (numpy or torch; computed on the CPU).

    **Outputs**

    ``out`` : complex64 (1, n)
        Samples, ``n = burst_len + gap``: ready for ``ZMQSink(format="gnuradio")``, an IQ file or
        a SigMF recording.

    **Tags written**

    - ``packet_len`` (n), ``burst_len``, ``sample_rate``, ``fft_size``, ``cp_len``, ``codec_id``;
    - with ``keep_grid``: ``eval_tx_grid`` (complex64 (S, n_used), the header and data grid) and
      ``eval_tx_seq`` (what a genie-CSI receiver and the channel-NMSE report use).

    The data tags of the latents (``h``, ``W_s``...) are dropped: they describe symbols that no
    longer exist as such. Other tags pass through.

    **Run-time parameters**

    ``gap``, ``amplitude``, ``keep_grid``; the numerology and ``codec`` are set at construction.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Frame
    >>> tx = OFDMTransmitter(gap=100)
    >>> x = np.exp(2j * np.pi * np.random.default_rng(0).random((2, 64))).astype(np.complex64)
    >>> out = tx.work(Frame(x, {"seq": 3}))
    >>> out.data.shape, out.tags["packet_len"], out.tags["burst_len"]
    ((1, 2244), 2244, 2144)
    """

    def __init__(self, fft_size: int = 64, cp_len: int = 16, half_width: int = 26, pilot_spacing: int = 4,
                 header_symbols: int = 16, sample_rate: float = 10e6,
                 codec: str = "", gap: int = 0, amplitude: float = 1.0, keep_grid: bool = False,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="complex64", shape=(None,))
        try:
            ofdm_params(self, fft_size, cp_len, half_width, pilot_spacing, header_symbols, sample_rate)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        self.codec = str(codec)
        self._codec_id = codec_id(self.codec)
        self.declare_param("gap", gap, "zero samples after each burst (at most 2^24)",
                           to_int("gap", minimum=0, maximum=MAX_GAP))
        self.declare_param("amplitude", amplitude, "sample scale (1: unit mean power per sample)",
                           to_float("amplitude", minimum=0.0, strict_min=True))
        self.declare_param("keep_grid", keep_grid, "tag eval_tx_grid (for genie CSI and channel NMSE)", to_bool)

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        x = frame.data
        check_payload(self, x, dtype="complex64", finite=True)
        x = np.asarray(A.to_numpy(x))
        items, length = int(x.shape[0]), int(np.prod(x.shape[1:]))
        if not (1 <= items <= _MAX_ITEMS and 1 <= length <= _MAX_LENGTH):
            raise block_error(self, f"a header announces 1..{_MAX_ITEMS} items of 1..{_MAX_LENGTH} symbols; "
                                    f"got {items} x {length}")
        seq = frame.tags.get("seq", 0)
        header = Header(seq=int(seq) & 0xFFFFFFFF, items=items, length=length, codec=self._codec_id)
        burst, grid = modulate_burst(self.cfg, x.reshape(-1).astype(np.complex128), header)
        p = self.params
        gap = p["gap"]
        out = np.zeros((1, burst.size + gap), np.complex64)
        out[0, : burst.size] = burst * p["amplitude"]
        tags = {k: v for k, v in frame.tags.items() if k not in _LATENT_TAGS}
        tags.update(packet_len=out.shape[1], burst_len=burst.size, sample_rate=self.cfg.sample_rate,
                    fft_size=self.cfg.fft_size, cp_len=self.cfg.cp_len, codec_id=self._codec_id)
        if p["keep_grid"]:
            tags["eval_tx_grid"] = grid.astype(np.complex64)
            tags["eval_tx_seq"] = header.seq
        return Frame(out, tags)


#: Tags of latent-symbol frames that do not survive modulation.
_LATENT_TAGS = frozenset({"h", "W_s", "W_n", "W_z", "eval_h_true", "eval_noise", "noise_var", "snr_db", "sinr_db",
                          "channel", "channel_model", "equalizer", "eval_tx_grid", "eval_tx_seq"})

__all__ = ["OFDMTransmitter", "OFDM_TAG_KEYS", "ofdm_params"]
