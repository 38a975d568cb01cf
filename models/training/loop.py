"""The optimizer loop and the resumable training state shared by every trainer.

* :func:`lr_at` — linear warm-up then cosine decay;
* :func:`run_steps` — the loop: learning rate, loss, backward, step, running loss, hooks,
  periodic resumable saves, a tqdm bar;
* :func:`save_state` / :func:`load_state` / :func:`resume_run` — the full training state
  (weights, Adam moments, torch and numpy generator states, step, history) as safetensors +
  JSON in a run directory: nothing is pickled;
* :func:`prepare_run` — where a run keeps its state and writes its checkpoints, checked before
  any work: an existing checkpoint is never replaced without ``overwrite``.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from semradio.models import registry


#: Environment variable: a file to which :func:`run_steps` appends ``step,loss`` for every step
#: (the loss of the global batch, averaged over the processes when data-parallel).
LOSS_LOG_ENV = "SEMRADIO_LOSS_LOG"


def lr_at(step: int, total: int, lr: float, lr_min: float, warmup: int) -> float:
    """Linear warm-up over ``warmup`` steps, then cosine decay from ``lr`` to ``lr_min``::

        lr(s) = lr (s + 1) / warmup                                   s < warmup
        lr(s) = lr_min + (lr - lr_min) (1 + cos(pi u)) / 2,  u = (s - warmup) / (total - warmup)
    """
    if step < warmup:
        return lr * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return lr_min + 0.5 * (lr - lr_min) * (1.0 + math.cos(math.pi * min(1.0, t)))


def loss_log(main: bool = True) -> Any:
    """The open ``$SEMRADIO_LOSS_LOG`` file (append mode) on the main process, else None."""
    path = os.environ.get(LOSS_LOG_ENV) if main else None
    return open(path, "a") if path else None  # noqa: SIM115 - the caller closes it


def progress_interval() -> float:
    """tqdm's refresh interval: 1 s on a terminal, 30 s in a log file."""
    return 1.0 if sys.stderr.isatty() else 30.0


def run_steps(name: str, step: int, total: int, stop_at: int, opt: torch.optim.Optimizer,
              lr: tuple[float, float, int], loss_fn: Callable[[int], torch.Tensor],
              after_step: Callable[[int, float, float], None] | None = None,
              save: Callable[[int, float], None] | None = None, ckpt_every: int = 250,
              history: list[dict[str, Any]] | None = None, history_every: int = 100, elapsed: float = 0.0,
              after_backward: Callable[[], None] | None = None) -> int:
    """The optimizer loop shared by the trainers: from ``step`` up to ``stop_at`` (of ``total``)
    set the learning rate (:func:`lr_at` with ``lr = (lr, lr_min, warmup)``), take
    ``loss = loss_fn(step)``, back-propagate, step ``opt``, update the running loss (EMA 0.98),
    then call ``after_step(step, loss_avg, seconds)`` (an EMA of the weights, a periodic held-out
    evaluation; ``step`` counts the steps done). Every ``history_every`` steps the running loss
    goes to ``history`` (when given); every ``ckpt_every`` steps and at ``stop_at``,
    ``save(step, seconds)`` writes the resumable state. A tqdm bar shows loss and lr. Returns the
    step reached.

    Data-parallel (:mod:`.distributed`): the loss is averaged over the ranks, and only rank 0
    shows the bar and saves (``after_step`` runs on every rank). With ``$SEMRADIO_LOSS_LOG`` set,
    every step's loss is appended to that file as ``step,loss``."""
    from tqdm import tqdm

    from . import distributed

    main = distributed.current().main  # data-parallel: rank 0 shows the bar and saves
    log = loss_log(main)
    bar = tqdm(total=total, initial=step, desc=name, dynamic_ncols=True, mininterval=progress_interval(),
               file=sys.stderr, disable=not main)
    t_start = time.perf_counter() - elapsed
    loss_avg = None
    while step < stop_at:
        rate = lr_at(step, total, *lr)
        for g in opt.param_groups:
            g["lr"] = rate
        loss = loss_fn(step)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if after_backward is not None:  # e.g. averaging the gradients over data-parallel ranks
            after_backward()
        opt.step()
        step += 1
        lv = distributed.mean_over_ranks(loss.detach())  # the global batch's loss
        loss_avg = lv if loss_avg is None else 0.98 * loss_avg + 0.02 * lv
        if log is not None:
            log.write(f"{step},{lv!r}\n")
            log.flush()
        bar.update(1)
        bar.set_postfix(loss=f"{loss_avg:.3e}", lr=f"{rate:.1e}", refresh=False)
        if after_step is not None:
            after_step(step, loss_avg, time.perf_counter() - t_start)
        if history is not None and step % history_every == 0:
            history.append({"step": step, "seconds": round(time.perf_counter() - t_start, 1),
                            "train_loss": round(loss_avg, 5)})
        if save is not None and main and (step % ckpt_every == 0 or step == stop_at):
            save(step, time.perf_counter() - t_start)
    bar.close()
    if log is not None:
        log.close()
    if step < total:
        print(f"train: stopped at step {step} of {total}; rerun the command to resume", file=sys.stderr)
    return step


# ------------------------------------------------------------------ resumable state (no pickle)
def save_state(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
               rng: np.random.Generator, step: int, elapsed: float, meta: dict[str, Any]) -> None:
    """Write the full training state to ``path/state.{safetensors,json}`` (atomic renames)."""
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for idx, st in opt.state_dict()["state"].items():
        for key, val in st.items():
            t = val if isinstance(val, torch.Tensor) else torch.tensor(val)
            tensors[f"opt.{idx}.{key}"] = t.detach().cpu().contiguous()
    tensors["gen_state"] = gen.get_state()
    tmp = path / "state.safetensors.tmp"
    save_file(tensors, str(tmp))
    os.replace(tmp, path / "state.safetensors")
    info = dict(meta, step=step, elapsed_s=elapsed, rng_state=rng.bit_generator.state)
    (path / "state.json.tmp").write_text(json.dumps(info, indent=1))
    os.replace(path / "state.json.tmp", path / "state.json")


def load_state(path: Path, model: torch.nn.Module, opt: torch.optim.Optimizer, gen: torch.Generator,
               rng: np.random.Generator) -> dict[str, Any]:
    """Load what :func:`save_state` wrote into ``model``, ``opt``, ``gen`` and ``rng``; returns the
    JSON part (step, elapsed seconds, command, history, ...)."""
    from safetensors.torch import load_file

    tensors = load_file(str(path / "state.safetensors"))
    info = json.loads((path / "state.json").read_text())
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in tensors.items():
        if k.startswith("opt."):
            _, idx, key = k.split(".", 2)
            state.setdefault(int(idx), {})[key] = v
    sd["state"] = state
    opt.load_state_dict(sd)
    gen.set_state(tensors["gen_state"])
    rng.bit_generator.state = info["rng_state"]
    return info


def resume_run(work: Path, sig: dict[str, Any], model: torch.nn.Module, opt: torch.optim.Optimizer,
               gen: torch.Generator, rng: np.random.Generator, meta: dict[str, Any], command: str, fresh: bool,
               ignore: tuple[str, ...] = (), defaults: dict[str, Any] | None = None) -> tuple[int, float] | None:
    """Resume the run saved in ``work`` (unless ``fresh``): check its settings against ``sig``
    (keys in ``ignore``, e.g. ``steps``, may differ; a key in ``defaults`` that a run saved before
    the setting existed lacks counts as that value), load model/optimizer/RNG states, record the
    original command, history and this resuming ``command`` in ``meta``. Returns (step, elapsed
    seconds), or None when there is nothing to resume.

    Raises:
        SystemExit: the saved run has other settings (the message says to use --fresh or --name).
    """
    if fresh or not (work / "state.json").is_file():
        return None
    saved = json.loads((work / "state.json").read_text())
    args = {**(defaults or {}), **saved.get("args", {})}
    if {k: v for k, v in args.items() if k not in ignore} != sig:
        raise SystemExit(f"train: {work} holds a run with other settings; use --fresh or another --name")
    info = load_state(work, model, opt, gen, rng)
    meta.update(command=info.get("command", command), history=info.get("history", []),
                resumed_with=info.get("resumed_with", []) + [command])
    print(f"train: resuming {meta.get('name', work.name)} at step {info['step']}", file=sys.stderr)
    return int(info["step"]), float(info["elapsed_s"])


@dataclass(frozen=True)
class RunPaths:
    """Where a run keeps its resumable state (``work``) and writes its checkpoints
    (``out_dir``, a directory; the user directory unless ``--out-dir``)."""

    work: Path
    out_dir: Path
    overwrite: bool

    def output(self, name: str) -> Path:
        """The checkpoint base path for ``name`` (checked: see :func:`registry.output_base`)."""
        return registry.output_base(name, self.out_dir, self.overwrite)


def prepare_run(name: str, out_dir: str | os.PathLike | None, work_dir: str | os.PathLike | None,
                overwrite: bool, outputs: tuple[str, ...] = ()) -> RunPaths:
    """Resolve a run's directories and check, before any training, that every checkpoint it will
    write (``name`` and ``outputs``) may be written.

    Raises:
        SystemExit: a checkpoint exists and ``overwrite`` is False; one line saying what to do.
    """
    paths = RunPaths(work=Path(work_dir).expanduser() / name if work_dir else registry.user_runs_dir() / name,
                     out_dir=Path(out_dir).expanduser() if out_dir else registry.user_checkpoint_dir(),
                     overwrite=overwrite)
    for n in (name, *outputs):
        try:
            paths.output(n)
        except (FileExistsError, ValueError) as exc:
            raise SystemExit(f"train: {exc}") from None
    return paths


def set_threads(threads: int | None) -> None:
    """``torch.set_num_threads(threads)`` when given (0 or None: torch's default)."""
    if threads:
        torch.set_num_threads(int(threads))


__all__ = ["LOSS_LOG_ENV", "lr_at", "run_steps", "save_state", "load_state", "resume_run", "prepare_run", "RunPaths",
           "set_threads", "progress_interval"]
