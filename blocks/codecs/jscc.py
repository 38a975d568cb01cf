"""JSCC encoder and decoder blocks wrapping a Deep JSCC / ADJSCC codec (semradio.models.jscc).

Containers and devices: the codec runs on the block's device (``device="auto"``: CUDA when
present, else CPU). The output follows the *input's container*: a numpy input gives a numpy
output (the block moves it to the device and back), a torch input gives a torch tensor on the
block's device (so on a GPU the latents and images stay there between blocks; the runtime
passes references and the channel blocks accept torch). Sources choose the container: see
``ImageSource(device=...)``.
"""

from __future__ import annotations

import logging
import math

from typing import Any

import numpy as np

from semradio.runtime import Frame, SyncBlock

from semradio.dsp import arrays as A
from semradio.blocks.validation import block_error, snr_tag

#: The codec the blocks load when none is named (shipped, natural 32x32 patches, AWGN, CBR 1/6).
DEFAULT_CODEC = "jscc_natural32_awgn_cbr1-6"
log = logging.getLogger("semradio")
#: Inference backends of the codec blocks: "torch" (eager PyTorch), "onnx" (ONNX Runtime on the
#: CPU, :func:`semradio.models.inference.onnx_codec`), "auto" (ONNX Runtime on the CPU when it is
#: installed, else torch).
BACKENDS = ("auto", "torch", "onnx")
#: "auto" runs frames of up to this many images in ONNX Runtime and larger ones in torch: at
#: batch 1 eager PyTorch is mostly dispatch (and holds Python's lock), at batch 64 its kernels
#: are faster than the one-thread session's (``semradio bench e2e``: docs/realtime.md).
AUTO_ONNX_MAX_BATCH = 16
#: Upper bound of a block's ``threads`` (a flowgraph file is untrusted: no million-thread pools).
MAX_THREADS = 256


def _load(codec: Any, device: Any) -> Any:
    from torch import nn

    from semradio.models.checkpoint import load_codec, resolve_device

    if isinstance(codec, nn.Module):
        return codec.to(resolve_device(device)).eval()
    return load_codec(codec, device)


def _no_grad() -> Any:
    import torch

    return torch.no_grad()


class _CodecBlock(SyncBlock):
    part = ""  # the codec part the block runs: "encoder" or "decoder"

    def __init__(self, codec: Any, device: str, name: str | None, backend: str = "torch", threads: int = 1) -> None:
        super().__init__(name)
        if backend not in BACKENDS:
            raise ValueError(f"{type(self).__name__} {self.name!r}: backend must be one of {BACKENDS}, got {backend!r}")
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 1 <= threads <= MAX_THREADS:
            raise ValueError(f"{type(self).__name__} {self.name!r}: threads must be an integer in 1..{MAX_THREADS}, "
                             f"got {threads!r}")
        try:
            self.codec = _load(codec, device)
        except (FileNotFoundError, ValueError) as exc:
            raise ValueError(f"{type(self).__name__} {self.name!r}: {exc}") from None
        self.codec_name = codec if isinstance(codec, str) else type(codec).__name__
        self.device = next(self.codec.parameters()).device
        self.backend, self.threads = backend, int(threads)
        self._net: Any = None  # what work() runs: the codec, or a copy whose part runs in ONNX Runtime
        self.backend_used: str | None = None  # of the last frame
        self.backends_used: set[str] = set()  # of every frame (and the start)

    def start(self) -> None:
        self.net()  # export before the first frame, not during it

    def net(self, batch: int = 1) -> Any:
        """The codec work() runs for a frame of ``batch`` images, resolving ``backend`` at the
        first call: ONNX Runtime for "onnx" (an error off the CPU or without onnxruntime) and,
        for "auto" on the CPU with onnxruntime installed, for frames of at most
        :data:`AUTO_ONNX_MAX_BATCH` images; the eager codec otherwise."""
        if self._net is None:
            self._net = self._resolve()
        net = self.codec if self.backend == "auto" and batch > AUTO_ONNX_MAX_BATCH else self._net
        self.backend_used = "torch" if net is self.codec else "onnx"
        self.backends_used.add(self.backend_used)
        return net

    def _resolve(self) -> Any:
        from semradio.models.inference import exportable_codec, onnx_available, onnx_codec

        if self.backend == "onnx":
            if self.device.type != "cpu":
                raise block_error(self, f"backend 'onnx' runs on the CPU, the codec is on {self.device}")
            if not onnx_available():
                raise block_error(self, "backend 'onnx' needs onnxruntime and onnx: pip install -e \".[onnx]\"")
            if not exportable_codec(self.codec):
                raise block_error(self, f"backend 'onnx' exports Deep JSCC codecs, not {type(self.codec).__name__}")
            try:
                return onnx_codec(self.codec, self.part, self.threads)
            except Exception as exc:  # noqa: BLE001 - the export's own errors are many kinds
                raise block_error(self, f"ONNX export failed: {type(exc).__name__}: {exc}") from None
        if self.backend == "torch" or self.device.type != "cpu" or not onnx_available() \
                or not exportable_codec(self.codec):
            return self.codec
        try:
            return onnx_codec(self.codec, self.part, self.threads)
        except Exception as exc:  # noqa: BLE001 - "auto" falls back to torch, and says so once
            log.warning("%s: ONNX export failed (%s: %s); running the codec in torch", self.name,
                        type(exc).__name__, exc)
            return self.codec

    def _to_device(self, data: Any, port: str = "in") -> tuple[Any, bool]:
        """Payload as a float32 tensor on the block's device, and whether it came as numpy."""
        import torch

        if A.is_torch(data):
            t, was_numpy = data, False
        elif isinstance(data, np.ndarray):
            t, was_numpy = torch.from_numpy(np.ascontiguousarray(data)), True
        else:
            raise block_error(self, f"input {port!r} must be a numpy array or torch tensor, got {type(data).__name__}")
        if t.dtype != torch.float32:
            raise block_error(self, f"input {port!r} must be float32, got {A.dtype_name(data)} with shape {tuple(t.shape)}")
        return t.to(self.device, non_blocking=True), was_numpy

    @staticmethod
    def _out(t: Any, as_numpy: bool) -> Any:
        return t.cpu().numpy() if as_numpy else t

    def _snr(self, frame: Frame, *, required: bool) -> float | None:
        snr = frame.tags.get("snr_db")
        if snr is None:
            snr = self.params.get("snr_db")
        if snr is None and required and getattr(self.codec, "snr_adaptive", False):
            raise block_error(self, "the codec is SNR-adaptive (ADJSCC) and the frame has no 'snr_db' tag; "
                                    "put a channel block upstream or set the block's snr_db parameter")
        if snr is None:
            return None
        return snr_tag(self, snr, *self._snr_range)

    @property
    def _snr_range(self) -> tuple[float, float]:
        """The SNR range (dB) the codec was trained over (its checkpoint's ``train.snr_db_range``),
        which an SNR-adaptive codec's input is clipped to: outside it the attention modules
        extrapolate (a receiver's 120 dB estimate on a noiseless capture cost 6 dB of PSNR)."""
        cfg = getattr(self.codec, "codec_config", None) or {}
        rng = (cfg.get("train") or {}).get("snr_db_range") if isinstance(cfg, dict) else None
        try:
            lo, hi = float(rng[0]), float(rng[1])
        except (TypeError, ValueError, IndexError):
            return (-math.inf, math.inf)
        return (lo, hi) if lo <= hi else (-math.inf, math.inf)


class JSCCEncoder(_CodecBlock):

    """JSCC encoder: images (B, C, H, W) -> real latent (B, 2k), 2k = c (H/4)(W/4).

    CBR = k / (C H W) is fixed by the codec (e.g. 1/6: k = 512 for 3x32x32). The latent is not
    power normalized: feed it to :class:`PowerNormalizer` (first half real, second half
    imaginary, §II-A of the ICDM paper).

    Parameters
    ----------
    codec : str or torch.nn.Module, default "jscc_natural32_awgn_cbr1-6"
        Registered codec name, checkpoint path, or a DeepJSCC module (:data:`DEFAULT_CODEC`).
    device : {"auto", "cpu", "cuda"}, default "auto"
        Where the codec runs ("auto": CUDA when present, else CPU).
    snr_db : float, optional
        SNR (dB) fed to an SNR-adaptive encoder when the frame has no ``snr_db`` tag (e.g. set
        from a feedback path). Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).
    backend : {"torch", "onnx", "auto"}, default "torch"
        "torch": eager PyTorch; "onnx": ONNX Runtime, CPU only, which runs the whole network
        without holding Python's GIL, so the blocks of a flowgraph overlap on several cores;
        "auto": ONNX Runtime on the CPU when installed, for frames of up to 16 images
        (:data:`AUTO_ONNX_MAX_BATCH`), torch for larger ones, whose kernels are then faster.
    threads : int, default 1
        The ONNX Runtime session's intra-op threads: the block's thread budget.

    Attributes
    ----------
    codec_name : str
        The codec's name (or its module's class name), written to tag ``codec``.
    device : torch.device
        The device the codec runs on.
    backend_used : {"torch", "onnx"} or None
        What ran the last frame (None before the first).

    Raises
    ------
    ValueError
        At construction, naming the block, for an unknown ``backend``, ``threads < 1`` or a
        codec that cannot be loaded; in ``start()``/``work()`` for backend "onnx" off the CPU
        or without onnxruntime; in ``work()`` for a wrong container/dtype/shape, or an
        SNR-adaptive codec without an SNR (no ``snr_db`` tag and no ``snr_db`` parameter).

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, C, H, W)
        Images in [0, 1], H and W divisible by 4; numpy or torch.

    **Outputs**

    ``out`` : float32 (B, 2k)
        The latent; numpy for numpy input, else a torch tensor on the block's device.

    **Tags read**

    - ``snr_db`` (SNR-adaptive codecs only, clipped to the checkpoint's training range
      ``train.snr_db_range``; the transmitter's knowledge of the SNR — falls back to the
      ``snr_db`` parameter).

    **Tags written**

    - ``cbr`` (float), ``k`` (int), ``image_size`` ((H, W), for the decoder), ``codec`` (str).

    Other tags pass through.

    **Run-time parameters**

    ``snr_db``.

    Examples
    --------
    >>> from semradio.blocks import JSCCEncoder
    >>> enc = JSCCEncoder("jscc_natural32_rayleigh_cbr1-6", device="cpu", snr_db=10.0)
    >>> enc.param("snr_db")
    10.0
    """

    part = "encoder"

    def __init__(self, codec: Any = DEFAULT_CODEC, device: str = "auto", snr_db: float | None = None,
                 name: str | None = None, backend: str = "torch", threads: int = 1) -> None:
        super().__init__(codec, device, name, backend, threads)
        self.add_input("in", dtype="float32", shape=(self.codec.in_channels, None, None))
        self.add_output("out", dtype="float32", shape=(None,))
        self.declare_param("snr_db", snr_db, "SNR (dB) the encoder assumes when frames carry no snr_db tag",
                           lambda v: None if v is None else float(v))

    @classmethod
    def example(cls) -> "JSCCEncoder":
        return cls(device="cpu")

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        x, as_numpy = self._to_device(frame.data)
        c = self.codec.in_channels
        if x.ndim != 4 or x.shape[1] != c or x.shape[2] % 4 or x.shape[3] % 4 or x.shape[0] == 0:
            raise block_error(self, f"input 'in' must be images (B, {c}, H, W) with H, W divisible by 4, "
                                    f"got {tuple(x.shape)}")
        snr = self._snr(frame, required=True)
        with _no_grad():
            z = self.net(int(x.shape[0])).encode(x, snr)
        h, w = int(x.shape[2]), int(x.shape[3])
        return frame.replace(self._out(z, as_numpy), cbr=float(self.codec.cbr), k=int(z.shape[1]) // 2,
                             image_size=(h, w), codec=self.codec_name)


class JSCCDecoder(_CodecBlock):

    """JSCC decoder: real (B, 2k) channel output (e.g. the MMSE equalizer's) -> images.

    Parameters
    ----------
    codec : str or torch.nn.Module, default "jscc_natural32_awgn_cbr1-6"
        As :class:`JSCCEncoder`.
    device : {"auto", "cpu", "cuda"}, default "auto"
        As :class:`JSCCEncoder`.
    snr_db : float, optional
        SNR (dB) used when frames carry no ``snr_db`` tag. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).
    backend : {"torch", "onnx", "auto"}, default "torch"
        As :class:`JSCCEncoder`.
    threads : int, default 1
        As :class:`JSCCEncoder`.

    Attributes
    ----------
    codec_name : str
        The codec's name (or its module's class name).
    device : torch.device
        The device the codec runs on.
    backend_used : {"torch", "onnx"} or None
        What ran the last frame (None before the first).

    Raises
    ------
    ValueError
        At construction, naming the block, as :class:`JSCCEncoder`; in ``work()`` for a wrong
        dtype/shape (a latent length that fits no image size) or an SNR-adaptive codec without
        an SNR.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, 2k)
        The real channel output; numpy or torch.

    **Outputs**

    ``out`` : float32 (B, C, H, W)
        Images in [0, 1]; numpy for numpy input, else a torch tensor on the block's device.

    **Tags read**

    - ``snr_db`` (SNR-adaptive codecs, clipped to the checkpoint's training range
      ``train.snr_db_range``: the channel's SNR tag, else the ``snr_db`` parameter);
    - ``image_size`` ((H, W) from the encoder; else the codec's size, or a square).

    **Tags written**

    None. Tags pass through.

    **Run-time parameters**

    ``snr_db``.

    Examples
    --------
    >>> from semradio.blocks import JSCCDecoder
    >>> dec = JSCCDecoder("jscc_natural32_rayleigh_cbr1-6", device="cpu")
    >>> dec.inputs[0].dtype, dec.outputs[0].dtype     # real latent (B, 2k) -> images (B, C, H, W)
    ('float32', 'float32')
    """

    part = "decoder"

    def __init__(self, codec: Any = DEFAULT_CODEC, device: str = "auto", snr_db: float | None = None,
                 name: str | None = None, backend: str = "torch", threads: int = 1) -> None:
        super().__init__(codec, device, name, backend, threads)
        self.add_input("in", dtype="float32", shape=(None,))
        self.add_output("out", dtype="float32", shape=(self.codec.in_channels, None, None))
        self.declare_param("snr_db", snr_db, "SNR (dB) used when frames carry no snr_db tag",
                           lambda v: None if v is None else float(v))

    @classmethod
    def example(cls) -> "JSCCDecoder":
        return cls(device="cpu")

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        y, as_numpy = self._to_device(frame.data)
        if y.ndim != 2 or y.shape[0] == 0:
            raise block_error(self, f"input 'in' must be real latents (B, 2k), got {tuple(y.shape)}")
        snr = self._snr(frame, required=True)
        size = frame.tags.get("image_size")
        try:
            with _no_grad():
                img = self.net(int(y.shape[0])).decode(y, snr, size)
        except ValueError as exc:
            raise block_error(self, str(exc)) from None
        return frame.replace(self._out(img, as_numpy))


__all__ = ["BACKENDS", "JSCCEncoder", "JSCCDecoder", "DEFAULT_CODEC"]
