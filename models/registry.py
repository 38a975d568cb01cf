"""Where checkpoints are found and written: the search path and the listing behind
``semradio checkpoints``.

A checkpoint ``NAME`` is ``NAME.json`` (architecture, constructor arguments, training command,
held-out metrics, SHA-256 of the weights) next to ``NAME.safetensors``. A bare name is looked up
along the search path, first match wins:

1. the directories of ``$SEMRADIO_CHECKPOINTS`` (``os.pathsep``-separated, as ``$PATH``);
2. the user directory, ``$SEMRADIO_HOME/checkpoints`` (``$SEMRADIO_HOME`` defaults to the
   platform's user-data directory, ``~/.local/share/semradio`` on Linux), where every trainer
   writes;
3. directories added by installed plugins through ``semradio.checkpoints`` entry points (each
   entry point loads to a path, a list of paths, or a callable returning either);
4. the checkpoints shipped inside the package (``semradio/models/checkpoints``), read-only.

A path (anything with a directory part or a ``.json``/``.safetensors`` suffix) is used as is.
Nothing here imports torch, so ``semradio checkpoints`` lists quickly.

Writing: :func:`output_base` resolves where a trainer puts ``NAME``: the user directory unless
an explicit directory is given; it refuses an existing checkpoint unless ``overwrite`` and never
writes into the shipped directory unless that directory is named explicitly.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

#: Folder of the checkpoints shipped with the package (read-only at run time).
SHIPPED_DIR = Path(__file__).resolve().parent / "checkpoints"

#: Entry-point group through which plugins add checkpoint directories.
ENTRY_POINT_GROUP = "semradio.checkpoints"

#: Architecture names of the JSON configs -> model family (as ``semradio train FAMILY`` names it).
FAMILIES: dict[str, str] = {
    "deep_jscc": "jscc",
    "vae_wgan": "vae-wgan",
    "latent_adapter": "adapter",
    "adaptive_cbr_codec": "cdiff-codec",
    "cddm_latent_score_net": "cddm",
    "ve_latent_noise_net": "ve-ldm",
    "eecd_consistency_net": "eecd",
    "icdm_prior_net": "icdm-prior",
    "cdiff_unet": "cdiff",
    "channel_denoiser_mlp": "chest",
}


def user_home() -> Path:
    """``$SEMRADIO_HOME``, else the platform's user-data directory for semradio."""
    env = os.environ.get("SEMRADIO_HOME")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("semradio", appauthor=False))


def user_checkpoint_dir() -> Path:
    """Where trainers write checkpoints: ``user_home() / "checkpoints"``."""
    return user_home() / "checkpoints"


def user_runs_dir() -> Path:
    """Where trainers keep their resumable state: ``user_home() / "runs"``."""
    return user_home() / "runs"


@dataclass(frozen=True)
class SearchDir:
    """One directory of the search path and why it is there (``env``, ``user``, ``plugin:NAME``,
    ``shipped``)."""

    path: Path
    origin: str


def _plugin_dirs() -> list[SearchDir]:
    out: list[SearchDir] = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            value = ep.load()
            value = value() if callable(value) else value
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not stop the registry
            import logging

            logging.getLogger("semradio").warning("checkpoint entry point %s failed: %s", ep.name, exc)
            continue
        paths = [value] if isinstance(value, (str, os.PathLike)) else list(value or [])
        out += [SearchDir(Path(p), f"plugin:{ep.name}") for p in paths]
    return out


def search_path() -> list[SearchDir]:
    """The directories searched for a bare checkpoint name, in order (see the module doc)."""
    dirs = [SearchDir(Path(p).expanduser(), "env")
            for p in os.environ.get("SEMRADIO_CHECKPOINTS", "").split(os.pathsep) if p]
    dirs.append(SearchDir(user_checkpoint_dir(), "user"))
    dirs += _plugin_dirs()
    dirs.append(SearchDir(SHIPPED_DIR, "shipped"))
    return dirs


def is_path(name_or_path: str | os.PathLike) -> bool:
    """Whether a checkpoint reference is a path (has a directory part or a file suffix) rather
    than a bare name to search for."""
    s = os.fspath(name_or_path)
    p = Path(s)
    return p.suffix in (".json", ".safetensors") or os.sep in s or (os.altsep or os.sep) in s or p.is_absolute()


def _base(name_or_path: str | os.PathLike) -> Path:
    p = Path(name_or_path)
    return p.with_suffix("") if p.suffix in (".json", ".safetensors") else p


def candidates(name_or_path: str | os.PathLike) -> list[Path]:
    """The JSON files a reference may denote, in the order they are tried."""
    base = _base(name_or_path)
    if is_path(name_or_path):
        return [base.with_name(base.name + ".json")]
    return [d.path / f"{base.name}.json" for d in search_path()]


def find_config(name_or_path: str | os.PathLike, kind: str = "checkpoint") -> Path:
    """The JSON config of a checkpoint reference (first match along the search path).

    Raises:
        FileNotFoundError: naming the places tried.
    """
    tried = candidates(name_or_path)
    for js in tried:
        if js.is_file():
            return js
    raise FileNotFoundError(f"no {kind} {os.fspath(name_or_path)!r}: tried {[str(c) for c in tried]} "
                            f"(`semradio checkpoints` lists the known ones)")


def read_json(path: Path) -> dict[str, Any]:
    """A checkpoint's JSON config, checked to be an object with a weights file name that stays
    in the config's directory (no path traversal)."""
    cfg = json.loads(path.read_text())
    if not isinstance(cfg, dict):
        raise ValueError(f"{path}: a checkpoint config must be a JSON object")
    weights = cfg.get("weights")
    if weights is not None and (not isinstance(weights, str) or Path(weights).name != weights):
        raise ValueError(f"{path}: 'weights' must be a file name next to the config, got {weights!r}")
    return cfg


# ------------------------------------------------------------------------------ writing
def output_base(name: str, out_dir: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
    """Where a trainer writes checkpoint ``name`` (a path without suffix).

    ``out_dir`` None: the user directory. An existing ``NAME.json`` or ``NAME.safetensors`` there is
    refused unless ``overwrite``; the shipped directory is refused unless named as ``out_dir``
    (maintainers publishing a model) and even then needs ``overwrite`` to replace a file.

    Raises:
        FileExistsError: the checkpoint exists and ``overwrite`` is False (the message says how to
            proceed).
        ValueError: ``name`` is not a plain file name.
    """
    if not name or Path(name).name != name or name in (".", ".."):
        raise ValueError(f"checkpoint name must be a plain file name, got {name!r}")
    directory = Path(out_dir).expanduser() if out_dir is not None else user_checkpoint_dir()
    base = directory / name
    existing = [p for p in (base.with_name(name + ".json"), base.with_name(name + ".safetensors")) if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"checkpoint {name!r} already exists at {existing[0]}; pass --overwrite to replace "
                              f"it or --name to choose another name")
    return base


# ------------------------------------------------------------------------------ listing
@dataclass
class CheckpointInfo:
    """One checkpoint found along the search path."""

    name: str
    family: str
    origin: str
    path: Path
    codec: str | None = None
    command: str | None = None
    metrics: str | None = None
    sha256: str | None = None
    shadows: list[str] = field(default_factory=list)
    error: str | None = None
    init: str | None = None  # the checkpoint its training started from (``--init``), when recorded
    channel: str | None = None  # the channel it was trained on (its JSON ``channel``), when recorded

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "origin": self.origin, "path": str(self.path),
                "codec": self.codec, "channel": self.channel, "init": self.init, "command": self.command,
                "metrics": self.metrics, "sha256": self.sha256, "shadows": self.shadows, "error": self.error}


def _metric_summary(cfg: dict[str, Any]) -> str | None:
    """A short held-out summary: PSNR at three of the SNRs the config lists, the lowest, the middle
    one and the highest (codecs and denoisers), or the channel NMSE (channel estimators)."""
    m = cfg.get("metrics") or {}
    by = m.get("by_snr_db") if isinstance(m, dict) else None
    if isinstance(by, dict) and by:
        items = list(by.items())
        try:
            items.sort(key=lambda kv: float(kv[0]))
        except (TypeError, ValueError):
            pass  # keys that are not numbers: the JSON's order
        if len(items) > 3:
            items = [items[0], items[len(items) // 2], items[-1]]
        parts = []
        for snr, r in items:
            if not isinstance(r, dict):
                continue
            v = r.get("psnr_db", next((r[k] for k in r if str(k).startswith("psnr_db")), None))
            if isinstance(v, (int, float)):
                parts.append(f"{snr} dB: {v:.2f}")
        if parts:
            return "PSNR " + ", ".join(parts)
        nm = [f"{snr} dB: {r['nmse_db']:.2f}" for snr, r in items
              if isinstance(r, dict) and isinstance(r.get("nmse_db"), (int, float))]
        return "NMSE " + ", ".join(nm) if nm else None
    return None


def list_checkpoints(dirs: Iterable[SearchDir] | None = None) -> list[CheckpointInfo]:
    """Every checkpoint along the search path (or ``dirs``), first occurrence of a name first;
    a later one with the same name is listed too, with ``shadows`` empty and the earlier one's
    ``shadows`` naming it (so a user model that hides a shipped one is visible)."""
    seen: dict[str, CheckpointInfo] = {}
    out: list[CheckpointInfo] = []
    for d in (search_path() if dirs is None else dirs):
        if not d.path.is_dir():
            continue
        for js in sorted(d.path.glob("*.json")):
            try:
                cfg = read_json(js)
            except (OSError, ValueError) as exc:
                out.append(CheckpointInfo(js.stem, "?", d.origin, js, error=str(exc)))
                continue
            if not isinstance(cfg.get("weights"), str) or not (js.parent / cfg["weights"]).is_file():
                continue  # not a checkpoint (or its weights are missing)
            train = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
            fine = cfg.get("finetune") if isinstance(cfg.get("finetune"), dict) else {}
            init = fine.get("base_codec") if fine else train.get("init")  # a fine-tune starts from its base
            init = init.get("codec") if isinstance(init, dict) else init
            info = CheckpointInfo(
                name=js.stem, family=FAMILIES.get(str(cfg.get("architecture")), str(cfg.get("architecture"))),
                origin=d.origin, path=js, codec=cfg.get("codec") if isinstance(cfg.get("codec"), str) else None,
                command=fine.get("command") or train.get("command"), metrics=_metric_summary(cfg),
                sha256=cfg.get("sha256") if isinstance(cfg.get("sha256"), str) else None,
                init=init if isinstance(init, str) else None,
                channel=cfg.get("channel") if isinstance(cfg.get("channel"), str) else None)
            if js.stem in seen:
                seen[js.stem].shadows.append(f"{d.origin}:{js}")
            else:
                seen[js.stem] = info
            out.append(info)
    return out


__all__ = ["SHIPPED_DIR", "ENTRY_POINT_GROUP", "FAMILIES", "SearchDir", "CheckpointInfo", "user_home",
           "user_checkpoint_dir", "user_runs_dir", "search_path", "is_path", "candidates", "find_config",
           "read_json", "output_base", "list_checkpoints"]
