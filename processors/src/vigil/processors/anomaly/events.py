"""What the anomaly scorer reports beyond its annotations: a counter and ``vigil.anomaly`` events.

``vigil_anomalies_total{signal, reason}`` on the sidecar's ``/metrics`` (Prometheus job
``vigil-sidecar``) counts every item scored >= 0.5, by signal (``traces``, ``metrics``, ``logs``)
and strongest reason (:class:`~vigil.processors.anomaly.output.Reason`): bounded labels.

Each anomalous *subject* (an operation, a metric series, a log template) also becomes an OTLP log
record, forwarded by the sidecar with the scored data (it reaches the collector's ``logs/out``
pipeline like any log):

============================  =================================================================
``event.name``                ``vigil.anomaly``
``vigil.anomaly.score``       the item's score; with ``vigil.anomaly.reasons``
``vigil.anomaly.signal``      ``traces``, ``metrics`` or ``logs``
``vigil.anomaly.subject``     the unusual operation, series or template, with what stood out
``vigil.anomaly.suppressed``  anomalies of the same subject since its previous event, not
                              reported one by one
============================  =================================================================

with the item's trace and span ids, its resource, and severity WARN. A lasting fault makes every
span of an operation anomalous: one event per subject per ``min_interval_seconds`` of event time
(default 10 s) says so without an event storm; the counter still counts every item.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber
from prometheus_client import Counter

from vigil.processors.anomaly.output import REASONS, SCOPE, SCORE, Anomaly
from vigil.processors.event_requests import events_request
from vigil.processors.otlp_attributes import number, string_array, text

EVENT_NAME = "vigil.anomaly"

ANOMALIES = Counter(
    "vigil_anomalies", "Items scored anomalous (>= 0.5), by signal and strongest reason", ["signal", "reason"]
)


class AnomalyEvents:
    """Counts anomalies and turns them into events, at most one per subject per interval."""

    def __init__(self, *, min_interval_seconds: float = 10.0, max_subjects: int = 10_000) -> None:
        self.min_interval_ns = int(min_interval_seconds * 1e9)
        self.max_subjects = max_subjects
        # subject -> (event time of its last event, anomalies suppressed since)
        self._last: OrderedDict[str, list[int]] = OrderedDict()

    def report(self, anomalies: Iterable[Anomaly]) -> ExportLogsServiceRequest | None:
        """Count ``anomalies``; return the events due, as one logs request (or None)."""
        events: list[tuple[Message | None, LogRecord]] = []
        now = time.time_ns()
        for anomaly in anomalies:
            ANOMALIES.labels(anomaly.signal.label, anomaly.reasons[0] if anomaly.reasons else "unknown").inc()
            when = anomaly.time_unix_nano or now
            key = f"{anomaly.signal.label}\0{anomaly.subject}"
            last = self._last.get(key)
            if last is not None and abs(when - last[0]) < self.min_interval_ns:  # late data too
                last[1] += 1
                continue
            suppressed = last[1] if last is not None else 0
            self._remember(key, when)
            events.append((anomaly.resource, _event(anomaly, when, now, suppressed)))
        return events_request(SCOPE, events)

    def _remember(self, key: str, when: int) -> None:
        self._last[key] = [when, 0]
        self._last.move_to_end(key)
        while len(self._last) > self.max_subjects:
            self._last.popitem(last=False)


def _event(anomaly: Anomaly, when: int, now: int, suppressed: int) -> LogRecord:
    why = ", ".join(anomaly.reasons) or "unknown"
    return LogRecord(
        time_unix_nano=when,
        observed_time_unix_nano=now,
        severity_number=SeverityNumber.SEVERITY_NUMBER_WARN,
        severity_text="WARN",
        body=AnyValue(string_value=f"{anomaly.signal.label} anomaly in {anomaly.subject}: {why}"),
        attributes=[
            text("event.name", EVENT_NAME),
            number(SCORE, round(anomaly.score, 4)),
            string_array(REASONS, anomaly.reasons),
            text("vigil.anomaly.signal", anomaly.signal.label),
            text("vigil.anomaly.subject", anomaly.subject),
            KeyValue(key="vigil.anomaly.suppressed", value=AnyValue(int_value=suppressed)),
        ],
        trace_id=anomaly.trace_id,
        span_id=anomaly.span_id,
    )
