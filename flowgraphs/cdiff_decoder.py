#!/usr/bin/env python3
"""Diffusion-autoencoder semantic communication ("Conditional Denoising Diffusion Autoencoders for
Wireless Semantic Communications", CDiff (Letafati et al.)): adaptive-CBR encoders and three
selectable decoders -- the CDiff conditional diffusion decoder, the matched autoencoder decoder
and the VAE benchmark -- over AWGN, single-user or with multi-user interference. Each decoder
gets its own encoder: ``acbr_<data>_awgn_ae`` for the matched decoder, ``_vae`` for the VAE, and
the encoder named in the CDiff checkpoint's config for CDiff (the same ``_ae`` encoder, or one
trained jointly with CDiff as in the CDiff paper).

    python flowgraphs/cdiff_decoder.py --decoder cdiff --cbr 1/24 --snr-db 0 --frames 2
    python flowgraphs/cdiff_decoder.py --decoder matched --data mnist --cbr 0.2 --json
    python flowgraphs/cdiff_decoder.py --decoder cdiff --interferers 1 --sinr-db -2.1 --snr-db 0
    python flowgraphs/cdiff_decoder.py --decoder cdiff --interferers 1 --weight 0.8 --snr-db 0

Flowgraph (single user)::

    ImageSource -> JSCCEncoder(_ae | _vae | CDiff's) -> PowerNormalizer -> AWGNChannel
         |                                                                          -> MMSEEqualizer
         |                               {CDiffDecoder | JSCCDecoder(ae) | JSCCDecoder(vae)} <-+
         +--------------------------------------------------------------> MetricSink (ref, rec)

Multi-user mode (``--interferers N``): N more ImageSources (held-out images, each shuffled with
its own seed) go through encoders of the same kind (the VAE encoder for ``--decoder vae``) and
PowerNormalizers, are summed by :class:`~semradio.blocks.channels.superpose.Superpose` (``sum z_i /
sqrt(N)``) into the ``z`` port of an AWGN :class:`~semradio.blocks.channels.fading.InterferenceChannel`,
so the receiver sees the CDiff paper's convex combination (Figs. 3, 4, 7, 9)::

    y = a x + sum_i b_i z_i + n,  a + sum_i b_i = 1,  b_i = (1 - a)/N,  n ~ CN(0, s2),  s2 = 10^(-SNR/10)

with ``a`` from ``--sinr-db`` through ``SINR = a^2 / ((1 - a)^2/N + s2)`` (closed form in
:func:`~semradio.blocks.channels.superpose.convex_weight_for_sinr`; a SINR above the SNR is refused) or
given directly by ``--weight`` (the paper's 0.8 at 0 dB is SINR -2.1 dB). The channel gets
``px = a^2``, ``pz = (1 - a)^2/N``, ``normalize_z=False`` and ``snr_db = 10 log10(a^2/s2)``
(its SNR is Px/s2), so its noise variance is the test SNR's s2; its ``snr_db`` tag (and the
MetricSink group) therefore reads ``10 log10(a^2/s2)``, while the summary's ``snr_db`` is the
test SNR (unit transmit power over s2) and ``sinr_db`` is the channel's Px/(Pz + s2).

What the decoders receive: every decoder was trained on ``semradio.models.link.simulate_link(z,
"awgn", snr)`` = power-normalize then ``y = x + n`` in real form, no scaling. Here the
MMSEEqualizer sees ``channel_model = "awgn"`` (also on the interference channel, whose desired
link is AWGN) and applies Lemma 1's AWGN identity (its default ``awgn="identity"``): ``y = [Re;
Im](y_c)``, no 1/(1 + s2) shrinkage -- the same kind of latent as in training (in multi-user
mode the desired part is scaled by a, as in the paper).

Output: PSNR/SSIM over the frames (``--json``: one JSON object with psnr_db, ssim, images,
seconds, decoder, cbr, snr_db, sinr_db, a, interferers, steps, ...).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from semradio.flowgraphs.app import flowgraph_main
from semradio.runtime import Flowgraph
from semradio.runtime.arguments import frame_count, output_file, positive_float, positive_int
from semradio.runtime.options import option

DECODERS = ("matched", "vae", "cdiff")
DATASETS = ("mnist", "natural32")


def encoder_codec(data: str, variant: str) -> str:
    """Shipped adaptive-CBR codec name: ``acbr_<data>_awgn_<ae|vae>``."""
    return f"acbr_{data}_awgn_{variant}"


def parse_cbr(text: str | float) -> float:
    """A CBR given as a decimal or a fraction ("0.2", "1/24")."""
    try:
        return float(Fraction(str(text)))
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"CBR must be a number or a fraction like 1/24, got {text!r}") from None


@dataclass
class CDiffDecoderConfig:
    """Settings of the CDiff flowgraph (one field per command-line option). ``sinr_db`` and
    ``weight`` exclude each other."""

    data: str = option("natural32", choices=DATASETS,
                       help="held-out images: natural 32x32 patches (bundled) or MNIST (../shared/datasets/mnist)")
    decoder: str = option("cdiff", choices=DECODERS, help="CDiff, the matched autoencoder decoder or the VAE's")
    cbr: float | None = option(None, type=parse_cbr,
                               help="CBR k/(CHW), one of the codec's set (default: its lowest); fractions allowed")
    snr_db: float = option(10.0, help="test SNR: transmit power / s2, in dB")
    steps: int | None = option(None, help="CDiff reverse steps (default: the checkpoint's)")
    eta: float | None = option(None, help="CDiff sampler eta (default: the checkpoint's)")
    cdiff_model: str | None = option(None, help="CDiff checkpoint name or path (default cdiff_<data>_awgn)")
    interferers: int = option(0, help="multi-user mode: number of interfering users N")
    sinr_db: float | None = option(None, help="multi-user mode: target SINR (dB)")
    weight: float | None = option(None, help="multi-user mode: the desired user's convex weight a in (0, 1] "
                                             "instead of --sinr-db")
    frames: int = option(4, type=frame_count, help="frames to send (0: one pass over the held-out images)")
    batch: int = option(50, type=positive_int, help="images per frame")
    seed: int = option(0, help="channel and sampler seed (interferer i shuffles with seed+1+i)")
    device: str = option("auto", help="codec and decoder device: auto (CUDA when present), cpu, cuda")
    csv: str | None = option(None, type=output_file, help="per-frame metrics CSV")
    timeout: float = option(3600.0, type=positive_float, help="stop after this many seconds")


def mixing(config: CDiffDecoderConfig) -> tuple[float, float | None]:
    """``(a, sinr_db)``: the desired weight and the target SINR of the settings (a = 1, None
    for a single user).

    Raises:
        ValueError: inconsistent or unreachable settings.
    """
    from semradio.blocks.channels.superpose import convex_sinr_db, convex_weight_for_sinr

    n = int(config.interferers)
    if n < 0:
        raise ValueError(f"--interferers must be >= 0, got {n}")
    if config.sinr_db is not None and config.weight is not None:
        raise ValueError("--sinr-db and --weight exclude each other")
    if n == 0:
        if config.sinr_db is not None or config.weight is not None:
            raise ValueError("--sinr-db/--weight need --interferers N >= 1")
        return 1.0, None
    if config.weight is not None:
        a = float(config.weight)
        return a, convex_sinr_db(a, config.snr_db, n)
    if config.sinr_db is None:
        raise ValueError("multi-user mode (--interferers) needs --sinr-db or --weight")
    return convex_weight_for_sinr(config.sinr_db, config.snr_db, n), float(config.sinr_db)


def build(config: CDiffDecoderConfig) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks by name (``info`` holds a, sinr_db, codec names, cbr).

    Raises:
        ValueError: bad settings (see :func:`mixing`), a CBR outside the codec's set.
    """
    from semradio.blocks.basic.image_source import ImageSource
    from semradio.blocks.channels.fading import AWGNChannel, InterferenceChannel
    from semradio.blocks.channels.power import PowerNormalizer
    from semradio.blocks.channels.superpose import Superpose
    from semradio.blocks.codecs.cdiff_decoder import CDiffDecoder
    from semradio.blocks.codecs.jscc import JSCCDecoder, JSCCEncoder
    from semradio.blocks.digital.equalizer import MMSEEqualizer
    from semradio.blocks.metrics.metric_sink import MetricSink
    from semradio.models.checkpoint import resolve_device

    if config.data not in DATASETS:
        raise ValueError(f"--data must be one of {DATASETS}, got {config.data!r}")
    if config.decoder not in DECODERS:
        raise ValueError(f"--decoder must be one of {DECODERS}, got {config.decoder!r}")
    a, sinr_db = mixing(config)
    n_int = int(config.interferers)
    device = str(resolve_device(config.device))
    frames = None if config.frames == 0 else int(config.frames)
    src_device = device if device.startswith("cuda") else None  # keep images on the GPU when there is one

    dec: Any
    if config.decoder == "cdiff":
        dec = CDiffDecoder(config.cdiff_model or f"cdiff_{config.data}_awgn", device=device, steps=config.steps,
                           eta=config.eta, seed=config.seed, name="decoder")
        codec_name = str(dec.config.get("codec") or encoder_codec(config.data, "ae"))
    else:
        codec_name = encoder_codec(config.data, "vae" if config.decoder == "vae" else "ae")
        dec = JSCCDecoder(codec_name, device=device, name="decoder")

    def encoder(name: str) -> Any:
        enc = JSCCEncoder(codec_name, device=device, name=name)
        cbrs = getattr(enc.codec, "cbrs", None)
        if cbrs is None:
            raise ValueError(f"codec {codec_name!r} is not an adaptive-CBR codec")
        cbr = cbrs[0] if config.cbr is None else parse_cbr(config.cbr)
        try:
            enc.codec.set_cbr(cbr)
        except ValueError:
            raise ValueError(f"--cbr {cbr:g} is not in the CBR set of {codec_name}: "
                             f"{', '.join(f'{c:.4g}' for c in cbrs)}") from None
        return enc

    enc = encoder("encoder")
    cbr = float(enc.codec.cbr)
    fg = Flowgraph(f"cdiff_{config.data}")
    src = ImageSource(config.data, split="eval", batch=config.batch, frames=frames, device=src_device,
                      name="source")
    norm = PowerNormalizer(name="normalizer")
    eq = MMSEEqualizer(name="equalizer")
    sink = MetricSink(csv_path=config.csv, ms_ssim=False, name="sink")
    blocks: dict[str, Any] = dict(source=src, encoder=enc, normalizer=norm, equalizer=eq, decoder=dec, sink=sink)
    if n_int == 0:
        chan: Any = AWGNChannel(snr_db=config.snr_db, seed=config.seed, name="channel")
        fg.connect(src, enc, norm, chan)
    else:
        s2 = 10.0 ** (-config.snr_db / 10.0)
        chan_snr = math.inf if s2 == 0.0 else 10.0 * math.log10(a * a / s2)
        chan = InterferenceChannel(snr_db=chan_snr, px=a * a, pz=(1.0 - a) ** 2 / n_int, model="awgn",
                                   normalize_z=False, seed=config.seed, name="channel")
        sup = Superpose(n_int, name="superpose")
        fg.connect(src, enc, norm, chan)
        fg.connect(sup, (chan, "z"))
        blocks["superpose"] = sup
        for i in range(n_int):
            src_i = ImageSource(config.data, split="eval", batch=config.batch, frames=frames, shuffle=True,
                                seed=config.seed + 1 + i, device=src_device, name=f"interferer_source{i}")
            enc_i = encoder(f"interferer_encoder{i}")
            norm_i = PowerNormalizer(name=f"interferer_normalizer{i}")
            fg.connect(src_i, enc_i, norm_i, (sup, f"in{i}"))
            blocks.update({f"interferer_source{i}": src_i, f"interferer_encoder{i}": enc_i,
                           f"interferer_normalizer{i}": norm_i})
    blocks["channel"] = chan
    fg.connect(chan, eq, dec, (sink, "rec"))
    fg.connect(src, (sink, "ref"))
    blocks["info"] = {"a": a, "sinr_db": sinr_db, "codec": codec_name, "cbr": cbr, "k": enc.codec.k}
    return fg, blocks


def run(config: CDiffDecoderConfig, scopes: Any = None) -> dict[str, Any]:
    """Build, run to the end of the frames (with live scopes or snapshots when ``scopes``, a
    :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions`, asks); one JSON-serializable
    summary.

    Raises:
        ValueError: bad settings (see :func:`build`).
    """
    from semradio.blocks.qtgui.gui_support import run_flowgraph

    fg, blocks = build(config)
    t0 = time.perf_counter()
    run_flowgraph(fg, scopes, {k: v for k, v in blocks.items() if k != "info"},  # fg.run() unless --gui/--snapshot
                  timeout=config.timeout)
    seconds = time.perf_counter() - t0
    s = blocks["sink"].summary()
    g = s["groups"][0] if len(s["groups"]) == 1 else None
    info = blocks["info"]
    dec = blocks["decoder"]
    cdiff = config.decoder == "cdiff"
    sinr = g["sinr_db"] if g is not None and g.get("sinr_db") is not None else info["sinr_db"]
    return {"flowgraph": fg.name, "data": config.data, "decoder": config.decoder,
            "model": dec.model_name if cdiff else info["codec"], "encoder": info["codec"], "cbr": info["cbr"],
            "k": info["k"], "snr_db": config.snr_db, "sinr_db": config.snr_db if sinr is None else sinr,
            "a": info["a"], "interferers": int(config.interferers),
            "steps": dec.params["steps"] if cdiff else None, "eta": dec.params["eta"] if cdiff else None,
            "nfe": dec.nfe if cdiff else None, "frames": s["frames"], "images": s["images"],
            "seconds": round(seconds, 2), "psnr_db": None if g is None else g["psnr_db"],
            "ssim": None if g is None else g["ssim"], "mse_db": None if g is None else g["mse_db"],
            "latency_p50_ms": None if g is None else g["latency_p50_ms"], "groups": s["groups"]}


def format_summary(out: dict[str, Any]) -> str:
    """The one-line text summary of :func:`run`'s dict."""
    mu = "" if not out["interferers"] else f", {out['interferers']} interferer(s), a = {out['a']:.4f}"
    return (f"{out['flowgraph']}: {out['decoder']} at CBR {out['cbr']:.4g}, SNR {out['snr_db']:g} dB, SINR "
            f"{out['sinr_db']:.2f} dB{mu}: {out['images']} images in {out['seconds']:.1f} s; "
            f"PSNR {out['psnr_db']:.2f} dB, SSIM {out['ssim']:.4f}")


def _run_cli(config: CDiffDecoderConfig, scopes: Any) -> dict[str, Any]:
    """:func:`run` for the command line: bad settings are a usage error (exit status 2)."""
    try:
        return run(config, scopes)
    except ValueError as exc:
        print(f"{os.path.basename(sys.argv[0])}: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(CDiffDecoderConfig, _run_cli, argv, doc=__doc__, summary=format_summary)


if __name__ == "__main__":
    raise SystemExit(main())
