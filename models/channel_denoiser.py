"""The diffusion channel estimator's network and its loaded, ready-to-use form.

:class:`ChannelDenoiserNet` learns ``D(x, v) = E[h | h + sqrt(v) eps = x]`` for channel grids
``h`` (rows x K complex, flattened to ``2 d`` reals ``[Re; Im]``) at any noise level ``v``
(complex variance, ``v = 1 / SNR_pilot`` on unit-power channels); the estimator math (Tweedie,
the ancestral sampler) is :mod:`semradio.dsp.ofdm.diffusion`.

Network: a residual MLP over the whole grid, conditioned on the noise level by FiLM (scale and
shift per block from a Fourier embedding of ``log sigma``), with the preconditioning of Karras
et al. ("Elucidating the design space of diffusion-based generative models"; per real
component ``sigma = sqrt(v / 2)``, ``sigma_data = sqrt(1/2)`` for unit-power channels)::

    D(x, sigma) = c_skip x + c_out F(c_in x, c_noise)
    c_skip = sd^2 / (sigma^2 + sd^2),  c_out = sigma sd / sqrt(sigma^2 + sd^2),
    c_in = 1 / sqrt(sigma^2 + sd^2),   c_noise = log(sigma) / 4

trained with ``E ||(D(h + sigma n, sigma) - h) / c_out||^2`` over log-uniform levels. With
``gaussian_skip`` the skip path ``c_skip x`` (the posterior mean of an isotropic Gaussian prior) is
replaced by the posterior mean of a Gaussian with the training grids' covariance,
``R (R + v I)^-1 x`` (LMMSE with the training statistics; ``R = U diag(lam) U^H`` stored as buffers),
so the network learns only how the channels' law departs from that Gaussian: the estimate starts
at LMMSE and the MLP adds what a few sparse paths allow beyond it (it pays where the covariance
has many significant eigenvalues, e.g. the RIS cascade's 256 entries). An MLP and
not a convolutional network: the grids are small (64 to 256 complex entries) and a channel's
structure is global across the band (a few paths: a few delays, i.e. complex exponentials over
all carriers), which one dense layer sees and a 3-tap convolution does not; on this 2-core CPU a
step costs ~30 ms at batch 256.

:class:`DiffusionChannelEstimator` loads a checkpoint (``semradio train chest``) and estimates:
``estimate(h_ls, v) -> (h_hat, expected error variance)`` in numpy; on the CPU the network runs in
numpy (:class:`NumpyDenoiser`), on CUDA in torch. The
expected error variance is the network's own held-out MSE at that level (a table measured at
the end of training and stored in the checkpoint, interpolated in log-level).

    >>> import numpy as np, torch
    >>> net = ChannelDenoiserNet(rows=1, subcarriers=8, width=32, blocks=1)
    >>> est = DiffusionChannelEstimator(net, {"scenario": "toy"})
    >>> h, var = est.estimate(np.ones((2, 1, 8), np.complex64), 0.1)
    >>> h.shape, var.shape
    ((2, 1, 8), (2,))
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from semradio.dsp.ofdm import diffusion as dm

#: Architecture name in the checkpoint JSON.
ARCHITECTURE = "channel_denoiser_mlp"
#: Standard deviation of each real component of a unit-power channel.
SIGMA_DATA = math.sqrt(0.5)


class _Block(nn.Module):
    def __init__(self, width: int, emb: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, width)
        self.fc2 = nn.Linear(width, width)
        self.film = nn.Linear(emb, 2 * width)
        nn.init.zeros_(self.fc2.weight)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, h: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(e).chunk(2, dim=-1)
        z = self.fc1(self.norm(h)) * (1.0 + scale) + shift
        return h + self.fc2(nn.functional.silu(z))


class ChannelDenoiserNet(nn.Module):
    """``D(x, v)`` for channel grids of ``rows x subcarriers`` (module docstring).

    Args:
        rows: OFDM symbols (or RIS elements) per grid.
        subcarriers: K.
        width: hidden width.
        blocks: residual blocks.
        emb: width of the noise-level embedding.

    ``forward(x, v)``: ``x`` (B, 2 d) real ``[Re; Im]`` of the flattened noisy grid, ``v`` (B,)
    complex noise variance; returns the (B, 2 d) estimate of the clean grid.
    """

    def __init__(self, rows: int, subcarriers: int, width: int = 256, blocks: int = 3, emb: int = 64,
                 gaussian_skip: bool = False) -> None:
        super().__init__()
        self.rows, self.subcarriers = int(rows), int(subcarriers)
        self.width, self.blocks, self.emb = int(width), int(blocks), int(emb)
        self.gaussian_skip = bool(gaussian_skip)
        d = self.rows * self.subcarriers
        d2 = 2 * d
        if self.gaussian_skip:
            self.register_buffer("prior_u_re", torch.eye(d))
            self.register_buffer("prior_u_im", torch.zeros(d, d))
            self.register_buffer("prior_lam", torch.full((d,), 1.0))
        self.register_buffer("freqs", torch.exp(torch.linspace(0.0, math.log(100.0), emb // 2)), persistent=False)
        self.emb_mlp = nn.Sequential(nn.Linear(emb, emb), nn.SiLU(), nn.Linear(emb, emb))
        self.inp = nn.Linear(d2, width)
        self.body = nn.ModuleList(_Block(width, emb) for _ in range(blocks))
        self.out_norm = nn.LayerNorm(width)
        self.out = nn.Linear(width, d2)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (the checkpoint's ``kwargs``)."""
        out: dict[str, Any] = {"rows": self.rows, "subcarriers": self.subcarriers, "width": self.width,
                               "blocks": self.blocks, "emb": self.emb}
        if self.gaussian_skip:
            out["gaussian_skip"] = True
        return out

    def set_prior(self, cov: np.ndarray) -> None:
        """The Gaussian part of the skip path (``gaussian_skip``): the eigen-decomposition
        ``R = U diag(lam) U^H`` of the training grids' covariance (d, d) complex."""
        if not self.gaussian_skip:
            raise ValueError("set_prior needs gaussian_skip=True")
        lam, u = np.linalg.eigh(np.asarray(cov, np.complex128))
        dev = self.prior_lam.device
        self.prior_u_re.copy_(torch.as_tensor(u.real, dtype=torch.float32, device=dev))
        self.prior_u_im.copy_(torch.as_tensor(u.imag, dtype=torch.float32, device=dev))
        self.prior_lam.copy_(torch.as_tensor(np.maximum(lam, 0.0), dtype=torch.float32, device=dev))

    def _gaussian(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``R (R + v I)^-1 x`` in real form: rows ``z = x conj(U)``, shrunk by ``lam / (lam + v)``,
        back by ``U^T``."""
        d = self.rows * self.subcarriers
        xc = torch.complex(x[:, :d], x[:, d:])
        u = torch.complex(self.prior_u_re, self.prior_u_im)
        g = self.prior_lam[None, :] / (self.prior_lam[None, :] + v[:, None])
        out = ((xc @ u.conj()) * g) @ u.T
        return torch.cat([out.real, out.imag], dim=-1)

    def forward(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        sigma = torch.sqrt(torch.clamp(v, min=1e-12) / 2.0)[:, None]
        sd2 = SIGMA_DATA ** 2
        c_skip = sd2 / (sigma ** 2 + sd2)
        c_out = sigma * SIGMA_DATA / torch.sqrt(sigma ** 2 + sd2)
        c_in = 1.0 / torch.sqrt(sigma ** 2 + sd2)
        c_noise = torch.log(sigma) / 4.0
        ang = c_noise * self.freqs[None, :]
        e = self.emb_mlp(torch.cat([torch.sin(ang), torch.cos(ang)], dim=-1))
        h = self.inp(c_in * x)
        for blk in self.body:
            h = blk(h, e)
        skip = self._gaussian(x, torch.clamp(v, min=1e-12)) if self.gaussian_skip else c_skip * x
        return skip + c_out * self.out(nn.functional.silu(self.out_norm(h)))

    @staticmethod
    def loss_weight(v: torch.Tensor) -> torch.Tensor:
        """``1 / c_out^2`` per row: the weight that makes the loss the preconditioned target's MSE."""
        sigma2 = torch.clamp(v, min=1e-12) / 2.0
        return (sigma2 + SIGMA_DATA ** 2) / (sigma2 * SIGMA_DATA ** 2)


def _silu(a: np.ndarray) -> np.ndarray:
    return a / (1.0 + np.exp(-a))


def _layer_norm(a: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    mu = a.mean(axis=-1, keepdims=True)
    var = a.var(axis=-1, keepdims=True)
    return (a - mu) / np.sqrt(var + eps) * w + b


class NumpyDenoiser:
    """:meth:`ChannelDenoiserNet.forward` in numpy (float32), for CPU inference inside a
    streaming receiver: no torch call and no torch thread pool per burst (a torch call on one
    grid costs about 0.5 ms and, with other blocks' torch work on the same cores, far more; this
    one about 0.1 ms). Written here because it is the same network, evaluated without torch;
    the tests check it against torch's output."""

    def __init__(self, net: ChannelDenoiserNet) -> None:
        sd = {k: v.detach().to("cpu", torch.float32).numpy() for k, v in net.state_dict().items()}
        sd["freqs"] = net.freqs.detach().cpu().numpy()
        self.p = sd
        self.blocks = net.blocks
        self.d = net.rows * net.subcarriers
        self.gaussian_skip = net.gaussian_skip
        if self.gaussian_skip:
            self.u = (sd["prior_u_re"] + 1j * sd["prior_u_im"]).astype(np.complex64)
            self.lam = sd["prior_lam"]

    #: Above this many rows the BLAS calls run on one thread (threadpoolctl): a multi-threaded
    #: BLAS on cores that other blocks keep busy spins (measured 551 ms against 1.9 ms for 64
    #: grids on a loaded 2-core machine); limiting costs ~0.1 ms a call, so one grid skips it.
    SINGLE_THREAD_ROWS = 8
    _controller: Any = None

    def __call__(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``x`` (B, 2 d) float32, ``v`` (B,) -> (B, 2 d) float32 (as the torch forward)."""
        if x.shape[0] <= self.SINGLE_THREAD_ROWS:
            return self._forward(x, v)
        if NumpyDenoiser._controller is None:
            from threadpoolctl import ThreadpoolController

            NumpyDenoiser._controller = ThreadpoolController()
        with NumpyDenoiser._controller.limit(limits=1, user_api="blas"):
            return self._forward(x, v)

    def _forward(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        p = self.p
        lin = lambda a, name: a @ p[name + ".weight"].T + p[name + ".bias"]  # noqa: E731
        v = np.maximum(np.asarray(v, np.float32), 1e-12)
        sigma = np.sqrt(v / 2.0)[:, None]
        sd2 = np.float32(SIGMA_DATA ** 2)
        c_skip = sd2 / (sigma ** 2 + sd2)
        c_out = sigma * np.float32(SIGMA_DATA) / np.sqrt(sigma ** 2 + sd2)
        c_in = 1.0 / np.sqrt(sigma ** 2 + sd2)
        ang = (np.log(sigma) / 4.0) * p["freqs"][None, :]
        e = lin(_silu(lin(np.concatenate([np.sin(ang), np.cos(ang)], axis=-1), "emb_mlp.0")), "emb_mlp.2")
        h = lin(c_in * x, "inp")
        for i in range(self.blocks):
            b = f"body.{i}"
            scale, shift = np.split(lin(e, f"{b}.film"), 2, axis=-1)
            z = lin(_layer_norm(h, p[f"{b}.norm.weight"], p[f"{b}.norm.bias"]), f"{b}.fc1") * (1.0 + scale) + shift
            h = h + lin(_silu(z), f"{b}.fc2")
        out = lin(_silu(_layer_norm(h, p["out_norm.weight"], p["out_norm.bias"])), "out")
        if self.gaussian_skip:
            d = self.d
            xc = x[:, :d] + 1j * x[:, d:]
            g = self.lam[None, :] / (self.lam[None, :] + v[:, None])
            s = ((xc @ self.u.conj()) * g) @ self.u.T
            skip = np.concatenate([s.real, s.imag], axis=-1)
        else:
            skip = c_skip * x
        return (skip + c_out * out).astype(np.float32)


def to_real(h: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(n, rows, K) complex -> (n, 2 rows K) float32 ``[Re; Im]``."""
    t = torch.as_tensor(h)
    t = t.reshape(t.shape[0], -1)
    return torch.cat([t.real, t.imag], dim=-1).to(torch.float32)


def to_complex(x: torch.Tensor, rows: int, subcarriers: int) -> np.ndarray:
    """Inverse of :func:`to_real`: (n, rows, K) complex64 numpy."""
    d = rows * subcarriers
    a = x.detach().to("cpu", torch.float32).numpy()
    return (a[:, :d] + 1j * a[:, d:]).astype(np.complex64).reshape(-1, rows, subcarriers)


class DiffusionChannelEstimator:
    """A trained :class:`ChannelDenoiserNet` (or, for tests, any denoiser) as a channel
    estimator: ``h_LS = h + dh`` in, ``E[h | h_LS]`` and its expected error variance out.

    Args:
        net: the network, or a :data:`semradio.dsp.ofdm.diffusion.Denoiser` on flattened
            complex grids (e.g. :func:`~semradio.dsp.ofdm.diffusion.gaussian_denoiser`).
        config: the checkpoint's JSON config (``scenario``, ``error_table``: ``{"v": [...],
            "mse": [...]}`` measured held-out errors per level), or ``{}``.
        device: "auto", "cpu" or "cuda".
        shape: ``(rows, K)`` when ``net`` is a plain function.
        batch: grids per network call.
    """

    def __init__(self, net: Any, config: dict[str, Any] | None = None, device: Any = "auto",
                 shape: tuple[int, int] | None = None, batch: int = 1024) -> None:
        from semradio.models.checkpoint import resolve_device

        self.config = dict(config or {})
        self.batch = int(batch)
        self._numpy: NumpyDenoiser | None = None
        if isinstance(net, nn.Module):
            self.device = resolve_device(device)
            self.net: Any = net.to(self.device).eval()
            self.shape = (int(net.rows), int(net.subcarriers))
            if self.device.type == "cpu":
                self._numpy = NumpyDenoiser(self.net)
        else:
            self.device = torch.device("cpu")
            self.net = net
            if shape is None:
                raise ValueError("shape=(rows, K) is needed with a plain denoiser function")
            self.shape = (int(shape[0]), int(shape[1]))
        table = self.config.get("error_table") or {}
        tv = np.asarray(table.get("v", []), np.float64)
        tm = np.asarray(table.get("mse", []), np.float64)
        ok = np.isfinite(tv) & np.isfinite(tm) & (tv > 0) & (tm > 0) if tv.shape == tm.shape else np.zeros(0, bool)
        order = np.argsort(tv[ok]) if ok.size else np.zeros(0, int)
        self._table_v, self._table_mse = tv[ok][order], tm[ok][order]      # increasing level (np.interp)

    @classmethod
    def load(cls, name_or_path: str | Path, device: Any = "auto") -> "DiffusionChannelEstimator":
        """A checkpoint by name (along the search path) or path."""
        from semradio.models.checkpoint import load_weights

        net, cfg = load_weights(name_or_path, ARCHITECTURE, lambda kw: ChannelDenoiserNet(**kw), device=device,
                                kind="channel estimator")
        return cls(net, cfg, device=device)

    @property
    def scenario(self) -> str:
        """The scenario it was trained on."""
        return str(self.config.get("scenario", "?"))

    def denoise(self, x: np.ndarray, v: np.ndarray) -> np.ndarray:
        """``D(x, v)`` on flattened complex grids ``x`` (n, d), levels ``v`` (n,): (n, d) complex128."""
        x = np.asarray(x, np.complex128)
        v = dm.as_levels(v, x.shape[0])
        if not isinstance(self.net, nn.Module):
            return np.asarray(self.net(x, v), np.complex128)
        rows, k = self.shape
        if self._numpy is not None:
            xr = np.concatenate([x.real, x.imag], axis=-1).astype(np.float32)
            r = self._numpy(xr, v)
            d = rows * k
            return r[:, :d].astype(np.complex128) + 1j * r[:, d:]
        out = np.empty_like(x)
        with torch.inference_mode():
            for i in range(0, x.shape[0], self.batch):
                sl = slice(i, i + self.batch)
                xr = to_real(x[sl].reshape(-1, rows, k)).to(self.device)
                vt = torch.as_tensor(v[sl], dtype=torch.float32, device=self.device)
                out[sl] = to_complex(self.net(xr, vt), rows, k).reshape(-1, rows * k)
        return out

    def expected_error(self, v: np.ndarray | float) -> np.ndarray:
        """Expected squared error per entry at levels ``v``: the held-out table interpolated in
        ``log v`` (outside it: the nearest entry, capped at ``v``, the LS error); ``v`` itself
        when the checkpoint has no table."""
        v = np.atleast_1d(np.asarray(v, np.float64))
        if self._table_v.size < 2:
            return v.copy()
        lt = np.log(self._table_v)
        e = np.exp(np.interp(np.log(np.maximum(v, 1e-30)), lt, np.log(np.maximum(self._table_mse, 1e-30))))
        return np.minimum(e, v)

    def estimate(self, h_ls: np.ndarray, v: float | np.ndarray, method: str = "tweedie", steps: int = 8,
                 samples: int = 4, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Estimate the channels whose LS estimates are ``h_ls``.

        Args:
            h_ls: (n, rows, K) complex, or (rows, K) / (K,) for one grid of a one-row model.
            v: LS error variance (complex), scalar or (n,).
            method: "tweedie" (one network call, the posterior mean (2)) or "ancestral" (the
                mean of ``samples`` draws of the sampler (3) over ``steps`` calls).
        Returns:
            ``(h_hat same shape as h_ls complex64, expected error variance per grid (n,))``.
        """
        h = np.asarray(h_ls)
        shape = h.shape
        rows, k = self.shape
        flat = h.reshape(-1, rows * k)
        if flat.shape[1] != rows * k:
            raise ValueError(f"grid shape {shape} does not fit the model's {self.shape}")
        lv = dm.as_levels(v, flat.shape[0])
        if method == "tweedie":
            est = dm.tweedie(self.denoise, flat, lv)
        elif method == "ancestral":
            est = dm.ancestral(self.denoise, flat, lv, steps, samples, rng).mean(axis=0)
        else:
            raise ValueError(f"method must be 'tweedie' or 'ancestral', got {method!r}")
        return est.astype(np.complex64).reshape(shape), self.expected_error(lv)


__all__ = ["ARCHITECTURE", "SIGMA_DATA", "ChannelDenoiserNet", "NumpyDenoiser", "DiffusionChannelEstimator", "to_real", "to_complex"]
