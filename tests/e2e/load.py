"""Sending telemetry into a collector: ``telemetrygen`` for quick bounded loads, and
:class:`TraceSender`, an OTLP/gRPC sender of our own, for loads in which every span is accounted for.

telemetrygen says nothing about single spans, and its SDK drops spans silently once its export
queue is full. :class:`TraceSender` sends a :class:`TraceLoad`, whose span ids are numbers (1, 2,
... in the order sent), so that what a backend holds maps back to what was sent; it sends each
request again until the collector accepts it, so its count of spans sent is exact.
"""

from __future__ import annotations

import math
import os
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from vigil.processors.signals import Signal

# --rate 0: no throttling (telemetrygen sends one item a second by default).
OTLP = ["--otlp-insecure", "--otlp-endpoint", "127.0.0.1:4317", "--rate", "0"]


def run_telemetrygen(telemetrygen: str, signal: str, *args: str) -> None:
    subprocess.run([telemetrygen, signal, *OTLP, *args], check=True, capture_output=True, timeout=120)


def _attribute(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


# A web request as an instrumented app reports it: its server span, then database and HTTP calls.
_ENTRY = [
    _attribute("http.request.method", "GET"),
    _attribute("http.route", "/items"),
    _attribute("url.path", "/items"),
    _attribute("http.response.status_code", 200),
    _attribute("client.address", "10.1.2.3"),
    _attribute("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64)"),
]
_CALLS = [
    ("SELECT items", [_attribute("db.system.name", "sqlite"),
                      _attribute("db.query.text", "SELECT id, name FROM items WHERE id = ?")]),
    ("GET inventory", [_attribute("http.request.method", "GET"), _attribute("server.address", "inventory"),
                       _attribute("http.response.status_code", 200)]),
]  # fmt: skip
_MS = 1_000_000


@dataclass(frozen=True)
class TraceLoad:
    """``traces`` traces of ``spans_per_trace`` spans of ``service``, ``traces_per_request`` traces
    to a request. A trace's id is the load's random ``tag`` (8 bytes) and the trace's number; a
    span's id is the span's number, from 1 to :attr:`spans`."""

    service: str
    traces: int
    spans_per_trace: int = 10
    traces_per_request: int = 20
    tag: bytes = field(default_factory=lambda: os.urandom(8))

    @property
    def spans(self) -> int:
        return self.traces * self.spans_per_trace

    @property
    def requests(self) -> int:
        return math.ceil(self.traces / self.traces_per_request)

    def request(self, index: int, end_ns: int) -> ExportTraceServiceRequest:
        """The ``index``th request (from 0), its traces ending at ``end_ns``: an entry span and
        its calls, one after the other, a few milliseconds each."""
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        resource_spans.resource.attributes.append(_attribute("service.name", self.service))
        scope_spans = resource_spans.scope_spans.add()
        scope_spans.scope.name = "vigil.tests.load"
        spans = scope_spans.spans
        first = index * self.traces_per_request
        for trace in range(first, min(first + self.traces_per_request, self.traces)):
            trace_id = self.tag + trace.to_bytes(8, "big")
            number = trace * self.spans_per_trace + 1
            entry_id = number.to_bytes(8, "big")
            calls = self.spans_per_trace - 1
            call_ns = (1 + trace % 5) * _MS
            start = end_ns - (calls + 1) * call_ns
            entry = spans.add(trace_id=trace_id, span_id=entry_id, name="GET /items")
            entry.kind = Span.SPAN_KIND_SERVER
            entry.start_time_unix_nano, entry.end_time_unix_nano = start, end_ns
            entry.attributes.extend(_ENTRY)
            for call in range(calls):
                name, attributes = _CALLS[call % len(_CALLS)]
                span = spans.add(
                    trace_id=trace_id,
                    span_id=(number + 1 + call).to_bytes(8, "big"),
                    parent_span_id=entry_id,
                    name=name,
                    kind=Span.SPAN_KIND_CLIENT,
                )
                span.start_time_unix_nano = start + call * call_ns + _MS // 2
                span.end_time_unix_nano = span.start_time_unix_nano + call_ns - _MS // 4
                span.attributes.extend(attributes)
        return request

    def span_number(self, trace_id: bytes, span_id: bytes) -> int | None:
        """The number of a span of this load (1 to :attr:`spans`); None for any other span."""
        if trace_id[:8] != self.tag:
            return None
        number = int.from_bytes(span_id, "big")
        trace = int.from_bytes(trace_id[8:], "big")
        if trace * self.spans_per_trace < number <= (trace + 1) * self.spans_per_trace <= self.spans:
            return number
        return None


# Answers after which the request is sent again (the OTLP specification's retryable codes). The
# collector had not accepted the request, unless its answer was lost (DEADLINE_EXCEEDED, or the
# connection dropped mid-request): then the retry delivers it twice.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.CANCELLED,
    }
)


class TraceSender(threading.Thread):
    """Sends ``load`` to the OTLP/gRPC ``endpoint`` in its own thread, one request at a time, at
    most :attr:`rate` spans a second (None: as fast as the collector accepts; it may be changed
    while sending), each request again and again (backing off up to 1 s) until the collector
    accepts it. :attr:`sent` counts the spans of accepted requests; :attr:`answers` every answer
    by status code.

    ``join()`` and then :attr:`error`: what ended the run early (a non-retryable answer, spans the
    collector rejected in a partial success, or a request still refused after ``patience``
    seconds), None once everything was sent."""

    def __init__(
        self, endpoint: str, load: TraceLoad, rate: float | None = None, patience: float = 120.0
    ) -> None:
        super().__init__(name=f"send-{load.service}", daemon=True)
        self.load = load
        self.rate = rate
        self.patience = patience
        self.sent = 0
        self.answers: Counter[str] = Counter()
        self.error: str | None = None
        self._halt = threading.Event()
        # Reconnect quickly after a collector restart (gRPC's default backoff grows to 2 minutes).
        self._channel = grpc.insecure_channel(
            endpoint,
            options=[
                ("grpc.initial_reconnect_backoff_ms", 100),
                ("grpc.min_reconnect_backoff_ms", 100),
                ("grpc.max_reconnect_backoff_ms", 1000),
            ],
        )
        self._export = self._channel.unary_unary(
            Signal.TRACES.method, response_deserializer=Signal.TRACES.response_type.FromString
        )

    def stop(self) -> None:
        """Ends the run after the request in flight."""
        self._halt.set()

    def run(self) -> None:
        try:
            due = time.monotonic()
            for index in range(self.load.requests):
                if self._halt.wait(max(0.0, due - time.monotonic())):
                    self.error = "stopped"
                    return
                request = self.load.request(index, time.time_ns())
                spans = Signal.TRACES.count_items(request)
                self.error = self._deliver(request.SerializeToString(), spans)
                if self.error:
                    return
                rate = self.rate
                # After a stall (the collector down), catch up for at most a second's worth.
                due = max(due, time.monotonic() - 1.0) + spans / rate if rate else 0.0
        finally:
            self._channel.close()

    def _deliver(self, payload: bytes, spans: int) -> str | None:
        """Sends ``payload`` until accepted; None, or why it was not."""
        deadline, backoff = time.monotonic() + self.patience, 0.05
        while True:
            try:
                response = self._export(payload, timeout=10)
            except grpc.RpcError as err:
                self.answers[err.code().name] += 1
                if err.code() not in RETRYABLE:
                    return f"{err.code().name}: {err.details()}"
                if time.monotonic() > deadline or self._halt.is_set():
                    return f"not accepted within {self.patience:.0f} s: {err.code().name}: {err.details()}"
                time.sleep(backoff)
                backoff = min(1.0, backoff * 2)
                continue
            self.answers[grpc.StatusCode.OK.name] += 1
            rejected = response.partial_success.rejected_spans
            self.sent += spans - rejected
            if rejected:
                return f"{rejected} spans rejected: {response.partial_success.error_message}"
            return None
