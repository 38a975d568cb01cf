"""Bridges: ZMQSink -> ZMQSource throughput over TCP (native and GNU Radio formats), vs raw pyzmq.

Cases (each runs ``--seconds`` after a short warm-up; rates measured on the receiving side):

* ``native_iq`` / ``native_latents``: native wire format, PUSH/PULL over tcp://127.0.0.1,
  IQ frames (1 x ``--iq-len`` complex64) in Msamples/s and latent frames (``--batch`` x
  ``--latent-len`` float32) in frames/s;
* ``gnuradio_iq`` / ``gnuradio_iq_tags``: gr-zeromq format, IQ without and with the tag header
  (tagged stream: one ``packet_len`` packet per frame, frame tags mapped to PMTs);
* ``gnuradio_latents``: gr-zeromq format, float32 items with vlen = ``--latent-len``, one
  latent per GNU Radio item, ``--batch`` items per frame;
* ``raw_pyzmq_iq``: the same IQ bytes through a bare pyzmq PUSH/PULL pair (the ceiling);
* ``from_gnuradio_iq`` (when GNU Radio is available, ``--gnuradio auto``): a real GNU Radio
  ``vector_source_c -> head -> push_sink(pass_tags)`` into ZMQSource, Msamples/s between the
  first and the last frame.

Sender and receiver share this process (two block threads, one GIL) except for the GNU Radio
case; quote ratios measured in one run. Checks: every case receives frames, none malformed and
none lost (``checks_failed`` lists each miss with its count).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import threading
import time
from typing import Any

import numpy as np
import zmq

from semradio.blocks import CountingSource, NullSink, ZMQSink, ZMQSource
from semradio.runtime import Flowgraph
from semradio.runtime.arguments import OneLineParser
from semradio.runtime.net import free_port


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seconds", type=float, default=2.0, help="measurement time per case")
    p.add_argument("--iq-len", type=int, default=16384, help="complex64 samples per IQ frame")
    p.add_argument("--latent-len", type=int, default=512, help="float32 values per latent (2k)")
    p.add_argument("--batch", type=int, default=4, help="latents per frame")
    p.add_argument("--hwm", type=int, default=16)
    p.add_argument("--gnuradio", choices=("auto", "off"), default="auto",
                   help="also measure a real GNU Radio sender (needs /usr/bin/python3 with gnuradio)")
    p.add_argument("--gr-python", default="/usr/bin/python3")
    p.add_argument("--cases", default="all", help="comma-separated case names (default all)")


def _measure(fg: Flowgraph, rx: ZMQSource, seconds: float, warmup: float = 0.3) -> tuple[float, int]:
    """Frames/s received between warm-up and the end of the window."""
    fg.start()
    try:
        time.sleep(warmup)
        f0, t0 = rx.stats["frames"], time.perf_counter()
        time.sleep(seconds)
        f1, t1 = rx.stats["frames"], time.perf_counter()
    finally:
        fg.stop()
    return (f1 - f0) / (t1 - t0), f1 - f0


def _bridge_case(seconds: float, size: int, dtype: str, batch: int, hwm: int, sink_kw: dict, source_kw: dict) -> dict:
    addr = f"tcp://127.0.0.1:{free_port()}"
    fg = Flowgraph("bench-bridge")
    src = CountingSource(frames=-1, size=size, dtype=dtype, batch=batch, reuse=True)
    tx = ZMQSink(addr, hwm=hwm, **sink_kw)
    rx = ZMQSource(addr, hwm=hwm, **source_kw)
    fg.connect(src, tx)
    fg.connect(rx, NullSink())
    fps, frames = _measure(fg, rx, seconds)
    return {"frames_per_s": round(fps, 1), "frames": frames, "malformed": rx.stats["malformed"],
            "lost": rx.stats["lost"]}


def _raw_pyzmq(seconds: float, nbytes: int, hwm: int) -> dict:
    ctx = zmq.Context()
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.RCVHWM, hwm)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    push = ctx.socket(zmq.PUSH)
    push.setsockopt(zmq.SNDHWM, hwm)
    push.setsockopt(zmq.SNDTIMEO, 50)
    push.connect(f"tcp://127.0.0.1:{port}")
    stop = threading.Event()
    payload = np.zeros(nbytes, np.uint8)

    def sender() -> None:
        while not stop.is_set():
            try:
                push.send(payload, copy=False)
            except zmq.Again:
                pass

    th = threading.Thread(target=sender, daemon=True)
    th.start()
    pull.setsockopt(zmq.RCVTIMEO, 100)
    count = 0
    t_end = time.perf_counter() + 0.3
    while time.perf_counter() < t_end:
        try:
            pull.recv(copy=False)
        except zmq.Again:
            pass
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        try:
            pull.recv(copy=False)
            count += 1
        except zmq.Again:
            pass
    dt = time.perf_counter() - t0
    stop.set()
    th.join(1)
    push.close(0)
    pull.close(0)
    ctx.term()
    return {"frames_per_s": round(count / dt, 1), "frames": count}


def _from_gnuradio(args: argparse.Namespace) -> dict:
    from semradio.blocks.zeromq.gnuradio_peer import SCRIPT as peer
    try:
        ok = subprocess.run([args.gr_python, peer, "check"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        return {"skipped": f"{args.gr_python} cannot import gnuradio.zeromq"}
    n = int(2e6 * max(1.0, args.seconds))
    addr = f"tcp://127.0.0.1:{free_port()}"
    rx = ZMQSource(addr, "pull", "gnuradio", pass_tags=True, frame_len=args.iq_len, idle_timeout_s=1.0)
    times: list[float] = []

    class _Clock(NullSink):
        def work(self, *frames: Any) -> None:
            times.append(time.perf_counter())

    fg = Flowgraph("bench-from-gnuradio")
    fg.connect(rx, _Clock())
    fg.start()
    try:
        r = subprocess.run([args.gr_python, peer, "blast", "--address", addr, "--items", str(n), "--pass-tags"],
                           capture_output=True, text=True, timeout=300)
        fg.wait(30)
    finally:
        fg.stop()
    if r.returncode != 0 or len(times) < 2:
        return {"error": (r.stderr or "no frames")[-500:]}
    frames = len(times)
    rate = (frames - 1) * args.iq_len / (times[-1] - times[0])
    return {"msamples_per_s": round(rate / 1e6, 2), "frames": frames, "items": rx.stats["items"],
            "malformed": rx.stats["malformed"], "gr_items_lost": rx.stats["gr_items_lost"]}


def run(args: argparse.Namespace) -> dict:
    iq, lat = args.iq_len, args.latent_len
    cases = {
        "native_iq": lambda: _bridge_case(args.seconds, iq, "complex64", 1, args.hwm, {}, {}),
        "native_latents": lambda: _bridge_case(args.seconds, lat, "float32", args.batch, args.hwm, {}, {}),
        "gnuradio_iq": lambda: _bridge_case(
            args.seconds, iq, "complex64", 1, args.hwm, {"format": "gnuradio"},
            {"format": "gnuradio", "frame_len": iq}),
        "gnuradio_iq_tags": lambda: _bridge_case(
            args.seconds, iq, "complex64", 1, args.hwm, {"format": "gnuradio", "pass_tags": True},
            {"format": "gnuradio", "pass_tags": True, "packet_len_tag": "packet_len"}),
        "gnuradio_latents": lambda: _bridge_case(
            args.seconds, lat, "float32", args.batch, args.hwm,
            {"format": "gnuradio", "item_format": "float32", "vlen": lat, "pass_tags": True},
            {"format": "gnuradio", "item_format": "float32", "vlen": lat, "frame_len": 1, "batch": args.batch,
             "pass_tags": True}),
        "raw_pyzmq_iq": lambda: _raw_pyzmq(args.seconds, iq * 8, args.hwm),
    }
    wanted = list(cases) if args.cases == "all" else [c.strip() for c in args.cases.split(",")]
    out: dict[str, Any] = {"config": {"seconds": args.seconds, "iq_len": iq, "latent_len": lat, "batch": args.batch,
                                      "hwm": args.hwm, "transport": "tcp://127.0.0.1"}}
    for name in wanted:
        if name == "from_gnuradio_iq":
            continue
        r = cases[name]()
        if name.endswith("_iq") or name.endswith("_iq_tags"):
            r["msamples_per_s"] = round(r["frames_per_s"] * iq / 1e6, 2)
        else:
            r["latents_per_s"] = round(r["frames_per_s"] * args.batch, 1)
        out[name] = r
    if args.gnuradio != "off" and (args.cases == "all" or "from_gnuradio_iq" in wanted):
        out["from_gnuradio_iq"] = _from_gnuradio(args)
    base = out.get("raw_pyzmq_iq", {}).get("msamples_per_s")
    if base:
        out["ratios_to_raw_pyzmq"] = {k: round(v["msamples_per_s"] / base, 3) for k, v in out.items()
                                      if isinstance(v, dict) and "msamples_per_s" in v and k != "raw_pyzmq_iq"}
    out.update(checks(out))
    return out


def checks(out: dict[str, Any]) -> dict[str, Any]:
    """The bridges' checks: every case received frames, none malformed and none lost (seq gaps;
    GNU Radio items for the real GNU Radio sender), as ``checks`` and ``checks_failed``."""
    from .report import check, checks_summary

    detail: dict[str, dict[str, Any]] = {}
    for name, r in out.items():
        if not isinstance(r, dict) or "frames" not in r:
            continue
        detail[f"{name}_frames"] = check(f"{name} frames received", r["frames"], ">", 0)
        for key, what in (("malformed", "frames malformed"), ("lost", "frames lost"),
                          ("gr_items_lost", "GNU Radio items lost")):
            if key in r:
                detail[f"{name}_{key}"] = check(f"{name} {what}", r[key], "<=", 0)
    if isinstance(out.get("from_gnuradio_iq"), dict) and "error" in out["from_gnuradio_iq"]:
        detail["from_gnuradio_iq_ran"] = check("from_gnuradio_iq runs without error", 0, ">=", 1)
    return checks_summary(detail)


if __name__ == "__main__":
    ap = OneLineParser(description=__doc__)
    add_arguments(ap)
    import json

    print(json.dumps(run(ap.parse_args()), indent=2))
    sys.exit(0)
