"""The container metrics against cgroup v1 and v2 fixture trees, collected with the SDK's in-memory
reader, and once against this machine's own cgroup."""

from __future__ import annotations

import logging
import os

import pytest

from tests.instrumentation.fixture_trees import cgroup_dir, cgroup_root, copy_tree, write
from tests.instrumentation.metrics.readings import Readings
from vigil.instrumentation.cgroup import ProcessCgroup
from vigil.instrumentation.metrics.container import ContainerMetrics, install_container_metrics
from vigil.instrumentation.metrics.process import ProcessCpuUtilization

MIB = 1024 * 1024


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cpu_stat_v2(usage_seconds: float, user_share: float = 0.8) -> str:
    usage = int(usage_seconds * 1e6)
    user = int(usage * user_share)
    return (
        f"usage_usec {usage}\nuser_usec {user}\nsystem_usec {usage - user}\n"
        "nr_periods 500\nnr_throttled 20\nthrottled_usec 1500000\n"
    )


def collect_tree(root) -> dict:
    """One collection right after registering the container metrics of ``root``."""
    readings = Readings()
    ContainerMetrics(root, clock=Clock()).register(readings.meter())
    return readings.collect()


# What each tree's files say (see fixtures/README.md): name -> (kind, unit, {attributes: value}).
V1_DOCKER = {
    "container.cpu.time": ("counter", "s", {"user": 9.0, "system": 3.5}),
    "container.cpu.limit": ("updowncounter", "{cpu}", {(): 1.5}),
    "container.cpu.periods": ("counter", "{period}", {(): 1200}),
    "container.cpu.throttled.periods": ("counter", "{period}", {(): 45}),
    "container.cpu.throttled.time": ("counter", "s", {(): 2.25}),
    "container.memory.usage": ("updowncounter", "By", {(): 200 * MIB}),
    # The hierarchy's total_inactive_file (50 MiB) and total_rss count, not this cgroup's own keys.
    "container.memory.working_set": ("updowncounter", "By", {(): 150 * MIB}),
    "container.memory.rss": ("updowncounter", "By", {(): 100 * MIB}),
    "container.memory.available": ("updowncounter", "By", {(): (512 - 150) * MIB}),
    "container.memory.limit": ("updowncounter", "By", {(): 512 * MIB}),
    "container.memory.oom_kills": ("counter", "{kill}", {(): 2}),
    # The scheduler's blkio file holds only "Total 0": the throttling layer's counts.
    "container.disk.io": ("counter", "By", {("8:0", "read"): 4096, ("8:0", "write"): 8192}),
    "container.network.io": (
        "counter",
        "By",
        {("eth0", "receive"): 1_500_000, ("eth0", "transmit"): 300_000},
    ),
}
V2_SYSTEMD_DOCKER = {
    "container.cpu.time": ("counter", "s", {"user": 20.0, "system": 10.0}),
    "container.cpu.limit": ("updowncounter", "{cpu}", {(): 2.0}),
    "container.cpu.periods": ("counter", "{period}", {(): 500}),
    "container.cpu.throttled.periods": ("counter", "{period}", {(): 20}),
    "container.cpu.throttled.time": ("counter", "s", {(): 1.5}),
    "container.memory.usage": ("updowncounter", "By", {(): 300 * MIB}),
    "container.memory.working_set": ("updowncounter", "By", {(): 200 * MIB}),
    "container.memory.rss": ("updowncounter", "By", {(): 150 * MIB}),
    "container.memory.available": ("updowncounter", "By", {(): (1024 - 200) * MIB}),
    "container.memory.limit": ("updowncounter", "By", {(): 1024 * MIB}),
    "container.memory.oom_kills": ("counter", "{kill}", {(): 1}),
    "container.disk.io": (
        "counter",
        "By",
        {
            ("8:0", "read"): 1_048_576,
            ("8:0", "write"): 2_097_152,
            ("253:1", "read"): 4096,
            ("253:1", "write"): 0,
        },
    ),
    "container.network.io": (
        "counter",
        "By",
        {
            ("eth0", "receive"): 7_000_000,
            ("eth0", "transmit"): 2_500_000,
            ("eth1", "receive"): 100,
            ("eth1", "transmit"): 200,
        },
    ),
}
ATTRIBUTE_KEYS = {
    "container.cpu.time": ("cpu.mode",),
    "container.disk.io": ("system.device", "disk.io.direction"),
    "container.network.io": ("network.interface.name", "network.io.direction"),
}


def as_points(name: str, values: dict) -> dict:
    """The expected values keyed as :class:`Reading` keys them."""
    keys = ATTRIBUTE_KEYS.get(name, ())
    points = {}
    for key, value in values.items():
        key = key if isinstance(key, tuple) else (key,)
        points[tuple(sorted(zip(keys, key, strict=True)))] = value
    return points


@pytest.mark.parametrize(
    ("tree", "expected"), [("v1-docker", V1_DOCKER), ("v2-systemd-docker", V2_SYSTEMD_DOCKER)]
)
def test_names_units_attributes_and_values(tree, expected):
    clock = Clock()
    readings = Readings()
    registered = ContainerMetrics(cgroup_root(tree), clock=clock).register(readings.meter())
    clock.now += 10  # no CPU time was used meanwhile: usage 0
    collected = readings.collect()

    assert set(registered) == {*expected, "container.cpu.usage", "container.cpu.limit.utilization"}
    for name, (kind, unit, values) in expected.items():
        reading = collected[name]
        assert (reading.kind, reading.unit) == (kind, unit), name
        assert reading.points == pytest.approx(as_points(name, values)), name
    assert collected["container.cpu.usage"].points == {(): 0.0}
    assert collected["container.cpu.usage"].unit == "{cpu}"
    assert collected["container.cpu.usage"].kind == "gauge"
    assert collected["container.cpu.limit.utilization"].points == {(): 0.0}
    assert collected["container.cpu.limit.utilization"].unit == "1"


def test_cpu_usage_is_the_rate_between_two_collections(tmp_path):
    root = copy_tree("v2-systemd-docker", tmp_path)
    cpu_stat = f"{cgroup_dir('v2-systemd-docker', 'cpu')}/cpu.stat"
    write(root, cpu_stat, cpu_stat_v2(30))
    clock = Clock()
    readings = Readings()
    ContainerMetrics(root, clock=clock).register(readings.meter())  # first reading: 30 s at t0

    clock.now += 10
    write(root, cpu_stat, cpu_stat_v2(35))
    first = readings.collect()
    assert first["container.cpu.usage"].value() == pytest.approx(0.5)
    assert first["container.cpu.limit.utilization"].value() == pytest.approx(0.25)  # of 2 CPUs

    clock.now += 5
    write(root, cpu_stat, cpu_stat_v2(42.5))
    second = readings.collect()
    assert second["container.cpu.usage"].value() == pytest.approx(1.5)
    assert second["container.cpu.limit.utilization"].value() == pytest.approx(0.75)
    assert second["container.cpu.time"].value(cpu__mode="user") == pytest.approx(34.0)


@pytest.mark.parametrize(("busy_cpus", "utilization"), [(0.25, 0.5), (0.5, 1.0)])
def test_utilization_is_normalised_by_the_cgroup_quota_not_the_host(tmp_path, busy_cpus, utilization):
    # v2-private-ns has a 0.5-CPU quota; the host has 4 CPUs. Over the host, 0.5 busy CPUs would read
    # 0.125 and 0.25 would read 0.0625: an application at its limit would look idle.
    host_cpus = 4
    root = copy_tree("v2-private-ns", tmp_path)
    write(root, "sys/fs/cgroup/cpu.stat", cpu_stat_v2(100))
    clock = Clock()
    readings = Readings()
    ContainerMetrics(root, clock=clock).register(readings.meter())
    cpu_seconds = {"user": 80.0, "system": 20.0}
    ProcessCpuUtilization(
        ProcessCgroup(root),
        user_time=lambda: cpu_seconds["user"],
        system_time=lambda: cpu_seconds["system"],
        schedulable=lambda: host_cpus,
        clock=clock,
    ).register(readings.meter("process"))

    clock.now += 10
    write(root, "sys/fs/cgroup/cpu.stat", cpu_stat_v2(100 + busy_cpus * 10))
    cpu_seconds["user"] += busy_cpus * 10 * 0.8
    cpu_seconds["system"] += busy_cpus * 10 * 0.2
    collected = readings.collect()

    assert collected["container.cpu.usage"].value() == pytest.approx(busy_cpus)
    assert collected["container.cpu.limit.utilization"].value() == pytest.approx(utilization)
    process = collected["process.cpu.utilization"]
    assert (process.unit, process.kind) == ("1", "gauge")
    assert process.value(cpu__mode="user") == pytest.approx(utilization * 0.8)
    assert process.value(cpu__mode="system") == pytest.approx(utilization * 0.2)
    assert sum(process.points.values()) != pytest.approx(busy_cpus / host_cpus)


def test_without_a_quota_process_utilization_is_over_the_schedulable_cpus():
    cpu_seconds = [0.0]
    clock = Clock()
    readings = Readings()
    utilization = ProcessCpuUtilization(
        ProcessCgroup(cgroup_root("v1-host")),  # no quota
        user_time=lambda: cpu_seconds[0],
        system_time=lambda: 0.0,
        schedulable=lambda: 4,
        clock=clock,
    )
    utilization.register(readings.meter())
    assert utilization.available_cpus() == 4
    clock.now += 10
    cpu_seconds[0] = 5.0
    assert readings.collect()["process.cpu.utilization"].value(cpu__mode="user") == pytest.approx(0.125)


def test_a_quota_larger_than_the_schedulable_cpus_does_not_count():
    # 1.5 CPUs of quota on a process pinned to one CPU: one CPU is all it can use.
    cgroup = ProcessCgroup(cgroup_root("v1-docker"))
    assert ProcessCpuUtilization(cgroup, schedulable=lambda: 1).available_cpus() == 1
    assert ProcessCpuUtilization(cgroup, schedulable=lambda: 8).available_cpus() == 1.5


def test_a_counter_that_goes_backwards_gives_no_rate_once(tmp_path):
    root = copy_tree("v2-systemd-docker", tmp_path)
    cpu_stat = f"{cgroup_dir('v2-systemd-docker', 'cpu')}/cpu.stat"
    clock = Clock()
    readings = Readings()
    ContainerMetrics(root, clock=clock).register(readings.meter())
    clock.now += 10
    write(root, cpu_stat, cpu_stat_v2(1))  # the cgroup was re-created: its counters restarted
    assert "container.cpu.usage" not in readings.collect()
    clock.now += 10
    write(root, cpu_stat, cpu_stat_v2(3))
    assert readings.collect()["container.cpu.usage"].value() == pytest.approx(0.2)


def test_v1_cpu_modes_fall_back_to_ticks_then_to_the_total(tmp_path):
    root = copy_tree("v1-docker", tmp_path)
    cpuacct = cgroup_dir("v1-docker", "cpuacct")
    (root / cpuacct / "cpuacct.usage_user").unlink()
    (root / cpuacct / "cpuacct.usage_sys").unlink()
    hz = os.sysconf("SC_CLK_TCK")
    assert collect_tree(root)["container.cpu.time"].points == pytest.approx(
        {(("cpu.mode", "system"),): 350 / hz, (("cpu.mode", "user"),): 900 / hz}
    )
    (root / cpuacct / "cpuacct.stat").unlink()
    assert collect_tree(root)["container.cpu.time"].points == {(): 12.5}


def test_disk_devices_are_named_from_sys_dev_block(tmp_path):
    root = copy_tree("v1-docker", tmp_path)
    (root / "sys/dev/block").mkdir(parents=True)
    (root / "sys/dev/block/8:0").symlink_to("../../devices/pci0000:00/0000:00:17.0/ata1/host0/block/sda")
    assert collect_tree(root)["container.disk.io"].points == {
        (("disk.io.direction", "read"), ("system.device", "sda")): 4096,
        (("disk.io.direction", "write"), ("system.device", "sda")): 8192,
    }


def test_limits_and_available_memory_are_observed_only_while_there_is_a_limit(tmp_path):
    root = copy_tree("v2-private-ns", tmp_path)  # 0.5 CPU, no memory limit
    write(root, "sys/fs/cgroup/memory.current", "1048576\n")
    write(root, "sys/fs/cgroup/memory.stat", "anon 524288\ninactive_file 0\n")
    collected = collect_tree(root)
    assert collected["container.memory.usage"].value() == MIB
    assert collected["container.cpu.limit"].value() == 0.5
    assert "container.memory.limit" not in collected
    assert "container.memory.available" not in collected


def test_only_what_the_kernel_exposes_is_registered(tmp_path, caplog):
    caplog.set_level(logging.DEBUG, logger="vigil.instrumentation.metrics.container")
    assert ContainerMetrics(tmp_path).register(Readings().meter()) == []

    root = copy_tree("v2-systemd-docker", tmp_path)
    scope = root / cgroup_dir("v2-systemd-docker", "memory")
    for name in ("io.stat", "memory.events"):
        (scope / name).unlink()
    (root / "proc/self/net/dev").unlink()
    write(root, cgroup_dir("v2-systemd-docker", "cpu") + "/cpu.stat", "usage_usec 5\n")  # no cpu controller
    registered = ContainerMetrics(root).register(Readings().meter())
    assert not {
        "container.disk.io",
        "container.memory.oom_kills",
        "container.network.io",
        "container.cpu.throttled.time",
    } & set(registered)
    assert "container.memory.usage" in registered
    assert "container.disk.io not collected" in caplog.text


def test_files_that_vanish_or_turn_to_garbage_cost_points_not_errors(tmp_path, caplog):
    root = copy_tree("v2-systemd-docker", tmp_path)
    scope = root / cgroup_dir("v2-systemd-docker", "memory")
    clock = Clock()
    readings = Readings()
    ContainerMetrics(root, clock=clock).register(readings.meter())
    (scope / "cpu.stat").unlink()
    (scope / "memory.current").write_text("garbage\n")
    (scope / "io.stat").write_text("8:0 rbytes=x wbytes\n\n")
    (root / "proc/self/net/dev").write_text("nonsense")
    clock.now += 10
    with caplog.at_level(logging.WARNING):
        collected = readings.collect()
    assert not {"container.cpu.time", "container.cpu.usage", "container.memory.usage"} & set(collected)
    assert "container.disk.io" not in collected and "container.network.io" not in collected
    assert collected["container.memory.oom_kills"].value() == 1
    assert caplog.records == []


def test_this_machine(caplog):
    # Whatever this host is (cgroup v1 here, in a container), what it exposes must read as sane values.
    cgroup = ProcessCgroup()
    if cgroup.version("memory") is None and cgroup.version("cpu") is None:
        pytest.skip("no cgroup controllers visible")
    clock = Clock()
    readings = Readings()
    registered = ContainerMetrics(clock=clock).register(readings.meter())
    sum(i * i for i in range(200_000))  # some CPU time of our own
    clock.now += 1
    collected = readings.collect()
    assert "container.cpu.time" in registered and "container.memory.usage" in registered
    assert collected["container.memory.usage"].value() > 0
    assert sum(collected["container.cpu.time"].points.values()) > 0
    for name, reading in collected.items():
        assert reading.points, name
        assert all(value >= 0 for value in reading.points.values()), (name, reading.points)
    assert caplog.records == [] or all(record.levelno < logging.WARNING for record in caplog.records)


@pytest.mark.parametrize(
    ("setting", "tree", "on"),
    [
        (None, "v1-docker", True),  # in a container
        (None, "v2-kubepods-containerd", True),  # limits, though no container id can be found
        (None, "v1-host", False),  # a login session without limits
        ("false", "v1-docker", False),
        ("FALSE", "v2-systemd-docker", False),
        ("true", "v1-host", True),
        ("maybe", "v1-host", False),  # not understood: the default, with a warning
    ],
)
def test_the_setting_and_the_default(monkeypatch, caplog, setting, tree, on):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    if setting is None:
        monkeypatch.delenv("VIGIL_CONTAINER_METRICS", raising=False)
    else:
        monkeypatch.setenv("VIGIL_CONTAINER_METRICS", setting)
    readings = Readings()
    registered = install_container_metrics(readings.provider, root=cgroup_root(tree))
    assert bool(registered) == on
    assert ("neither true nor false" in caplog.text) == (setting == "maybe")


def test_kubernetes_counts_as_a_container(monkeypatch):
    monkeypatch.delenv("VIGIL_CONTAINER_METRICS", raising=False)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    assert ContainerMetrics(cgroup_root("v1-host")).in_container_or_limited()
