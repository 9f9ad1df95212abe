"""The redaction scorer masks secrets in every span and log record leaving the sidecar, after the
threat scorer has judged the raw values; requests with nothing to mask pass byte for byte."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.otlp_values import item_attributes as values
from tests.processors.otlp_samples import attr
from tests.processors.threat.spans import CLIENT, SERVER, db_span, http_span, request
from tests.recording_receiver import export_call
from vigil.processors.redaction import Redactor
from vigil.processors.redaction.scorer import REDACTIONS, RedactionConfig
from vigil.processors.redaction.settings import redaction_config_from_env
from vigil.processors.scoring import ScorerChain
from vigil.processors.signals import Signal


def strings(*values: str) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in values]))


def span_with(*attributes: KeyValue, kind: int = SERVER) -> Span:
    span = http_span("/account", kind=kind)
    span.attributes.extend(attributes)
    return span


def secret_spans():
    """One span (or span event) per place a secret can be, as instrumentations record them."""
    req = request(
        http_span("/login", "next=%2Fhome&password=hunter2&card=4111111111111111"),
        span_with(
            KeyValue(
                key="http.request.header.authorization", value=strings("Bearer eyJhbGciOiJIUzI1NiJ9.e.s")
            ),
            KeyValue(key="http.request.header.cookie", value=strings("session=abc123; theme=dark")),
            KeyValue(key="http.request.header.x_api_key", value=strings("k-123")),
            KeyValue(
                key="http.request.header.referer", value=strings("https://shop.example/reset?token=t0k")
            ),
            attr("app.api_key", "k-456"),
        ),
        span_with(
            attr("url.full", "https://bob:pw@api.example.net/v1/charges?api_key=sk1&limit=3"), kind=CLIENT
        ),
        span_with(attr("http.target", "/reset?access_token=abc&lang=en")),
        db_span("UPDATE users SET password = 'hunter2', card = '5500 0000 0000 0004' WHERE id = ?"),
    )
    event = req.resource_spans[0].scope_spans[0].spans[1].events.add(name="exception")
    event.attributes.append(attr("exception.message", "login rejected: password=hunter2"))
    return req


def assert_span_secrets_masked(spans) -> None:
    assert values(spans[0])["url.query"] == "next=%2Fhome&password=REDACTED&card=************1111"
    got = values(spans[1])
    assert got["http.request.header.authorization"] == ["Bearer REDACTED"]
    assert got["http.request.header.cookie"] == ["session=REDACTED; theme=REDACTED"]
    assert got["http.request.header.x_api_key"] == ["REDACTED"]
    assert got["http.request.header.referer"] == ["https://shop.example/reset?token=REDACTED"]
    assert got["app.api_key"] == "REDACTED"
    assert values(spans[1].events[0])["exception.message"] == "login rejected: password=REDACTED"
    assert (
        values(spans[2])["url.full"]
        == "https://REDACTED:REDACTED@api.example.net/v1/charges?api_key=REDACTED&limit=3"
    )
    assert values(spans[3])["http.target"] == "/reset?access_token=REDACTED&lang=en"
    assert values(spans[4])["db.query.text"] == (
        "UPDATE users SET password = 'REDACTED', card = '************0004' WHERE id = ?"
    )
    # everything else is as it was
    assert values(spans[1])["user_agent.original"] == values(http_span("/"))["user_agent.original"]


def test_secrets_on_spans_are_masked_where_they_occur():
    req = secret_spans()
    Redactor().score(Signal.TRACES, req)
    assert_span_secrets_masked(req.resource_spans[0].scope_spans[0].spans)


BENIGN = [
    http_span("/api/v1/users/42"),
    http_span("/search", "q=O%27Brien&page=2&sort=-created_at&utm_source=newsletter"),
    span_with(KeyValue(key="http.request.header.x_forwarded_for", value=strings("203.0.113.9, 10.0.0.1"))),
    db_span(
        "SELECT users.id, users.email FROM users WHERE users.password_hash = %(p)s AND users.id = %(id_1)s"
    ),
    span_with(
        attr("url.full", "https://payments.example.net/v2/charges/ch_3f2a?expand=customer"), kind=CLIENT
    ),
]


def test_a_request_with_nothing_to_mask_is_left_byte_for_byte():
    req = request(*BENIGN)
    before = req.SerializeToString()
    counted = REDACTIONS.labels("traces")._value.get()
    redactor = Redactor()
    redactor.score(Signal.TRACES, req)
    redactor.score(Signal.TRACES, req)  # remembered statements and queries answer the same
    assert req.SerializeToString() == before
    assert REDACTIONS.labels("traces")._value.get() == counted


def logs(*records: dict) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    scope = req.resource_logs.add().scope_logs.add()
    for fields in records:
        scope.log_records.add(**fields)
    return req


def secret_logs() -> ExportLogsServiceRequest:
    """One log record per place a secret can be: plain and structured bodies, attributes."""
    structured = AnyValue(
        kvlist_value=KeyValueList(
            values=[
                attr("user", "bob"),
                attr("password", "hunter2"),
                KeyValue(
                    key="request", value=AnyValue(kvlist_value=KeyValueList(values=[attr("auth", "x")]))
                ),
            ]
        )
    )
    return logs(
        {"body": AnyValue(string_value="payment with card 4111-1111-1111-1111 accepted")},
        {"body": AnyValue(string_value="calling https://api.example/v1?api_key=abc123")},
        {"body": structured},
        {
            "body": AnyValue(string_value="login ok"),
            "attributes": [
                attr("http.request.header.authorization", "Basic dXNlcjpwYXNz"),
                attr("request.params", "user=bob&password=hunter2"),
                attr("code.filepath", "/app/password_reset.py"),  # a label, not data: not read
            ],
        },
    )


def assert_log_secrets_masked(records) -> None:
    assert records[0].body.string_value == "payment with card ************1111 accepted"
    assert records[1].body.string_value == "calling https://api.example/v1?api_key=REDACTED"
    body = {kv.key: kv.value for kv in records[2].body.kvlist_value.values}
    assert body["user"].string_value == "bob" and body["password"].string_value == "REDACTED"
    assert body["request"].kvlist_value.values[0].value.string_value == "REDACTED"
    got = values(records[3])
    assert got["http.request.header.authorization"] == "Basic REDACTED"
    assert got["request.params"] == "user=bob&password=REDACTED"
    assert got["code.filepath"] == "/app/password_reset.py"


def test_secrets_in_log_bodies_and_attributes_are_masked():
    req = secret_logs()
    Redactor().score(Signal.LOGS, req)
    assert_log_secrets_masked(req.resource_logs[0].scope_logs[0].log_records)


def test_emails_and_chosen_attributes_when_configured():
    config = redaction_config_from_env(
        {"VIGIL_REDACTION_EMAILS": "true", "VIGIL_REDACTION_ATTRIBUTES": "app.customer.iban"}
    )
    assert config == RedactionConfig(emails=True, attributes=frozenset({"app.customer.iban"}))
    req = request(
        span_with(attr("user.name", "bob@example.com"), attr("app.customer.iban", "DE89370400440532013000"))
    )
    Redactor(config).score(Signal.TRACES, req)
    got = values(req.resource_spans[0].scope_spans[0].spans[0])
    assert got["user.name"] == "REDACTED@example.com" and got["app.customer.iban"] == "REDACTED"
    # by default neither
    req = request(span_with(attr("user.name", "bob@example.com")))
    Redactor().score(Signal.TRACES, req)
    assert values(req.resource_spans[0].scope_spans[0].spans[0])["user.name"] == "bob@example.com"


@pytest.mark.parametrize(
    ("variable", "value"), [("VIGIL_REDACTION_CARDS", "maybe"), ("VIGIL_REDACTION_EMAILS", "2")]
)
def test_bad_values_name_their_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        redaction_config_from_env({variable: value})


def test_it_runs_last_wherever_it_is_named(monkeypatch):
    monkeypatch.setenv("VIGIL_REDACTION_CARDS", "false")
    chain = ScorerChain.from_names(["redaction", "threat"])
    assert [s.name for s in chain.scorers] == ["threat", "redaction"]
    assert chain.scorers[1].config.cards is False
    assert not chain.handles(Signal.METRICS)  # metrics pass byte for byte


def test_through_the_sidecar_every_kind_of_secret_leaves_masked(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint, ScorerChain.from_names(["threat", "anomaly", "redaction"]))
    for signal, req in ((Signal.TRACES, secret_spans()), (Signal.LOGS, secret_logs())):
        call, channel = export_call(sidecar, signal)
        call(req.SerializeToString(), timeout=5)
        channel.close()
    (spans,) = receiver.requests(Signal.TRACES)
    assert_span_secrets_masked(spans.resource_spans[0].scope_spans[0].spans)
    # the scored request comes first, any events about it after
    scored_logs = receiver.requests(Signal.LOGS)[0]
    assert_log_secrets_masked(scored_logs.resource_logs[0].scope_logs[0].log_records)


def test_through_the_sidecar_threats_are_judged_on_raw_values_and_leave_masked(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint, ScorerChain.from_names(["redaction", "threat"]))
    attack = http_span("/login", "user=admin&password=x%27%20OR%20%271%27%3D%271")
    payload = request(*BENIGN, attack).SerializeToString()
    call, channel = export_call(sidecar, Signal.TRACES)
    call(payload, timeout=5)
    channel.close()
    (signal, forwarded), (_, events) = receiver.received
    spans = signal.parse(forwarded).resource_spans[0].scope_spans[0].spans
    # the benign spans went through unchanged, the attack was scored on the raw password value...
    assert [s.SerializeToString() for s in spans[:-1]] == [s.SerializeToString() for s in BENIGN]
    got = values(spans[-1])
    assert got["vigil.threat.categories"] == ["sqli"] and got["vigil.threat.score"] >= 0.5
    # ...and left with it masked, in the span and in the threat event
    assert got["url.query"] == "user=admin&password=REDACTED"
    (record,) = Signal.LOGS.parse(events).resource_logs[0].scope_logs[0].log_records
    assert values(record)["vigil.threat.value"] == "user=admin&password=REDACTED"
