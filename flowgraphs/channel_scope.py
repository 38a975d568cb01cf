#!/usr/bin/env python3
"""Channel scope: random symbols -> channel -> equalizer -> SNR/SINR/EVM meter (headless).

    python flowgraphs/channel_scope.py --channel rayleigh --snr-db 10 --frames 50 --json
    python flowgraphs/channel_scope.py --channel interference --snr-db 15 --sinr-db 5 --equalizer zf
    python flowgraphs/channel_scope.py --channel rician --k-factor 4 --fading block --coherence 64
    python flowgraphs/channel_scope.py --channel interference --frames 100000 --gui   # live scopes

Flowgraph::

    SymbolSource --> channel --> MMSE/ZF equalizer --> ChannelMeter.rx
         |                                                  ^
         +--------------------------------------------------+ ChannelMeter.ref
    [SymbolSource (interferer) --> channel.z]   with --interferer port

The channel keeps its noise draw (``keep_noise``) so the meter measures SNR and SINR from the
actual draws; EVM is measured on the equalized symbols against the transmitted ones. Prints a
summary (``--json``: one JSON object) with the measured SNR/SINR, EVM in % and dB, and frames.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from semradio.blocks import ChannelMeter, SymbolSource, make_channel
from semradio.blocks.digital.equalizer import equalizer_for
from semradio.blocks.qtgui.gui_support import add_gui_arguments, run_flowgraph
from semradio.runtime import Flowgraph


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The scope's command-line options (also used by sweeps and tests)."""
    p.add_argument("--channel", choices=("awgn", "rayleigh", "rician", "interference"), default="rayleigh")
    p.add_argument("--snr-db", type=float, default=10.0, help="SNR Px/s2 in dB")
    p.add_argument("--sinr-db", type=float, default=None,
                   help="interference: SINR Px/(Pz+s2) in dB (default: SNR - 6 dB)")
    p.add_argument("--k-factor", type=float, default=4.0, help="Rician K-factor (linear)")
    p.add_argument("--los-phase", type=float, default=0.0, help="Rician line-of-sight phase (rad)")
    p.add_argument("--fading", choices=("fast", "block"), default="fast")
    p.add_argument("--coherence", type=int, default=None, help="block fading: symbols per block (default: item)")
    p.add_argument("--csi-error-var", type=float, default=0.0, help="imperfect CSI: variance of h_est - h")
    p.add_argument("--model", choices=("awgn", "rayleigh", "rician"), default="rayleigh",
                   help="interference: fading model of h_x")
    p.add_argument("--interferer-model", choices=("awgn", "rayleigh", "rician"), default=None,
                   help="interference: fading model of h_z (default: as --model)")
    p.add_argument("--interferer", choices=("gaussian", "port"), default="gaussian",
                   help="interference: built-in Gaussian generator or a second SymbolSource on port z")
    p.add_argument("--equalizer", choices=("mmse", "zf"), default="mmse")
    p.add_argument("--symbols", choices=("qpsk", "gaussian"), default="qpsk",
                   help="QPSK or Gaussian latent symbols")
    p.add_argument("--batch", type=int, default=4, help="items per frame")
    p.add_argument("--k", type=int, default=1024, help="complex symbols per item")
    p.add_argument("--frames", type=int, default=100, help="frames to send")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=120.0, help="stop after this many seconds")
    add_gui_arguments(p)  # --gui, --snapshot DIR (live scopes)


def build(args: argparse.Namespace) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks (``source``, ``channel``, ``equalizer``, ``meter``)."""
    fg = Flowgraph("channel_scope")
    source = SymbolSource(kind=args.symbols, batch=args.batch, k=args.k, frames=args.frames, seed=args.seed,
                          name="source")
    sinr_db = args.sinr_db if args.sinr_db is not None else args.snr_db - 6.0
    channel = make_channel(args.channel, name="channel", snr_db=args.snr_db, sinr_db=sinr_db,
                           k_factor=args.k_factor, los_phase=args.los_phase, fading=args.fading,
                           coherence=args.coherence, csi_error_var=args.csi_error_var, model=args.model,
                           interferer_model=args.interferer_model, seed=args.seed + 1, keep_noise=True)
    equalizer = equalizer_for(args.equalizer, name="equalizer")
    meter = ChannelMeter(name="meter")
    fg.connect(source, channel, equalizer, (meter, "rx"))
    fg.connect(source, (meter, "ref"))
    blocks: dict[str, Any] = {"source": source, "channel": channel, "equalizer": equalizer, "meter": meter}
    if args.channel == "interference" and args.interferer == "port":
        interferer = SymbolSource(kind="gaussian", batch=args.batch, k=args.k, frames=args.frames,
                                  seed=args.seed + 2, name="interferer")
        fg.connect(interferer, (channel, "z"))
        blocks["interferer"] = interferer
    return fg, blocks


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the scope to the end of its frames; the summary dict."""
    fg, blocks = build(args)
    t0 = time.perf_counter()
    run_flowgraph(fg, args, blocks, timeout=args.timeout)  # fg.run() unless --gui/--snapshot
    seconds = time.perf_counter() - t0
    m = blocks["meter"].summary()
    config = {k: v for k, v in vars(args).items() if k not in ("json",)}
    return {
        "flowgraph": "channel_scope",
        "config": config,
        "frames": m["frames"],
        "symbols": m["symbols"],
        "configured": {"snr_db": args.snr_db,
                       "sinr_db": m["configured"].get("sinr_db", args.snr_db)},
        "measured": {"snr_db": m["snr_db"], "sinr_db": m["sinr_db"], "evm_percent": m["evm_percent"],
                     "evm_db": m["evm_db"], "post_eq_sinr_db": m["post_eq_sinr_db"]},
        "seconds": round(seconds, 3),
        "blocks": {name: {k: c.get(k) for k in ("state", "frames_in", "frames_out", "work_ms") if k in c}
                   for name, c in fg.stats().items()},
    }


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out))
    else:
        m, c = out["measured"], out["configured"]
        print(f"channel_scope: {args.channel} / {args.equalizer}, {out['frames']} frames "
              f"({out['symbols']} symbols) in {out['seconds']} s")
        print(f"  SNR   configured {_fmt(c['snr_db'])} dB, measured {_fmt(m['snr_db'])} dB")
        print(f"  SINR  configured {_fmt(c['sinr_db'])} dB, measured {_fmt(m['sinr_db'])} dB")
        print(f"  EVM   {_fmt(m['evm_percent'])} % ({_fmt(m['evm_db'])} dB); "
              f"post-equalization SINR {_fmt(m['post_eq_sinr_db'])} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
