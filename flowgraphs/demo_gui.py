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
The denoised latents are decoded by the codec's decoder fine-tuned on CDDM outputs (as in
``cddm_rayleigh.py``); the CDDM runs the one-evaluation Tweedie rule by default. The
constellation scope draws the equalized and denoised latents against the transmitted ones
(the denoiser's effect: a tighter cloud, about 3 dB less latent MSE at 10 dB), the image scope
the denoiser's running PSNR gain.
With ``--gui`` the source runs forever (``--frames`` unset) and is paced at ``--realtime``
frames/s (default 10 images frames of 16, 8 with a denoiser, 25 symbol frames); headless
runs are unpaced unless ``--realtime`` is given. With ``--sweep-snr`` the image source replays
the first ``--sweep-images`` held-out images, so every SNR point sees the same images. Scopes are
attached through real-time edges by :mod:`semradio.blocks.qtgui.gui_support` (``--gui``,
``--snapshot DIR``).
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import semradio.blocks as B
from semradio.flowgraphs.app import flowgraph_main
from semradio.models.arguments import checkpoint_ref, dataset_spec
from semradio.runtime import Block, Flowgraph
from semradio.runtime.arguments import CommandLineError, finite_float, positive_float, positive_int
from semradio.runtime.options import option

log = logging.getLogger("semradio")
CHAINS = ("auto", "image", "channel")


def _steps_spec(text: str) -> str:
    """``--denoiser-steps``: a positive count or ``auto``."""
    if text in ("auto", "none"):
        return text
    positive_int(text)
    return text


def _sweep_spec(text: str) -> str:
    """``--sweep-snr``: checked with :func:`sweep_values`."""
    sweep_values(text)
    return text


@dataclass
class DemoConfig:
    """Settings of the demo (one field per command-line option; also used by ``semradio bench
    scopes``). ``frames``, ``realtime`` and ``batch`` None: derived from the chain and from
    whether a window is open (see the module docstring)."""

    chain: str = option("auto", choices=CHAINS,
                        help="image (JSCC) or channel (symbols) chain; auto: image when the codec loads")
    snr_db: float = option(10.0, help="initial SNR in dB")
    sinr_db: float | None = option(None, help="initial SINR in dB (default: no interference)")
    model: str = option("rayleigh", choices=("awgn", "rayleigh", "rician"),
                        help="initial channel type (fading model of h_x)")
    frames: int | None = option(None, help="frames to send (default: forever with --gui, else 200)")
    realtime: float | None = option(None, metavar="FPS",
                                    help="pace the source at FPS frames/s (default with --gui: image chain 10, 4 "
                                         "with a denoiser; channel chain 25; else unpaced)")
    batch: int | None = option(None, type=positive_int, help="items per frame (default: 16 images / 4 symbol rows)")
    k: int = option(1024, type=positive_int, help="channel chain: complex symbols per item")
    data: str = option("natural32", type=dataset_spec, help="image chain: dataset spec (see ImageSource)")
    cbr: str = option("1/6", choices=("1/6", "1/12"), help="image chain: channel bandwidth ratio of the shipped codec")
    codec: str | None = option(None, type=checkpoint_ref("codec"),
                               help="image chain: codec name or checkpoint (default: shipped one)")
    device: str = option("auto", help="image chain: codec device (auto, cpu, cuda)")
    denoiser: str = option("auto", metavar="NAME",
                           help="denoiser after the equalizer: auto (CDDM when its checkpoint loads), none, cddm, "
                                "or a block class of semradio.blocks (image chain; channel chain: none unless named)")
    denoiser_rule: str = option("tweedie", choices=("tweedie", "cddm", "ddim"),
                                help="CDDM: reverse-step rule (default tweedie: one network evaluation from the "
                                     "KL-matched start step, as good as the full CDDM rule and fast enough to "
                                     "watch live on a CPU)")
    denoiser_steps: str = option("auto", metavar="N|auto", type=_steps_spec,
                                 help="CDDM: cap on the start step (default auto: the KL-matched one; a cap below "
                                      "it makes the denoiser assume less noise than there is)")
    sweep_snr: str | None = option(None, metavar="START:STOP:STEP", type=_sweep_spec,
                                   help="step the SNR through these values (dB) while running, e.g. 0:20:5 (the "
                                        "metric scope's PSNR-vs-SNR curve builds up), then return to --snr-db")
    sweep_period: float = option(5.0, type=positive_float,
                                 help="seconds per SNR step of --sweep-snr (5 s: 40 frames of 16 images per point at "
                                      "the paced 8 frames/s, 10 passes over the --sweep-images)")
    sweep_repeat: bool = option(False, help="--sweep-snr: loop over the values (default: one pass, then back to "
                                            "--snr-db)")
    sweep_images: int = option(64, type=positive_int,
                               help="image chain with --sweep-snr: the source replays the first N held-out images, "
                                    "so every SNR point sees the same images and the PSNR-vs-SNR curve reflects the "
                                    "SNR only (default 64: 4 frames of 16)")
    seed: int = option(0, help="source seed (the channel draws with seed + 1)")
    timeout: float | None = option(None, type=positive_float, help="stop after this many seconds")


def _gui(scopes: Any) -> bool:
    return bool(getattr(scopes, "gui", False))


def _frames(config: DemoConfig, gui: bool) -> int | None:
    if config.frames is not None:
        return None if config.frames < 0 else config.frames
    return None if gui else 200


def _rate(config: DemoConfig, gui: bool, gui_default: float) -> float | None:
    if config.realtime is not None:
        return config.realtime if config.realtime > 0 else None
    return gui_default if gui else None


def _channel(config: DemoConfig) -> Block:
    kw: dict[str, Any] = {"sinr_db": config.sinr_db} if config.sinr_db is not None else {"pz": 0.0}
    return B.InterferenceChannel(snr_db=config.snr_db, model=config.model, seed=config.seed + 1, keep_noise=True,
                                 name="channel", **kw)


def _denoiser(config: DemoConfig, strict: bool = False) -> Block | None:
    """The denoiser block for ``--denoiser`` (None for "none", or for "auto" when none loads)."""
    choice = config.denoiser
    if choice == "none":
        return None
    if choice in ("auto", "cddm"):
        try:
            from semradio.blocks.denoisers.cddm import DEFAULT_CDDM, CDDMDenoiser
            from semradio.models.shipped import channel_family

            family = channel_family(config.model)
            steps = None if config.denoiser_steps in ("auto", "none") else int(config.denoiser_steps)
            return CDDMDenoiser(DEFAULT_CDDM[family], device=config.device, rule=config.denoiser_rule,
                                max_steps=steps, name="denoiser")
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


def _decoder_codec(codec: str, fallback: Any, dn: Block | None) -> Any:
    """The decoder after a CDDM denoiser: the codec's decoder fine-tuned on CDDM outputs
    (``<codec>_cddm``, as ``cddm_rayleigh.py`` uses) when it exists; else ``fallback`` (the
    encoder's codec). The plain decoder reads denoised latents less well than the tuned one
    (measured: 0 to -0.3 dB against +0.1 to +0.5 dB at 0..20 dB Rayleigh)."""
    if dn is None or type(dn).__name__ != "CDDMDenoiser" or not isinstance(codec, str):
        return fallback
    from semradio.models.checkpoint import list_codecs

    return f"{codec}_cddm" if f"{codec}_cddm" in list_codecs() else fallback


def build_channel_chain(config: DemoConfig, scopes: Any = None) -> tuple[Flowgraph, dict[str, Any]]:
    """SymbolSource -> [Throttle] -> InterferenceChannel -> MMSE -> [denoiser] -> ChannelMeter."""
    gui = _gui(scopes)
    fg = Flowgraph("demo_channel")
    batch = config.batch or 4
    source = B.SymbolSource(batch=batch, k=config.k, frames=_frames(config, gui), seed=config.seed, name="source")
    blocks: dict[str, Any] = {"source": source}
    head: Any = source
    rate = _rate(config, gui, 25.0)
    if rate:
        head = blocks["throttle"] = B.Throttle(rate, restamp=True, name="throttle")
        fg.connect(source, head)
    channel, equalizer = _channel(config), B.MMSEEqualizer(name="equalizer")
    meter = B.ChannelMeter(name="meter")
    tail: Any = equalizer
    fg.connect(head, channel, equalizer)
    dn = _denoiser(config) if config.denoiser not in ("auto", "cddm") else None  # CDDM works on JSCC latents
    if dn is not None:
        fg.connect(equalizer, dn)
        tail = blocks["denoiser"] = dn
    fg.connect(tail, (meter, "rx"))
    fg.connect(head, (meter, "ref"))
    blocks.update(channel=channel, equalizer=equalizer, meter=meter, sink=meter, batch=batch)
    return fg, blocks


def build_image_chain(config: DemoConfig, scopes: Any = None) -> tuple[Flowgraph, dict[str, Any]]:
    """ImageSource -> [Throttle] -> JSCC encoder -> power normalizer -> channel -> MMSE ->
    [denoiser] -> JSCC decoder -> MetricSink (raises when the codec cannot be loaded)."""
    from semradio.blocks.hier.jscc_chain import default_codec
    from semradio.blocks.qtgui.gui_support import wants_scopes
    from semradio.models.checkpoint import resolve_device

    gui = _gui(scopes)
    codec = config.codec or default_codec(config.data, config.model if config.model != "rician" else "rayleigh",
                                          config.cbr)
    device = resolve_device(config.device)
    batch = config.batch or 16
    encoder = B.JSCCEncoder(codec, device=str(device), snr_db=config.snr_db, name="encoder")
    dn = _denoiser(config)
    decoder = B.JSCCDecoder(_decoder_codec(codec, encoder.codec, dn), device=str(device), name="decoder")
    fg = Flowgraph("demo_image")
    frames = _frames(config, gui)
    source = B.ImageSource(config.data, split="eval", batch=batch, frames=frames if frames else -1,
                           limit=config.sweep_images if config.sweep_snr else None,
                           device=None if device.type == "cpu" else str(device), name="source")
    blocks: dict[str, Any] = {"source": source}
    head: Any = source
    rate = _rate(config, gui, 8.0 if dn is not None else 10.0)
    if rate:
        head = blocks["throttle"] = B.Throttle(rate, restamp=True, name="throttle")
        fg.connect(source, head)
    normalizer, channel = B.PowerNormalizer(name="normalizer"), _channel(config)
    equalizer, sink = B.MMSEEqualizer(name="equalizer"), B.MetricSink(name="sink")
    fg.connect(head, encoder, normalizer, channel, equalizer)
    tail: Any = equalizer
    if dn is not None:
        fg.connect(equalizer, dn)
        tail = blocks["denoiser"] = dn
        if wants_scopes(scopes):
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
                  sink=sink, batch=batch, transmitted=normalizer)
    return fg, blocks


def build(config: DemoConfig, scopes: Any = None) -> tuple[Flowgraph, dict[str, Any]]:
    """The demo flowgraph and its blocks by role (``blocks["chain"]`` says which chain,
    ``blocks["batch"]`` the items per frame).

    ``scopes`` (a :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions` or None: headless)
    sets the derived defaults: with ``gui`` the source runs forever and is paced; with ``gui``
    or ``snapshot`` the image chain gets the tap decoder without the denoiser.
    """
    if config.chain in ("auto", "image"):
        try:
            fg, blocks = build_image_chain(config, scopes)
            blocks["chain"] = "image"
            return fg, blocks
        except Exception as exc:  # noqa: BLE001 - auto falls back to the channel chain
            if config.chain == "image":
                raise
            log.warning("demo_gui: image chain unavailable (%s: %s); showing the channel chain",
                        type(exc).__name__, exc)
    fg, blocks = build_channel_chain(config, scopes)
    blocks["chain"] = "channel"
    return fg, blocks


def sweep_values(spec: str) -> list[float]:
    """``"START:STOP:STEP"`` -> the SNR values (dB), STOP included.

    Raises:
        argparse.ArgumentTypeError: not three finite numbers, or a STEP that never reaches STOP.
    """
    try:
        start, stop, step = (finite_float(x) for x in spec.split(":"))
    except (ValueError, argparse.ArgumentTypeError):
        raise argparse.ArgumentTypeError(f"{spec!r} is not START:STOP:STEP in dB (use e.g. 0:20:5)") from None
    if step == 0 or (stop - start) / step < 0:
        raise argparse.ArgumentTypeError(f"{spec!r} never reaches its end (use e.g. 0:20:5)")
    n = int(round((stop - start) / step)) + 1
    return [start + i * step for i in range(n)]


def start_sweep(fg: Flowgraph, values: list[float], period: float, final: float | None = None,
                repeat: bool = False) -> threading.Event:
    """Post the SNR values in turn every ``period`` s to every block with an ``snr_db``
    parameter, through their ``ctrl`` ports: once, then ``final`` (when given; the points
    already measured stay on the curve), or looping with ``repeat``. Set the returned event
    to stop."""
    from semradio.blocks.qtgui import discover_controls, send_control

    spec = next((c for c in discover_controls(fg.blocks.values()) if c.param == "snr_db"), None)
    done = threading.Event()
    if spec is None:
        return done

    def loop() -> None:
        i = 0
        while not done.wait(0.0 if i == 0 else period):
            if i >= len(values) and not repeat:
                if final is not None:
                    send_control(fg, spec, final)
                return
            send_control(fg, spec, values[i % len(values)])
            i += 1

    threading.Thread(target=loop, name="demo:snr-sweep", daemon=True).start()
    return done


def run(config: DemoConfig, scopes: Any = None) -> dict[str, Any]:
    """Build, run (with the scopes when ``scopes``, a
    :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions`, asks) and summarize."""
    from semradio.blocks.qtgui.gui_support import run_flowgraph

    fg, blocks = build(config, scopes)
    sweep = (start_sweep(fg, sweep_values(config.sweep_snr), config.sweep_period, final=config.snr_db,
                         repeat=config.sweep_repeat) if config.sweep_snr else None)
    t0 = time.perf_counter()
    try:
        shots = run_flowgraph(fg, scopes, {k: v for k, v in blocks.items() if isinstance(v, Block)},
                              timeout=config.timeout, title=f"semradio demo: {blocks['chain']} chain")
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
                   groups=s["groups"], dataset_images=len(blocks["source"].images), data=config.data)
    else:
        m = blocks["meter"].summary()
        out.update(frames=m["frames"], measured_snr_db=m["snr_db"], measured_sinr_db=m["sinr_db"],
                   evm_percent=m["evm_percent"])
    out["blocks"] = {n: {k: c.get(k) for k in ("state", "frames_in", "frames_out", "drops") if k in c}
                     for n, c in stats.items()}
    out["scope_curves"] = _scope_curves(fg)
    return out


def _scope_curves(fg: Flowgraph) -> list[dict[str, Any]]:
    """The metric scope's PSNR-vs-SNR points (what the window's curve shows), when scopes were
    attached: ``[{"group", "snr_db", "psnr_db", "images"}, ...]``."""
    from semradio.blocks.qtgui.metric import MetricScope

    rows: list[dict[str, Any]] = []
    for b in fg.blocks.values():
        if isinstance(b, MetricScope):
            s = b.series()[1]
            for group, (snr, psnr, _ssim) in s["curves"].items():
                images = s["curve_images"].get(group, [0] * len(snr))
                rows += [{"group": group, "snr_db": float(x), "psnr_db": round(float(y), 3), "images": int(n)}
                         for x, y, n in zip(snr, psnr, images)]
    return rows


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run`'s summary."""
    lines = [f"demo_gui ({out['chain']} chain): {out.get('frames')} frames in {out['seconds']} s"]
    for k in ("images_per_s", "measured_snr_db", "evm_percent"):
        if out.get(k) is not None:
            lines.append(f"  {k}: {out[k]:.2f}")
    for g in sorted(out.get("groups", []), key=lambda g: (str(g.get("denoiser")), float(g.get("snr_db") or 0.0))):
        lines.append(f"  SNR {g['snr_db']} dB ({g['denoiser']}): PSNR {g['psnr_db']:.2f} dB, SSIM {g['ssim']:.3f} "
                     f"({g.get('images', '?')} images)")
    for c in out.get("scope_curves", []):
        lines.append(f"  scope curve SNR {c['snr_db']:g} dB ({c['group']}): PSNR {c['psnr_db']:.2f} dB "
                     f"({c['images'] or 'frames, no'} distinct images)")
    total, groups = out.get("dataset_images"), out.get("groups", [])
    short = [g for g in groups if total and (g.get("images") or 0) < total]
    if short:
        lines.append(f"  note: {len(short)} of {len(groups)} SNR points measured fewer than the {total} "
                     f"{out.get('data')} held-out images: not representative of the set")
    if total and (out.get("images") or 0) > total:
        lines.append(f"  note: {out['images']} images from a set of {total}: images repeat")
    return "\n".join(lines)


def check_config(config: DemoConfig) -> None:
    """Check ``--denoiser`` names a denoiser before anything is built.

    Raises:
        CommandLineError: naming the bad value and what would be accepted.
    """
    if config.denoiser in ("auto", "none", "cddm"):
        return
    cls = getattr(B, config.denoiser, None)
    if not (isinstance(cls, type) and issubclass(cls, Block)):
        found = sorted(n for n in getattr(B, "__all__", []) if "denois" in n.lower())
        raise CommandLineError(f"argument --denoiser: unknown denoiser {config.denoiser!r} (use none, auto, cddm or "
                               f"a denoiser block class: {', '.join(found) or 'none found'})")


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(DemoConfig, run, argv, doc=__doc__, summary=format_summary, check=check_config)


if __name__ == "__main__":
    raise SystemExit(main())
