"""tools/train.py icdm-tune: weights are stored per (variant, sampler, one draw or a mean) key,
and a SINR at which every weight diverges is counted and skipped rather than aborting the whole
search."""

from __future__ import annotations

import argparse

import pytest
from test_train import load_train

from semradio.models.checkpoint import CHECKPOINT_DIR

pytestmark = pytest.mark.skipif(not (CHECKPOINT_DIR / "icdm_signal_natural32_awgn_cbr1-6.json").is_file(),
                                reason="the shipped AWGN ICDM priors are needed")


def tune_module():
    load_train()  # puts tools/ on sys.path
    import train_icdm

    return train_icdm


def tune_args(*extra: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    tune_module().add_tune_arguments(p)
    return p.parse_args(["--channel", "awgn", "--guidance", "dps", "--tied", "--steps", "20", "--n", "4",
                         "--threads", "1", "--dry-run", *extra])


def test_tune_keys_the_table_by_sampler_and_drops_diverged_weights() -> None:
    args = tune_args("--sinr-db", "0", "--beta", "30", "1e38", "--sampler", "ddim", "--eta", "1")
    table = tune_module().run_tune(args, [])
    assert list(table) == ["dps@ddim-eta1"]
    (row,) = table["dps@ddim-eta1"]
    assert row["beta"] == row["gamma"] == 30.0  # 1e38 overflows to a non-finite estimate and is dropped
    assert row["latent_mse_db"] < row["latent_mse_db_none"]


def test_tune_without_any_finite_weight_exits_with_a_message() -> None:
    with pytest.raises(SystemExit, match="diverged at every SINR"):
        tune_module().run_tune(tune_args("--sinr-db", "0", "--beta", "1e38"), [])


def test_tune_of_averaged_draws_has_its_own_key() -> None:
    args = tune_args("--sinr-db", "0", "--beta", "10", "--sampler", "ddim", "--eta", "1", "--samples", "3")
    table = tune_module().run_tune(args, [])
    assert list(table) == ["dps@ddim-eta1-mean"]
    (row,) = table["dps@ddim-eta1-mean"]
    assert row["latent_mse_db"] < row["latent_mse_db_none"]
