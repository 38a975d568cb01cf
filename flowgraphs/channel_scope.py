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

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from semradio.blocks import ChannelMeter, SymbolSource, make_channel
from semradio.blocks.digital.equalizer import equalizer_for
from semradio.flowgraphs.app import flowgraph_main
from semradio.runtime import Flowgraph
from semradio.runtime.arguments import frame_count, positive_float, positive_int
from semradio.runtime.options import option

MODELS = ("awgn", "rayleigh", "rician")


@dataclass
class ChannelScopeConfig:
    """Settings of the channel scope (one field per command-line option; also used by sweeps
    and tests). ``sinr_db`` None: SNR - 6 dB."""

    channel: str = option("rayleigh", choices=("awgn", "rayleigh", "rician", "interference"),
                          help="channel model")
    snr_db: float = option(10.0, help="SNR Px/s2 in dB")
    sinr_db: float | None = option(None, help="interference: SINR Px/(Pz+s2) in dB (default: SNR - 6 dB)")
    k_factor: float = option(4.0, help="Rician K-factor (linear)")
    los_phase: float = option(0.0, help="Rician line-of-sight phase (rad)")
    fading: str = option("fast", choices=("fast", "block"), help="fading channels: fast or block")
    coherence: int | None = option(None, help="block fading: symbols per block (default: item)")
    csi_error_var: float = option(0.0, help="imperfect CSI: variance of h_est - h")
    model: str = option("rayleigh", choices=MODELS, help="interference: fading model of h_x")
    interferer_model: str | None = option(None, choices=MODELS,
                                          help="interference: fading model of h_z (default: as --model)")
    interferer: str = option("gaussian", choices=("gaussian", "port"),
                             help="interference: built-in Gaussian generator or a second SymbolSource on port z")
    equalizer: str = option("mmse", choices=("mmse", "zf"), help="equalizer")
    symbols: str = option("qpsk", choices=("qpsk", "gaussian"), help="QPSK or Gaussian latent symbols")
    batch: int = option(4, type=positive_int, help="items per frame")
    k: int = option(1024, type=positive_int, help="complex symbols per item")
    frames: int = option(100, type=frame_count, help="frames to send")
    seed: int = option(0, help="source seed (the channel draws with seed + 1, the interferer with seed + 2)")
    timeout: float = option(120.0, type=positive_float, help="stop after this many seconds")


def build(config: ChannelScopeConfig) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks (``source``, ``channel``, ``equalizer``, ``meter``,
    [``interferer``])."""
    fg = Flowgraph("channel_scope")
    source = SymbolSource(kind=config.symbols, batch=config.batch, k=config.k, frames=config.frames,
                          seed=config.seed, name="source")
    sinr_db = config.sinr_db if config.sinr_db is not None else config.snr_db - 6.0
    channel = make_channel(config.channel, name="channel", snr_db=config.snr_db, sinr_db=sinr_db,
                           k_factor=config.k_factor, los_phase=config.los_phase, fading=config.fading,
                           coherence=config.coherence, csi_error_var=config.csi_error_var, model=config.model,
                           interferer_model=config.interferer_model, seed=config.seed + 1, keep_noise=True)
    equalizer = equalizer_for(config.equalizer, name="equalizer")
    meter = ChannelMeter(name="meter")
    fg.connect(source, channel, equalizer, (meter, "rx"))
    fg.connect(source, (meter, "ref"))
    blocks: dict[str, Any] = {"source": source, "channel": channel, "equalizer": equalizer, "meter": meter}
    if config.channel == "interference" and config.interferer == "port":
        interferer = SymbolSource(kind="gaussian", batch=config.batch, k=config.k, frames=config.frames,
                                  seed=config.seed + 2, name="interferer")
        fg.connect(interferer, (channel, "z"))
        blocks["interferer"] = interferer
    return fg, blocks


def run(config: ChannelScopeConfig, scopes: Any = None) -> dict[str, Any]:
    """Run the scope to the end of its frames (with live scopes or snapshots when ``scopes``, a
    :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions`, asks); the summary dict."""
    from semradio.blocks.qtgui.gui_support import run_flowgraph

    fg, blocks = build(config)
    t0 = time.perf_counter()
    run_flowgraph(fg, scopes, blocks, timeout=config.timeout)  # fg.run() unless --gui/--snapshot
    seconds = time.perf_counter() - t0
    m = blocks["meter"].summary()
    return {
        "flowgraph": "channel_scope",
        "config": dataclasses.asdict(config),
        "frames": m["frames"],
        "symbols": m["symbols"],
        "configured": {"snr_db": config.snr_db,
                       "sinr_db": m["configured"].get("sinr_db", config.snr_db)},
        "measured": {"snr_db": m["snr_db"], "sinr_db": m["sinr_db"], "evm_percent": m["evm_percent"],
                     "evm_db": m["evm_db"], "post_eq_sinr_db": m["post_eq_sinr_db"]},
        "seconds": round(seconds, 3),
        "blocks": {name: {k: c.get(k) for k in ("state", "frames_in", "frames_out", "work_ms") if k in c}
                   for name, c in fg.stats().items()},
    }


def _fmt(v: Any) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run`'s summary."""
    m, c, cfg = out["measured"], out["configured"], out["config"]
    return "\n".join([
        f"channel_scope: {cfg['channel']} / {cfg['equalizer']}, {out['frames']} frames "
        f"({out['symbols']} symbols) in {out['seconds']} s",
        f"  SNR   configured {_fmt(c['snr_db'])} dB, measured {_fmt(m['snr_db'])} dB",
        f"  SINR  configured {_fmt(c['sinr_db'])} dB, measured {_fmt(m['sinr_db'])} dB",
        f"  EVM   {_fmt(m['evm_percent'])} % ({_fmt(m['evm_db'])} dB); "
        f"post-equalization SINR {_fmt(m['post_eq_sinr_db'])} dB"])


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(ChannelScopeConfig, run, argv, doc=__doc__, summary=format_summary)


if __name__ == "__main__":
    raise SystemExit(main())
