"""End to end through the real stack: app -> collector -> sidecar -> collector -> Jaeger, Prometheus and
the log file, for traces, metrics and logs. Counts at the backends must equal what was sent."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.e2e.backends import (
    exported_log_records,
    jaeger_spans,
    prometheus_query,
    sidecar_counter,
    tags,
    wait_for,
)
from tests.e2e.load import run_telemetrygen
from tests.installed import REPO

pytestmark = pytest.mark.stack


def test_telemetrygen_traces_reach_jaeger_through_the_sidecar(stack, telemetrygen):
    service = f"e2e-traces-{uuid.uuid4().hex[:8]}"
    before = sidecar_counter("vigil_sidecar_items", signal="traces")
    run_telemetrygen(telemetrygen, "traces", "--traces", "50", "--child-spans", "3", "--service", service)
    expected = 50 * 4  # a root span and three children per trace

    spans = wait_for(lambda: jaeger_spans(service), lambda s: len(s) >= expected)
    assert len(spans) == expected
    assert len({s["traceID"] for s in spans}) == 50
    # They went through the sidecar, not around it.
    assert sidecar_counter("vigil_sidecar_items", signal="traces") - before >= expected


def test_telemetrygen_metrics_reach_prometheus_through_the_sidecar(stack, telemetrygen):
    run = uuid.uuid4().hex[:8]
    points = 40
    before = sidecar_counter("vigil_sidecar_items", signal="metrics")
    run_telemetrygen(
        telemetrygen,
        "metrics",
        "--metrics",
        str(points),
        "--metric-type",
        "Sum",
        "--otlp-metric-name",
        "vigil_e2e_generated",
        "--telemetry-attributes",
        f'run="{run}"',
        "--service",
        f"e2e-metrics-{run}",
    )
    # telemetrygen's cumulative sum counts 0, 1, ... points-1: the last value means every point
    # was delivered in order, and the sidecar counted each one.
    result = wait_for(
        lambda: prometheus_query(f'vigil_e2e_generated_total{{run="{run}"}}'),
        lambda r: bool(r) and float(r[0]["value"][1]) == points - 1,
        timeout=40,
    )
    assert result, "the series never reached Prometheus"
    assert float(result[0]["value"][1]) == points - 1
    assert result[0]["metric"]["job"] == f"e2e-metrics-{run}"
    assert sidecar_counter("vigil_sidecar_items", signal="metrics") - before >= points


def test_telemetrygen_logs_reach_the_log_file_through_the_sidecar(stack, telemetrygen):
    service = f"e2e-logs-{uuid.uuid4().hex[:8]}"
    before = sidecar_counter("vigil_sidecar_items", signal="logs")
    run_telemetrygen(telemetrygen, "logs", "--logs", "30", "--service", service, "--body", "vigil e2e")
    path = stack.run_dir / "otlp-logs.jsonl"
    records = wait_for(lambda: exported_log_records(path, service), lambda r: len(r) >= 30)
    assert len(records) == 30
    assert {r["body"]["stringValue"] for r in records} == {"vigil e2e"}
    assert sidecar_counter("vigil_sidecar_items", signal="logs") - before >= 30


def test_instrumented_demo_app_traces_metrics_and_logs(stack):
    reply = subprocess.run(
        [
            sys.executable,
            "-m",
            "vigil_demo.traffic",
            "--base-url",
            "http://127.0.0.1:8000",
            "--requests",
            "40",
            "--rate",
            "20",
            "--seed",
            "11",
        ],
        env={"PYTHONPATH": str(REPO / "demo")},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    summary = json.loads(reply.stdout.strip().splitlines()[-1])
    assert summary["requests"] == 40

    def user_requests(spans: list[dict]) -> list[dict]:
        # Server spans of the generator's requests: not the stack's health checks, and not the
        # stock lookups that the recommendations endpoint makes of the app itself.
        return [
            s
            for s in spans
            if tags(s).get("span.kind") == "server"
            and not s["operationName"].endswith(("/healthz", "/internal/stock/<int:item_id>"))
        ]

    spans = wait_for(lambda: jaeger_spans("vigil-demo"), lambda s: len(user_requests(s)) >= 40, timeout=45)
    assert len(user_requests(spans)) == 40
    # The distro identifies itself, and the SDK's automatic instrumentation reached sqlite and
    # the outbound HTTP client with no change to the app.
    process_tags = {t["key"]: t["value"] for t in spans[0]["process"]["tags"]}
    assert process_tags["telemetry.distro.name"] == "vigil"
    assert any(tags(s).get("db.system") == "sqlite" for s in spans)
    assert any(
        tags(s).get("span.kind") == "client" and ("http.url" in tags(s) or "url.full" in tags(s))
        for s in spans
    )

    # Logs: stdlib logging records, bridged to OTLP with the ids of the request that wrote them.
    def login_records(records: list[dict]) -> list[dict]:
        return [
            r for r in records if r.get("body", {}).get("stringValue") in ("login succeeded", "login failed")
        ]

    logins = wait_for(
        lambda: login_records(exported_log_records(stack.run_dir / "otlp-logs.jsonl", "vigil-demo")),
        lambda r: len(r) >= summary["by_endpoint"]["POST /login"],
        timeout=30,
    )
    assert logins, "no login log records arrived"
    assert all(r.get("traceId") and r.get("spanId") for r in logins)
    span_ids = {s["traceID"] for s in spans}
    assert any(r["traceId"] in span_ids for r in logins)

    # Metrics: the HTTP server duration histogram, in Prometheus.
    series = wait_for(
        lambda: prometheus_query('{job="vigil-demo", __name__=~"http_server_.*_count"}'),
        lambda r: sum(float(s["value"][1]) for s in r) >= 40,
        timeout=45,
    )
    assert sum(float(s["value"][1]) for s in series) >= 40
