"""Loopback TCP ports for endpoints that two processes must agree on before either binds.

Where one side can bind first, bind ``tcp://127.0.0.1:*`` and read the port back
(``zmq.LAST_ENDPOINT``; :class:`~semradio.blocks.ZMQSink`'s ``endpoint``; a GNU Radio peer that
reports its ``push_sink``'s ``last_endpoint()``): no race at all. Where a port has to be named
before the process that binds it starts, and that process does not report the port it bound
(a GNU Radio script run to completion, a Ray head), :func:`free_port` picks one.

Why not ``bind(("127.0.0.1", 0))``: the OS hands out *ephemeral* ports that way, the same range
it draws the source port of every outgoing connection from. A port freed again after the probe
is soon the source port of some ``connect()`` (a ZeroMQ peer reconnecting, GNU Radio's
``pull_source``), and the later bind fails with "Address already in use". :func:`free_port`
draws from outside the ephemeral range, where the OS assigns nothing by itself, and checks that
the port is free now; only an explicit bind by another program (or another :func:`free_port`
caller drawing the same port) can still take it.
"""

from __future__ import annotations

import random
import socket

__all__ = ["free_port", "ephemeral_range"]

#: Lowest port :func:`free_port` draws (above the registered services most hosts run).
LOWEST = 20000


def ephemeral_range(path: str = "/proc/sys/net/ipv4/ip_local_port_range") -> tuple[int, int]:
    """The OS's ephemeral port range ``(low, high)``, inclusive.

    Linux reads it from ``path``; elsewhere (or unreadable) the IANA range ``(49152, 65535)``.

    Example:
        >>> lo, hi = ephemeral_range("/nonexistent")
        >>> (lo, hi)
        (49152, 65535)
    """
    try:
        with open(path) as f:
            lo, hi = (int(v) for v in f.read().split()[:2])
        if 0 < lo <= hi <= 65535:
            return lo, hi
    except (OSError, ValueError):
        pass
    return 49152, 65535


def _is_free(port: int, host: str) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _spans() -> list[tuple[int, int]]:
    """Port ranges ``[a, b)`` outside the ephemeral range: below it from :data:`LOWEST`, and above it."""
    low, high = ephemeral_range()
    return [(a, b) for a, b in ((LOWEST, low), (high + 1, 65536)) if b > a]


def free_port(host: str = "127.0.0.1", rng: random.Random | None = None, tries: int = 200) -> int:
    """A TCP port on the IPv4 address ``host`` that is free now, outside the OS's ephemeral range.

    Drawn uniformly from ``[LOWEST, low)`` and ``(high, 65535]``, where ``(low, high)`` is
    :func:`ephemeral_range` (Linux default 32768-60999: 17304 candidates), each checked by
    binding it; after ``tries`` taken ones (or with no candidates), an ephemeral port from
    ``bind(0)``, as before.

    Args:
        host: the IPv4 address to bind (loopback by default).
        rng: the random source; ``rng.randrange(n)`` picks the candidate's index (default: a
            fresh ``random.Random()``, so two processes do not draw the same sequence).
        tries: candidates to check before falling back.

    Returns:
        The port number, 1..65535.

    Example:
        >>> lo, hi = ephemeral_range()
        >>> p = free_port()
        >>> p < lo or p > hi  # Linux: not a port the OS hands out by itself
        True
    """
    rng = rng or random.Random()
    spans = _spans()
    total = sum(b - a for a, b in spans)
    if total:
        for _ in range(int(tries)):
            i = rng.randrange(total)
            for a, b in spans:
                if i < b - a:
                    port = a + i
                    break
                i -= b - a
            if _is_free(port, host):
                return port
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
