"""Data-parallel training under ``torchrun`` (PyTorch DistributedDataParallel), at the global
batch of one process.

    torchrun --standalone --nproc_per_node 2 -m semradio.models.training.cli jscc --steps 6000
    semradio train jscc --steps 6000 --nproc 2          # the same: torchrun started for you

Families: ``jscc``, ``cddm`` (its decoder fine-tune runs on rank 0 alone), ``ve-ldm``,
``eecd`` (gradients averaged by :func:`average_gradients`: its step calls the student several
times), ``icdm-prior``, ``cdiff`` and ``cdiff-codec`` (gradients averaged by hand too, through
``run_steps``'s ``after_backward``; ``--batchnorm`` on CUDA only, through SyncBatchNorm);
``icdm-tune``, a grid search, refuses to start under torchrun (:data:`DDP_FAMILIES`).

Under torchrun (``WORLD_SIZE`` > 1) a trainer calls :func:`setup`: the process group (gloo on the
CPU, nccl on CUDA, one GPU per rank: ``cuda:LOCAL_RANK``), and a :class:`Shard` — this rank's
rows of every global batch. ``--batch`` stays the global batch: each rank trains on
``batch / world`` rows of it. Every rank draws the global batch (images, SNR, channel, diffusion
noise) from identically seeded generators and keeps its own rows
(:func:`semradio.models.link.sharded_draw`), DDP averages the gradients, so the ranks take
exactly the steps one process would take on the global batch (up to floating-point summation
order), and the resumable state (written by rank 0 only) is the one a single process writes:
a run can be resumed with any number of processes. Rank 0 alone evaluates, shows the progress
bar and writes checkpoints; the losses it logs are averaged over the ranks.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any

import torch

#: Families whose trainer runs data-parallel.
DDP_FAMILIES = ("jscc", "cddm", "ve-ldm", "eecd", "icdm-prior", "cdiff", "cdiff-codec")


@dataclass(frozen=True)
class Shard:
    """This rank's share of a global batch: rank ``rank`` of ``world`` holds rows
    ``[rank * b, (rank + 1) * b)`` with ``b = global_batch / world``."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        """Rank 0: the one that evaluates, logs and writes."""
        return self.rank == 0

    def local_batch(self, global_batch: int) -> int:
        """Rows of a global batch on this rank (the global batch must divide evenly)."""
        if global_batch % self.world:
            raise SystemExit(f"train: --batch {global_batch} does not divide among {self.world} processes; "
                             f"use a multiple of {self.world}")
        return global_batch // self.world

    def rows(self, batch: Any) -> Any:
        """This rank's rows of a global batch (the whole batch with one process)."""
        if self.world == 1:
            return batch
        b = self.local_batch(len(batch))
        return batch[self.rank * b:(self.rank + 1) * b]


def world_size() -> int:
    """``WORLD_SIZE`` of torchrun (1 outside torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1)


def active() -> bool:
    """Whether a process group is up (data-parallel training in progress)."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def current() -> Shard:
    """The shard of this process (rank 0 of 1 without a process group)."""
    if not active():
        return Shard()
    return Shard(torch.distributed.get_rank(), torch.distributed.get_world_size())


def setup(device: torch.device, family: str) -> tuple[Shard, torch.device]:
    """Start the process group when run under torchrun with more than one process, and pick this
    rank's device. Returns (shard, device); (Shard(), device) outside torchrun.

    Raises:
        SystemExit: ``family`` has no data-parallel trainer yet.
    """
    world = world_size()
    if world <= 1:
        return Shard(), device
    if family not in DDP_FAMILIES:
        raise SystemExit(f"train: {family} does not train data-parallel (only {', '.join(DDP_FAMILIES)}); "
                         f"run it in one process (no torchrun, no --nproc)")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not active():
        torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return current(), device


def wrap(model: torch.nn.Module, shard: Shard, device: torch.device) -> torch.nn.Module:
    """``model`` in DistributedDataParallel when data-parallel (broadcasts rank 0's weights),
    else ``model`` itself."""
    if shard.world == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    return DDP(model, device_ids=[device.index] if device.type == "cuda" else None)


def average_gradients(module: torch.nn.Module) -> None:
    """Average the gradients of ``module`` over the ranks in place (one all-reduce of a flat
    buffer): for trainers that call their net several times per step, where DDP's hooks do not
    fit. No-op with one process."""
    if not active() or torch.distributed.get_world_size() == 1:
        return
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    torch.distributed.all_reduce(flat)
    flat /= torch.distributed.get_world_size()
    i = 0
    for g in grads:
        g.copy_(flat[i:i + g.numel()].view_as(g))
        i += g.numel()


def mean_over_ranks(value: float | torch.Tensor) -> float:
    """The mean of a scalar over the ranks (the value itself with one process)."""
    if not active():
        return float(value)
    t = torch.as_tensor(value, dtype=torch.float64).detach().reshape(1)
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.all_reduce(t)
    return float(t.item()) / torch.distributed.get_world_size()


def barrier() -> None:
    if active():
        torch.distributed.barrier()


def cleanup(ok: bool = True) -> None:
    """Leave the process group (no-op without one). After a run that finished (``ok``) first
    wait for every rank: a rank that tears its gloo threads down while another still talks to
    it can abort at exit ("terminate called without an active exception", seen with the ICDM
    prior, whose rank 0 evaluates and writes last). After a failure no barrier: the other ranks
    may never reach it, and torchrun must see this rank exit."""
    if active():
        try:
            if ok:
                torch.distributed.barrier()
        finally:
            torch.distributed.destroy_process_group()


def launch(nproc: int, argv: list[str]) -> int:
    """Run ``semradio train ARGV`` under torchrun with ``nproc`` processes on this machine
    (``python -m torch.distributed.run --standalone --nproc_per_node N -m
    semradio.models.training.cli ARGV``); returns its exit status."""
    import subprocess

    rest, skip = [], False
    for a in argv:  # torchrun's own parser would take --nproc for --nproc-per-node
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            rest.append(a)
    argv = rest
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={int(nproc)}",
           "-m", "semradio.models.training.cli", *argv]
    print("train: " + " ".join(cmd), file=sys.stderr)
    return subprocess.call(cmd)


__all__ = ["Shard", "DDP_FAMILIES", "setup", "wrap", "average_gradients", "mean_over_ranks", "barrier", "cleanup",
           "current", "active",
           "world_size", "launch"]
