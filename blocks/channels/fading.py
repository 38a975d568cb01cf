"""AWGN, Rayleigh and Rician channels on latent symbols (eq. 1 of the ICDM paper without interference),
and :func:`make_channel`, which picks any channel class of this family by name.

Ports, tags and random streams are described in :mod:`semradio.blocks.channels.base`.
"""

from __future__ import annotations

from typing import Any

from semradio.blocks.channels.base import _Channel, _PlainChannel
from semradio.blocks.channels.interference import InterferenceChannel
from semradio.blocks.validation import to_bool, to_choice, to_float, to_optional_int, to_seed


class AWGNChannel(_PlainChannel):
    """Additive white Gaussian noise: ``y_c = sqrt(Px) x_c + n``, ``n ~ CN(0, s2)``
    (eq. 1 of the ICDM paper with h = 1, no interference).

    Parameters
    ----------
    snr_db : float, default 10.0
        SNR ``Px/s2`` in dB (+inf: noiseless). Settable at run time.
    px : float, default 1.0
        Signal power Px; ``s2 = Px/10^(snr/10)``. Settable at run time.
    seed : int, optional
        Random seed (None: fresh entropy). Settable at run time.
    keep_noise : bool, default False
        Emit the noise draw as tag ``eval_noise``. Settable at run time.
    check_finite : bool, default True
        Reject inputs holding NaN/inf. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape or NaN/inf input.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Transmitted symbols ``x_c``.

    **Outputs**

    ``out`` : complex64 (B, k)
        ``y_c``, same container/device as the input.

    **Tags read**

    None.

    **Tags written**

    - ``h`` (ones), ``noise_var``, ``snr_db``, ``sinr_db``, ``channel="awgn"``,
      ``channel_model="awgn"``, ``px``, ``eval_h_true``, ``eval_noise`` (with ``keep_noise``);
      see the module docstring. Other tags pass through.

    **Run-time parameters**

    All of them (``snr_db``, ``px``, ``seed``, ``keep_noise``, ``check_finite``), e.g. ctrl
    ``{"snr_db": 5.0}``.

    Examples
    --------
    >>> from semradio.blocks import AWGNChannel
    >>> ch = AWGNChannel(snr_db=5.0, seed=0)
    >>> ch.param("snr_db")
    5.0
    >>> ch.set_param("snr_db", 10.0)                 # also at run time: fg.set_param(ch, "snr_db", 10.0)
    """

    channel_name = "awgn"

    def __init__(self, snr_db: float = 10.0, px: float = 1.0, seed: int | None = None,
                 keep_noise: bool = False, check_finite: bool = True, name: str | None = None) -> None:
        super().__init__(name, model="awgn", snr_db=snr_db, px=px, seed=seed, keep_noise=keep_noise,
                         check_finite=check_finite)


class RayleighChannel(_PlainChannel):
    """Rayleigh flat fading: ``y_c = sqrt(Px) h x_c + n``, ``h ~ CN(0, 1)``, ``n ~ CN(0, s2)``
    (eq. 1 of the ICDM paper, no interference).

    Fading: ``fading="fast"``: an independent h per symbol; ``fading="block"``: h constant
    over ``coherence`` consecutive symbols of an item (``coherence=None``: one h per item, i.e.
    per frame), independent across blocks and items. Imperfect CSI: the emitted ``h`` is
    ``h + e``, ``e ~ CN(0, csi_error_var)`` drawn once per coherence block; the true gains are
    in ``eval_h_true``.

    Parameters
    ----------
    snr_db : float, default 10.0
        SNR ``Px/s2`` in dB (+inf: noiseless). Settable at run time.
    fading : {"fast", "block"}, default "fast"
        Per-symbol or block fading. Settable at run time.
    coherence : int, optional
        Block fading: symbols per coherence block (None: one h per item). Settable at run time.
    csi_error_var : float, default 0.0
        Variance of the CSI error ``e`` (``h_est = h + e``). Settable at run time.
    px : float, default 1.0
        Signal power Px. Settable at run time.
    seed : int, optional
        Random seed (None: fresh entropy). Settable at run time.
    keep_noise : bool, default False
        Emit the noise draw as tag ``eval_noise``. Settable at run time.
    check_finite : bool, default True
        Reject inputs holding NaN/inf. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape or NaN/inf input.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Transmitted symbols ``x_c``.

    **Outputs**

    ``out`` : complex64 (B, k)
        ``y_c``, same container/device as the input.

    **Tags read**

    None.

    **Tags written**

    - ``h``, ``noise_var``, ``snr_db``, ``sinr_db``, ``channel="rayleigh"``, ``channel_model``,
      ``px``, ``fading``, ``coherence``, ``csi_error_var``, ``eval_h_true``, ``eval_noise`` (with
      ``keep_noise``). Others pass through.

    **Run-time parameters**

    All of them: ``snr_db``, ``px``, ``fading``, ``coherence``, ``csi_error_var``, ``seed``,
    ``keep_noise``, ``check_finite``.

    Examples
    --------
    >>> from semradio.blocks import RayleighChannel
    >>> ch = RayleighChannel(snr_db=10.0, fading="block", coherence=64, seed=0)   # one h per 64 symbols
    >>> ch.param("fading"), ch.param("coherence")
    ('block', 64)
    """

    channel_name = "rayleigh"

    def __init__(self, snr_db: float = 10.0, fading: str = "fast", coherence: int | None = None,
                 csi_error_var: float = 0.0, px: float = 1.0, seed: int | None = None,
                 keep_noise: bool = False, check_finite: bool = True, name: str | None = None) -> None:
        super().__init__(name, model="rayleigh", snr_db=snr_db, px=px, seed=seed, keep_noise=keep_noise,
                         check_finite=check_finite, fading=fading, coherence=coherence,
                         csi_error_var=csi_error_var)


class RicianChannel(_PlainChannel):
    """Rician flat fading (eqs. 15-16 of Pei et al.): ``y_c = sqrt(Px) h x_c + n`` with
    ``h = sqrt(K/(K+1)) e^{j phi} + sqrt(1/(K+1)) h_Rayleigh`` (E|h|^2 = 1; K = 0 is Rayleigh,
    K = inf a fixed phase rotation).

    Fading modes and imperfect CSI as :class:`RayleighChannel`.

    Parameters
    ----------
    snr_db : float, default 10.0
        SNR ``Px/s2`` in dB (+inf: noiseless). Settable at run time.
    k_factor : float, default 10.0
        K, linear (line-of-sight over scattered power). Settable at run time.
    los_phase : float, default 0.0
        phi, the line-of-sight phase in radians. Settable at run time.
    fading : {"fast", "block"}, default "fast"
        As :class:`RayleighChannel`. Settable at run time.
    coherence : int, optional
        As :class:`RayleighChannel`. Settable at run time.
    csi_error_var : float, default 0.0
        As :class:`RayleighChannel`. Settable at run time.
    px : float, default 1.0
        Signal power Px. Settable at run time.
    seed : int, optional
        Random seed (None: fresh entropy). Settable at run time.
    keep_noise : bool, default False
        Emit the noise draw as tag ``eval_noise``. Settable at run time.
    check_finite : bool, default True
        Reject inputs holding NaN/inf. Settable at run time.
    name : str, optional
        Block name, unique within a flowgraph (default: the class name and a counter).

    Raises
    ------
    ValueError
        Naming the block, for a wrong dtype/shape or NaN/inf input.

    Notes
    -----
    **Inputs**

    ``in`` : complex64 (B, k)
        Transmitted symbols ``x_c``.

    **Outputs**

    ``out`` : complex64 (B, k)
        ``y_c``, same container/device as the input.

    **Tags written**

    - As :class:`RayleighChannel` with ``channel="rician"``. Others pass through.

    **Run-time parameters**

    All of them: ``snr_db``, ``k_factor``, ``los_phase``, ``px``, ``fading``, ``coherence``,
    ``csi_error_var``, ``seed``, ``keep_noise``, ``check_finite``.

    Examples
    --------
    >>> from semradio.blocks import RicianChannel
    >>> ch = RicianChannel(snr_db=20.0, k_factor=10.0, seed=0)
    >>> ch.param("k_factor")
    10.0
    """

    channel_name = "rician"

    def __init__(self, snr_db: float = 10.0, k_factor: float = 10.0, los_phase: float = 0.0,
                 fading: str = "fast", coherence: int | None = None, csi_error_var: float = 0.0,
                 px: float = 1.0, seed: int | None = None, keep_noise: bool = False,
                 check_finite: bool = True, name: str | None = None) -> None:
        super().__init__(name, model="rician", snr_db=snr_db, px=px, seed=seed, keep_noise=keep_noise,
                         check_finite=check_finite, fading=fading, coherence=coherence,
                         csi_error_var=csi_error_var, k_factor=k_factor, los_phase=los_phase)


#: Channel classes by name (for scripts and sweeps).
CHANNELS: dict[str, type[_Channel]] = {
    "awgn": AWGNChannel,
    "rayleigh": RayleighChannel,
    "rician": RicianChannel,
    "interference": InterferenceChannel,
}


def make_channel(kind: str, **kwargs: Any) -> _Channel:
    """A channel block by name ("awgn", "rayleigh", "rician", "interference"); keyword
    arguments the chosen class does not take are ignored (so one CLI namespace fits all)."""
    import inspect

    try:
        cls = CHANNELS[kind]
    except KeyError:
        raise ValueError(f"unknown channel {kind!r}; expected one of {sorted(CHANNELS)}") from None
    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in kwargs.items() if k in accepted})


__all__ = ["AWGNChannel", "RayleighChannel", "RicianChannel", "CHANNELS",
           "make_channel"]
