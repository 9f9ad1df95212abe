"""Packing scorers' events (OTLP log records about what they found) into one logs export request.

Each event carries the resource of the item it is about (``service.name`` and the rest), so that it
lands in the backends beside that service's own logs: records are grouped by resource, each group
under the scorer's instrumentation scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs


def events_request(
    scope: InstrumentationScope, events: Iterable[tuple[Message | None, LogRecord]]
) -> ExportLogsServiceRequest | None:
    """One request for ``(resource, record)`` pairs, grouped by resource (the same object), in
    order of first appearance; None when there are none."""
    by_resource: dict[int, tuple[Message | None, list[LogRecord]]] = {}
    for resource, record in events:
        by_resource.setdefault(id(resource), (resource, []))[1].append(record)
    if not by_resource:
        return None
    request = ExportLogsServiceRequest()
    for resource, records in by_resource.values():
        resource_logs = ResourceLogs(scope_logs=[ScopeLogs(scope=scope, log_records=records)])
        if resource is not None:
            resource_logs.resource.CopyFrom(resource)
        request.resource_logs.append(resource_logs)
    return request
