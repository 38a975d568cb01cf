#!/usr/bin/env python3
"""Real-time semantic link with the EECD consistency denoiser ("LDM-enabled real-time semantic
communication", Pei et al., Alg. 4), batch 1.

    python flowgraphs/eecd_realtime.py --realtime 30 --frames 300
    python flowgraphs/eecd_realtime.py --realtime 30 --frames 300 --channel awgn --steps 2 --json
    python flowgraphs/eecd_realtime.py --realtime 60 --deadline-ms 20 --snr-db 5

Flowgraph::

    ImageSource -> Throttle(FPS) -> JSCCEncoder -> PowerNormalizer -> channel -> MMSEEqualizer
         |                                                                           |
         |                                                   ConsistencyDenoiser (s = 1 or 2)
         |                                                                           |
         |                                                                     JSCCDecoder
         +---------------------------------------------------------------> MetricSink (ref, rec)

The Throttle releases one frame of ``--batch`` images (default 1) every 1/FPS s and restamps
``t_ns``; the MetricSink measures each frame's latency from there to its arrival. A frame whose
latency exceeds the deadline (1/FPS unless ``--deadline-ms``) is a deadline miss. The models
are run once on dummy inputs before the flowgraph starts (so lazy initialization is not billed
to the first frame), and ``--warmup-frames`` (default 10) frames are sent before the
``--frames`` measured ones: the start-up transient (threads and sockets coming up) is reported
separately. Reported over the measured frames: deadline misses, latency p50/p99/max, PSNR/SSIM;
per block (every frame): the frame's age when the block starts and its work, p50/p99, so the
hop between two blocks (queue wait, wake-up) is the difference;
achieved images/s (sink arrivals over the whole run), EECD work ms per frame. ``--threads`` sets torch's
CPU threads (default 1). ``--backend`` (default ``auto``: ONNX Runtime on the CPU when installed,
``pip install -e ".[onnx]"``) runs the encoder, the EECD network and the decoder in ONNX Runtime
sessions of ``--onnx-threads`` each (:mod:`semradio.models.inference`; the same outputs within
1e-6, the work per frame about a third of eager torch's). Other options as ``jscc_rayleigh.py``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from semradio.blocks.hier import jscc_chain
from semradio.flowgraphs.app import flowgraph_main
from semradio.models.arguments import checkpoint_ref
from semradio.runtime.arguments import frame_count, nonnegative_int, positive_float, positive_int
from semradio.runtime.options import option


@dataclass
class EECDRealtimeConfig(jscc_chain.JSCCChainConfig):
    """The JSCC chain's settings (batch 1, 300 frames, 30 frames/s by default) plus EECD's."""

    frames: int = option(300, type=frame_count, help="measured frames to send (0: one pass over the data)")
    batch: int = option(1, type=positive_int, help="images per frame")
    realtime: float | None = option(30.0, type=positive_float, metavar="FPS", help="pace the source at FPS frames/s")
    steps: int = option(1, choices=(1, 2), help="EECD subsequence length s")
    eecd_model: str | None = option(None, type=checkpoint_ref("EECD"),
                                    help="EECD checkpoint (default: the shipped one for --channel)")
    deadline_ms: float | None = option(None, type=positive_float, help="per-frame deadline (default 1000/FPS)")
    threads: int = option(1, type=positive_int, help="torch CPU threads")
    warmup_frames: int = option(10, type=nonnegative_int,
                                help="frames sent before the measured --frames (start-up transient; their "
                                         "misses are reported separately as warmup_deadline_misses)")
    backend: str = option("auto", choices=("auto", "torch", "onnx"),
                          help="CPU inference of the encoder, EECD network and decoder: eager torch, or ONNX "
                               "Runtime (semradio[onnx]; exported at start, a thread budget per block); auto: "
                               "onnx on the CPU when onnxruntime is installed, else torch")
    onnx_threads: int = option(1, type=positive_int, help="--backend onnx: intra-op threads of each model's session")


def _warm_up(blocks: dict[str, Any], batch: int) -> None:
    """Run the encoder, denoiser and decoder models and the sink's metrics once on dummy inputs
    (this also performs the blocks' lazy imports)."""
    import torch

    from semradio.dsp import channel as cm
    from semradio.models import metrics as M
    from semradio.runtime import Frame

    enc, den, dec = blocks["encoder"], blocks["denoiser"], blocks["decoder"]
    codec = enc.codec
    with torch.no_grad():
        img = torch.zeros((batch, codec.in_channels, *codec.image_size), device=enc.device)
        z = codec.encode(img, 10.0)
        dec.codec.decode(z, 10.0)
    dim = int(z.shape[1])
    y = np.zeros((batch, dim), np.float32)
    h = np.ones((batch, dim // 2), np.complex64)
    yr, w_s, w_n, _ = cm.equalize(h, h, 0.1, "mmse")
    den.work(Frame(y, {"W_s": w_s, "W_n": w_n, "noise_var": 0.1, "snr_db": 10.0}))
    ref = np.zeros((batch, codec.in_channels, *codec.image_size), np.float32)
    M.ssim(ref, ref + 0.1)
    M.psnr(ref, ref + 0.1)


def use_onnx(blocks: dict[str, Any], batch: int, threads: int) -> list[str]:
    """Run the encoder's, the EECD's and the decoder's networks in ONNX Runtime
    (:class:`semradio.models.inference.OnnxModule`; CPU only). Returns what was swapped."""
    import torch

    from semradio.models.inference import OnnxModule, onnx_available

    if not onnx_available():
        raise SystemExit("eecd_realtime: --backend onnx needs onnxruntime and onnx: pip install -e \".[onnx]\"")
    enc, den, dec = blocks["encoder"], blocks["denoiser"], blocks["decoder"]
    if enc.device.type != "cpu" or den.device.type != "cpu" or dec.device.type != "cpu":
        raise SystemExit("eecd_realtime: --backend onnx runs on the CPU (use --device cpu)")
    codec = enc.codec
    with torch.no_grad():
        img = torch.zeros((batch, codec.in_channels, *codec.image_size))
        snr = codec._snr(10.0, batch, img)
        z = codec.encoder(img, snr)
        codec.encoder = OnnxModule(codec.encoder, (img, snr), threads)
        dc = dec.codec
        spatial = dc.spatial_for(int(z.shape[1]))
        dsnr = dc._snr(10.0, batch, z)
        dc.decoder = OnnxModule(dc.decoder, (z, spatial, dsnr), threads)
        d = int(z.shape[1])
        args = (torch.zeros(batch, d), torch.full((batch,), 0.5), torch.ones(batch, d), torch.ones(batch, d))
        den.net = OnnxModule(den.net, args, threads)
    return ["encoder", "eecd", "decoder"]


def run(config: EECDRealtimeConfig, scopes: Any = None) -> dict[str, Any]:
    """Build, warm up, run; the summary dict (jscc_chain.run's plus the real-time figures)."""
    import time

    import torch

    from semradio.blocks.denoisers.ve import DEFAULT_EECD, ConsistencyDenoiser
    from semradio.blocks.qtgui.gui_support import run_flowgraph
    from semradio.models.shipped import channel_family

    if config.threads:
        torch.set_num_threads(config.threads)
    if not config.realtime or config.realtime <= 0:
        raise SystemExit("eecd_realtime: --realtime FPS must be > 0")
    family = channel_family(config.channel)
    den = ConsistencyDenoiser(config.eecd_model or DEFAULT_EECD[family], device=config.device, steps=config.steps,
                              seed=config.seed, name="eecd")
    measured = config.frames
    warm = max(0, int(config.warmup_frames)) if measured > 0 else 0
    fg, blocks = jscc_chain.build(dataclasses.replace(config, frames=measured + warm), den)
    backend = config.backend
    if backend == "auto":
        from semradio.models.inference import onnx_available

        backend = "onnx" if onnx_available() and den.device.type == "cpu" else "torch"
    if backend == "onnx":
        use_onnx(blocks, config.batch, config.onnx_threads)
    _warm_up(blocks, config.batch)
    t0 = time.perf_counter()
    run_flowgraph(fg, scopes, blocks, timeout=config.timeout)
    seconds = time.perf_counter() - t0
    sink = blocks["sink"]
    s = sink.summary()
    deadline = config.deadline_ms if config.deadline_ms is not None else 1000.0 / config.realtime
    rows = sorted(sink.rows, key=lambda r: r["seq"])
    warm_lat = np.asarray([r["latency_ms"] for r in rows[:warm] if r["latency_ms"] is not None], dtype=np.float64)
    rows = rows[warm:]
    lat = np.asarray([r["latency_ms"] for r in rows if r["latency_ms"] is not None], dtype=np.float64)
    psnr = float(np.mean([r["psnr_db"] for r in rows])) if rows else None
    stats = fg.stats()
    return {
        "flowgraph": "eecd_realtime", "codec": blocks["encoder"].codec_name, "denoiser": den.model_name,
        "steps": config.steps, "channel": config.channel, "snr_db": config.snr_db, "batch": config.batch,
        "device": str(den.device), "torch_threads": torch.get_num_threads(), "backend": backend,
        "onnx_threads": config.onnx_threads if backend == "onnx" else None,
        "target_fps": config.realtime, "deadline_ms": round(deadline, 3),
        "frames": len(rows), "images": int(sum(r["images"] for r in rows)), "warmup_frames": warm,
        "warmup_deadline_misses": int(np.sum(warm_lat > deadline)), "seconds": round(seconds, 3),
        "achieved_images_per_s": None if s["images_per_s"] is None else round(s["images_per_s"], 2),
        "achieved_frames_per_s": None if s["images_per_s"] is None else round(s["images_per_s"] / config.batch, 2),
        "deadline_misses": int(np.sum(lat > deadline)),
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 3) if lat.size else None,
        "latency_p99_ms": round(float(np.percentile(lat, 99)), 3) if lat.size else None,
        "latency_max_ms": round(float(lat.max()), 3) if lat.size else None,
        "psnr_db": psnr, "ssim": float(np.mean([r["ssim"] for r in rows])) if rows else None,
        "denoiser_work_ms_per_frame": _work_ms(stats.get("eecd", {})),
        "blocks": {n: {k: c.get(k) for k in ("frames_in", "frames_out", "work_ms") if k in c} for n, c in stats.items()},
        "per_block_ms": per_block(stats),
    }


def per_block(stats: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Where a frame's latency goes, per block in flowgraph order (every frame, warm-up included):
    ``age`` p50/p99 — the frame's age (since the throttle released it) when the block starts its
    work, so the step from one block's ``age + work`` to the next one's ``age`` is the hop (queue
    wait, thread wake-up); ``work`` p50/p99 — the block's work per frame."""
    out: dict[str, dict[str, float]] = {}
    for name, c in stats.items():
        age, work = c.get("entry_age") or {}, c.get("work_per_call") or {}
        if not age and not work:
            continue
        out[name] = {"age_p50": age.get("p50_ms"), "age_p99": age.get("p99_ms"),
                     "work_p50": work.get("p50_ms"), "work_p99": work.get("p99_ms")}
    return out


def _work_ms(counters: dict[str, Any]) -> float | None:
    n, ms = counters.get("frames_in"), counters.get("work_ms")
    return round(ms / n, 3) if n and ms is not None else None


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for :func:`run`'s summary."""
    return "\n".join([
        f"eecd_realtime: {out['codec']} + {out['denoiser']} (s={out['steps']}), {out['channel']} at "
        f"{out['snr_db']:g} dB, batch {out['batch']}, device {out['device']}, {out['torch_threads']} torch thread(s), "
        f"backend {out['backend']}",
        f"  target {out['target_fps']:g} frames/s, deadline {out['deadline_ms']:.1f} ms: {out['frames']} frames, "
        f"{out['deadline_misses']} deadline misses (+ {out['warmup_deadline_misses']} in {out['warmup_frames']} "
        f"warm-up frames)",
        f"  achieved {out['achieved_images_per_s']} images/s; latency p50 {out['latency_p50_ms']} ms, "
        f"p99 {out['latency_p99_ms']} ms, max {out['latency_max_ms']} ms",
        f"  PSNR {out['psnr_db']:.2f} dB, SSIM {out['ssim']:.4f}; EECD work {out['denoiser_work_ms_per_frame']} ms/frame",
        "  per block (ms; age: frame's age when the block starts, p50/p99; work p50/p99):",
        *[f"    {n:<11} age {r['age_p50']}/{r['age_p99']}  work {r['work_p50']}/{r['work_p99']}"
          for n, r in out.get("per_block_ms", {}).items() if n != "throttle"]])


def check_config(config: EECDRealtimeConfig) -> None:
    """The chain's checks (:func:`semradio.blocks.hier.jscc_chain.check_config`), and ONNX
    Runtime installed when ``--backend onnx`` asks for it.

    Raises:
        CommandLineError: naming the option and what would be accepted.
    """
    from semradio.runtime.arguments import CommandLineError

    jscc_chain.check_config(config)
    if config.backend == "onnx":
        from semradio.models.inference import onnx_available

        if not onnx_available():
            raise CommandLineError("argument --backend: onnx needs onnxruntime and onnx (pip install -e \".[onnx]\"; "
                                   "or use --backend torch)")
        if config.device not in ("auto", "cpu"):
            raise CommandLineError(f"argument --device: {config.device!r} with --backend onnx (ONNX Runtime runs on "
                                   "the CPU: use --device cpu)")


def main(argv: list[str] | None = None) -> int:
    """The script's entry point."""
    return flowgraph_main(EECDRealtimeConfig, run, argv, doc=__doc__, summary=format_summary, check=check_config)


if __name__ == "__main__":
    raise SystemExit(main())
