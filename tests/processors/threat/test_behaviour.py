"""Behavioural detection through ThreatScorer: each rule fires on its pattern and stays quiet on
its benign look-alike; levels, windows, event time, events and memory."""

from __future__ import annotations

import gc
import random
from collections import Counter
from collections.abc import Callable, Sequence

import psutil
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.otlp_values import item_attributes as attributes
from tests.processors.otlp_samples import attr
from tests.processors.threat.spans import SERVER, request
from vigil.processors.signals import Signal
from vigil.processors.threat import ThreatConfig, ThreatScorer
from vigil.processors.threat.behaviour import (
    BEHAVIOURAL_RULES,
    EVENT_NAMES,
    LEVEL_SCORES,
    SLOT_COUNT,
    SPAN_SLOTS,
    BehaviourConfig,
    BehaviourDetector,
)
from vigil.processors.threat.reporting import severity
from vigil.processors.threat.rules import RULES
from vigil.processors.threat.scorer import CATEGORIES, SCORE
from vigil.processors.threat.scorer import RULES as RULES_KEY

S = 1_000_000_000  # one second in ns
MIDNIGHT = 1_699_920_000 * S  # 2023-11-14 00:00:00 UTC
ATTACKER, VICTIM = "198.51.100.7", "alice"


def at(hour: int, minute: float = 0, second: float = 0) -> int:
    """Event time on 2023-11-14, UTC."""
    return MIDNIGHT + int((hour * 3600 + minute * 60 + second) * S)


NOON = at(12)


def server_span(
    client: str,
    route: str,
    method: str = "GET",
    status: int = 200,
    when: int = NOON,
    user: str | None = None,
    path: str | None = None,
) -> Span:
    """An HTTP server span as the Flask instrumentation records it (current conventions)."""
    span = Span(name=f"{method} {route}", kind=SERVER, trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    span.start_time_unix_nano, span.end_time_unix_nano = when - 2_000_000, when
    span.attributes.extend(
        [
            attr("http.request.method", method),
            attr("url.scheme", "https"),
            attr("url.path", path or route),
            attr("http.route", route),
            attr("client.address", client),
            attr("user_agent.original", "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Firefox/125.0"),
            attr("http.response.status_code", status),
        ]
    )
    if user is not None:
        span.attributes.append(attr("user.name", user))
    return span


def login(client: str, when: int, status: int = 401, user: str | None = None) -> Span:
    return server_span(client, "/api/v1/auth/login", "POST", status, when, user)


def slots(route: str, when: int, method: str = "GET") -> tuple[list, str, int]:
    """The arguments of BehaviourDetector.span for a request, as the scorer collects them."""
    values: list = [None] * SLOT_COUNT
    for kv in server_span("192.0.2.5", route, method, 200, when).attributes:
        if kv.key in SPAN_SLOTS:
            values[SPAN_SLOTS[kv.key]] = kv
    return values, route, when


def security_event(name: str, when: int, client: str | None = None, user: str | None = None) -> LogRecord:
    record = LogRecord(time_unix_nano=when, severity_text="INFO")
    record.attributes.append(attr("event.name", name))
    if client is not None:
        record.attributes.append(attr("client.address", client))
    if user is not None:
        record.attributes.append(attr("user.name", user))
    return record


def logs(*records: LogRecord) -> ExportLogsServiceRequest:
    req = ExportLogsServiceRequest()
    rl = req.resource_logs.add()
    rl.resource.attributes.append(attr("service.name", "shop"))
    rl.scope_logs.add().log_records.extend(records)
    return req


class Run:
    """Items scored one request at a time, in order, by one scorer: what each got, and the events."""

    def __init__(self, scorer: ThreatScorer | None = None) -> None:
        self.scorer = scorer or ThreatScorer()
        self.items: list[Span | LogRecord] = []
        self.events: list[dict[str, object]] = []

    def feed(self, *items: Span | LogRecord) -> Run:
        if not items:
            return self
        if isinstance(items[0], Span):
            req = request(*items)
            scored = list(req.resource_spans[0].scope_spans[0].spans)
            side = self.scorer.score(Signal.TRACES, req)
        else:
            req = logs(*items)
            scored = list(req.resource_logs[0].scope_logs[0].log_records)
            side = self.scorer.score(Signal.LOGS, req)
        self.items.extend(scored)
        for _, events in side:
            for resource_logs in events.resource_logs:
                for record in resource_logs.scope_logs[0].log_records:
                    self.events.append({**attributes(record), "body": record.body.string_value})
        return self

    def rules(self, index: int = -1) -> list[str]:
        return annotation(self.items[index], RULES_KEY) or []

    def score(self, index: int = -1) -> float:
        return annotation(self.items[index], SCORE) or 0.0

    def flagged(self) -> list[int]:
        """Indexes of the items annotated."""
        return [i for i, item in enumerate(self.items) if annotation(item, SCORE)]


def annotation(item: Span | LogRecord, key: str):
    for kv in item.attributes:
        if kv.key == key:
            if kv.value.HasField("array_value"):
                return [v.string_value for v in kv.value.array_value.values]
            return kv.value.double_value
    return None


def one_at_a_time(run: Run, items: Sequence[Span | LogRecord]) -> Run:
    for item in items:
        run.feed(item)
    return run


# --- every rule: its pattern fires it, a benign look-alike does not ---------------------------


def steady(run: Run, client: str, route: str, per_minute: int, minutes: range) -> None:
    """``per_minute`` requests of ``client`` to ``route`` in each minute of ``minutes`` after noon."""
    for minute in minutes:
        run.feed(
            *(server_span(client, route, when=at(12, minute, i * 60 / per_minute)) for i in range(per_minute))
        )


def bruteforce_client(run: Run) -> None:
    one_at_a_time(run, [login(ATTACKER, at(12, 0, i * 20)) for i in range(5)])


def mistyped_twice(run: Run) -> None:
    one_at_a_time(run, [login("203.0.113.9", at(12, 0, i * 10)) for i in range(2)])
    run.feed(login("203.0.113.9", at(12, 0, 30), status=200))
    # and many clients each failing once
    one_at_a_time(run, [login(f"203.0.113.{i}", at(12, 1, i)) for i in range(10, 40)])


def bruteforce_account(run: Run) -> None:
    run.feed(*(security_event("auth.failure", at(12, 0, i * 30), f"192.0.2.{i}", VICTIM) for i in range(3)))


def account_mistyped_twice(run: Run) -> None:
    run.feed(*(security_event("auth.failure", at(12, 0, i * 30), "192.0.2.1", VICTIM) for i in range(2)))
    run.feed(security_event("auth.success", at(12, 1), "192.0.2.1", VICTIM))


def success_after_failures(run: Run) -> None:
    run.feed(*(security_event("auth.failure", at(12, 0, i * 10), ATTACKER, VICTIM) for i in range(6)))
    run.feed(security_event("auth.success", at(12, 1, 10), ATTACKER, VICTIM))


def many_accounts_from_one_client(run: Run) -> None:
    run.feed(*(security_event("auth.failure", at(12, i), ATTACKER, f"user{i}") for i in range(6)))


def colleagues_behind_one_address(run: Run) -> None:
    # four colleagues behind the office's address each mistype once, three minutes apart
    run.feed(*(security_event("auth.failure", at(12, 3 * i), "192.0.2.50", f"user{i}") for i in range(4)))


def one_account_from_many_clients(run: Run) -> None:
    run.feed(*(security_event("auth.failure", at(12, i), f"192.0.2.{i}", VICTIM) for i in range(6)))


def phone_and_laptop(run: Run) -> None:
    run.feed(security_event("auth.failure", at(12, 0), "192.0.2.1", VICTIM))
    run.feed(security_event("auth.failure", at(12, 4), "198.51.100.200", VICTIM))


def rate_spike(run: Run) -> None:
    steady(run, ATTACKER, "/api/v1/products", 20, range(6))
    run.feed(*(server_span(ATTACKER, "/api/v1/products", when=at(12, 6, i / 10)) for i in range(300)))


def busy_but_steady(run: Run) -> None:
    steady(run, "192.0.2.80", "/api/v1/products", 300, range(8))


def forced_browsing(run: Run) -> None:
    run.feed(
        *(server_span(ATTACKER, "", status=404, when=at(12, 0, i), path=f"/{w}") for i, w in enumerate(WORDS))
    )


WORDS = [f"backup{i}.zip" for i in range(25)]


def a_404_now_and_then(run: Run) -> None:
    run.feed(
        *(
            server_span("203.0.113.9", "", status=404, when=at(12, 2 * i), path="/favicon.ico")
            for i in range(30)
        )
    )


def delete_at_night(run: Run) -> None:
    run.feed(server_span("192.0.2.5", "/api/v1/users/<int:user_id>", "DELETE", 204, at(23, 30)))


def admin_in_the_afternoon(run: Run) -> None:
    run.feed(server_span("192.0.2.5", "/admin/users", "GET", 200, at(14)))
    run.feed(server_span("192.0.2.5", "/api/v1/users/<int:user_id>", "DELETE", 204, at(14, 5)))


SCENARIOS: dict[str, tuple[Callable[[Run], None], Callable[[Run], None]]] = {
    "bruteforce.client": (bruteforce_client, mistyped_twice),
    "bruteforce.account": (bruteforce_account, account_mistyped_twice),
    "bruteforce.success-after-failures": (success_after_failures, account_mistyped_twice),
    "stuffing.client-many-accounts": (many_accounts_from_one_client, colleagues_behind_one_address),
    "stuffing.account-many-clients": (one_account_from_many_clients, phone_and_laptop),
    "rate-abuse.client-endpoint": (rate_spike, busy_but_steady),
    "enumeration.client-4xx-burst": (forced_browsing, a_404_now_and_then),
    "privileged.off-hours": (delete_at_night, admin_in_the_afternoon),
}


def test_every_behavioural_rule_has_a_scenario_and_a_look_alike():
    assert set(SCENARIOS) == BEHAVIOURAL_RULES
    for rule_id in BEHAVIOURAL_RULES:
        assert rule_id in RULES


@pytest.mark.parametrize("rule_id", sorted(SCENARIOS))
def test_the_pattern_fires_the_rule(rule_id):
    run = Run()
    SCENARIOS[rule_id][0](run)
    assert rule_id in run.rules(), (rule_id, run.rules())


@pytest.mark.parametrize("rule_id", sorted(SCENARIOS))
def test_the_look_alike_keeps_it_quiet(rule_id):
    run = Run()
    SCENARIOS[rule_id][1](run)
    assert run.flagged() == [] and run.events == []


# --- brute force ------------------------------------------------------------------------------


def test_progressive_severity_3_5_10():
    run = one_at_a_time(Run(), [login(ATTACKER, at(12, 0, i * 15)) for i in range(12)])
    scores = [run.score(i) for i in range(12)]
    assert scores == [0, 0] + [LEVEL_SCORES[0]] * 2 + [LEVEL_SCORES[1]] * 5 + [LEVEL_SCORES[2]] * 3
    assert [severity(s) for s in LEVEL_SCORES] == ["medium", "high", "critical"]
    # one event per level reached, not one per attempt
    assert [e["vigil.threat.severity"] for e in run.events] == ["medium", "high", "critical"]
    for event in run.events:
        assert event["event.name"] == "vigil.threat"
        assert event["vigil.threat.category"] == "bruteforce"
        assert event["vigil.threat.rule"] == "bruteforce.client"
        assert event["client.address"] == ATTACKER
        assert event["vigil.threat.attribute"] == "client.address"
    assert (
        run.events[1]["body"]
        == f"bruteforce attack (bruteforce.client): 5 failed logins in 5 min from {ATTACKER}"
    )


def test_failures_six_minutes_apart_do_not_accumulate():
    run = one_at_a_time(Run(), [login(ATTACKER, at(12, 6 * i)) for i in range(10)])
    assert run.flagged() == []


def test_failures_that_leave_the_window_stop_counting():
    run = one_at_a_time(Run(), [login(ATTACKER, at(12, 0, i)) for i in range(4)])
    assert run.flagged() == [2, 3]
    run.feed(login(ATTACKER, at(12, 7)))  # the four earlier ones have left the 5-minute window
    assert run.score() == 0


def test_the_same_failures_seen_as_spans_and_as_events_count_once():
    run = Run()
    for i in range(4):
        run.feed(login(ATTACKER, at(12, 0, i)))
        run.feed(security_event("auth.failure", at(12, 0, i), ATTACKER, VICTIM))
    # four attempts: medium (3), not high (5) from counting eight
    assert run.score() == LEVEL_SCORES[0]
    # and one event: the account's count (only the events name it) says nothing new
    assert [e["vigil.threat.severity"] for e in run.events] == ["medium"]


def test_how_a_failed_login_is_recognised():
    def failures(*spans: Span) -> int:
        run = one_at_a_time(Run(), [spans[i % len(spans)] for i in range(3)])
        return len(run.flagged())

    assert failures(login(ATTACKER, NOON)) == 1
    assert failures(server_span(ATTACKER, "/oauth/token", "POST", 401)) == 1
    assert failures(server_span(ATTACKER, "/users/sign_in", "POST", 403)) == 1
    assert failures(server_span(ATTACKER, "", "POST", 401, path="/login")) == 1  # no route: the path
    assert failures(server_span(ATTACKER, "/login", "GET", 401)) == 0  # not a login attempt
    assert failures(server_span(ATTACKER, "/login", "POST", 200)) == 0  # a success
    assert failures(server_span(ATTACKER, "/login", "POST", 500)) == 0  # the app failed, not the user
    assert failures(server_span(ATTACKER, "/auth/callback", "POST", 401)) == 0
    assert failures(server_span(ATTACKER, "/api/v1/orders", "POST", 401)) == 0


def test_old_semantic_conventions():
    def old_span(when: int) -> Span:
        span = Span(name="POST", kind=SERVER, end_time_unix_nano=when)
        span.attributes.extend(
            [
                attr("http.method", "POST"),
                attr("http.target", "/login?next=%2F"),
                attr("net.peer.ip", ATTACKER),
                attr("http.status_code", "401"),  # some record it as a string
            ]
        )
        return span

    run = one_at_a_time(Run(), [old_span(at(12, 0, i)) for i in range(3)])
    assert run.rules() == ["bruteforce.client"]
    assert run.events[0]["client.address"] == ATTACKER


def test_a_configured_login_route():
    config = BehaviourConfig(login_route=r"^/connexion$", bruteforce_levels=(2, 4, 6))
    run = Run(ThreatScorer(ThreatConfig(behaviour=config)))
    one_at_a_time(run, [server_span(ATTACKER, "/connexion", "POST", 401, at(12, 0, i)) for i in range(2)])
    assert run.rules() == ["bruteforce.client"]
    run = Run(ThreatScorer(ThreatConfig(behaviour=config)))
    one_at_a_time(run, [login(ATTACKER, at(12, 0, i)) for i in range(6)])
    assert run.flagged() == []


def test_client_and_account_counts_are_not_added_up():
    # three attempts from one client on one account: one brute force, at its level (medium)
    run = Run().feed(*(security_event("auth.failure", at(12, 0, i), ATTACKER, VICTIM) for i in range(3)))
    assert run.score() == LEVEL_SCORES[0]
    assert run.rules() == ["bruteforce.client"]


def test_stuffing_and_brute_force_add_up():
    run = Run().feed(*(security_event("auth.failure", at(12, 0, i), ATTACKER, f"user{i}") for i in range(10)))
    assert run.rules() == ["bruteforce.client", "stuffing.client-many-accounts"]
    assert annotation(run.items[-1], CATEGORIES) == ["bruteforce", "stuffing"]
    assert run.score() == round(1 - (1 - LEVEL_SCORES[2]) * (1 - LEVEL_SCORES[1]), 3)


def test_a_success_after_a_few_failures_is_nothing():
    run = Run().feed(*(security_event("auth.failure", at(12, 0, i), ATTACKER, VICTIM) for i in range(4)))
    run.feed(security_event("auth.success", at(12, 1), ATTACKER, VICTIM))
    assert run.score() == 0


# --- rate abuse -------------------------------------------------------------------------------


def test_rate_abuse_from_the_request_past_the_threshold_with_levels():
    run = Run()
    steady(run, ATTACKER, "/api/v1/products", 30, range(6))  # usual: 30 a minute
    before = len(run.items)
    run.feed(*(server_span(ATTACKER, "/api/v1/products", when=at(12, 6, i / 20)) for i in range(1000)))
    flagged = [i - before for i in run.flagged()]
    assert flagged[0] == 240  # past 8 x 30: the 241st request of the minute
    assert flagged == list(range(240, 1000))
    levels = [run.score(before + i) for i in (240, 480, 960)]
    assert levels == list(LEVEL_SCORES)
    assert [e["vigil.threat.severity"] for e in run.events] == ["medium", "high", "critical"]
    assert run.events[0]["vigil.threat.category"] == "rate-abuse"
    assert "241 requests to /api/v1/products in 1 min" in run.events[0]["body"]
    # the next minute starts afresh
    run.feed(server_span(ATTACKER, "/api/v1/products", when=at(12, 7, 30)))
    assert run.score() == 0


def test_a_new_client_is_judged_against_the_routes_typical_client():
    run = Run()
    for minute in range(3):  # twenty clients, five requests a minute each
        for client in range(20):
            steady(run, f"192.0.2.{client}", "/search", 5, range(minute, minute + 1))
    before = len(run.items)
    run.feed(*(server_span(ATTACKER, "/search", when=at(12, 3, i / 5)) for i in range(150)))
    # typical 5, times 8 is 40: below the floor of 120, so from the 121st
    assert [i - before for i in run.flagged()] == list(range(120, 150))


def test_a_new_client_is_not_judged_on_a_route_without_history():
    run = Run().feed(*(server_span(ATTACKER, "/search", when=at(12, 0, i / 10)) for i in range(500)))
    assert run.flagged() == []


def test_idle_minutes_do_not_lower_the_baseline():
    # a batch client, alone on its route: 400 requests in one minute every ten minutes
    run = Run()
    for minute in range(0, 80, 10):
        steady(run, "192.0.2.60", "/api/v1/export", 400, range(minute, minute + 1))
    assert run.scorer.behaviour.rates.baseline("192.0.2.60", "/api/v1/export") == (400.0, 7)
    assert run.flagged() == []


# --- enumeration ------------------------------------------------------------------------------


def test_enumeration_fires_from_the_twentieth_rejection():
    run = Run()
    forced_browsing(run)
    assert run.flagged() == list(range(19, 25))
    assert run.rules() == ["enumeration.client-4xx-burst"]
    assert run.events[0]["client.address"] == ATTACKER


def test_403s_and_access_denied_events_count():
    run = Run()
    run.feed(
        *(server_span(ATTACKER, "/api/v1/orders/<int:id>", status=403, when=at(12, 0, i)) for i in range(20))
    )
    assert run.rules() == ["enumeration.client-4xx-burst"]
    run = Run().feed(*(security_event("access.denied", at(12, 0, i), ATTACKER, VICTIM) for i in range(20)))
    assert run.rules() == ["enumeration.client-4xx-burst"]


def test_failed_logins_are_not_enumeration():
    run = one_at_a_time(Run(), [login(ATTACKER, at(12, 0, i)) for i in range(30)])
    assert run.rules() == ["bruteforce.client"]


# --- privileged operations --------------------------------------------------------------------


def test_privileged_operations_at_night_are_a_suspicion_without_an_event():
    run = Run()
    run.feed(server_span("192.0.2.5", "/api/v1/users/<int:user_id>", "DELETE", 204, at(23, 30)))
    run.feed(server_span("192.0.2.5", "/admin/users", "GET", 200, at(3)))
    run.feed(server_span("192.0.2.5", "/wp-admin/options.php", "POST", 200, at(5, 59)))
    run.feed(server_span("192.0.2.5", "/administrator", "GET", 200, at(6)))  # 06:00: not night
    run.feed(server_span("192.0.2.5", "/products/admiral-hat", "GET", 200, at(23)))  # not admin
    run.feed(security_event("privileged.operation", at(2), user="root"))
    assert run.flagged() == [0, 1, 2, 5]
    assert {run.score(i) for i in (0, 1, 2, 5)} == {RULES["privileged.off-hours"].score}
    assert run.events == []


def test_off_hours_follow_the_configured_hours_and_offset():
    config = BehaviourConfig(off_hours=(20, 8), utc_offset_minutes=-300)  # 20:00 to 08:00 at UTC-5
    run = Run(ThreatScorer(ThreatConfig(behaviour=config)))
    run.feed(server_span("192.0.2.5", "/admin", when=at(14)))  # 09:00 at UTC-5
    run.feed(server_span("192.0.2.5", "/admin", when=at(12)))  # 07:00 at UTC-5
    assert run.flagged() == [1]
    assert "07:00 UTC-05:00" in str(run.scorer.behaviour.span(*slots("/admin", at(12))).evidence[0].detail)


def test_a_night_time_suspicion_and_a_weak_payload_make_an_attack():
    span = server_span("192.0.2.5", "/admin/fetch", "GET", 200, at(2))
    span.attributes.append(attr("url.query", "url=http%3A%2F%2F10.0.0.5%2Fadmin"))  # ssrf.private-host
    run = Run().feed(span)
    assert run.rules() == ["privileged.off-hours", "ssrf.private-host"]
    assert run.score() >= 0.5
    assert len(run.events) == 1


# --- time, events, configuration, memory ------------------------------------------------------


def test_event_time_not_arrival_time():
    # Replayed a day later, all at once, in one request: the same detections as live.
    live = one_at_a_time(Run(), [login(ATTACKER, at(12, 0, i * 20)) for i in range(5)])
    replay = Run().feed(*(login(ATTACKER, at(12, 0, i * 20)) for i in range(5)))
    assert [live.score(i) for i in range(5)] == [replay.score(i) for i in range(5)]
    # Failures an hour apart in event time, scored in the same instant, never add up.
    spread = Run().feed(*(login(ATTACKER, at(12 + i)) for i in range(5)))
    assert spread.flagged() == []


def test_late_telemetry_counts_where_it_belongs():
    run = Run()
    run.feed(login(ATTACKER, at(12, 2)))
    run.feed(login(ATTACKER, at(12, 1)))  # from a service whose exporter is a minute behind
    run.feed(login(ATTACKER, at(12, 3)))
    assert run.rules() == ["bruteforce.client"]


def test_items_without_a_time_are_not_counted():
    spans = [login(ATTACKER, NOON) for _ in range(5)]
    for span in spans:
        span.start_time_unix_nano = span.end_time_unix_nano = 0
    assert Run().feed(*spans).flagged() == []


def test_behaviour_can_be_turned_off_or_rules_disabled():
    attack = [login(ATTACKER, at(12, 0, i)) for i in range(5)]
    assert Run(ThreatScorer(ThreatConfig(behaviour=None))).feed(*attack).flagged() == []
    config = ThreatConfig(disabled_rules=frozenset({"bruteforce.client"}))
    assert Run(ThreatScorer(config)).feed(*attack).flagged() == []
    config = ThreatConfig(disabled_rules=frozenset({"bruteforce.account"}))
    assert Run(ThreatScorer(config)).feed(*attack).rules() == ["bruteforce.client"]


def test_bad_levels_are_refused():
    with pytest.raises(ValueError):
        BehaviourDetector(BehaviourConfig(bruteforce_levels=(5, 3, 10)))


def test_account_events_carry_the_client():
    run = Run().feed(*(security_event("auth.failure", at(12, i), f"192.0.2.{i}", VICTIM) for i in range(5)))
    event = run.events[-1]
    assert event["vigil.threat.rule"] == "bruteforce.account"
    assert event["vigil.threat.attribute"] == "user.name" and event["vigil.threat.value"] == VICTIM
    assert event["client.address"] == "192.0.2.4"


def test_state_stays_bounded_under_a_flood_of_distinct_clients():
    # Spoofed addresses, each with a request, a 404 and a failed login on its own account: every
    # store fills and turns (a million of them: see the Memory section of behaviour.py; here
    # 250,000, to keep the test quick).
    config = BehaviourConfig()
    detector = BehaviourDetector(config)
    process = psutil.Process()
    gc.collect()
    rss = process.memory_info().rss
    values, _, _ = slots("/api/v1/items/<int:id>", NOON)
    client_slot, status_slot = SPAN_SLOTS["client.address"], SPAN_SLOTS["http.response.status_code"]
    found_200, found_404 = attr("http.response.status_code", 200), attr("http.response.status_code", 404)
    largest = 0
    for i in range(250_000):
        client = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        when = NOON + i * 100_000
        values[client_slot] = attr("client.address", client)
        values[status_slot] = found_200
        detector.span(values, "/api/v1/items/1", when)
        values[status_slot] = found_404
        detector.span(values, "/nope", when)
        detector.event("auth.failure", client, f"user{i}", when)
        if i % 5000 == 0:
            largest = max(largest, len(detector))
    grown = (process.memory_info().rss - rss) / 1e6
    print(f"\n250,000 distinct clients, 4 stores of max_keys={config.max_keys:,}: RSS +{grown:.0f} MB")
    assert largest <= 4 * config.max_keys
    for store in (detector.failures, detector.distinct, detector.rejections, detector.rates):
        assert len(store) <= config.max_keys
    assert grown < 300


# --- a batch judged at once (spans) as one span at a time (span) -----------------------------

# The traffic of each random stream: (clients in the pool, hour it starts at, minutes it lasts,
# share of requests late, share of failed logins, share of 404s, max_keys).
STREAMS = {
    "many clients": (100_000, 12, 2, 0.0, 0.02, 0.02, 100_000),
    "few clients, a flood": (4, 12, 6, 0.0, 0.0, 0.01, 100_000),
    "brute force and stuffing": (6, 9, 12, 0.05, 0.3, 0.0, 100_000),
    "404 bursts": (5, 12, 4, 0.05, 0.0, 0.4, 100_000),
    "privileged routes across 22:00": (50, 21, 120, 0.02, 0.05, 0.05, 100_000),
    "out of order, several windows, small stores": (300, 5, 30, 0.3, 0.1, 0.1, 64),
}
ROUTES = ("/api/v1/items", "/api/v1/auth/login", "/admin/users", "/static/{path}", None)
CLIENT_SLOTS = tuple(SPAN_SLOTS[key] for key in ("client.address", "http.client_ip", "net.peer.ip"))
METHOD_SLOTS = (SPAN_SLOTS["http.request.method"], SPAN_SLOTS["http.method"])
STATUS_SLOTS = (SPAN_SLOTS["http.response.status_code"], SPAN_SLOTS["http.status_code"])


def random_request(rng, stream: tuple, when: int, flood: bool) -> tuple[list, str, int, Span]:
    """(values by slot as the scorer's columns hold them, path, time, span) of one server span:
    current or old conventions, statuses as ints or strings, now and then a value missing, of
    another type, or no time at all; in a ``flood``, mostly one client to one route."""
    clients, _, _, late, failures, rejections, _ = stream
    values: list = [None] * SLOT_COUNT
    roll = rng.random()
    if roll < 0.95:
        values[rng.choice(CLIENT_SLOTS)] = (
            f"10.{rng.randrange(clients) % 256}.{rng.randrange(clients) // 256}.1"
        )
    elif roll < 0.97:
        values[CLIENT_SLOTS[0]] = 7  # an int: no client
    route = rng.choice(ROUTES)
    if flood and rng.random() < 0.9:
        values[CLIENT_SLOTS[0]], route = "10.9.9.9", ROUTES[0]
    values[SPAN_SLOTS["http.route"]] = route
    path = (route or "/api/v1/orders").replace("{path}", "app.js")
    roll = rng.random()
    if roll < failures:
        method, status = "POST", rng.choice((401, 403))
        values[SPAN_SLOTS["http.route"]] = "/api/v1/auth/login"
    elif roll < failures + rejections:
        method, status = "GET", rng.choice((404, 403))
    else:
        method, status = rng.choice(("GET", "GET", "GET", "POST", "DELETE")), rng.choice((200, 200, 201, 302))
    values[rng.choice(METHOD_SLOTS)] = method
    roll = rng.random()
    if roll < 0.7:
        values[rng.choice(STATUS_SLOTS)] = status
    elif roll < 0.95:
        values[rng.choice(STATUS_SLOTS)] = str(status)
    elif roll < 0.97:
        values[STATUS_SLOTS[0]] = rng.choice(("²", "4o4", "", "0" * 30 + "404"))
    if rng.random() < late:
        when -= rng.randrange(200 * S)
    if rng.random() < 0.01:
        when = 0
    span = Span(kind=SERVER, end_time_unix_nano=when)
    if rng.random() < 0.8:
        span.attributes.append(attr(rng.choice(("user.name", "enduser.id")), f"user{rng.randrange(12)}"))
    return values, path, when, span


def key_values(values: list, rng) -> list:
    """The attributes by slot as the per-span scorer collects them: None, or now and then a value
    of another type (which a column holds as None)."""
    names = {slot: key for key, slot in SPAN_SLOTS.items()}
    found: list = []
    for slot, value in enumerate(values):
        if value is None:
            other = KeyValue(key=names[slot], value=AnyValue(double_value=1.5))
            found.append(other if rng.random() < 0.02 else None)
        else:
            found.append(attr(names[slot], value))
    return found


def detector_state(detector: BehaviourDetector) -> tuple:
    stores = (detector.failures, detector.distinct, detector.rejections, detector.rates)
    return (
        *((store._young, store._old) for store in stores),
        detector.rates._routes,
        [detector._sources[store] for store in (detector.failures, detector.rejections)],
        (detector._hour_start, detector._hour_end, detector._night),
    )


@pytest.mark.parametrize("name", STREAMS)
@pytest.mark.parametrize("seed", range(3))
def test_a_batch_is_judged_as_its_spans_one_at_a_time(name, seed):
    stream = STREAMS[name]
    clients, hour, minutes, *_, max_keys = stream
    config = BehaviourConfig(
        max_keys=max_keys,
        rate_window_s=10.0,
        rate_min_requests=6,
        rate_warmup_windows=2,
        enumeration_levels=(3, 6, 12),
    )
    one, many = BehaviourDetector(config), BehaviourDetector(config)
    rng = random.Random(seed)
    count = 6000
    requests = [
        random_request(
            rng, stream, at(hour) + i * minutes * 60 * S // count, "flood" in name and i > count * 2 / 3
        )
        for i in range(count)
    ]
    found = [key_values(values, rng) for values, *_ in requests]
    position, judged = 0, Counter()
    while position < count:
        size = rng.choice((1, 3, 50, 256, 512))
        batch = range(position, min(position + size, count))
        expected = {}
        for k, i in enumerate(batch):
            _, path, when, span = requests[i]
            observed = one.span(found[i], path, when, span)
            if observed is not None:
                expected[k] = observed
        columns = [[requests[i][0][slot] for i in batch] for slot in range(SLOT_COUNT)]
        paths, times = [requests[i][1] for i in batch], [requests[i][2] for i in batch]
        assert many.spans(columns, paths, times, lambda k, batch=batch: requests[batch[k]][3]) == expected
        assert detector_state(many) == detector_state(one)
        judged.update(
            rule
            for observed in expected.values()
            for e in observed.evidence
            for rule in (d.rule for d in e.detections)
        )
        # Security events between batches count in the same stores.
        if rng.random() < 0.2:
            event = (
                rng.choice(sorted(EVENT_NAMES)),
                f"10.{rng.randrange(clients) % 256}.0.1",
                "user3",
                times[-1],
            )
            assert many.event(*event) == one.event(*event)
        position += size
    assert judged  # each stream fires rules (which ones: below)
    if name == "few clients, a flood":
        assert judged["rate-abuse.client-endpoint"]
    if name == "brute force and stuffing":
        assert judged["bruteforce.client"] and judged["stuffing.account-many-clients"]
    if name == "404 bursts":
        assert judged["enumeration.client-4xx-burst"]
    if name == "privileged routes across 22:00":
        assert judged["privileged.off-hours"]


def test_an_empty_batch_or_one_without_times_changes_nothing():
    detector = BehaviourDetector()
    before = detector_state(detector)
    columns = [[None] * 2 for _ in range(SLOT_COUNT)]
    columns[SPAN_SLOTS["client.address"]] = ["10.0.0.1", "10.0.0.2"]
    assert detector.spans([[] for _ in range(SLOT_COUNT)], [], [], lambda k: None) == {}
    assert detector.spans(columns, ["/", "/"], [0, 0], lambda k: None) == {}
    assert detector_state(detector) == before


def test_a_status_no_number_can_be_read_from_is_no_status():
    # "²" is a digit to str.isdigit, not to int(): it used to stop the scoring of the batch.
    detector = BehaviourDetector()
    values, path, when = slots("/api/v1/items", NOON)
    values[SPAN_SLOTS["http.response.status_code"]] = attr("http.response.status_code", "²")
    assert detector.span(values, path, when) is None
