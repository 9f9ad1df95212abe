"""Small, realistic OTLP export requests for the sidecar's tests."""

from __future__ import annotations

import os

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def attr(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def traces(spans: int = 3, service: str = "shop") -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(attr("service.name", service))
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    trace_id = os.urandom(16)
    for i in range(spans):
        span = ss.spans.add()
        span.trace_id = trace_id
        span.span_id = os.urandom(8)
        span.name = f"GET /items/{i}"
        span.kind = 2
        span.start_time_unix_nano = 1_700_000_000_000_000_000 + i
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000
        span.attributes.extend([attr("http.request.method", "GET"), attr("http.response.status_code", 200)])
    return request


def metrics(points: int = 4) -> ExportMetricsServiceRequest:
    request = ExportMetricsServiceRequest()
    sm = request.resource_metrics.add().scope_metrics.add()
    gauge = sm.metrics.add(name="queue.depth")
    for i in range(points):
        gauge.gauge.data_points.add(as_int=i, time_unix_nano=1_700_000_000_000_000_000 + i)
    counter = sm.metrics.add(name="jobs.completed")
    counter.sum.data_points.add(as_int=7, time_unix_nano=1_700_000_000_000_000_000)
    return request


def logs(records: int = 2) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    sl = request.resource_logs.add().scope_logs.add()
    for i in range(records):
        sl.log_records.add(severity_text="WARN", body=AnyValue(string_value=f"login failed #{i}"))
    return request
