"""The system and process metrics as Vigil's distro loads them: in-process with an in-memory reader,
and in a real subprocess under ``opentelemetry-instrument`` (metrics printed by the console exporter)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from opentelemetry.instrumentation.system_metrics import SystemMetricsInstrumentor

from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from tests.instrumentation.metrics.readings import Readings
from vigil.instrumentation.metrics import system
from vigil.instrumentation.metrics.system import instrument_system_metrics, system_metrics_config

# Current semantic-convention names that must arrive with Vigil's defaults (a sample).
CURRENT = {
    "process.cpu.time",
    "process.cpu.utilization",
    "process.memory.usage",
    "process.memory.virtual",
    "process.thread.count",
    "cpython.gc.collections",
    "system.cpu.time",
    "system.memory.usage",
}


@pytest.fixture
def instrumented_system_metrics():
    readings = Readings()
    instrument_system_metrics(SystemMetricsInstrumentor, meter_provider=readings.provider)
    try:
        yield readings
    finally:
        # A singleton: let the next test instrument it again.
        SystemMetricsInstrumentor().uninstrument()


def test_the_config_leaves_out_deprecated_duplicates():
    config = system_metrics_config()
    assert not [key for key in config if key.startswith("process.runtime.")]
    assert "system.thread_count" not in config
    assert {"process.cpu.time", "process.memory.usage", "system.cpu.time", system.REPLACED} <= set(config)


def test_the_standard_exclusion_variable_still_applies(monkeypatch):
    monkeypatch.setenv("OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS", "system.*,process.memory.*")
    config = system_metrics_config()
    assert not [key for key in config if key.startswith(("system.", "process.memory."))]
    assert "process.cpu.time" in config


def test_vigil_process_cpu_utilization_replaces_the_contrib_one(instrumented_system_metrics):
    sum(i * i for i in range(100_000))
    collected = instrumented_system_metrics.collect()
    assert CURRENT <= set(collected)
    assert not [
        name for name in collected if name.startswith("process.runtime.") or name == "system.thread_count"
    ]
    utilization = collected["process.cpu.utilization"]
    assert utilization.scope == "vigil.instrumentation.metrics.system"
    assert (utilization.unit, utilization.kind) == ("1", "gauge")
    assert set(utilization.points) == {(("cpu.mode", "system"),), (("cpu.mode", "user"),)}
    assert all(0 <= value for value in utilization.points.values())


# The attribute keys each metric must carry under Vigil: the current conventions' (see system.py).
CONVENTION_KEYS = {
    "system.cpu.time": {"cpu.mode", "cpu.logical_number"},
    "system.cpu.utilization": {"cpu.mode", "cpu.logical_number"},
    "system.memory.usage": {"system.memory.state"},
    "system.memory.utilization": {"system.memory.state"},
    "system.swap.usage": {"system.paging.state"},
    "system.swap.utilization": {"system.paging.state"},
    "system.disk.io": {"system.device", "disk.io.direction"},
    "system.disk.operations": {"system.device", "disk.io.direction"},
    "system.disk.time": {"system.device", "disk.io.direction"},
    "system.network.io": {"network.interface.name", "network.io.direction"},
    "system.network.packets": {"network.interface.name", "network.io.direction"},
    "system.network.dropped_packets": {"network.interface.name", "network.io.direction"},
    "system.network.errors": {"network.interface.name", "network.io.direction"},
    "system.network.connections": {"network.transport", "network.connection.state", "network.type"},
    "process.cpu.time": {"cpu.mode"},
    "process.context_switches": {"process.context_switch.type"},
    "process.disk.io": {"disk.io.direction"},
    "cpython.gc.collections": {"cpython.gc.generation"},
    "cpython.gc.collected_objects": {"cpython.gc.generation"},
    "cpython.gc.uncollectable_objects": {"cpython.gc.generation"},
}
OLD_KEYS = {"state", "cpu", "device", "direction", "type", "protocol", "family", "generation"}


def test_every_renamed_callback_is_still_the_contribs():
    missing = [name for name in system.RENAMED_ATTRIBUTES if not hasattr(SystemMetricsInstrumentor, name)]
    assert not missing, "opentelemetry-instrumentation-system-metrics changed: update RENAMED_ATTRIBUTES"


def test_attribute_keys_are_the_current_conventions(instrumented_system_metrics):
    collected = instrumented_system_metrics.collect()
    found = {
        name: {key for point in reading.points for key, _ in point}
        for name, reading in collected.items()
        if name in CONVENTION_KEYS
    }
    # Every metric this machine can report (it has disks, interfaces, listening sockets).
    assert set(found) == set(CONVENTION_KEYS)
    assert found == CONVENTION_KEYS
    assert (
        not {key for name, reading in collected.items() for point in reading.points for key, _ in point}
        & OLD_KEYS
    )

    cpu = collected["system.cpu.time"].points
    assert min(dict(point)["cpu.logical_number"] for point in cpu) == 0, "CPUs are counted from 0"
    assert {dict(point)["cpu.mode"] for point in cpu} == {"idle", "user", "system", "interrupt"}
    connections = collected["system.network.connections"].points
    assert {dict(point)["network.transport"] for point in connections} <= {"tcp", "udp"}
    assert {dict(point)["network.type"] for point in connections} <= {"ipv4", "ipv6"}
    assert "listen" in {dict(point).get("network.connection.state") for point in connections}


def test_instrumenting_again_wraps_the_contribs_callbacks_once(instrumented_system_metrics):
    SystemMetricsInstrumentor().uninstrument()
    readings = Readings()
    instrument_system_metrics(SystemMetricsInstrumentor, meter_provider=readings.provider)
    wrapped = SystemMetricsInstrumentor()._get_system_cpu_time.__wrapped__
    assert wrapped.__func__ is SystemMetricsInstrumentor._get_system_cpu_time
    cpu = readings.collect()["system.cpu.time"].points
    assert min(dict(point)["cpu.logical_number"] for point in cpu) == 0


def test_excluding_process_cpu_utilization_excludes_vigils_too(monkeypatch):
    monkeypatch.setenv("OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS", "process.cpu.utilization")
    readings = Readings()
    instrument_system_metrics(SystemMetricsInstrumentor, meter_provider=readings.provider)
    try:
        collected = readings.collect()
    finally:
        SystemMetricsInstrumentor().uninstrument()
    assert "process.cpu.utilization" not in collected
    assert "process.cpu.time" in collected


# Runs under opentelemetry-instrument; the console exporter prints each export as a JSON document.
METRICS_PROBE = """
import os, sys
from opentelemetry import metrics
sum(i * i for i in range(100_000))
metrics.get_meter_provider().force_flush()
print("END-OF-" + "METRICS", flush=True)  # not spelled out: the script is on the resource too
os._exit(0)
"""


def exported_metrics(**env: str) -> dict[str, dict]:
    """name -> {"scope": ..., "attributes": [sorted keys]} of what the probe's export carried."""
    out = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", METRICS_PROBE],
        env=clean_env(
            OTEL_METRICS_EXPORTER="console",
            OTEL_TRACES_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OTEL_METRIC_EXPORT_INTERVAL="600000",  # only the probe's flush exports
            **env,
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout.split("END-OF-METRICS")[0]
    decoder, position, found = json.JSONDecoder(), 0, {}
    while text[position:].strip():
        position += len(text[position:]) - len(text[position:].lstrip())
        document, position = decoder.raw_decode(text, position)
        for resource_metrics in document["resource_metrics"]:
            for scope_metrics in resource_metrics["scope_metrics"]:
                for metric in scope_metrics["metrics"]:
                    points = metric["data"]["data_points"]
                    found[metric["name"]] = {
                        "scope": scope_metrics["scope"]["name"],
                        "attributes": sorted({key for point in points for key in point["attributes"]}),
                    }
    return found


def test_the_distro_exports_system_process_and_container_metrics():
    exported = exported_metrics(VIGIL_CONTAINER_METRICS="true")
    assert CURRENT <= set(exported)
    assert exported["process.cpu.utilization"] == {
        "scope": "vigil.instrumentation.metrics.system",
        "attributes": ["cpu.mode"],
    }
    assert not [name for name in exported if name.startswith("process.runtime.")]
    assert exported["system.cpu.time"]["attributes"] == ["cpu.logical_number", "cpu.mode"]
    assert exported["container.memory.usage"]["scope"] == "vigil.instrumentation.metrics.container"
    assert "container.cpu.time" in exported


def test_both_can_be_switched_off():
    exported = exported_metrics(
        VIGIL_CONTAINER_METRICS="false", OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="system_metrics"
    )
    assert not [name for name in exported if name.startswith(("process.", "system.", "container."))]
