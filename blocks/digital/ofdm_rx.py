"""OFDM receiver: a stream of complex baseband samples -> latent frames with estimated CSI."""

from __future__ import annotations

import collections
import math
import time
from typing import Any

import numpy as np

from semradio.blocks.digital.ofdm_tx import ofdm_params
from semradio.blocks.validation import check_payload, to_choice, to_float
from semradio.dsp import arrays as A
from semradio.dsp.ofdm.estimation import REFERENCES
from semradio.dsp.ofdm.receiver import RECEIVER_ESTIMATORS, BurstReceiver, Decoded
from semradio.runtime import Block, Frame, Frames

CSI_MODES = ("estimated", "genie")

#: Tags of a sample chunk that describe the chunk, not the burst decoded from it.
_CHUNK_TAGS = frozenset({
    "packet_len", "burst_len", "sample_offset", "annotations", "eval_noiseless", "eval_tx_grid", "eval_tx_seq",
    "h", "W_s", "W_n", "W_z", "noise_var", "snr_db", "sinr_db", "eval_h_true", "eval_noise", "seq", "t_ns",
})


class OFDMReceiver(Block):
    """Sample stream -> one latent frame per decoded burst, with the CSI estimated from the burst.

    Runs :class:`semradio.dsp.ofdm.receiver.BurstReceiver` (detection and coarse timing with a
    Schmidl & Cox metric on the repeated STS, fractional and integer CFO, fine timing on the
    LTS, noise variance from the two LTS copies, header with CRC, LS/LMMSE channel estimation
    on the LTS and header tracked by the pilots, or on the pilots alone) on whatever chunks of
    samples arrive (any sizes, bursts may straddle chunks), and emits ``y = h x + w`` per burst
    for the :class:`~semradio.blocks.MMSEEqualizer` downstream. A burst whose header fails its
    CRC is dropped and counted (``drops_by_reason["header_crc"]``); nothing undecodable becomes a
    frame. Non-finite samples (and any whose power overflows float32) are zeroed and counted
    (``nonfinite_samples``).

    Parameters
    ----------
    fft_size, cp_len, half_width, pilot_spacing, header_symbols, sample_rate
        The numerology, as :class:`~semradio.blocks.OFDMTransmitter` (defaults 64, 16, 26, 4, 16,
        10e6 Hz); it must match the transmitter's.
    estimator : {"lmmse", "ls", "diffusion"}, default "lmmse"
        Channel estimator; "diffusion": the diffusion channel estimator ``diffusion_model`` on
        ``device``, whose expected error variance is the ``csi_error_var`` tag.
    reference : {"auto", "preamble", "pilots"}, default "auto"
        What the channel estimate is built from (see :mod:`semradio.dsp.ofdm.receiver`).
    csi : {"estimated", "genie"}, default "estimated"
        Emit the estimated channel, or the true one (simulations only). Settable at run time.
    threshold : float, default 0.03
        Detection threshold on the Schmidl & Cox metric, in (0, 1). Settable at run time.
    window : int, default 4
        Pilot phases (``preamble``) or pilots (``pilots``) averaged over ``2 window + 1`` symbols.
    backoff : int, optional
        FFT window start, samples before the end of each CP (None: CP/4).
    max_int_cfo : int, default 2
        Largest whole-carrier CFO searched (subcarrier spacings).
    max_values : int, default 2^22
        Largest burst (latent symbols) a header may announce.
    max_buffer : int, default 2^24
        Samples kept while waiting for a burst's end.
    keep_grid : bool, default False
        Tag each burst's received and estimated grids (for scopes).
    diffusion_model : str, default "chest_tdllink"
        Checkpoint of the diffusion estimator (``estimator="diffusion"``).
    device : str, default "cpu"
        Where the diffusion estimator runs ("cpu" | "cuda" | "auto").
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        At construction for an invalid numerology, an unknown ``estimator`` or ``reference``, or a
        bad receiver setting (e.g. ``backoff`` outside the CP); never for a frame: what cannot be
        decoded is dropped and counted.

    Notes
    -----
    **Inputs**

    ``in`` : complex64
        Samples, any 2-D shape, read row after row; e.g. (1, n) frames from an
        :class:`~semradio.blocks.OFDMTransmitter`, a channel, ``ZMQSource(format="gnuradio")`` or a
        SigMF/IQ file source.

    **Outputs**

    ``out`` : complex64 (items, length)
        The received latent symbols of one burst, de-interleaved, in the transmitter's units
        (``E|x|^2 = 1``).

    **Tags read**

    - ``eval_noiseless`` (complex, the chunk without noise) and ``eval_tx_grid`` /
      ``eval_tx_seq`` (from the transmitter) give the genie channel;
    - ``eval_noise_var`` (noise variance per sample) the true noise.

    Only used for ``csi="genie"`` and the ``eval_*`` tags.

    **Tags written** (per burst)

    - ``seq`` (the header's), ``t_ns`` (arrival of the chunk that completed the burst);
    - ``h`` (complex64 (items, length), estimated, or true with ``csi="genie"``);
    - ``noise_var`` (s2 plus the estimate's expected error variance: what an MMSE equaliser
      should assume);
    - ``snr_db`` / ``sinr_db`` (``10 log10(1 / noise_var)``, per latent symbol);
    - ``csi`` ("estimated" | "genie"), ``csi_error_var``, ``channel`` / ``channel_model``
      ("ofdm"), ``px`` (1.0), ``codec_id``;
    - ``ofdm`` (dict: ``start`` sample, ``cfo`` in subcarrier spacings, ``metric``,
      ``timing_peak``, ``noise_var`` s2, ``snr_db_lts``, ``reference`` the estimate was built from);
    - ``eval_h_true`` and ``eval_noise_var`` when the genie inputs are present;
    - with ``keep_grid``: ``grid_y`` and ``grid_h`` (complex64 (S, n_used), header+data grid, for
      scopes).

    The other tags of the chunk the burst starts in pass through (not its ``packet_len``,
    ``h``...); its ``snr_db`` (a simulated channel's setting) becomes ``eval_snr_db``.

    **Run-time parameters**

    ``csi``, ``threshold``; the others are set at construction.

    **Status**

    The receiver's counters (``status()["ofdm"]``: samples, detections, bursts, header_crc,
    oversize, truncated (a burst cut by the end of the stream), ...) and the mean of each stage's
    time.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.blocks.digital.ofdm_tx import OFDMTransmitter
    >>> from semradio.runtime import Frame
    >>> x = np.exp(2j * np.pi * np.random.default_rng(0).random((2, 64))).astype(np.complex64)
    >>> burst = OFDMTransmitter(gap=300).work(Frame(x, {"seq": 9}))
    >>> rx = OFDMReceiver()
    >>> out = rx.work(Frame(np.concatenate([np.zeros((1, 200), np.complex64), burst.data], axis=1), {}))
    >>> [(f.tags["seq"], f.data.shape, f.tags["csi"]) for f in out]
    [(9, (2, 64), 'estimated')]
    """

    def __init__(self, fft_size: int = 64, cp_len: int = 16, half_width: int = 26, pilot_spacing: int = 4,
                 header_symbols: int = 16, sample_rate: float = 10e6, estimator: str = "lmmse",
                 reference: str = "auto", csi: str = "estimated", threshold: float = 0.03, window: int = 4,
                 backoff: int | None = None, max_int_cfo: int = 2, max_values: int = 1 << 22,
                 max_buffer: int = 1 << 24, keep_grid: bool = False, diffusion_model: str = "chest_tdllink",
                 device: str = "cpu", name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="complex64", shape=(None,))
        try:
            ofdm_params(self, fft_size, cp_len, half_width, pilot_spacing, header_symbols, sample_rate)
            to_choice("estimator", RECEIVER_ESTIMATORS)(estimator)
            to_choice("reference", REFERENCES)(reference)
            model = None
            if estimator == "diffusion":
                from semradio.models.channel_denoiser import DiffusionChannelEstimator

                model = DiffusionChannelEstimator.load(diffusion_model, device=device)
            self.rx = BurstReceiver(self.cfg, threshold=threshold, estimator=estimator, reference=reference,
                                    window=window, backoff=backoff, max_int_cfo=max_int_cfo,
                                    max_values=max_values, max_buffer=max_buffer, keep_grid=keep_grid,
                                    diffusion_model=model)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None
        self.declare_param("csi", csi, "estimated | genie (the true channel; simulations only)",
                           to_choice("csi", CSI_MODES))
        self.declare_param("threshold", threshold, "detection threshold on the Schmidl & Cox metric",
                           _threshold)
        self.nonfinite_samples = 0
        self._noise_var_true: float | None = None
        # (first sample, tags) of the last chunks: a burst takes the tags of the chunk it starts in
        self._chunks: collections.deque[tuple[int, dict[str, Any]]] = collections.deque(maxlen=256)

    def on_param_change(self, name: str, value: Any) -> None:
        if name == "threshold":
            self.rx.threshold = value

    def start(self) -> None:
        self.rx.reset()
        self._chunks.clear()

    def stop(self) -> None:
        n = self.rx.flush()
        if n:
            self.count_drop("truncated", n, "the stream ended inside a burst whose header was decoded")

    def status(self) -> dict[str, Any]:
        st = self.rx.stats.as_dict()
        st["nonfinite_samples"] = self.nonfinite_samples
        bursts = max(1, st["bursts"])
        st["stage_us_per_burst"] = {k: round(v / 1e3 / bursts, 1) for k, v in self.rx.stage_ns.items()}
        return {"ofdm": st}

    def work(self, frame: Frame) -> Frames | None:  # type: ignore[override]
        x = frame.data
        check_payload(self, x, dtype="complex64", finite=False)
        x = np.asarray(A.to_numpy(x)).reshape(-1)
        with np.errstate(over="ignore", invalid="ignore"):
            # NaN, inf, and magnitudes whose power overflows float32 (|x| > 1.8e19)
            bad = ~np.isfinite(x.real * x.real + x.imag * x.imag)
        if bad.any():
            n_bad = int(bad.sum())
            self.nonfinite_samples += n_bad
            self.count_drop("nonfinite_samples", n_bad, "NaN/inf or overflowing samples zeroed")
            x = np.where(bad, 0, x).astype(np.complex64)
        tags = frame.tags
        clean = tags.get("eval_noiseless")
        if clean is not None:
            try:
                clean = np.asarray(A.to_numpy(clean)).reshape(-1)
                if clean.size != x.size or not np.iscomplexobj(clean):
                    clean = None
            except (TypeError, ValueError):
                clean = None
        grid, gseq = tags.get("eval_tx_grid"), tags.get("eval_tx_seq")
        if grid is not None and isinstance(gseq, int):
            try:
                g = np.asarray(A.to_numpy(grid))
                if g.ndim == 2 and g.shape[1] == len(self.cfg.used) and np.iscomplexobj(g):
                    self.rx.add_tx_grid(gseq, g)
            except (TypeError, ValueError):
                pass
        nv = tags.get("eval_noise_var")
        if isinstance(nv, (int, float)) and math.isfinite(nv) and nv >= 0:
            self._noise_var_true = float(nv)
        self._chunks.append((self.rx.position, tags))
        decoded = self.rx.push(x, clean)
        self.count_drop_delta()
        if not decoded:
            return None
        return Frames(self._frame(d, self._tags_at(d.start), tags.get("t_ns")) for d in decoded)

    def _tags_at(self, sample: int) -> dict[str, Any]:
        """The pass-through tags of the chunk holding ``sample`` (the latest chunk when it is gone)."""
        chosen = self._chunks[-1][1]
        for first, tags in reversed(self._chunks):
            if first <= sample:
                chosen = tags
                break
        out = {k: v for k, v in chosen.items() if k not in _CHUNK_TAGS}
        snr = chosen.get("snr_db")
        if isinstance(snr, (int, float)):
            out["eval_snr_db"] = float(snr)  # the channel's configured SNR (per sample)
        return out

    def count_drop_delta(self) -> None:
        """Report new header-CRC failures, oversize headers and buffer overflows as drops."""
        st = self.rx.stats
        seen = getattr(self, "_seen", None) or {"header_crc": 0, "oversize": 0, "overflow_samples": 0}
        for key in seen:
            new = getattr(st, key) - seen[key]
            if new > 0:
                self.count_drop(key, new, {"header_crc": "burst header failed its CRC",
                                           "oversize": "header announced more than max_values symbols",
                                           "overflow_samples": "samples dropped: buffer full"}[key])
                seen[key] += new
        self._seen = seen

    def _frame(self, d: Decoded, base: dict[str, Any], t_ns: Any) -> Frame:
        cfg = self.cfg
        genie = self.param("csi") == "genie"
        true_nv = None if self._noise_var_true is None else self._noise_var_true * len(cfg.used) / cfg.fft_size
        if genie and d.h_genie is None:
            self.count_drop("genie_missing", 0, "csi=genie without eval_noiseless/eval_tx_grid: estimated CSI used")
            genie = False
        if genie:
            h, nv, err = d.h_genie, (true_nv if true_nv is not None else d.noise_var), 0.0
        else:
            h, nv, err = d.h, d.noise_var + d.est_error_var, d.est_error_var
        snr = 10.0 * math.log10(1.0 / max(nv, 1e-12))
        tags = dict(base)
        tags.update(
            seq=d.header.seq, t_ns=t_ns if isinstance(t_ns, int) else time.time_ns(), h=h, noise_var=float(nv),
            snr_db=snr, sinr_db=snr, csi="genie" if genie else "estimated", csi_error_var=float(err),
            channel="ofdm", channel_model="ofdm", px=1.0, codec_id=d.header.codec,
            ofdm={"start": d.start, "cfo": round(d.cfo, 6), "metric": round(d.metric, 4),
                  "timing_peak": round(d.timing_peak, 4), "noise_var": d.noise_var,
                  "snr_db_lts": round(d.snr_db, 3), "reference": d.reference},
        )
        if d.h_genie is not None:
            tags["eval_h_true"] = d.h_genie
        if true_nv is not None:
            tags["eval_noise_var"] = true_nv
        if d.grid_y is not None:
            tags["grid_y"], tags["grid_h"] = d.grid_y, d.grid_h
        return Frame(d.y, tags)


def _threshold(v: Any) -> float:
    f = to_float("threshold", minimum=0.0, strict_min=True)(v)
    if f >= 1.0:
        raise ValueError(f"threshold must be < 1, got {f}")
    return f


__all__ = ["OFDMReceiver", "CSI_MODES"]
