"""The container detector's Docker lookup against a real, private Docker daemon
(tests/instrumentation/metrics/dockerd.py; fixtures in tests/instrumentation/conftest.py): the name,
image and chosen labels of a running container, through the detector on a cgroup fixture tree that
carries that container's id, and the cgroup attributes alone, quickly, when the daemon cannot help."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("docker", reason="the docker extra is not installed")

from tests.instrumentation.fixture_trees import ID_V1_DOCKER, copy_tree
from tests.instrumentation.metrics.dockerd import IMAGE
from vigil.instrumentation.resources.container import (
    CPU_LIMIT,
    MEMORY_LIMIT,
    ContainerResourceDetector,
)
from vigil.instrumentation.resources.docker_container import docker_attributes

pytestmark = pytest.mark.timeout(60)

LABELS = {"com.example.team": "payments", "com.example.build": "b" * 300, "com.example.other": "no"}
CHOSEN = "com.example.team, com.example.build,com.example.missing"
# What the v1-docker tree's cgroup says, whatever the daemon answers.
CGROUP = {"container.runtime.name": "docker", CPU_LIMIT: 1.5, MEMORY_LIMIT: 536870912}


@pytest.fixture
def container(client) -> str:
    """A running, labelled busybox container of the private daemon; its id."""
    created = client.create_container(IMAGE, ["sleep", "300"], labels=LABELS, name="vigil-app")
    client.start(created["Id"])
    return created["Id"]


def expected(container_id: str) -> dict[str, object]:
    return {
        "container.id": container_id,
        "container.name": "vigil-app",
        "container.image.name": "local/busybox",
        "container.image.tags": ["test"],
        "container.label.com.example.team": "payments",
        "container.label.com.example.build": "b" * 256,
    }


def in_container(tmp_path: Path, container_id: str) -> Path:
    """The v1-docker fixture tree, as seen from inside container ``container_id``."""
    root = copy_tree("v1-docker", tmp_path)
    for name in ("cgroup", "mountinfo"):
        path = root / "proc/self" / name
        path.write_text(path.read_text().replace(ID_V1_DOCKER, container_id))
    return root


def test_the_daemon_names_the_container_its_image_and_chosen_labels(daemon, container):
    environ = {"VIGIL_DOCKER_HOST": daemon.url, "VIGIL_CONTAINER_LABELS": CHOSEN}
    assert docker_attributes(container, environ) == expected(container)
    # Docker's own DOCKER_HOST serves as well; without chosen labels there are none.
    assert docker_attributes(container, {"DOCKER_HOST": daemon.url}) == {
        key: value for key, value in expected(container).items() if not key.startswith("container.label.")
    }


def test_the_detector_adds_them_to_the_cgroup_attributes(daemon, container, tmp_path):
    detector = ContainerResourceDetector(
        root=in_container(tmp_path, container),
        environ={"VIGIL_DOCKER_HOST": daemon.url, "VIGIL_CONTAINER_LABELS": CHOSEN},
    )
    # The SDK keeps sequences as tuples.
    resource = {**CGROUP, **expected(container), "container.image.tags": ("test",)}
    assert dict(detector.detect().attributes) == resource


def test_a_container_the_daemon_does_not_know_keeps_the_cgroup_attributes(daemon, tmp_path, caplog):
    detector = ContainerResourceDetector(
        root=in_container(tmp_path, "e" * 64), environ={"VIGIL_DOCKER_HOST": daemon.url}
    )
    with caplog.at_level(logging.WARNING):
        assert dict(detector.detect().attributes) == {**CGROUP, "container.id": "e" * 64}
    assert "cannot inspect container eeeeeeeeeeee" in caplog.text


@pytest.fixture(params=["missing", "refusing", "silent"])
def unreachable(request, tmp_path: Path) -> Iterator[str]:
    """A Docker socket that is not there, that nobody listens on, or that accepts and never answers."""
    path = tmp_path / "docker.sock"
    if request.param == "missing":
        yield f"unix://{path}"
        return
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    if request.param == "refusing":
        server.close()  # the file stays; connections to it are refused
        yield f"unix://{path}"
        return
    server.listen()
    try:
        yield f"unix://{path}"
    finally:
        server.close()


def test_an_unreachable_daemon_leaves_the_cgroup_attributes_quickly(unreachable, tmp_path):
    detector = ContainerResourceDetector(
        root=in_container(tmp_path, ID_V1_DOCKER),
        environ={"VIGIL_DOCKER_HOST": unreachable, "VIGIL_CONTAINER_LABELS": CHOSEN},
    )
    started = time.monotonic()
    attributes = dict(detector.detect().attributes)
    elapsed = time.monotonic() - started
    assert attributes == {**CGROUP, "container.id": ID_V1_DOCKER}
    assert elapsed < 1.5, f"took {elapsed:.2f}s"
