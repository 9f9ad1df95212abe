"""Rules configured in the rule file: a rule that fires is silenced by turning it off, or by an
allow-listed route, query parameter or client; a reload changes a running scorer, through the
real sidecar too, and a bad reload changes nothing."""

from __future__ import annotations

import os
import textwrap
import time

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.processors.otlp_samples import attr
from tests.processors.threat.spans import http_span, request
from tests.processors.threat.test_behaviour import ATTACKER, NOON, S, server_span
from tests.processors.threat.test_rulefile import Clock
from tests.processors.threat.test_scorer import annotations
from tests.recording_receiver import export_call
from vigil.processors.scoring import ScorerChain
from vigil.processors.signals import Signal
from vigil.processors.threat import ThreatScorer
from vigil.processors.threat.allowlist import Allowance, AllowList
from vigil.processors.threat.rulefile import RuleFileWatcher, parse_rule_file
from vigil.processors.threat.settings import threat_config_from_env

SQLI = "q=1%27%20UNION%20SELECT%20password%20FROM%20users--"
XSS = "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E"


def scorer_from(text: str) -> ThreatScorer:
    return ThreatScorer(threat_config_from_env({}, parse_rule_file(textwrap.dedent(text))))


def search_span(route: str = "/api/code-search", query: str = SQLI, client: str = "203.0.113.9"):
    span = http_span(route, query)
    for kv in span.attributes:
        if kv.key == "client.address":
            kv.value.string_value = client
    return span


def categories(scorer: ThreatScorer, *spans) -> list:
    req = request(*spans)
    scorer.score(Signal.TRACES, req)
    return [annotations(s).get("categories") for s in req.resource_spans[0].scope_spans[0].spans]


def test_without_a_rule_file_the_payload_fires():
    assert categories(ThreatScorer(), search_span()) == [["sqli"]]


def test_a_rule_turned_off_in_the_file_is_silent():
    scorer = scorer_from("rules:\n  sqli.*: false\n")
    assert categories(scorer, search_span(), search_span(query=XSS)) == [None, ["xss"]]


def test_an_allowed_route_silences_its_rules_there_only():
    scorer = scorer_from(
        """
        allow:
          - routes: ["/api/code-*"]
            rules: ["sqli.*"]
        """
    )
    assert categories(scorer, search_span(), search_span(query=XSS), search_span("/search")) == [
        None,
        ["xss"],
        ["sqli"],
    ]


def test_an_allowed_parameter_is_not_judged_the_others_are():
    scorer = scorer_from(
        """
        allow:
          - routes: [/api/code-search]
            parameters: [q]
        """
    )
    other = SQLI.replace("q=", "page=1&lang=", 1)
    assert categories(scorer, search_span(), search_span(query=other), search_span("/search")) == [
        None,
        ["sqli"],
        ["sqli"],
    ]


def test_an_allowed_parameter_with_rules_is_judged_for_the_others():
    scorer = scorer_from(
        """
        allow:
          - routes: [/api/code-search]
            parameters: [q]
            rules: [sqli.*]
        """
    )
    assert categories(scorer, search_span(), search_span(query=XSS)) == [None, ["xss"]]


def test_allowed_parameters_apply_to_http_target_too():
    span = http_span("/api/code-search")
    span.attributes.append(attr("http.target", "/api/code-search?" + SQLI))
    scorer = scorer_from("allow:\n  - parameters: [q]\n")
    assert categories(scorer, span) == [None]


def test_an_allowed_client_fires_nothing():
    scorer = scorer_from(
        """
        allow:
          - note: the authorised scanner
            clients: [10.20.0.0/16, "2001:db8::1"]
        """
    )
    assert categories(
        scorer,
        search_span(client="10.20.3.4"),
        search_span(client="2001:db8::1"),
        search_span(client="10.21.0.1"),
    ) == [None, None, ["sqli"]]


def failed_logins(scorer: ThreatScorer, client: str, count: int, start: int = NOON) -> list:
    spans = [server_span(client, "/login", "POST", 401, start + i * S, user=f"u{i}") for i in range(count)]
    return categories(scorer, *spans)


def test_an_allowed_client_is_not_counted_by_the_behavioural_detectors():
    allowed = scorer_from("allow:\n  - clients: [198.51.100.0/24]\n")
    assert failed_logins(allowed, ATTACKER, 12) == [None] * 12
    assert len(allowed.behaviour.failures) == 0  # not even counted
    assert failed_logins(allowed, "192.0.2.50", 3)[-1] == ["bruteforce"]


def test_an_allowed_client_for_some_rules_keeps_the_others():
    scorer = scorer_from("allow:\n  - clients: [198.51.100.0/24]\n    rules: [stuffing.*]\n")
    assert failed_logins(scorer, ATTACKER, 5)[-1] == ["bruteforce"]


def test_allowed_clients_on_log_records():
    req = ExportLogsServiceRequest()
    records = req.resource_logs.add().scope_logs.add().log_records
    for client in ("10.20.0.9", "203.0.113.9"):
        record = records.add(body=AnyValue(string_value="search for ' OR '1'='1"))
        record.attributes.append(attr("client.address", client))
    scorer_from("allow:\n  - clients: [10.20.0.0/16]\n").score(Signal.LOGS, req)
    assert [annotations(r).get("categories") for r in records] == [None, ["sqli"]]


def test_matches_are_remembered_within_bounds():
    allow = AllowList([Allowance(routes=("/admin/*",), clients=("10.0.0.0/8",))])
    assert allow.skips("/admin/<id>", "/admin/7", "10.1.2.3")
    assert not allow.skips("/admin/<id>", "/admin/7", "11.1.2.3")
    assert not allow.skips("/shop", "/shop", "10.1.2.3")
    assert not allow.skips("", "", "not-an-address")
    for i in range(10_000):
        allow.skips(f"/r/{i}", f"/r/{i}", f"10.0.{i // 256 % 256}.{i % 256}")
    assert len(allow._route_matches) <= 4096 and len(allow._client_matches) <= 4096


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.yaml"

    def write(text: str) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(textwrap.dedent(text))
        os.replace(tmp, path)

    write("rules:\n  jndi.env-lookup: false\n")
    return path, write


def test_a_reload_changes_a_running_scorer_and_a_bad_one_changes_nothing(rules_file, caplog):
    path, write = rules_file
    clock = Clock()
    watcher = RuleFileWatcher(path, lambda f: threat_config_from_env({}, f), clock=clock)
    scorer = ThreatScorer(watcher.current, reload=watcher.poll)
    assert categories(scorer, search_span()) == [["sqli"]]
    assert failed_logins(scorer, ATTACKER, 3)[-1] == ["bruteforce"]
    detector = scorer.behaviour

    write("rules:\n  sqli.*: false\n")
    clock.now = 1.0
    assert categories(scorer, search_span()) == [None]
    # only payload rules changed: the behavioural counts are kept (the 4th failure is counted on)
    assert scorer.behaviour is detector
    assert failed_logins(scorer, ATTACKER, 1, NOON + 10 * S) == [["bruteforce"]]

    write("rules:\n  sqli.*: false\n  sqli.union: maybe\n")
    clock.now = 2.0
    assert categories(scorer, search_span()) == [None]  # still the rules in force
    assert "rules.yaml:3: rules.sqli.union: expected true or false" in caplog.text

    write("behaviour:\n  bruteforce_levels: [2, 4, 8]\n")
    clock.now = 3.0
    assert categories(scorer, search_span()) == [["sqli"]]
    assert scorer.behaviour is not detector and scorer.behaviour.config.bruteforce_levels == (2, 4, 8)
    assert failed_logins(scorer, "192.0.2.50", 2)[-1] == ["bruteforce"]


def test_a_reload_takes_effect_in_the_running_sidecar(rules_file, monkeypatch, receiver, sidecar_factory):
    path, write = rules_file
    monkeypatch.setenv("VIGIL_THREAT_RULES_FILE", str(path))
    sidecar = sidecar_factory(receiver.endpoint, ScorerChain.from_names(["threat"]))
    call, channel = export_call(sidecar, Signal.TRACES)

    def send() -> list:
        receiver.received.clear()
        call(request(search_span()).SerializeToString(), timeout=5)
        spans = Signal.TRACES.parse(receiver.received[0][1]).resource_spans[0].scope_spans[0].spans
        return [annotations(s).get("categories") for s in spans]

    assert send() == [["sqli"]] and len(receiver.received) == 2  # the span and its threat event
    write(
        """
        allow:
          - routes: [/api/code-search]
            parameters: [q]
        """
    )
    time.sleep(1.1)  # the file is looked at at most once a second
    assert send() == [None] and len(receiver.received) == 1  # no annotation, no event
    write("allow:\n  - routes: [/api/code-search]\n    parameters: q\n")  # refused: not a list
    time.sleep(1.1)
    assert send() == [None]
    write("rules: {}\n")
    time.sleep(1.1)
    assert send() == [["sqli"]]
    channel.close()
