"""OFDM channel responses on a resource grid, drawn from 3GPP TR 38.901 models through Sionna PHY:
the training and test data of the diffusion channel estimator
(:mod:`semradio.dsp.ofdm.diffusion`, :mod:`semradio.models.channel_denoiser`).

A *grid* is complex64 ``(n, rows, K)``: ``K`` subcarriers and ``rows`` OFDM symbols (or, for the
RIS scenario, RIS elements). Scenarios (:data:`SCENARIOS`):

* ``umi-28``, ``umi-73``, ``inh-28``, ``inh-73`` — urban micro street canyon / indoor hotspot
  (open office) at 28 or 73 GHz: Sionna's system-level ``UMi`` / ``InH`` models (LSPs, clusters,
  rays; path loss and shadow fading off), one single-antenna BS (TR 38.901 element pattern,
  10 m above ground in UMi, 3 m in InH) and one omni UE (1.5 m / 1 m), drawn in Sionna's single-sector
  UMi topology, or uniformly in a 120 m x 50 m hall for InH (TR 38.901 Table 7.2-4's open office:
  Sionna ships no InH topology generator, so that one is written here); ``K = 64`` subcarriers of
  120 kHz (FR2 numerology 3), ``rows = 1`` (one pilot symbol). Each grid is normalised to unit
  mean energy (``cir_to_ofdm_channel(normalize=True)``): the estimation NMSE does not depend on
  the path loss.
* ``ris-28`` — the RIS-assisted link of "Channel Estimation for RIS-Assisted mmWave Systems via
  Diffusion Models": BS -> RIS -> UE with the direct path blocked, at 28 GHz. Two generated
  channels: BS -> RIS is UMi in line of sight (the RIS is mounted to see the BS; the RIS is the
  "UT", a 1 x ``N`` half-wavelength array of omni elements), RIS -> UE is InH (the RIS is the
  "BS" with the same array, the UE omni). The cascaded channel of element ``n`` on carrier ``k`` is
  ``C[n, k] = g[n, k] r[n, k]``; with the phase profile ``phi`` the UE sees
  ``h[k] = sum_n phi_n C[n, k]``. With ``N`` pilot slots under a DFT phase profile
  (``Phi Phi^H = N I``; :func:`dft_phase_profile`, :func:`ris_received`, :func:`ris_ls`) the LS
  estimate of ``C`` is ``C + Delta`` with i.i.d. error of variance ``sigma^2 / N`` (a slot's
  SNR ``N / sigma^2`` equals the per-element SNR of the LS estimate): that is the ``h_LS = h + Delta h`` the estimator cleans (what the slide and
  its reference leave out is assumed here: single-antenna BS and UE, ``N = 8`` elements, 32
  carriers of 120 kHz, the grid ``(N, K)`` normalised to unit mean energy).
* ``tdl-link`` — the frequency response the OFDM link's receiver (:mod:`semradio.dsp.ofdm`)
  estimates from its long training symbol: TR 38.901 TDL-A/B/C (:class:`semradio.dsp.tdl.TR38901Taps`)
  at the link's sample rate with an RMS delay spread log-uniform in 10..300 ns, seen through an
  FFT window that starts ``backoff`` (4) samples into the cyclic prefix with a timing error
  uniform in -1..+3 samples, plus 10 % flat unit-gain channels (``--channel awgn``); the
  link's used carriers (52 of 64 at 10 MHz), ``rows = 1``; not normalised per grid (the
  expected power is 1, each realisation fades).

What is Sionna's: the channel models, the topology of UMi, ``cir_to_ofdm_channel``, the antenna
patterns. What is added: the InH topology, the RIS cascade, the link's window and the data set
plumbing (seeding, sizes). Needs Sionna PHY (``pip install -e ".[phy]"``).

    >>> grids = generate_grids("umi-28", 4, seed=1)           # doctest: +SKIP
    >>> grids.shape, grids.dtype                              # doctest: +SKIP
    ((4, 1, 64), dtype('complex64'))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridScenario:
    """One scenario's generation settings.

    Attributes:
        name: the scenario's name (:data:`SCENARIOS`).
        kind: "umi", "inh", "ris" or "tdl-link".
        carrier_frequency: Hz.
        subcarriers: K, carriers per grid.
        spacing: subcarrier spacing (Hz).
        rows: OFDM symbols (or RIS elements) per grid.
    """

    name: str
    kind: str
    carrier_frequency: float
    subcarriers: int
    spacing: float
    rows: int

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, K)`` of one grid."""
        return (self.rows, self.subcarriers)


#: The scenarios by name.
SCENARIOS: dict[str, GridScenario] = {s.name: s for s in (
    GridScenario("umi-28", "umi", 28e9, 64, 120e3, 1),
    GridScenario("umi-73", "umi", 73e9, 64, 120e3, 1),
    GridScenario("inh-28", "inh", 28e9, 64, 120e3, 1),
    GridScenario("inh-73", "inh", 73e9, 64, 120e3, 1),
    GridScenario("ris-28", "ris", 28e9, 32, 120e3, 8),
    GridScenario("tdl-link", "tdl-link", 3.5e9, 52, 10e6 / 64, 1),
)}

#: Settings of the ``tdl-link`` scenario (the OFDM link's defaults).
LINK_BACKOFF = 4
LINK_TIMING_ERROR = (-1.0, 3.0)
LINK_DELAY_SPREAD = (10e-9, 300e-9)
LINK_PROFILES = ("tdl-a", "tdl-b", "tdl-c")
LINK_FLAT_FRACTION = 0.1


def scenario(name: str) -> GridScenario:
    """The :class:`GridScenario` called ``name``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown channel scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


def _seed_sionna(seed: int) -> None:
    from sionna.phy import config

    config.seed = int(seed)


def _arrays(fc: float, n_elements: int = 1, pattern: str = "omni"):  # noqa: ANN202 - Sionna types
    from sionna.phy.channel.tr38901 import PanelArray

    return PanelArray(num_rows_per_panel=1, num_cols_per_panel=n_elements, polarization="single",
                      polarization_type="V", antenna_pattern=pattern, carrier_frequency=fc)


def _inh_topology(batch: int, rng: np.random.Generator, los: bool | None = None) -> tuple:
    """A single-BS InH topology (TR 38.901 open office, 120 m x 50 m hall): BS at the hall's
    centre 3 m high, UE uniform in the hall 1 m high (one drawn within 1 m of the BS in the plane is
    moved 1 m along x; the 3-D distance is at least 2 m anyway); orientations: the BS
    faces +x... (omni elements make it irrelevant), velocities 0, every UE indoor."""
    import torch

    x = rng.uniform(-60.0, 60.0, batch)
    y = rng.uniform(-25.0, 25.0, batch)
    near = np.hypot(x, y) < 1.0
    x[near] += 1.0
    ut = torch.tensor(np.stack([x, y, np.full(batch, 1.0)], axis=-1)[:, None, :], dtype=torch.float32)
    bs = torch.tensor(np.tile([0.0, 0.0, 3.0], (batch, 1, 1)), dtype=torch.float32)
    zeros = torch.zeros(batch, 1, 3)
    in_state = torch.ones(batch, 1, dtype=torch.bool)
    return ut, bs, zeros, zeros.clone(), zeros.clone(), in_state


def _model(kind: str, fc: float, ut_array, bs_array):  # noqa: ANN001, ANN202
    from sionna.phy.channel.tr38901 import InH, UMi

    if kind == "umi":
        return UMi(fc, "low", ut_array, bs_array, "downlink", enable_pathloss=False, enable_shadow_fading=False)
    return InH(fc, ut_array, bs_array, "downlink", enable_pathloss=False, enable_shadow_fading=False)


def _ofdm(sc: GridScenario, model, topology: tuple, los: bool | None = None, rows: int = 1):  # noqa: ANN001, ANN202
    """(batch, rx_ant, tx_ant, rows, K) complex64 numpy frequency response of ``model``."""
    from sionna.phy.channel import cir_to_ofdm_channel, subcarrier_frequencies

    if los is None:
        model.set_topology(*topology)
    else:
        model.set_topology(*topology, los=los)
    a, tau = model(num_time_samples=rows, sampling_frequency=sc.spacing)
    f = subcarrier_frequencies(sc.subcarriers, sc.spacing)
    h = cir_to_ofdm_channel(f, a, tau, normalize=True)   # (B, rx, rx_ant, tx, tx_ant, rows, K)
    return h[:, 0, :, 0, :, :, :].cpu().numpy()


def _umi_topology(batch: int):  # noqa: ANN202
    from sionna.phy.channel import gen_single_sector_topology

    return gen_single_sector_topology(batch, 1, "umi")


def _unit_energy(h: np.ndarray) -> np.ndarray:
    p = np.mean(np.abs(h) ** 2, axis=tuple(range(1, h.ndim)), keepdims=True)
    return h / np.sqrt(np.maximum(p, 1e-30))


def _generate_block(sc: GridScenario, n: int, rng: np.random.Generator) -> np.ndarray:
    fc = sc.carrier_frequency
    if sc.kind in ("umi", "inh"):
        model = _model(sc.kind, fc, _arrays(fc), _arrays(fc, pattern="38.901"))
        topo = _umi_topology(n) if sc.kind == "umi" else _inh_topology(n, rng)
        h = _ofdm(sc, model, topo, rows=sc.rows)[:, 0, 0]          # (n, rows, K)
        return h
    if sc.kind == "ris":
        n_el = sc.rows
        ris = _arrays(fc, n_el)
        bs_ris = _model("umi", fc, ris, _arrays(fc, pattern="38.901"))
        g = _ofdm(sc, bs_ris, _umi_topology(n), los=True)[:, :, 0, 0, :]      # (n, N, K): RIS elements receive
        ris_ue = _model("inh", fc, _arrays(fc), ris)
        r = _ofdm(sc, ris_ue, _inh_topology(n, rng))[:, 0, :, 0, :]           # (n, N, K): RIS elements send
        return _unit_energy(g * r)
    if sc.kind == "tdl-link":
        return _link_block(sc, n, rng)
    raise ValueError(f"unknown scenario kind {sc.kind!r}")


def _link_block(sc: GridScenario, n: int, rng: np.random.Generator) -> np.ndarray:
    from semradio.dsp.ofdm.numerology import OFDMConfig
    from semradio.dsp.tdl import TR38901Taps

    cfg = OFDMConfig()
    k = cfg.used.astype(np.float64)
    out = np.empty((n, 1, k.size), np.complex128)
    profile = rng.integers(0, len(LINK_PROFILES), n)
    lo, hi = np.log(LINK_DELAY_SPREAD[0]), np.log(LINK_DELAY_SPREAD[1])
    for i in range(n):
        off = LINK_BACKOFF + rng.uniform(*LINK_TIMING_ERROR)
        if rng.random() < LINK_FLAT_FRACTION:
            out[i, 0] = np.exp(2j * math.pi * rng.random()) * np.exp(-2j * math.pi * k * off / cfg.fft_size)
            continue
        ds = float(np.exp(rng.uniform(lo, hi)))
        taps = TR38901Taps(LINK_PROFILES[profile[i]], cfg.sample_rate, delay_spread=ds,
                           seed=int(rng.integers(0, 2**31 - 1)))
        t = taps.draw(1)[0]
        lags = np.arange(t.size) - taps.lag0
        out[i, 0] = np.exp(-2j * math.pi * np.outer(k, lags + off) / cfg.fft_size) @ t
    return out


def generate_grids(name: str, n: int, seed: int = 0, chunk: int = 2000) -> np.ndarray:
    """``n`` channel grids of scenario ``name``: complex64 ``(n, rows, K)`` (module docstring).

    The same ``(name, n, seed, chunk)`` give the same grids (Sionna's generators are seeded from
    ``seed`` per chunk of ``chunk`` grids; this resets Sionna's global seed).

    Raises:
        ValueError: an unknown scenario or ``n < 1``.
        ImportError: Sionna PHY is missing (``pip install -e ".[phy]"``).
    """
    sc = scenario(name)
    if int(n) < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    parts = []
    done = 0
    block = 0
    while done < n:
        m = min(int(chunk), int(n) - done)
        s = int(np.random.SeedSequence([int(seed), block]).generate_state(1)[0])
        _seed_sionna(s)
        parts.append(_generate_block(sc, m, np.random.default_rng(s)).astype(np.complex64))
        done += m
        block += 1
    out = np.concatenate(parts)
    if not np.all(np.isfinite(out)):
        raise RuntimeError(f"{name}: the generator produced non-finite channels")
    return out


def dft_phase_profile(n: int) -> np.ndarray:
    """The RIS training phase profiles ``Phi[t, n] = exp(-j 2 pi t n / N)``: ``(N slots, N
    elements)`` complex128, unit-modulus entries, ``Phi Phi^H = N I``."""
    t = np.arange(int(n))
    return np.exp(-2j * math.pi * np.outer(t, t) / int(n))


def ris_received(cascade: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """What the UE receives in each training slot (pilot 1, no noise): ``Y[t, k] = sum_n phi[t, n]
    C[n, k]``. ``cascade`` (B, N, K), ``phi`` (T, N) -> (B, T, K)."""
    return np.einsum("tn,bnk->btk", phi, cascade)


def ris_ls(y: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """LS estimate of the cascaded channel from the slots ``y`` (B, T, K): ``pinv(Phi) Y``
    (``Phi^H Y / N`` for the DFT profile, whose error per element is the slot noise over N)."""
    return np.einsum("nt,btk->bnk", np.linalg.pinv(phi), y)


__all__ = ["GridScenario", "SCENARIOS", "scenario", "generate_grids", "dft_phase_profile", "ris_received", "ris_ls"]
