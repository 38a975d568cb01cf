#!/usr/bin/env python3
"""Demo: the full semantic-communication chain with every live scope and the control panel.

    python flowgraphs/demo_gui.py --gui                                  # until the window closes
    python flowgraphs/demo_gui.py --snapshot docs/img --snapshot-after 60  # headless PNGs
    python flowgraphs/demo_gui.py --chain channel --gui                  # symbols only, no codec
    python flowgraphs/demo_gui.py --frames 100 --json                    # no GUI: a summary
    python flowgraphs/demo_gui.py --gui --sweep-snr 0:20:5               # PSNR-vs-SNR curve builds up

Image chain (``--chain image``; ``auto`` picks it when the shipped JSCC codec loads)::

    ImageSource -> [Throttle] -> JSCCEncoder -> PowerNormalizer -> InterferenceChannel
        -> MMSEEqualizer -> [denoiser] -> JSCCDecoder -> MetricSink.rec
    ImageSource ------------------------------------------------> MetricSink.ref
    [MMSEEqualizer -> JSCCDecoder (no denoiser), real-time edge, for the image scope]

Channel chain (``--chain channel``, or ``auto`` without a codec)::

    SymbolSource -> [Throttle] -> InterferenceChannel -> MMSEEqualizer -> ChannelMeter.rx
    SymbolSource ------------------------------------------------------> ChannelMeter.ref

The channel is an :class:`InterferenceChannel` with no interference by default (``pz = 0``:
SINR = SNR) so the control panel offers SNR, SINR and the channel type (AWGN / Rayleigh /
Rician) of a running graph. ``--denoiser`` (image chain; default ``auto``: the CDDM denoiser
when its shipped checkpoint loads) inserts a denoiser between equalizer and decoder; its
on/off, rule and step controls then appear in the panel, and the image scope shows the
images decoded without it (a second decoder on a paced real-time tap) next to those with it.
With ``--gui`` the source runs forever (``--frames`` unset) and is paced at ``--realtime``
frames/s (default 10 images frames of 16, 4 with a denoiser, 25 symbol frames); headless
runs are unpaced unless ``--realtime`` is given. Scopes are
attached through real-time edges by :mod:`semradio.blocks.qtgui.gui_support` (``--gui``,
``--snapshot DIR``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from typing import Any

import semradio.blocks as B
from semradio.blocks.qtgui.gui_support import add_gui_arguments, run_flowgraph
from semradio.runtime import Block, Flowgraph

log = logging.getLogger("semradio")
CHAINS = ("auto", "image", "channel")


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The demo's command-line options (also used by tools/bench_scopes.py)."""
    p.add_argument("--chain", choices=CHAINS, default="auto",
                   help="image (JSCC) or channel (symbols) chain; auto: image when the codec loads")
    p.add_argument("--snr-db", type=float, default=10.0, help="initial SNR in dB")
    p.add_argument("--sinr-db", type=float, default=None, help="initial SINR in dB (default: no interference)")
    p.add_argument("--model", choices=("awgn", "rayleigh", "rician"), default="rayleigh",
                   help="initial channel type (fading model of h_x)")
    p.add_argument("--frames", type=int, default=None,
                   help="frames to send (default: forever with --gui, else 200)")
    p.add_argument("--realtime", type=float, default=None, metavar="FPS",
                   help="pace the source at FPS frames/s (default with --gui: image chain 10, 4 with a "
                        "denoiser; channel chain 25; else unpaced)")
    p.add_argument("--batch", type=int, default=None, help="items per frame (default: 16 images / 4 symbol rows)")
    p.add_argument("--k", type=int, default=1024, help="channel chain: complex symbols per item")
    p.add_argument("--data", default="natural32", help="image chain: dataset spec (see ImageSource)")
    p.add_argument("--cbr", default="1/6", help="image chain: channel bandwidth ratio of the shipped codec")
    p.add_argument("--codec", default=None, help="image chain: codec name or checkpoint (default: shipped one)")
    p.add_argument("--device", default="auto", help="image chain: codec device (auto, cpu, cuda)")
    p.add_argument("--denoiser", default="auto", metavar="NAME",
                   help="denoiser after the equalizer: auto (CDDM when its checkpoint loads), none, cddm, "
                        "or a block class of semradio.blocks (image chain; channel chain: none unless named)")
    p.add_argument("--denoiser-steps", default="4", metavar="N|auto",
                   help="CDDM: cap on the reverse steps (default 4, fast enough to watch live on a CPU; "
                        "auto: the KL-matched start step, tens of steps at low SNR)")
    p.add_argument("--sweep-snr", default=None, metavar="START:STOP:STEP",
                   help="step the SNR through these values (dB) while running, e.g. 0:20:5 (the metric "
                        "scope's PSNR-vs-SNR curve builds up)")
    p.add_argument("--sweep-period", type=float, default=2.0, help="seconds per SNR step of --sweep-snr")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    add_gui_arguments(p)


def _frames(args: argparse.Namespace) -> int | None:
    if args.frames is not None:
        return None if args.frames < 0 else args.frames
    return None if args.gui else 200


def _rate(args: argparse.Namespace, gui_default: float) -> float | None:
    if args.realtime is not None:
        return args.realtime if args.realtime > 0 else None
    return gui_default if args.gui else None


def _channel(args: argparse.Namespace) -> Block:
    kw: dict[str, Any] = {"sinr_db": args.sinr_db} if args.sinr_db is not None else {"pz": 0.0}
    return B.InterferenceChannel(snr_db=args.snr_db, model=args.model, seed=args.seed + 1, keep_noise=True,
                                 name="channel", **kw)


def _denoiser(args: argparse.Namespace, strict: bool = False) -> Block | None:
    """The denoiser block for ``--denoiser`` (None for "none", or for "auto" when none loads)."""
    choice = args.denoiser
    if choice == "none":
        return None
    if choice in ("auto", "cddm"):
        try:
            from semradio.blocks.denoisers.cddm import DEFAULT_CDDM, CDDMDenoiser

            family = "awgn" if args.model == "awgn" else "rayleigh"
            steps = None if args.denoiser_steps in ("auto", "none") else int(args.denoiser_steps)
            return CDDMDenoiser(DEFAULT_CDDM[family], device=args.device, max_steps=steps, name="denoiser")
        except Exception as exc:  # noqa: BLE001 - auto: run without a denoiser
            if choice == "cddm" or strict:
                raise SystemExit(f"demo_gui: the CDDM denoiser cannot be loaded: {type(exc).__name__}: {exc}") from exc
            log.warning("demo_gui: no denoiser (%s: %s)", type(exc).__name__, exc)
            return None
    cls = getattr(B, choice, None)
    if not (isinstance(cls, type) and issubclass(cls, Block)):
        found = sorted(n for n in getattr(B, "__all__", []) if "denois" in n.lower())
        raise SystemExit(f"demo_gui: no denoiser {choice!r}: use none, auto, cddm or a block class of "
                         f"semradio.blocks (found: {found or 'none'})")
    blk = cls.example()
    blk.name = "denoiser"
    return blk


def build_channel_chain(args: argparse.Namespace) -> tuple[Flowgraph, dict[str, Any]]:
    """SymbolSource -> [Throttle] -> InterferenceChannel -> MMSE -> [denoiser] -> ChannelMeter."""
    fg = Flowgraph("demo_channel")
    batch = args.batch or 4
    source = B.SymbolSource(batch=batch, k=args.k, frames=_frames(args), seed=args.seed, name="source")
    blocks: dict[str, Any] = {"source": source}
    head: Any = source
    if _rate(args, 25.0):
        head = blocks["throttle"] = B.Throttle(_rate(args, 25.0), restamp=True, name="throttle")
        fg.connect(source, head)
    channel, equalizer = _channel(args), B.MMSEEqualizer(name="equalizer")
    meter = B.ChannelMeter(name="meter")
    tail: Any = equalizer
    fg.connect(head, channel, equalizer)
    dn = _denoiser(args) if args.denoiser not in ("auto", "cddm") else None  # CDDM works on JSCC latents
    if dn is not None:
        fg.connect(equalizer, dn)
        tail = blocks["denoiser"] = dn
    fg.connect(tail, (meter, "rx"))
    fg.connect(head, (meter, "ref"))
    blocks.update(channel=channel, equalizer=equalizer, meter=meter, sink=meter, batch=batch)
    return fg, blocks


def build_image_chain(args: argparse.Namespace) -> tuple[Flowgraph, dict[str, Any]]:
    """ImageSource -> [Throttle] -> JSCC encoder -> power normalizer -> channel -> MMSE ->
    [denoiser] -> JSCC decoder -> MetricSink (raises when the codec cannot be loaded)."""
    from semradio.blocks.hier.jscc_chain import default_codec
    from semradio.models.checkpoint import resolve_device

    codec = args.codec or default_codec(args.data, args.model if args.model != "rician" else "rayleigh", args.cbr)
    device = resolve_device(args.device)
    batch = args.batch or 16
    encoder = B.JSCCEncoder(codec, device=str(device), snr_db=args.snr_db, name="encoder")
    decoder = B.JSCCDecoder(encoder.codec, device=str(device), name="decoder")
    fg = Flowgraph("demo_image")
    source = B.ImageSource(args.data, split="eval", batch=batch, frames=_frames(args) if _frames(args) else -1,
                           device=None if device.type == "cpu" else str(device), name="source")
    blocks: dict[str, Any] = {"source": source}
    head: Any = source
    dn = _denoiser(args)
    rate = _rate(args, 4.0 if dn is not None else 10.0)
    if rate:
        head = blocks["throttle"] = B.Throttle(rate, restamp=True, name="throttle")
        fg.connect(source, head)
    normalizer, channel = B.PowerNormalizer(name="normalizer"), _channel(args)
    equalizer, sink = B.MMSEEqualizer(name="equalizer"), B.MetricSink(name="sink")
    fg.connect(head, encoder, normalizer, channel, equalizer)
    tail: Any = equalizer
    if dn is not None:
        fg.connect(equalizer, dn)
        tail = blocks["denoiser"] = dn
        if args.gui or args.snapshot:
            # "received without the denoiser" for the image scope: a second decoder on a
            # real-time tap, paced to 10 frames/s so it costs the chain little
            pace = B.Throttle(10.0, name="tap_pace")
            plain = B.JSCCDecoder(encoder.codec, device=str(device), name="decoder_no_denoiser")
            fg.connect(equalizer, pace, policy="realtime", hwm=2)
            fg.connect(pace, plain)
            blocks["decoder_no_denoiser"] = plain
    fg.connect(tail, decoder, (sink, "rec"))
    fg.connect(head, (sink, "ref"))
    blocks.update(encoder=encoder, normalizer=normalizer, channel=channel, equalizer=equalizer, decoder=decoder,
                  sink=sink, batch=batch)
    return fg, blocks


def build(args: argparse.Namespace) -> tuple[Flowgraph, dict[str, Any]]:
    """The demo flowgraph and its blocks by role (``blocks["chain"]`` says which chain)."""
    if args.chain in ("auto", "image"):
        try:
            fg, blocks = build_image_chain(args)
            blocks["chain"] = "image"
            return fg, blocks
        except Exception as exc:  # noqa: BLE001 - auto falls back to the channel chain
            if args.chain == "image":
                raise
            log.warning("demo_gui: image chain unavailable (%s: %s); showing the channel chain",
                        type(exc).__name__, exc)
    fg, blocks = build_channel_chain(args)
    blocks["chain"] = "channel"
    return fg, blocks


def sweep_values(spec: str) -> list[float]:
    """``"START:STOP:STEP"`` -> the SNR values (dB), STOP included."""
    try:
        start, stop, step = (float(x) for x in spec.split(":"))
    except ValueError:
        raise SystemExit(f"demo_gui: --sweep-snr wants START:STOP:STEP, got {spec!r}") from None
    if step == 0 or (stop - start) / step < 0:
        raise SystemExit(f"demo_gui: --sweep-snr {spec!r} never reaches its end")
    n = int(round((stop - start) / step)) + 1
    return [start + i * step for i in range(n)]


def start_sweep(fg: Flowgraph, values: list[float], period: float) -> threading.Event:
    """Post the SNR values in turn (looping) every ``period`` s to every block with an
    ``snr_db`` parameter, through their ``ctrl`` ports; set the returned event to stop."""
    from semradio.blocks.qtgui import discover_controls, send_control

    spec = next((c for c in discover_controls(fg.blocks.values()) if c.param == "snr_db"), None)
    done = threading.Event()
    if spec is None:
        return done

    def loop() -> None:
        i = 0
        while not done.wait(0.0 if i == 0 else period):
            send_control(fg, spec, values[i % len(values)])
            i += 1

    threading.Thread(target=loop, name="demo:snr-sweep", daemon=True).start()
    return done


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build, run (with the scopes when asked) and summarize."""
    fg, blocks = build(args)
    sweep = start_sweep(fg, sweep_values(args.sweep_snr), args.sweep_period) if args.sweep_snr else None
    t0 = time.perf_counter()
    try:
        shots = run_flowgraph(fg, args, {k: v for k, v in blocks.items() if isinstance(v, Block)},
                              timeout=args.timeout, title=f"semradio demo: {blocks['chain']} chain")
    finally:
        if sweep is not None:
            sweep.set()
    seconds = time.perf_counter() - t0
    stats = fg.stats()
    out: dict[str, Any] = {"flowgraph": fg.name, "chain": blocks["chain"], "seconds": round(seconds, 3),
                           "snapshots": {k: str(v) for k, v in (shots or {}).items()}}
    if blocks["chain"] == "image":
        s = blocks["sink"].summary()
        out.update(frames=s["frames"], images=s["images"], images_per_s=s["images_per_s"],
                   groups=s["groups"])
    else:
        m = blocks["meter"].summary()
        out.update(frames=m["frames"], measured_snr_db=m["snr_db"], measured_sinr_db=m["sinr_db"],
                   evm_percent=m["evm_percent"])
    out["blocks"] = {n: {k: c.get(k) for k in ("state", "frames_in", "frames_out", "drops") if k in c}
                     for n, c in stats.items()}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    out = run(args)
    if args.json:
        print(json.dumps(out, default=str))
    else:
        print(f"demo_gui ({out['chain']} chain): {out.get('frames')} frames in {out['seconds']} s")
        for k in ("images_per_s", "measured_snr_db", "evm_percent"):
            if out.get(k) is not None:
                print(f"  {k}: {out[k]:.2f}")
        for g in out.get("groups", []):
            print(f"  SNR {g['snr_db']} dB ({g['denoiser']}): PSNR {g['psnr_db']:.2f} dB, SSIM {g['ssim']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
