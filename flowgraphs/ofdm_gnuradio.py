#!/usr/bin/env python3
"""The OFDM link through real GNU Radio 3.10 over gr-zeromq: ``ofdm_link.py --gnuradio``'s channel,
and semradio's two ends of a real radio (``flowgraphs/gr_radio_bridge.py``, ``docs/radio.md``).

``ofdm_link.py --gnuradio`` (:func:`gnuradio_channel`)::

    OFDMTransmitter -> BurstGaps -> GrStreamSink(PUSH, gnuradio format, binds 127.0.0.1:*, the OS picks the port)
        GNU Radio (``/usr/bin/python3 gnuradio_peer.py channel``, spawned):
        zeromq.pull_source -> channels.channel_model(noise_voltage, frequency_offset, epsilon,
        taps, noise_seed) -> zeromq.push_sink(binds 127.0.0.1:*, reports the port)
    GrStreamSource(PULL, fixed chunks of ``chunk`` samples) -> OFDMReceiver(csi=estimated) -> ...

Option mapping (the same as semradio's :class:`~semradio.blocks.SampleChannel` on the genie
branch): ``frequency_offset = cfo / 64`` (``--cfo`` in subcarrier spacings of the 64-point FFT),
``epsilon = 1 + sro_ppm 1e-6``, ``taps = parse_taps(--taps)`` (unit power) for ``--channel
taps`` and ``[1]`` for ``awgn``, ``noise_voltage = sqrt(1 / 10^(snr_db/10))`` (GNU Radio's
complex noise has total variance ``noise_voltage^2``, measured: see
:func:`semradio.blocks.zeromq.gnuradio_peer.cmd_channel`), ``noise_seed = seed``. TDL/CDL
profiles, ``--delay`` and ``--phase-noise`` have no counterpart in ``channel_model``
(ValueError). ``channel_model`` inserts no idle time, so :class:`BurstGaps` puts
``U{gap_min..gap_max}`` zero samples before every burst on the semradio side (the channel turns
them into noise, as the simulated path's gaps).

Ending: GNU Radio never ends a stream. When the transmitter's stream ends, the sink sends
``tail`` zero samples (they push the last burst out of the resampler's history) and closes;
the source then ends once GNU Radio's report says it got every item the sink sent and its
output count stopped changing, and this side received all of it (or the peer exited, or
nothing came for ``idle_after_eos_s``); its last, partial chunk is delivered, not dropped.

The chunks are cut at fixed sizes, not by ``packet_len``: the resampler changes item counts and
the receiver takes samples cut anywhere.

As a script, semradio's ends of a real radio link (GNU Radio's ``flowgraphs/gr_radio_bridge.py``
between them, see ``docs/radio.md``)::

    python flowgraphs/ofdm_gnuradio.py --role both --frames 20          # TX and RX in one process
    python flowgraphs/ofdm_gnuradio.py --role tx --to-radio tcp://127.0.0.1:5600
    python flowgraphs/ofdm_gnuradio.py --role rx --from-radio tcp://127.0.0.1:5601 --duration 30

``--role tx``: images -> JSCC encoder -> PowerNormalizer -> OFDMTransmitter -> BurstGaps ->
ZMQSink(PUSH, binds ``--to-radio``, gnuradio format, ``packet_len`` tag per burst for a UHD/Soapy
sink's burst mode). ``--role rx``: ZMQSource(PULL, connects ``--from-radio``) -> OFDMReceiver ->
MMSEEqualizer -> JSCCDecoder -> MetricSink against the same images (regenerated: both ends read
the same dataset in the same order and the burst header carries the frame's seq).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from semradio.blocks.validation import block_error, check_payload, to_int, to_seed
from semradio.blocks.zeromq import gnuradio_peer
from semradio.blocks.zeromq.bridge import ZMQSink, ZMQSource
from semradio.flowgraphs.app import flowgraph_main
from semradio.models.arguments import checkpoint_ref, dataset_spec
from semradio.runtime import WORK_DONE, Block, Flowgraph, Frame, SyncBlock
from semradio.runtime.arguments import frame_count, positive_float, positive_int
from semradio.runtime.options import option
from semradio.runtime.ports import PortSpec

#: Channels of ``ofdm_link.py`` that GNU Radio's ``channel_model`` can do.
GR_CHANNELS = ("awgn", "taps")
#: Zero samples sent after the last burst (flush GNU Radio's resampler and the last chunk).
TAIL = 4096
#: Samples per chunk the receiving source emits.
CHUNK = 4096


# ------------------------------------------------------------------ blocks
class BurstGaps(SyncBlock):
    """Idle time between bursts: ``g ~ U{gap_min .. gap_max}`` zero samples before each frame.

    What :class:`~semradio.blocks.SampleChannel` does at its input with ``gap_min``/``gap_max``,
    for a channel that does not (GNU Radio's ``channel_model``, a radio).

    Inputs:
        ``in``: complex64 (1, n) samples (one burst, e.g. an :class:`~semradio.blocks.OFDMTransmitter`
        frame).
    Outputs:
        ``out``: complex64 (1, g + n): g zeros, then the input.
    Tags written: ``packet_len`` (g + n, when the input has one), ``gap`` (g, samples).
    Other tags pass through.
    Parameters: ``gap_min``, ``gap_max`` (samples, 0 <= gap_min <= gap_max <= 2^24), ``seed``
    (None: fresh entropy; construction only).
    Errors: ValueError naming the block for a wrong dtype/shape or gap_min > gap_max.

    Example:
        >>> g = BurstGaps(gap_min=3, gap_max=3)
        >>> out = g.work(Frame(np.ones((1, 2), np.complex64), {"packet_len": 2}))
        >>> out.data.tolist(), out.tags["packet_len"], out.tags["gap"]
        ([[0j, 0j, 0j, (1+0j), (1+0j)]], 5, 3)
    """

    def __init__(self, gap_min: int = 100, gap_max: int = 2000, seed: int | None = 0,
                 name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="complex64", shape=(None,))
        self.add_output("out", dtype="complex64", shape=(None,))
        self.declare_param("gap_min", gap_min, "fewest zero samples before a burst", to_int("gap_min", 0, 1 << 24))
        self.declare_param("gap_max", gap_max, "most zero samples before a burst", to_int("gap_max", 0, 1 << 24))
        if self.param("gap_min") > self.param("gap_max"):
            raise block_error(self, f"gap_min ({gap_min}) must not exceed gap_max ({gap_max})")
        self._rng = np.random.default_rng(None if to_seed(seed) is None else [int(seed), 1])
        self.gaps = 0
        self.gap_samples = 0

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        x = frame.data
        check_payload(self, x, dtype="complex64", finite=False)
        if x.shape[0] != 1:
            raise block_error(self, f"input must be one burst of shape (1, n), got {tuple(x.shape)}")
        lo, hi = self.param("gap_min"), self.param("gap_max")
        if lo > hi:
            raise block_error(self, f"gap_min ({lo}) must not exceed gap_max ({hi})")
        g = int(self._rng.integers(lo, hi + 1)) if hi > lo else lo
        x = np.asarray(x)
        out = np.zeros((1, g + x.shape[1]), np.complex64)
        out[0, g:] = x[0]
        self.gaps += 1
        self.gap_samples += g
        tags = dict(frame.tags, gap=g)
        if "packet_len" in tags:
            tags["packet_len"] = out.shape[1]
        return Frame(out, tags)


class GrStreamSink(ZMQSink):
    """:class:`~semradio.blocks.ZMQSink` (GNU Radio format) that ends a stream GNU Radio can finish.

    At the end of its input it sends ``tail`` zero samples (filter and resampler history in GNU
    Radio hold the last few samples back until more arrive), closes its socket (waiting up to
    ``linger_ms`` for GNU Radio to take what is queued) and sets :attr:`done`. :meth:`bind_now`
    binds before the flowgraph starts, so that a ``tcp://127.0.0.1:*`` port can be handed to GNU
    Radio.

    Input ``in``: complex64 samples, any shape (flattened). Tags: as ZMQSink.
    Args: ``tail`` (zero samples, >= 0) and every :class:`~semradio.blocks.ZMQSink` argument.
    """

    def __init__(self, address: str, tail: int = TAIL, **kw: Any) -> None:
        kw.setdefault("format", "gnuradio")
        kw.setdefault("linger_ms", 10000)
        super().__init__(address, **kw)
        self.tail = to_int("tail", 0, 1 << 24)(tail)
        #: Set once the stream ended and the socket is closed (every item handed to ZeroMQ).
        self.done = threading.Event()
        #: ``time.monotonic()`` when :attr:`done` was set.
        self.done_at: float | None = None
        self._flow_started = False

    def bind_now(self) -> str:
        """Open and bind the socket now, before the flowgraph starts.

        With ``tcp://127.0.0.1:*`` the OS chooses a free port here, and GNU Radio is then told
        that port: no window in which another process can take a port picked in advance.
        :meth:`start` keeps the socket; when the flowgraph will not run, call
        :meth:`close_unstarted`.

        Returns:
            The endpoint bound, with the port the OS chose (``tcp://127.0.0.1:41235``); with
            ``bind=False`` the address connected to.

        Example:
            >>> s = GrStreamSink("tcp://127.0.0.1:*")
            >>> s.bind_now().rsplit(":", 1)[1].isdigit()
            True
            >>> s.close_unstarted()
        """
        if self._sock is None or self._sock.closed:
            super().start()
        return str(self.endpoint)

    def start(self) -> None:
        """Open the socket (the flowgraph's start), unless :meth:`bind_now` already did."""
        self._flow_started = True
        self.bind_now()

    def close_unstarted(self) -> None:
        """Close a socket :meth:`bind_now` opened when no flowgraph started this sink (nothing is
        sent; the sink is not used again). Nothing once a flowgraph started it: its
        :meth:`stop` closes it, in the block's thread."""
        if self._flow_started or self._sock is None or self._sock.closed:
            return
        self.halt()
        super().stop()

    def stop(self) -> None:
        try:
            if self._sock is not None and not self._should_stop() and self.tail:
                tags: dict[str, Any] = {"packet_len": self.tail} if self.pass_tags else {}
                self.work(Frame(np.zeros((1, self.tail), np.complex64), tags))
        finally:
            try:
                super().stop()
            finally:
                self.done_at = time.monotonic()
                self.done.set()


class GrStreamSource(ZMQSource):
    """:class:`~semradio.blocks.ZMQSource` (GNU Radio format, fixed chunks) that knows when a
    GNU Radio stream is over.

    GNU Radio sends no end of stream; this source ends (WORK_DONE after the last, partial chunk,
    which is delivered rather than dropped) when:

    * ``upstream`` (the :class:`GrStreamSink` feeding GNU Radio) is done and ``peer`` reports it
      got all ``upstream`` items and its output count stopped changing, and every output item
      arrived here (``"drained"``);
    * the ``peer`` process exited after ``upstream`` was done and nothing arrived for
      ``settle_s`` (``"peer_exited"``); while ``upstream`` still sends, its exit is an error
      (RuntimeError with its exit status and stderr: the flowgraph fails instead of waiting);
    * ``upstream`` is done and nothing arrived for ``idle_after_eos_s`` (``"idle"``), or
      ``linger_s`` passed since (``"linger"``: a radio's receiver streams on forever);
    * without ``upstream``: nothing arrived for ``idle_s`` after the first message (``"idle"``),
      or ``duration_s`` passed since start (``"duration"``).

    Output ``out``: complex64 (1, n) chunks, ``n = chunk`` except the last. Tags: as ZMQSource
    (``seq``, ``t_ns``, ``gr_offset``, GNU Radio's tags with ``pass_tags``).
    ``ended_by`` says which condition ended it.

    Args:
        address: GNU Radio push_sink endpoint (this source connects).
        chunk: samples per emitted frame.
        upstream / peer / settle_s / idle_after_eos_s / linger_s / idle_s / duration_s: see above
            (seconds; None: that condition is off).
        **kw: other :class:`~semradio.blocks.ZMQSource` arguments (``pass_tags``, ``hwm`` ...; not
            ``idle_timeout_s``, which would end the stream while the upstream still sends).
    """

    def __init__(self, address: str, chunk: int = CHUNK, upstream: GrStreamSink | None = None,
                 peer: "GnuRadioProcess | None" = None, settle_s: float = 0.3, idle_after_eos_s: float = 10.0,
                 linger_s: float | None = None, idle_s: float | None = None, duration_s: float | None = None,
                 **kw: Any) -> None:
        kw.setdefault("format", "gnuradio")
        if kw.get("idle_timeout_s") is not None:
            raise ValueError("GrStreamSource: use idle_s (ZMQSource's idle_timeout_s would end the stream "
                             "while the upstream still sends)")
        chunk = to_int("chunk", 1, 1 << 24)(chunk)
        super().__init__(address, frame_len=chunk, batch=1, packet_len_tag=None, **kw)
        for name, v in (("settle_s", settle_s), ("idle_after_eos_s", idle_after_eos_s), ("linger_s", linger_s),
                        ("idle_s", idle_s), ("duration_s", duration_s)):
            if v is not None and not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{self.name}: {name} must be finite and >= 0, got {v}")
        self.outputs[0] = PortSpec("out", "complex64", (None,))  # the last chunk is shorter
        self.upstream = upstream
        self.peer = peer
        self.settle_s = float(settle_s)
        self.idle_after_eos_s = idle_after_eos_s
        self.linger_s = linger_s
        self.idle_s = idle_s
        self.duration_s = duration_s
        #: Why the stream ended (None while it runs).
        self.ended_by: str | None = None

    def work(self) -> Any:
        out = super().work()
        if out is WORK_DONE:
            return self._flush()
        if not self._eos:
            reason = self._finished(time.monotonic())
            if reason is not None:
                self.ended_by = reason
                self._eos = True  # ZMQSource.work drains the whole chunks, then WORK_DONE
        return out

    def _flush(self) -> Any:
        """The partial chunk left in the buffer as a last frame, then WORK_DONE."""
        if self.ended_by is None:
            self.ended_by = "max_frames" if self.max_frames is not None else "eos"
        n = self._buf_items
        if n <= 0:
            return WORK_DONE
        start = self._buf_start
        data = self._take(n).reshape(1, n * self.vlen)
        self._count("partial_items_flushed", n)
        return self._emit(self._make_frame(data, start, n))

    def _finished(self, now: float) -> str | None:
        """Why the stream is over, or None."""
        silent = now - (self._last_rx if self._first_rx is not None else (self._started or now))
        peer = self.peer
        up = self.upstream
        if peer is not None and not peer.alive():
            if up is not None and not up.done.is_set():
                raise RuntimeError(f"{self.name}: the GNU Radio process ({peer.name}) {peer.failure()} while "
                                   "samples were still being sent")
            if silent >= self.settle_s:
                return "peer_exited"
        if up is not None:
            if not up.done.is_set() or up.done_at is None:
                return None
            since = now - up.done_at
            if peer is not None and silent >= self.settle_s and peer.drained(up.stats["items"], self.stats["items"]):
                return "drained"
            if self.linger_s is not None and since >= self.linger_s:
                return "linger"
            if self.idle_after_eos_s is not None and min(since, silent) >= self.idle_after_eos_s:
                return "idle"
            return None
        if self.idle_s is not None and self._first_rx is not None and silent >= self.idle_s:
            return "idle"
        if self.duration_s is not None and self._started is not None and now - self._started >= self.duration_s:
            return "duration"
        return None

    def status(self) -> dict[str, Any]:
        st = super().status()
        if self.ended_by is not None:
            st["ended_by"] = self.ended_by
        return st


# ------------------------------------------------------------------ the GNU Radio process
class GnuRadioProcess:
    """A GNU Radio flowgraph run as a subprocess (``gnuradio_peer.py channel`` or
    ``gr_radio_bridge.py``) that writes a JSON report with ``items_in`` / ``items_out``,
    ``running`` and ``stopped_by`` (see :func:`semradio.blocks.zeromq.gnuradio_peer.cmd_channel`).

    It is started with ``--report`` and ``--watch-stdin`` appended: closing our end of its stdin
    (:meth:`close`, or this process dying) stops it; :meth:`close` then sends SIGTERM and, after
    ``kill_after_s``, SIGKILL. Nothing waits without a deadline.

    Args:
        argv: the command (interpreter first), without ``--report``/``--watch-stdin``.
        name: label in errors and the report.
        extra: called by :meth:`report` for semradio-side counters to add (``"semradio"`` key).
    """

    def __init__(self, argv: list[str], name: str = "gnuradio", extra: Callable[[], dict[str, Any]] | None = None,
                 kill_after_s: float = 5.0) -> None:
        self.name = name
        self.dir = tempfile.mkdtemp(prefix="semradio-gr-")
        self.report_path = os.path.join(self.dir, "report.json")
        self.argv = [*argv, "--report", self.report_path, "--watch-stdin"]
        self.extra = extra
        self.kill_after_s = float(kill_after_s)
        self.proc: subprocess.Popen | None = None
        self.returncode: int | None = None
        self.stderr_tail = ""
        self._last: dict[str, Any] = {}
        self._read_at = 0.0
        self._stable: tuple[int, int, float] | None = None  # (items_in, items_out, peer seconds first seen)
        self._lock = threading.Lock()
        self._closed = False

    def start(self, ready_timeout_s: float = 60.0) -> "GnuRadioProcess":
        """Spawn it and wait until its flowgraph runs (its first report).

        Raises:
            RuntimeError: the interpreter cannot be run, or the process exited (with its stderr),
                or no report came within ``ready_timeout_s``.
        """
        self._err = open(os.path.join(self.dir, "stderr.txt"), "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                         stderr=self._err, start_new_session=True)
        except OSError as exc:
            self.close()
            raise RuntimeError(f"{self.name}: cannot run {self.argv[0]!r} ({exc}); --gr-python must be a Python "
                               "with GNU Radio 3.10 (Debian: /usr/bin/python3 with the gnuradio package)") from None
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self.read_report(force=True).get("running"):
                return self
            if self.proc.poll() is not None:
                self.close()
                raise RuntimeError(f"{self.name}: GNU Radio process exited with {self.returncode} before running:\n"
                                   f"{self.stderr_tail}")
            time.sleep(0.05)
        self.close()
        raise RuntimeError(f"{self.name}: GNU Radio process not running after {ready_timeout_s:g} s:\n"
                           f"{self.stderr_tail}")

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc is not None and self.proc.poll() is None

    def failure(self) -> str:
        """``"exited with RC: <end of its stderr>"`` (or ``"is running"``)."""
        if self.proc is None or self.proc.poll() is None:
            return "is running"
        try:
            with open(os.path.join(self.dir, "stderr.txt"), "rb") as f:
                tail = f.read()[-1500:].decode(errors="replace").strip()
        except OSError:
            tail = self.stderr_tail[-1500:].strip()
        return f"exited with {self.proc.returncode}" + (f": {tail}" if tail else "")

    def read_report(self, force: bool = False) -> dict[str, Any]:
        """Its latest report (re-read at most every 50 ms unless ``force``); {} before the first."""
        with self._lock:
            now = time.monotonic()
            if force or now - self._read_at >= 0.05:
                self._read_at = now
                try:
                    with open(self.report_path) as f:
                        rep = json.load(f)
                    if isinstance(rep, dict):
                        self._last = rep
                except (OSError, ValueError):
                    pass
            return dict(self._last)

    def drained(self, sent: int, received: int) -> bool:
        """Whether GNU Radio got all ``sent`` items, its output count has stayed the same over
        reports at least 0.3 s apart (its own clock), and ``received`` covers that output."""
        rep = self.read_report()
        try:
            n_in, n_out, secs = int(rep["items_in"]), int(rep["items_out"]), float(rep["seconds"])
        except (KeyError, TypeError, ValueError):
            return False
        if n_in < sent:
            self._stable = None
            return False
        if self._stable is None or self._stable[:2] != (n_in, n_out):
            self._stable = (n_in, n_out, secs)
            return False
        return secs - self._stable[2] >= 0.3 and received >= n_out

    def close(self) -> None:
        """Stop it (stdin closed, then SIGTERM, then SIGKILL), keep its final report and the end
        of its stderr, remove its folder. Idempotent."""
        if self._closed:
            return
        self._closed = True
        p = self.proc
        try:
            if p is not None:
                if p.poll() is None:
                    try:
                        if p.stdin is not None:
                            p.stdin.close()
                        p.wait(self.kill_after_s)
                    except (OSError, subprocess.TimeoutExpired):
                        pass
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(self.kill_after_s)
                    except subprocess.TimeoutExpired:
                        p.kill()
                        p.wait(self.kill_after_s)
                elif p.stdin is not None and not p.stdin.closed:
                    p.stdin.close()
                self.returncode = p.returncode
            self.read_report(force=True)
        finally:
            err = getattr(self, "_err", None)
            if err is not None:
                err.close()
                try:
                    with open(err.name, "rb") as f:
                        self.stderr_tail = f.read()[-4000:].decode(errors="replace")
                except OSError:
                    pass
            shutil.rmtree(self.dir, ignore_errors=True)

    def report(self) -> dict[str, Any]:
        """JSON-serialisable: the process's last report, ``returncode``, ``stderr_tail`` (when
        it failed) and the semradio-side counters."""
        out = self.read_report() if not self._closed else dict(self._last)
        out["name"] = self.name
        out["returncode"] = self.returncode if self._closed else None
        if self.returncode not in (None, 0) and self.stderr_tail:
            out["stderr_tail"] = self.stderr_tail[-2000:]
        if self.extra is not None:
            out["semradio"] = self.extra()
        return out


# ------------------------------------------------------------------ ofdm_link --gnuradio
def gr_channel_args(config: Any) -> dict[str, Any]:
    """``channel_model`` arguments for an :class:`~semradio.flowgraphs.ofdm_link.OFDMLinkConfig`
    (see the module docstring): ``noise_voltage``, ``frequency_offset`` (cycles/sample),
    ``epsilon``, ``taps`` (list of complex), ``noise_seed``, plus ``snr_db``.

    Raises:
        ValueError: a channel, delay or phase noise ``channel_model`` cannot do, or a value out of
            range (non-finite SNR/CFO/SRO, |frequency_offset| > 0.5, epsilon outside [0.5, 2],
            a seed outside 0..2^31-1).
    """
    from semradio.flowgraphs.ofdm_channel import parse_taps

    if config.channel not in GR_CHANNELS:
        raise ValueError(f"--gnuradio: GNU Radio's channel_model has no {config.channel!r} channel (TR 38.901 "
                         f"TDL/CDL profiles exist only in semradio's SampleChannel); use --channel awgn or taps")
    if config.delay != 0.0:
        raise ValueError("--gnuradio: channel_model has no fractional delay; leave --delay at 0 "
                         "(a delay can be put in --taps)")
    if config.phase_noise != 0.0:
        raise ValueError("--gnuradio: channel_model has no phase noise; leave --phase-noise at 0")
    snr = float(config.snr_db)
    if math.isnan(snr) or snr == -math.inf:
        raise ValueError(f"--gnuradio: --snr-db must be a number or inf, got {config.snr_db}")
    fo = float(config.cfo) / 64.0
    eps = 1.0 + float(config.sro_ppm) * 1e-6
    if not (math.isfinite(fo) and abs(fo) <= 0.5):
        raise ValueError(f"--gnuradio: --cfo {config.cfo} gives frequency_offset {fo}, outside [-0.5, 0.5]")
    if not (math.isfinite(eps) and 0.5 <= eps <= 2.0):
        raise ValueError(f"--gnuradio: --sro-ppm {config.sro_ppm} gives epsilon {eps}, outside [0.5, 2]")
    if not 0 <= int(config.seed) < 2**31:
        raise ValueError(f"--gnuradio: --seed must be in 0..2^31-1, got {config.seed}")
    taps = [complex(t) for t in parse_taps(config.taps)] if config.channel == "taps" else [1 + 0j]
    return {"noise_voltage": gnuradio_peer.noise_voltage(snr), "frequency_offset": fo, "epsilon": eps,
            "taps": taps, "noise_seed": int(config.seed), "snr_db": snr}


def _taps_text(taps: list[complex]) -> str:
    return ",".join(repr(complex(t)).strip("()") for t in taps)


def gnuradio_channel(fg: Flowgraph, config: Any, tx: Block, blocks: dict[str, Any]) -> Block:
    """Route ``tx``'s samples through GNU Radio's ``channel_model`` (a spawned
    ``gnuradio_peer.py channel`` under ``config.gr_python``); the source of its output.

    Adds to ``fg``: ``tx -> BurstGaps -> GrStreamSink``, and a :class:`GrStreamSource`
    (returned: complex64 (1, n) chunks of at most :data:`CHUNK` samples, for the receiver).
    Adds to ``blocks``: ``gnuradio_peer`` (a started :class:`GnuRadioProcess`: ``report()``,
    ``close()``; the caller must close it), ``gr_gaps``, ``gr_sink`` (already bound: the
    flowgraph must run, or the caller calls its ``close_unstarted()``;
    :func:`semradio.flowgraphs.ofdm_link.release_gnuradio` does both), ``gr_source``.

    Both ZeroMQ ends bind ``tcp://127.0.0.1:*``: the sink before GNU Radio starts (it is told the
    port), GNU Radio's ``push_sink`` reports the port it bound (its report's ``tx``).

    Raises:
        ValueError: settings ``channel_model`` cannot do (see :func:`gr_channel_args`).
        RuntimeError: GNU Radio cannot be started, or its report names no bound port.
    """
    args = gr_channel_args(config)
    gaps = BurstGaps(config.gap_min, config.gap_max, seed=config.seed, name="gr_gaps")
    # both ends bind port 0 (the OS chooses) and report the port: no free-port race
    sink = GrStreamSink("tcp://127.0.0.1:*", pattern="push", pass_tags=False, name="to_gnuradio")
    to_gr = sink.bind_now()
    ends = {"to_gnuradio": to_gr, "from_gnuradio": ""}

    src_holder: list[GrStreamSource] = []

    def extra() -> dict[str, Any]:
        out: dict[str, Any] = {**ends, "items_sent": sink.stats["items"],
                               "tail": sink.tail, "bursts": gaps.gaps, "gap_samples": gaps.gap_samples}
        if src_holder:
            st = src_holder[0].stats
            out.update(items_received=st["items"], chunks=st["frames"], ended_by=src_holder[0].ended_by,
                       gr_items_lost=st["gr_items_lost"], malformed=st["malformed"])
        return out

    argv = [config.gr_python, gnuradio_peer.SCRIPT, "channel", "--rx", to_gr, "--tx", "tcp://127.0.0.1:*",
            "--noise-voltage", repr(args["noise_voltage"]), "--snr-db", repr(args["snr_db"]),
            "--frequency-offset", repr(args["frequency_offset"]), "--epsilon", repr(args["epsilon"]),
            "--taps", _taps_text(args["taps"]), "--seed", str(args["noise_seed"]),
            "--timeout", repr(float(config.timeout) + 120.0)]
    try:
        peer = GnuRadioProcess(argv, name="gnuradio_channel_model", extra=extra).start()
    except BaseException:
        sink.close_unstarted()
        raise
    blocks["gnuradio_peer"] = peer
    from_gr = ends["from_gnuradio"] = str(peer.read_report(force=True).get("tx", ""))
    if not re.fullmatch(r"tcp://[^*]+:\d+", from_gr):
        peer.close()
        sink.close_unstarted()
        raise RuntimeError(f"gnuradio_channel_model: its report names no bound endpoint (tx = {from_gr!r})")
    src = GrStreamSource(from_gr, chunk=CHUNK, upstream=sink, peer=peer, pattern="pull", pass_tags=False,
                         peer_timeout_s=None, name="from_gnuradio")
    src_holder.append(src)
    fg.connect(tx, gaps, sink)
    fg.add(src)
    blocks.update(gr_gaps=gaps, gr_sink=sink, gr_source=src)
    return src


# ------------------------------------------------------------------ semradio's ends of a radio link
ROLES = ("both", "tx", "rx")


@dataclass
class RadioSideConfig:
    """semradio's end(s) of the radio link of ``docs/radio.md`` (one field per option)."""

    role: str = option("both", choices=ROLES, help="tx, rx, or both in one process")
    to_radio: str = option("tcp://127.0.0.1:5600", help="tx: our PUSH endpoint (we bind; GNU Radio's pull_source "
                                                         "connects)")
    from_radio: str = option("tcp://127.0.0.1:5601", help="rx: GNU Radio's push_sink endpoint (we connect)")
    frames: int = option(20, type=frame_count,
                         help="tx: bursts (frames of images) to send; rx: images regenerated for the metrics")
    batch: int = option(16, type=positive_int, help="images per frame")
    cbr: str = option("1/6", choices=("1/6", "1/12"), help="channel bandwidth ratio")
    codec_family: str = option("rayleigh", choices=("rayleigh", "awgn"), help="shipped codec family")
    codec: str | None = option(None, type=checkpoint_ref("codec"),
                               help="codec (default: the shipped one of --codec-family and --cbr)")
    snr_db: float = option(15.0, help="SNR the encoder/codec choice assumes (dB)")
    data: str = option("natural32", type=dataset_spec, help="dataset spec (both ends must use the same)")
    split: str = option("eval", choices=("eval", "train", "all"))
    device: str = option("auto", help="codec device: auto, cpu, cuda")
    amplitude: float = option(1.0, help="tx: sample scale (unit-power bursts have peaks near 4: use about 0.25 "
                                        "into a radio's DAC)")
    gap_min: int = option(200, help="tx: fewest idle samples before a burst")
    gap_max: int = option(2000, help="tx: most idle samples before a burst")
    tail: int = option(TAIL, help="tx: zero samples after the last burst")
    no_tx_tags: bool = option(False, help="tx: plain samples, without the packet_len tag per burst that a "
                                          "UHD/Soapy sink's burst mode needs (gr_radio_bridge --no-tx-tags)")
    rx_tags: bool = option(False, help="rx: GNU Radio's push_sink sends tag headers (gr_radio_bridge --rx-tags)")
    chunk: int = option(CHUNK, help="rx: samples per received chunk")
    sample_rate: float = option(1e6, help="sample rate (Hz; the receiver's CFO report)")
    estimator: str = option("lmmse", choices=("lmmse", "ls", "diffusion"),
                            help="channel estimator (diffusion: the learned denoiser of the LS channel, chest_tdllink)")
    idle: float = option(3.0, help="rx: end after this many seconds without samples (after the first)")
    linger: float = option(5.0, help="both: after the last burst left, receive this many seconds more at most")
    duration: float = option(0.0, help="rx: end after this many seconds (0: never; a radio streams on)")
    allow_remote: bool = option(False, help="tx: allow binding --to-radio on a non-loopback address (GNU Radio on "
                                            "another host; gr-zeromq has no encryption: use a trusted network)")
    seed: int = option(0, help="gap seed")
    timeout: float = option(300.0, type=positive_float, help="stop after this many seconds")


def _check_radio_side(c: RadioSideConfig) -> None:
    if c.role not in ROLES:
        raise ValueError(f"--role must be one of {ROLES}, got {c.role!r}")
    for name in ("to_radio", "from_radio"):
        v = getattr(c, name)
        if not isinstance(v, str) or not v.startswith(("tcp://", "ipc://")):
            raise ValueError(f"--{name.replace('_', '-')} must be a tcp:// or ipc:// endpoint, got {v!r:.200}")
    if c.frames < 1 or c.batch < 1:
        raise ValueError(f"--frames and --batch must be >= 1, got {c.frames}, {c.batch}")
    for name in ("amplitude", "idle", "linger", "duration", "timeout", "sample_rate"):
        v = float(getattr(c, name))
        if not (math.isfinite(v) and v >= 0):
            raise ValueError(f"--{name.replace('_', '-')} must be finite and >= 0, got {v}")
    if c.amplitude <= 0 or c.sample_rate <= 0:
        raise ValueError("--amplitude and --sample-rate must be > 0")


def run_radio_side(config: RadioSideConfig, scopes: Any = None) -> dict[str, Any]:
    """Build and run semradio's end(s) of the radio link; the summary dict.

    Raises:
        ValueError: bad settings (addresses, counts, negative times).
    """
    _check_radio_side(config)
    from semradio.blocks.basic.image_source import ImageSource
    from semradio.blocks.channels.power import PowerNormalizer
    from semradio.blocks.codecs.jscc import JSCCEncoder
    from semradio.blocks.digital.ofdm_tx import OFDMTransmitter
    from semradio.blocks.hier.jscc_chain import codec_of
    from semradio.blocks.qtgui.gui_support import run_flowgraph
    from semradio.flowgraphs import ofdm_link as L
    from semradio.models.checkpoint import resolve_device

    link = L.OFDMLinkConfig(frames=config.frames, batch=config.batch, snr_db=config.snr_db, cbr=config.cbr,
                            channel="awgn" if config.codec_family == "awgn" else "taps", data=config.data,
                            split=config.split, codec=config.codec, device=config.device, seed=config.seed,
                            sample_rate=config.sample_rate, estimator=config.estimator, csi="estimated",
                            timeout=config.timeout)
    chain = L.chain_config(link)
    device = resolve_device(config.device)
    codec = codec_of(chain)
    fg = Flowgraph(f"radio_{config.role}")
    source = ImageSource(config.data, split=config.split, batch=config.batch, frames=config.frames,
                         device=None if device.type == "cpu" else str(device), name="source")
    blocks: dict[str, Any] = {"source": source}
    sink = None
    if config.role in ("tx", "both"):
        enc = JSCCEncoder(codec, device=str(device), snr_db=config.snr_db, name="encoder")
        counter = L.SentCounter(name="sent")
        tx = OFDMTransmitter(sample_rate=config.sample_rate, codec=codec, gap=64, amplitude=config.amplitude,
                             name="tx")
        gaps = BurstGaps(config.gap_min, config.gap_max, seed=config.seed, name="gaps")
        sink = GrStreamSink(config.to_radio, tail=config.tail, pattern="push", pass_tags=not config.no_tx_tags,
                            tag_keys=("seq",), allow_remote=config.allow_remote, name="to_radio")
        fg.connect(source, enc, PowerNormalizer(name="normalizer"), counter, tx, gaps, sink)
        blocks.update(encoder=enc, counter=counter, tx=tx, gaps=gaps, to_radio=sink)
    if config.role in ("rx", "both"):
        src = GrStreamSource(config.from_radio, chunk=config.chunk, upstream=sink, pattern="pull",
                             pass_tags=config.rx_tags, idle_s=config.idle or None,
                             idle_after_eos_s=config.idle or 10.0, linger_s=config.linger if sink else None,
                             duration_s=config.duration or None, peer_timeout_s=None, name="from_radio")
        if sink is None:
            fg.add(source)
        blocks["from_radio"] = src
        blocks["branch"] = L._branch(fg, link, "estimated", src, source, chain, str(device), codec)
    t0 = time.perf_counter()
    run_flowgraph(fg, scopes, blocks, timeout=config.timeout)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {"flowgraph": fg.name, "role": config.role, "codec": codec, "seconds": round(seconds, 2)}
    if sink is not None:
        out["tx"] = {"endpoint": config.to_radio, "frames_sent": blocks["counter"].frames,
                     "samples_sent": sink.stats["items"], "gap_samples": blocks["gaps"].gap_samples}
    if "branch" in blocks:
        b = L._branch_summary(blocks["branch"], config.frames, config.frames * config.batch)
        b.pop("channel_nmse_db", None)
        out["rx"] = dict(b, endpoint=config.from_radio, samples_received=blocks["from_radio"].stats["items"],
                         ended_by=blocks["from_radio"].ended_by)
    return out


def format_radio_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run_radio_side`'s summary."""
    lines = [f"{out['flowgraph']}: {out['codec']} in {out['seconds']:.1f} s"]
    if "tx" in out:
        t = out["tx"]
        lines.append(f"  tx -> {t['endpoint']}: {t['frames_sent']} bursts, {t['samples_sent']} samples")
    if "rx" in out:
        r = out["rx"]
        f = (lambda v, s=".2f": "n/a" if v is None else format(v, s))
        lines.append(f"  rx <- {r['endpoint']}: {r['samples_received']} samples, decoded {r['frames_decoded']} bursts "
                     f"(detections {r['detections']}, header CRC failures {r['header_crc_failures']}), PSNR "
                     f"{f(r['psnr_db'])} dB, SSIM {f(r['ssim'], '.4f')}, CFO {f(r['cfo_mean'], '.4f')} subcarriers, "
                     f"est. SNR {f(r['snr_db_estimated_mean'])} dB; ended by {r['ended_by']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """The script's entry point (semradio's ends of the radio link)."""
    return flowgraph_main(RadioSideConfig, run_radio_side, argv, doc=__doc__, summary=format_radio_summary)


if __name__ == "__main__":
    raise SystemExit(main())
