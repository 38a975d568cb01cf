"""Runtime: raw pyzmq PUSH/PULL vs semradio edges (inproc/ipc/tcp, 4 KiB and 1 MiB), 6-block chain.

Raw pyzmq: one thread pushes N messages, the main thread pulls them; messages/s over the pull
side's wall time (4 KiB sent as bytes, 1 MiB zero-copy as pyzmq allows). semradio: a
CountingSource (preallocated payload) -> sink flowgraph over one edge of the transport;
frames/s at the sink between its first and last frame; for ipc and tcp also with the source in
a worker process (``placement="process"``, what those edges are for: producer and consumer
then share no GIL). The chain is source -> 4 pass-through -> sink.
Raw and semradio runs alternate ``--repeat`` times; the best of each is reported, and the ratio
of the medians beside it (``ratio_median``, ``ratio_worker_median``).

The 6-block chain runs twice: with the flowgraph's defaults (the four pass-through blocks and
the null sink run inline on the source's thread, see :mod:`semradio.runtime.flowgraph`) and with
``fuse=False`` (one thread per block, ``chain_6_blocks_threads_4KiB_frames_per_s``).

Ratios to raw pyzmq depend on where the OS puts the two threads: raw pyzmq's hand-over is about
twice as fast when both threads share one core (e.g. with the other core busy) as across two
idle cores, while semradio's per-frame Python gains less from it; compare runs made in the same
conditions.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from typing import Any

import numpy as np
import zmq

from semradio.blocks import CountingSource, NullSink, PassThrough
from semradio.runtime import Flowgraph, SinkBlock

SIZES = {"4KiB": 4096, "1MiB": 1 << 20}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=1.5, help="target duration of each measurement")
    p.add_argument("--hwm", type=int, default=64, help="queue bound used for both raw and semradio")
    p.add_argument("--baseline", default=None, metavar="DIR",
                   help="also measure the 6-block chain and the inproc 4 KiB hop with the semradio checkout in DIR "
                        "(e.g. `git worktree add /tmp/base COMMIT`), alternating with this one in fresh processes: "
                        "the speed-up of this code over that one in the same run")
    p.add_argument("--repeat", type=int, default=3,
                   help="alternating repetitions of raw and semradio; the best of each is reported "
                        "(filters out interference from other processes on a shared machine)")


def _endpoint(transport: str, tmp: str, i: int) -> str:
    if transport == "inproc":
        return f"inproc://bench-{i}"
    if transport == "ipc":
        return f"ipc://{tmp}/bench-{i}"
    return "tcp://127.0.0.1:*"


def raw_pyzmq(transport: str, nbytes: int, n: int, hwm: int, tmp: str, i: int) -> float:
    """Messages/s of a raw PUSH/PULL pair (pusher thread, puller here)."""
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, hwm)
    pull.setsockopt(zmq.LINGER, 0)
    pull.bind(_endpoint(transport, tmp, i))
    ep = pull.getsockopt(zmq.LAST_ENDPOINT).decode()
    payload = np.zeros(nbytes, np.uint8)
    big = nbytes > 65536

    def pusher() -> None:
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.SNDHWM, hwm)
        push.setsockopt(zmq.LINGER, -1)
        push.connect(ep)
        if big:
            for _ in range(n):
                push.send(payload, copy=False)
        else:
            data = payload.tobytes()
            for _ in range(n):
                push.send(data)
        push.close()

    t = threading.Thread(target=pusher)
    t.start()
    pull.recv(copy=not big)
    t0 = time.perf_counter()
    for _ in range(n - 1):
        pull.recv(copy=not big)
    dt = time.perf_counter() - t0
    t.join()
    pull.close()
    ctx.destroy(linger=0)  # every message arrived; term() was seen to hang once in pyzmq's teardown
    return (n - 1) / dt


class TimedSink(SinkBlock):
    """Counts frames and notes when the first and the last arrived (steady-state rate)."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in")
        self.n = 0
        self.t_first = self.t_last = 0.0

    def work(self, frame: Any) -> None:
        t = time.perf_counter()
        if self.n == 0:
            self.t_first = t
        self.t_last = t
        self.n += 1

    def rate(self) -> float:
        """Frames/s between the first and the last frame."""
        return (self.n - 1) / max(self.t_last - self.t_first, 1e-9)


def semradio_edge(transport: str, nbytes: int, n: int, hwm: int, worker: bool = False) -> dict[str, float]:
    """Frames/s through one semradio edge (source -> sink), measured at the sink from its first
    to its last frame. ``worker``: the source runs in a worker process (``placement="process"``),
    the configuration ipc edges exist for; otherwise both blocks share this process and the
    edge is forced to ``transport``."""
    src = CountingSource(frames=n, size=nbytes // 4, dtype="float32", reuse=True)
    sink = TimedSink()
    fg = Flowgraph(hwm=hwm)
    fg.connect(src, sink, transport=transport)
    if worker:
        fg.add(src, placement="process")
    fg.run()
    assert sink.n == n, f"{sink.n} of {n} frames arrived"
    r = sink.rate()
    return {"frames_per_s": r, "gbytes_per_s": r * nbytes / 1e9}


def chain(n: int, hwm: int, nbytes: int = 4096, fuse: bool = True) -> float:
    """Frames/s through source -> 4 pass-through -> sink (6 blocks, inproc); ``fuse=False``:
    one thread per block (no inline blocks)."""
    src = CountingSource(frames=n, size=nbytes // 4, reuse=True)
    blocks = [PassThrough() for _ in range(4)]
    sink = NullSink()
    fg = Flowgraph(hwm=hwm, fuse=fuse)
    fg.connect(src, *blocks, sink)
    t0 = time.perf_counter()
    fg.run()
    dt = time.perf_counter() - t0
    assert fg.stats()[sink.name]["frames_in"] == n
    return n / dt


_COMPARE = r"""
import inspect, json, os, sys, tempfile
base = sys.argv[1]
if base:  # import semradio from that checkout (its root is the package)
    d = tempfile.mkdtemp()
    os.symlink(base, os.path.join(d, "semradio"))
    sys.path.insert(0, d)
import semradio.runtime.edges as E
from semradio.cli.bench.runtime import chain, raw_pyzmq, semradio_edge
if base and not os.path.realpath(E.__file__).startswith(os.path.realpath(base)):
    raise SystemExit(f"imported {E.__file__}, not the baseline {base}")
n_chain, n_edge = int(sys.argv[2]), int(sys.argv[3])
out = {"chain": chain(n_chain, 64), "inproc_4KiB": semradio_edge("inproc", 4096, n_edge, 64)["frames_per_s"],
       "raw_inproc_4KiB": raw_pyzmq("inproc", 4096, n_edge, 64, tempfile.mkdtemp(), 0)}
if "fuse" in inspect.signature(chain).parameters:  # checkouts with inline blocks: also one thread per block
    out["chain_threads"] = chain(n_chain, 64, fuse=False)
print(json.dumps(out))
"""


def compare_with(baseline: str, repeat: int, n_chain: int = 30000, n_edge: int = 100000) -> dict[str, Any]:
    """The 6-block chain and the inproc 4 KiB hop (and raw pyzmq) with this checkout and with the
    checkout ``baseline``, alternating in fresh processes ``repeat`` times; medians and the
    speed-ups of this code."""
    import json
    import os
    import statistics
    import subprocess
    import sys

    if not os.path.isfile(os.path.join(baseline, "runtime", "edges.py")):
        raise ValueError(f"--baseline {baseline}: not a semradio checkout (no runtime/edges.py)")
    runs: dict[str, list[dict[str, float]]] = {"this": [], "baseline": []}
    for _ in range(max(1, repeat)):
        for which, path in (("baseline", os.path.abspath(baseline)), ("this", "")):
            out = subprocess.run([sys.executable, "-c", _COMPARE, path, str(n_chain), str(n_edge)],
                                 capture_output=True, text=True, timeout=600)
            if out.returncode:
                raise RuntimeError(f"{which} run failed: {out.stderr.strip().splitlines()[-1:]}")
            runs[which].append(json.loads(out.stdout.strip().splitlines()[-1]))
    med = {w: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for w, rs in runs.items()}
    threads = {"chain_threads_speedup": round(med["this"]["chain_threads"] / med["baseline"]["chain"], 3)} \
        if "chain_threads" in med["this"] and "chain_threads" not in med["baseline"] else {}
    return {"baseline_dir": os.path.abspath(baseline), "repeat": len(runs["this"]),
            **{w: {k: round(v) for k, v in m.items()} for w, m in med.items()},
            "chain_speedup": round(med["this"]["chain"] / med["baseline"]["chain"], 3), **threads,
            "inproc_ratio_to_raw": {w: round(m["inproc_4KiB"] / m["raw_inproc_4KiB"], 3) for w, m in med.items()}}


def _calibrate(fn: Any, seconds: float, probe: int) -> int:
    t0 = time.perf_counter()
    fn(probe)
    dt = max(time.perf_counter() - t0, 1e-3)
    return max(probe, int(probe * seconds / dt))


def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"edges": {}, "hwm": args.hwm}
    tmp = tempfile.mkdtemp(prefix="semradio-bench-")
    i = 0
    for transport in ("inproc", "ipc", "tcp"):
        for label, nbytes in SIZES.items():
            probe = 2000 if nbytes < 65536 else 100
            n_raw = _calibrate(lambda k: raw_pyzmq(transport, nbytes, k, args.hwm, tmp, -1 - k), args.seconds, probe)
            n_sr = _calibrate(lambda k: semradio_edge(transport, nbytes, k, args.hwm), args.seconds, probe)
            raws, srs = [], []
            for _ in range(args.repeat):
                raws.append(raw_pyzmq(transport, nbytes, n_raw, args.hwm, tmp, i))
                i += 1
                srs.append(semradio_edge(transport, nbytes, n_sr, args.hwm))
            raw = max(raws)
            sr = max(srs, key=lambda d: d["frames_per_s"])
            med_raw = statistics.median(raws)
            med_sr = statistics.median(d["frames_per_s"] for d in srs)
            runs_info = {"raw_pyzmq_runs_msgs_per_s": [round(r) for r in raws],
                         "semradio_runs_frames_per_s": [round(d["frames_per_s"]) for d in srs]}
            row = out["edges"][f"{transport}_{label}"] = {
                "raw_pyzmq_msgs_per_s": round(raw),
                "raw_pyzmq_gbytes_per_s": round(raw * nbytes / 1e9, 3),
                "semradio_frames_per_s": round(sr["frames_per_s"]),
                "semradio_gbytes_per_s": round(sr["gbytes_per_s"], 3),
                "ratio_semradio_to_raw": round(sr["frames_per_s"] / raw, 3),
                "ratio_median": round(med_sr / med_raw, 3),
                **runs_info,
            }
            if transport != "inproc":
                # the source in a worker process: the deployment an ipc/tcp edge is for (no
                # GIL shared between producer and consumer)
                runs = [semradio_edge(transport, nbytes, 3 * n_sr, args.hwm, worker=True)
                        for _ in range(args.repeat)]
                wk = max(runs, key=lambda d: d["frames_per_s"])
                row.update(semradio_worker_frames_per_s=round(wk["frames_per_s"]),
                           semradio_worker_gbytes_per_s=round(wk["gbytes_per_s"], 3),
                           semradio_worker_runs_frames_per_s=[round(d["frames_per_s"]) for d in runs],
                           ratio_worker_to_raw=round(wk["frames_per_s"] / raw, 3),
                           ratio_worker_median=round(statistics.median(d["frames_per_s"] for d in runs) / med_raw, 3))
    n_chain = _calibrate(lambda k: chain(k, args.hwm), args.seconds, 1000)
    out["chain_6_blocks_4KiB_frames_per_s"] = round(max(chain(n_chain, args.hwm) for _ in range(args.repeat)))
    out["chain_6_blocks_threads_4KiB_frames_per_s"] = round(max(chain(n_chain // 2, args.hwm, fuse=False)
                                                                for _ in range(args.repeat)))
    e = out["edges"]
    from .report import check, failed_lines

    detail = {
        "inproc_4KiB_ratio_ge_0.30": check("inproc 4 KiB frames/s, semradio / raw pyzmq",
                                           e["inproc_4KiB"]["ratio_semradio_to_raw"], ">=", 0.30),
        "inproc_1MiB_ge_2GBps": check("inproc 1 MiB GB/s", e["inproc_1MiB"]["semradio_gbytes_per_s"], ">=", 2.0),
        "ipc_4KiB_worker_ratio_ge_0.30": check("ipc 4 KiB frames/s, worker / raw pyzmq",
                                               e["ipc_4KiB"]["ratio_worker_to_raw"], ">=", 0.30),
        "ipc_1MiB_worker_ratio_ge_0.30": check("ipc 1 MiB frames/s, worker / raw pyzmq",
                                               e["ipc_1MiB"]["ratio_worker_to_raw"], ">=", 0.30),
    }
    if getattr(args, "baseline", None):
        out["compare"] = compare_with(args.baseline, args.repeat)
    out["checks"] = {k: c["ok"] for k, c in detail.items()}
    out["checks_failed"] = failed_lines(detail)
    return out
