"""Anomaly scoring with real faults: the demo app runs under opentelemetry-instrument on the real
stack (collector, sidecar with the anomaly scorer, Jaeger); after ordinary traffic has warmed the
baselines, faults are injected through the demo's /_faults control endpoint. The operations a fault
hits must score >= 0.5 in Jaeger, with the right reason, and raise a vigil.anomaly event within a
bounded time; operations it does not touch must stay below 0.5."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.e2e.backends import exported_log_records, jaeger_spans, tags, traces_by_marker, wait_for
from vigil.processors.stack.components import ENDPOINTS

pytestmark = pytest.mark.stack

DEMO = ENDPOINTS["demo"]["http"]
SERVICE = "vigil-demo"
DETECTION_BOUND_S = 45.0
"""From injecting a fault to its first vigil.anomaly event in the collector's log file."""

ITEMS, SEARCH, STOCK = "/items/{}", "/search", "/internal/stock/{}"
ENDPOINTS_UNDER_TEST = (ITEMS, SEARCH, STOCK)


def call(path: str, marker: str) -> None:
    url = f"{DEMO}{path.format(1 + hash(marker) % 5)}"
    requests.get(url, params={"q": "lamp", "ref": marker}, timeout=30)


def send(paths: tuple[str, ...], each: int, tag: str) -> dict[str, list[str]]:
    """``each`` requests to every path, four at a time; the markers sent, by path."""
    markers = {path: [f"{tag}-{i}-{uuid.uuid4().hex[:8]}" for i in range(each)] for path in paths}
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda job: call(*job), [(p, m) for p, ms in markers.items() for m in ms]))
    return markers


def fault(kind: str, value: float, route: str | None = None) -> None:
    body = {"kind": kind, "value": value} | ({"route": route} if route else {})
    requests.post(f"{DEMO}/_faults", json=body, timeout=5).raise_for_status()


def clear_faults() -> None:
    requests.delete(f"{DEMO}/_faults", timeout=5).raise_for_status()


def server_spans(markers: list[str]) -> list[dict]:
    found = wait_for(
        lambda: traces_by_marker(jaeger_spans(SERVICE), markers),
        lambda f: len(f) == len(markers),
        timeout=45,
    )
    assert len(found) == len(markers), "some requests never reached Jaeger"
    return [next(s for s in trace if tags(s).get("span.kind") == "server") for trace in found.values()]


def share_anomalous(spans: list[dict], reason: str | None = None) -> float:
    hits = [
        s
        for s in spans
        if tags(s).get("vigil.anomaly.score", 0) >= 0.5
        and (reason is None or reason in str(tags(s).get("vigil.anomaly.reasons", "")))
    ]
    return len(hits) / len(spans)


def anomaly_event_after(stack, since_ns: int, subject_part: str) -> list[dict]:
    records = exported_log_records(stack.run_dir / "otlp-logs.jsonl", SERVICE)
    return [
        r
        for r in records
        if {"key": "event.name", "value": {"stringValue": "vigil.anomaly"}} in r["attributes"]
        and int(r.get("timeUnixNano", 0)) >= since_ns
        and subject_part in str(r["attributes"])
    ]


@pytest.fixture(scope="module")
def warmed(stack):
    """Ordinary traffic until every operation under test has a baseline (30+ spans each). The
    scorer learns a batch after scoring it, so the warm-up traffic must have been scored (it is
    in Jaeger) before the check's own requests are sent."""
    clear_faults()
    first = send(ENDPOINTS_UNDER_TEST, 40, "warm")
    server_spans([m for ms in first.values() for m in ms][-5:])
    check = send(ENDPOINTS_UNDER_TEST, 3, "warm-check")
    spans = server_spans([m for ms in check.values() for m in ms])
    assert all("vigil.anomaly.score" in tags(s) for s in spans), "baselines still warming up"
    yield stack
    clear_faults()


def test_latency_and_errors_on_two_endpoints_flag_those_and_not_a_third(warmed):
    since = time.time_ns()
    fault("latency", 400, "/items")
    fault("error", 1.0, "/search")
    try:
        markers = send(ENDPOINTS_UNDER_TEST, 15, "faulty")
    finally:
        clear_faults()

    slow = server_spans(markers[ITEMS])
    failing = server_spans(markers[SEARCH])
    healthy = server_spans(markers[STOCK])
    assert share_anomalous(slow, "latency") >= 0.8, [tags(s).get("vigil.anomaly.score") for s in slow]
    assert share_anomalous(failing, "error") >= 0.8, [tags(s).get("vigil.anomaly.score") for s in failing]
    assert share_anomalous(healthy) <= 0.1, [tags(s).get("vigil.anomaly.score") for s in healthy]

    for subject in ("GET /items", "GET /search"):
        events = wait_for(
            lambda subject=subject: anomaly_event_after(warmed, since, subject),
            bool,
            timeout=DETECTION_BOUND_S,
        )
        assert events, f"no vigil.anomaly event for {subject} within {DETECTION_BOUND_S} s"
        delay_s = (int(events[0]["timeUnixNano"]) - since) / 1e9
        print(f"{subject}: first anomaly event {delay_s:.1f} s after the fault")


def test_slow_database_flags_the_statements(warmed):
    fault("slow_db", 250)
    try:
        markers = send((ITEMS,), 10, "slowdb")
    finally:
        clear_faults()
    found = wait_for(
        lambda: traces_by_marker(jaeger_spans(SERVICE), markers[ITEMS]),
        lambda f: len(f) == len(markers[ITEMS]),
        timeout=45,
    )
    statements = [s for trace in found.values() for s in trace if tags(s).get("db.system") == "sqlite"]
    assert statements, "the item lookups made no database spans"
    assert share_anomalous(statements, "latency") >= 0.8, [
        tags(s).get("vigil.anomaly.score") for s in statements
    ]


def test_cpu_contention_slows_and_flags_requests(warmed):
    fault("cpu", 4)
    try:
        markers = send((STOCK,), 15, "cpu")
    finally:
        clear_faults()
    starved = server_spans(markers[STOCK])
    assert share_anomalous(starved, "latency") >= 0.5, [tags(s).get("vigil.anomaly.score") for s in starved]
