"""vigil.anomaly events and the vigil_anomalies_total counter."""

from __future__ import annotations

from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from prometheus_client import REGISTRY

from tests.processors.otlp_samples import attr
from vigil.processors.anomaly.events import AnomalyEvents
from vigil.processors.anomaly.output import Anomaly
from vigil.processors.signals import Signal

SECOND = 10**9
RESOURCE = Resource(attributes=[attr("service.name", "shop")])


def anomaly(subject: str, at: int, reasons=("latency",)) -> Anomaly:
    return Anomaly(Signal.TRACES, 0.8, reasons, subject, RESOURCE, b"t" * 16, b"s" * 8, at)


def counted(reason: str) -> float:
    return REGISTRY.get_sample_value("vigil_anomalies_total", {"signal": "traces", "reason": reason}) or 0.0


def test_event_carries_the_documented_fields():
    request = AnomalyEvents().report([anomaly("shop GET /items", 5 * SECOND)])
    (resource_logs,) = request.resource_logs
    assert resource_logs.resource == RESOURCE
    (record,) = resource_logs.scope_logs[0].log_records
    fields = {kv.key: kv.value for kv in record.attributes}
    assert fields["event.name"].string_value == "vigil.anomaly"
    assert fields["vigil.anomaly.score"].double_value == 0.8
    assert [v.string_value for v in fields["vigil.anomaly.reasons"].array_value.values] == ["latency"]
    assert fields["vigil.anomaly.signal"].string_value == "traces"
    assert fields["vigil.anomaly.subject"].string_value == "shop GET /items"
    assert record.trace_id == b"t" * 16 and record.span_id == b"s" * 8
    assert record.time_unix_nano == 5 * SECOND
    assert record.severity_text == "WARN"


def test_one_event_per_subject_per_interval_but_every_anomaly_counted():
    events = AnomalyEvents(min_interval_seconds=10)
    before = counted("trace_shape")
    burst = [anomaly("shop GET /a", (100 + t) * SECOND, ("trace_shape",)) for t in range(25)]
    burst.append(anomaly("shop GET /b", 103 * SECOND, ("trace_shape",)))
    burst.append(anomaly("shop GET /a", 118 * SECOND, ("trace_shape",)))  # late: still within 10 s
    request = events.report(burst)
    records = [r for rl in request.resource_logs for r in rl.scope_logs[0].log_records]
    subjects = [
        next(kv.value.string_value for kv in r.attributes if kv.key == "vigil.anomaly.subject")
        for r in records
    ]
    assert subjects == ["shop GET /a", "shop GET /a", "shop GET /a", "shop GET /b"]  # /a at 100, 110, 120 s
    suppressed = [
        next(kv.value.int_value for kv in r.attributes if kv.key == "vigil.anomaly.suppressed")
        for r in records
    ]
    assert suppressed == [0, 9, 9, 0]
    assert counted("trace_shape") - before == 27


def test_nothing_to_report_gives_no_request():
    assert AnomalyEvents().report([]) is None


def test_subjects_remembered_are_bounded():
    events = AnomalyEvents(max_subjects=100)
    events.report([anomaly(f"op-{i}", i) for i in range(1000)])
    assert len(events._last) == 100
