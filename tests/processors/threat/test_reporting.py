"""Threat events and the vigil.threats counter: one event per attack, none for suspicions."""

from __future__ import annotations

from opentelemetry.proto.trace.v1.trace_pb2 import Span
from prometheus_client import REGISTRY

from tests.otlp_values import item_attributes as attributes
from tests.processors.threat.spans import INTERNAL, SERVER, attr, http_span, request
from vigil.processors.signals import Signal
from vigil.processors.threat import ThreatScorer
from vigil.processors.threat.reporting import severity


def threats(category: str, level: str) -> float:
    return REGISTRY.get_sample_value("vigil_threats_total", {"category": category, "severity": level}) or 0.0


def test_an_attack_gives_one_event_with_its_context_and_a_count():
    attack = http_span("/search", "q=1' OR '1'='1&password=hunter2")
    attack.span_id = b"\x09" * 8
    benign = http_span("/items/7")
    scored = request(benign, attack)
    before = threats("sqli", "critical") + threats("sqli", "high") + threats("sqli", "medium")

    ((signal, events),) = ThreatScorer().score(Signal.TRACES, scored)

    assert signal is Signal.LOGS
    (resource_logs,) = events.resource_logs
    assert {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}[
        "service.name"
    ] == "shop"
    (record,) = resource_logs.scope_logs[0].log_records
    assert (record.trace_id, record.span_id) == (attack.trace_id, b"\x09" * 8)
    found = attributes(record)
    assert found["event.name"] == "vigil.threat"
    assert found["vigil.threat.category"] == "sqli" and found["vigil.threat.rule"].startswith("sqli.")
    assert found["vigil.threat.severity"] == severity(found["vigil.threat.score"])
    assert record.severity_text == found["vigil.threat.severity"].upper()
    assert found["vigil.threat.attribute"] == "url.query"
    assert found["client.address"] == "203.0.113.9"
    # The offending value is quoted, with the sender's secret masked.
    assert "OR '1'='1" in found["vigil.threat.value"] and "hunter2" not in found["vigil.threat.value"]
    after = threats("sqli", "critical") + threats("sqli", "high") + threats("sqli", "medium")
    assert after - before == 1


def test_suspicions_and_benign_traffic_give_no_event():
    # A lone ../ is a suspicion (annotated below 0.5), not an attack.
    assert (
        ThreatScorer().score(Signal.TRACES, request(http_span("/docs"), http_span("/f", "path=../x"))) == []
    )


def test_severity_bands():
    assert [severity(s) for s in (0.5, 0.69, 0.7, 0.89, 0.9, 1.0)] == [
        "medium", "medium", "high", "high", "critical", "critical"
    ]  # fmt: skip


def test_a_long_value_is_cut():
    ((_, events),) = ThreatScorer().score(
        Signal.TRACES, request(http_span("/s", "q=" + "<script>alert(1)</script>" * 40))
    )
    value = attributes(events.resource_logs[0].scope_logs[0].log_records[0])["vigil.threat.value"]
    assert len(value) == 257 and value.endswith("…")


def _with_clients(span_id: int, clients: list[tuple[str, object]], kind: int = SERVER) -> Span:
    span = http_span("/search", "q=1' OR '1'='1", kind=kind)
    span.span_id = bytes([span_id]) * 8
    kept = [kv for kv in span.attributes if kv.key != "client.address"]
    del span.attributes[:]
    span.attributes.extend([*kept, *(attr(key, value) for key, value in clients)])
    return span


def test_each_event_names_its_own_client_as_the_span_attributes_do():
    # The first client key with a string value wins; a key given twice counts with its last value.
    spans = [
        _with_clients(1, [("client.address", "198.51.100.1")]),
        _with_clients(2, [("client.address", 7), ("http.client_ip", "198.51.100.2")]),
        _with_clients(
            3, [("client.address", "198.51.100.9"), ("client.address", ""), ("net.peer.ip", "198.51.100.3")]
        ),
        _with_clients(4, [("source.address", "198.51.100.4"), ("net.sock.peer.addr", "198.51.100.44")]),
        _with_clients(5, []),
        _with_clients(6, [("client.address", "198.51.100.6")], kind=INTERNAL),  # not a server span
    ]
    before = threats("sqli", "critical") + threats("sqli", "high") + threats("sqli", "medium")

    ((_, events),) = ThreatScorer().score(Signal.TRACES, request(*spans))

    records = events.resource_logs[0].scope_logs[0].log_records
    clients = {record.span_id[0]: attributes(record).get("client.address") for record in records}
    assert clients == {
        1: "198.51.100.1",
        2: "198.51.100.2",
        3: "198.51.100.3",
        4: "198.51.100.44",
        5: None,
        6: "198.51.100.6",
    }
    after = threats("sqli", "critical") + threats("sqli", "high") + threats("sqli", "medium")
    assert after - before == 6
