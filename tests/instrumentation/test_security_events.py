"""Security events as the SDK records them, and as the sidecar's real threat scorer judges them
once encoded as OTLP, exactly as the exporter sends them."""

from __future__ import annotations

import time

import pytest
from opentelemetry._logs import NoOpLoggerProvider, SeverityNumber
from opentelemetry.exporter.otlp.proto.common._log_encoder import encode_logs
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.trace import TracerProvider

from tests.instrumentation.exported import run_exporting
from tests.otlp_values import item_attributes
from vigil.instrumentation.security_events import SecurityEvents
from vigil.processors.signals import Signal
from vigil.processors.threat import BehaviourConfig, ThreatConfig, ThreatScorer
from vigil.processors.threat.behaviour import EVENT_NAMES

ATTACKER = "198.51.100.7"


class Recorded:
    def __init__(self) -> None:
        self.exporter = InMemoryLogRecordExporter()
        self.provider = LoggerProvider()
        self.provider.add_log_record_processor(SimpleLogRecordProcessor(self.exporter))
        self.events = SecurityEvents(self.provider)

    def records(self) -> list:
        return [readable.log_record for readable in self.exporter.get_finished_logs()]

    def request(self):
        """The records as the OTLP exporter would send them."""
        return encode_logs(self.exporter.get_finished_logs())


@pytest.fixture
def recorded():
    return Recorded()


def test_each_event_carries_its_name_severity_and_the_conventions_keys(recorded):
    events = recorded.events
    events.auth_failure(user="alice", client_address=ATTACKER, reason="bad_password", method="password")
    events.auth_success(user_id="u-7", client_address=ATTACKER)
    events.access_denied(user="bob", client_address=ATTACKER, resource="/reports", action="delete")
    events.privileged_operation("role.grant", user="root", target="bob", attributes={"tenant": "acme"})
    failure, success, denied, privileged = recorded.records()

    assert {r.event_name for r in recorded.records()} == EVENT_NAMES, "the names the sidecar reads"
    assert (failure.severity_number, failure.severity_text) == (SeverityNumber.WARN, "WARN")
    assert dict(failure.attributes) == {
        "user.name": "alice",
        "client.address": ATTACKER,
        "auth.method": "password",
        "error.type": "bad_password",
    }
    assert failure.body == f"authentication failed for alice from {ATTACKER}: bad_password"
    assert failure.timestamp and abs(failure.timestamp - time.time_ns()) < 60e9
    assert dict(success.attributes) == {"enduser.id": "u-7", "client.address": ATTACKER}
    assert success.severity_number == SeverityNumber.INFO
    assert dict(denied.attributes) == {
        "user.name": "bob",
        "client.address": ATTACKER,
        "access.resource": "/reports",
        "access.action": "delete",
    }
    assert denied.body == f"delete /reports denied to bob from {ATTACKER}"
    assert dict(privileged.attributes) == {
        "tenant": "acme",
        "user.name": "root",
        "privileged.operation.name": "role.grant",
        "privileged.operation.target": "bob",
    }
    assert privileged.body == "role.grant on bob by root"


def test_inside_a_request_the_client_and_the_trace_come_from_the_active_span(recorded):
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("POST /login", attributes={"client.address": ATTACKER}) as span:
        recorded.events.auth_failure(user="alice")
    with tracer.start_as_current_span("GET /old", attributes={"net.peer.ip": "192.0.2.1"}):
        recorded.events.access_denied(user="alice")
    failure, denied = recorded.records()
    assert failure.attributes["client.address"] == ATTACKER
    assert (failure.trace_id, failure.span_id) == (span.context.trace_id, span.context.span_id)
    assert denied.attributes["client.address"] == "192.0.2.1"


def test_without_an_sdk_the_calls_do_nothing():
    events = SecurityEvents(NoOpLoggerProvider())
    events.auth_failure(user="alice", client_address=ATTACKER)
    events.privileged_operation("user.delete")


def _attributes(record) -> dict:
    assert all(isinstance(kv, KeyValue) for kv in record.attributes)
    return item_attributes(record)


def scored(request, scorer: ThreatScorer) -> tuple[list[dict], list]:
    """Score ``request`` in place; its records' attributes, and the vigil.threat events."""
    outputs = scorer.score(Signal.LOGS, request)
    records = [
        _attributes(record)
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    ]
    return records, outputs


def test_the_threat_scorer_sees_a_brute_force_in_auth_failures(recorded):
    for _ in range(10):
        recorded.events.auth_failure(user="alice", client_address=ATTACKER, reason="bad_password")
    recorded.events.auth_success(user="alice", client_address=ATTACKER)
    records, outputs = scored(recorded.request(), ThreatScorer())

    scores = [record.get("vigil.threat.score", 0.0) for record in records]
    assert scores[:2] == [0.0, 0.0], "one or two mistyped passwords are nothing"
    assert all(score >= 0.5 for score in scores[2:]), scores
    assert records[2]["vigil.threat.categories"][0] == "bruteforce"
    assert records[4]["vigil.threat.score"] > records[2]["vigil.threat.score"]  # the high level
    assert records[9]["vigil.threat.score"] > records[4]["vigil.threat.score"]  # critical
    assert "bruteforce.success-after-failures" in records[10]["vigil.threat.rules"]
    # One vigil.threat event per level reached, and one for the guess that worked: not one per record.
    [(signal, events)] = outputs
    assert signal is Signal.LOGS
    assert sum(len(s.log_records) for r in events.resource_logs for s in r.scope_logs) == 4


def test_the_threat_scorer_sees_enumeration_in_access_denials(recorded):
    for i in range(20):
        recorded.events.access_denied(client_address=ATTACKER, resource=f"/projects/{i}")
    records, _ = scored(recorded.request(), ThreatScorer())
    assert "vigil.threat.score" not in records[18]
    assert "enumeration.client-4xx-burst" in records[19]["vigil.threat.rules"]


def test_the_threat_scorer_flags_privileged_operations_off_hours(recorded):
    recorded.events.privileged_operation("user.delete", user="root", client_address=ATTACKER)
    hour = time.gmtime().tm_hour  # the hours around now are "off hours", in case the hour just turned
    off_now = ThreatScorer(
        ThreatConfig(behaviour=BehaviourConfig(off_hours=((hour - 1) % 24, (hour + 1) % 24)))
    )
    records, _ = scored(recorded.request(), off_now)
    assert records[0]["vigil.threat.rules"] == ["privileged.off-hours"]
    assert records[0]["vigil.threat.score"] < 0.5, "a suspicion, not an attack on its own"


def test_a_payload_in_a_user_supplied_field_is_scanned(recorded):
    recorded.events.auth_failure(user="admin' OR '1'='1", client_address=ATTACKER)
    records, _ = scored(recorded.request(), ThreatScorer())
    assert "sqli" in records[0]["vigil.threat.categories"]


LOGIN_APP = """
from opentelemetry import trace
from vigil.instrumentation import security_events

tracer = trace.get_tracer("login")
for attempt in range(6):
    # As a web framework's instrumentation records the request: the client is on the server span.
    client = {"client.address": "198.51.100.7"}
    with tracer.start_as_current_span(f"POST /login {attempt}", attributes=client):
        security_events.auth_failure(user="alice", reason="bad_password")
"""


def test_under_opentelemetry_instrument_the_events_reach_otlp_and_the_scorer_sees_the_brute_force():
    exported = run_exporting(LOGIN_APP)
    events = [r for r in exported.records if r.scope == "vigil.instrumentation.security_events"]
    assert [r.event_name for r in events] == ["auth.failure"] * 6
    for attempt, event in enumerate(events):
        assert event.attributes["client.address"] == ATTACKER
        assert event.attributes["user.name"] == "alice"
        assert (event.trace_id, event.span_id) == exported.spans[f"POST /login {attempt}"]
    scorer = ThreatScorer()
    records = [record for request in exported.logs_requests for record in scored(request, scorer)[0]]
    scores = [record.get("vigil.threat.score", 0.0) for record in records if "user.name" in record]
    assert scores[:2] == [0.0, 0.0]
    assert all(score >= 0.5 for score in scores[2:]), scores
