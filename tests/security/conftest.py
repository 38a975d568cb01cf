"""Helpers of the hostile-input suite: free endpoints and a raw ZeroMQ peer."""

from __future__ import annotations

import pytest
import zmq

from semradio.runtime.net import free_port


def free_tcp() -> str:
    return f"tcp://127.0.0.1:{free_port()}"


@pytest.fixture()
def endpoint(tmp_path):
    """``endpoint(transport)`` -> a fresh ``ipc://`` or ``tcp://`` address."""

    def make(transport: str = "ipc", name: str = "s") -> str:
        return f"ipc://{tmp_path / name}" if transport == "ipc" else free_tcp()

    return make


@pytest.fixture()
def raw_push():
    """``raw_push(address)`` -> a connected raw PUSH socket (the hostile peer); closed afterwards."""
    ctx = zmq.Context()
    socks = []

    def make(address: str) -> zmq.Socket:
        s = ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.LINGER, 2000)
        s.connect(address)
        socks.append(s)
        return s

    yield make
    for s in socks:
        s.close(2000)
    ctx.term()
