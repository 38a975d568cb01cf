"""A sink measuring a channel's SNR, SINR and the EVM after equalization."""

from __future__ import annotations

import math
import threading
from typing import Any

import numpy as np

from semradio.runtime import Frame, SinkBlock

from semradio.dsp import arrays as A
from semradio.dsp import channel as cm
from semradio.blocks.validation import block_error, check_payload


def _db(num: float, den: float) -> float | None:
    if den <= 0.0:
        return math.inf if num > 0 else None
    return cm.linear_to_db(num / den)


class ChannelMeter(SinkBlock):
    """Measures SNR, SINR and EVM from the received frames and the transmitted reference.

    Measurements, accumulated over all frames (sums, then ratios):

    * SINR = Px sum|x|^2 / sum|sqrt(Pz) h_z z + n|^2 (eq. 1 impairment). From the evaluation
      tags when the channel kept them (``keep_noise=True``); otherwise the impairment is
      recovered from the received signal and the CSI: ``y_c - sqrt(Px) h x`` (raw input) or
      ``(y_eq - sqrt(Px) W_s x) / conj(c)`` with ``W_z = [Re c; Im c]`` (equalized input,
      symbols with c = 0 skipped), exact for perfect CSI;
    * SNR = Px sum|x|^2 / sum|n|^2 with ``n`` from ``eval_noise``; without it, SNR = SINR when
      the frame has no interference (Pz = 0), else not measured (None);
    * EVM = sqrt(sum|y_eq - x|^2 / sum|x|^2) of the (equalized) received symbols, in % and dB
      (20 log10); with MMSE it includes the W_s shrinkage;
    * post-equalization SINR = sum|sqrt(Px) W_s x|^2 / sum|y_eq - sqrt(Px) W_s x|^2 (equalized
      input only).

    Results: :meth:`summary` (thread-safe, any time).

    Parameters
    ----------
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for mismatched shapes or dtypes.

    Notes
    -----
    **Inputs** (aligned by ``seq``)

    ``rx`` : float32 (B, 2k) or complex64 (B, k)
        The received frame: real ``[Re; Im]`` from an equalizer, or complex straight from a
        channel; carrying the channel's tags.
    ``ref`` : complex64 (B, k)
        The transmitted symbols x_c (fan-out of the source).

    **Tags read**

    - ``px`` (default 1), ``pz``, ``snr_db``, ``sinr_db`` (configured, reported);
    - ``W_s``/``W_z`` (equalized input) or ``h`` (raw channel output);
    - when present, the evaluation tags ``eval_noise``, ``eval_h_z``, ``eval_z``, ``eval_h_true``.

    **Tags written**

    None (a sink).

    **Run-time parameters**

    None.

    Examples
    --------
    >>> from semradio.blocks import ChannelMeter
    >>> [p.name for p in ChannelMeter().inputs]      # received symbols, transmitted reference
    ['rx', 'ref']
    """

    def __init__(self, name: str | None = None) -> None:
        super().__init__(name)
        self.add_input("rx", dtype=None, shape=(None,))
        self.add_input("ref", dtype="complex64", shape=(None,))
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Clear the accumulated sums."""
        with self._lock:
            self._sums = {"signal": 0.0, "noise": 0.0, "impairment": 0.0, "error": 0.0, "ref": 0.0,
                          "eq_signal": 0.0, "eq_residual": 0.0}
            self._frames = 0
            self._symbols = 0
            self._snr_measured = True
            self._post_eq = True
            self._last_tags: dict[str, Any] = {}

    def work(self, rx: Frame, ref: Frame) -> None:  # type: ignore[override]
        x = ref.data
        check_payload(self, x, dtype="complex64", port="ref")
        data = rx.data
        if A.is_complex(data):
            check_payload(self, data, dtype="complex64", port="rx")
            y = data
        else:
            check_payload(self, data, dtype="float32", port="rx", even=True)
            y = cm.real_to_complex(data)
        if tuple(y.shape) != tuple(x.shape):
            raise block_error(self, f"rx (as complex {tuple(y.shape)}) and ref {tuple(x.shape)} differ in shape")
        x = A.as_like(x, y)
        tags = rx.tags
        px = float(tags.get("px", 1.0))
        pz = float(tags.get("pz", 0.0) or 0.0)
        sqrt_px = math.sqrt(px)
        equalized = "W_s" in tags and "W_z" in tags and not A.is_complex(data)

        ref_pow = float(A.abs2(x).sum())
        signal = px * ref_pow
        err = float(A.abs2(y - x).sum())

        noise_pow = None
        if "eval_noise" in tags:
            n = A.as_like(tags["eval_noise"], y)
            noise_pow = float(A.abs2(n).sum())
            imp = n
            if pz > 0.0 and "eval_z" in tags:
                hz = A.as_like(tags["eval_h_z"], y) if "eval_h_z" in tags else None
                imp = n + cm.interference_term(hz, A.as_like(tags["eval_z"], y), pz)
            imp_pow = float(A.abs2(imp).sum())
        else:
            if equalized:
                k = y.shape[-1]
                w_s = A.as_like(tags["W_s"], y)[..., :k]
                c = cm.real_to_complex(A.as_like(tags["W_z"], y))
                resid = y - sqrt_px * w_s * x
                mask = A.abs2(c) > 0
                if A.is_torch(c):
                    imp = resid[mask] / A.conj(c[mask])
                else:
                    imp = resid[mask] / np.conj(c[mask])
                # scale the sum up to all symbols so skipped ones (h = 0) do not bias the ratio
                kept = int(mask.sum())
                imp_pow = float(A.abs2(imp).sum()) * (mask.numel() if A.is_torch(mask) else mask.size) / max(kept, 1)
            else:
                h = tags.get("h")
                h = None if h is None else A.as_like(h, y)
                imp = y - (sqrt_px * (x * h if h is not None else x))
                imp_pow = float(A.abs2(imp).sum())
            if pz == 0.0:
                noise_pow = imp_pow

        with self._lock:
            s = self._sums
            s["signal"] += signal
            s["ref"] += ref_pow
            s["error"] += err
            s["impairment"] += imp_pow
            if noise_pow is None:
                self._snr_measured = False
            else:
                s["noise"] += noise_pow
            if equalized:
                k = y.shape[-1]
                w_s = A.as_like(tags["W_s"], y)[..., :k]
                sig_eq = sqrt_px * w_s * x
                s["eq_signal"] += float(A.abs2(sig_eq).sum())
                s["eq_residual"] += float(A.abs2(y - sig_eq).sum())
            else:
                self._post_eq = False
            self._frames += 1
            self._symbols += int(np.prod(tuple(y.shape)))
            self._last_tags = {key: tags[key] for key in ("snr_db", "sinr_db", "channel", "channel_model",
                                                          "fading", "equalizer", "noise_var", "pz")
                               if key in tags}
        return None

    def summary(self) -> dict[str, Any]:
        """Accumulated measurements: ``frames``, ``symbols``, ``snr_db``, ``sinr_db``,
        ``evm_percent``, ``evm_db``, ``post_eq_sinr_db`` (None when not measurable) and the
        last frame's configuration tags under ``configured``."""
        with self._lock:
            s = dict(self._sums)
            frames, symbols = self._frames, self._symbols
            snr_ok, post_ok = self._snr_measured, self._post_eq
            last = dict(self._last_tags)
        if frames == 0:
            return {"frames": 0, "symbols": 0, "snr_db": None, "sinr_db": None, "evm_percent": None,
                    "evm_db": None, "post_eq_sinr_db": None, "configured": last}
        evm = math.sqrt(s["error"] / s["ref"]) if s["ref"] > 0 else math.inf
        return {
            "frames": frames,
            "symbols": symbols,
            "snr_db": _db(s["signal"], s["noise"]) if snr_ok else None,
            "sinr_db": _db(s["signal"], s["impairment"]),
            "evm_percent": 100.0 * evm,
            "evm_db": 20.0 * math.log10(evm) if evm > 0 else -math.inf,
            "post_eq_sinr_db": _db(s["eq_signal"], s["eq_residual"]) if post_ok else None,
            "configured": last,
        }
