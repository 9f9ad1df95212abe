"""RED metrics from spans (the spanmetrics connector) through the real stack: in Prometheus, with
exemplars whose trace ids lead to the trace in Jaeger; and the alert rules loaded and healthy."""

from __future__ import annotations

import time
import uuid

import pytest
import requests

from tests.e2e.backends import jaeger_spans, prometheus_query, wait_for
from tests.e2e.load import run_telemetrygen
from vigil.processors.stack.components import ENDPOINTS

pytestmark = pytest.mark.stack


def test_span_metrics_with_exemplars_that_link_to_jaeger(stack, telemetrygen):
    service = f"red-{uuid.uuid4().hex[:8]}"
    run_telemetrygen(telemetrygen, "traces", "--traces", "20", "--service", service)
    # The connector flushes every 15 s and Prometheus scrapes every 5 s.
    calls = wait_for(
        lambda: prometheus_query(f'sum(traces_span_metrics_calls_total{{service_name="{service}"}})'),
        lambda r: bool(r) and float(r[0]["value"][1]) >= 40,
        timeout=60,
    )
    assert calls and float(calls[0]["value"][1]) == 40  # 20 traces of a root and a child

    now = time.time()
    reply = requests.get(
        f"{ENDPOINTS['prometheus']['query']}/api/v1/query_exemplars",
        params={
            "query": f'traces_span_metrics_duration_seconds_bucket{{service_name="{service}"}}',
            "start": now - 600,
            "end": now,
        },
        timeout=10,
    ).json()
    trace_ids = {e["labels"]["trace_id"] for series in reply["data"] for e in series["exemplars"]}
    assert trace_ids, "no exemplars stored"
    in_jaeger = {s["traceID"] for s in jaeger_spans(service)}
    assert trace_ids <= in_jaeger


def test_the_alert_rules_are_loaded_and_evaluate_cleanly(stack):
    def groups() -> list[dict]:
        reply = requests.get(f"{ENDPOINTS['prometheus']['query']}/api/v1/rules", timeout=10).json()
        return reply["data"]["groups"]

    def evaluated(found: list[dict]) -> bool:
        # Prometheus reports a rule never evaluated yet with a zero time (year 0001).
        rules = [rule for group in found for rule in group["rules"]]
        return len(found) == 5 and all(not rule["lastEvaluation"].startswith("0001") for rule in rules)

    loaded = wait_for(groups, evaluated, timeout=30)
    assert {g["name"] for g in loaded} == {
        "vigil-red-recording",
        "vigil-red-alerts",
        "vigil-threats",
        "vigil-anomalies",
        "vigil-pipeline",
    }
    assert all(rule["health"] == "ok" for g in loaded for rule in g["rules"])
