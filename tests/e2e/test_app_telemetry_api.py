"""An application's own logs, security events and job metrics through the real stack: a script under
``opentelemetry-instrument`` with Vigil's distro exports to the collector, whose pipeline hands the
logs to the sidecar's threat scorer and the metrics to Prometheus.

Each stdlib record reaches the collector's log file exactly once with its span's ids (the same as
the JSON line it printed); six ``auth.failure`` events from one client become a brute force there
(annotated records and ``vigil.threat`` events); the job metrics are queryable in Prometheus."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest

from tests.e2e.backends import exported_log_records, prometheus_query, settled, wait_for
from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from vigil.processors.stack.components import ENDPOINTS

pytestmark = pytest.mark.stack

ATTACKER = "198.51.100.23"

APP = """
import logging
from opentelemetry import trace
from vigil.instrumentation import JobMetrics, security_events

logging.basicConfig(level=logging.INFO)
log = logging.getLogger("e2e")
tracer = trace.get_tracer("e2e")
jobs = JobMetrics(JOB_TYPE)
for i in range(5):
    with tracer.start_as_current_span(f"step {i}"), jobs.start({"size": "large"}):
        log.info("step %d done", i)
for attempt in range(6):
    with tracer.start_as_current_span("POST /login", attributes={"client.address": ATTACKER}):
        security_events.auth_failure(user="alice", reason="bad_password")
"""


def attributes(record: dict) -> dict:
    return {a["key"]: next(iter(a["value"].values())) for a in record.get("attributes", [])}


def test_logs_security_events_and_job_metrics_through_the_stack(stack):
    # Letters only: a run of digits would make the job type look like an id, and be refused.
    run = uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))
    service, job_type = f"e2e-app-{run}", f"e2e-{run}"
    out = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", f"JOB_TYPE = {job_type!r}\nATTACKER = {ATTACKER!r}\n" + APP],
        env=clean_env(
            OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{ENDPOINTS['collector']['otlp_grpc']}",
            OTEL_SERVICE_NAME=service,
            VIGIL_LOG_FORMAT="json",
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="system_metrics",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    printed = {
        line["message"]: line
        for line in map(json.loads, (x for x in out.stdout.splitlines() if x.startswith("{")))
    }

    log_file = stack.run_dir / "otlp-logs.jsonl"
    # Settled: a record exported twice, or retried and stored twice, would show up late.
    records = settled(lambda: exported_log_records(log_file, service), timeout=60, quiet=3)
    steps = [r for r in records if r.get("body", {}).get("stringValue", "").startswith("step ")]
    assert sorted(r["body"]["stringValue"] for r in steps) == [f"step {i} done" for i in range(5)]
    for record in steps:
        line = printed[record["body"]["stringValue"]]
        assert (record["traceId"], record["spanId"]) == (line["trace_id"], line["span_id"])

    failures = [r for r in records if r.get("eventName") == "auth.failure"]
    assert len(failures) == 6
    scores = [attributes(r).get("vigil.threat.score", 0.0) for r in failures]
    assert sorted(scores)[:2] == [0.0, 0.0] and all(s >= 0.5 for s in sorted(scores)[2:]), scores
    threats = [
        r
        for r in records
        if attributes(r).get("event.name") == "vigil.threat"
        and attributes(r).get("client.address") == ATTACKER
    ]
    assert threats and all(attributes(t)["vigil.threat.category"] == "bruteforce" for t in threats)

    started = wait_for(
        lambda: prometheus_query(f'sum(job_started_total{{job_type="{job_type}"}})'),
        lambda result: bool(result) and float(result[0]["value"][1]) == 5,
        timeout=45,
    )
    assert started and float(started[0]["value"][1]) == 5
