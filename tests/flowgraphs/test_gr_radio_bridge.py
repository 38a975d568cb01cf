"""``flowgraphs/gr_radio_bridge.py`` (GNU Radio between semradio and a UHD/Soapy radio) with
``--device null``: semradio's TX and RX ends (``flowgraphs/ofdm_gnuradio.py --role``) on the two
sides of a real GNU Radio loopback, and the recipe's error messages (``docs/radio.md``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from semradio.flowgraphs import gr_radio_bridge as B
from semradio.flowgraphs import ofdm_gnuradio as G
from semradio.runtime.net import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = str(ROOT / "flowgraphs" / "gr_radio_bridge.py")
GR_PYTHON = os.environ.get("SEMRADIO_GR_PYTHON", "/usr/bin/python3")


@pytest.mark.parametrize("argv, match", [
    (["--device", "soapy"], "driver="), (["--tx-addr", "udp://x"], "tx-addr"), (["--samp-rate", "0"], "samp-rate"),
    (["--epsilon", "3"], "epsilon"), (["--taps", "1,x"], "taps"), (["--device", "uhd", "--channel"], "device null"),
    (["--frequency-offset", "0.7"], "frequency-offset"), (["--duration", "-1"], "duration"),
    (["--direction", "tx"], "direction both"), (["--device-args", "x" * 2000], "1024"),
])
def test_bad_arguments_are_usage_errors(argv, match, capsys):
    with pytest.raises(SystemExit) as exc:
        B.main(argv)
    assert exc.value.code == 2 and match in capsys.readouterr().err


def test_without_gnuradio_it_says_which_python_to_use():
    try:
        import gnuradio  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("this interpreter has GNU Radio")
    with pytest.raises(SystemExit, match="/usr/bin/python3"):
        B.main(["--device", "null"])


def test_radio_side_checks_its_settings():
    for kw, match in (({"role": "relay"}, "role"), ({"to_radio": "udp://1"}, "to-radio"), ({"frames": 0}, "frames"),
                      ({"idle": -1.0}, "idle"), ({"amplitude": 0.0}, "amplitude")):
        with pytest.raises(ValueError, match=match):
            G.run_radio_side(G.RadioSideConfig(**kw))


@pytest.mark.gnuradio
@pytest.mark.parametrize("device", ["uhd", "soapy"])
def test_a_missing_radio_module_is_named(device):
    """With the radio's module absent (import blocked) the script says what to install."""
    code = ("import runpy, sys; sys.modules['gnuradio.%s'] = None; "
            "m = runpy.run_path(%r, run_name='bridge'); m['main'](['--device', %r, '--device-args', 'driver=x'])"
            % (device, SCRIPT, device))
    r = subprocess.run([GR_PYTHON, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1, r.stderr[-2000:]
    assert f"--device {device} needs GNU Radio's gr-{device}" in r.stderr and "--device null" in r.stderr


@pytest.mark.gnuradio
@pytest.mark.slow
def test_null_device_loopback_decodes_bursts():
    """gr_radio_bridge.py --device null --channel (a real GNU Radio flowgraph: pull_source ->
    channel_model -> push_sink) between semradio's TX (ZMQSink, packet_len tags) and RX
    (ZMQSource -> OFDMReceiver -> decoder): the bursts come back and decode."""
    tx_addr, rx_addr = f"tcp://127.0.0.1:{free_port()}", f"tcp://127.0.0.1:{free_port()}"
    bridge = G.GnuRadioProcess([GR_PYTHON, SCRIPT, "--device", "null", "--channel", "--snr-db", "25",
                                "--frequency-offset", "0.002", "--epsilon", "1.00001", "--taps", "1,0.2j",
                                "--tx-addr", tx_addr, "--rx-addr", rx_addr, "--duration", "120", "--quiet"],
                               name="gr_radio_bridge").start()
    try:
        out = G.run_radio_side(G.RadioSideConfig(role="both", to_radio=tx_addr, from_radio=rx_addr, frames=3, batch=4,
                                                 idle=1.0, device="cpu", timeout=90))
    finally:
        bridge.close()
    rep = bridge.report()
    assert rep["returncode"] == 0 and rep["stopped_by"] == "stdin" and rep["device"] == "null"
    assert rep["items_in"] == out["tx"]["samples_sent"] > 0
    assert out["rx"]["samples_received"] == rep["items_out"] > 0
    rx = out["rx"]
    assert 1 <= rx["frames_decoded"] <= 3 and rx["header_crc_failures"] == 0
    assert abs(rx["cfo_mean"] - 0.002 * 64) < 0.02 and rx["psnr_db"] > 25
    assert rx["ended_by"] in ("idle", "linger")


@pytest.mark.gnuradio
def test_a_radio_that_is_not_there_is_named():
    r = subprocess.run([GR_PYTHON, SCRIPT, "--device", "soapy", "--device-args", "driver=semradio-no-such-driver",
                        "--tx-addr", f"tcp://127.0.0.1:{free_port()}", "--rx-addr", f"tcp://127.0.0.1:{free_port()}",
                        "--duration", "1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "cannot open the soapy radio" in r.stderr and "SoapySDRUtil --find" in r.stderr
