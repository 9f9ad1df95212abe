"""The cgroup reader against cgroup v1 and v2 fixture trees, and the parsers on their own."""

from __future__ import annotations

import pytest

from tests.instrumentation.fixture_trees import (
    ID_V1_DOCKER,
    ID_V1_KUBEPODS,
    ID_V2_KUBEPODS_CONTAINERD,
    ID_V2_PRIVATE_NS,
    ID_V2_SYSTEMD_DOCKER,
    cgroup_root,
)
from vigil.instrumentation.cgroup import (
    ContainerId,
    ProcessCgroup,
    container_id_from_cgroup,
    container_id_from_mountinfo,
    parse_blkio,
    parse_io_stat,
    parse_mountinfo,
    parse_proc_cgroup,
    read_keyed,
)

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("tree", "container", "version", "cpus", "memory"),
    [
        ("v1-docker", ContainerId(ID_V1_DOCKER, "docker"), 1, 1.5, 512 * MIB),
        # The pod's limits are tighter than the container's: the tightest applies.
        ("v1-kubepods", ContainerId(ID_V1_KUBEPODS, None), 1, 0.5, 128 * MIB),
        ("v1-host", None, 1, None, None),
        ("v2-systemd-docker", ContainerId(ID_V2_SYSTEMD_DOCKER, "docker"), 2, 2.0, 1024 * MIB),
        ("v2-private-ns", ContainerId(ID_V2_PRIVATE_NS, "docker"), 2, 0.5, None),
        ("v2-kubepods-containerd", ContainerId(ID_V2_KUBEPODS_CONTAINERD, "containerd"), 2, 0.25, 64 * MIB),
    ],
)
def test_fixture_trees(tree, container, version, cpus, memory):
    cgroup = ProcessCgroup(cgroup_root(tree))
    assert cgroup.container_id() == container
    assert cgroup.version("memory") == version
    assert cgroup.version("cpu") == version
    assert cgroup.cpu_limit() == cpus
    assert cgroup.memory_limit() == memory


def test_v1_directories_come_from_the_mount_table():
    # Inside the container, the host path /docker/<id> is mounted as the hierarchy's root.
    cgroup = ProcessCgroup(cgroup_root("v1-docker"))
    assert cgroup.directory("memory") == cgroup_root("v1-docker") / "sys/fs/cgroup/memory"
    assert cgroup.directory("cpu") == cgroup_root("v1-docker") / "sys/fs/cgroup/cpu,cpuacct"


def test_v2_directory_is_the_process_cgroup_under_the_unified_mount():
    root = cgroup_root("v2-systemd-docker")
    assert ProcessCgroup(root).directory("memory") == (
        root / f"sys/fs/cgroup/system.slice/docker-{ID_V2_SYSTEMD_DOCKER}.scope"
    )


def test_a_hybrid_host_keeps_its_controllers_on_v1():
    # v2 is mounted (at /sys/fs/cgroup/unified) but holds no controllers.
    cgroup = ProcessCgroup(cgroup_root("v1-host"))
    assert cgroup.version("memory") == 1
    assert cgroup.version("io") is None


def test_a_missing_tree_answers_none(tmp_path):
    cgroup = ProcessCgroup(tmp_path)
    assert cgroup.container_id() is None
    assert cgroup.version("memory") is None
    assert cgroup.directory("cpu") is None
    assert cgroup.cpu_limit() is None
    assert cgroup.memory_limit() is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        (f"/docker/{ID_V1_DOCKER}", ContainerId(ID_V1_DOCKER, "docker")),
        (f"/system.slice/docker-{ID_V1_DOCKER}.scope", ContainerId(ID_V1_DOCKER, "docker")),
        (f"/machine.slice/libpod-{ID_V1_DOCKER}.scope", ContainerId(ID_V1_DOCKER, "podman")),
        (f"/kubepods/besteffort/pod1/crio-{ID_V1_DOCKER}.scope", ContainerId(ID_V1_DOCKER, "cri-o")),
        (f"/kubepods/burstable/pod1/{ID_V1_DOCKER}", ContainerId(ID_V1_DOCKER, None)),
        # Docker in Docker: the innermost container is ours.
        (f"/docker/{ID_V1_DOCKER}/docker/{ID_V1_KUBEPODS}", ContainerId(ID_V1_KUBEPODS, "docker")),
        (
            "/ecs/0123456789abcdef0123456789abcdef/0123456789abcdef0123456789abcdef-3106384474",
            ContainerId("0123456789abcdef0123456789abcdef-3106384474", None),
        ),
        ("/", None),
        ("/user.slice/user-1000.slice/session-2.scope", None),
        ("/process_api/ef4d04fdf0082e8aa1a42fb78b8ccf62", None),  # 32 hex digits: not a container id
        (f"/docker/{ID_V1_DOCKER[:63]}", None),
    ],
)
def test_container_id_from_cgroup_paths(path, expected):
    assert container_id_from_cgroup(parse_proc_cgroup(f"0::{path}\n")) == expected


def test_mountinfo_ignores_the_kubernetes_sandbox_and_finds_podman():
    sandbox = "/var/lib/containerd/io.containerd.grpc.v1.cri/sandboxes/" + "ab" * 32 + "/hostname"
    podman = "/var/lib/containers/storage/overlay-containers/" + "cd" * 32 + "/userdata/hostname"
    line = "1 0 8:1 {root} {point} rw - ext4 /dev/sda1 rw\n"
    assert (
        container_id_from_mountinfo(parse_mountinfo(line.format(root=sandbox, point="/etc/hostname"))) is None
    )
    assert container_id_from_mountinfo(parse_mountinfo(line.format(root=podman, point="/etc/hostname"))) == (
        ContainerId("cd" * 32, "podman")
    )


def test_parsers_skip_malformed_lines_and_unescape_paths():
    assert parse_proc_cgroup("garbage\n1:cpu:/a\nx:y:z\n") == parse_proc_cgroup("1:cpu:/a\n")
    [mount] = parse_mountinfo(
        "no separator here\n"
        "36 35 98:0 /my\\040dir /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n"
    )
    assert (mount.root, mount.mount_point, mount.fs_type) == ("/my dir", "/mnt/with space", "ext3")


def test_statistics_file_formats(tmp_path):
    stat = tmp_path / "cpu.stat"
    stat.write_text("usage_usec 10\nnr_periods 2\nsome thing\nbad x\nnegative -1\n\n")
    assert read_keyed(stat) == {"usage_usec": 10, "nr_periods": 2, "negative": -1}
    assert read_keyed(tmp_path / "missing") is None
    assert parse_io_stat("8:0 rbytes=1 wbytes=2 rios=x\n\n253:1 rbytes=3\nlonely\n") == {
        "8:0": {"rbytes": 1, "wbytes": 2},
        "253:1": {"rbytes": 3},
    }
    assert parse_blkio("8:0 Read 5\n8:0 Write 6\n8:16 Read 7\nTotal 18\n") == {
        "8:0": {"read": 5, "write": 6},
        "8:16": {"read": 7},
    }


def test_this_machine_is_read_without_error():
    # Whatever the host is, the reader must answer (possibly None) rather than raise.
    cgroup = ProcessCgroup()
    cgroup.container_id()
    cgroup.cpu_limit()
    cgroup.memory_limit()
    assert cgroup.version("memory") in (1, 2, None)
