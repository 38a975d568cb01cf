#!/usr/bin/env python3
"""Split a flowgraph over two processes (or hosts): transmitter + channel here, receiver in a
``semradio worker``, connected over TCP in the native wire format.

    python flowgraphs/split_hosts.py --frames 200 --snr-db 10 --json     # spawns a local worker
    python flowgraphs/split_hosts.py --worker external \\
        --to-worker tcp://rxhost:6000 --from-worker tcp://rxhost:6001     # worker already running
    python flowgraphs/split_hosts.py --curve --json                        # CURVE keys, made on the fly

Flowgraph::

    this process                                       worker process (semradio worker SPEC)
    SymbolSource -> channel -> ZMQSink ==tcp==> [in] ZMQSource -> MMSE/ZF equalizer -> ZMQSink [out]
         |                                                                             ||
         +------------------------> ChannelMeter.ref    ChannelMeter.rx <- ZMQSource <=tcp=+

(until the JSCC encoder exists, the "encoder" is the symbol source.) The spec this script
writes for a spawned worker (``--print-spec`` shows it) is also what to run by hand on
another host: ``semradio worker spec.json --allow-remote`` with ``0.0.0.0`` endpoints.
Frames lost on the way (e.g. a worker restart) appear as ``lost`` (gaps in ``seq``) in the
summary; the meter drops the unmatched references after its alignment timeout.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from typing import Any

from semradio.blocks import ChannelMeter, SymbolSource, ZMQSink, ZMQSource, make_channel
from semradio.blocks.zeromq.security import generate_keys
from semradio.blocks.qtgui.gui_support import add_gui_arguments, run_flowgraph
from semradio.runtime import Flowgraph


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_spec(to_worker: str, from_worker: str, equalizer: str) -> dict[str, Any]:
    """The receiver subgraph as a ``semradio worker`` spec."""
    cls = {"mmse": "MMSEEqualizer", "zf": "ZFEqualizer"}[equalizer]
    return {
        "name": "receiver",
        "blocks": {"equalizer": {"class": f"semradio.blocks.{cls}"}},
        "inputs": {"in": {"to": "equalizer.in", "endpoint": to_worker, "dtype": "complex64", "shape": [None]}},
        "outputs": {"out": {"from": "equalizer.out", "endpoint": from_worker}},
    }


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Command-line options (also used by tests)."""
    p.add_argument("--channel", choices=("awgn", "rayleigh", "rician"), default="rayleigh")
    p.add_argument("--snr-db", type=float, default=10.0)
    p.add_argument("--equalizer", choices=("mmse", "zf"), default="mmse")
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--k", type=int, default=512, help="complex symbols per item")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worker", choices=("spawn", "external"), default="spawn",
                   help="spawn a local worker process, or use one already running (--to/--from-worker)")
    p.add_argument("--to-worker", default=None, help="worker input endpoint (default: a free loopback port)")
    p.add_argument("--from-worker", default=None, help="worker output endpoint (default: a free loopback port)")
    p.add_argument("--curve", action="store_true", help="secure both links with CURVE keys (made in a temp dir)")
    p.add_argument("--print-spec", action="store_true", help="print the worker spec and exit")
    p.add_argument("--timeout", type=float, default=120.0)
    add_gui_arguments(p)  # --gui, --snapshot DIR: live scopes


def _spawn(spec: dict[str, Any], workdir: str, curve: dict[str, str] | None) -> tuple[subprocess.Popen, dict]:
    path = os.path.join(workdir, "receiver.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    cmd = [sys.executable, "-m", "semradio.cli", "worker", path]
    if curve:
        cmd += ["--curve-secret", curve["server_secret"], "--curve-authorized", curve["authorized"]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # type: ignore[union-attr]
    if not line:
        raise RuntimeError(f"worker exited with status {proc.wait()} before it was ready")
    event = json.loads(line)
    if event.get("event") != "ready":
        raise RuntimeError(f"worker failed: {event}")
    return proc, event


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the split flowgraph; the summary dict."""
    to_w = args.to_worker or f"tcp://127.0.0.1:{free_port()}"
    from_w = args.from_worker or f"tcp://127.0.0.1:{free_port()}"
    spec = worker_spec(to_w, from_w, args.equalizer)
    workdir = tempfile.mkdtemp(prefix="semradio-split-")
    curve = None
    client: dict[str, str] = {}
    if args.curve:
        _, server_secret = generate_keys(os.path.join(workdir, "server"), "server")
        _, client_secret = generate_keys(os.path.join(workdir, "clients"), "client")
        curve = {"server_secret": server_secret, "authorized": os.path.join(workdir, "clients")}
        client = {"curve_server_public": os.path.join(workdir, "server", "server.key"),
                  "curve_client_secret": client_secret}
    proc = None
    if args.worker == "spawn":
        proc, _ = _spawn(spec, workdir, curve)
    try:
        fg = Flowgraph("split_hosts")
        source = SymbolSource(kind="qpsk", batch=args.batch, k=args.k, frames=args.frames, seed=args.seed,
                              name="source")
        channel = make_channel(args.channel, name="channel", snr_db=args.snr_db, seed=args.seed + 1)
        tx = ZMQSink(to_w, bind=False, name="to_worker", **client)
        rx = ZMQSource(from_w, dtype="float32", shape=(None,), name="from_worker", **client)
        meter = ChannelMeter(name="meter")
        fg.connect(source, channel, tx)
        fg.connect(rx, (meter, "rx"))
        fg.connect(source, (meter, "ref"))
        t0 = time.perf_counter()
        run_flowgraph(fg, args, {"source": source, "channel": channel, "equalizer": rx},  # --gui/--snapshot
                      timeout=args.timeout)
        seconds = time.perf_counter() - t0
        worker_done: dict[str, Any] = {}
        if proc is not None:
            line = proc.stdout.readline()  # type: ignore[union-attr]
            worker_done = json.loads(line) if line else {}
            proc.wait(10)
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(10)
    m = meter.summary()
    return {
        "flowgraph": "split_hosts",
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "endpoints": {"to_worker": to_w, "from_worker": from_w, "curve": bool(args.curve)},
        "frames_sent": tx.stats["frames"],
        "frames_received": rx.stats["frames"],
        "lost": rx.stats["lost"],
        "measured": {"snr_db": m["sinr_db"], "evm_percent": m["evm_percent"],
                     "post_eq_sinr_db": m["post_eq_sinr_db"], "frames": m["frames"]},
        "seconds": round(seconds, 3),
        "frames_per_s": round(rx.stats["frames"] / seconds, 1) if seconds > 0 else None,
        "bridges": {"to_worker": tx.stats, "from_worker": rx.stats},
        "worker": worker_done.get("bridges", {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.print_spec:
        print(json.dumps(worker_spec(args.to_worker or "tcp://127.0.0.1:6000",
                                     args.from_worker or "tcp://127.0.0.1:6001", args.equalizer), indent=2))
        return 0
    out = run(args)
    if args.json:
        print(json.dumps(out))
    else:
        m = out["measured"]
        print(f"split_hosts: {out['frames_received']}/{out['frames_sent']} frames back from the worker "
              f"({out['lost']} lost) in {out['seconds']} s, {out['frames_per_s']} frames/s")
        print(f"  measured SNR {m['snr_db']:.2f} dB (configured {args.snr_db}), EVM {m['evm_percent']:.2f} %")
    return 0


if __name__ == "__main__":
    sys.exit(main())
