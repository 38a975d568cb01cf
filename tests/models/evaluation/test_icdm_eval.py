"""semradio eval icdm: the LPIPS columns, the --decoder check and the interference bound."""

from __future__ import annotations

import pytest
import torch

from semradio.models.evaluation import icdm as icdm_eval


def test_bound_orders_genie_profile_average():
    """Per-symbol LMMSE under fast Rayleigh: knowing each symbol's interference magnitude
    (genie) beats the per-position power profile, which beats interference-as-noise; all three
    beat the MMSE equalizer output's latent MSE (1.98 dB at SNR 20, SINR 0 in docs/results/icdm.md)."""
    torch.set_num_threads(1)
    row = icdm_eval.interference_bound("rayleigh", 20.0, 0.0, n_profile=1000)
    avg, prof, genie = (row[f"latent_mse_db_{k}"] for k in ("average", "profile", "genie"))
    assert genie < prof < avg < 0.0
    assert avg - genie < 2.0  # under fast Rayleigh the interference can tell a Gaussian model little


def test_lpips_columns_and_decoder_guard(tmp_path):
    from semradio.models.lpips import packaged_weights

    torch.set_num_threads(1)
    rows = icdm_eval.evaluate("rayleigh", 20.0, 0.0, ["none"], n=16, batch=16,
                              lpips=("alex",) if packaged_weights("alex") else ())
    assert rows[0]["images"] == 16 and rows[0]["decoder"] == "codec"
    if packaged_weights("alex"):
        assert 0.0 < rows[0]["lpips_alex"] < 1.0
    with pytest.raises(SystemExit, match="another encoder"):
        icdm_eval.evaluate("rayleigh", 20.0, 0.0, ["none"], n=4, batch=4, decoder="jscc_natural32_awgn_cbr1-6")


def test_block_fading_bound_leaves_room_for_a_canceller():
    """Block fading (one h_z per item): the interference keeps its structure, and subtracting it
    (genie) is worth far more than under fast fading: the rows order genie < profile < average
    with a gap of many dB (the fast-fading gap is < 2 dB, test above)."""
    torch.set_num_threads(1)
    row = icdm_eval.interference_bound("rayleigh", 20.0, 0.0, n_profile=1000, fading="block")
    avg, prof, genie = (row[f"latent_mse_db_{k}"] for k in ("average", "profile", "genie"))
    assert row["fading"] == "block"
    assert genie < prof < avg and avg - genie > 6.0, row
