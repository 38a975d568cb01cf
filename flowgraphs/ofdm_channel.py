"""The sample channel options shared by the OFDM flowgraphs (``ofdm_link.py``,
``ofdm_sigmf_tx.py``): one dataclass of command-line options and the
:class:`~semradio.blocks.SampleChannel` they describe.

    >>> from dataclasses import dataclass
    >>> from semradio.runtime.options import option
    >>> @dataclass
    ... class Config(SampleChannelOptions):
    ...     snr_db: float = option(10.0, help="SNR")
    >>> c = Config(channel="taps", cfo=0.3)
    >>> ch = make_sample_channel(c, c.snr_db)
    >>> round(ch.param("cfo") * 64, 3), ch.param("taps").size
    (0.3, 3)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from semradio.runtime import Block
from semradio.runtime.options import option

#: ``--channel`` choices: none (the clean waveform), noise only, explicit taps, TR 38.901.
CHANNELS = ("none", "awgn", "taps", *(f"tdl-{c}" for c in "abcde"), *(f"cdl-{c}" for c in "abcde"))
#: GNU Radio ``channel_model``'s example taps (its QA and GRC examples use a short 3-tap FIR).
DEFAULT_TAPS = "1.0,0.25+0.2j,0.1-0.05j"


@dataclass
class SampleChannelOptions:
    """The channel's settings (``--channel`` ... ``--resampler-taps``); the SNR is the including
    config's. ``--cfo`` is in subcarrier spacings of a 64-point FFT (cycles/sample x 64)."""

    channel: str = option("tdl-a", choices=CHANNELS,
                          help="sample channel: none, awgn, taps, TR 38.901 tdl-a..e / cdl-a..e (Sionna PHY)")
    taps: str = option(DEFAULT_TAPS, help="--channel taps: comma-separated complex taps (normalised to unit power)")
    delay_spread: float = option(100e-9, help="TDL/CDL RMS delay spread (s)")
    speed: float = option(0.0, help="TDL/CDL UE speed (m/s; Doppler at --carrier-frequency)")
    carrier_frequency: float = option(3.5e9, help="carrier frequency (Hz) for the Doppler")
    fading: str = option("block", choices=("block", "continuous"),
                         help="block: a new static TDL/CDL realisation per burst; continuous: one process")
    cfo: float = option(0.0, help="carrier frequency offset in subcarrier spacings")
    sro_ppm: float = option(0.0, help="sample-rate offset (ppm)")
    delay: float = option(0.0, help="constant fractional delay (samples)")
    phase_noise: float = option(0.0, help="Wiener phase noise linewidth (Hz)")
    gap_min: int = option(100, help="fewest idle samples the channel puts before a burst")
    gap_max: int = option(2000, help="most idle samples the channel puts before a burst")
    sample_rate: float = option(10e6, help="sample rate (Hz); subcarrier spacing = sample rate / 64")
    resampler_taps: int | None = option(None, help="SRO/delay interpolator taps: 8 is GNU Radio channel_model's "
                                                   "(about -28 dB error on the outer carriers), 16 about -50 dB "
                                                   "(default 16)")
    seed: int = option(0, help="channel seed")


def parse_taps(text: str) -> np.ndarray:
    """``"1,0.3+0.2j"`` -> complex taps normalised to unit total power (ValueError if malformed)."""
    try:
        taps = np.array([complex(t.strip().replace(" ", "")) for t in text.split(",") if t.strip()])
    except ValueError:
        raise ValueError(f"--taps must be comma-separated complex numbers, got {text!r}") from None
    if taps.size == 0 or not np.all(np.isfinite(taps)) or not np.any(taps):
        raise ValueError(f"--taps needs at least one finite, non-zero tap, got {text!r}")
    return taps / np.sqrt(np.sum(np.abs(taps) ** 2))


def make_sample_channel(opts: SampleChannelOptions, snr_db: float, keep_noiseless: bool = True,
                        resampler_taps: int = 16, name: str = "channel") -> Block:
    """The :class:`~semradio.blocks.SampleChannel` of ``opts`` at ``snr_db`` per sample
    (``channel="none"``: no noise, no fading; gaps, CFO and timing offsets still apply)."""
    from semradio.blocks.channels.sample_channel import SampleChannel

    kw: dict[str, Any] = {}
    if opts.channel == "taps":
        kw["taps"] = parse_taps(opts.taps)
    elif opts.channel not in ("awgn", "none"):
        kw.update(profile=opts.channel, delay_spread=opts.delay_spread, speed=opts.speed,
                  carrier_frequency=opts.carrier_frequency, fading=opts.fading)
    return SampleChannel(snr_db=math.inf if opts.channel == "none" else snr_db, cfo=opts.cfo / 64.0,
                         sro_ppm=opts.sro_ppm, delay=opts.delay, sample_rate=opts.sample_rate,
                         phase_noise_linewidth=opts.phase_noise, gap_min=opts.gap_min, gap_max=opts.gap_max,
                         seed=opts.seed, keep_noiseless=keep_noiseless,
                         resampler_taps=opts.resampler_taps or resampler_taps, name=name, **kw)


def channel_record(opts: SampleChannelOptions, snr_db: float) -> dict[str, Any]:
    """The channel's settings as a JSON-friendly dict (``{"name": "none"}`` without one)."""
    if opts.channel == "none":
        return {"name": "none"}
    rec: dict[str, Any] = {"name": opts.channel, "snr_db": snr_db, "cfo": opts.cfo,
                           "cfo_hz": opts.cfo * opts.sample_rate / 64.0, "sro_ppm": opts.sro_ppm,
                           "delay": opts.delay, "phase_noise_hz": opts.phase_noise,
                           "gap_min": opts.gap_min, "gap_max": opts.gap_max, "seed": opts.seed,
                           "model": "semradio.blocks.SampleChannel"}
    if opts.channel == "taps":
        rec["taps"] = [[float(t.real), float(t.imag)] for t in parse_taps(opts.taps)]
    elif opts.channel != "awgn":
        rec.update(delay_spread=opts.delay_spread, speed=opts.speed, carrier_frequency=opts.carrier_frequency,
                   fading=opts.fading)
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in rec.items()}


__all__ = ["CHANNELS", "DEFAULT_TAPS", "SampleChannelOptions", "parse_taps", "make_sample_channel", "channel_record"]
