"""The receiver's latent adapter block: received real latents -> adapted latents, before the
JSCC decoder (:mod:`semradio.models.adapter`; *Latent Diffusion Model-Enabled Real-Time Semantic
Communication Considering Semantic Ambiguities and Channel Noises*, Section III-D, eq. 14)."""

from __future__ import annotations

from typing import Any

import numpy as np

from semradio.blocks.validation import block_error, check_payload
from semradio.dsp import arrays as A
from semradio.runtime import Frame, SyncBlock

from .jscc import DEFAULT_CODEC


def _to_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "on", "off"):
        return value.lower() in ("true", "1", "on")
    raise ValueError(f"enabled must be a boolean, got {value!r}")


class LatentAdapter(SyncBlock):

    """Latent adapter ``g_w``: received real latents (B, 2k) -> adapted latents (B, 2k).

    Sits between the equalizer (or a latent denoiser) and :class:`JSCCDecoder`. Its weights were
    fitted one-shot at the transmitter for an out-of-distribution source (``semradio train
    adapter``) and shipped to the receiver; this block loads that checkpoint, checks it belongs
    to the codec the decoder runs (same weights SHA-256, same latent channels), and applies it.
    With no checkpoint, or ``enabled=False``, it passes the frame through unchanged (the
    in-domain case, w = 1 in eq. 14): the decoder's output is then bit-identical to the codec
    alone.

    Parameters
    ----------
    adapter : str or semradio.models.adapter.LatentAdapter, optional
        Adapter checkpoint name (along the checkpoint search path) or path, or a module; None:
        the identity.
    codec : str, default "jscc_natural32_awgn_cbr1-6"
        The codec (name or checkpoint path) the decoder runs; a checkpoint fitted for another
        codec is refused. Only its JSON config is read.
    enabled : bool, default True
        False: pass frames through unchanged. Settable at run time.
    device : {"auto", "cpu", "cuda"}, default "cpu"
        Where the adapter runs.
    name : str, optional
        Block name, unique within a flowgraph.

    Attributes
    ----------
    adapter_name : str
        The checkpoint's name, the module's class name, or "identity"; written to tag ``adapter``.
    kind : str
        The adapter's kind ("channel", "affine", ...; "identity" without one).

    Raises
    ------
    ValueError
        At construction, naming the block, for a checkpoint that cannot be read, is not an
        adapter or belongs to another codec; in ``work()`` for a payload that is not float32
        (B, 2k), holds NaN/inf, or whose length does not fit the adapter.

    Notes
    -----
    **Inputs**

    ``in`` : float32 (B, 2k)
        Received real latents (the decoder's input); numpy or torch.

    **Outputs**

    ``out`` : float32 (B, 2k)
        Adapted latents, in the input's container (numpy in, numpy out).

    **Tags written**

    - ``adapter`` (str): the adapter applied, or "identity" when disabled or absent.

    Other tags pass through.

    **Run-time parameters**

    ``enabled``.

    Examples
    --------
    >>> import numpy as np
    >>> from semradio.runtime import Frame
    >>> from semradio.blocks.codecs import LatentAdapter
    >>> blk = LatentAdapter()                       # no checkpoint: the identity
    >>> y = np.ones((2, 1024), np.float32)          # (B, 2k) received latents, CBR 1/6 on 32x32
    >>> out = blk.work(Frame(y))
    >>> bool((out.data == y).all()), out.tags["adapter"]
    (True, 'identity')
    """

    def __init__(self, adapter: Any = None, codec: str = DEFAULT_CODEC, enabled: bool = True,
                 device: str = "cpu", name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("in", dtype="float32", shape=(None,))
        self.add_output("out", dtype="float32", shape=(None,))
        self.declare_param("enabled", enabled, "apply the adapter (False: pass frames through unchanged)", _to_bool)
        self.net: Any = None
        self.adapter_name, self.kind = "identity", "identity"
        self.codec_name = str(codec)
        if adapter is None:
            return
        try:
            self._load(adapter, codec, device)
        except (FileNotFoundError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise block_error(self, f"{type(exc).__name__}: {exc}") from None

    def _load(self, adapter: Any, codec: str, device: str) -> None:
        from torch import nn

        from semradio.models.adapter import LatentAdapter as AdapterNet
        from semradio.models.adapter import check_belongs, load_adapter
        from semradio.models.checkpoint import read_config, resolve_device

        if isinstance(adapter, nn.Module):
            if not isinstance(adapter, AdapterNet):
                raise TypeError("adapter must be a semradio.models.adapter.LatentAdapter, "
                                f"got {type(adapter).__name__}")
            self.net = adapter.to(resolve_device(device)).eval()
            self.adapter_name = type(adapter).__name__
        else:
            codec_cfg = read_config(codec, kind="codec")
            net, cfg = load_adapter(adapter, codec_cfg, "cpu")
            check_belongs(cfg, codec_cfg)
            self.net = net.to(resolve_device(device))
            self.adapter_name = str(cfg.get("name", adapter))
        self.net.requires_grad_(False)
        self.kind = self.net.kind

    @classmethod
    def example(cls) -> "LatentAdapter":
        return cls()

    def work(self, frame: Frame) -> Frame:  # type: ignore[override]
        data = frame.data
        check_payload(self, data, dtype="float32")
        if self.net is None or not self.param("enabled"):
            return frame.replace(data, adapter="identity")
        try:
            self.net.check_length(int(data.shape[1]))
        except ValueError as exc:
            raise block_error(self, str(exc)) from None
        import torch

        dev = next(self.net.parameters()).device
        as_numpy = not A.is_torch(data)
        t = torch.from_numpy(np.ascontiguousarray(data)) if as_numpy else data
        try:
            with torch.no_grad():
                out = self.net(t.to(dev))
        except (ValueError, RuntimeError) as exc:
            raise block_error(self, f"{type(exc).__name__}: {exc}") from None
        out = out.cpu().numpy() if as_numpy else out.to(data.device)
        return frame.replace(out, adapter=self.adapter_name)


__all__ = ["LatentAdapter"]
