"""The examples in the docstrings run and print what they say."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "semradio.runtime.options", "semradio.runtime.hier", "semradio.flowgraphs.app",
    "semradio.models.schedulers.noise", "semradio.models.schedulers.gaussian", "semradio.models.training.data",
    "semradio.models.link",
    "semradio.dsp.ofdm.numerology", "semradio.dsp.ofdm.modem", "semradio.dsp.ofdm.sync", "semradio.dsp.ofdm.estimation",
    "semradio.dsp.ofdm.coding", "semradio.dsp.ofdm.receiver", "semradio.blocks.digital.ofdm_tx",
    "semradio.blocks.digital.ofdm_rx", "semradio.flowgraphs.ofdm_channel", "semradio.flowgraphs.ofdm_gnuradio",
    "semradio.dsp.ofdm.diffusion", "semradio.models.channel_denoiser", "semradio.blocks.digital.channel_estimator",
    "semradio.dsp.digital.mcs", "semradio.dsp.digital.qam", "semradio.dsp.digital.bounds", "semradio.models.image_codec",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
