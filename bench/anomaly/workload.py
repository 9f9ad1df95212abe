"""A synthetic service for the anomaly benchmark and tests: traces with realistic shape and timing,
and faults switched on and off at chosen moments.

The service ``shop`` has four endpoints (SERVER spans), each calling databases and other services
(CLIENT spans) a typical number of times; latencies are log-normal around each operation's median,
errors rare. Spans are emitted the way an SDK's batch processor exports them: children first, the
entry span last, with event times advancing at ``rate`` traces per second.

Faults (what the anomaly scorer must find):

===========  =====================================================================================
``latency``  an operation takes ``value`` times longer (its parents too, by the added time)
``error``    an operation fails with probability ``value`` (its entry span fails with it)
``fanout``   an entry operation calls its first downstream operation ``value`` times instead
``missing``  an entry operation skips its first downstream call
===========  =====================================================================================
"""

from __future__ import annotations

import math
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

SERVICE = "shop"
SERVER, CLIENT = Span.SpanKind.SPAN_KIND_SERVER, Span.SpanKind.SPAN_KIND_CLIENT

# operation -> (median ms, log-normal sigma, error rate)
TIMING = {
    "GET /items": (12.0, 0.25, 0.002),
    "GET /search": (25.0, 0.35, 0.002),
    "POST /login": (40.0, 0.2, 0.005),
    "GET /recommendations": (30.0, 0.3, 0.002),
    "SELECT items": (2.0, 0.3, 0.0),
    "SELECT products": (6.0, 0.4, 0.0),
    "SELECT users": (1.5, 0.3, 0.0),
    "GET inventory": (5.0, 0.3, 0.001),
    "GET recommender": (10.0, 0.3, 0.001),
}
# entry operation -> [(downstream operation, (fewest, most) calls)]
CALLS = {
    "GET /items": [("SELECT items", (1, 1)), ("GET inventory", (1, 1))],
    "GET /search": [("SELECT products", (1, 2))],
    "POST /login": [("SELECT users", (1, 1))],
    "GET /recommendations": [("GET recommender", (1, 1)), ("SELECT items", (2, 4))],
}
WEIGHTS = {"GET /items": 0.4, "GET /search": 0.3, "POST /login": 0.1, "GET /recommendations": 0.2}


@dataclass(frozen=True)
class Fault:
    kind: str  # latency, error, fanout, missing
    operation: str
    value: float = 0.0


@dataclass
class Workload:
    """Traces of the ``shop`` service; ``faults`` may change between calls."""

    seed: int = 0
    rate: float = 50.0
    """Traces per second of event time."""
    start_ns: int = 1_700_000_000_000_000_000
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self.now_ns = self.start_ns
        self._entries = list(WEIGHTS)
        self._weights = list(WEIGHTS.values())

    def request(self, traces: int) -> ExportTraceServiceRequest:
        """One export request holding ``traces`` traces, children before their entry span."""
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(
            KeyValue(key="service.name", value=AnyValue(string_value=SERVICE))
        )
        spans = resource_spans.scope_spans.add().spans
        for _ in range(traces):
            spans.extend(self.trace())
        return request

    def requests(self, traces: int, per_request: int = 50) -> Iterator[ExportTraceServiceRequest]:
        while traces > 0:
            n = min(per_request, traces)
            traces -= n
            yield self.request(n)

    def trace(self) -> list[Span]:
        entry = self._random.choices(self._entries, self._weights)[0]
        self.now_ns += int(1e9 / self.rate)
        trace_id, root_id = os.urandom(16), os.urandom(8)
        start = self.now_ns
        cursor = start + 200_000
        children: list[Span] = []
        failed = False
        plan = [(op, self._random.randint(*counts)) for op, counts in CALLS[entry]]
        if plan and self._fault("fanout", entry):
            plan[0] = (plan[0][0], int(self._fault("fanout", entry).value))
        if plan and self._fault("missing", entry):
            plan = plan[1:]
        for op, count in plan:
            for _ in range(count):
                duration = self._duration(op)
                error = self._fails(op)
                failed |= error
                children.append(
                    self._span(trace_id, os.urandom(8), root_id, op, CLIENT, cursor, duration, error)
                )
                cursor += duration + 50_000
        own = self._duration(entry)
        end = max(cursor, start) + own
        root = self._span(
            trace_id, root_id, b"", entry, SERVER, start, end - start, failed or self._fails(entry)
        )
        return [*children, root]

    def _fault(self, kind: str, operation: str) -> Fault | None:
        return next((f for f in self.faults if f.kind == kind and f.operation == operation), None)

    def _duration(self, op: str) -> int:
        median, sigma, _ = TIMING[op]
        ms = median * math.exp(self._random.gauss(0.0, sigma))
        fault = self._fault("latency", op)
        if fault:
            ms *= fault.value
        return int(ms * 1e6)

    def _fails(self, op: str) -> bool:
        fault = self._fault("error", op)
        rate = fault.value if fault else TIMING[op][2]
        return self._random.random() < rate

    @staticmethod
    def _span(
        trace_id: bytes,
        span_id: bytes,
        parent: bytes,
        name: str,
        kind: int,
        start: int,
        duration: int,
        error: bool,
    ) -> Span:
        return Span(
            trace_id=trace_id,
            span_id=span_id,
            parent_span_id=parent,
            name=name,
            kind=kind,
            start_time_unix_nano=start,
            end_time_unix_nano=start + duration,
            status=Status(code=Status.STATUS_CODE_ERROR if error else Status.STATUS_CODE_UNSET),
            attributes=[
                KeyValue(
                    key="peer.service" if kind == CLIENT else "http.route", value=AnyValue(string_value=name)
                )
            ],
        )
