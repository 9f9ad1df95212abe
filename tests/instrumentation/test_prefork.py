"""Pre-fork servers: real gunicorn (2 workers, with and without ``--preload``) and ``uvicorn --workers
2`` run a fixture app under ``opentelemetry-instrument``, exporting to a recording OTLP receiver whose
requests are decoded here. Each request's span arrives exactly once, from the worker that served it;
each worker exports metrics under its own ``process.pid``; what the master measured before the fork
is exported by the master alone; host-wide metrics come from the master only. Below them, the pieces
of :mod:`vigil.instrumentation.prefork` in a real ``os.fork`` of this process."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import requests
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
from opentelemetry.metrics import Observation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader

from tests.apps.server import log_of, serving
from tests.apps.store import ORDERS
from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from tests.otlp_values import attributes as _attributes
from tests.ports import free_port
from tests.recording_receiver import RecordingReceiver
from vigil.instrumentation.prefork import (
    HostWideGate,
    after_fork_in_child,
    is_host_wide,
    spawned_by_multiprocessing,
)
from vigil.processors.signals import Signal

SERVER_KIND = 2  # opentelemetry.proto.trace.v1.Span.SPAN_KIND_SERVER


@dataclass
class Exported:
    """What the receiver got, decoded: server spans and metric points with their resource's pid."""

    server_spans: list[tuple[int, dict, dict]] = field(default_factory=list)  # (pid, attributes, resource)
    metric_pids: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    # (exporting pid, point attributes, value) of every point of the sums, per metric name
    sum_points: dict[str, list[tuple[int, dict, int]]] = field(default_factory=lambda: defaultdict(list))


def decode(receiver: RecordingReceiver) -> Exported:
    exported = Exported()
    for request in receiver.requests(Signal.TRACES):
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    if span.kind == SERVER_KIND:
                        exported.server_spans.append(
                            (resource["process.pid"], _attributes(span.attributes), resource)
                        )
    for request in receiver.requests(Signal.METRICS):
        for resource_metrics in request.resource_metrics:
            pid = _attributes(resource_metrics.resource.attributes)["process.pid"]
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    exported.metric_pids[metric.name].add(pid)
                    if metric.WhichOneof("data") == "sum":
                        exported.sum_points[metric.name] += [
                            (pid, _attributes(point.attributes), point.as_int)
                            for point in metric.sum.data_points
                        ]
    return exported


def spans_of_path(exported: Exported, path: str) -> list[tuple[int, dict, dict]]:
    """Server spans whose request target was exactly ``path``."""
    return [
        span
        for span in exported.server_spans
        if path in (span[1].get("http.target"), span[1].get("url.path"))
    ]


def load_until_every_worker_served(port: int, paths, workers: int = 2) -> dict[str, int]:
    """GET ``paths`` (8 at a time, a new connection each, as keep-alive would stick to one worker)
    until ``workers`` different processes have answered and at least 40 requests were made; return
    the pid that served each path requested."""
    served: dict[str, int] = {}
    paths = list(paths)

    def get(path: str) -> tuple[str, int]:
        reply = requests.get(f"http://127.0.0.1:{port}{path}", headers={"Connection": "close"}, timeout=10)
        reply.raise_for_status()
        return path, reply.json()["pid"]

    with ThreadPoolExecutor(8) as pool:
        while len(served) < 40 or len(set(served.values())) < workers:
            assert paths, f"only {set(served.values())} answered {len(served)} requests"
            batch, paths = paths[:8], paths[8:]
            served.update(pool.map(get, batch))
    return served


def run_server(argv: list[str], port: int, paths, tmp_path) -> tuple[int, dict[str, int], Exported]:
    """Serve with ``argv`` under opentelemetry-instrument, exporting to a recording receiver; load it;
    stop it (SIGTERM: each process flushes at exit). Returns the master's pid, who served what, and
    everything exported."""
    with RecordingReceiver() as receiver:
        env = clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{receiver.endpoint}",
            OTEL_SERVICE_NAME="prefork",
            OTEL_METRIC_EXPORT_INTERVAL="1000",
            OTEL_BSP_SCHEDULE_DELAY="200",
            FIXTURE_DB=str(tmp_path / "orders.sqlite3"),
        )
        with serving([INSTRUMENT, sys.executable, "-m", *argv], port, env, tmp_path) as master:
            served = load_until_every_worker_served(port, paths)
        exported = decode(receiver)
    print(log_of(tmp_path)[-2000:])
    return master, served, exported


def assert_each_request_once_from_its_worker(master: int, served: dict[str, int], exported: Exported) -> set:
    workers = set(served.values())
    assert len(workers) == 2 and master not in workers
    for path, pid in served.items():
        spans = spans_of_path(exported, path)
        assert [span[0] for span in spans] == [pid], f"{path}: {len(spans)} spans"
    # Every server span comes from a worker, on a resource of its own that names the master as parent.
    assert {span[0] for span in exported.server_spans} == workers
    for _, _, resource in exported.server_spans:
        assert resource["process.parent_pid"] == master
        assert resource["telemetry.distro.name"] == "vigil"
    instance_ids = {pid: resource["service.instance.id"] for pid, _, resource in exported.server_spans}
    assert len(set(instance_ids.values())) == 2
    return workers


def assert_metrics_per_process(master: int, workers: set, exported: Exported) -> None:
    duration = (
        exported.metric_pids.get("http.server.duration")
        or exported.metric_pids["http.server.request.duration"]
    )
    assert duration == workers
    # Each process reports its own process metrics (uvicorn's include multiprocessing's resource
    # tracker); the host's and the container's come from the master alone.
    assert exported.metric_pids["process.cpu.time"] >= workers | {master}
    assert exported.metric_pids["system.cpu.time"] == {master}
    host_wide = {name for name in exported.metric_pids if name.startswith(("system.", "container."))}
    assert host_wide
    for name in host_wide:
        assert exported.metric_pids[name] == {master}, name


@pytest.mark.parametrize("preload", [False, True], ids=["fork-then-import", "preload"])
def test_gunicorn_workers_export_their_own_telemetry_once(tmp_path, preload):
    port = free_port()
    argv = [
        "gunicorn",
        "-w",
        "2",
        "-b",
        f"127.0.0.1:{port}",
        "--no-control-socket",
        "tests.apps.flask_app:app",
    ]
    paths = (f"/work/{uuid.uuid4().hex}" for _ in range(400))
    master, served, exported = run_server(argv + (["--preload"] if preload else []), port, paths, tmp_path)

    workers = assert_each_request_once_from_its_worker(master, served, exported)
    assert_metrics_per_process(master, workers, exported)

    # The counter the app adds 1 to at import, with its pid as attribute.
    points = exported.sum_points["fixture.preloaded"]
    assert {value for _, _, value in points} == {1}
    if preload:
        # Imported once, in the master, before the fork: the master exports it, no worker does.
        assert {(pid, attributes["pid"]) for pid, attributes, _ in points} == {(master, master)}
    else:
        # Imported in each worker: each exports its own.
        assert {(pid, attributes["pid"]) for pid, attributes, _ in points} == {(w, w) for w in workers}


def test_uvicorn_spawned_workers_export_their_own_telemetry_once(tmp_path):
    port = free_port()
    argv = ["uvicorn", "tests.apps.fastapi_app:app", "--port", str(port), "--workers", "2", "--no-access-log"]
    # Each order once: the app's own call to /stock/<item> is a server span of another path.
    paths = (f"/orders/{n}" for n in range(1, ORDERS + 1))
    master, served, exported = run_server(argv, port, paths, tmp_path)

    workers = assert_each_request_once_from_its_worker(master, served, exported)
    assert_metrics_per_process(master, workers, exported)


# The pieces, in a real fork of this process.


def in_child(work) -> dict:
    """Run ``work()`` in a forked child of this process; return the JSON-able dict it returned."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.write(write_end, json.dumps(work()).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        result = pipe.read()
    os.waitpid(pid, 0)
    assert result, "the child failed"
    return json.loads(result)


def test_a_forked_child_exports_only_its_own_measurements_on_a_channel_of_its_own():
    with RecordingReceiver() as receiver:
        exporter = OTLPMetricExporter(endpoint=receiver.endpoint, insecure=True)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=math.inf)
        provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)
        jobs = provider.get_meter("app").create_counter("jobs")
        jobs.add(5)  # before the fork, in the "master"

        def without_prefork_support() -> dict:
            jobs.add(1)
            reader.collect()
            return {}

        def with_prefork_support() -> dict:
            inherited = exporter._channel
            after_fork_in_child(None, provider, None, os.getppid())
            jobs.add(1)
            reader.collect()
            return {"new_channel": exporter._channel is not inherited}

        in_child(without_prefork_support)
        assert in_child(with_prefork_support) == {"new_channel": True}
        provider.shutdown()

    values = [
        point.as_int
        for request in receiver.requests(Signal.METRICS)
        for resource_metrics in request.resource_metrics
        for scope_metrics in resource_metrics.scope_metrics
        for metric in scope_metrics.metrics
        for point in metric.sum.data_points
    ]
    # The SDK alone: the child exports the master's 5 as its own. With Vigil: only its own 1.
    assert values == [6, 1]


def test_host_wide_instruments_are_left_to_the_master_in_a_forked_child():
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader], shutdown_on_exit=False)

    def observe(options):
        return [Observation(1)]

    def register(scope: str, name: str) -> None:
        provider.get_meter(scope).create_observable_gauge(name, callbacks=[observe])

    register("opentelemetry.instrumentation.system_metrics", "system.cpu.time")
    register("opentelemetry.instrumentation.system_metrics", "process.cpu.time")
    register("vigil.instrumentation.metrics.container", "container.cpu.time")
    register("app", "system.queue.depth")  # the app's own, whatever its name

    def names() -> list[str]:
        data = reader.get_metrics_data()
        return sorted(
            metric.name
            for resource_metrics in data.resource_metrics
            for scope_metrics in resource_metrics.scope_metrics
            for metric in scope_metrics.metrics
        )

    assert names() == ["container.cpu.time", "process.cpu.time", "system.cpu.time", "system.queue.depth"]

    def child() -> dict:
        after_fork_in_child(None, provider, None, os.getppid())
        register("vigil.instrumentation.metrics.docker", "container.memory.usage")  # registered later
        return {"names": names()}

    assert in_child(child) == {"names": ["process.cpu.time", "system.queue.depth"]}
    provider.shutdown()


def test_the_gate_opens_when_the_master_is_gone():
    def callback(options):
        return ["reading"]

    assert list(HostWideGate(callback, os.getppid())(None)) == []
    assert list(HostWideGate(callback, None)(None)) == []
    # A daemonizing double fork: the parent the gate was set for has exited.
    assert list(HostWideGate(callback, os.getppid() + 1_000_000)(None)) == ["reading"]


def test_a_forked_worker_reads_its_own_process_metrics():
    probe = """
import json, os
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor
pid = os.fork()
if pid == 0:
    reads = SystemMetricsInstrumentor._instance._proc.pid
    print(json.dumps({"reads": reads, "pid": os.getpid()}), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
os._exit(0)
"""
    out = subprocess.run([INSTRUMENT, sys.executable, "-c", probe], env=clean_env(), capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["reads"] == child["pid"]


@pytest.mark.parametrize(
    "argv, spawned",
    [
        (["python", "-c", "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=5)",
          "--multiprocessing-fork"], True),
        (["python", "-B", "-c", "from multiprocessing.resource_tracker import main;main(11)"], True),
        (["python", "-c", "from multiprocessing.forkserver import main; main(3, 4, ['__main__'])"], True),
        (["python", "-m", "uvicorn", "app:app", "--workers", "2"], False),
        (["python", "-m", "gunicorn", "app:app"], False),
        (["python", "-c", "import multiprocessing"], False),
    ],
)  # fmt: skip
def test_processes_started_by_multiprocessing_are_recognised_from_their_command_line(argv, spawned):
    assert spawned_by_multiprocessing(argv) is spawned


def test_host_wide_means_the_host_or_the_container_not_the_process():
    provider = MeterProvider(shutdown_on_exit=False)

    def instrument(scope: str, name: str):
        return provider.get_meter(scope).create_counter(name)

    assert is_host_wide(instrument("opentelemetry.instrumentation.system_metrics", "system.memory.usage"))
    assert is_host_wide(instrument("vigil.instrumentation.metrics.container", "container.cpu.time"))
    assert is_host_wide(instrument("vigil.instrumentation.metrics.docker", "container.cpu.time"))
    assert not is_host_wide(instrument("opentelemetry.instrumentation.system_metrics", "process.cpu.time"))
    assert not is_host_wide(
        instrument("opentelemetry.instrumentation.system_metrics", "cpython.gc.collections")
    )
    assert not is_host_wide(instrument("app", "system.jobs"))
    provider.shutdown()
