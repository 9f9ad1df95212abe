"""Scored traces are searchable in Jaeger by their scores, as a user searches in its UI (Tags:
``vigil.threat.categories=["sqli"]``) or through its API (``/api/traces?service=...&tags={...}``):
attacked spans by vigil.threat.score and vigil.threat.categories, spans far off their latency
baseline by vigil.anomaly.score; ordinary traces of the same service are not in those results.
Jaeger matches a tag's value exactly, as text: a score as Jaeger shows it (``0.975``), the
categories as the JSON text of the array (``["sqli"]``). tests/e2e/test_threats.py attacks the demo
app; these send telemetrygen's traces, under a service of their own."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from tests.e2e.backends import jaeger_spans, tags, wait_for
from tests.e2e.findings import anomalous_traces, attack_traces, ordinary_traces
from vigil.processors.stack.components import ENDPOINTS

pytestmark = pytest.mark.stack


def search(service: str, **tag_values: object) -> set[str]:
    """Trace ids Jaeger finds for ``service`` with every tag at its value."""
    reply = requests.get(
        f"{ENDPOINTS['jaeger']['query']}/api/traces",
        params={
            "service": service,
            "tags": json.dumps({key: str(value) for key, value in tag_values.items()}),
            "lookback": "1h",
            "limit": 1000,
        },
        timeout=10,
    )
    reply.raise_for_status()
    return {trace["traceID"] for trace in reply.json()["data"] or []}


def test_an_attack_is_found_by_its_threat_score_and_categories(stack, telemetrygen):
    service = f"search-threat-{uuid.uuid4().hex[:8]}"
    attack_traces(telemetrygen, service, traces=3)
    ordinary_traces(telemetrygen, service, traces=3)

    def attacked(spans: list[dict]) -> list[dict]:
        return [s for s in spans if tags(s).get("vigil.threat.score", 0) >= 0.5]

    spans = wait_for(
        lambda: jaeger_spans(service), lambda s: len(s) >= 12 and len(attacked(s)) >= 3, timeout=45
    )
    flagged = attacked(spans)
    attack_traces_ids = {s["traceID"] for s in flagged}
    ordinary = {s["traceID"] for s in spans} - attack_traces_ids
    assert len(attack_traces_ids) == 3 and len(ordinary) == 3
    assert {tags(s)["vigil.threat.categories"] for s in flagged} == {'["sqli"]'}

    by_category = search(service, **{"vigil.threat.categories": '["sqli"]'})
    assert by_category == attack_traces_ids
    for score in {tags(s)["vigil.threat.score"] for s in flagged}:
        expected = {s["traceID"] for s in flagged if tags(s)["vigil.threat.score"] == score}
        by_score = search(service, **{"vigil.threat.score": score})
        both = search(service, **{"vigil.threat.score": score, "vigil.threat.categories": '["sqli"]'})
        assert by_score == both == expected


def test_anomalous_spans_are_found_by_their_anomaly_score(stack, telemetrygen):
    service = f"search-anomaly-{uuid.uuid4().hex[:8]}"
    anomalous_traces(telemetrygen, service, slow=5)

    def scored(spans: list[dict]) -> list[dict]:
        return [s for s in spans if tags(s).get("vigil.anomaly.score", 0) >= 0.5]

    spans = wait_for(lambda: jaeger_spans(service), lambda s: len(scored(s)) >= 5, timeout=45)
    anomalous = scored(spans)
    assert len({s["traceID"] for s in anomalous}) == 5, "each slow trace has an anomalous span"
    ordinary = {s["traceID"] for s in spans} - {s["traceID"] for s in anomalous}
    assert ordinary, "the warm-up traces are in Jaeger too"

    for score in {tags(s)["vigil.anomaly.score"] for s in anomalous}:
        found = search(service, **{"vigil.anomaly.score": score})
        expected = {s["traceID"] for s in anomalous if tags(s)["vigil.anomaly.score"] == score}
        assert expected <= found and not found & ordinary
