"""semradio train icdm-tune / icdm-prior (semradio.models.training.icdm): tuned weights are stored
per (variant, sampler, one draw or a mean) key, a SINR at which every weight diverges is counted
and skipped rather than aborting the whole search; the tuned prior goes to the user directory
(the shipped one is never rewritten) and shadows the shipped prior; a prior trains on a folder
of the user's own images."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from semradio.models.checkpoint import CHECKPOINT_DIR
from semradio.models.training import cli
from semradio.models.training.icdm import ICDMTuneConfig, tune_guidance

SIGNAL = "icdm_signal_natural32_awgn_cbr1-6"



@pytest.fixture(autouse=True)
def user_home(tmp_path, monkeypatch):
    """A private $SEMRADIO_HOME (nothing found or written outside the test's directory)."""
    home = tmp_path / "home"
    monkeypatch.setenv("SEMRADIO_HOME", str(home))
    monkeypatch.delenv("SEMRADIO_CHECKPOINTS", raising=False)
    return home


def tune_config(**kw) -> ICDMTuneConfig:
    base = dict(channel="awgn", guidance=("dps",), tied=True, steps=20, n=4, threads=1, dry_run=True)
    return ICDMTuneConfig(**{**base, **kw})


def sha256(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tune_keys_the_table_by_sampler_and_drops_diverged_weights() -> None:
    table = tune_guidance(tune_config(sinr_db=(0.0,), beta=(30.0, 1e38), sampler="ddim", eta=1.0))
    assert list(table) == ["dps@ddim-eta1"]
    (row,) = table["dps@ddim-eta1"]
    assert row["beta"] == row["gamma"] == 30.0  # 1e38 overflows to a non-finite estimate and is dropped
    assert row["latent_mse_db"] < row["latent_mse_db_none"]


def test_tune_without_any_finite_weight_exits_with_a_message() -> None:
    with pytest.raises(SystemExit, match="diverged at every SINR"):
        tune_guidance(tune_config(sinr_db=(0.0,), beta=(1e38,)))


def test_tune_of_averaged_draws_has_its_own_key() -> None:
    table = tune_guidance(tune_config(sinr_db=(0.0,), beta=(10.0,), sampler="ddim", eta=1.0, samples=3))
    assert list(table) == ["dps@ddim-eta1-mean"]
    (row,) = table["dps@ddim-eta1-mean"]
    assert row["latent_mse_db"] < row["latent_mse_db_none"]


def test_tune_writes_a_tuned_copy_to_the_user_directory_never_the_shipped_prior(user_home) -> None:
    from semradio.models.icdm_sampler import ICDMPriors

    shipped_js, shipped_w = CHECKPOINT_DIR / f"{SIGNAL}.json", CHECKPOINT_DIR / f"{SIGNAL}.safetensors"
    before = sha256(shipped_js), sha256(shipped_w)
    shipped = json.loads(shipped_js.read_text())
    argv = ["icdm-tune", "--channel", "awgn", "--guidance", "dps", "--tied", "--steps", "20", "--n", "4",
            "--sinr-db", "0", "--beta", "30", "--threads", "1"]
    assert cli.main(argv) == 0
    assert (sha256(shipped_js), sha256(shipped_w)) == before  # the shipped prior is untouched
    out = user_home / "checkpoints"
    assert (out / f"{SIGNAL}.safetensors").read_bytes() == shipped_w.read_bytes()  # weights copied byte for byte
    cfg = json.loads((out / f"{SIGNAL}.json").read_text())
    (row,) = cfg["guidance"]["dps"]
    assert row["sinr_db"] == 0.0 and row["beta"] == row["gamma"] == 30.0
    assert {k: v for k, v in cfg["guidance"].items() if k != "dps"} == \
        {k: v for k, v in shipped["guidance"].items() if k != "dps"}  # the other tables are kept
    assert len(cfg["guidance_tuning"]) == len(shipped["guidance_tuning"]) + 1
    record = cfg["guidance_tuning"][-1]
    assert record["table"] == {"dps": [row]} and record["command"].startswith("semradio train icdm-tune")
    assert record["data"] == "natural32" and record["prior"]["path"] == str(shipped_js)
    assert cfg["sha256"] == shipped["sha256"] and cfg["name"] == SIGNAL and "_path" not in cfg
    # the tuned copy, earlier on the search path, shadows the shipped prior
    priors = ICDMPriors.load("awgn", "cpu")
    assert priors.signal_config["_path"] == str(out / f"{SIGNAL}.json")
    assert priors.guidance_for(0.0, "dps") == (30.0, 30.0)
    # retuning it (found in the user directory itself) replaces it: only with --overwrite
    with pytest.raises(SystemExit, match="--overwrite"):
        cli.main(argv)
    assert (sha256(shipped_js), sha256(shipped_w)) == before


def test_prior_trains_on_a_folder_of_user_images(tmp_path, user_home, image_folder_factory) -> None:
    from PIL import Image

    from semradio.models.icdm import load_prior

    d = image_folder_factory("photos")
    argv = ["icdm-prior", "--which", "signal", "--data", f"folder:{d}:32", "--steps", "2", "--batch", "4",
            "--pool", "16", "--eval-n", "4", "--eval-every", "2", "--width", "8", "--blocks", "1", "--threads", "1"]
    assert cli.main(argv) == 0
    path = user_home / "checkpoints" / "icdm_signal_folder_rayleigh_cbr1-6"  # named by the data: no shadowing
    net, schedule, cfg = load_prior(path)
    assert schedule.T == 1000 and cfg["architecture"] == "icdm_prior_net" and cfg["kwargs"]["width"] == 8
    assert cfg["train"]["data"] == f"folder:{d}:32" and "12 training images" in cfg["train"]["data_description"]
    assert cfg["train"]["command"].startswith("semradio train icdm-prior --which signal --data folder:")
    assert [h["step"] for h in cfg["train"]["history"]] == [2] and np.isfinite(cfg["metrics"]["heldout_loss"])
    assert cfg["metrics"]["heldout"].startswith("4 held-out images")
    assert "guidance" not in cfg  # no earlier prior of that name to keep tuned weights from
    assert (user_home / "runs" / "icdm_signal_folder_rayleigh_cbr1-6" / "state.json").is_file()
    with pytest.raises(SystemExit, match="--overwrite"):  # checked before any work
        cli.main(argv)


def test_prior_retrain_keeps_the_tuned_guidance_found_along_the_search_path(tmp_path) -> None:
    from semradio.models.icdm import load_prior

    out = tmp_path / "ck"
    assert cli.main(["icdm-prior", "--which", "signal", "--channel", "awgn", "--steps", "1", "--batch", "4",
                     "--pool", "8", "--eval-n", "4", "--width", "8", "--blocks", "1", "--threads", "1",
                     "--out-dir", str(out)]) == 0
    _, _, cfg = load_prior(out / SIGNAL)
    shipped = json.loads((CHECKPOINT_DIR / f"{SIGNAL}.json").read_text())
    assert cfg["guidance"] == shipped["guidance"] and cfg["train"]["data"] == "natural32"
