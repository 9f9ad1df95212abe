"""The local stack's components: what each runs, where it listens, and how its health is checked.

=============  ====================================================  ===========================
component      listens on (loopback)                                 healthy when
=============  ====================================================  ===========================
jaeger         OTLP 14317/14318, query API and UI 16686              ``:14133/status`` answers
alertmanager   9093 (API and UI; no cluster port)                    ``:9093/-/ready`` answers
prometheus     9090 (sends alerts to alertmanager)                   ``:9090/-/ready`` answers
sidecar        OTLP 4327, health and metrics 13134                   ``:13134/health/ready``
collector      OTLP 4317/4318, return 4328, metrics 8889/8888        ``:13133/`` answers
demo           8000 (run under ``opentelemetry-instrument``)         ``:8000/healthz`` answers
traffic        - (ordinary users against the demo, for one hour)     its process runs
=============  ====================================================  ===========================

Binaries come from ``scripts/install.sh``: ``otelcol-vigil``, ``jaeger`` and ``telemetrygen`` in
``$VIGIL_CACHE_DIR/bin`` (default ``~/.cache/vigil/bin``), ``prometheus`` and
``prometheus-alertmanager`` from Debian's packages.
Configuration files come from the Vigil checkout (``$VIGIL_HOME``, else found from this file).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

ENDPOINTS: Mapping[str, Mapping[str, str]] = {
    "jaeger": {
        "otlp_grpc": "127.0.0.1:14317",
        "query": "http://127.0.0.1:16686",
        "health": "http://127.0.0.1:14133/status",
    },
    "alertmanager": {"http": "http://127.0.0.1:9093", "health": "http://127.0.0.1:9093/-/ready"},
    "prometheus": {"query": "http://127.0.0.1:9090", "health": "http://127.0.0.1:9090/-/ready"},
    "collector": {
        "otlp_grpc": "127.0.0.1:4317",
        "otlp_http": "http://127.0.0.1:4318",
        "return": "127.0.0.1:4328",
        "prometheus_exporter": "http://127.0.0.1:8889/metrics",
        "telemetry": "http://127.0.0.1:8888/metrics",
        "health": "http://127.0.0.1:13133/",
    },
    "sidecar": {
        "otlp_grpc": "127.0.0.1:4327",
        "metrics": "http://127.0.0.1:13134/metrics",
        "live": "http://127.0.0.1:13134/health/live",
        "health": "http://127.0.0.1:13134/health/ready",
    },
    "demo": {"http": "http://127.0.0.1:8000", "health": "http://127.0.0.1:8000/healthz"},
    "traffic": {},
}


# pdata's reference counting panics ("Cannot unref freed data") when the failover connector's
# queue is persistent (collector #15256, contrib #47229, open at v0.139.0); its feature gate exists
# to switch the logic off if it misbehaves. Every way of running the collector passes this.
COLLECTOR_FLAGS = ("--feature-gates=-pdata.enableRefCounting",)


def cache_dir() -> Path:
    return Path(os.environ.get("VIGIL_CACHE_DIR") or Path.home() / ".cache" / "vigil")


def find_home() -> Path:
    """The Vigil checkout that holds collector-config/, backends/ and demo/."""
    candidates = [os.environ.get("VIGIL_HOME"), *Path(__file__).resolve().parents]
    for candidate in candidates:
        if candidate and (Path(candidate) / "collector-config" / "vigil.yaml").is_file():
            return Path(candidate)
    raise FileNotFoundError("cannot find the Vigil checkout: set VIGIL_HOME to it")


def find_binary(name: str) -> str:
    """A binary from the Vigil cache, else from PATH; a clear error names the install step."""
    cached = cache_dir() / "bin" / name
    if cached.is_file() and os.access(cached, os.X_OK):
        return str(cached)
    found = shutil.which(name)
    if found:
        return found
    raise FileNotFoundError(f"{name} is not installed: run scripts/install.sh")


@dataclass(frozen=True)
class Component:
    """One process of the stack."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)
    # Where it listens, for people and for `vigil status --json`.
    endpoints: Mapping[str, str] = field(default_factory=dict)
    # An HTTP URL answering 200 when healthy; None: healthy while the process runs.
    health_url: str | None = None
    # Answers once the process listens, for components that are ready only after a later one
    # starts (the sidecar is ready once the collector's return receiver is up); default health_url.
    started_url: str | None = None


# backends/jaeger.yaml reads each of its ports from one of these variables.
JAEGER_PORT_VARIABLES = {
    "otlp_grpc": "JAEGER_OTLP_GRPC_PORT",
    "otlp_http": "JAEGER_OTLP_HTTP_PORT",
    "query": "JAEGER_QUERY_PORT",
    "query_grpc": "JAEGER_QUERY_GRPC_PORT",
    "health": "JAEGER_HEALTH_PORT",
    "metrics": "JAEGER_METRICS_PORT",
}


def jaeger_component(home: Path, ports: Mapping[str, int] | None = None) -> Component:
    """Jaeger with backends/jaeger.yaml, on its default ports or on ``ports`` (keys of
    :data:`JAEGER_PORT_VARIABLES`), as benchmarks and isolated tests run it beside the stack."""
    env = {
        # Jaeger's own SDK would export its traces to localhost:4317: into our pipeline.
        "OTEL_SDK_DISABLED": "true",
        "OTEL_TRACES_EXPORTER": "none",
    }
    if ports is None:
        endpoints = ENDPOINTS["jaeger"]
    else:
        env |= {JAEGER_PORT_VARIABLES[name]: str(port) for name, port in ports.items()}
        endpoints = {
            "otlp_grpc": f"127.0.0.1:{ports['otlp_grpc']}",
            "query": f"http://127.0.0.1:{ports['query']}",
            "health": f"http://127.0.0.1:{ports['health']}/status",
        }
    return Component(
        "jaeger",
        (find_binary("jaeger"), "--config", f"file:{home / 'backends' / 'jaeger.yaml'}"),
        env=env,
        endpoints=endpoints,
        health_url=endpoints["health"],
    )


def alertmanager_component(run_dir: Path, config: Path, port: int | None = None) -> Component:
    """Debian's Alertmanager with ``config`` (the stack's is backends/alertmanager.yml), its
    notification log and silences in ``run_dir/alertmanager``, on 9093 or on ``port``."""
    endpoints = ENDPOINTS["alertmanager"]
    if port is not None:
        endpoints = {"http": f"http://127.0.0.1:{port}", "health": f"http://127.0.0.1:{port}/-/ready"}
    return Component(
        "alertmanager",
        (
            find_binary("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={run_dir / 'alertmanager'}",
            f"--web.listen-address={endpoints['http'].removeprefix('http://')}",
            # One instance, no high-availability peers: an empty address turns the gossip off, which
            # would otherwise listen on 0.0.0.0:9094.
            "--cluster.listen-address=",
        ),
        endpoints=endpoints,
        health_url=endpoints["health"],
    )


def default_components(run_dir: Path, home: Path | None = None) -> list[Component]:
    """The stack in start order: backends first, then the pipeline, then the app and its users.

    The sidecar starts before the collector: a collector that finds the sidecar's port closed sends
    its first batches around it, unscored, until the failover connector tries the sidecar again.
    """
    home = home or find_home()
    python = sys.executable
    instrument = str(Path(python).with_name("opentelemetry-instrument"))
    demo_env = {"PYTHONPATH": str(home / "demo")}
    return [
        jaeger_component(home),
        # Before Prometheus, which sends it the alerts of its first rule evaluation.
        alertmanager_component(run_dir, home / "backends" / "alertmanager.yml"),
        Component(
            "prometheus",
            (
                find_binary("prometheus"),
                f"--config.file={home / 'backends' / 'prometheus.yml'}",
                f"--storage.tsdb.path={run_dir / 'prometheus'}",
                "--web.listen-address=127.0.0.1:9090",
                "--web.enable-lifecycle",
                # Exemplars on the RED histograms link latency to traces in Jaeger.
                "--enable-feature=exemplar-storage",
            ),
            endpoints=ENDPOINTS["prometheus"],
            health_url=ENDPOINTS["prometheus"]["health"],
        ),
        Component(
            "sidecar",
            (python, "-m", "vigil.processors.cli", "serve"),
            # The stack shows what Vigil finds: the threat and anomaly scorers are on (the
            # sidecar's own default is no scorer, forwarding byte for byte), then redaction masks
            # secrets in what leaves; the anomaly baselines are kept in the run directory across
            # restarts. Explicit variables win.
            env={
                "VIGIL_SIDECAR_SCORERS": os.environ.get("VIGIL_SIDECAR_SCORERS", "threat,anomaly,redaction"),
                "VIGIL_ANOMALY_STATE_DIR": os.environ.get(
                    "VIGIL_ANOMALY_STATE_DIR", str(run_dir / "anomaly-state")
                ),
            },
            endpoints=ENDPOINTS["sidecar"],
            health_url=ENDPOINTS["sidecar"]["health"],
            started_url=ENDPOINTS["sidecar"]["live"],
        ),
        Component(
            "collector",
            (
                find_binary("otelcol-vigil"),
                "--config",
                str(home / "collector-config" / "vigil.yaml"),
                *COLLECTOR_FLAGS,
            ),
            env={
                "VIGIL_LOG_EXPORT_PATH": str(run_dir / "otlp-logs.jsonl"),
                "VIGIL_COLLECTOR_STORAGE_DIR": str(run_dir / "collector-queues"),
            },
            endpoints=ENDPOINTS["collector"],
            health_url=ENDPOINTS["collector"]["health"],
        ),
        Component(
            "demo",
            (instrument, python, "-m", "vigil_demo"),
            env={
                **demo_env,
                "OTEL_SERVICE_NAME": "vigil-demo",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
                "OTEL_METRIC_EXPORT_INTERVAL": "5000",
                "VIGIL_DEMO_DB": str(run_dir / "demo.sqlite3"),
            },
            endpoints=ENDPOINTS["demo"],
            health_url=ENDPOINTS["demo"]["health"],
        ),
        Component(
            "traffic",
            (
                python,
                "-m",
                "vigil_demo.traffic",
                "--base-url",
                ENDPOINTS["demo"]["http"],
                "--duration",
                "3600",
                "--rate",
                "2",
            ),
            env=demo_env,
            endpoints=ENDPOINTS["traffic"],
        ),
    ]
