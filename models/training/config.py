"""Typed training configs: the dataclass <-> command-line mapping of
:mod:`semradio.runtime.options`, and the resume signature of a run."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

from semradio.runtime.options import add_options, cli_fields, from_namespace, option, parse_fraction, to_argv


@dataclass
class RunOptions:
    """Where and how a training run goes — the options every trainer shares: device and threads,
    where its checkpoints go (the user directory unless ``--out-dir``), whether an existing one
    may be replaced, where its resumable state lives, and resuming."""

    device: str = option("auto", help="auto (CUDA when present), cpu, cuda")
    threads: int | None = option(None, help="torch CPU threads (default: torch's)")
    out_dir: str | None = option(None, help="write the checkpoints here (default: the user checkpoint directory, "
                                            "$SEMRADIO_HOME/checkpoints)")
    work_dir: str | None = option(None, help="resumable state goes to WORK_DIR/NAME (default $SEMRADIO_HOME/runs)")
    overwrite: bool = option(False, help="replace existing checkpoints of the same names")
    fresh: bool = option(False, help="ignore a saved training state and start over")
    stop_after: int | None = option(None, metavar="N", help="save the state and exit after N more steps (train in "
                                                            "chunks; rerun the command to resume)")
    nproc: int = option(1, metavar="N", help="data-parallel processes on this machine (starts torchrun; every "
                                             "family but icdm-tune): --batch stays the global batch; one GPU per "
                                             "process on CUDA")


@dataclass
class FrozenCodecOptions(RunOptions):
    """What a denoiser trained on a frozen codec's latents is trained on: the images, the codec,
    the channel and its SNR range (shared by the CDDM and VE/EECD trainers)."""

    data: str = option("natural32", help="training images: natural32, natural64, mnist[:DIR], cifar10:PATH, "
                                         "folder:DIR[:SIZE] (default natural32); they must match the codec's input")
    codec: str | None = option(None, help="codec name (default: jscc_natural32_<channel>_cbr1-6)")
    channel: str = option("rayleigh", choices=("awgn", "rayleigh"))
    snr_db: tuple[float, float] = option((0.0, 20.0), nargs=2, metavar=("LO", "HI"))


def signature(config: Any, keys: Sequence[str]) -> dict[str, Any]:
    """``{key: value}`` of the named fields, tuples as lists and fractions as text: what a
    resumable run stores to recognise its own settings."""
    out: dict[str, Any] = {}
    for k in keys:
        v = getattr(config, k)
        out[k] = str(v) if isinstance(v, Fraction) else list(v) if isinstance(v, tuple) else v
    return out


__all__ = ["RunOptions", "FrozenCodecOptions", "option", "parse_fraction", "add_options", "from_namespace", "to_argv", "cli_fields", "signature"]
