"""SpanAnomalies on the synthetic shop service: annotations, faults found, the rest left low."""

from __future__ import annotations

import pytest

from bench.anomaly.workload import Fault, Workload
from tests.otlp_values import item_attributes
from vigil.processors.anomaly.forest import SpanForest
from vigil.processors.anomaly.operations import OperationBaselines
from vigil.processors.anomaly.spans import SpanAnomalies
from vigil.processors.anomaly.traces import TraceShapes


def vigil_attributes(span) -> dict[str, object]:
    return {key: value for key, value in item_attributes(span).items() if key.startswith("vigil.anomaly")}


def all_spans(request):
    return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]


@pytest.fixture(scope="module")
def trained():
    """A scorer that has seen 4,000 ordinary traces, and the workload that made them."""
    scorer = SpanAnomalies(OperationBaselines(), TraceShapes(), SpanForest(background=False))
    workload = Workload(seed=7)
    for request in workload.requests(4000, per_request=100):
        scorer.score(request)
    return scorer, workload


def test_warmup_spans_are_marked_not_scored():
    scorer = SpanAnomalies()
    request = Workload().request(5)
    scorer.score(request)
    for span in all_spans(request):
        assert vigil_attributes(span) == {"vigil.anomaly.warmup": True}


def test_every_span_gets_a_score_and_entry_spans_a_trace_score(trained):
    scorer, workload = trained
    request = workload.request(50)
    scorer.score(request)
    for span in all_spans(request):
        found = vigil_attributes(span)
        assert 0.0 <= found["vigil.anomaly.score"] <= 1.0
        assert ("vigil.anomaly.trace.score" in found) == (span.kind == 2)


def run_fault(trained, fault: Fault, traces: int = 300):
    scorer, workload = trained
    workload.faults = [fault]
    try:
        found = []
        for request in workload.requests(traces, per_request=100):
            anomalies = scorer.score(request)
            found.extend(anomalies)
            yield request, anomalies
    finally:
        workload.faults = []
        for request in workload.requests(1500, per_request=100):  # back to normal for the next test
            scorer.score(request)


def test_latency_fault_flags_the_slow_operation_and_not_the_others(trained):
    slow = {"SELECT items": [], "others": []}
    for request, _ in run_fault(trained, Fault("latency", "SELECT items", 10.0), traces=200):
        for span in all_spans(request):
            score = vigil_attributes(span)["vigil.anomaly.score"]
            slow["SELECT items" if span.name == "SELECT items" else "others"].append((span.name, score))
    affected = [s for _, s in slow["SELECT items"]]
    assert sum(s >= 0.5 for s in affected) / len(affected) > 0.9
    unaffected = [s for name, s in slow["others"] if name in ("POST /login", "SELECT users", "GET /search")]
    assert sum(s >= 0.5 for s in unaffected) / len(unaffected) < 0.02


def test_error_fault_is_reported_with_reason_trace_and_span_ids(trained):
    reported = []
    for _, anomalies in run_fault(trained, Fault("error", "GET inventory", 0.5), traces=100):
        reported.extend(a for a in anomalies if a.subject.startswith("shop GET inventory"))
    assert len(reported) >= 10
    first = reported[0]
    assert first.reasons[0] == "error"
    assert len(first.trace_id) == 16 and len(first.span_id) == 8
    assert first.time_unix_nano > 0


def test_fan_out_fault_flags_the_entry_span_by_trace_shape(trained):
    flagged = 0
    for request, anomalies in run_fault(trained, Fault("fanout", "GET /items", 8), traces=100):
        entries = [s for s in all_spans(request) if s.name == "GET /items"]
        for span in entries:
            found = vigil_attributes(span)
            if found["vigil.anomaly.trace.score"] >= 0.5:
                assert "trace_shape" in found["vigil.anomaly.reasons"]
                assert found["vigil.anomaly.score"] >= found["vigil.anomaly.trace.score"]
                flagged += 1
        assert all(
            "fan-out shop SELECT items 8" in a.subject for a in anomalies if "trace_shape" in a.reasons
        )
    assert flagged >= 30  # of ~40 GET /items traces


def test_rescoring_replaces_earlier_output(trained):
    scorer, workload = trained
    request = workload.request(10)
    scorer.score(request)
    scorer.score(request)
    for span in all_spans(request):
        keys = [kv.key for kv in span.attributes if kv.key.startswith("vigil.anomaly")]
        assert len(keys) == len(set(keys))


def test_children_in_an_earlier_request_count_for_the_trace(trained):
    scorer, workload = trained
    workload.faults = [Fault("fanout", "GET /items", 8)]
    try:
        trace = workload.trace()
        while trace[-1].name != "GET /items":
            trace = workload.trace()
    finally:
        workload.faults = []
    request = workload.request(0)
    children, root = trace[:-1], trace[-1]
    request.resource_spans[0].scope_spans[0].spans.extend(children)
    scorer.score(request)
    del request.resource_spans[0].scope_spans[0].spans[:]
    request.resource_spans[0].scope_spans[0].spans.append(root)
    scorer.score(request)
    found = vigil_attributes(request.resource_spans[0].scope_spans[0].spans[0])
    assert found["vigil.anomaly.trace.score"] >= 0.5
