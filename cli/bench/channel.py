"""Channel blocks: Msamples/s inside a running flowgraph vs the same math in plain numpy.

For each channel block (frames of ``--batch`` x ``--samples`` complex64 samples, default
1 x 65536):

* ``numpy_msps``: the block's math (the pure functions of ``semradio.dsp.channel``,
  same draws, same dtypes) called in a plain Python loop: no block, no flowgraph, no checks;
* ``block_msps``: ``block.work(frame)`` called in a loop (adds parameter snapshot, input
  validation with the NaN/inf check, tags);
* ``flowgraph_msps``: a running flowgraph ``ArraySource (re-emits one pre-drawn frame) ->
  channel -> timing sink``, steady state: (frames - 1) over the time between the first and the
  last frame at the sink; ``flowgraph_wall_msps`` over the whole ``Flowgraph.run`` (start-up and
  teardown included);
* ``ratio``: ``flowgraph_msps / numpy_msps`` (the target is >= 0.70), ``ratio_wall`` likewise.

Each measurement is repeated ``--repeats`` times, alternating numpy and flowgraph runs, and the
best of each is kept (these machines are noisy; quote ratios from one run).
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from typing import Any, Callable

import numpy as np

from semradio.blocks import AWGNChannel, ArraySource, InterferenceChannel, RayleighChannel, RicianChannel
from semradio.dsp import channel as cm
from semradio.runtime import Flowgraph, Frame, SinkBlock

SNR_DB, SINR_DB, K_FACTOR, COHERENCE = 10.0, 5.0, 4.0, 1024


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", type=int, default=65536, help="complex samples per item")
    p.add_argument("--batch", type=int, default=1, help="items per frame")
    p.add_argument("--seconds", type=float, default=0.8, help="target duration of each measurement")
    p.add_argument("--repeats", type=int, default=3, help="alternating repetitions (best kept)")
    p.add_argument("--channels", default="awgn,rayleigh,rayleigh_block,rician,interference",
                   help="comma-separated subset of the cases")


class TimingSink(SinkBlock):
    """Counts frames and records the arrival time of the first and the last one."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="complex64")
        self.count = 0
        self.t_first = self.t_last = 0.0
        self._lock = threading.Lock()

    def work(self, frame: Frame) -> None:  # type: ignore[override]
        t = time.perf_counter()
        with self._lock:
            if self.count == 0:
                self.t_first = t
            self.t_last = t
            self.count += 1


# ------------------------------------------------------------------ the same math, plain numpy
def numpy_math(case: str, shape: tuple[int, int]) -> Callable[[np.ndarray, np.random.Generator], np.ndarray]:
    """The per-frame math of ``case`` as the block computes it, with no block around it."""
    s2 = cm.noise_var_from_snr(SNR_DB)
    batch, k = shape

    if case == "awgn":
        def f(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            return cm.channel_output(x, None, cm.complex_noise(rng, shape, s2, x))
    elif case == "rayleigh":
        def f(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            h = cm.rayleigh_gains(rng, shape, x)
            return cm.channel_output(x, h, cm.complex_noise(rng, shape, s2, x))
    elif case == "rayleigh_block":
        nb = cm.coherence_blocks(k, COHERENCE)

        def f(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            h = cm.expand_coherence(cm.rayleigh_gains(rng, (batch, nb), x), k, COHERENCE)
            return cm.channel_output(x, h, cm.complex_noise(rng, shape, s2, x))
    elif case == "rician":
        def f(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            h = cm.rician_gains(rng, shape, K_FACTOR, 0.0, x)
            return cm.channel_output(x, h, cm.complex_noise(rng, shape, s2, x))
    elif case == "interference":
        pz = cm.interference_power_from_sinr(SINR_DB, s2)
        rng_z = np.random.default_rng(99)

        def f(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
            h = cm.rayleigh_gains(rng, shape, x)
            n = cm.complex_noise(rng, shape, s2, x)
            z = cm.normalize_complex_power(cm.complex_noise(rng_z, shape, 1.0, x))
            h_z = cm.rayleigh_gains(rng_z, shape, x)
            return cm.channel_output(x, h, n, 1.0, cm.interference_term(h_z, z, pz))
    else:
        raise ValueError(f"unknown case {case!r}")
    return f


def make_block(case: str) -> Any:
    if case == "awgn":
        return AWGNChannel(snr_db=SNR_DB, seed=1)
    if case == "rayleigh":
        return RayleighChannel(snr_db=SNR_DB, seed=1)
    if case == "rayleigh_block":
        return RayleighChannel(snr_db=SNR_DB, fading="block", coherence=COHERENCE, seed=1)
    if case == "rician":
        return RicianChannel(snr_db=SNR_DB, k_factor=K_FACTOR, seed=1)
    if case == "interference":
        return InterferenceChannel(snr_db=SNR_DB, sinr_db=SINR_DB, seed=1)
    raise ValueError(f"unknown case {case!r}")


# ------------------------------------------------------------------------------ measurements
def _loop_rate(step: Callable[[], Any], seconds: float) -> tuple[float, int]:
    """Frames/s of ``step`` over about ``seconds``."""
    step()  # warm-up
    n, t0 = 0, time.perf_counter()
    while True:
        step()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= seconds and n >= 5:
            return n / dt, n


def flowgraph_rate(case: str, x: np.ndarray, frames: int) -> tuple[float, float]:
    """(steady-state frames/s at the sink, frames/s over the whole run)."""
    src = ArraySource(x, batch=x.shape[0], repeat=frames, name="src")  # re-emits views of x
    sink = TimingSink(name="sink")
    fg = Flowgraph(f"bench_channel_{case}")
    fg.connect(src, make_block(case), sink)
    t0 = time.perf_counter()
    fg.run(timeout=300)
    wall = time.perf_counter() - t0
    if sink.count != frames:
        raise RuntimeError(f"{case}: sink got {sink.count} of {frames} frames")
    steady = (sink.count - 1) / (sink.t_last - sink.t_first) if sink.count > 1 else math.nan
    return steady, frames / wall


def run(args: argparse.Namespace) -> dict[str, Any]:
    shape = (args.batch, args.samples)
    per_frame = args.batch * args.samples
    x = cm.normalize_power(np.random.default_rng(0).standard_normal((args.batch, 2 * args.samples)).astype(np.float32))
    results: dict[str, Any] = {}
    for case in [c.strip() for c in args.channels.split(",") if c.strip()]:
        math_f = numpy_math(case, shape)
        rng = np.random.default_rng(1)
        block = make_block(case)
        frame = Frame(x, {"seq": 0})
        best = {"numpy": 0.0, "block": 0.0, "flowgraph": 0.0, "flowgraph_wall": 0.0}
        for _ in range(max(1, args.repeats)):
            r_np, n_np = _loop_rate(lambda: math_f(x, rng), args.seconds)
            best["numpy"] = max(best["numpy"], r_np)
            r_blk, _ = _loop_rate(lambda: block.work(frame), args.seconds)
            best["block"] = max(best["block"], r_blk)
            steady, wall = flowgraph_rate(case, x, max(20, n_np))
            best["flowgraph"] = max(best["flowgraph"], steady)
            best["flowgraph_wall"] = max(best["flowgraph_wall"], wall)
        msps = {k: v * per_frame / 1e6 for k, v in best.items()}
        results[case] = {
            "numpy_msps": round(msps["numpy"], 3),
            "block_msps": round(msps["block"], 3),
            "flowgraph_msps": round(msps["flowgraph"], 3),
            "flowgraph_wall_msps": round(msps["flowgraph_wall"], 3),
            "ratio": round(msps["flowgraph"] / msps["numpy"], 3),
            "ratio_wall": round(msps["flowgraph_wall"] / msps["numpy"], 3),
            "meets_70pct": msps["flowgraph"] / msps["numpy"] >= 0.70,
        }
    return {
        "frame": {"batch": args.batch, "samples": args.samples, "dtype": "complex64"},
        "snr_db": SNR_DB, "sinr_db": SINR_DB, "k_factor": K_FACTOR, "coherence": COHERENCE,
        "repeats": args.repeats,
        "channels": results,
        "all_meet_70pct": all(r["meets_70pct"] for r in results.values()),
        "checks_failed": [f"{case}: flowgraph {r['flowgraph_msps']:g} Msamples/s is {r['ratio']:.0%} of numpy's "
                          f"{r['numpy_msps']:g}, needs >= 70% (short by {0.70 - r['ratio']:.1%})"
                          for case, r in results.items() if not r["meets_70pct"]],
    }
