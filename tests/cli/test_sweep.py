"""``semradio sweep``: grids seeded point by point, the results table (rerun skips done points,
a failed point is retried once then reported), the local process pool and Ray engines giving the
same numbers, and the 24-point denoiser grid on every engine."""

from __future__ import annotations

import functools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from semradio.cli.sweep_engine import Grid, ResultTable, point_seed
from semradio.runtime.net import free_port

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())

#: A cheap builder the worker processes import (from PYTHONPATH): sleeps, fails on demand.
BUILDER = textwrap.dedent('''
    import os, time
    from pathlib import Path

    from semradio.cli.sweep_engine import sweep_builder

    @sweep_builder
    def point(params):
        if params.get("fail") == "always":
            raise RuntimeError("this point always fails")
        if params.get("fail") == "once":
            marker = Path(params["dir"]) / f"failed-{params['x']}"
            if not marker.exists():
                marker.write_text("")
                raise RuntimeError("first attempt fails")
        time.sleep(float(params.get("sleep", 0)))
        return {"value": params["x"] * 1000 + params["seed"] % 997, "pid": os.getpid()}
''')


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A module ``sweep_toy`` importable by spawned workers (PYTHONPATH), and its folder."""
    (tmp_path / "sweep_toy.py").write_text(BUILDER)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("SEMRADIO_SWEEP_MODULES", "sweep_toy")
    return tmp_path


def toy_grid(tmp_path: Path, xs=(1, 2, 3, 4), **fixed) -> Path:
    path = tmp_path / "grid.toml"
    lines = ['builder = "sweep_toy:point"', "seed = 5", "seed_ignores = []", "[fixed]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in {"dir": str(tmp_path), **fixed}.items()]
    lines += ["[grid]", f"x = {list(xs)}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def sweep_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "semradio.cli", "sweep", *args]


def test_point_seeds_come_from_the_grid_and_the_point_only():
    g = Grid(axes={"channel": ["awgn", "rayleigh"], "snr_db": [0.0, 10.0], "denoiser": ["none", "cddm"]},
             fixed={"data": "natural32"}, seed=3)
    pts = g.points()
    assert len(pts) == 8 and len({p.key for p in pts}) == 8
    # the order of the axes' values does not change a point's seed or key
    g2 = Grid(axes={"channel": ["rayleigh", "awgn"], "snr_db": [10.0, 0.0], "denoiser": ["cddm", "none"]},
              fixed={"data": "natural32"}, seed=3)
    assert {p.key: p.params["seed"] for p in pts} == {p.key: p.params["seed"] for p in g2.points()}
    # denoisers share the channel draws of their point (seed_ignores), other points differ
    by = {(p.params["channel"], p.params["snr_db"], p.params["denoiser"]): p.params["seed"] for p in pts}
    assert by[("awgn", 0.0, "none")] == by[("awgn", 0.0, "cddm")]
    assert len({by[(c, s, "none")] for c in ("awgn", "rayleigh") for s in (0.0, 10.0)}) == 4
    assert point_seed(3, {"a": 1}) != point_seed(4, {"a": 1})


def test_grid_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("seed = 1\n[grid]\nx = 3\n")
    with pytest.raises(ValueError, match="non-empty list"):
        Grid.from_toml(bad)
    bad.write_text("sed = 1\n[grid]\nx = [1]\n")
    with pytest.raises(ValueError, match="unknown keys"):
        Grid.from_toml(bad)


def test_table_records_points_runs_and_the_code_version(tmp_path):
    t = ResultTable(tmp_path / "t.sqlite")
    g = Grid(axes={"x": [1, 2]}, builder="m:f")
    run = t.start_run(g, "local", 1)
    p1, p2 = g.points()
    t.record(run, p1, "done", 1, {"value": 1.5, "checkpoints": {"c": "ab"}}, None, 0.1, "h:1")
    t.record(run, p2, "failed", 2, None, "RuntimeError: x", None, None)
    t.finish_run(run, 2, 1, 0.5)
    assert t.done_keys() == {p1.key}
    (row,) = t.rows([p1.key, p2.key])
    assert row["value"] == 1.5 and row["x"] == 1 and row["_checkpoints"] == {"c": "ab"} and row["_attempts"] == 1
    (failed,) = t.rows(status="failed")
    assert failed["_error"] == "RuntimeError: x"
    (r,) = t.runs()
    assert r["engine"] == "local" and r["points_failed"] == 1 and r["code_version"].startswith("semradio")
    assert json.loads(r["grid"])["grid"] == {"x": [1, 2]}
    t.close()


def test_a_worker_loads_each_model_once():
    from semradio.cli.sweep_engine import disable_model_cache, enable_model_cache
    from semradio.models import checkpoint

    original = checkpoint.load_codec
    enable_model_cache()
    try:
        a = checkpoint.load_codec("jscc_natural32_awgn_cbr1-6", "cpu")
        assert checkpoint.load_codec("jscc_natural32_awgn_cbr1-6", "cpu") is a
        assert checkpoint.load_codec("jscc_natural32_rayleigh_cbr1-6", "cpu") is not a
    finally:
        disable_model_cache()
    assert checkpoint.load_codec is original
    assert checkpoint.load_codec("jscc_natural32_awgn_cbr1-6", "cpu") is not a


@pytest.mark.slow
def test_local_pool_same_results_with_one_and_two_workers(toy):
    grid = toy_grid(toy, xs=(1, 2, 3, 4, 5, 6), sleep=0.5)
    rows = {}
    for n in ("1", "2"):
        r = subprocess.run(sweep_cmd(str(grid), "--out", str(toy / n), "--workers", n, "--no-progress"),
                           capture_output=True, text=True, timeout=240)
        assert r.returncode == 0, r.stderr
        rows[n] = {row["_key"]: row for row in ResultTable(toy / n / "sweep.sqlite").rows()}
    assert {k: r["value"] for k, r in rows["1"].items()} == {k: r["value"] for k, r in rows["2"].items()}
    assert len({r["pid"] for r in rows["1"].values()}) == 1  # one worker process ran every point
    assert len({r["pid"] for r in rows["2"].values()}) == 2
    assert {r["_worker"].rsplit(":", 1)[1] for r in rows["2"].values()} == {str(r["pid"]) for r in rows["2"].values()}


@pytest.mark.slow
def test_a_failed_point_is_retried_once_then_reported_and_rerun(toy):
    grid = toy_grid(toy, xs=(1, 2))
    text = grid.read_text().replace("x = [1, 2]", "x = [1, 2]\nfail = [\"none\", \"always\", \"once\"]")
    grid.write_text(text)
    r = subprocess.run(sweep_cmd(str(grid), "--out", str(toy / "out"), "--workers", "2", "--no-progress"),
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 1, r.stderr
    assert "2 point(s) failed" in r.stderr and "always fails" in r.stderr and "retrying" in r.stderr
    rows = ResultTable(toy / "out" / "sweep.sqlite").rows(status=None)
    assert sorted((row["fail"], row["_status"], row["_attempts"]) for row in rows) == [
        ("always", "failed", 2), ("always", "failed", 2), ("none", "done", 1), ("none", "done", 1),
        ("once", "done", 2), ("once", "done", 2)]
    r = subprocess.run(sweep_cmd(str(grid), "--out", str(toy / "out"), "--no-progress"), capture_output=True,
                       text=True, timeout=240)
    assert "6 points, 4 already in" in r.stderr and "2 to run" in r.stderr  # only the failed ones again


@pytest.mark.slow
def test_an_interrupted_sweep_rerun_finishes_only_the_missing_points(toy):
    # 12 points of 0.6 s on one worker: after the third, 5 s are left for Ctrl-C to land in
    n = 12
    grid = toy_grid(toy, xs=tuple(range(n)), sleep=0.6)
    out = toy / "out"
    table = out / "sweep.sqlite"
    # Ctrl-C as in a terminal: SIGINT at its default in the sweep and its pool, even where this
    # test runs in a background job (which starts with SIGINT ignored, inherited through exec)
    proc = subprocess.Popen(sweep_cmd(str(grid), "--out", str(out), "--workers", "1", "--no-progress"),
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 180
        done = 0
        while time.monotonic() < deadline and done < 3:
            time.sleep(0.2)
            if table.exists():
                try:
                    with sqlite3.connect(table) as db:
                        done = db.execute("SELECT count(*) FROM points WHERE status = 'done'").fetchone()[0]
                except sqlite3.OperationalError:
                    pass
        assert done >= 3, "the sweep did not get going"
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the process and its pool
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    first = {row["_key"]: row for row in ResultTable(table).rows()}
    assert 3 <= len(first) < n, "interrupted too late to test anything"
    r = subprocess.run(sweep_cmd(str(grid), "--out", str(out), "--workers", "2", "--no-progress"),
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert f"{n} points, {len(first)} already in" in r.stderr and f"{n - len(first)} to run" in r.stderr
    assert f"ran {n - len(first)} points" in r.stderr
    rows = {row["_key"]: row for row in ResultTable(table).rows()}
    assert len(rows) == n
    for k, row in first.items():  # untouched: same run, same result
        assert rows[k]["_run"] == row["_run"] and rows[k]["value"] == row["value"]
    assert {row["_run"] for k, row in rows.items() if k not in first} == {max(r["_run"] for r in rows.values())}
    csv_lines = (out / "sweep.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + n


# ------------------------------------------------------------------------------------------- Ray
@functools.lru_cache(maxsize=1)
def ray_unavailable() -> str | None:
    """None where a local Ray starts (bounded in time), else why not."""
    try:
        import ray  # noqa: F401
    except ImportError:
        return "Ray is not installed (pip install 'semradio[ray]')"
    code = "import ray; ray.init(num_cpus=1, include_dashboard=False); ray.shutdown()"
    try:
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    except subprocess.TimeoutExpired:
        return "a local Ray did not start within 180 s here"
    if r.returncode != 0:
        return f"a local Ray cannot start here: {(r.stderr.strip().splitlines() or ['?'])[-1]}"
    return None


def ray_or_skip():
    if ray_unavailable():
        pytest.skip(ray_unavailable())


@pytest.mark.slow
def test_ray_engine_local_and_on_a_started_head_gives_the_pool_numbers(toy):
    ray_or_skip()
    grid = toy_grid(toy, xs=(1, 2, 3, 4))
    r = subprocess.run(sweep_cmd(str(grid), "--out", str(toy / "local"), "--workers", "2", "--no-progress"),
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    want = {row["_key"]: row["value"] for row in ResultTable(toy / "local" / "sweep.sqlite").rows()}
    r = subprocess.run(sweep_cmd(str(grid), "--out", str(toy / "ray"), "--engine", "ray", "--workers", "2",
                                 "--no-progress"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = {row["_key"]: row["value"] for row in ResultTable(toy / "ray" / "sweep.sqlite").rows()}
    assert got == want
    # an existing cluster: `ray start --head` in a subprocess (its own session, ended by us)
    port = free_port()
    tmp = Path("/tmp") / f"semradio-ray-{os.getpid()}"  # Ray's socket paths must stay short
    # token authentication (Ray's default for a new cluster): head and driver read ~/.ray/auth_token
    env = dict(os.environ, RAY_AUTH_MODE="token")
    ray_cli = Path(sys.executable).with_name("ray")
    cli = [str(ray_cli)] if ray_cli.exists() else [sys.executable, "-m", "ray.scripts.scripts"]
    head = subprocess.Popen([*cli, "start", "--head", f"--port={port}",
                             "--num-cpus=2", "--include-dashboard=false", f"--temp-dir={tmp}", "--block"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
                            env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and head.poll() is None:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        r = subprocess.run(sweep_cmd(str(grid), "--out", str(toy / "cluster"), "--engine", "ray", "--address",
                                     f"127.0.0.1:{port}", "--workers", "2", "--no-progress"),
                           capture_output=True, text=True, timeout=300, env=env)
        if r.returncode != 0 and head.poll() is not None:
            pytest.skip(f"ray start --head failed here: {head.stdout.read()[-500:]}")
        assert r.returncode == 0, r.stderr
        got = {row["_key"]: row["value"] for row in ResultTable(toy / "cluster" / "sweep.sqlite").rows()}
        assert got == want
    finally:
        if head.poll() is None:
            os.killpg(head.pid, signal.SIGTERM)
            try:
                head.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(head.pid, signal.SIGKILL)
                head.wait()


# ------------------------------------------------------------------------- the JSCC denoiser grid
@pytest.mark.slow
def test_denoiser_grid_same_numbers_on_every_engine(tmp_path):
    """The 24-point grid of ``flowgraphs/sweep_denoisers.toml`` (2 channels x 4 SNRs x 3 denoisers,
    the real JSCC chain flowgraph; 2 frames of 32 held-out patches per point here) gives the same
    numbers to 1e-6 relative with one worker, two workers and Ray."""
    grid = ROOT / "flowgraphs" / "sweep_denoisers.toml"
    engines = {"w1": ["--workers", "1"], "w2": ["--workers", "2"]}
    if not ray_unavailable():  # else the local engines only (the Ray tests above say why they skip)
        engines["ray"] = ["--engine", "ray", "--workers", "2"]
    results = {}
    for name, extra in engines.items():
        r = subprocess.run(sweep_cmd(str(grid), "--out", str(tmp_path / name), "--frames", "2", "--batch", "32",
                                     "--no-progress", "--no-plot", *extra), capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, r.stderr
        rows = ResultTable(tmp_path / name / "sweep.sqlite").rows()
        assert len(rows) == 24 and all(row["images"] == 64 for row in rows)
        results[name] = {row["_key"]: row for row in rows}
        assert all(row["_checkpoints"] for row in rows)
    base = results["w1"]
    for name, rows in results.items():
        assert rows.keys() == base.keys()
        for k, row in rows.items():
            for f in ("psnr_db", "ssim", "mse_db"):
                assert row[f] == pytest.approx(base[k][f], rel=1e-6), (name, row["channel"], row["snr_db"],
                                                                       row["denoiser"], f)
    # the denoisers change the numbers, and share their point's channel draws
    by = {(r["channel"], r["snr_db"], r["denoiser"]): r for r in base.values()}
    assert by[("rayleigh", 20.0, "cddm")]["psnr_db"] != by[("rayleigh", 20.0, "none")]["psnr_db"]
    assert by[("rayleigh", 20.0, "cddm")]["seed"] == by[("rayleigh", 20.0, "none")]["seed"]
    assert "cddm_natural32_rayleigh_cbr1-6" in by[("rayleigh", 20.0, "cddm")]["_checkpoints"]


@pytest.mark.parametrize("spec", ["os:system", "subprocess:run", "builtins:exec", "semradio.cli.sweep:main",
                                  "no_such_module_xyz:f", "os:_exit", "a b:c", "semradio.cli.sweep", "this:x",
                                  "unittest.mock:sentinel", "antigravity:x"])
def test_a_grid_file_names_only_marked_builders(spec):
    """A grid file is untrusted: its builder must be a function marked as a sweep builder."""
    from semradio.cli.sweep_engine import resolve_builder

    with pytest.raises(ValueError):
        resolve_builder(spec)
    assert resolve_builder("semradio.cli.sweep:jscc_point").__name__ == "jscc_point"


def test_a_trusted_module_still_needs_marked_functions(monkeypatch):
    from semradio.cli.sweep_engine import resolve_builder

    monkeypatch.setenv("SEMRADIO_SWEEP_MODULES", "unittest")
    with pytest.raises(ValueError, match="not a sweep builder"):
        resolve_builder("unittest.mock:sentinel")           # answers every attribute: not a function
