"""Packing scorers' events (OTLP log records about what they found) into one logs export request.

Each event carries the resource of the item it is about (``service.name`` and the rest), so that it
lands in the backends beside that service's own logs: records are grouped by resource, each group
under the scorer's instrumentation scope.
"""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.internal.containers import RepeatedCompositeFieldContainer
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord


class EventsRequest:
    """A logs request filled with events in place, grouped by resource (the same object), groups
    in order of first appearance.

    Records are handed out empty, already inside the request, for the caller to fill: a record
    built apart and then added would be copied (protobuf copies a message that joins another).
    """

    __slots__ = ("_groups", "_request", "_scope")

    def __init__(self, scope: InstrumentationScope) -> None:
        self._scope = scope
        self._request = ExportLogsServiceRequest()
        # id(resource) -> (resource, its records); the resource is held so that its id stays its own.
        self._groups: dict[int, tuple[Message | None, RepeatedCompositeFieldContainer[LogRecord]]] = {}

    def record(self, resource: Message | None) -> LogRecord:
        """A new, empty log record in the group of ``resource`` (None: a record without one)."""
        group = self._groups.get(id(resource))
        if group is None:
            resource_logs = self._request.resource_logs.add()
            if resource is not None:
                resource_logs.resource.CopyFrom(resource)
            scope_logs = resource_logs.scope_logs.add()
            scope_logs.scope.CopyFrom(self._scope)
            group = self._groups[id(resource)] = (resource, scope_logs.log_records)
        return group[1].add()

    def request(self) -> ExportLogsServiceRequest | None:
        """The request, or None when no record was added."""
        return self._request if self._groups else None


def events_request(
    scope: InstrumentationScope, events: Iterable[tuple[Message | None, LogRecord]]
) -> ExportLogsServiceRequest | None:
    """One request for ``(resource, record)`` pairs, grouped by resource (the same object), in
    order of first appearance; None when there are none."""
    request = EventsRequest(scope)
    for resource, record in events:
        request.record(resource).CopyFrom(record)
    return request.request()
