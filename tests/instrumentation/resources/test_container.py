"""The container detector on cgroup v1 and v2 fixture trees."""

from __future__ import annotations

import pytest

from tests.instrumentation.fixture_trees import (
    ID_V1_DOCKER,
    ID_V2_KUBEPODS_CONTAINERD,
    ID_V2_PRIVATE_NS,
    cgroup_root,
)
from vigil.instrumentation.resources.container import CPU_LIMIT, MEMORY_LIMIT, ContainerResourceDetector


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        (
            "v1-docker",
            {
                "container.id": ID_V1_DOCKER,
                "container.runtime.name": "docker",
                CPU_LIMIT: 1.5,
                MEMORY_LIMIT: 536870912,
            },
        ),
        (
            "v2-private-ns",
            {"container.id": ID_V2_PRIVATE_NS, "container.runtime.name": "docker", CPU_LIMIT: 0.5},
        ),
        (
            "v2-kubepods-containerd",
            {
                "container.id": ID_V2_KUBEPODS_CONTAINERD,
                "container.runtime.name": "containerd",
                CPU_LIMIT: 0.25,
                MEMORY_LIMIT: 67108864,
            },
        ),
        ("v1-host", {}),
    ],
)
def test_container_attributes(tree, expected):
    assert dict(ContainerResourceDetector(root=cgroup_root(tree)).detect().attributes) == expected


def test_documented_attribute_names():
    assert (CPU_LIMIT, MEMORY_LIMIT) == ("vigil.cgroup.cpu.limit", "vigil.cgroup.memory.limit")
