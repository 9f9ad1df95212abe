"""Free loopback ports for tests that start servers."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port nothing listens on now (connections to it are refused until someone binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
