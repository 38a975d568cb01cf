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
    # the Examples section of every public block class
    "semradio.blocks.basic.sources", "semradio.blocks.basic.sinks", "semradio.blocks.basic.image_source",
    "semradio.blocks.basic.flow", "semradio.blocks.basic.symbol_source", "semradio.blocks.channels.fading",
    "semradio.blocks.channels.power", "semradio.blocks.channels.interference", "semradio.blocks.channels.sample_channel",
    "semradio.blocks.channels.superpose", "semradio.blocks.digital.image_rx", "semradio.blocks.digital.image_tx",
    "semradio.blocks.digital.equalizer", "semradio.blocks.codecs.cdiff_decoder", "semradio.blocks.codecs.jscc",
    "semradio.blocks.codecs.adapter", "semradio.blocks.codecs.attack", "semradio.models.attacks", "semradio.models.shipped",
    "semradio.blocks.denoisers.cddm", "semradio.blocks.denoisers.ve", "semradio.blocks.metrics.channel_meter",
    "semradio.blocks.metrics.metric_sink", "semradio.blocks.zeromq.bridge", "semradio.blocks.fileio.iq_files",
    "semradio.blocks.fileio.sigmf_files", "semradio.blocks.denoisers.icdm", "semradio.blocks.hier.jscc_chain",
    "semradio.blocks.qtgui.base", "semradio.blocks.qtgui.constellation", "semradio.blocks.qtgui.time_scope",
    "semradio.blocks.qtgui.image", "semradio.blocks.qtgui.metric", "semradio.blocks.qtgui.ofdm",
    "semradio.blocks.qtgui.controls",
]


@pytest.mark.parametrize("name", MODULES)
def test_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
