"""Endpoint policy and CURVE security for the ZeroMQ bridge blocks and ``semradio worker``.

* TCP endpoints bind to loopback unless explicitly allowed: :func:`check_bind_endpoint`
  rejects ``tcp://*:port``, ``tcp://0.0.0.0:port`` or an interface address unless
  ``allow_remote=True`` (``--allow-remote`` on the command line).
* CURVE (ZeroMQ's elliptic-curve encryption and authentication, via ``pyzmq``'s
  ``zmq.auth``): key pairs live in ZeroMQ certificate files made by :func:`generate_keys`
  (``NAME.key`` holds the public key, ``NAME.key_secret`` both keys). A CURVE *server* socket
  loads its secret file and, with an authorized-keys directory, runs a
  :class:`zmq.auth.thread.ThreadAuthenticator` that admits only clients whose public key file
  is in that directory; without one any client that knows the server's public key connects
  (encryption, no authentication). A CURVE *client* loads the server's public key file and its
  own secret file (or an ephemeral key pair). A client without the server key cannot complete
  the handshake: its messages never arrive.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Any

import zmq

__all__ = ["check_bind_endpoint", "is_loopback_endpoint", "generate_keys", "CurveConfig"]

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]", "lo", "ip6-localhost"}


#: Transports that stay on this machine.
LOCAL_SCHEMES = ("inproc", "ipc")
#: Other ZeroMQ transports: each reaches other hosts, so binding needs ``allow_remote``.
REMOTE_SCHEMES = ("tcp", "pgm", "epgm", "norm", "udp", "ws", "wss", "tipc", "vmci")


def _split(endpoint: str) -> tuple[str, str]:
    scheme, sep, rest = endpoint.partition("://")
    return (scheme.lower(), rest) if sep else ("", endpoint)


def is_loopback_endpoint(endpoint: str) -> bool:
    """True for ``inproc://``, ``ipc://`` and TCP endpoints on a loopback address or interface
    (``127.0.0.1``, ``::1``, ``localhost`` in any case, ``lo``); False for every other
    transport (PGM, UDP, WebSocket, TIPC, VMCI reach other hosts)."""
    scheme, rest = _split(endpoint)
    if scheme in LOCAL_SCHEMES:
        return True
    if scheme != "tcp":
        return False
    host = rest.rsplit(":", 1)[0]
    if ";" in host:  # "source;dest" form: the bind side is the part after ';'
        host = host.split(";")[-1]
    host = host.lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_endpoint(endpoint: str, allow_remote: bool) -> None:
    """Refuse to bind an endpoint other hosts can reach (a non-loopback TCP address, or any
    other network transport: PGM, UDP, WebSocket, TIPC, VMCI) unless ``allow_remote``.

    Raises:
        ValueError: naming the endpoint and the way to allow it.
    """
    scheme, _ = _split(endpoint)
    if scheme not in LOCAL_SCHEMES and scheme not in REMOTE_SCHEMES:
        raise ValueError(f"not a ZeroMQ endpoint: {endpoint!r} (expected tcp://, ipc:// or inproc://)")
    if not allow_remote and not is_loopback_endpoint(endpoint):
        raise ValueError(f"refusing to bind {endpoint!r}: endpoints bind to loopback (tcp://127.0.0.1, ipc://) "
                         f"unless allowed explicitly (allow_remote=True / --allow-remote); consider CURVE "
                         f"keys for endpoints reachable from other hosts")


def generate_keys(directory: str, name: str) -> tuple[str, str]:
    """Create a CURVE key pair ``directory/name.key`` (public) and ``name.key_secret``.

    Returns:
        ``(public_file, secret_file)``.
    """
    import zmq.auth

    os.makedirs(directory, exist_ok=True)
    pub, sec = zmq.auth.create_certificates(directory, name)
    return str(pub), str(sec)


@dataclass(slots=True)
class CurveConfig:
    """CURVE settings of one socket (paths to ZeroMQ certificate files).

    Attributes:
        server_secret: this socket is a CURVE server: its ``.key_secret`` file.
        authorized: server only: directory of the public key files (``*.key``) of the clients
            allowed in; None admits any client that knows the server's public key.
        server_public: this socket is a CURVE client of the server whose public ``.key``
            file this is.
        client_secret: client only: its own ``.key_secret`` file (None: an ephemeral pair).
    """

    server_secret: str | None = None
    authorized: str | None = None
    server_public: str | None = None
    client_secret: str | None = None

    def __post_init__(self) -> None:
        if self.server_secret and self.server_public:
            raise ValueError("a socket is either a CURVE server (server_secret) or a client (server_public)")
        if self.authorized and not self.server_secret:
            raise ValueError("curve_authorized needs curve_server_secret (it configures a CURVE server)")
        if self.client_secret and not self.server_public:
            raise ValueError("curve_client_secret needs curve_server_public (it configures a CURVE client)")
        for path in (self.server_secret, self.server_public, self.client_secret):
            if path is not None and not os.path.isfile(path):
                raise ValueError(f"CURVE key file not found: {path}")
        if self.authorized is not None and not os.path.isdir(self.authorized):
            raise ValueError(f"CURVE authorized-keys directory not found: {self.authorized}")

    @property
    def enabled(self) -> bool:
        """Whether CURVE is configured at all."""
        return bool(self.server_secret or self.server_public)

    def apply(self, ctx: zmq.Context, sock: zmq.Socket) -> Any:
        """Configure ``sock`` (before bind/connect). Returns the started ThreadAuthenticator
        (server with ``authorized``) that the caller must ``stop()``, else None."""
        import zmq.auth

        auth = None
        if self.server_secret:
            public, secret = zmq.auth.load_certificate(self.server_secret)
            if secret is None:
                raise ValueError(f"{self.server_secret} holds no secret key (use the .key_secret file)")
            from zmq.auth.thread import ThreadAuthenticator

            auth = ThreadAuthenticator(ctx)
            auth.start()
            auth.configure_curve(domain="*", location=self.authorized if self.authorized else zmq.auth.CURVE_ALLOW_ANY)
            sock.curve_secretkey = secret
            sock.curve_publickey = public
            sock.curve_server = True
        elif self.server_public:
            server_key, _ = zmq.auth.load_certificate(self.server_public)
            if self.client_secret:
                public, secret = zmq.auth.load_certificate(self.client_secret)
                if secret is None:
                    raise ValueError(f"{self.client_secret} holds no secret key (use the .key_secret file)")
            else:
                public, secret = zmq.curve_keypair()
            sock.curve_secretkey = secret
            sock.curve_publickey = public
            sock.curve_serverkey = server_key
        return auth
