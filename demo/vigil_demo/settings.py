"""The demo app's settings, read from environment variables.

Every variable the app reads is declared here, as a field of :class:`Settings` whose
docstring names the variable and its default:

==========================  =================================================
``VIGIL_DEMO_HOST``         address to listen on (loopback only), ``127.0.0.1``
``VIGIL_DEMO_PORT``         port to listen on, ``8000``
``VIGIL_DEMO_DB``           sqlite database file, ``<temp dir>/vigil-demo.sqlite3``
``VIGIL_DEMO_ADMIN_TOKEN``  bearer token of the ``/admin`` endpoints, ``demo-admin-token``
``VIGIL_DEMO_UPSTREAM``     base URL of the stock service, the app's own address
``VIGIL_DEMO_FAULTS``       faults to inject from the start, none
==========================  =================================================
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

from vigil_demo.faults import Fault, parse_faults
from vigil_demo.loopback import is_loopback

DEFAULT_ADMIN_TOKEN = "demo-admin-token"


@dataclass(frozen=True)
class Settings:
    """Where the app listens, what it stores, and whom it trusts."""

    host: str = "127.0.0.1"
    """``VIGIL_DEMO_HOST``: the address to listen on, default ``127.0.0.1``.

    Must be a loopback address (or ``localhost``): the app has a deliberately injectable endpoint.
    """

    port: int = 8000
    """``VIGIL_DEMO_PORT``: the TCP port to listen on, default ``8000``."""

    db_path: str = os.path.join(tempfile.gettempdir(), "vigil-demo.sqlite3")
    """``VIGIL_DEMO_DB``: the sqlite database file, default ``vigil-demo.sqlite3`` in the temp dir.

    Created and seeded at start-up if it does not exist; kept across runs otherwise.
    """

    admin_token: str = DEFAULT_ADMIN_TOKEN
    """``VIGIL_DEMO_ADMIN_TOKEN``: the token ``/admin`` requests must send as
    ``Authorization: Bearer <token>``, default ``demo-admin-token``."""

    upstream: str | None = None
    """``VIGIL_DEMO_UPSTREAM``: base URL of the stock service ``/recommendations`` calls,
    default the app's own address (see :attr:`upstream_url`)."""

    faults: tuple[Fault, ...] = ()
    """``VIGIL_DEMO_FAULTS``: faults active from start-up, default none. For testing anomaly
    detection only: comma-separated ``kind:route:value`` (``latency`` in ms, ``error`` as a
    fraction of requests) and ``kind:value`` (``slow_db`` in ms, ``cpu`` in busy threads), e.g.
    ``"latency:/items:300,error:/search:0.5,slow_db:200,cpu:1"``. See ``faults``, which also
    explains how to change them at run time. A malformed value is refused with ValueError."""

    def __post_init__(self) -> None:
        if not is_loopback(self.host):
            raise ValueError(f"VIGIL_DEMO_HOST must be a loopback address, not {self.host!r}")

    @property
    def base_url(self) -> str:
        """The URL the app serves on, e.g. ``http://127.0.0.1:8000``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def upstream_url(self) -> str:
        """``upstream`` when set, otherwise the app's own :attr:`base_url`."""
        return (self.upstream or self.base_url).rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        """Settings from ``environ``, with the defaults above for unset variables."""
        port = environ.get("VIGIL_DEMO_PORT", str(cls.port))
        if not port.isdigit():
            raise ValueError(f"VIGIL_DEMO_PORT must be a port number, not {port!r}")
        return cls(
            host=environ.get("VIGIL_DEMO_HOST", cls.host),
            port=int(port),
            db_path=environ.get("VIGIL_DEMO_DB", cls.db_path),
            admin_token=environ.get("VIGIL_DEMO_ADMIN_TOKEN", cls.admin_token),
            upstream=environ.get("VIGIL_DEMO_UPSTREAM") or None,
            faults=parse_faults(environ.get("VIGIL_DEMO_FAULTS", "")),
        )
