"""Reading what reached the backends: spans from Jaeger's HTTP API, series from Prometheus's query
API, log records from the collector's log file, and the sidecar's own counters."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import requests
from prometheus_client.parser import text_string_to_metric_families

from vigil.processors.stack.components import ENDPOINTS

T = TypeVar("T")


def wait_for(
    read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30.0, every: float = 0.5
) -> T:
    """Poll ``read`` until ``done(value)``; return the last value either way (assert on it)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(every)
        value = read()
    return value


def jaeger_spans(service: str, query_url: str = ENDPOINTS["jaeger"]["query"]) -> list[dict]:
    """Every span Jaeger holds for ``service``, each with its process's tags merged in."""
    reply = requests.get(
        f"{query_url}/api/traces",
        params={"service": service, "limit": 100000, "lookback": "1h"},
        timeout=10,
    )
    if reply.status_code != 200:  # an unknown service is an error in Jaeger's API
        return []
    spans = []
    for trace in reply.json()["data"] or []:
        for span in trace["spans"]:
            span["process"] = trace["processes"][span["processID"]]
            spans.append(span)
    return spans


def tags(span: dict) -> dict:
    return {t["key"]: t["value"] for t in span["tags"]}


def traces_by_marker(spans: list[dict], markers: list[str]) -> dict[str, list[dict]]:
    """The spans of each request's trace, found by the marker in its server span's target."""
    by_trace: dict[str, list[dict]] = {}
    for span in spans:
        by_trace.setdefault(span["traceID"], []).append(span)
    found = {}
    for trace in by_trace.values():
        for span in trace:
            target = str(tags(span).get("http.target", "")) + str(tags(span).get("url.query", ""))
            for marker in markers:
                if marker in target:
                    found[marker] = trace
    return found


def prometheus_query(query: str) -> list[dict]:
    reply = requests.get(
        f"{ENDPOINTS['prometheus']['query']}/api/v1/query", params={"query": query}, timeout=10
    )
    reply.raise_for_status()
    return reply.json()["data"]["result"]


def exported_log_records(path: Path, service: str) -> list[dict]:
    """Log records of ``service`` in the file exporter's OTLP JSON lines."""
    records: list[dict] = []
    if not path.exists():
        return records
    lines = path.read_text().split("\n")
    # The last piece is a line the exporter is still writing (or the empty rest after the last
    # newline): only complete lines are read.
    for line in lines[:-1]:
        if not line.strip():
            continue
        for resource_logs in json.loads(line).get("resourceLogs", []):
            attributes = {
                a["key"]: a["value"] for a in resource_logs.get("resource", {}).get("attributes", [])
            }
            if attributes.get("service.name", {}).get("stringValue") != service:
                continue
            for scope_logs in resource_logs.get("scopeLogs", []):
                records.extend(scope_logs.get("logRecords", []))
    return records


def sidecar_counter(name: str, **labels: str) -> float:
    """A counter from the sidecar's /metrics (``name`` without ``_total``)."""
    text = requests.get(ENDPOINTS["sidecar"]["metrics"], timeout=10).text
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return sum(
                s.value
                for s in family.samples
                if s.name == f"{name}_total" and all(s.labels.get(k) == v for k, v in labels.items())
            )
    return 0.0
