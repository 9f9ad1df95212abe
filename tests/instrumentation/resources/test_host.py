"""Host and OS attributes, from fixture trees and from this machine."""

from __future__ import annotations

import platform
import socket

import pytest

from tests.instrumentation.fixture_trees import FIXTURES, cgroup_root
from vigil.instrumentation.resources.host import (
    HostResourceDetector,
    OsResourceDetector,
    host_arch,
    os_type,
    read_os_release,
)


def test_host_outside_a_container_carries_the_machine_id():
    attributes = HostResourceDetector(root=cgroup_root("v1-host")).detect().attributes
    assert attributes["host.name"] == socket.gethostname()
    assert attributes["host.arch"] == host_arch(platform.machine())
    assert attributes["host.id"] == "4c4c4544004d3510804cb4c04f4e4d32"


@pytest.mark.parametrize("tree", ["v2-systemd-docker", "v1-docker"])
def test_host_in_a_container_leaves_the_image_machine_id_out(tree):
    # v2-systemd-docker has an image-baked /etc/machine-id, known to be a container by its cgroup;
    # v1-docker by its /.dockerenv.
    attributes = HostResourceDetector(root=cgroup_root(tree)).detect().attributes
    assert "host.id" not in attributes
    assert attributes["host.name"]


@pytest.mark.parametrize(
    ("machine", "arch"),
    [
        ("x86_64", "amd64"),
        ("AMD64", "amd64"),
        ("aarch64", "arm64"),
        ("armv7l", "arm32"),
        ("i686", "x86"),
        ("ppc64le", "ppc64"),
        ("s390x", "s390x"),
        ("riscv64", "riscv64"),
    ],
)
def test_arch_uses_the_semantic_convention_values(machine, arch):
    assert host_arch(machine) == arch


@pytest.mark.parametrize(("system", "kind"), [("Linux", "linux"), ("Darwin", "darwin"), ("SunOS", "solaris")])
def test_os_type_values(system, kind):
    assert os_type(system) == kind


@pytest.mark.skipif(platform.system() != "Linux", reason="os-release is Linux's")
def test_os_from_os_release():
    attributes = OsResourceDetector(root=cgroup_root("v2-systemd-docker")).detect().attributes
    assert attributes["os.type"] == "linux"
    assert attributes["os.name"] == "Alpine Linux"
    assert attributes["os.version"] == "3.20.3"
    assert attributes["os.description"] == f"Alpine Linux v3.20 (Linux {platform.release()})"


@pytest.mark.skipif(platform.system() != "Linux", reason="os-release is Linux's")
def test_os_without_os_release_still_describes_the_kernel():
    attributes = OsResourceDetector(root=FIXTURES / "k8s").detect().attributes
    assert attributes["os.description"] == f"Linux {platform.release()}"
    assert "os.name" not in attributes


def test_os_release_parsing_unquotes():
    fields = read_os_release(cgroup_root("v1-host"))
    assert fields["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert fields["VERSION_CODENAME"] == "bookworm"
