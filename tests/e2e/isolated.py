"""A collector and sidecar of a test's own, with collector-config overlays, on ports (21xxx) clear of
the session's stack: for configurations the default stack does not run (TLS, authentication)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

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
ADDR = {name: f"{HOST}:{port}" for name, port in PORTS.items()}
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


@contextmanager
def pipeline(
    run_dir: Path,
    overlays: Sequence[str] = (),
    collector_env: Mapping[str, str] | None = None,
    sidecar_env: Mapping[str, str] | None = None,
    jaeger: bool = False,
) -> Iterator[Stack]:
    """Sidecar and collector (``collector-config/overlays/<name>.yaml`` merged over vigil.yaml),
    healthy; stopped on the way out. Without ``jaeger``, scored spans wait in the exporter queue."""
    collector = collector_component(
        ["vigil.yaml", *(f"overlays/{name}.yaml" for name in overlays)],
        ADDR,
        run_dir,
        {
            "VIGIL_SIDECAR_ENDPOINT": ADDR["sidecar"],
            "VIGIL_JAEGER_OTLP_ENDPOINT": ADDR["jaeger_otlp_grpc"] if jaeger else f"{HOST}:{free_port()}",
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
            ADDR["sidecar"],
            "--return-endpoint",
            ADDR["return"],
            "--health-endpoint",
            ADDR["sidecar_health"],
        ),
        env=dict(sidecar_env or {}),
        health_url=f"http://{ADDR['sidecar_health']}/health/ready",
        started_url=f"http://{ADDR['sidecar_health']}/health/live",
    )
    backend = jaeger_component(
        REPO,
        {n.removeprefix("jaeger_"): port for n, port in PORTS.items() if n.startswith("jaeger_")},
    )
    stack = Stack(run_dir, [backend, sidecar, collector] if jaeger else [sidecar, collector])
    try:
        assert stack.up(timeout=60), f"the pipeline did not come up; logs in {stack.log_dir}"
        yield stack
    finally:
        stack.down()
