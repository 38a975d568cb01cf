"""Finding 4: a process-placed block's worker dies with its parent, even when the parent is
killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

PARENT = """
import sys, time
from semradio.blocks import CountingSource, NullSink, PassThrough, Throttle
from semradio.runtime import Flowgraph
fg = Flowgraph("parent")
hop = PassThrough(name="hop")
fg.connect(CountingSource(frames=-1, size=4, name="src"), Throttle(200.0, name="thr"), hop, NullSink(name="sink"))
fg.add(hop, placement="process")
fg.start()
print("started", flush=True)
time.sleep(600)
"""


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(x) for x in out.split()]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    st = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    return bool(st) and not st.startswith("Z")


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="uses ps --ppid (Linux procps)")
def test_workers_exit_within_2_s_of_a_sigkill_of_their_parent() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout.readline().strip() == "started"
        workers = _children(parent.pid)
        assert workers, "the process-placed block has no worker process"
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and any(_alive(w) for w in workers):
            time.sleep(0.05)
        assert not [w for w in workers if _alive(w)], "a worker outlived its parent by more than 2 s"
    finally:
        if parent.poll() is None:
            parent.kill()
