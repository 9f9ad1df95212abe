"""Fixtures shared by the tests that need a real, private Docker daemon
(tests/instrumentation/metrics/dockerd.py): the Docker collector's and the container resource
detector's. The docker SDK is imported only by the tests that ask for them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import docker

    from tests.instrumentation.metrics.dockerd import PrivateDockerd


@pytest.fixture(scope="module")
def daemon(tmp_path_factory) -> Iterator[PrivateDockerd]:
    """A private dockerd with the busybox image imported, one per test module."""
    from tests.instrumentation.metrics.dockerd import PrivateDockerd, import_busybox, why_not_available

    if reason := why_not_available():
        pytest.skip(reason)
    dockerd = PrivateDockerd(tmp_path_factory.mktemp("dockerd"))
    dockerd.start()
    try:
        with dockerd.client() as client:
            import_busybox(client)
        yield dockerd
    finally:
        dockerd.stop()
        dockerd.cleanup()


@pytest.fixture
def client(daemon) -> Iterator[docker.APIClient]:
    """A client of :func:`daemon`; the test's containers are removed after it."""
    with daemon.client() as client:
        yield client
        for container in client.containers(all=True):
            client.remove_container(container["Id"], force=True)
