"""The JSCC chain's robustness options: ``--attack pgd``, ``--encoder-codec``, ``--adapter``."""

from __future__ import annotations

import numpy as np
import pytest

from semradio.blocks.hier.jscc_chain import JSCCChainConfig, build, run
from semradio.runtime.arguments import CommandLineError

#: Small and deterministic: 2 frames of 8 held-out patches, AWGN 10 dB, channel seed 0.
SMALL = dict(channel="awgn", snr_db=10.0, frames=2, batch=8, device="cpu", backend="torch", threads=1)


def test_pgd_attack_lowers_psnr_and_the_sink_compares_with_clean_images():
    clean = run(JSCCChainConfig(**SMALL))
    attacked = run(JSCCChainConfig(**SMALL, attack="pgd", attack_steps=5))
    assert attacked["attack"] == "pgd" and attacked["eps_level"] == 0.3
    assert attacked["images"] == clean["images"] == 16
    # a white-box attack at the robust encoder's budget costs several dB (measured ~9 dB on these)
    assert attacked["psnr_db"] < clean["psnr_db"] - 3.0, (clean["psnr_db"], attacked["psnr_db"])
    weak = run(JSCCChainConfig(**SMALL, attack="pgd", attack_steps=5, eps_level=0.05))
    assert attacked["psnr_db"] < weak["psnr_db"] < clean["psnr_db"]


def test_the_attack_block_sits_before_the_link_and_targets_the_encoder_in_use():
    fg, blocks = build(JSCCChainConfig(**SMALL, attack="pgd", encoder_codec="jscc_natural32_awgn_cbr1-6"))
    assert blocks["attack"].codec_name == blocks["encoder"].codec_name
    assert "attack" not in blocks["link"].roles()


def test_encoder_codec_must_match_the_codec():
    from semradio.blocks.hier.jscc_chain import check_config

    check_config(JSCCChainConfig(**SMALL, encoder_codec="jscc_natural32_awgn_cbr1-6"))
    with pytest.raises(CommandLineError, match="same codec"):
        check_config(JSCCChainConfig(**SMALL, encoder_codec="jscc_natural32_awgn_cbr1-12"))


def test_robust_encoder_swaps_in_and_keeps_the_decoder():
    from semradio.models.registry import find_config

    try:
        find_config("jscc_natural32_awgn_cbr1-6_robust", kind="codec")
    except FileNotFoundError:
        pytest.fail("the robust encoder is shipped")
    out = run(JSCCChainConfig(**SMALL, encoder_codec="jscc_natural32_awgn_cbr1-6_robust"))
    assert out["encoder_codec"] == "jscc_natural32_awgn_cbr1-6_robust"
    assert out["decoder_codec"] == "jscc_natural32_awgn_cbr1-6"
    assert out["psnr_db"] > 20.0


def test_identity_adapter_is_bit_exact_and_a_foreign_adapter_is_refused(tmp_path):
    from semradio.blocks.hier.jscc_chain import check_config
    from semradio.models.adapter import LatentAdapter, save_adapter
    from semradio.models.checkpoint import load_codec

    codec = load_codec("jscc_natural32_awgn_cbr1-6", "cpu")
    save_adapter(LatentAdapter(codec.latent_channels, (8, 8)), tmp_path / "ident", codec)
    cfg = JSCCChainConfig(**SMALL, adapter=str(tmp_path / "ident.json"))
    check_config(cfg)
    a = run(cfg)
    b = run(JSCCChainConfig(**SMALL))
    assert a["adapter"] == "ident"
    assert a["psnr_db"] == b["psnr_db"] and a["ssim"] == b["ssim"]
    other = load_codec("jscc_natural32_rayleigh_cbr1-6", "cpu")
    save_adapter(LatentAdapter(other.latent_channels, (8, 8)), tmp_path / "foreign", other)
    with pytest.raises(CommandLineError, match="--adapter"):
        check_config(JSCCChainConfig(**SMALL, adapter=str(tmp_path / "foreign.json")))
    assert np.isfinite(a["psnr_db"])
