"""``semradio bench phy`` runs end to end on a short stream and reports every figure it promises
(speed itself is the benchmark's business, not a test's)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_bench_phy_smoke():
    r = subprocess.run([sys.executable, "-m", "semradio.cli", "bench", "phy", "--bursts", "3", "--items", "2",
                        "--repeats", "1", "--realtime", "2e6", "--realtime-seconds", "2", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(r.stdout)["results"]
    assert res["bursts_decoded"] == 3 and res["flowgraph_bursts_decoded"] == 9
    for key in ("reference_fft_msps", "receiver_msps", "block_msps", "flowgraph_msps", "transmitter_msps"):
        assert res[key] > 0
    assert set(res["stages"]) == {"detect", "sync", "header", "payload"}
    rt = res["realtime"]
    assert rt["samples"] >= 2e6 * 2 * 0.9 and rt["bursts_decoded"] > 0 and rt["overruns"] >= 0
