#!/usr/bin/env python3
"""Bridge to a GNU Radio flowgraph: receive IQ + stream tags from it, run them through a
semradio channel, send the result back with the channel's CSI as GNU Radio tags.

    python flowgraphs/gnuradio_bridge.py --spawn-gr --json          # runs tools/gr_peer.py loop too
    python flowgraphs/gnuradio_bridge.py --from-gr tcp://127.0.0.1:5555 --to-gr tcp://127.0.0.1:5556

Flowgraph (gr-zeromq format, tags on, tagged stream)::

    GNU Radio: vector_source_c (packet_len tags) -> zeromq.push_sink(--from-gr, binds)
    semradio:  ZMQSource(pull, packet_len) -> AWGN/Rayleigh channel -> ZMQSink(push, --to-gr, binds)
    GNU Radio: zeromq.pull_source(--to-gr) -> vector_sink_c (+ tags: packet_len, seq, snr_db,
               noise_var, h as a c32vector, h:shape, channel, ...)

Each GNU Radio packet becomes one frame (``packet_len`` items); GNU Radio's own tags (here
``gr_packet``) arrive in ``gr_tags`` and are merged into the frame tags, and the semradio
tags leave as GNU Radio tags at the packet start. With ``--spawn-gr`` the GNU Radio side runs
under ``--gr-python`` (Debian's ``/usr/bin/python3``); the summary (``--json``) then includes
the SNR measured on what GNU Radio got back and the tags it saw.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

import numpy as np

from semradio.blocks import ZMQSink, ZMQSource, make_channel, pmt
from semradio.blocks.qtgui.gui_support import add_gui_arguments, close_scopes, open_scopes
from semradio.runtime import Flowgraph

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "gr_peer.py")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Command-line options (also used by tests)."""
    p.add_argument("--from-gr", default=None, help="GNU Radio push_sink endpoint (we connect)")
    p.add_argument("--to-gr", default=None, help="our push endpoint for GNU Radio's pull_source (we bind)")
    p.add_argument("--spawn-gr", action="store_true", help="run the GNU Radio side (tools/gr_peer.py loop)")
    p.add_argument("--gr-python", default="/usr/bin/python3", help="interpreter that has GNU Radio")
    p.add_argument("--packets", type=int, default=20)
    p.add_argument("--packet-len", type=int, default=256)
    p.add_argument("--channel", choices=("awgn", "rayleigh", "rician"), default="awgn")
    p.add_argument("--snr-db", type=float, default=15.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--idle-timeout", type=float, default=2.0,
                   help="end when GNU Radio sent nothing for this long (without --spawn-gr)")
    p.add_argument("--timeout", type=float, default=60.0)
    add_gui_arguments(p)  # --gui, --snapshot DIR: live scopes


def _gr_report(prefix: str, packet_len: int) -> dict[str, Any]:
    sent = np.fromfile(prefix + "_sent.c64", np.complex64)
    got = np.fromfile(prefix + ".c64", np.complex64)
    with open(prefix + ".json") as f:
        tags = json.load(f)["tags"]
    n = min(sent.size, got.size)
    err = got[:n] - sent[:n]
    snr = 10 * np.log10(np.mean(np.abs(sent[:n]) ** 2) / np.mean(np.abs(err) ** 2)) if n else None
    keys: dict[str, int] = {}
    for t in tags:
        k = pmt.decode(bytes.fromhex(t["key"]))
        keys[str(k)] = keys.get(str(k), 0) + 1
    first_snr = next((pmt.decode(bytes.fromhex(t["value"])) for t in tags
                      if pmt.decode(bytes.fromhex(t["key"])) == "snr_db"), None)
    return {"samples_sent": int(sent.size), "samples_back": int(got.size),
            "measured_snr_db": None if snr is None else round(float(snr), 3),
            "tags_back": keys, "snr_db_tag": first_snr,
            "packets_back": keys.get("packet_len", 0), "packet_len": packet_len}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the bridge; the summary dict."""
    from_gr = args.from_gr or f"tcp://127.0.0.1:{free_port()}"
    to_gr = args.to_gr or f"tcp://127.0.0.1:{free_port()}"
    fg = Flowgraph("gnuradio_bridge")
    rx = ZMQSource(from_gr, "pull", "gnuradio", pass_tags=True, packet_len_tag="packet_len",
                   max_frames=args.packets if args.spawn_gr else None, idle_timeout_s=args.idle_timeout,
                   name="from_gr")
    chan = make_channel(args.channel, name="channel", snr_db=args.snr_db, seed=args.seed)
    tx = ZMQSink(to_gr, "push", "gnuradio", pass_tags=True, srcid="semradio", name="to_gr",
                 exclude_tags=("gr_tags",))
    fg.connect(rx, chan, tx)
    gr_proc = None
    prefix = None
    scopes = open_scopes(fg, args, {"source": rx, "channel": chan})  # --gui/--snapshot: live scopes
    t0 = time.perf_counter()
    fg.start()
    try:
        if args.spawn_gr:
            import tempfile

            prefix = os.path.join(tempfile.mkdtemp(prefix="semradio-grbridge-"), "loop")
            gr_proc = subprocess.run(
                [args.gr_python, PEER, "loop", "--tx", from_gr, "--rx", to_gr, "--packets", str(args.packets),
                 "--packet-len", str(args.packet_len), "--seed", str(args.seed), "--out", prefix],
                capture_output=True, text=True, timeout=args.timeout)
            if gr_proc.returncode != 0:
                raise RuntimeError(f"GNU Radio side failed ({gr_proc.returncode}): {gr_proc.stderr[-2000:]}")
        fg.wait(args.timeout)
    finally:
        fg.stop()
        close_scopes(scopes)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {
        "flowgraph": "gnuradio_bridge",
        "config": {k: v for k, v in vars(args).items() if k != "json"},
        "endpoints": {"from_gr": from_gr, "to_gr": to_gr},
        "frames": tx.stats["frames"],
        "samples": tx.stats["items"],
        "seconds": round(seconds, 3),
        "bridges": {"from_gr": rx.stats, "to_gr": tx.stats},
    }
    if prefix is not None:
        out["gnuradio"] = _gr_report(prefix, args.packet_len)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not args.spawn_gr and not args.from_gr:
        parser.error("give --from-gr/--to-gr endpoints of a running GNU Radio flowgraph, or --spawn-gr")
    out = run(args)
    if args.json:
        print(json.dumps(out))
    else:
        print(f"gnuradio_bridge: {out['frames']} packets ({out['samples']} samples) through {args.channel} "
              f"in {out['seconds']} s")
        if "gnuradio" in out:
            g = out["gnuradio"]
            print(f"  GNU Radio got {g['samples_back']}/{g['samples_sent']} samples back, measured SNR "
                  f"{g['measured_snr_db']} dB (configured {args.snr_db}); tags {g['tags_back']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
