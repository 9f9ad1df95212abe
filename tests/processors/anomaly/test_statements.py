"""Database spans named by a bare SQL verb are judged per statement shape, not as one "SELECT"."""

from __future__ import annotations

import numpy as np
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from vigil.processors.anomaly.operations import OperationBaselines
from vigil.processors.anomaly.spans import SpanAnomalies
from vigil.processors.anomaly.statements import operation_name, statement_shape

LOOKUP = "SELECT id, name FROM items WHERE id = {}"
REPORT = "SELECT category, sum(price) FROM items WHERE added > '{}' GROUP BY category"


def test_literals_and_whitespace_do_not_make_new_shapes():
    assert statement_shape(LOOKUP.format(1)) == statement_shape(LOOKUP.format(987654))
    assert (
        statement_shape("SELECT  *\n FROM t WHERE a = 'x''y' AND b = 0x1F")
        == "SELECT * FROM t WHERE a = ? AND b = ?"
    )
    assert len(statement_shape("SELECT " + "a, " * 500 + "b FROM t")) == 160


def db_request(statements_ms: list[tuple[str, float]], start: int) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(KeyValue(key="service.name", value=AnyValue(string_value="shop")))
    spans = rs.scope_spans.add().spans
    for i, (statement, ms) in enumerate(statements_ms):
        span = spans.add(name=statement.split()[0], kind=3, trace_id=i.to_bytes(16, "big"), span_id=b"s" * 8)
        span.parent_span_id = b"p" * 8
        span.start_time_unix_nano = start + i * 1_000_000
        span.end_time_unix_nano = span.start_time_unix_nano + int(ms * 1e6)
        span.attributes.append(KeyValue(key="db.statement", value=AnyValue(string_value=statement)))
    return request


def test_a_slow_lookup_stands_out_although_reports_are_slower():
    rng = np.random.default_rng(0)
    scorer = SpanAnomalies(OperationBaselines())
    for batch in range(10):
        mix = [(LOOKUP.format(i), 0.2 * np.exp(rng.normal(0, 0.2))) for i in range(40)]
        mix += [(REPORT.format("2024-01-01"), 300 * np.exp(rng.normal(0, 0.2))) for _ in range(10)]
        scorer.score(db_request(mix, batch * 10**9))
    probe = db_request([(LOOKUP.format(7), 250.0), (REPORT.format("2024-02-02"), 320.0)], 20 * 10**9)
    scorer.score(probe)
    scores = [
        next(kv.value.double_value for kv in span.attributes if kv.key == "vigil.anomaly.score")
        for span in probe.resource_spans[0].scope_spans[0].spans
    ]
    assert scores[0] >= 0.5  # a 0.2 ms lookup taking 250 ms
    assert scores[1] < 0.5  # a report taking its usual time


def test_named_spans_keep_their_name():
    from opentelemetry.proto.trace.v1.trace_pb2 import Span

    assert operation_name(Span(name="GET /items")) == "GET /items"
    assert operation_name(Span(name="SELECT")) == "SELECT"  # no statement recorded
