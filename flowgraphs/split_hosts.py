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

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from semradio.blocks import ChannelMeter, SymbolSource, ZMQSink, ZMQSource, make_channel
from semradio.blocks.zeromq.security import generate_keys
from semradio.flowgraphs.app import flowgraph_main
from semradio.runtime import Flowgraph
from semradio.runtime.arguments import frame_count, positive_float, positive_int
from semradio.runtime.net import free_port
from semradio.runtime.options import option


@dataclass
class SplitHostsConfig:
    """Settings of the split flowgraph (one field per command-line option; also used by tests)."""

    channel: str = option("rayleigh", choices=("awgn", "rayleigh", "rician"), help="channel model")
    snr_db: float = option(10.0, help="channel SNR in dB")
    equalizer: str = option("mmse", choices=("mmse", "zf"), help="the worker's equalizer")
    frames: int = option(100, type=frame_count, help="frames to send")
    batch: int = option(4, type=positive_int, help="items per frame")
    k: int = option(512, type=positive_int, help="complex symbols per item")
    seed: int = option(0, help="source seed (the channel draws with seed + 1)")
    worker: str = option("spawn", choices=("spawn", "external"),
                         help="spawn a local worker process, or use one already running (--to/--from-worker)")
    to_worker: str | None = option(None, help="worker input endpoint (default: a free loopback port)")
    from_worker: str | None = option(None, help="worker output endpoint (default: a free loopback port)")
    curve: bool = option(False, help="secure both links with CURVE keys (made in a temp dir)")
    print_spec: bool = option(False, help="print the worker spec and exit")
    timeout: float = option(120.0, type=positive_float, help="stop after this many seconds")


def worker_spec(to_worker: str, from_worker: str, equalizer: str) -> dict[str, Any]:
    """The receiver subgraph as a ``semradio worker`` spec."""
    cls = {"mmse": "MMSEEqualizer", "zf": "ZFEqualizer"}[equalizer]
    return {
        "name": "receiver",
        "blocks": {"equalizer": {"class": f"semradio.blocks.{cls}"}},
        "inputs": {"in": {"to": "equalizer.in", "endpoint": to_worker, "dtype": "complex64", "shape": [None]}},
        "outputs": {"out": {"from": "equalizer.out", "endpoint": from_worker}},
    }


def _spawn(spec: dict[str, Any], workdir: str, curve: dict[str, str] | None) -> tuple[subprocess.Popen, dict]:
    path = os.path.join(workdir, "receiver.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    cmd = [sys.executable, "-m", "semradio.cli", "worker", path, "--exit-with-parent"]
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


def run(config: SplitHostsConfig, scopes: Any = None) -> dict[str, Any]:
    """Run the split flowgraph (with live scopes or snapshots when ``scopes``, a
    :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions`, asks); the summary dict. With
    ``print_spec``: the worker spec instead (nothing runs)."""
    from semradio.blocks.qtgui.gui_support import run_flowgraph

    if config.print_spec:
        return worker_spec(config.to_worker or "tcp://127.0.0.1:6000", config.from_worker or "tcp://127.0.0.1:6001",
                           config.equalizer)
    to_w = config.to_worker or f"tcp://127.0.0.1:{free_port()}"
    from_w = config.from_worker or f"tcp://127.0.0.1:{free_port()}"
    spec = worker_spec(to_w, from_w, config.equalizer)
    workdir = tempfile.mkdtemp(prefix="semradio-split-")
    curve = None
    client: dict[str, str] = {}
    if config.curve:
        _, server_secret = generate_keys(os.path.join(workdir, "server"), "server")
        _, client_secret = generate_keys(os.path.join(workdir, "clients"), "client")
        curve = {"server_secret": server_secret, "authorized": os.path.join(workdir, "clients")}
        client = {"curve_server_public": os.path.join(workdir, "server", "server.key"),
                  "curve_client_secret": client_secret}
    proc = None
    if config.worker == "spawn":
        proc, _ = _spawn(spec, workdir, curve)
    try:
        fg = Flowgraph("split_hosts")
        source = SymbolSource(kind="qpsk", batch=config.batch, k=config.k, frames=config.frames, seed=config.seed,
                              name="source")
        channel = make_channel(config.channel, name="channel", snr_db=config.snr_db, seed=config.seed + 1)
        tx = ZMQSink(to_w, bind=False, name="to_worker", **client)
        rx = ZMQSource(from_w, dtype="float32", shape=(None,), name="from_worker", **client)
        meter = ChannelMeter(name="meter")
        fg.connect(source, channel, tx)
        fg.connect(rx, (meter, "rx"))
        fg.connect(source, (meter, "ref"))
        t0 = time.perf_counter()
        run_flowgraph(fg, scopes, {"source": source, "channel": channel, "equalizer": rx},  # --gui/--snapshot
                      timeout=config.timeout)
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
        "config": dataclasses.asdict(config),
        "endpoints": {"to_worker": to_w, "from_worker": from_w, "curve": bool(config.curve)},
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


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run`'s summary (a worker spec: as indented JSON)."""
    if out.get("flowgraph") != "split_hosts":
        return json.dumps(out, indent=2)
    m = out["measured"]
    return (f"split_hosts: {out['frames_received']}/{out['frames_sent']} frames back from the worker "
            f"({out['lost']} lost) in {out['seconds']} s, {out['frames_per_s']} frames/s\n"
            f"  measured SNR {m['snr_db']:.2f} dB (configured {out['config']['snr_db']}), "
            f"EVM {m['evm_percent']:.2f} %")


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(SplitHostsConfig, run, argv, doc=__doc__, summary=format_summary)


if __name__ == "__main__":
    raise SystemExit(main())
