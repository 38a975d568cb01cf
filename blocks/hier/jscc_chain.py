"""The JSCC chain: the hierarchical block :class:`JSCCLink` (images in, images out) and the
typed flowgraph around it, shared by the chain flowgraphs (``flowgraphs/jscc_awgn.py``,
``jscc_rayleigh.py``, ``cddm_rayleigh.py``, ``eecd_realtime.py``), ``semradio sweep`` and the
benchmarks::

    ImageSource -> [Throttle] -> [PGDAttack] -> JSCCLink -> MetricSink (rec)
         |              |                                       ^
         +--------------+---------------------------------------+ (ref: the clean images)

    JSCCLink = JSCCEncoder -> PowerNormalizer -> channel -> MMSEEqualizer -> [denoiser]
               -> [LatentAdapter] -> JSCCDecoder

:class:`JSCCChainConfig` holds every setting (and is the command line of the flowgraph
scripts, through :mod:`semradio.runtime.options`); :func:`build` wires the graph, :func:`run`
runs it to the end of its frames and returns a summary dict.

    >>> from semradio.blocks.hier.jscc_chain import JSCCChainConfig, run
    >>> out = run(JSCCChainConfig(channel="rayleigh", snr_db=10.0, frames=5, batch=16))  # doctest: +SKIP
    >>> round(out["psnr_db"], 1)                                                           # doctest: +SKIP
    27.2
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from semradio.blocks.basic.image_source import ImageSource
from semradio.blocks.channels.fading import make_channel
from semradio.blocks.channels.power import PowerNormalizer
from semradio.blocks.codecs.jscc import JSCCDecoder, JSCCEncoder
from semradio.blocks.digital.equalizer import equalizer_for
from semradio.blocks.metrics.metric_sink import MetricSink
from semradio.models.arguments import checkpoint_ref, dataset_spec
from semradio.models.data import parse_spec
from semradio.runtime import Block, Flowgraph, HierBlock
from semradio.runtime.arguments import CommandLineError, frame_count, output_file, positive_float, positive_int
from semradio.runtime.options import option

#: CBRs with a shipped natural-patch codec.
CBR_CHOICES = ("1/6", "1/12")


@dataclass
class JSCCChainConfig:
    """Settings of a JSCC chain flowgraph (one field per command-line option).

    Each field is an option of the chain flowgraph scripts (``--snr-db``, ``--decoder-codec``:
    the field name with ``_`` -> ``-``; :mod:`semradio.runtime.options`), whose ``--help``
    (e.g. ``semradio run flowgraphs/jscc_rayleigh.py -- --help``) gives the full text of each.

    Parameters
    ----------
    frames : int, default 50
        Frames to send (-1: forever; 0: one pass over the data).
    batch : int, default 16
        Images per frame.
    snr_db : float, default 10.0
        Channel SNR in dB.
    cbr : {"1/6", "1/12"}, default "1/6"
        Channel bandwidth ratio k/(CHW) (:data:`CBR_CHOICES`).
    channel : {"awgn", "rayleigh", "rician"}, default "rayleigh"
        Channel model.
    fading : {"fast", "block"}, default "fast"
        Fading of the fading channels.
    data : str, default "natural32"
        Dataset spec: natural32 (held-out bundled photo patches), natural64, mnist[:DIR],
        cifar10:PATH, folder:DIR[:SIZE].
    split : {"eval", "train", "all"}, default "eval"
        Dataset split.
    codec : str, optional
        Codec name or checkpoint path (None: the shipped one for ``data``/``channel``/``cbr``,
        :func:`default_codec`).
    decoder_codec : str, optional
        Decoder checkpoint (None: the codec's own, or the fine-tuned decoder a denoiser asks
        for).
    encoder_codec : str, optional
        Encoder checkpoint (None: the codec's own), e.g. the PGD-robust encoder
        ``jscc_natural32_awgn_cbr1-6_robust``; its latent length and image shape must match the
        codec's.
    attack : {"none", "pgd"}, default "none"
        Attack the encoder's input: ``"pgd"`` inserts a :class:`~semradio.blocks.codecs.PGDAttack`
        (white-box against the encoder in use) before the encoder; the metric sink still compares
        with the clean images.
    eps_level : float, default 0.3
        PGD error level ``||delta||_2 / H`` on [-1, 1] images (0.3: the robust encoder's budget).
    attack_steps : int, default 20
        PGD iterations.
    adapter : str, optional
        Latent adapter checkpoint (``semradio train adapter``), applied to the received latents
        before the decoder (a :class:`~semradio.blocks.codecs.LatentAdapter`).
    denoiser : str, default "none"
        Denoiser after the equalizer: none, cddm, ve, eecd1, eecd2, or a registered block
        (plugins).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Codec device ("auto": CUDA when present).
    backend : {"auto", "torch", "onnx"}, default "auto"
        Codec inference on the CPU (see :class:`JSCCEncoder`).
    threads : int, optional
        CPU threads per compute block (None: :func:`thread_budget`).
    realtime : float, optional
        Pace the source at this many frames/s (inserts a Throttle).
    seed : int, default 0
        Channel seed.
    csv : str, optional
        Write per-frame metrics to this CSV file.
    metrics_json : str, optional
        Write the aggregated metrics to this JSON file.
    timeout : float, default 600.0
        Stop after this many seconds.
    flowgraph_name : str, optional
        The flowgraph's name (None: ``jscc_<channel>``); set from Python only, no option.

    Examples
    --------
    >>> from semradio.blocks.hier.jscc_chain import JSCCChainConfig, codec_of
    >>> config = JSCCChainConfig(channel="awgn", snr_db=5.0, device="cpu")
    >>> config.batch, codec_of(config)
    (16, 'jscc_natural32_awgn_cbr1-6')
    """

    frames: int = option(50, type=frame_count, help="frames to send (-1: forever; 0: one pass over the data)")
    batch: int = option(16, type=positive_int, help="images per frame")
    snr_db: float = option(10.0, help="channel SNR in dB")
    cbr: str = option("1/6", choices=CBR_CHOICES, help="channel bandwidth ratio k/(CHW)")
    channel: str = option("rayleigh", choices=("awgn", "rayleigh", "rician"), help="channel model")
    fading: str = option("fast", choices=("fast", "block"), help="fading channels: fast or block")
    data: str = option("natural32", type=dataset_spec,
                       help="dataset spec: natural32 (held-out bundled photo patches), natural64, "
                                         "mnist[:DIR], cifar10:PATH, folder:DIR[:SIZE]")
    split: str = option("eval", choices=("eval", "train", "all"))
    codec: str | None = option(None, type=checkpoint_ref("codec"),
                               help="codec name or checkpoint path (default: the shipped one for "
                                          "--data/--channel/--cbr)")
    decoder_codec: str | None = option(None, type=checkpoint_ref("codec"),
                                       help="decoder checkpoint (default: the codec's own, or the "
                                                  "fine-tuned decoder a denoiser asks for)")
    encoder_codec: str | None = option(None, type=checkpoint_ref("codec"),
                                       help="encoder checkpoint (default: the codec's own), e.g. the robust "
                                            "encoder jscc_natural32_awgn_cbr1-6_robust")
    attack: str = option("none", choices=("none", "pgd"),
                         help="attack the source images: pgd (white-box projected gradient ascent against the "
                              "encoder in use; the metrics still compare with the clean images)")
    eps_level: float = option(0.3, type=positive_float, help="PGD error level ||delta||_2/H on [-1, 1] images")
    attack_steps: int = option(20, type=positive_int, help="PGD iterations")
    adapter: str | None = option(None, help="latent adapter checkpoint (semradio train adapter) applied to the "
                                            "received latents before the decoder")
    denoiser: str = option("none", help="denoiser after the equalizer: none, cddm, ve, eecd1, eecd2, or a "
                                        "registered block (plugins)")
    device: str = option("auto", help="codec device: auto (CUDA when present), cpu, cuda")
    backend: str = option("auto", choices=("auto", "torch", "onnx"),
                          help="codec inference on the CPU: onnx (ONNX Runtime: the encoder and decoder run without "
                               "holding Python's lock, so they overlap on the cores), torch (eager), auto (onnx "
                               "when onnxruntime is installed)")
    threads: int | None = option(None, type=positive_int,
                                 help="CPU threads per compute block (codec sessions and torch; default: the cores "
                                      "shared out among the encoder, the decoder, the denoiser and the metrics)")
    realtime: float | None = option(None, type=positive_float, metavar="FPS",
                                    help="pace the source at FPS frames/s (inserts a Throttle)")
    seed: int = option(0, help="channel seed")
    csv: str | None = option(None, type=output_file, help="write per-frame metrics to this CSV file")
    metrics_json: str | None = option(None, type=output_file, help="write the aggregated metrics to this JSON file")
    timeout: float = option(600.0, type=positive_float, help="stop after this many seconds")
    flowgraph_name: str | None = option(None, cli=False)


def default_codec(data: str, channel: str, cbr: str) -> str:
    """Shipped codec name for a dataset spec, channel and CBR label.

    Natural patches of any size use the ``natural32`` codecs (they are fully convolutional);
    MNIST has one codec (AWGN, CBR 1/16) whatever ``channel``/``cbr`` say. Rician and
    interference channels use the Rayleigh codecs (trained on fading).
    """
    from semradio.models.checkpoint import codec_name
    from semradio.models.shipped import channel_family

    if parse_spec(data).kind == "mnist":
        return codec_name("mnist", "awgn", "1/16")
    return codec_name("natural32", channel_family(channel), str(Fraction(cbr).limit_denominator(1000)))


def check_config(config: JSCCChainConfig) -> None:
    """Check what the options name together before anything is built: the default codec of
    ``--data``/``--channel``/``--cbr`` is shipped and ``--denoiser`` is known.

    Raises:
        CommandLineError: naming the option, the bad value and what would be accepted.
    """
    from semradio.blocks.denoisers.registry import CHAIN_DENOISERS, chain_denoiser_names
    from semradio.models.registry import find_config

    if config.codec is None:
        name = default_codec(config.data, config.channel, config.cbr)
        try:
            find_config(name, kind="codec")
        except FileNotFoundError:
            raise CommandLineError(f"no shipped codec for --data {config.data} --channel {config.channel} --cbr "
                                   f"{config.cbr} (looked for {name!r}; use --codec NAME or a checkpoint "
                                   "path)") from None
    if config.encoder_codec is not None:
        check_encoder(config.encoder_codec, codec_of(config))
    if config.adapter is not None:
        from semradio.models.adapter import ARCHITECTURE, check_belongs
        from semradio.models.checkpoint import read_config

        try:
            cfg = read_config(config.adapter, kind="adapter checkpoint")
            if cfg.get("architecture") != ARCHITECTURE:
                raise ValueError(f"it is a {cfg.get('architecture')!r} checkpoint, not a latent adapter")
            check_belongs(cfg, read_config(config.decoder_codec or codec_of(config), kind="codec"))
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise CommandLineError(f"argument --adapter: {config.adapter!r}: {exc}") from None
    if config.denoiser not in CHAIN_DENOISERS:
        from semradio.runtime.registry import RegistryError, load_registry

        try:
            load_registry().resolve(config.denoiser)
        except RegistryError:
            raise CommandLineError(f"argument --denoiser: unknown denoiser {config.denoiser!r} (use one of: "
                                   f"{', '.join(chain_denoiser_names())})") from None


def check_encoder(encoder_codec: str, codec: str) -> None:
    """Raise :class:`CommandLineError` unless ``encoder_codec`` codes the same images into latents
    of the same length as ``codec`` (so the codec's decoder, denoisers and adapters apply)."""
    from semradio.models.checkpoint import read_config

    try:
        enc, ref = read_config(encoder_codec, kind="codec"), read_config(codec, kind="codec")
    except (FileNotFoundError, ValueError) as exc:
        raise CommandLineError(f"argument --encoder-codec: {exc}") from None
    for key in ("k", "image_shape"):
        if enc.get(key) != ref.get(key):
            raise CommandLineError(f"argument --encoder-codec: {encoder_codec!r} has {key} {enc.get(key)} but the "
                                   f"codec {codec!r} has {ref.get(key)} (use an encoder of the same codec)")


def codec_of(config: JSCCChainConfig) -> str:
    """The codec a chain config uses (its ``codec``, else the shipped default)."""
    return config.codec or default_codec(config.data, config.channel, config.cbr)


def thread_budget(config: JSCCChainConfig, denoiser: bool = False) -> int:
    """CPU threads for each compute block of the chain: ``config.threads``, else the cores this
    process may use (its CPU affinity, and no more than torch's thread count, which a sweep
    worker lowers) shared out among the encoder, the decoder, the metric sink and the denoiser
    when there is one, at least 1. Each codec block's ONNX Runtime session gets that many
    threads, and torch (shared by the others) the same while the chain runs: more threads than
    cores only makes them wait for each other."""
    import os

    import torch

    if config.threads is not None:
        return int(config.threads)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    cores = min(cores, torch.get_num_threads())
    return max(1, cores // (3 + int(denoiser)))


class _TorchThreads:
    """Context: ``torch.set_num_threads(n)`` inside, the previous count restored when the last of
    the chains running at once in this process leaves (torch's count is process-wide)."""

    _lock = threading.Lock()
    _active = 0
    _saved: int | None = None

    def __init__(self, n: int | None) -> None:
        self.n = n

    def __enter__(self) -> None:
        import torch

        if self.n is None:
            return
        with _TorchThreads._lock:
            if _TorchThreads._active == 0:
                _TorchThreads._saved = torch.get_num_threads()
            _TorchThreads._active += 1
            torch.set_num_threads(self.n)

    def __exit__(self, *exc: Any) -> None:
        import torch

        if self.n is None:
            return
        with _TorchThreads._lock:
            _TorchThreads._active -= 1
            if _TorchThreads._active == 0 and _TorchThreads._saved is not None:
                torch.set_num_threads(_TorchThreads._saved)
                _TorchThreads._saved = None


class JSCCLink(HierBlock):
    """The semantic link as one hierarchical block: ``JSCCEncoder -> PowerNormalizer -> channel
    -> MMSEEqualizer -> [denoiser] -> JSCCDecoder``.

    Inner blocks (named ``encoder``, ``normalizer``, ``channel``, ``equalizer``,
    [``denoiser``], [``adapter``], ``decoder``) keep their own tags and parameters (``{"snr_db": 5}`` on the
    channel's ``ctrl``). The codec blocks share out the CPU threads (:func:`thread_budget`).

    Parameters
    ----------
    config : JSCCChainConfig
        The chain's settings (codec, channel, SNR, fading, seed, device, backend, threads).
    denoiser : Block, optional
        A 1-in/1-out block between equaliser and decoder (None: none).
    decoder_codec : str, optional
        The decoder's checkpoint (default: the codec's).
    name : str, default "jscc_link"
        Name of the hierarchical block.

    Attributes
    ----------
    encoder : JSCCEncoder
    normalizer : PowerNormalizer
    channel : Block
        The channel of ``config.channel`` (:func:`~semradio.blocks.channels.fading.make_channel`).
    equalizer : Block
        The MMSE equalizer.
    denoiser : Block or None
    decoder : JSCCDecoder

    Raises
    ------
    ValueError
        At construction, from the inner blocks: a codec that cannot be loaded, an unknown
        channel, backend or thread count.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, C, H, W)
        Images in [0, 1] (the encoder's input).

    **Outputs**

    ``out`` : float32 (B, C, H, W)
        The decoded images, same shape (the decoder's output).

    **Tags read**

    Those of the inner blocks (the encoder's and decoder's ``snr_db``, ...).

    **Tags written**

    Those of the inner blocks (``cbr``, ``k``, ``codec``, the channel's ``h``, ``snr_db``, ...).

    **Run-time parameters**

    None on the link itself: set the inner blocks' (``fg.set_param(link.channel, "snr_db", 5.0)``,
    or a ``ctrl`` message to the channel).

    Examples
    --------
    >>> from semradio.blocks import ImageSource, MetricSink
    >>> from semradio.blocks.hier.jscc_chain import JSCCChainConfig, JSCCLink
    >>> from semradio.runtime import Flowgraph
    >>> link = JSCCLink(JSCCChainConfig(channel="awgn", device="cpu"))
    >>> link.input_names, link.output_names, sorted(link.roles())
    (['in'], ['out'], ['channel', 'decoder', 'encoder', 'equalizer', 'normalizer'])
    >>> fg = Flowgraph("demo")
    >>> edges = fg.connect(ImageSource(), link, (MetricSink(), "rec"))
    """

    def __init__(self, config: JSCCChainConfig, denoiser: Block | None = None, decoder_codec: str | None = None,
                 name: str = "jscc_link") -> None:
        from semradio.models.checkpoint import resolve_device

        super().__init__(name)
        codec = codec_of(config)
        device = str(resolve_device(config.device))
        budget = thread_budget(config, denoiser is not None)
        self.encoder = JSCCEncoder(config.encoder_codec or codec, device=device, snr_db=config.snr_db, name="encoder",
                                   backend=config.backend, threads=budget)
        self.normalizer = PowerNormalizer(name="normalizer")
        self.channel = make_channel(config.channel, name="channel", snr_db=config.snr_db, fading=config.fading,
                                    seed=config.seed)
        self.equalizer = equalizer_for("mmse", name="equalizer")
        self.denoiser = denoiser
        self.adapter = None
        if config.adapter is not None:
            from semradio.blocks.codecs.adapter import LatentAdapter

            self.adapter = LatentAdapter(config.adapter, codec=decoder_codec or codec, device=device, name="adapter")
        self.decoder = JSCCDecoder(decoder_codec or codec, device=device, name="decoder", backend=config.backend,
                                   threads=budget)
        chain = [self.encoder, self.normalizer, self.channel, self.equalizer]
        extra = [b for b in (denoiser, self.adapter) if b is not None]
        self.connect(*chain, *extra, self.decoder)
        self.add_input("in", self.encoder)
        self.add_output("out", self.decoder)

    def roles(self) -> dict[str, Block]:
        """The inner blocks by role (what the scopes and the summary look for)."""
        out = {"encoder": self.encoder, "normalizer": self.normalizer, "channel": self.channel,
               "equalizer": self.equalizer, "decoder": self.decoder}
        if self.denoiser is not None:
            out["denoiser"] = self.denoiser
        if self.adapter is not None:
            out["adapter"] = self.adapter
        return out


def build(config: JSCCChainConfig, denoiser: Any = None) -> tuple[Flowgraph, dict[str, Any]]:
    """The flowgraph and its blocks (``source``, [``throttle``], ``encoder``, ``normalizer``,
    ``channel``, ``equalizer``, [``denoiser``], ``decoder``, ``sink``, and ``link``, the
    :class:`JSCCLink` holding the middle ones).

    ``denoiser``: a 1-in/1-out block, or a :class:`~semradio.blocks.denoisers.registry.ChainDenoiser`
    (block + the decoder it wants); None picks ``config.denoiser`` from the registry. The decoder
    checkpoint is ``config.decoder_codec``, else the denoiser's, else the codec's.
    """
    from semradio.blocks.denoisers.registry import ChainDenoiser, make_chain_denoiser
    from semradio.models.checkpoint import resolve_device

    if denoiser is None:
        denoiser = make_chain_denoiser(config)
    wanted_decoder = None
    if isinstance(denoiser, ChainDenoiser):
        denoiser, wanted_decoder = denoiser.block, denoiser.decoder_codec
    device = resolve_device(config.device)
    fg = Flowgraph(config.flowgraph_name or f"jscc_{config.channel}")
    frames = None if config.frames == 0 else config.frames
    source = ImageSource(config.data, split=config.split, batch=config.batch, frames=frames,
                         device=None if device.type == "cpu" else str(device), name="source")
    link = JSCCLink(config, denoiser, config.decoder_codec or wanted_decoder)
    sink = MetricSink(csv_path=config.csv, json_path=config.metrics_json, name="sink")
    blocks: dict[str, Any] = {"source": source}
    head: Block = source
    if config.realtime:
        from semradio.blocks.basic.flow import Throttle

        head = blocks["throttle"] = Throttle(config.realtime, restamp=True, name="throttle")
        fg.connect(source, head)
    if config.attack == "pgd":
        from semradio.blocks.codecs.attack import PGDAttack

        attack = blocks["attack"] = PGDAttack(config.encoder_codec or codec_of(config), eps_level=config.eps_level,
                                              steps=config.attack_steps, snr_db=config.snr_db, seed=config.seed,
                                              device=str(device), name="attack")
        fg.connect(head, attack, link, (sink, "rec"))
    else:
        fg.connect(head, link, (sink, "rec"))
    fg.connect(head, (sink, "ref"))
    blocks.update(link.roles(), sink=sink, link=link)
    return fg, blocks


def summarize(config: JSCCChainConfig, fg: Flowgraph, blocks: dict[str, Any], seconds: float) -> dict[str, Any]:
    """The summary dict of a finished chain (metrics of the single group, images/s, per-block
    counters)."""
    sink: MetricSink = blocks["sink"]
    s = sink.summary()
    g = s["groups"][0] if len(s["groups"]) == 1 else None
    stats = fg.stats()
    den = blocks.get("denoiser")
    return {
        "flowgraph": fg.name,
        "codec": codec_of(config),
        "decoder_codec": blocks["decoder"].codec_name,
        "denoiser": type(den).__name__ if den is not None else "none",
        "encoder_codec": config.encoder_codec, "attack": config.attack,
        "eps_level": config.eps_level if config.attack != "none" else None,
        "adapter": blocks["adapter"].adapter_name if "adapter" in blocks else None,
        "cbr": blocks["encoder"].codec.cbr,
        "data": config.data, "split": config.split, "channel": config.channel, "snr_db": config.snr_db,
        "device": str(blocks["encoder"].device),
        "backend": "+".join(sorted(blocks["encoder"].backends_used)) or None,
        "threads_per_block": blocks["encoder"].threads,
        "frames": s["frames"], "images": s["images"], "seconds": round(seconds, 3),
        "images_per_s": round(s["images"] / seconds, 1) if seconds > 0 else None,
        **{k: None if g is None else g[k] for k in ("psnr_db", "ssim", "ms_ssim", "mse_db", "latency_p50_ms",
                                                     "latency_p99_ms")},
        "seqs_measured": len(set(sink.seqs)),
        "dataset_images": len(blocks["source"].images),
        "paced": bool(config.realtime),
        "groups": s["groups"],
        "blocks": {n: {k: c.get(k) for k in ("state", "frames_in", "frames_out", "work_ms") if k in c}
                   for n, c in stats.items()},
    }


def run(config: JSCCChainConfig, scopes: Any = None, denoiser: Any = None) -> dict[str, Any]:
    """Build (see :func:`build`), run to the end of the frames — with live scopes or snapshots
    when ``scopes`` (a :class:`~semradio.blocks.qtgui.gui_support.ScopeOptions`) asks — and
    summarize (one JSON-serialisable dict, see :func:`summarize`)."""
    from semradio.blocks.qtgui.gui_support import run_flowgraph

    fg, blocks = build(config, denoiser)
    cpu = blocks["encoder"].device.type == "cpu"
    t0 = time.perf_counter()
    with _TorchThreads(thread_budget(config, "denoiser" in blocks) if cpu else None):
        run_flowgraph(fg, scopes, blocks, timeout=config.timeout)  # fg.run() unless --gui/--snapshot
    return summarize(config, fg, blocks, time.perf_counter() - t0)


def _fmt(v: Any, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v, spec)


def caveats(out: dict[str, Any]) -> list[str]:
    """What a reader of a :func:`run` summary must know: fewer images than one pass over the
    data (not representative), more (images repeat), and latency of an unpaced run (queueing)."""
    notes = []
    n, total = out.get("images") or 0, out.get("dataset_images")
    if total and n < total:
        notes.append(f"{n} of {total} {out['data']} ({out['split']}) images: not representative of the set "
                     "(--frames 0 runs one pass)")
    elif total and n > total:
        notes.append(f"{n} images from a set of {total}: images repeat (--frames 0 runs one pass)")
    if not out.get("paced", True) and out.get("latency_p50_ms") is not None:
        notes.append("latency is queueing delay: the source is unpaced and frames wait in the queues (--realtime "
                     "FPS measures per-frame latency)")
    return notes


def format_summary(out: dict[str, Any]) -> str:
    """Human-readable lines for a :func:`run` summary (with its :func:`caveats`)."""
    cbr = Fraction(out["cbr"]).limit_denominator(1000)
    den = "" if out["denoiser"] == "none" else f", denoiser {out['denoiser']} (decoder {out['decoder_codec']})"
    return "\n".join([
        f"{out['flowgraph']}: {out['data']} ({out['split']}), codec {out['codec']} (CBR {cbr}), "
        f"{out['channel']} at {out['snr_db']:g} dB{den}, device {out['device']}",
        f"  {out['frames']} frames, {out['images']} images in {out['seconds']:.2f} s: "
        f"{_fmt(out['images_per_s'], '.1f')} images/s; latency p50 {_fmt(out['latency_p50_ms'])} ms, "
        f"p99 {_fmt(out['latency_p99_ms'])} ms",
        f"  PSNR {_fmt(out['psnr_db'])} dB, SSIM {_fmt(out['ssim'], '.4f')}, MSE {_fmt(out['mse_db'])} dB, "
        f"MS-SSIM {_fmt(out['ms_ssim'], '.4f') if out['ms_ssim'] is not None else 'n/a (images < 161 px)'}",
        *[f"  note: {c}" for c in caveats(out)]])


__all__ = ["JSCCChainConfig", "JSCCLink", "CBR_CHOICES", "build", "run", "summarize", "format_summary", "default_codec",
           "check_config", "caveats", "codec_of", "thread_budget"]
