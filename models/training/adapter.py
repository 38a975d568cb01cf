"""One-shot training of a latent adapter for out-of-distribution images (transmitter side).

    semradio train adapter --data mnist-rgb32 --shots 1 --codec jscc_natural32_awgn_cbr1-6 --snr-db 10
    semradio train adapter --image my_scan.png --snr-db 0 20 --name adapter_scan

Fits a :class:`semradio.models.adapter.LatentAdapter` with :func:`semradio.models.adapter.fit_adapter`
(reconstruction MSE through the simulated link, codec frozen; see the module's docstring for the
method and the measurements behind the default kind) on the shot images: the given ``--image``
files, or ``--shots`` images of the *train* split of ``--data`` (drawn with ``--shot-seed``; the
OOD specs of :mod:`semradio.models.data` keep their eval split apart). It takes seconds, so it is
not resumable (``--max-seconds`` caps the fit). Writes ``NAME.safetensors`` + ``NAME.json`` (kind,
constructor arguments, the codec it belongs to with its weights' SHA-256, the command, the
seconds and the fit report) to the user checkpoint directory (``--out-dir`` to change it); an
existing checkpoint is replaced only with ``--overwrite``.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import RunOptions, option
from .jscc import command_line
from .loop import prepare_run, set_threads

#: The codec adapters are fitted for when none is named (shipped, natural 32x32 patches, AWGN, CBR 1/6).
DEFAULT_CODEC = "jscc_natural32_awgn_cbr1-6"


def _kinds() -> tuple[str, ...]:
    from semradio.models.adapter import KINDS

    return KINDS


@dataclass
class AdapterConfig(RunOptions):
    """Settings of ``semradio train adapter`` (one field per command-line option)."""

    image: tuple[str, ...] = option((), nargs="+", metavar="PATH",
                                    help="shot image file(s) (Pillow; RGB, centre-cropped and resized to the "
                                         "codec's image size); or use --data")
    data: str | None = option(None, help="dataset spec whose train split gives the shots: mnist-rgb32, lfw32, "
                                         "texture:brick|grass|gravel, natural32, folder:DIR[:SIZE], ...")
    shots: int = option(16, help="images drawn from the train split of --data")
    shot_seed: int = option(0, help="seed of the shot draw from --data")
    codec: str = option(DEFAULT_CODEC, help="the codec (name or checkpoint path) the adapter is fitted for")
    channel: str = option("awgn", choices=("awgn", "rayleigh"))
    snr_db: tuple[float, ...] = option((10.0,), nargs="+", metavar="DB",
                                       help="operating SNR in dB, or LO HI: one uniform draw per step")
    kind: str = option("auto", choices=("auto", "channel", "affine", "mlp2", "conv", "conv2"),
                       help="adapter kind (semradio.models.adapter.KINDS); auto: channel below 4 shots, else conv2 "
                            "(the best measured, docs/results/adapter.md)")
    steps: int = option(400)
    lr: float = option(1e-2)
    batch: int = option(16)
    shift: int = option(3, help="random translations of up to SHIFT pixels of the shots (augmentation)")
    no_flips: bool = option(False, help="do not add the shots' mirror images")
    max_seconds: float = option(7.0, help="wall-time budget of the fit (seconds)")
    seed: int = option(0)
    name: str | None = option(None, help="checkpoint name (default adapter_<codec>_<data or image>)")


def load_shot_images(paths: tuple[str, ...] | list[str], in_channels: int, size: tuple[int, int]) -> np.ndarray:
    """Image files -> (N, C, H, W) float32 in [0, 1]: converted to RGB (C = 3) or grey (C = 1),
    centre-cropped to a square and resized (bicubic) to ``size``."""
    from PIL import Image

    from semradio.models.data import _resize_crop

    if size[0] != size[1]:
        raise ValueError(f"shot images are cropped square; the codec's size is {size}")
    out = []
    for p in paths:
        if not Path(p).is_file():
            raise FileNotFoundError(f"shot image {p} does not exist")
        with Image.open(p) as im:
            a = np.asarray(_resize_crop(im.convert("RGB" if in_channels == 3 else "L"), size[0]), np.float32) / 255.0
        out.append(a[None] if a.ndim == 2 else a.transpose(2, 0, 1))
    return np.stack(out)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "images"


def train_adapter(config: AdapterConfig, data: Any = None, command: str | None = None) -> dict[str, Any]:
    """Fit, save and return the checkpoint's JSON config (``data`` overrides ``config.data``)."""
    from semradio.models import data as D
    from semradio.models.adapter import fit_adapter, kind_for_shots, save_adapter
    from semradio.models.checkpoint import load_codec, resolve_device

    args = config
    spec = data if data is not None else args.data
    if bool(args.image) == bool(spec):
        raise SystemExit("train adapter: give the shots either as --image PATH [PATH ...] or as --data SPEC --shots N")
    if len(args.snr_db) not in (1, 2):
        raise SystemExit(f"train adapter: --snr-db takes one value or LO HI, got {list(args.snr_db)}")
    if args.shots < 1 or args.steps < 1 or args.batch < 1 or args.shift < 0:
        raise SystemExit("train adapter: --shots, --steps, --batch must be >= 1 and --shift >= 0")
    set_threads(args.threads)
    device = resolve_device(args.device)
    codec = load_codec(args.codec, device)
    size = tuple(codec.image_size)
    if args.image:
        shots = load_shot_images(args.image, codec.in_channels, size)
        source = {"images": [str(p) for p in args.image]}
        tag = _slug(Path(args.image[0]).stem)
    else:
        pool = D.load_images(str(spec), "train")
        shots = D.subset(pool, args.shots, seed=args.shot_seed)
        source = {"data": str(spec), "split": "train", "shots": int(len(shots)), "shot_seed": args.shot_seed}
        tag = _slug(str(spec).replace(":", "-"))
    codec_name = Path(str(args.codec)).stem
    name = args.name or f"adapter_{codec_name}_{tag}"
    run = prepare_run(name, args.out_dir, args.work_dir, args.overwrite)
    snr = args.snr_db[0] if len(args.snr_db) == 1 else tuple(args.snr_db)
    kind = kind_for_shots(args.kind, len(shots))
    adapter, report = fit_adapter(codec, shots, args.channel, snr, steps=args.steps, lr=args.lr, kind=kind,
                                  seed=args.seed, batch=args.batch, max_seconds=args.max_seconds,
                                  flips=not args.no_flips, shift=args.shift)
    command = command_line("adapter", config, command)
    out = {
        "name": name,
        "description": f"{kind} latent adapter ({report['parameters']} parameters) for codec {codec_name}, "
                       f"fitted one-shot on {source}",
        "train": dict(command=command, **source, channel=args.channel, snr_db=list(args.snr_db),
                      device=str(device), threads=torch.get_num_threads(), seconds=report["seconds"],
                      torch=torch.__version__, report=report),
    }
    js = save_adapter(adapter.cpu(), run.output(name), codec, out, overwrite=args.overwrite)
    print(f"train: wrote {js}: {kind} adapter, {report['parameters']} parameters, {report['steps']} steps in "
          f"{report['seconds']:.1f} s, shot loss {report['loss_first']:.4g} -> {report['loss_last']:.4g}",
          file=sys.stderr)
    return out


__all__ = ["AdapterConfig", "train_adapter", "load_shot_images", "DEFAULT_CODEC"]
