"""Data-parallel training (torchrun, DDP over gloo on the CPU): the codec, CDDM, VE, EECD and ICDM
prior trainers take the steps of one process at the same global batch (loss after 20 steps within 1e-4 relative),
and a run saved by two processes resumes in one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from semradio.models.link import LinkDraw, make_generator, sharded_draw, simulate_link
from semradio.models.training.distributed import Shard


def test_sharded_draws_are_the_rows_of_the_global_draw():
    def draw(shape):
        return torch.randn(shape, generator=make_generator(3))

    full = draw((8, 5))
    parts = [sharded_draw(draw, (4, 5), Shard(r, 2)) for r in range(2)]
    assert torch.equal(torch.cat(parts), full)
    assert torch.equal(sharded_draw(draw, (8, 5), None), full)
    z = torch.randn(8, 32, generator=make_generator(1))
    for channel in ("awgn", "rayleigh"):
        whole = simulate_link(z, channel, 5.0, make_generator(2))
        halves = [simulate_link(z[r * 4:(r + 1) * 4], channel, 5.0, make_generator(2), shard=Shard(r, 2))
                  for r in range(2)]
        assert torch.allclose(torch.cat(halves), whole, atol=1e-6)
        d = LinkDraw(z, channel, 5.0, make_generator(2))
        ds = [LinkDraw(z[r * 4:(r + 1) * 4], channel, 5.0, make_generator(2), shard=Shard(r, 2)) for r in range(2)]
        assert torch.allclose(torch.cat([x.y for x in ds]), d.y, atol=1e-6)
        assert torch.allclose(torch.cat([x.w_s for x in ds]), d.w_s, atol=1e-6)


def test_shard_rows_and_batch_that_does_not_divide():
    s = Shard(1, 2)
    assert list(s.rows(list(range(8)))) == [4, 5, 6, 7]
    assert Shard().rows([1, 2, 3]) == [1, 2, 3]
    with pytest.raises(SystemExit, match="does not divide"):
        s.local_batch(7)


def train(tmp_path: Path, tag: str, argv: list[str], nproc: int = 1, torchrun: bool = False) -> dict[int, float]:
    """Run ``semradio train ARGV`` (``--nproc``, or torchrun itself); the loss of every step."""
    log = tmp_path / f"loss-{tag}.csv"
    env = dict(os.environ, SEMRADIO_LOSS_LOG=str(log), SEMRADIO_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    common = [*argv, "--work-dir", str(tmp_path / f"runs-{tag}"), "--out-dir", str(tmp_path / f"out-{tag}"),
              "--threads", "1"]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m",
               "semradio.models.training.cli", *common]
    else:
        cmd = [sys.executable, "-m", "semradio.cli", "train", *common] + (["--nproc", str(nproc)] if nproc > 1 else [])
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=400, env=env)
    if r.returncode != 0 and "gloo" in r.stderr.lower() and "error" in r.stderr.lower() and "Traceback" not in r.stderr:
        pytest.skip(f"torch.distributed (gloo) cannot start here: {r.stderr.strip().splitlines()[-1]}")
    assert r.returncode == 0, r.stderr[-4000:]
    out = {}
    for line in log.read_text().splitlines():
        step, loss = line.split(",")
        out[int(step)] = float(loss)
    return out


JSCC = ["jscc", "--channel", "rayleigh", "--steps", "20", "--batch", "8", "--eval-every", "20",
        "--eval-n", "16", "--final-snr-db", "10", "--name", "ddp_codec"]
CDDM = ["cddm", "--channel", "rayleigh", "--steps", "20", "--batch", "8", "--width", "16",
        "--blocks", "1", "--eval-every", "1000", "--eval-n", "16", "--name", "ddp_cddm"]

#: The VE teacher stops after 20 of 1000 steps (its final evaluation samples every held-out patch).
VE = ["ve-ldm", "--channel", "rayleigh", "--steps", "1000", "--stop-after", "20", "--batch", "8", "--width", "16",
      "--blocks", "1", "--eval-every", "1000", "--name", "ddp_ve"]

#: EECD distils the shipped VE teacher (its step calls the student several times: gradients
#: averaged by hand instead of DDP's hooks).
EECD = ["eecd", "--channel", "rayleigh", "--steps", "1000", "--stop-after", "20", "--batch", "8",
        "--eval-every", "1000", "--name", "ddp_eecd"]

#: The ICDM interference prior over Rayleigh (h_z faded latents of a pool encoded once).
PRIOR = ["icdm-prior", "--which", "interference", "--channel", "rayleigh", "--pool", "256", "--steps", "20",
         "--batch", "8", "--width", "16", "--blocks", "1", "--eval-every", "1000", "--eval-n", "16",
         "--name", "ddp_prior"]

#: CDiff on the MNIST adaptive-CBR codec, with soft masking and focused steps (every draw sharded).
CDIFF = ["cdiff", "--steps", "1000", "--stop-after", "20", "--batch", "8", "--width", "8", "--mults", "1", "2",
         "--keep-prob", "0.8", "--focus-steps", "4", "--name", "ddp_cdiff"]

#: The adaptive-CBR VAE codec with soft masking (BatchNorm goes data-parallel on CUDA only: SyncBatchNorm).
ACBR = ["cdiff-codec", "--variant", "vae", "--keep-prob", "0.8", "--steps", "1000", "--stop-after", "20",
        "--batch", "8", "--name", "ddp_acbr"]


def _needs_mnist(argv: list[str]):
    """CDiff and the adaptive-CBR codec train on MNIST by default: skip where it is absent."""
    from semradio.models import data as D

    return pytest.param(*argv, marks=pytest.mark.skipif(not D.default_mnist_dir().is_dir(),
                                                        reason="../shared/datasets/mnist not present"))


@pytest.mark.slow
@pytest.mark.parametrize("argv,torchrun", [(JSCC, False), (CDDM, True), (VE, False), (EECD, True), (PRIOR, False),
                                           _needs_mnist([CDIFF, True]), _needs_mnist([ACBR, False])],
                         ids=["jscc-nproc", "cddm-torchrun", "ve-nproc", "eecd-torchrun", "icdm-prior-nproc",
                              "cdiff-torchrun", "cdiff-codec-nproc"])
def test_two_processes_take_the_steps_of_one_at_the_same_global_batch(tmp_path, argv, torchrun):
    one = train(tmp_path, "one", argv)
    two = train(tmp_path, "two", argv, nproc=2, torchrun=torchrun)
    assert sorted(one) == sorted(two) == list(range(1, 21))
    assert two[20] == pytest.approx(one[20], rel=1e-4)
    for s in one:
        assert two[s] == pytest.approx(one[s], rel=1e-4), s
    assert two[20] != pytest.approx(two[1], rel=1e-3)  # it did train
    name = argv[argv.index("--name") + 1]
    if "--stop-after" not in argv:
        import json

        cfg = json.loads((tmp_path / "out-two" / f"{name}.json").read_text())
        assert cfg["train"]["processes"] == 2 and cfg["train"]["batch"] == 8


@pytest.mark.slow
def test_a_run_saved_by_two_processes_resumes_in_one(tmp_path):
    argv = [*JSCC, "--ckpt-every", "10"]
    straight = train(tmp_path, "straight", argv)
    first = train(tmp_path, "resumed", [*argv, "--stop-after", "10"], nproc=2)
    assert sorted(first) == list(range(1, 11))
    (tmp_path / "loss-resumed.csv").unlink()
    second = train(tmp_path, "resumed", argv)  # same work dir: resumes at step 10 in one process
    assert sorted(second) == list(range(11, 21))
    for s in range(11, 21):
        assert second[s] == pytest.approx(straight[s], rel=1e-4), s


def test_icdm_tune_refuses_to_run_under_torchrun(monkeypatch):
    """The guidance search is no training loop: under torchrun it says so instead of running twice."""
    from semradio.models.training.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(SystemExit, match="does not train data-parallel"):
        main(["icdm-tune"])
