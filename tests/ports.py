"""Loopback ports for tests that start servers, never one that other work on this machine serves on."""

from __future__ import annotations

import socket

# The stack's default ports, and the range of the isolated overlay pipeline (tests/e2e/isolated.py,
# 21xxx), of the alerting test (tests/backends/test_alertmanager.py, 22000-22199), of the scale-out
# test (tests/e2e/test_scale_out.py, 22200-22399), of the pipeline benchmark (23xxx-28xxx) and of
# the fault soak (tests/e2e/test_fault_soak.py, 29000-29199): never bind them, never assume them
# closed.
_RESERVED = {4317, 4318, 4327, 4328, 8000, 8888, 8889, 9090, 9093, 13133, 13134, 14133, 14269, 14317,
             14318, 16685, 16686}  # fmt: skip
_RESERVED_RANGE = range(21000, 29200)


def _allowed(port: int) -> bool:
    return port not in _RESERVED and port not in _RESERVED_RANGE


def listening_socket() -> socket.socket:
    """A TCP socket bound to an allowed loopback port (not yet listening); the caller closes it."""
    for _ in range(200):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        if _allowed(sock.getsockname()[1]):
            return sock
        sock.close()
    raise RuntimeError("no allowed loopback port found")


def free_port() -> int:
    """An allowed loopback port that nothing listens on: connections to it are refused until
    someone binds it. Also the stand-in address of a collector that is down."""
    with listening_socket() as sock:
        return sock.getsockname()[1]
