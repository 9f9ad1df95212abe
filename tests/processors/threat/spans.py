"""Realistic spans and requests for the threat scorer's tests: HTTP server spans as Flask's
instrumentation records them, database client spans, and the export request around them."""

from __future__ import annotations

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.processors.otlp_samples import attr

SERVER, CLIENT, INTERNAL = Span.SPAN_KIND_SERVER, Span.SPAN_KIND_CLIENT, Span.SPAN_KIND_INTERNAL
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


def http_span(path: str, query: str | None = None, agent: str = FIREFOX, kind: int = SERVER) -> Span:
    span = Span(name=f"GET {path}", kind=kind, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    span.start_time_unix_nano, span.end_time_unix_nano = 1_700_000_000_000_000_000, 1_700_000_000_002_000_000
    attrs = [
        attr("http.request.method", "GET"),
        attr("url.scheme", "https"),
        attr("url.path", path),
        attr("http.route", path),
        attr("server.address", "shop.example.com"),
        attr("server.port", 443),
        attr("client.address", "203.0.113.9"),
        attr("user_agent.original", agent),
        attr("http.response.status_code", 200),
    ]
    if query is not None:
        attrs.insert(3, attr("url.query", query))
    span.attributes.extend(attrs)
    return span


def db_span(statement: str, key: str = "db.query.text") -> Span:
    span = Span(name="SELECT shop", kind=CLIENT, trace_id=b"\x01" * 16, span_id=b"\x03" * 8)
    span.attributes.extend(
        [
            attr("db.system.name", "postgresql"),
            attr("db.namespace", "shop"),
            attr(key, statement),
            attr("server.address", "db.internal"),
        ]
    )
    return span


def request(*spans: Span) -> ExportTraceServiceRequest:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(attr("service.name", "shop"))
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    ss.spans.extend(spans)
    return req
