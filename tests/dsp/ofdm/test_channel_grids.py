"""Channel grids from Sionna PHY's TR 38.901 models (skipped without Sionna PHY)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sionna.phy", reason="needs Sionna PHY (pip install -e '.[phy]')")

from semradio.dsp.ofdm.channel_grids import SCENARIOS, generate_grids, scenario  # noqa: E402


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_shapes_power_and_seeding(name: str) -> None:
    g = generate_grids(name, 40, seed=3, chunk=25)          # two chunks
    sc = scenario(name)
    assert g.shape == (40, *sc.shape) and g.dtype == np.complex64
    assert np.all(np.isfinite(g))
    p = np.mean(np.abs(g) ** 2, axis=(1, 2))
    if name == "tdl-link":
        assert 0.4 < p.mean() < 2.0                          # unit power on average, each grid fades
    else:
        np.testing.assert_allclose(p, 1.0, rtol=1e-3)        # normalised per grid
    np.testing.assert_array_equal(g, generate_grids(name, 40, seed=3, chunk=25))
    assert not np.array_equal(g, generate_grids(name, 40, seed=4, chunk=25))


def test_channels_are_frequency_selective_and_correlated() -> None:
    """A few paths: the frequency correlation is far from identity and far from rank one."""
    g = generate_grids("umi-28", 600, seed=1).reshape(600, -1)
    lam = np.sort(np.linalg.eigvalsh(g.T @ g.conj() / 600))[::-1]
    share = np.cumsum(lam) / lam.sum()
    assert 1 < int(np.searchsorted(share, 0.9)) + 1 < 32


def test_ris_cascade_is_the_product_of_two_channels() -> None:
    g = generate_grids("ris-28", 20, seed=2)
    assert g.shape == (20, 8, 32)
    # elements see different cascaded channels (not one channel repeated)
    assert np.mean(np.abs(g[:, 0] - g[:, 1]) ** 2) > 0.05


def test_unknown_scenario_and_count() -> None:
    with pytest.raises(ValueError, match="unknown channel scenario"):
        generate_grids("uma-99", 3)
    with pytest.raises(ValueError):
        generate_grids("umi-28", 0)


def test_ris_training_under_a_dft_profile_gives_ls_error_over_n():
    from semradio.dsp.ofdm.channel_grids import dft_phase_profile, ris_ls, ris_received

    rng = np.random.default_rng(0)
    n, k = 8, 32
    c = generate_grids("ris-28", 200, seed=5)
    phi = dft_phase_profile(n)
    np.testing.assert_allclose(phi @ phi.conj().T, n * np.eye(n), atol=1e-9)
    s2 = 0.4
    y = ris_received(c, phi)
    y = y + (rng.standard_normal(y.shape) + 1j * rng.standard_normal(y.shape)) * np.sqrt(s2 / 2)
    c_ls = ris_ls(y, phi)
    assert np.mean(np.abs(c_ls - c) ** 2) == pytest.approx(s2 / n, rel=0.05)
    # the UE's channel for a phase profile is the sum over elements
    phase = np.exp(1j * rng.uniform(0, 2 * np.pi, n))
    np.testing.assert_allclose(ris_received(c, phase[None, :])[:, 0], np.sum(phase[None, :, None] * c, axis=1),
                               rtol=1e-5, atol=1e-6)
    assert c_ls.shape == (200, n, k)
