"""LatentAdapter block: identity without a checkpoint or when disabled, applies a fitted adapter,
refuses a checkpoint of another codec, validates its input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from semradio.blocks.codecs import JSCCDecoder, LatentAdapter
from semradio.models.adapter import LatentAdapter as AdapterNet
from semradio.models.adapter import save_adapter
from semradio.models.checkpoint import load_codec
from semradio.runtime import Frame

pytestmark = pytest.mark.usefixtures("one_torch_thread")
CODEC = "jscc_natural32_awgn_cbr1-6"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> tuple[str, AdapterNet]:
    torch.manual_seed(0)
    net = AdapterNet(16, (8, 8), "channel")
    with torch.no_grad():
        net.weight.add_(0.05 * torch.randn(16, 16))
        net.bias.add_(0.1)
    js = save_adapter(net, tmp_path_factory.mktemp("ad") / "ad_test", load_codec(CODEC, "cpu"), {"train": {}})
    return str(js), net


def latents(b: int = 3, n: int = 1024) -> np.ndarray:
    return np.random.default_rng(0).standard_normal((b, n)).astype(np.float32)


def test_identity_without_checkpoint() -> None:
    blk = LatentAdapter()
    y = latents()
    out = blk.work(Frame(y, {"seq": 4}))
    assert out.data is y and out.tags["adapter"] == "identity" and out.tags["seq"] == 4


def test_applies_the_fitted_adapter(checkpoint) -> None:
    path, net = checkpoint
    blk = LatentAdapter(path, CODEC)
    assert blk.kind == "channel" and blk.adapter_name == "ad_test"
    y = latents()
    out = blk.work(Frame(y))
    assert isinstance(out.data, np.ndarray) and out.data.dtype == np.float32
    np.testing.assert_allclose(out.data, net(torch.from_numpy(y)).detach().numpy(), atol=1e-6)
    assert out.tags["adapter"] == "ad_test"
    t = blk.work(Frame(torch.from_numpy(y))).data
    assert isinstance(t, torch.Tensor) and torch.allclose(t, torch.from_numpy(out.data))


def test_disabled_is_bit_identical_before_the_decoder(checkpoint) -> None:
    blk = LatentAdapter(checkpoint[0], CODEC, enabled=False)
    dec = JSCCDecoder(CODEC, device="cpu")
    y = latents(2)
    ref = dec.work(Frame(y, {"snr_db": 10.0})).data
    out = dec.work(blk.work(Frame(y, {"snr_db": 10.0}))).data
    assert np.array_equal(ref, out)
    blk.set_param("enabled", "true")
    assert not np.array_equal(dec.work(blk.work(Frame(y, {"snr_db": 10.0}))).data, ref)
    with pytest.raises(ValueError, match="boolean"):
        blk.set_param("enabled", "maybe")


def test_refuses_a_checkpoint_of_another_codec(checkpoint) -> None:
    with pytest.raises(ValueError, match="LatentAdapter .*jscc_natural32_awgn_cbr1-6"):
        LatentAdapter(checkpoint[0], "jscc_natural32_rayleigh_cbr1-6")
    with pytest.raises(ValueError, match="LatentAdapter"):
        LatentAdapter("/nonexistent/adapter.json", CODEC)


@pytest.mark.parametrize("bad,msg", [(np.zeros((2, 1000), np.float32), "multiple"),
                                     (np.zeros((2, 1024), np.float64), "float32"),
                                     (np.full((1, 1024), np.nan, np.float32), "NaN"),
                                     (np.zeros((2, 4, 256), np.float32), "shape"),
                                     (np.zeros((0, 1024), np.float32), "empty")])
def test_validates_input(checkpoint, bad, msg) -> None:
    blk = LatentAdapter(checkpoint[0], CODEC, name="ad")
    with pytest.raises(ValueError, match=f"LatentAdapter 'ad'.*{msg}"):
        blk.work(Frame(bad))


@pytest.mark.parametrize("name", ["semradio.blocks.codecs.adapter", "semradio.models.adapter"])
def test_docstring_examples(name: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
