"""The streaming OFDM burst receiver: samples in, decoded bursts out (numpy; no block machinery).

:class:`BurstReceiver` keeps a sample buffer across calls of :meth:`BurstReceiver.push` and, for
every burst it finds, runs::

    Schmidl & Cox detection -> coarse CFO (STS) -> fine timing (LTS cross-correlation) ->
    fine CFO (two LTS copies; the integer part by the LTS correlation) -> noise variance
    (LTS difference) -> channel on the LTS (LS, or the robust LMMSE smoother) -> header (LTS
    channel with the pilots' phase, soft Viterbi, CRC-32) -> data symbols -> channel of every
    symbol -> de-interleaved latents ``y`` and channel ``h`` with ``y = h x + w``

The channel of the data symbols (``reference``): ``"preamble"`` takes the LTS and the
decoded header's symbols (all known: 2 + H observations of every carrier, smoothed) and follows
their phase with the pilots of each symbol (common phase error and slope across carriers:
residual CFO, phase noise, sampling-rate offset; 802.11-style); ``"pilots"`` interpolates the
pilots of each symbol (LS linear or LMMSE, averaged over neighbouring symbols after removing the
common phase followed symbol to symbol), for channels that change within a burst (Doppler);
``"auto"`` (default) computes the first and falls back to the second when the pilots' residual
against it exceeds ``auto_threshold`` noise variances and ``auto_floor`` of the channel power
(measured per burst: over static TDL-A the
preamble estimate reaches -22 dB NMSE at 20 dB where the pilots alone reach -20 dB; at 30 m/s
(350 Hz Doppler at 3.5 GHz) the preamble estimate falls to about -1 dB and the pilots keep -20 dB).

A burst whose header fails the CRC (or announces more than ``max_values`` symbols) is dropped and
counted (``stats``); its samples are skipped, never decoded. Sionna PHY supplies the resource
grid used to cross-check the estimators in the tests; what a streaming receiver needs beyond it
(synchronisation, framing, the buffer, per-burst state) is written here.

Genie CSI (simulation only): with the channel's noiseless output pushed alongside the samples
(``noiseless``) and the transmitted grid registered (:meth:`BurstReceiver.add_tx_grid`), every
burst also gets the true channel ``Y0 / X`` at the same timing and CFO correction
(``Decoded.h_genie``), so estimated and genie CSI are compared on the same draws.

    >>> import numpy as np
    >>> from semradio.dsp.ofdm.modem import modulate_burst
    >>> from semradio.dsp.ofdm.numerology import Header, OFDMConfig
    >>> cfg = OFDMConfig()
    >>> x = np.exp(2j * np.pi * np.random.default_rng(1).random(300))
    >>> burst, _ = modulate_burst(cfg, x, Header(seq=5, items=3, length=100))
    >>> rx = BurstReceiver(cfg, estimator="ls")
    >>> out = rx.push(np.concatenate([np.zeros(500), burst, np.zeros(500)]).astype(np.complex64))
    >>> [(d.header.seq, d.y.shape, d.start) for d in out]
    [(5, (3, 100), 500)]
    >>> bool(np.allclose(out[0].y / out[0].h, x.reshape(3, 100), atol=1e-3))
    True
"""

from __future__ import annotations

import collections
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .estimation import ESTIMATORS, REFERENCES, estimate_channel, noise_var_from_lts, smooth, track_phase
from .modem import decode_header_bits, demodulate, header_values
from .numerology import Header, OFDMConfig
from .sync import derotate, detect, fine_timing, lts_cfo, schmidl_cox

#: Samples scanned by one detection pass (bounded, so a chunk holding several bursts is scanned once).
_DETECT_BLOCK = 8192
#: Stage names of :attr:`BurstReceiver.stage_ns`.
STAGES = ("detect", "sync", "header", "payload")
#: Estimators the receiver takes: the linear ones and "diffusion" (a learned denoiser of the LS channel).
RECEIVER_ESTIMATORS = (*ESTIMATORS, "diffusion")


@dataclass
class Decoded:
    """One decoded burst.

    Attributes:
        header: its header.
        start: absolute sample index of the burst's first sample (STS start, from fine timing).
        y: complex64 (items, length), received latent symbols (CPE-corrected, in the
            transmitter's units).
        h: complex64 (items, length), the estimated channel of each latent (``y = h x + w``).
        noise_var: estimated noise variance per carrier (s2, LTS).
        est_error_var: mean expected error variance of ``h`` (estimator model).
        cfo: estimated carrier offset in subcarrier spacings (coarse + fine + integer).
        metric: Schmidl & Cox metric at the detection, in [0, 1].
        timing_peak: LTS normalised cross-correlation peak, in [0, 1].
        h_genie: complex64 (items, length), the true channel (genie CSI), when known.
        grid_y / grid_h: the header+data grid (S, n_used) as received and estimated (scopes).
        reference: "preamble" or "pilots": what the channel estimate was built from.
    """

    header: Header
    start: int
    y: np.ndarray
    h: np.ndarray
    noise_var: float
    est_error_var: float
    cfo: float
    metric: float
    timing_peak: float
    h_genie: np.ndarray | None = None
    grid_y: np.ndarray | None = None
    grid_h: np.ndarray | None = None
    reference: str = "preamble"

    @property
    def snr_db(self) -> float:
        """Estimated SNR per data carrier, ``10 log10(1 / s2)`` (the latents have unit power)."""
        return 10.0 * math.log10(1.0 / max(self.noise_var, 1e-12))


@dataclass(frozen=True)
class SyncEvent:
    """One synchronised detection (kept in :attr:`BurstReceiver.events` for scopes and tests).

    Attributes:
        start: absolute sample index of the burst start found by fine timing.
        metric: detection metric at the plateau's peak, in [0, 1].
        cfo: estimated CFO (subcarrier spacings).
        timing_peak: LTS correlation peak, in [0, 1].
        snr_db: SNR per carrier from the LTS (``10 log10(|H|^2 / s2)``, mean over carriers).
        header_ok: whether the header passed its CRC.
    """

    start: int
    metric: float
    cfo: float
    timing_peak: float
    snr_db: float
    header_ok: bool


@dataclass
class ReceiverStats:
    """Counters of a :class:`BurstReceiver` (all monotonic)."""

    samples: int = 0
    detections: int = 0
    bursts: int = 0
    header_crc: int = 0
    oversize: int = 0
    truncated: int = 0
    overflow_samples: int = 0
    genie_missing: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Pending:
    """A burst whose header is decoded but whose data has not all arrived."""

    d: int           # detection index (absolute)
    start: int       # fine-timing STS start (absolute)
    cfo: float
    noise_var: float
    metric: float
    peak: float
    header: Header
    h_lts: np.ndarray = field(repr=False)      # smoothed LTS channel (n_used,)
    h_lts_raw: np.ndarray = field(repr=False)  # LS on the mean of the two copies (noise s2 / 2)


class BurstReceiver:
    """Streaming burst receiver (module docstring).

    Args:
        cfg: the link's numerology.
        threshold: detection threshold on ``M`` (in [0, 1]; noise gives about ``Exp(1 / W)``
            with ``W = OFDMConfig.detection_window``, the STS ``(SNR / (1 + SNR))^2``; the
            default 0.03 is crossed by noise about 9 times per million samples at W = 320 and
            reached by the STS down to about -6 dB SNR).
        min_run: samples ``M`` must stay above the threshold.
        estimator: "ls", "lmmse" (:mod:`semradio.dsp.ofdm.estimation`) or "diffusion": the LS
            channel of the preamble (LTS + header, noise ``s2 / (2 + header symbols)``) cleaned by
            a diffusion channel estimator (:class:`semradio.models.channel_denoiser.DiffusionChannelEstimator`,
            one Tweedie step; its expected error variance from the checkpoint's held-out table).
            With the ``pilots`` reference (a channel that moves within the burst) the comb pilots
            are interpolated by LMMSE, as the model is trained on full-band grids.
        diffusion_model: with ``estimator="diffusion"``: the loaded estimator (an object with
            ``shape == (1, n_used)`` and ``estimate(h_ls (1, 1, n_used), v) -> (h, error var (1,))``;
            the blocks load ``chest_tdllink``, trained on this numerology's channels).
        reference: "auto" (default), "preamble" or "pilots" (module docstring).
        auto_threshold / auto_floor: with "auto", the preamble's channel is kept while the
            pilots' mean residual against it stays below ``auto_threshold`` times the expected
            (noise plus estimate error), or its excess over that stays below ``auto_floor``
            times the channel power (-22 dB: about the pilots-alone estimate's own error).
        window: pilot phases (``preamble``) or pilots (``pilots``) averaged over ``2 window + 1``
            symbols.
        backoff: FFT window start, samples before the end of each CP (default CP/4 = 4): it
            absorbs timing that lands up to ``backoff`` samples after the first path, and leaves
            ``cp_len - backoff`` samples (12, 1.2 us at 10 MS/s) for the channel's delay spread
            without inter-symbol interference; 0 gives the whole CP to the channel.
        max_int_cfo: largest whole-carrier CFO searched (subcarrier spacings; even steps, since
            the STS estimate is unambiguous in (-1, 1]; each step costs one LTS correlation).
        max_values: largest burst (latent symbols) a header may announce.
        max_buffer: samples kept while waiting for a burst's end (older ones are dropped and
            counted in ``overflow_samples``).
        keep_grid: keep each burst's received and estimated grids (for scopes).
    """

    def __init__(self, cfg: OFDMConfig, threshold: float = 0.03, min_run: int = 8, estimator: str = "lmmse",
                 reference: str = "auto", window: int = 4, auto_threshold: float = 1.5,
                 auto_floor: float = 10 ** (-22 / 10),
                 backoff: int | None = None, max_int_cfo: int = 2, min_timing_peak: float = 0.2,
                 max_values: int = 1 << 22, max_buffer: int = 1 << 24, keep_grid: bool = False,
                 diffusion_model: Any = None) -> None:
        if estimator not in RECEIVER_ESTIMATORS:
            raise ValueError(f"estimator must be one of {RECEIVER_ESTIMATORS}, got {estimator!r}")
        if reference not in REFERENCES:
            raise ValueError(f"reference must be one of {REFERENCES}, got {reference!r}")
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {threshold}")
        self.cfg = cfg
        self.threshold = float(threshold)
        self.min_run = max(1, int(min_run))
        self.estimator = estimator
        self.reference = reference
        self.auto_threshold = float(auto_threshold)
        self.auto_floor = float(auto_floor)
        self.min_timing_peak = float(min_timing_peak)
        self.window = max(0, int(window))
        self.backoff = cfg.cp_len // 4 if backoff is None else int(backoff)
        if not 0 <= self.backoff < cfg.cp_len:
            raise ValueError(f"backoff must be in 0..{cfg.cp_len - 1}, got {self.backoff}")
        self.max_int_cfo = max(0, int(max_int_cfo))
        self.max_values = int(max_values)
        self.max_buffer = int(max_buffer)
        self.keep_grid = bool(keep_grid)
        self.diffusion: Any = None
        if estimator == "diffusion":
            if diffusion_model is None or not callable(getattr(diffusion_model, "estimate", None)):
                raise ValueError("estimator='diffusion' needs diffusion_model, a loaded estimator (e.g. "
                                 "semradio.models.channel_denoiser.DiffusionChannelEstimator.load('chest_tdllink'))")
            self.diffusion = diffusion_model
            if tuple(self.diffusion.shape) != (1, len(cfg.used)):
                raise ValueError(f"diffusion channel estimator grids {tuple(self.diffusion.shape)} do not fit this "
                                 f"numerology's (1, {len(cfg.used)}) used carriers")
        self.stats = ReceiverStats()
        #: Wall time spent per stage (ns), for ``semradio bench phy``.
        self.stage_ns = dict.fromkeys(STAGES, 0)
        self._grids: collections.OrderedDict[int, np.ndarray] = collections.OrderedDict()
        #: The last 4096 synchronised detections (:class:`SyncEvent`), oldest first.
        self.events: collections.deque[SyncEvent] = collections.deque(maxlen=4096)
        self.reset()

    def reset(self) -> None:
        """Forget the buffer and any burst in progress (the counters stay)."""
        self._buf = np.zeros(0, np.complex64)
        self._clean: np.ndarray | None = None  # noiseless samples, NaN where unknown
        self._base = 0       # absolute index of _buf[0]
        self._search = 0     # absolute index where detection resumes
        self._pending: _Pending | None = None

    # ------------------------------------------------------------------ input
    def add_tx_grid(self, seq: int, grid: np.ndarray) -> None:
        """Register the transmitted grid (S, n_used) of burst ``seq`` (genie CSI; the last 64 kept)."""
        self._grids[int(seq) & 0xFFFFFFFF] = np.asarray(grid)
        self._grids.move_to_end(int(seq) & 0xFFFFFFFF)
        while len(self._grids) > 64:
            self._grids.popitem(last=False)

    def flush(self) -> int:
        """End of stream: a burst whose header was decoded but whose samples never all arrived is
        dropped and counted in ``truncated``; returns how many (0 or 1)."""
        if self._pending is None:
            return 0
        self._pending = None
        self.stats.truncated += 1
        return 1

    @property
    def position(self) -> int:
        """Absolute index of the next sample :meth:`push` expects."""
        return self._base + self._buf.size

    def push(self, samples: np.ndarray, noiseless: np.ndarray | None = None) -> list[Decoded]:
        """Append samples (any shape, flattened) and return the bursts completed by them."""
        x = np.asarray(samples).reshape(-1).astype(np.complex64, copy=False)
        self.stats.samples += x.size
        self._buf = np.concatenate([self._buf, x]) if self._buf.size else x.copy()
        if noiseless is not None or self._clean is not None:
            c = (np.full(x.size, np.nan, np.complex64) if noiseless is None
                 else np.asarray(noiseless).reshape(-1).astype(np.complex64, copy=False))
            if c.size != x.size:
                c = np.full(x.size, np.nan, np.complex64)
            prev = self._clean if self._clean is not None else np.full(self._buf.size - x.size, np.nan, np.complex64)
            self._clean = np.concatenate([prev, c])
        out: list[Decoded] = []
        while True:
            got = self._step()
            if got is None:
                break
            if got is not True:
                out.append(got)
        self._trim()
        return out

    # ------------------------------------------------------------------ state machine
    def _step(self) -> Decoded | bool | None:
        """One step: a decoded burst, True (progress, call again) or None (needs more samples)."""
        if self._pending is not None:
            return self._finish()
        return self._acquire()

    def _acquire(self) -> bool | None:
        cfg = self.cfg
        half, win = cfg.fft_size // 2, cfg.detection_window
        t0 = time.perf_counter_ns()
        lo = self._search - self._base
        # a bounded window, so that samples are not scanned again after every burst in a chunk
        stop = lo + _DETECT_BLOCK + half + win
        partial = stop < self._buf.size
        m, p = schmidl_cox(self._buf[lo:stop], half, win)
        d = detect(m, self.threshold, self.min_run) if m.size else None
        run_end = None
        if d is not None:
            above = m[d:] > self.threshold
            if not above.all():
                run_end = d + int(np.argmin(above))
            elif m.size - d > win + half + cfg.cp_len:  # a run longer than any STS: cap it
                run_end = d + win + half + cfg.cp_len
        self.stage_ns["detect"] += time.perf_counter_ns() - t0
        if d is None:
            # resume where a run could still start
            self._search = self._base + lo + max(0, m.size - self.min_run)
            return True if partial else None
        if run_end is None:  # the run goes on past the window: decide with the window at its start
            self._search = self._base + lo + d
            return True if partial and d > 0 else None
        # the plateau's peak: the full-overlap starts d lie in [s + delay, s + N/2], so the burst
        # starts about N/4 before the peak; coarse CFO from P around the peak
        i = d + int(np.argmax(m[d:run_end]))
        s_est = self._base + lo + i - half // 2
        search = half + cfg.cp_len
        need = s_est + cfg.preamble_len + cfg.header_symbols * cfg.symbol_len + search + cfg.cp_len
        if need > self.position:
            self._search = self._base + lo + d
            return None
        t1 = time.perf_counter_ns()
        metric = float(m[i])
        eps_c = float(np.angle(np.sum(p[max(d, i - half // 4): i + half // 4 + 1])) / np.pi)
        synced = self._sync(s_est, eps_c, search)
        self.stats.detections += 1
        self.stage_ns["sync"] += time.perf_counter_ns() - t1
        resume = self._base + lo + run_end
        if synced is None:
            self._search = resume
            return True
        start, cfo, peak, s2, h_lts, h_raw = synced
        t2 = time.perf_counter_ns()
        header = self._header(start, cfo, h_lts)
        self.stage_ns["header"] += time.perf_counter_ns() - t2
        snr = 10.0 * math.log10(max(float(np.mean(np.abs(h_lts) ** 2)), 1e-12) / max(s2, 1e-12))
        self.events.append(SyncEvent(start, metric, cfo, peak, snr, header is not None))
        if header is None:
            self.stats.header_crc += 1
            self._search = resume
            return True
        if header.n_values > self.max_values or cfg.burst_len(header.n_values) > self.max_buffer:
            self.stats.oversize += 1
            self._search = start + cfg.preamble_len + cfg.header_symbols * cfg.symbol_len
            return True
        self._pending = _Pending(s_est, start, cfo, s2, metric, peak, header, h_lts, h_raw)
        return True

    def _segment(self, start: int, n: int, cfo: float, clean: bool = False) -> np.ndarray:
        """``n`` samples from absolute index ``start``, CFO removed (phase referenced to ``start``)."""
        src = self._clean if clean else self._buf
        assert src is not None
        a = start - self._base
        seg = src[a: a + n].astype(np.complex128)
        return derotate(seg, cfo, self.cfg.fft_size)

    def _sync(self, s_est: int, eps_c: float, search: int
              ) -> tuple[int, float, float, float, np.ndarray, np.ndarray] | None:
        """Fine timing, CFO and the LTS channel of a burst estimated to start at ``s_est``.

        The STS gives the CFO modulo 2 subcarrier spacings; each candidate ``eps_c + 2 m``
        (``|2 m| <= max_int_cfo``) is removed in turn and the one whose LTS correlation peaks
        highest is kept (a wrong whole-carrier offset turns the 160-sample LTS by 2 pi m x 2.5
        and leaves no peak), then the two LTS copies refine the fraction."""
        cfg = self.cfg
        n = cfg.fft_size
        lts_off = cfg.lts_offset
        a = max(self._base, s_est - search)
        best: tuple[float, int, float, np.ndarray] | None = None
        for m in range(-(self.max_int_cfo // 2), self.max_int_cfo // 2 + 1):
            eps = eps_c + 2 * m
            seg = self._segment(a, s_est - a + lts_off + search + 2 * n, eps)
            t, peak = fine_timing(cfg, seg, s_est - a + lts_off, search)
            if best is None or peak > best[0]:
                best = (peak, t, eps, seg)
        assert best is not None
        peak, t, eps, seg = best
        if peak < self.min_timing_peak or t + 2 * n > seg.size:
            return None
        eps += lts_cfo(seg[t: t + n], seg[t + n: t + 2 * n])
        start = a + t - lts_off
        # the LTS copies are N apart (no CP between them): cut them directly
        seg2 = self._segment(start + lts_off - self.backoff, 2 * n, eps)
        f = np.fft.fft(seg2.reshape(2, n), axis=1) / (math.sqrt(n) * cfg.tx_scale)
        y1, y2 = f[0, cfg.bins(cfg.used)], f[1, cfg.bins(cfg.used)]
        s2 = noise_var_from_lts(y1, y2)
        h_raw = (y1 + y2) / 2.0 / cfg.lts_freq
        return start, eps, peak, s2, self._smooth(s2 / 2.0, h_raw)[0], h_raw

    def _header(self, start: int, cfo: float, h_lts: np.ndarray) -> Header | None:
        cfg = self.cfg
        hs = cfg.header_symbols
        seg = self._segment(start + cfg.header_offset, hs * cfg.symbol_len, cfo)
        y = demodulate(cfg, seg, 0, hs, self.backoff)
        pil = cfg.pilot_values(hs)
        h = h_lts[None, :] * track_phase(cfg, y, pil, h_lts, self.window, slope="none")
        soft = np.real(np.conj(h[:, cfg.data_pos]) * y[:, cfg.data_pos]).reshape(-1)
        return Header.from_bits(decode_header_bits(cfg, soft))

    def _finish(self) -> Decoded | bool | None:
        pend = self._pending
        assert pend is not None
        cfg = self.cfg
        end = pend.start + cfg.burst_len(pend.header.n_values)
        if end > self.position:
            if pend.start < self._base:  # cannot happen unless the buffer overflowed
                self.stats.truncated += 1
                self._pending = None
                self._search = self._base
                return True
            return None
        t0 = time.perf_counter_ns()
        hdr = pend.header
        s_data = cfg.data_symbols(hdr.n_values)
        s_all = cfg.header_symbols + s_data
        seg = self._segment(pend.start + cfg.header_offset, s_all * cfg.symbol_len, pend.cfo)
        y = demodulate(cfg, seg, 0, s_all, self.backoff)
        pil = cfg.pilot_values(s_all)
        reference = self.reference
        if reference in ("preamble", "auto"):
            h, err = self._preamble_channel(y, pil, pend)
            if reference == "auto":
                # the pilots tell whether the preamble's channel still holds (it does not when the
                # channel changes within the burst): their residual against it is about the noise
                # (s2 + the estimate's error) when it holds; at high SNR the model's own floor
                # (tails beyond the CP, interpolation) shows too, so it is also kept while that
                # excess stays below what the pilots alone reach (about -22 dB of |H|^2)
                res = y[:, cfg.pilot_pos] - h[:, cfg.pilot_pos] * pil
                r2 = float(np.mean(res.real ** 2 + res.imag ** 2))
                expected = pend.noise_var + float(np.mean(err))
                hp = h[:, cfg.pilot_pos]
                excess = (r2 - expected) / max(float(np.mean(hp.real ** 2 + hp.imag ** 2)), 1e-12)
                keep = r2 < self.auto_threshold * max(expected, 1e-12) or excess < self.auto_floor
                reference = "preamble" if keep else "pilots"
        if reference == "pilots":
            h, err = self._pilot_channel(y, pil, pend)
        perm = cfg.interleaver(hdr.n_values)
        hsym = cfg.header_symbols
        y_lat = y[hsym:, cfg.data_pos].reshape(-1)[perm].reshape(hdr.items, hdr.length)
        h_lat = h[hsym:, cfg.data_pos].reshape(-1)[perm].reshape(hdr.items, hdr.length)
        err_lat = float(np.mean(err[cfg.data_pos]))
        h_genie = None
        grid = self._grids.get(hdr.seq)
        if self._clean is not None and grid is not None and grid.shape == (s_all, len(cfg.used)):
            clean = self._segment(pend.start + cfg.header_offset, s_all * cfg.symbol_len, pend.cfo, clean=True)
            if np.all(np.isfinite(clean)):
                y0 = demodulate(cfg, clean, 0, s_all, self.backoff)
                x = grid.astype(np.complex128)
                ok = np.abs(x) > 1e-3
                g = np.where(ok, y0 / np.where(ok, x, 1.0), np.nan)
                g = _fill_nan_rows(g)
                h_genie = g[hsym:, cfg.data_pos].reshape(-1)[perm].reshape(hdr.items, hdr.length).astype(np.complex64)
        if h_genie is None and (self._clean is not None or self._grids):
            self.stats.genie_missing += 1
        dec = Decoded(header=hdr, start=pend.start, y=y_lat.astype(np.complex64), h=h_lat.astype(np.complex64),
                      noise_var=pend.noise_var, est_error_var=err_lat, cfo=pend.cfo, metric=pend.metric,
                      timing_peak=pend.peak, h_genie=h_genie,
                      grid_y=y.astype(np.complex64) if self.keep_grid else None,
                      grid_h=h.astype(np.complex64) if self.keep_grid else None, reference=reference)
        self.stats.bursts += 1
        self._pending = None
        self._search = end
        self.stage_ns["payload"] += time.perf_counter_ns() - t0
        return dec

    def _preamble_channel(self, y: np.ndarray, pil: np.ndarray, pend: _Pending) -> tuple[np.ndarray, np.ndarray]:
        """The LTS and the decoded header's symbols, averaged and smoothed, then followed by the
        pilots' phase (common phase, slope): ``(H (S, n_used), error variance (n_used,))``."""
        cfg = self.cfg
        hsym = cfg.header_symbols
        phasor = track_phase(cfg, y[:hsym], pil[:hsym], pend.h_lts, self.window, slope="none")
        x_h = np.empty((hsym, len(cfg.used)), np.complex128)
        x_h[:, cfg.pilot_pos] = pil[:hsym]
        x_h[:, cfg.data_pos] = header_values(cfg, pend.header).reshape(hsym, len(cfg.data))
        h_avg = (2.0 * pend.h_lts_raw + np.sum(y[:hsym] / (x_h * phasor[:hsym]), axis=0)) / (2 + hsym)
        h0, err = self._smooth(pend.noise_var / (2 + hsym), h_avg)
        return h0[None, :] * track_phase(cfg, y, pil, h0, self.window), err

    def _pilot_channel(self, y: np.ndarray, pil: np.ndarray, pend: _Pending) -> tuple[np.ndarray, np.ndarray]:
        """Each symbol's pilots, interpolated and averaged over neighbouring symbols after removing
        the common phase followed symbol to symbol (the LTS is no reference when the channel
        changes within the burst): ``(H (S, n_used), error variance (n_used,))``."""
        cfg = self.cfg
        r = y[:, cfg.pilot_pos] / pil
        step = np.angle(np.sum(np.conj(r[:-1]) * r[1:], axis=1))
        cpe = np.exp(1j * np.concatenate([[0.0], np.cumsum(step)]))[:, None]
        kind = "lmmse" if self.estimator == "diffusion" else self.estimator
        h, err = estimate_channel(cfg, y / cpe, pil, kind, pend.noise_var, self.window, float(self.backoff))
        return h * cpe, err

    def _smooth(self, noise_var: float, h_ls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A full-band LS channel (n_used,) of noise ``noise_var`` cleaned by the receiver's
        estimator: ``(estimate (n_used,), expected error variance (n_used,))``."""
        if self.diffusion is None:
            return smooth(self.cfg, self.estimator, noise_var, h_ls)
        h, var = self.diffusion.estimate(np.asarray(h_ls, np.complex64)[None, None, :], max(float(noise_var), 1e-12))
        return h[0, 0].astype(np.complex128), np.full(h_ls.shape[-1], float(var[0]))

    def _trim(self) -> None:
        """Drop samples that can no longer matter (before the search point, less a margin)."""
        keep_from = self._search - 2 * self.cfg.symbol_len
        if self._pending is not None:
            keep_from = min(keep_from, self._pending.start)
        keep_from = max(keep_from, self.position - self.max_buffer)
        cut = keep_from - self._base
        if cut <= 0:
            return
        if self._pending is not None and self._pending.start < keep_from:
            self.stats.overflow_samples += cut
        elif self._search < keep_from:
            self.stats.overflow_samples += keep_from - self._search
            self._search = keep_from
        self._buf = self._buf[cut:]
        if self._clean is not None:
            self._clean = self._clean[cut:]
        self._base += cut


def _fill_nan_rows(g: np.ndarray) -> np.ndarray:
    """Replace NaN entries of each row by linear interpolation over the row's finite ones."""
    bad = ~np.isfinite(g)
    if not bad.any():
        return g
    g = g.copy()
    idx = np.arange(g.shape[1])
    for r in np.flatnonzero(bad.any(axis=1)):
        ok = ~bad[r]
        if ok.any():
            g[r, bad[r]] = np.interp(idx[bad[r]], idx[ok], g[r, ok].real) + 1j * np.interp(
                idx[bad[r]], idx[ok], g[r, ok].imag)
        else:
            g[r] = 1.0
    return g


__all__ = ["RECEIVER_ESTIMATORS", "BurstReceiver", "Decoded", "ReceiverStats", "SyncEvent", "STAGES"]
