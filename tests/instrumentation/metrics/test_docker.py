"""The Docker collector against a real, private Docker daemon (tests/instrumentation/metrics/dockerd.py):
containers' metrics through the SDK's in-memory metric reader, their lifecycle through an in-memory
log exporter, reconnection after the daemon goes away, and the configurator's wiring under
``opentelemetry-instrument``. The parsing of both cgroup versions' statistics, the selector and the
records are also checked on their own, without a daemon."""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator

import pytest

docker = pytest.importorskip("docker", reason="the docker extra is not installed")

from opentelemetry._logs import SeverityNumber  # noqa: E402
from opentelemetry.sdk._logs import LoggerProvider  # noqa: E402
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor  # noqa: E402

from tests.instrumentation.instrumented import INSTRUMENT, clean_env  # noqa: E402
from tests.instrumentation.metrics.dockerd import (  # noqa: E402
    IMAGE,
    PrivateDockerd,
    import_busybox,
    why_not_available,
)
from tests.instrumentation.metrics.readings import Readings  # noqa: E402
from vigil.instrumentation.metrics.docker import install_docker_collector  # noqa: E402
from vigil.instrumentation.metrics.docker.connection import Connection  # noqa: E402
from vigil.instrumentation.metrics.docker.events import LifecycleEvents, LifecycleRecords  # noqa: E402
from vigil.instrumentation.metrics.docker.selection import LabelSelector, split_image  # noqa: E402
from vigil.instrumentation.metrics.docker.stats import (  # noqa: E402
    StatsReader,
    limits,
    parse_stats,
    register_instruments,
)

pytestmark = pytest.mark.timeout(60)

MIB = 1024 * 1024
LABEL = "vigil.job"
OOM = "container.oom_killed"

# --- Without a daemon -------------------------------------------------------------------------------


def test_selector_is_docker_label_filters_and_names_the_label_attributes():
    selector = LabelSelector.parse(" vigil.job=true, com.example.sandbox ,, =x")
    assert selector.filters == ("vigil.job=true", "com.example.sandbox")
    assert selector.api_filters() == {"label": ["vigil.job=true", "com.example.sandbox"]}
    labels = {"vigil.job": "true", "com.example.sandbox": "python" * 100, "secret": "no"}
    attributes = selector.attributes("c" * 64, "/job-1", "registry:5000/team/job:1.2", labels)
    assert attributes == {
        "container.id": "c" * 64,
        "container.name": "job-1",
        "container.image.name": "registry:5000/team/job",
        "container.label.vigil.job": "true",
        "container.label.com.example.sandbox": ("python" * 100)[:256],
    }
    assert LabelSelector.parse("").api_filters() == {}


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("busybox", ("busybox", None)),
        ("local/busybox:test", ("local/busybox", "test")),
        ("registry:5000/team/job", ("registry:5000/team/job", None)),
        ("registry:5000/team/job:1.2@sha256:abc", ("registry:5000/team/job", "1.2")),
        ("sha256:0c15db6357d4", ("sha256:0c15db6357d4", None)),
    ],
)
def test_image_references_split_into_name_and_tag(reference, expected):
    assert split_image(reference) == expected


# Trimmed answers of GET /containers/{id}/stats?one-shot=true: v1 from dockerd 20.10 here, v2 in the
# shape moby builds from cgroup v2 files (memory.stat keys, lower-case blkio ops, no percpu).
STATS_V1 = {
    "cpu_stats": {
        "cpu_usage": {
            "total_usage": 1_561_420_968,
            "usage_in_kernelmode": 1_330_000_000,
            "usage_in_usermode": 220_000_000,
        },
        "throttling_data": {"periods": 31, "throttled_periods": 30, "throttled_time": 1_702_620_521},
    },
    "memory_stats": {
        "usage": 32 * MIB,
        "limit": 64 * MIB,
        "stats": {"inactive_file": 1, "total_inactive_file": 2 * MIB, "rss": 3, "total_rss": 29 * MIB},
    },
    "blkio_stats": {
        "io_service_bytes_recursive": [
            {"major": 8, "minor": 0, "op": "Read", "value": 4096},
            {"major": 8, "minor": 0, "op": "Write", "value": 8192},
            {"major": 8, "minor": 0, "op": "Total", "value": 12288},
        ]
    },
    "networks": {"eth0": {"rx_bytes": 1018, "tx_bytes": 336}},
}
STATS_V2 = {
    "cpu_stats": {
        "cpu_usage": {
            "total_usage": 3_000_000_000,
            "usage_in_kernelmode": 1_000_000_000,
            "usage_in_usermode": 2_000_000_000,
        },
        "throttling_data": {"periods": 500, "throttled_periods": 20, "throttled_time": 1_500_000_000},
    },
    "memory_stats": {
        "usage": 300 * MIB,
        "limit": 1024 * MIB,
        "stats": {"anon": 150 * MIB, "inactive_file": 100 * MIB},
    },
    "blkio_stats": {"io_service_bytes_recursive": [{"major": 259, "minor": 0, "op": "read", "value": 10}]},
}


def test_statistics_of_cgroup_v1_and_v2():
    v1 = parse_stats(STATS_V1)
    assert (v1.cpu_total, v1.cpu_user, v1.cpu_system) == (1.561420968, 0.22, 1.33)
    assert (v1.throttling.periods, v1.throttling.throttled_periods) == (31, 30)
    assert v1.throttling.throttled_seconds == pytest.approx(1.702620521)
    # The hierarchy's totals, not the cgroup's own keys.
    assert (v1.memory_usage, v1.memory_working_set, v1.memory_rss) == (32 * MIB, 30 * MIB, 29 * MIB)
    assert v1.disk_io == {("8:0", "read"): 4096, ("8:0", "write"): 8192}
    assert v1.network_io == {("eth0", "receive"): 1018, ("eth0", "transmit"): 336}

    v2 = parse_stats(STATS_V2)
    assert (v2.cpu_total, v2.cpu_user, v2.cpu_system) == (3.0, 2.0, 1.0)
    assert v2.throttling.throttled_seconds == 1.5
    assert (v2.memory_usage, v2.memory_working_set, v2.memory_rss) == (300 * MIB, 200 * MIB, 150 * MIB)
    assert v2.disk_io == {("259:0", "read"): 10}
    assert v2.network_io == {}

    # A container that has just stopped answers with empty sections.
    empty = parse_stats(
        {"cpu_stats": {"cpu_usage": {"total_usage": 0}}, "memory_stats": {}, "blkio_stats": {}}
    )
    assert empty.memory_usage is None and empty.throttling is None and empty.cpu_user is None


def test_limits_come_from_the_host_config():
    assert limits({"HostConfig": {"NanoCpus": 1_500_000_000, "Memory": 64 * MIB}}) == (1.5, 64 * MIB)
    assert limits({"HostConfig": {"CpuQuota": 50_000, "CpuPeriod": 100_000, "Memory": 0}}) == (0.5, None)
    assert limits({"HostConfig": {"CpuQuota": 25_000, "CpuPeriod": 0}}) == (0.25, None)
    assert limits({"HostConfig": {"NanoCpus": 0, "CpuQuota": 0}}) == (None, None)


def event(action: str, cid: str = "a" * 64, when: int = 1_795_426_079_446_564_872, **attributes: str) -> dict:
    return {
        "Type": "container",
        "Action": action,
        "Actor": {
            "ID": cid,
            "Attributes": {"image": IMAGE, "name": "job-1", LABEL: "build-42", **attributes},
        },
        "timeNano": when,
    }


def test_records_say_why_a_container_stopped():
    records = LifecycleRecords(LabelSelector.parse(LABEL))
    start = records.record(event("start"))
    assert (start.event_name, start.severity) == ("container.start", SeverityNumber.INFO)
    assert start.body == f"container job-1 ({IMAGE}) started"
    assert start.timestamp == 1_795_426_079_446_564_872
    assert start.attributes == {
        "container.id": "a" * 64,
        "container.name": "job-1",
        "container.image.name": "local/busybox",
        "container.image.tags": ["test"],
        "container.label.vigil.job": "build-42",
    }

    clean = records.record(event("die", exitCode="0"))
    assert clean.severity == SeverityNumber.INFO
    assert (clean.attributes["container.exit.code"], clean.attributes["container.oom_killed"]) == (0, False)

    failed = records.record(event("die", exitCode="3"))
    assert failed.severity == SeverityNumber.WARN
    assert failed.body == f"container job-1 ({IMAGE}) died with exit code 3"

    oom = records.record(event("oom"))
    assert (oom.event_name, oom.severity) == ("container.oom", SeverityNumber.ERROR)
    killed = records.record(event("die", exitCode="137"))
    assert killed.severity == SeverityNumber.ERROR
    assert killed.attributes["container.oom_killed"] is True
    assert killed.body == f"container job-1 ({IMAGE}) died with exit code 137 (SIGKILL) after an OOM kill"
    # The OOM kill explains that death only.
    assert records.record(event("die", exitCode="1")).attributes["container.oom_killed"] is False

    assert records.record(event("restart")).severity == SeverityNumber.WARN
    assert records.record(event("exec_start: sh")) is None
    assert records.record({**event("start"), "Type": "network"}) is None


def in_memory_logs() -> tuple[LoggerProvider, InMemoryLogRecordExporter]:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    return provider, exporter


def test_a_death_by_sigkill_waits_a_moment_for_its_oom_event():
    # Docker's oom and die notifications race: test_lifecycle_events sees the oom after the die now
    # and then. Here both orders, fed to the follower as its stream's thread would.
    provider, exporter = in_memory_logs()
    follower = LifecycleEvents(LabelSelector.parse(LABEL), provider.get_logger("test"), oom_grace=0.3)
    late, killed, stopped = "a" * 64, "b" * 64, "c" * 64
    follower._handle(event("die", late, 1, exitCode="137"))
    follower._handle(event("die", killed, 2, exitCode="137"))
    follower._handle(event("oom", late, 3))
    follower._handle(event("die", stopped, 4, exitCode="143"))

    def emitted() -> list[tuple]:
        return [
            (
                r.log_record.event_name,
                r.log_record.attributes["container.id"],
                r.log_record.attributes.get(OOM),
            )
            for r in exporter.get_finished_logs()
        ]

    assert emitted() == [
        ("container.oom", late, None),
        ("container.die", late, True),
        ("container.die", stopped, False),  # SIGTERM: no OOM kill to wait for
    ]
    time.sleep(0.5)
    assert emitted()[-1] == ("container.die", killed, False)  # docker kill: no oom came
    follower._handle(event("die", killed, 5, exitCode="137"))
    follower.stop()  # a death still waiting goes out at once
    assert len(emitted()) == 5


def test_off_unless_asked(monkeypatch):
    for name in ("VIGIL_DOCKER_LABEL_SELECTOR", "VIGIL_DOCKER_COLLECTOR"):
        monkeypatch.delenv(name, raising=False)
    assert install_docker_collector(*providers()) is None
    monkeypatch.setenv("VIGIL_DOCKER_LABEL_SELECTOR", LABEL)
    monkeypatch.setenv("VIGIL_DOCKER_COLLECTOR", "false")
    assert install_docker_collector(*providers()) is None
    assert not [t for t in threading.enumerate() if t.name.startswith("vigil-docker")]


OFF_PROBE = textwrap.dedent(
    """
    import json, os, sys, threading
    threads = [t.name for t in threading.enumerate() if t.name.startswith("vigil-docker")]
    print(json.dumps(["docker" in sys.modules, threads]), flush=True)
    os._exit(0)  # no final export to the closed port
    """
)


def test_off_it_costs_the_start_up_nothing():
    # Under opentelemetry-instrument with the extra installed but no selector: the docker SDK is not
    # even imported (the start-up audit in test_configurator.py shows no connection is opened).
    out = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", OFF_PROBE],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, []]


def providers() -> tuple:
    return Readings().provider, LoggerProvider()


# --- Against a private daemon ------------------------------------------------------------------------


# The `daemon` and `client` fixtures are in tests/instrumentation/conftest.py.


PURPOSES = ("events", "stats")


def connection(daemon: PrivateDockerd, purpose: str) -> Connection:
    return Connection(purpose, lambda: daemon.client(), first_retry=0.1, last_retry=0.3)


@pytest.fixture
def stopping() -> Iterator[Callable]:
    """Stops what the test started, even when it fails."""
    started = []
    yield started.append
    for part in started:
        part.stop()


def run(client, command: str, labels: dict | None = None, name: str | None = None, **host_config) -> str:
    container = client.create_container(
        IMAGE,
        ["sh", "-c", command],
        labels=labels or {},
        name=name,
        host_config=client.create_host_config(**host_config),
    )
    client.start(container["Id"])
    return container["Id"]


def wait_for(condition: Callable[[], object], timeout: float = 15, what: str = "condition") -> object:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return result


def of(readings: dict, metric: str, container: str) -> dict:
    """``{other attributes: value}`` of ``metric``'s points for one container."""
    if metric not in readings:
        return {}
    found = {}
    for key, value in readings[metric].points.items():
        attributes = dict(key)
        if attributes.pop("container.id") == container:
            found[tuple(sorted((k, v) for k, v in attributes.items() if not k.startswith("container.")))] = (
                value
            )
    return found


def test_metrics_of_the_selected_containers_only(client, daemon, stopping):
    # Docker's bridge gateway is its subnet's first address.
    gateway = next(
        ipaddress.ip_network(client.inspect_network("bridge")["IPAM"]["Config"][0]["Subnet"]).hosts()
    )
    # 20 MB held in a shell variable, a little traffic, then a busy loop against half a CPU.
    job = run(
        client,
        f"x=$(head -c 20000000 /dev/zero | tr '\\0' a); ping -c 2 -i 0.2 {gateway}; while :; do :; done",
        labels={LABEL: "build-42"},
        name="job-cpu",
        nano_cpus=500_000_000,
        mem_limit="64m",
    )
    other = run(client, "while :; do :; done", labels={"other": "1"})
    readings = Readings()
    reader = StatsReader(LabelSelector.parse(LABEL), 0.3, connection=connection(daemon, "stats"))
    register_instruments(readings.meter(), reader.samples)
    reader.start()
    stopping(reader)

    def ready() -> dict | None:
        collected = readings.collect()
        usage = of(collected, "container.cpu.usage", job)
        network = of(collected, "container.network.io", job)
        memory = of(collected, "container.memory.usage", job)
        sent = network.get((("network.interface.name", "eth0"), ("network.io.direction", "transmit")), 0)
        if usage and usage[()] > 0.1 and sent > 0 and memory and memory[()] > 20_000_000:
            return collected
        return None

    collected = wait_for(ready, what="the job's CPU, memory and traffic")

    cpu = of(collected, "container.cpu.time", job)
    assert set(cpu) == {(("cpu.mode", "user"),), (("cpu.mode", "system"),)}
    assert sum(cpu.values()) > 0
    assert collected["container.cpu.time"].unit == "s" and collected["container.cpu.time"].kind == "counter"
    assert 0.1 < of(collected, "container.cpu.usage", job)[()] < 0.7  # half a CPU, give or take
    assert of(collected, "container.cpu.limit", job) == {(): 0.5}
    assert of(collected, "container.cpu.limit.utilization", job)[()] > 0.2
    assert of(collected, "container.cpu.throttled.periods", job)[()] > 0
    assert of(collected, "container.cpu.throttled.time", job)[()] > 0
    memory = of(collected, "container.memory.usage", job)[()]
    working_set = of(collected, "container.memory.working_set", job)[()]
    assert 20_000_000 < working_set <= memory < 64 * MIB
    assert of(collected, "container.memory.rss", job)[()] > 20_000_000
    assert of(collected, "container.memory.limit", job) == {(): 64 * MIB}
    assert of(collected, "container.memory.available", job) == {(): 64 * MIB - working_set}
    network = of(collected, "container.network.io", job)
    assert network[(("network.interface.name", "eth0"), ("network.io.direction", "receive"))] > 0

    identity = {
        k: v for k, v in next(iter(collected["container.cpu.time"].points)) if k.startswith("container.")
    }
    assert identity == {
        "container.id": job,
        "container.name": "job-cpu",
        "container.image.name": "local/busybox",
        "container.label.vigil.job": "build-42",
    }
    seen = {dict(key)["container.id"] for reading in collected.values() for key in reading.points}
    assert seen == {job}, "only the labelled container is reported"
    assert other not in seen

    # The export never waits on the daemon: callbacks report the latest readings.
    started = time.perf_counter()
    readings.collect()
    assert time.perf_counter() - started < 0.1

    # Stopped: no CPU usage any more, the last totals still there (until forgotten).
    client.kill(job)
    wait_for(lambda: not of(readings.collect(), "container.cpu.usage", job), 5, "the usage to go")
    assert of(readings.collect(), "container.cpu.time", job)


def test_bounded_and_forgetful(client, daemon, stopping, caplog):
    first = run(client, "sleep 30", labels={LABEL: "a"})
    time.sleep(0.05)
    second = run(client, "sleep 30", labels={LABEL: "b"})
    readings = Readings()
    reader = StatsReader(
        LabelSelector.parse(LABEL),
        0.2,
        max_containers=1,
        forget_after=0.5,
        connection=connection(daemon, "stats"),
    )
    register_instruments(readings.meter(), reader.samples)
    with caplog.at_level(logging.WARNING):
        reader.start()
        stopping(reader)

        def tracked() -> set[str]:
            memory = readings.collect().get("container.memory.usage")
            return {dict(key)["container.id"] for key in memory.points} if memory else set()

        only = wait_for(tracked, what="a container")
        assert len(only) == 1
    assert "2 containers match the selector; reporting 1 of them" in caplog.text
    (kept,) = only
    left_out = second if kept == first else first
    time.sleep(0.5)
    assert tracked() == {kept}, "the tracked container keeps its place"

    client.kill(kept)
    # Forgotten after half a second, which makes room for the other one.
    wait_for(lambda: tracked() == {left_out}, 5, "the stopped container to be replaced")


def test_lifecycle_events(client, daemon, stopping):
    logger_provider, exporter = in_memory_logs()
    woken = []
    follower = LifecycleEvents(
        LabelSelector.parse(LABEL),
        logger_provider.get_logger("test"),
        listener=lambda name, cid: woken.append((name, cid)),
        connection=connection(daemon, "events"),
    )
    follower.start()
    stopping(follower)
    assert follower.following.wait(10)

    exit3 = run(client, "exit 3", labels={LABEL: "exit3"})
    # 64 MB through a shell variable in a container limited to 8 MiB without swap: the OOM killer.
    oom = run(
        client,
        "x=$(head -c 64000000 /dev/zero | tr '\\0' a)",
        labels={LABEL: "oom"},
        mem_limit="8m",
        memswap_limit="8m",
    )
    unlabelled = run(client, "exit 5")
    restarted = run(client, "sleep 30", labels={LABEL: "restart"})
    client.restart(restarted, timeout=0)

    def by_name() -> dict:
        found: dict = {}
        for data in exporter.get_finished_logs():
            record = data.log_record
            found.setdefault((record.event_name, record.attributes["container.id"]), []).append(record)
        return found

    wanted = {
        ("container.die", exit3),
        ("container.die", oom),
        ("container.oom", oom),
        ("container.restart", restarted),
        ("container.die", restarted),
    }

    def complete() -> dict | None:
        found = by_name()
        return found if wanted <= found.keys() else None

    records = wait_for(complete, what=str(wanted))

    (died,) = records[("container.die", exit3)]
    assert died.severity_number == SeverityNumber.WARN and died.severity_text == "WARN"
    assert died.attributes["container.exit.code"] == 3
    assert died.attributes["container.oom_killed"] is False
    assert died.attributes["container.label.vigil.job"] == "exit3"
    assert died.attributes["container.image.name"] == "local/busybox"
    assert died.body.endswith("died with exit code 3")
    assert abs(died.timestamp / 1e9 - time.time()) < 60
    assert [r.severity_number for r in records[("container.start", exit3)]] == [SeverityNumber.INFO]

    # One event per process the OOM killer took: head, tr or sh, sometimes two of them.
    assert {r.severity_number for r in records[("container.oom", oom)]} == {SeverityNumber.ERROR}
    (killed,) = records[("container.die", oom)]
    assert killed.attributes["container.exit.code"] == 137
    assert killed.attributes["container.oom_killed"] is True
    assert killed.severity_number == SeverityNumber.ERROR

    # docker restart: die (killed, timeout 0: SIGKILL, but no OOM), start, restart.
    (restart_death,) = records[("container.die", restarted)]
    assert restart_death.attributes["container.exit.code"] == 137
    assert restart_death.attributes["container.oom_killed"] is False
    assert len(records[("container.start", restarted)]) == 2
    assert records[("container.restart", restarted)][0].severity_number == SeverityNumber.WARN

    assert not any(cid == unlabelled for _, cid in records), "the unlabelled container is not followed"
    assert ("container.start", exit3) in woken and ("container.die", oom) in woken


def test_reconnects_when_the_daemon_comes_and_goes(tmp_path_factory, stopping, caplog):
    if reason := why_not_available():
        pytest.skip(reason)
    own = PrivateDockerd(tmp_path_factory.mktemp("dockerd-restarts"))
    logger_provider, exporter = in_memory_logs()
    follower = LifecycleEvents(
        LabelSelector.parse(LABEL), logger_provider.get_logger("test"), connection=connection(own, "events")
    )
    readings = Readings()
    reader = StatsReader(LabelSelector.parse(LABEL), 0.2, connection=connection(own, "stats"))
    register_instruments(readings.meter(), reader.samples)

    def exits(code: int) -> None:
        with own.client() as client:
            cid = run(client, f"sleep 0.5; exit {code}", labels={LABEL: str(code)})
        wait_for(
            lambda: any(
                r.log_record.attributes.get("container.id") == cid
                and r.log_record.event_name == "container.die"
                for r in exporter.get_finished_logs()
            ),
            what=f"the death of the container exiting {code}",
        )
        assert of(readings.collect(), "container.cpu.time", cid), "its statistics were read"

    try:
        with caplog.at_level(logging.INFO, logger="vigil.instrumentation.metrics.docker"):
            # Nothing listens yet: both threads retry quietly.
            for part in (follower, reader):
                part.start()
                stopping(part)
            time.sleep(1)
            own.start()
            with own.client() as client:
                import_busybox(client)
            assert follower.following.wait(5)
            exits(0)

            own.stop()
            wait_for(lambda: not follower.following.is_set(), 10, "the stream to break")
            own.start()
            assert follower.following.wait(5)
            exits(1)
        messages = [(r.levelno, r.getMessage()) for r in caplog.records]
        warned = {
            p: sum(f"daemon ({p}:" in m for level, m in messages if level == logging.WARNING)
            for p in PURPOSES
        }
        recovered = {p: sum(f"answers again ({p})" in m for _, m in messages) for p in PURPOSES}
        # One warning per outage, however many attempts were made (each thread retried several
        # times in the first second). The event stream breaks with every stop; the statistics
        # reader notices the second, short outage only if a round falls into it.
        assert warned["events"] == 2 and warned["stats"] in (1, 2), messages
        assert recovered == warned, messages
    finally:
        for part in (follower, reader):
            part.stop()
        own.stop()
        own.cleanup()
    assert not [t for t in threading.enumerate() if t.name.startswith("vigil-docker")]


WIRED_APP = textwrap.dedent(
    """
    import threading, time, docker
    deadline = time.monotonic() + 10
    while not any(t.name == "vigil-docker-events" for t in threading.enumerate()):
        assert time.monotonic() < deadline, "the collector did not start"
        time.sleep(0.05)
    time.sleep(1)  # its event stream opens
    client = docker.from_env().api  # DOCKER_HOST
    command = ["sh", "-c", "sleep 1; exit 7"]
    container = client.create_container("{image}", command, labels={{"vigil.wired": "yes"}})
    client.start(container["Id"])
    client.wait(container["Id"])
    time.sleep(0.5)
    print("CONTAINER", container["Id"], flush=True)
    """
)


def test_the_configurator_runs_it_under_opentelemetry_instrument(client, daemon):
    env = clean_env(
        DOCKER_HOST=daemon.url,
        VIGIL_DOCKER_LABEL_SELECTOR="vigil.wired",
        VIGIL_DOCKER_INTERVAL="0.2",
        OTEL_TRACES_EXPORTER="none",
        OTEL_METRICS_EXPORTER="console",
        OTEL_LOGS_EXPORTER="console",
        OTEL_METRIC_EXPORT_INTERVAL="60000",
        OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED="false",
    )
    started = time.monotonic()
    out = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", WIRED_APP.format(image=IMAGE)],
        env=env,
        capture_output=True,
        text=True,
        timeout=40,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    container = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("CONTAINER"))
    # The console exporters print at exit: the final metric export and every log record.
    records = [json.loads(block) for block in _json_blocks(out.stdout) if '"event_name"' in block]
    died = [r for r in records if r["event_name"] == "container.die"]
    assert [r["attributes"]["container.exit.code"] for r in died] == [7]
    assert died[0]["attributes"]["container.id"] == container
    assert died[0]["resource"]["attributes"]["telemetry.distro.name"] == "vigil"
    assert f'"container.id": "{container}"' in out.stdout.split('"resource_metrics"', 1)[-1]
    assert time.monotonic() - started < 30


def _json_blocks(text: str) -> Iterator[str]:
    """The top-level JSON objects the console exporters print, one after the other."""
    decoder = json.JSONDecoder()
    position = 0
    while (start := text.find("{", position)) != -1:
        try:
            _, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError:
            position = start + 1
            continue
        yield text[start:end]
        position = end


def test_module_leaves_no_threads_behind():
    time.sleep(0.1)
    assert not [t.name for t in threading.enumerate() if t.name.startswith("vigil-docker")]
