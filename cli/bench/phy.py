"""OFDM physical layer: receiver Msamples/s per stage and whole, on one core; a real-time stream.

The stream: ``--bursts`` bursts of ``--items`` x ``--length`` latent symbols (default 16 x 512:
one frame of 16 natural 32x32 patches at CBR 1/6) with random idle gaps (100..2000 samples),
through a :class:`~semradio.blocks.SampleChannel` (3 taps, CFO 0.3 subcarrier spacings,
20 ppm, 20 dB), made once before timing. Measured (best of ``--repeats``, one thread, the
process pinned to one CPU, BLAS limited to one thread):

* ``reference_fft_msps``: the least any OFDM receiver does, numpy's FFT of every 80-sample
  symbol's 64 useful samples of the same stream (``np.fft.fft`` on a (n/80, 64) view) —
  the reference the receiver is compared with in the same run (``ratio_to_fft``);
* ``receiver_msps``: :class:`semradio.dsp.ofdm.receiver.BurstReceiver` on chunks of
  ``--chunk`` samples (detection, synchronisation, header, payload); ``stages``: each stage's
  share of the time and its own rate (stream samples over the stage's time);
* ``block_msps``: :class:`~semradio.blocks.OFDMReceiver` ``work()`` in a loop (frames, tags);
* ``flowgraph_msps``: a running flowgraph ``ArraySource -> OFDMReceiver -> sink`` (ZeroMQ
  edges), steady state;
* ``transmitter_msps``: :class:`~semradio.blocks.OFDMTransmitter` ``work()`` (samples out);
* ``realtime`` (``--realtime RATE``, default 5e6, for ``--realtime-seconds``, default 60): a
  source paced at RATE samples/s against an absolute schedule, as a radio delivers them, feeds
  the receiver in a flowgraph. A chunk that the receiver starts more than ``--radio-buffer-ms``
  after the radio had it (queued on the edges included) is an overrun (a radio's receive
  buffer would have overflowed and dropped samples; UHD prints "O"). Reported: overruns, the
  largest and 99th-percentile lateness, bursts complete in the samples sent and bursts
  decoded, and the process's CPU share of real time.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from typing import Any

import numpy as np

from semradio.cli.bench.channel import TimingSink
from semradio.runtime import Flowgraph, Frame, SourceBlock
from semradio.runtime.block import WORK_DONE


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bursts", type=int, default=24, help="bursts in the test stream")
    p.add_argument("--items", type=int, default=16, help="items (images) per burst")
    p.add_argument("--length", type=int, default=512, help="latent symbols per item")
    p.add_argument("--chunk", type=int, default=65536, help="samples per chunk pushed to the receiver")
    p.add_argument("--repeats", type=int, default=5, help="repetitions (best kept)")
    p.add_argument("--cpu", type=int, default=None, help="CPU to pin to (default: the first allowed)")
    p.add_argument("--realtime", type=float, default=None, nargs="?", const=5e6, metavar="RATE",
                   help="also run the paced real-time test at RATE samples/s (default 5e6)")
    p.add_argument("--realtime-seconds", type=float, default=60.0, help="duration of the real-time test")
    p.add_argument("--radio-buffer-ms", type=float, default=50.0,
                   help="lateness that counts as an overrun (a radio's receive buffer)")


def _pin(cpu: int | None) -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = sorted(os.sched_getaffinity(0))
    c = allowed[0] if cpu is None else cpu
    os.sched_setaffinity(0, {c})
    return c


def make_stream(bursts: int, items: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(samples complex64 (n,), end sample of each burst (bursts,)) of the benchmark stream
    (module docstring)."""
    from semradio.blocks.channels.sample_channel import SampleChannel
    from semradio.blocks.digital.ofdm_tx import OFDMTransmitter

    rng = np.random.default_rng(seed)
    tail = 64
    tx = OFDMTransmitter(gap=tail)
    ch = SampleChannel(snr_db=20.0, cfo=0.3 / 64, sro_ppm=20.0, taps=[1.0, 0.25 + 0.2j, 0.1 - 0.05j],
                       gap_min=100, gap_max=2000, seed=seed)
    parts = []
    for i in range(bursts):
        x = ((rng.standard_normal((items, length)) + 1j * rng.standard_normal((items, length))) / math.sqrt(2))
        parts.append(np.asarray(ch.work(tx.work(Frame(x.astype(np.complex64), {"seq": i}))).data).reshape(-1))
    ends = np.cumsum([p.size for p in parts]) - tail
    return np.concatenate(parts).astype(np.complex64), ends


def bursts_within(ends: np.ndarray, n: int, samples: int) -> int:
    """Bursts of a stream of ``n`` samples (burst ends ``ends``) replayed in a loop that are
    complete within its first ``samples`` samples."""
    passes, rem = divmod(int(samples), n)
    return passes * ends.size + int(np.sum(ends <= rem))


class _ChunkSource(SourceBlock):
    """Emits ``stream`` in chunks of ``chunk`` samples, ``repeat`` times; with ``rate`` paced
    against an absolute schedule, recording each chunk's lateness (s)."""

    def __init__(self, stream: np.ndarray, chunk: int, repeat: int = 1, rate: float | None = None,
                 seconds: float | None = None, name: str | None = None) -> None:
        super().__init__(name)
        self.add_output("out", "complex64", (None,))
        self.stream, self.chunk, self.repeat, self.rate, self.seconds = stream, int(chunk), int(repeat), rate, seconds
        self._pos, self._pass, self._sent = 0, 0, 0
        self._t0: float | None = None
        self.lateness: list[float] = []
        self.t_first_out: float | None = None

    def work(self) -> Any:
        if self._pos >= self.stream.size:
            self._pos, self._pass = 0, self._pass + 1
        if self.rate is None and self._pass >= self.repeat:
            return WORK_DONE
        now = time.perf_counter()
        if self._t0 is None:
            self._t0 = now
        if self.rate is not None:
            if self.seconds is not None and self._sent / self.rate >= self.seconds:
                return WORK_DONE
            due = self._t0 + (self._sent + self.chunk) / self.rate   # a radio has the chunk then
            if due > now:
                time.sleep(due - now)
            else:
                self.lateness.append(now - due)
        data = self.stream[self._pos: self._pos + self.chunk]
        due_s = self._t0 + (self._sent + data.size) / self.rate if self.rate is not None else None
        self._pos += data.size
        self._sent += data.size
        if self.t_first_out is None:
            self.t_first_out = time.perf_counter()
        return self.make_frame(data.reshape(1, -1), **({} if due_s is None else {"due_s": due_s}))


def _best(fn: Any, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def run(args: argparse.Namespace) -> dict[str, Any]:
    from threadpoolctl import threadpool_limits

    from semradio.blocks.digital.ofdm_rx import OFDMReceiver
    from semradio.blocks.digital.ofdm_tx import OFDMTransmitter
    from semradio.dsp.ofdm.numerology import OFDMConfig
    from semradio.dsp.ofdm.receiver import STAGES, BurstReceiver

    cpu = _pin(args.cpu)
    limits = threadpool_limits(1)
    try:
        stream, ends = make_stream(args.bursts, args.items, args.length)
        bursts = ends.size
        n = stream.size
        cfg = OFDMConfig()

        # reference: one 64-point FFT per 80-sample symbol of the stream
        view = np.lib.stride_tricks.sliding_window_view(stream[: n - n % 80], 64)[::80]
        t_fft = _best(lambda: np.fft.fft(view, axis=1), args.repeats)

        # the receiver on chunks
        stage_best: dict[str, float] = {}
        decoded = 0

        def rx_run() -> None:
            nonlocal decoded, stage_best
            rx = BurstReceiver(cfg)
            got = 0
            for a in range(0, n, args.chunk):
                got += len(rx.push(stream[a: a + args.chunk]))
            decoded = got
            if not stage_best or sum(rx.stage_ns.values()) < sum(stage_best.values()):
                stage_best = {k: float(v) for k, v in rx.stage_ns.items()}

        t_rx = _best(rx_run, args.repeats)

        # the block's work()
        def block_run() -> None:
            blk = OFDMReceiver()
            blk.start()
            for i, a in enumerate(range(0, n, args.chunk)):
                blk.work(Frame(stream[None, a: a + args.chunk], {"seq": i}))

        t_blk = _best(block_run, args.repeats)

        # a running flowgraph
        fg_rates = []
        for _ in range(max(1, args.repeats // 2)):
            src = _ChunkSource(stream, args.chunk, repeat=3, name="src")
            rxb = OFDMReceiver(name="rx")
            sink = TimingSink(name="sink")
            fg = Flowgraph("bench_phy")
            fg.connect(src, rxb, sink)
            t0 = time.perf_counter()
            fg.run(timeout=300)
            wall = time.perf_counter() - t0
            fg_rates.append((3 * n / wall, sink.count))

        # the transmitter
        rng = np.random.default_rng(1)
        lat = ((rng.standard_normal((args.items, args.length)) + 1j * rng.standard_normal((args.items, args.length)))
               / math.sqrt(2)).astype(np.complex64)
        tx = OFDMTransmitter()
        frame = Frame(lat, {"seq": 0})
        tx_len = tx.work(frame).data.size
        reps = 20
        t_tx = _best(lambda: [tx.work(frame) for _ in range(reps)], args.repeats) / reps

        total_stage = sum(stage_best.values())
        out: dict[str, Any] = {
            "cpu": cpu, "stream": {"samples": n, "bursts": bursts, "items": args.items, "length": args.length,
                                   "burst_samples": cfg.burst_len(args.items * args.length), "chunk": args.chunk},
            "reference_fft_msps": round(n / t_fft / 1e6, 2),
            "receiver_msps": round(n / t_rx / 1e6, 2),
            "ratio_to_fft": round(t_fft / t_rx, 4),
            "bursts_decoded": decoded,
            "stages": {k: {"share": round(stage_best[k] / total_stage, 3),
                           "msps": round(n / (stage_best[k] / 1e9) / 1e6, 1) if stage_best[k] else None}
                       for k in STAGES},
            "block_msps": round(n / t_blk / 1e6, 2),
            "flowgraph_msps": round(max(r for r, _ in fg_rates) / 1e6, 2),
            "flowgraph_bursts_decoded": fg_rates[0][1],
            "transmitter_msps": round(tx_len / t_tx / 1e6, 2),
            "meets_10msps": n / t_rx >= 10e6,
            "checks_failed": [] if n / t_rx >= 10e6 else
            [f"receiver {n / t_rx / 1e6:.2f} Msamples/s, needs >= 10 (short by {10 - n / t_rx / 1e6:.2f})"],
        }
        if args.realtime:
            out["realtime"] = realtime(stream, ends, args)
        return out
    finally:
        limits.restore_original_limits()


def realtime(stream: np.ndarray, ends: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """The paced test (module docstring). Lateness is measured where the work is: when the
    receiver starts a chunk, against the time the radio had it (the ``due_s`` tag), so chunks
    queued on the edges count as late too."""
    from semradio.blocks.digital.ofdm_rx import OFDMReceiver

    class TimedReceiver(OFDMReceiver):
        def __init__(self, name: str) -> None:
            super().__init__(name=name)
            self.lateness: list[float] = []

        def work(self, frame: Frame) -> Any:  # type: ignore[override]
            due = frame.tags.get("due_s")
            if isinstance(due, float):
                self.lateness.append(time.perf_counter() - due)
            return super().work(frame)

    rate = float(args.realtime)
    chunk = int(min(args.chunk, max(1024, rate * 0.005)))  # ~5 ms of samples per chunk
    src = _ChunkSource(stream, chunk, rate=rate, seconds=args.realtime_seconds, name="radio")
    rx = TimedReceiver(name="rx")
    sink = TimingSink(name="sink")
    fg = Flowgraph("bench_phy_realtime")
    fg.connect(src, rx, sink)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    fg.run(timeout=args.realtime_seconds * 3 + 60)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    late = np.asarray(rx.lateness) if rx.lateness else np.zeros(1)
    limit = args.radio_buffer_ms / 1e3
    return {
        "rate_msps": rate / 1e6, "seconds": round(args.realtime_seconds, 1), "chunk": chunk,
        "samples": src._sent, "chunks": len(rx.lateness), "overruns": int(np.sum(late > limit)),
        "max_lateness_ms": round(float(late.max()) * 1e3, 3),
        "p99_lateness_ms": round(float(np.percentile(late, 99)) * 1e3, 3), "radio_buffer_ms": args.radio_buffer_ms,
        "source_late_chunks": int(np.sum(np.asarray(src.lateness or [0.0]) > limit)),
        "bursts_sent": bursts_within(ends, stream.size, src._sent), "bursts_decoded": sink.count,
        "wall_s": round(wall, 2), "process_cpu_share": round(cpu / wall, 3),
    }
