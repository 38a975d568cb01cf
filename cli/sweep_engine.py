"""The machinery of ``semradio sweep``: a grid of points, a file-backed results table, and the
engines that run the points (a local process pool, or Ray).

* :class:`Grid` — the axes (``channel x snr_db x denoiser x ...``), the fixed parameters, the
  builder (``"module:function"``, ``function(params) -> dict`` of results, marked with
  :func:`sweep_builder`: a grid file can name no other function) and a seed. Every
  point gets its own seed derived from the grid's seed and the point's parameters
  (:meth:`Grid.points`), so a result never depends on where, in which process or in which
  order its point ran.
* :class:`ResultTable` — SQLite (standard library): one row per point (parameters, results,
  attempts, error, seconds, worker, checkpoint hashes) and one row per run (the grid, the code
  version, the engine). A point is committed as soon as it finishes, so an interrupted sweep
  keeps what it did and a rerun runs only the missing (or failed) points.
* :func:`run_points` — the engines: ``local`` (a ``spawn`` process pool of ``workers``
  processes, each loading its models once: :func:`enable_model_cache`) and ``ray`` (one Ray actor
  per worker, models loaded once per actor; a local Ray without ``address``, else the cluster at
  ``address``). A point that raises is retried once, then recorded as failed.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

#: The default builder: one JSCC chain flowgraph over the held-out data.
DEFAULT_BUILDER = "semradio.cli.sweep:jscc_point"
ENGINES = ("local", "ray")


# ------------------------------------------------------------------------------------ the grid
def canonical(obj: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): the identity of a point."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def point_seed(grid_seed: int, params: dict[str, Any]) -> int:
    """A 31-bit seed for a point: SHA-256 of the grid seed and the point's canonical parameters.
    Depends on nothing else (not the worker, not the order)."""
    digest = hashlib.sha256(f"{int(grid_seed)}|{canonical(params)}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (2 ** 31 - 1)


@dataclass
class Point:
    """One grid point: its parameters (fixed ones, the axes' values and ``seed``) and its key."""

    params: dict[str, Any]

    @property
    def key(self) -> str:
        return hashlib.sha256(canonical(self.params).encode()).hexdigest()[:24]

    def label(self, axes: Iterable[str]) -> str:
        return " ".join(f"{a}={self.params.get(a)}" for a in axes)


@dataclass
class Grid:
    """A sweep: the builder, its fixed parameters, the axes and the seed.

    Attributes:
        axes: axis name -> values (the grid is their Cartesian product, in this order).
        fixed: parameters every point shares.
        builder: ``"module:function"``; ``function(params) -> dict`` runs one point (default
            :func:`semradio.cli.sweep.jscc_point`, the JSCC chain flowgraph).
        seed: the grid's seed; each point's ``seed`` parameter is :func:`point_seed` of it.
        seed_ignores: axes left out of the seed's derivation, so the points that differ only
            there share their random draws (default ``denoiser``: every denoiser sees the same
            channel realisations).
    """

    axes: dict[str, list[Any]]
    fixed: dict[str, Any] = field(default_factory=dict)
    builder: str = DEFAULT_BUILDER
    seed: int = 0
    seed_ignores: tuple[str, ...] = ("denoiser",)

    @classmethod
    def from_toml(cls, path: str | os.PathLike) -> "Grid":
        """Read a grid file::

            builder = "semradio.cli.sweep:jscc_point"   # optional
            seed = 0
            [fixed]
            data = "natural32"
            [grid]
            channel = ["awgn", "rayleigh"]
            snr_db = [0, 5, 10, 20]
        """
        raw = tomllib.loads(Path(path).read_text())
        unknown = set(raw) - {"builder", "seed", "seed_ignores", "fixed", "grid"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}; expected builder, seed, seed_ignores, "
                             f"[fixed], [grid]")
        axes = raw.get("grid") or {}
        if not axes:
            raise ValueError(f"{path}: no [grid] table (axis = [values, ...])")
        for k, v in axes.items():
            if not isinstance(v, list) or not v:
                raise ValueError(f"{path}: grid axis {k!r} must be a non-empty list, got {v!r}")
        return cls(axes={k: list(v) for k, v in axes.items()}, fixed=dict(raw.get("fixed") or {}),
                   builder=str(raw.get("builder", DEFAULT_BUILDER)), seed=int(raw.get("seed", 0)),
                   seed_ignores=tuple(raw.get("seed_ignores", ("denoiser",))))

    def as_dict(self) -> dict[str, Any]:
        return {"builder": self.builder, "seed": self.seed, "seed_ignores": list(self.seed_ignores),
                "fixed": self.fixed, "grid": self.axes}

    def points(self) -> list[Point]:
        """The Cartesian product of the axes (first axis outermost), each with its seed."""
        import itertools

        names = list(self.axes)
        out = []
        for values in itertools.product(*(self.axes[n] for n in names)):
            params = {**self.fixed, **dict(zip(names, values))}
            params.pop("seed", None)
            params["seed"] = point_seed(self.seed, {k: v for k, v in params.items() if k not in self.seed_ignores})
            out.append(Point(params))
        return out


# ------------------------------------------------------------------------------ code version
def code_version() -> str:
    """``semradio <version>`` plus the git commit (``+dirty`` with uncommitted changes) when the
    package runs from a checkout."""
    try:
        from importlib.metadata import version

        v = f"semradio {version('semradio')}"
    except Exception:  # noqa: BLE001 - not installed
        v = "semradio (not installed)"
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if head.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                   capture_output=True, text=True, timeout=10).stdout.strip()
            v += f" git {head.stdout.strip()}" + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return v


def checkpoint_hashes(names: Iterable[str | None]) -> dict[str, str | None]:
    """``{name: sha256}`` of checkpoints found along the search path (None: no hash recorded)."""
    from semradio.models import registry

    out: dict[str, str | None] = {}
    for n in names:
        if not n or n in out:
            continue
        try:
            out[n] = registry.read_json(registry.find_config(n)).get("sha256")
        except (FileNotFoundError, ValueError, OSError):
            out[n] = None
    return out


# ------------------------------------------------------------------------------- the table
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run INTEGER PRIMARY KEY AUTOINCREMENT, started TEXT, finished TEXT, grid TEXT, code_version TEXT,
    engine TEXT, workers INTEGER, host TEXT, points_run INTEGER, points_failed INTEGER, seconds REAL);
CREATE TABLE IF NOT EXISTS points (
    key TEXT PRIMARY KEY, params TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL,
    result TEXT, error TEXT, seconds REAL, worker TEXT, run INTEGER, finished TEXT, checkpoints TEXT);
"""


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class ResultTable:
    """The file-backed results of a sweep (SQLite). Rows are committed one by one."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(self.path), timeout=30)
        self.db.executescript(SCHEMA)
        self.db.commit()

    def close(self) -> None:
        self.db.close()

    def done_keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM points WHERE status = 'done'")}

    def start_run(self, grid: Grid, engine: str, workers: int) -> int:
        cur = self.db.execute("INSERT INTO runs (started, grid, code_version, engine, workers, host) "
                              "VALUES (?, ?, ?, ?, ?, ?)",
                              (_now(), canonical(grid.as_dict()), code_version(), engine, workers,
                               socket.gethostname()))
        self.db.commit()
        return int(cur.lastrowid)

    def finish_run(self, run: int, points_run: int, failed: int, seconds: float) -> None:
        self.db.execute("UPDATE runs SET finished = ?, points_run = ?, points_failed = ?, seconds = ? WHERE run = ?",
                        (_now(), points_run, failed, round(seconds, 3), run))
        self.db.commit()

    def record(self, run: int, point: Point, status: str, attempts: int, result: dict[str, Any] | None,
               error: str | None, seconds: float | None, worker: str | None) -> None:
        res = dict(result or {})
        ckpts = res.pop("checkpoints", None)
        self.db.execute(
            "INSERT OR REPLACE INTO points (key, params, status, attempts, result, error, seconds, worker, run, "
            "finished, checkpoints) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (point.key, canonical(point.params), status, attempts, None if result is None else canonical(res), error,
             None if seconds is None else round(seconds, 3), worker, run, _now(),
             None if ckpts is None else canonical(ckpts)))
        self.db.commit()

    def rows(self, keys: Iterable[str] | None = None, status: str | None = "done") -> list[dict[str, Any]]:
        """Every recorded point as one flat dict: parameters, results and ``_key``, ``_status``,
        ``_attempts``, ``_seconds``, ``_worker``, ``_run``, ``_checkpoints`` (in the order of
        ``keys`` when given)."""
        q = "SELECT key, params, status, attempts, result, error, seconds, worker, run, checkpoints FROM points"
        rows = {}
        for key, params, st, att, result, err, sec, worker, run, ck in self.db.execute(q):
            if status is not None and st != status:
                continue
            rows[key] = {**json.loads(params), **(json.loads(result) if result else {}), "_key": key, "_status": st,
                         "_attempts": att, "_error": err, "_seconds": sec, "_worker": worker, "_run": run,
                         "_checkpoints": json.loads(ck) if ck else None}
        if keys is None:
            return list(rows.values())
        return [rows[k] for k in keys if k in rows]

    def runs(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT * FROM runs ORDER BY run")
        cols = [c[0] for c in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


# ----------------------------------------------------------------------- running one point
_MODEL_CACHE: dict[Any, Any] = {}
#: Loaders memoised in a sweep worker: (module, function).
CACHED_LOADERS = (("semradio.models.checkpoint", "load_codec"), ("semradio.models.cddm", "load_cddm"),
                  ("semradio.models.ve", "load_ve"), ("semradio.models.consistency", "load_eecd"))


def enable_model_cache() -> None:
    """Memoise the checkpoint loaders in this process (a sweep worker): every point after the
    first reuses the models already loaded (they are used for inference only). The blocks import
    the loaders when they are built, so they get the memoised ones."""
    for mod_name, fn_name in CACHED_LOADERS:
        try:
            mod = importlib.import_module(mod_name)
        except ImportError:
            continue
        fn = getattr(mod, fn_name, None)
        if fn is None or getattr(fn, "_sweep_cached", False):
            continue

        def cached(*args: Any, _fn: Callable[..., Any] = fn, _name: str = f"{mod_name}:{fn_name}",
                   **kwargs: Any) -> Any:
            try:
                key = (_name, canonical([[str(a) for a in args], {k: str(v) for k, v in kwargs.items()}]))
            except TypeError:
                return _fn(*args, **kwargs)
            if key not in _MODEL_CACHE:
                _MODEL_CACHE[key] = _fn(*args, **kwargs)
            return _MODEL_CACHE[key]

        cached._sweep_cached = True  # type: ignore[attr-defined]
        cached.__doc__ = fn.__doc__
        cached.__wrapped__ = fn  # type: ignore[attr-defined]
        setattr(mod, fn_name, cached)


def disable_model_cache() -> None:
    """Put the original loaders back and forget the cached models (see :func:`enable_model_cache`)."""
    for mod_name, fn_name in CACHED_LOADERS:
        mod = sys.modules.get(mod_name)
        fn = getattr(mod, fn_name, None) if mod is not None else None
        if fn is not None and getattr(fn, "_sweep_cached", False):
            setattr(mod, fn_name, fn.__wrapped__)
    _MODEL_CACHE.clear()


#: Modules outside semradio whose builders a grid file may name (``os.pathsep`` or comma separated).
TRUSTED_ENV = "SEMRADIO_SWEEP_MODULES"
#: Attribute that marks a function as a sweep builder (:func:`sweep_builder`).
BUILDER_MARK = "_semradio_sweep_builder"
_DOTTED = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def sweep_builder(fn: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """Mark ``fn(params) -> results`` as a sweep builder: only marked functions may be named by a
    grid file's ``builder`` (a grid file is untrusted input; it must not be able to call
    ``os:system`` or any other function that happens to take one argument)."""
    setattr(fn, BUILDER_MARK, True)
    return fn


def resolve_builder(spec: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The function of ``"module:function"``, which must be marked with :func:`sweep_builder` and
    live in semradio or in a module named in ``$SEMRADIO_SWEEP_MODULES`` (checked before the
    import: importing runs the module's code).

    Raises:
        ValueError: a malformed name, a missing module or function, or an unmarked function.
    """
    module, _, func = str(spec).partition(":")
    if not _DOTTED.fullmatch(module) or not func.isidentifier() or func.startswith("_"):
        raise ValueError(f"builder {spec!r}: expected 'module:function'")
    # importing runs a module's code: only semradio's own, or modules the user (not the file)
    # trusts in $SEMRADIO_SWEEP_MODULES
    trusted = [m for m in os.environ.get(TRUSTED_ENV, "").replace(",", os.pathsep).split(os.pathsep) if m]
    top = module.split(".")[0]
    if top != "semradio" and module not in trusted and top not in trusted:
        raise ValueError(f"builder {spec!r}: module {module} is not semradio's; name it in ${TRUSTED_ENV} "
                         f"(e.g. {TRUSTED_ENV}={top}) to let grid files use its builders")
    try:
        fn = getattr(importlib.import_module(module), func, None)
    except ImportError as exc:
        raise ValueError(f"builder {spec!r}: cannot import {module} ({exc})") from None
    if not (inspect.isfunction(fn) and getattr(fn, BUILDER_MARK, None) is True):
        raise ValueError(f"builder {spec!r} is not a sweep builder (a function decorated with "
                         f"semradio.cli.sweep_engine.sweep_builder)")
    return fn


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


#: Thread pools limited in a worker (BLAS and OpenMP read these when they start).
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_THREAD_LIMITS: list[Any] = []


def init_worker(threads: int | None) -> None:
    """Set up a worker process: ``threads`` threads for torch and for the BLAS/OpenMP pools
    (workers sharing a machine must not each start one thread per core), memoised model loaders."""
    if threads:
        for var in THREAD_ENV:
            os.environ[var] = str(int(threads))
        import torch

        torch.set_num_threads(int(threads))
        try:
            from threadpoolctl import threadpool_limits

            _THREAD_LIMITS.append(threadpool_limits(limits=int(threads)))  # numpy's BLAS, already loaded
        except ImportError:
            pass
    enable_model_cache()


def execute(builder: str, params: dict[str, Any]) -> tuple[dict[str, Any], float, str]:
    """Run one point in this process: (result, seconds, worker id)."""
    t0 = time.perf_counter()
    result = resolve_builder(builder)(dict(params))
    return result, time.perf_counter() - t0, worker_id()


class PointActor:
    """The Ray actor of the ``ray`` engine: loads its models once (memoised loaders) and runs
    points one after the other."""

    def __init__(self, threads: int | None = None) -> None:
        init_worker(threads)

    def run(self, builder: str, params: dict[str, Any]) -> tuple[dict[str, Any], float, str]:
        return execute(builder, params)


# --------------------------------------------------------------------------------- engines
@dataclass
class Outcome:
    """What became of one point."""

    point: Point
    ok: bool
    attempts: int
    result: dict[str, Any] | None = None
    error: str | None = None
    seconds: float | None = None
    worker: str | None = None


def _record(out: Outcome, outcomes: list[Outcome], on_outcome: Callable[[Outcome], None] | None) -> None:
    outcomes.append(out)
    if on_outcome:
        on_outcome(out)


def _failed(p: Point, exc: BaseException, attempt: int, retries: int, pending: list[Point],
            outcomes: list[Outcome], on_outcome: Callable[[Outcome], None] | None) -> None:
    """A point that raised (either engine): back to the queue while retries remain, else recorded
    as failed."""
    if attempt <= retries:
        print(f"sweep: point {p.key} failed ({_error_text(exc)}); retrying", file=sys.stderr)
        pending.append(p)
        return
    _record(Outcome(p, False, attempt, None, _error_text(exc)), outcomes, on_outcome)


def default_threads(workers: int) -> int:
    """torch threads per worker: the machine's cores shared out (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def run_points(points: list[Point], builder: str, engine: str = "local", workers: int = 1,
               address: str | None = None, threads: int | None = None, retries: int = 1,
               on_outcome: Callable[[Outcome], None] | None = None) -> list[Outcome]:
    """Run ``points`` with ``builder`` on ``engine``; ``on_outcome`` is called in this process as
    each point finishes (or fails after ``1 + retries`` attempts)."""
    if engine == "local":
        return _run_local(points, builder, workers, threads or default_threads(workers), retries, on_outcome)
    if engine == "ray":
        return _run_ray(points, builder, workers, address, threads, retries, on_outcome)
    raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _run_local(points: list[Point], builder: str, workers: int, threads: int, retries: int,
               on_outcome: Callable[[Outcome], None] | None) -> list[Outcome]:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    outcomes: list[Outcome] = []
    pending = list(points)
    attempts: dict[str, int] = {}
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx, initializer=init_worker,
                               initargs=(threads,))
    futures: dict[Any, Point] = {}
    try:
        while pending or futures:
            while pending and len(futures) < 2 * max(1, workers):
                p = pending.pop(0)
                attempts[p.key] = attempts.get(p.key, 0) + 1
                futures[pool.submit(execute, builder, p.params)] = p
            done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            broken = False
            for fut in done:
                p = futures.pop(fut)
                try:
                    result, sec, wid = fut.result()
                    out = Outcome(p, True, attempts[p.key], result, None, sec, wid)
                except Exception as exc:  # noqa: BLE001 - a point's failure is recorded, not fatal
                    broken |= isinstance(exc, BrokenProcessPool)
                    _failed(p, exc, attempts[p.key], retries, pending, outcomes, on_outcome)
                    continue
                _record(out, outcomes, on_outcome)
            if broken:  # a worker died: the points in flight go back to the queue, on a new pool
                for fut, p in list(futures.items()):
                    attempts[p.key] -= 1
                    pending.append(p)
                futures.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx, initializer=init_worker,
                                           initargs=(threads,))
    finally:
        pool.shutdown(wait=not futures, cancel_futures=True)
    return outcomes


def _run_ray(points: list[Point], builder: str, workers: int, address: str | None, threads: int | None,
             retries: int, on_outcome: Callable[[Outcome], None] | None) -> list[Outcome]:
    try:
        import ray
    except ImportError:
        raise SystemExit("sweep: --engine ray needs Ray: pip install 'semradio[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(1, workers) if workers else None, include_dashboard=False, log_to_driver=False)
    try:
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor_cls = ray.remote(num_cpus=1)(PointActor)
        per_actor = threads or (default_threads(n) if not address else 1)
        actors = [actor_cls.remote(per_actor) for _ in range(n)]
        idle = list(actors)
        pending = list(points)
        attempts: dict[str, int] = {}
        running: dict[Any, tuple[Point, Any]] = {}
        outcomes: list[Outcome] = []
        while pending or running:
            while pending and idle:
                p, actor = pending.pop(0), idle.pop(0)
                attempts[p.key] = attempts.get(p.key, 0) + 1
                running[actor.run.remote(builder, p.params)] = (p, actor)
            ready, _ = ray.wait(list(running), num_returns=1)
            for ref in ready:
                p, actor = running.pop(ref)
                try:
                    result, sec, wid = ray.get(ref)
                    out = Outcome(p, True, attempts[p.key], result, None, sec, wid)
                    idle.append(actor)
                except Exception as exc:  # noqa: BLE001
                    if isinstance(exc, ray.exceptions.RayActorError):  # the actor died: a new one
                        actor = actor_cls.remote(per_actor)
                    idle.append(actor)
                    _failed(p, getattr(exc, "cause", None) or exc, attempts[p.key], retries, pending, outcomes,
                            on_outcome)
                    continue
                _record(out, outcomes, on_outcome)
        return outcomes
    finally:
        if started_here:
            ray.shutdown()


__all__ = ["Grid", "Point", "ResultTable", "Outcome", "run_points", "sweep_builder", "resolve_builder", "point_seed", "code_version", "checkpoint_hashes",
           "enable_model_cache", "disable_model_cache", "PointActor", "ENGINES", "DEFAULT_BUILDER", "canonical"]
