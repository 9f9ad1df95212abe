"""Reaching the Docker daemon from the collector's background threads (and from the container
resource detector, :mod:`vigil.instrumentation.resources.docker_container`), and waiting to retry.

The daemon is :envvar:`VIGIL_DOCKER_HOST`, else Docker's own ``DOCKER_HOST`` (with
``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH``), else ``unix:///var/run/docker.sock``: the docker
SDK's ``from_env`` rules. The API version is negotiated with the daemon when the client is made,
which is a request, so clients are only ever made on the collector's threads, never at start-up.

When the daemon cannot be reached (not running yet, restarting, a socket that is not mounted), the
thread waits 1 s, then 2, 4, ... up to 60 s between attempts, and starts again at 1 s once it gets
through. An outage is logged once as a warning, and its end at info level: a daemon that is down for
an hour does not fill the application's logs.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from vigil.instrumentation.environment_variables import VIGIL_DOCKER_HOST

if TYPE_CHECKING:
    from docker import APIClient

_logger = logging.getLogger(__name__)

REQUEST_TIMEOUT = 10.0
"""Seconds any one request (but the event stream) may take."""
FIRST_RETRY = 1.0
LAST_RETRY = 60.0


DEFAULT_HOST = "unix:///var/run/docker.sock"


def daemon_url(environ: Mapping[str, str]) -> str:
    """The configured daemon: :envvar:`VIGIL_DOCKER_HOST`, else ``DOCKER_HOST``, else the local socket."""
    return (
        environ.get(VIGIL_DOCKER_HOST, "").strip() or environ.get("DOCKER_HOST", "").strip() or DEFAULT_HOST
    )


def make_client(
    max_pool_size: int = 10,
    timeout: float = REQUEST_TIMEOUT,
    environ: Mapping[str, str] | None = None,
) -> APIClient:
    """A low-level docker SDK client for the configured daemon (one request: the version), each
    request bounded by ``timeout`` seconds; ``environ`` is the environment (default ``os.environ``)."""
    # The optional extra; imported on the collector's threads or by the container resource detector
    # once it has found a container and a socket, never otherwise at start-up.
    import docker
    from docker.utils import kwargs_from_env

    environment = dict(os.environ if environ is None else environ)
    environment["DOCKER_HOST"] = daemon_url(environment)
    return docker.APIClient(
        version="auto",
        timeout=timeout,
        max_pool_size=max_pool_size,
        **kwargs_from_env(environment=environment),
    )


class Connection:
    """One thread's client, made on first use and dropped when a request fails, with the waiting
    between attempts. Not shared between threads: each has its own connections."""

    def __init__(
        self,
        purpose: str,
        factory: Callable[[], APIClient] = make_client,
        first_retry: float = FIRST_RETRY,
        last_retry: float = LAST_RETRY,
    ) -> None:
        self.purpose = purpose
        self._factory = factory
        self._client: APIClient | None = None
        self._first_retry = first_retry
        self._last_retry = last_retry
        self._retry = first_retry
        self._failing = False

    def client(self) -> APIClient:
        if self._client is None:
            self._client = self._factory()
        return self._client

    def succeeded(self) -> None:
        """A request went through: the next failure starts a new outage."""
        self._retry = self._first_retry
        if self._failing:
            _logger.info("Docker collector: the Docker daemon answers again (%s)", self.purpose)
            self._failing = False

    def failed(self, error: BaseException | str) -> None:
        """A request failed: drop the client so the next attempt connects afresh."""
        if not self._failing:
            _logger.warning(
                "Docker collector: cannot reach the Docker daemon (%s: %s); retrying in the background",
                self.purpose,
                error,
            )
            self._failing = True
        else:
            _logger.debug("Docker collector: %s still failing: %s", self.purpose, error)
        self.close()

    def wait_to_retry(self, stop: threading.Event) -> None:
        """Sleep before the next attempt (unless stopped), each time twice as long up to the last."""
        stop.wait(self._retry)
        self._retry = min(self._retry * 2, self._last_retry)

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # a broken connection may fail to close; it is dropped either way
                _logger.debug("Docker collector: closing the client failed", exc_info=True)
