"""A collector and sidecar of a test's own, with collector-config overlays, on ports (21xxx) clear of
the session's stack: for configurations the default stack does not run (TLS, authentication). A
test that runs beside these (the fault soak) passes ports of its own, named as in :data:`PORTS`."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.backends import wait_for
from tests.installed import REPO, binary
from tests.ports import free_port
from vigil.processors.stack.components import COLLECTOR_FLAGS, Component, jaeger_component
from vigil.processors.stack.runner import Stack

HOST = "127.0.0.1"
# Below the kernel's ephemeral range (32768-60999), where an outgoing connection could hold a port.
PORTS = {"otlp": 21317, "http": 21318, "return": 21328, "health": 21133, "prom": 21889, "telemetry": 21888,
         "sidecar": 21327, "sidecar_health": 21134, "jaeger_otlp_grpc": 21417, "jaeger_otlp_http": 21418,
         "jaeger_query": 21686, "jaeger_query_grpc": 21685, "jaeger_health": 21433,
         "jaeger_metrics": 21469}  # fmt: skip


def addresses(ports: Mapping[str, int]) -> dict[str, str]:
    """``host:port`` of each listener of ``ports`` (keys as in :data:`PORTS`)."""
    return {name: f"{HOST}:{port}" for name, port in ports.items()}


ADDR = addresses(PORTS)
TELEMETRY = f"http://{ADDR['telemetry']}/metrics"
SIDECAR_METRICS = f"http://{ADDR['sidecar_health']}/metrics"
JAEGER_QUERY = f"http://{ADDR['jaeger_query']}"


def counter(url: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` with ``labels`` in the Prometheus text at ``url``."""
    text = requests.get(url, timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


def collector_component(
    configs: Sequence[str], addr: Mapping[str, str], run_dir: Path, env: Mapping[str, str]
) -> Component:
    """otelcol-vigil with ``configs`` (paths under collector-config/, merged in order), its
    listeners at ``addr`` (``otlp``, ``http``, ``return``, ``health``, ``prom``, ``telemetry``),
    its queues and log file in ``run_dir``; ``env`` adds the rest (sidecar, Jaeger, ...)."""
    paths = [REPO / "collector-config" / name for name in configs]
    return Component(
        "collector",
        (binary("otelcol-vigil"), *(a for p in paths for a in ("--config", str(p))), *COLLECTOR_FLAGS),
        env={
            "VIGIL_COLLECTOR_OTLP_GRPC_ENDPOINT": addr["otlp"],
            "VIGIL_COLLECTOR_OTLP_HTTP_ENDPOINT": addr["http"],
            "VIGIL_COLLECTOR_RETURN_ENDPOINT": addr["return"],
            "VIGIL_COLLECTOR_HEALTH_ENDPOINT": addr["health"],
            "VIGIL_COLLECTOR_PROMETHEUS_ENDPOINT": addr["prom"],
            "VIGIL_COLLECTOR_TELEMETRY_HOST": addr["telemetry"].rpartition(":")[0],
            "VIGIL_COLLECTOR_TELEMETRY_PORT": addr["telemetry"].rpartition(":")[2],
            "VIGIL_COLLECTOR_STORAGE_DIR": str(run_dir / "queues"),
            "VIGIL_LOG_EXPORT_PATH": str(run_dir / "logs.jsonl"),
            **env,
        },
        health_url=f"http://{addr['health']}/",
    )


def signal_component(
    stack: Stack, name: str, signum: int = signal.SIGKILL, exit_within: float | None = 10.0
) -> Component:
    """Sends ``signum`` to the process group of the stack's component ``name``; with
    ``exit_within``, asserts that it exits within that many seconds (``stack.up()`` starts it
    again). Returns the component."""
    component = next(c for c in stack.components if c.name == name)
    os.killpg(stack.pid(component), signum)
    if exit_within is not None:
        state = wait_for(lambda: stack.state(component), lambda s: s == "stopped", timeout=exit_within)
        assert state == "stopped", f"{name} still runs {exit_within:.0f} s after signal {signum}"
    return component


@contextmanager
def pipeline(
    run_dir: Path,
    overlays: Sequence[str] = (),
    collector_env: Mapping[str, str] | None = None,
    sidecar_env: Mapping[str, str] | None = None,
    jaeger: bool = False,
    ports: Mapping[str, int] = PORTS,
    jaeger_env: Mapping[str, str] | None = None,
    profiles: Sequence[str] = (),
) -> Iterator[Stack]:
    """Sidecar and collector (``collector-config/overlays/<name>.yaml`` merged over vigil.yaml),
    healthy; stopped on the way out. Without ``jaeger``, scored spans wait in the exporter queue.
    ``ports`` moves every listener (keys as in :data:`PORTS`); ``jaeger_env`` adds to Jaeger's
    environment (``JAEGER_MAX_TRACES``: backends/jaeger.yaml's in-memory limit); ``profiles`` are
    exporter profiles (``collector-config/profiles/<name>.yaml``), merged after the overlays."""
    addr = addresses(ports)
    collector = collector_component(
        [
            "vigil.yaml",
            *(f"overlays/{name}.yaml" for name in overlays),
            *(f"profiles/{name}.yaml" for name in profiles),
        ],
        addr,
        run_dir,
        {
            "VIGIL_SIDECAR_ENDPOINT": addr["sidecar"],
            "VIGIL_JAEGER_OTLP_ENDPOINT": addr["jaeger_otlp_grpc"] if jaeger else f"{HOST}:{free_port()}",
            **(collector_env or {}),
        },
    )
    sidecar = Component(
        "sidecar",
        (
            sys.executable,
            "-m",
            "vigil.processors.cli",
            "serve",
            "--endpoint",
            addr["sidecar"],
            "--return-endpoint",
            addr["return"],
            "--health-endpoint",
            addr["sidecar_health"],
        ),
        env=dict(sidecar_env or {}),
        health_url=f"http://{addr['sidecar_health']}/health/ready",
        started_url=f"http://{addr['sidecar_health']}/health/live",
    )
    backend = jaeger_component(
        REPO,
        {n.removeprefix("jaeger_"): port for n, port in ports.items() if n.startswith("jaeger_")},
    )
    backend = replace(backend, env={**backend.env, **(jaeger_env or {})})
    stack = Stack(run_dir, [backend, sidecar, collector] if jaeger else [sidecar, collector])
    try:
        assert stack.up(timeout=60), f"the pipeline did not come up; logs in {stack.log_dir}"
        yield stack
    finally:
        stack.down()
