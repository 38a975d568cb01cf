"""Loopback ports picked before the process that binds them starts (semradio.runtime.net)."""

from __future__ import annotations

import random
import socket

from semradio.runtime.net import LOWEST, ephemeral_range, free_port


def index_of(port: int) -> int:
    """The candidate index :func:`free_port` maps to ``port`` (below the ephemeral range first,
    then above it)."""
    low, high = ephemeral_range()
    return port - LOWEST if port < low else (low - LOWEST) + (port - high - 1)


class Scripted(random.Random):
    """A random source whose ``randrange`` draws the given ports in turn."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(0)
        self.ports = list(ports)

    def randrange(self, *args, **kwargs) -> int:  # type: ignore[override]
        return index_of(self.ports.pop(0))


def test_ephemeral_range_is_read_and_a_bad_file_falls_back(tmp_path):
    f = tmp_path / "range"
    f.write_text("40000\t50000\n")
    assert ephemeral_range(str(f)) == (40000, 50000)
    f.write_text("garbage")
    assert ephemeral_range(str(f)) == (49152, 65535)
    f.write_text("50000 40000")  # low > high: not a range
    assert ephemeral_range(str(f)) == (49152, 65535)


def test_free_port_is_outside_the_ephemeral_range_and_bindable():
    low, high = ephemeral_range()
    for _ in range(20):
        p = free_port()
        assert LOWEST <= p < low or high < p <= 65535
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))


def test_a_taken_port_is_skipped():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        taken.listen()
        busy = taken.getsockname()[1]
        other = free_port()
        assert other != busy
        assert free_port(rng=Scripted([busy, other])) == other


def test_after_tries_taken_ports_it_falls_back_to_an_ephemeral_one():
    lo, hi = ephemeral_range()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", free_port()))
        busy = taken.getsockname()[1]
        p = free_port(rng=Scripted([busy] * 3), tries=3)
    assert lo <= p <= hi
