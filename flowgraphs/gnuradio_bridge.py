#!/usr/bin/env python3
"""Bridge to a GNU Radio flowgraph: receive IQ + stream tags from it, run them through a
semradio channel, send the result back with the channel's CSI as GNU Radio tags.

    python flowgraphs/gnuradio_bridge.py --spawn-gr --json          # runs the GNU Radio side too
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

import dataclasses
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from semradio.blocks import ZMQSink, ZMQSource, make_channel, pmt
from semradio.blocks.zeromq import gnuradio_peer
from semradio.flowgraphs.app import flowgraph_main
from semradio.runtime import Flowgraph
from semradio.runtime.arguments import positive_float, positive_int
from semradio.runtime.net import free_port
from semradio.runtime.options import option

#: The GNU Radio side, run by ``--gr-python`` (:mod:`semradio.blocks.zeromq.gnuradio_peer`).
PEER = gnuradio_peer.SCRIPT


@dataclass
class GnuRadioBridgeConfig:
    """Settings of the bridge (one field per command-line option; also used by tests). Either
    ``spawn_gr`` or the ``from_gr`` endpoint of a running GNU Radio flowgraph is required."""

    from_gr: str | None = option(None, help="GNU Radio push_sink endpoint (we connect)")
    to_gr: str | None = option(None, help="our push endpoint for GNU Radio's pull_source (we bind)")
    spawn_gr: bool = option(False, help="run the GNU Radio side (semradio.blocks.zeromq.gnuradio_peer loop)")
    gr_python: str = option("/usr/bin/python3", help="interpreter that has GNU Radio")
    packets: int = option(20, type=positive_int, help="--spawn-gr: packets GNU Radio sends")
    packet_len: int = option(256, type=positive_int, help="--spawn-gr: samples per packet")
    channel: str = option("awgn", choices=("awgn", "rayleigh", "rician"), help="channel model")
    snr_db: float = option(15.0, help="channel SNR in dB")
    seed: int = option(0, help="channel seed (and the GNU Radio side's)")
    idle_timeout: float = option(2.0, help="end when GNU Radio sent nothing for this long (without --spawn-gr)")
    timeout: float = option(60.0, type=positive_float, help="stop after this many seconds")


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


def run(config: GnuRadioBridgeConfig, scopes: Any = None) -> dict[str, Any]:
    """Run the bridge (with live scopes or snapshots when ``scopes``, a
    :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions`, asks); the summary dict.

    Raises:
        ValueError: neither ``spawn_gr`` nor ``from_gr``.
        RuntimeError: the spawned GNU Radio side failed.
    """
    from semradio.blocks.qtgui.gui_support import close_scopes, open_scopes

    _check(config)
    from_gr = config.from_gr or f"tcp://127.0.0.1:{free_port()}"
    to_gr = config.to_gr or f"tcp://127.0.0.1:{free_port()}"
    fg = Flowgraph("gnuradio_bridge")
    rx = ZMQSource(from_gr, "pull", "gnuradio", pass_tags=True, packet_len_tag="packet_len",
                   max_frames=config.packets if config.spawn_gr else None, idle_timeout_s=config.idle_timeout,
                   name="from_gr")
    chan = make_channel(config.channel, name="channel", snr_db=config.snr_db, seed=config.seed)
    tx = ZMQSink(to_gr, "push", "gnuradio", pass_tags=True, srcid="semradio", name="to_gr",
                 exclude_tags=("gr_tags",))
    fg.connect(rx, chan, tx)
    gr_proc = None
    prefix = None
    session = open_scopes(fg, scopes, {"source": rx, "channel": chan})  # --gui/--snapshot: live scopes
    t0 = time.perf_counter()
    fg.start()
    try:
        if config.spawn_gr:
            import tempfile

            prefix = os.path.join(tempfile.mkdtemp(prefix="semradio-grbridge-"), "loop")
            gr_proc = subprocess.run(
                [config.gr_python, PEER, "loop", "--tx", from_gr, "--rx", to_gr, "--packets", str(config.packets),
                 "--packet-len", str(config.packet_len), "--seed", str(config.seed), "--out", prefix],
                capture_output=True, text=True, timeout=config.timeout)
            if gr_proc.returncode != 0:
                raise RuntimeError(f"GNU Radio side failed ({gr_proc.returncode}): {gr_proc.stderr[-2000:]}")
        fg.wait(config.timeout)
    finally:
        fg.stop()
        close_scopes(session)
    seconds = time.perf_counter() - t0
    out: dict[str, Any] = {
        "flowgraph": "gnuradio_bridge",
        "config": dataclasses.asdict(config),
        "endpoints": {"from_gr": from_gr, "to_gr": to_gr},
        "frames": tx.stats["frames"],
        "samples": tx.stats["items"],
        "seconds": round(seconds, 3),
        "bridges": {"from_gr": rx.stats, "to_gr": tx.stats},
    }
    if prefix is not None:
        out["gnuradio"] = _gr_report(prefix, config.packet_len)
    return out


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run`'s summary."""
    cfg = out["config"]
    lines = [f"gnuradio_bridge: {out['frames']} packets ({out['samples']} samples) through {cfg['channel']} "
             f"in {out['seconds']} s"]
    if "gnuradio" in out:
        g = out["gnuradio"]
        lines.append(f"  GNU Radio got {g['samples_back']}/{g['samples_sent']} samples back, measured SNR "
                     f"{g['measured_snr_db']} dB (configured {cfg['snr_db']}); tags {g['tags_back']}")
    return "\n".join(lines)


def _check(config: GnuRadioBridgeConfig) -> None:
    if not config.spawn_gr and not config.from_gr:
        raise ValueError("give --from-gr/--to-gr endpoints of a running GNU Radio flowgraph, or --spawn-gr")


def _run_cli(config: GnuRadioBridgeConfig, scopes: Any) -> dict[str, Any]:
    """:func:`run` for the command line: no GNU Radio side to talk to is a usage error (exit
    status 2)."""
    try:
        _check(config)
    except ValueError as exc:
        print(f"{os.path.basename(sys.argv[0])}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    return run(config, scopes)


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(GnuRadioBridgeConfig, _run_cli, argv, doc=__doc__, summary=format_summary)


if __name__ == "__main__":
    raise SystemExit(main())
