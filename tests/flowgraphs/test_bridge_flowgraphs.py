"""The bridge flowgraph scripts run and print sensible ``--json`` summaries."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "pyproject.toml").is_file())


def run_script(name: str, *args: str, timeout: float = 120) -> dict:
    r = subprocess.run([sys.executable, str(ROOT / "flowgraphs" / name), *args, "--json"],
                       capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def test_split_hosts_over_a_curve_secured_worker() -> None:
    out = run_script("split_hosts.py", "--frames", "40", "--batch", "2", "--k", "256", "--snr-db", "12",
                     "--channel", "awgn", "--curve")
    assert out["frames_sent"] == 40 and out["frames_received"] == 40 and out["lost"] == 0
    assert out["endpoints"]["curve"] is True
    assert out["worker"]["in"]["frames"] == 40 and out["worker"]["out"]["frames"] == 40
    assert abs(out["measured"]["snr_db"] - 12.0) < 1.0


def test_sigmf_replay_demo(tmp_path) -> None:
    demo = str(tmp_path / "demo")
    run_script("sigmf_replay.py", "--make-demo", demo)
    out = run_script("sigmf_replay.py", demo, "--channel", "awgn", "--snr-db", "10", "--out", str(tmp_path / "out"))
    assert out["frames"] == 64 and out["samples"] == 64 * 1024
    assert out["labels"] == {"qpsk": 32, "noise": 32} and out["annotations_seen"] == 64
    assert out["capture_sample_rate"] == 1e6
    from sigmf.sigmffile import fromfile

    rec = fromfile(str(tmp_path / "out"))
    assert rec.sample_count == 64 * 1024 and rec.get_global_field("core:sample_rate") == 1e6
    assert rec.get_annotations()[0]["semradio:snr_db"] == 10.0


@pytest.mark.gnuradio
def test_gnuradio_bridge_round_trip() -> None:
    out = run_script("gnuradio_bridge.py", "--spawn-gr", "--packets", "10", "--packet-len", "512", "--snr-db", "15")
    g = out["gnuradio"]
    assert out["frames"] == 10 and g["samples_back"] == g["samples_sent"] == 5120
    assert abs(g["measured_snr_db"] - 15.0) < 1.0 and g["snr_db_tag"] == 15.0
    for key in ("packet_len", "seq", "snr_db", "noise_var", "h", "h:shape", "gr_packet"):
        assert g["tags_back"][key] == 10, key
    assert out["bridges"]["from_gr"]["malformed"] == 0


def test_sigmf_replay_in_process_recording_as_positional_or_option(tmp_path, capsys) -> None:
    from semradio.flowgraphs import sigmf_replay

    demo = sigmf_replay.make_demo(str(tmp_path / "demo"), frames=4, k=64)
    outs = []
    for argv in ([demo, "--frame-len", "64"], ["--channel", "awgn", "--frame-len", "64", demo],
                 ["--path", demo, "--channel", "awgn", "--frame-len", "64"]):
        assert sigmf_replay.main([*argv, "--json"]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert [o["frames"] for o in outs] == [4, 4, 4] and outs[0]["labels"] == {"qpsk": 2, "noise": 2}
    assert outs[0]["config"]["path"] == demo and outs[0]["config"]["channel"] == "none"
    typed = sigmf_replay.run(sigmf_replay.SigMFReplayConfig(path=demo, channel="awgn", frame_len=64))
    assert typed["mean_power"] == outs[1]["mean_power"] == outs[2]["mean_power"] != outs[0]["mean_power"]
    with pytest.raises(SystemExit) as exc:
        sigmf_replay.main(["--json"])
    assert exc.value.code == 2 and "give a recording path" in capsys.readouterr().err


def test_split_hosts_prints_the_worker_spec(capsys) -> None:
    from semradio.flowgraphs import split_hosts

    assert split_hosts.main(["--print-spec", "--equalizer", "zf"]) == 0
    spec = json.loads(capsys.readouterr().out)
    assert spec == split_hosts.worker_spec("tcp://127.0.0.1:6000", "tcp://127.0.0.1:6001", "zf")


def test_gnuradio_bridge_needs_a_gnuradio_side(capsys) -> None:
    from semradio.flowgraphs import gnuradio_bridge

    with pytest.raises(SystemExit) as exc:
        gnuradio_bridge.main([])
    assert exc.value.code == 2 and "--spawn-gr" in capsys.readouterr().err
    with pytest.raises(ValueError, match="--spawn-gr"):
        gnuradio_bridge.run(gnuradio_bridge.GnuRadioBridgeConfig())
