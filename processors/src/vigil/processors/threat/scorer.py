"""``ThreatScorer``: injection payloads, attack tools and attack behaviour, scored on every span
and log record.

Enable it in the sidecar's scorer chain (entry point ``threat`` in ``vigil.scorers``)::

    VIGIL_SIDECAR_SCORERS=threat vigil serve

What it reads
-------------
Spans (every kind but CLIENT and PRODUCER, so the HTTP *server* side):
    ``url.query`` (split into parameters, each judged), ``url.path``, ``http.target`` (old
    semantic conventions: path and query), ``user_agent.original`` / ``http.user_agent`` (known
    attack tools, JNDI lookups).
Spans of any kind:
    ``db.query.text`` / ``db.statement``: flagged only for injected structure (a tautology,
    UNION SELECT of constants, a stacked time or exec statement, a comment cutting the query
    off after a literal), never for being a query.
Log records:
    the body (when a string) and every string attribute, except code locations
    (``code.*``), stack traces (``exception.stacktrace``), ``log.*``, ``thread.*``,
    ``process.*``, ``otel.*`` and Vigil's own (``vigil.*``). Records whose ``event.name`` starts
    with ``vigil.`` (Vigil's own events) are not scored.

Behaviour over time (brute force, credential stuffing, rate abuse, enumeration, privileged
operations at unusual hours) is judged from HTTP server spans (client, route, method, status,
account) and security-event log records (``event.name`` ``auth.failure``, ``auth.success``,
``access.denied``, ``privileged.operation``): see :mod:`vigil.processors.threat.behaviour`. Its
detections join those of the same item.

Each span's attributes are walked once and looked up by key; nothing else is read. Results for
user agents, statements and query strings are cached per scorer (bounded), since real traffic
repeats them; a cache miss costs what a first sight costs, never more.

What it writes (stable names)
-----------------------------
Only on items with at least one detection, replacing any earlier values:

``vigil.threat.score``       double, 0..1, calibrated: >= 0.5 means "this is an attack" (the
                             default alerting and sampling threshold); below, a graded suspicion.
``vigil.threat.categories``  string array, strongest first: ``sqli``, ``xss``, ``traversal``,
                             ``cmdi``, ``jndi``, ``ssti``, ``ssrf``, ``scanner``; ``bruteforce``,
                             ``stuffing``, ``rate-abuse``, ``enumeration``, ``privileged``.
``vigil.threat.rules``       string array of the ids of the rules that fired, strongest first
                             (see :mod:`vigil.processors.threat.rules`).

Events and counts
-----------------
Each attack (score >= 0.5) also becomes one ``vigil.threat`` log record, returned to the sidecar
as side output and forwarded with the scored data, and a count in ``vigil_threats_total``
(:mod:`vigil.processors.threat.reporting`); behavioural attacks only when they reach a level (the
third, fifth and tenth failed login of a client, not every one).

Extending it
------------
``ThreatScorer(config=..., sinks=[...])``: rules can be disabled by id, behavioural thresholds set
or the behavioural detectors turned off (:class:`ThreatConfig`); each sink is called with a
:class:`Finding` (the item, its verdict, the evidence: attribute, value, detections, and the item's
resource) for every annotated item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from vigil.processors.otlp_attributes import drop_attributes, string_array
from vigil.processors.scoring import SideOutput
from vigil.processors.signals import Signal
from vigil.processors.threat.analysis import (
    PATH_IS_PLAIN,
    PATH_TARGET,
    BoundedCache,
    Kind,
    analyse,
    analyse_query,
    analyse_target,
)
from vigil.processors.threat.behaviour import (
    EVENT_NAMES,
    RECORD_CLIENT_KEYS,
    SLOT_COUNT,
    SPAN_SLOTS,
    USER_KEYS,
    BehaviourConfig,
    BehaviourDetector,
    Observed,
)
from vigil.processors.threat.reporting import report
from vigil.processors.threat.rules import Evidence
from vigil.processors.threat.verdict import Verdict, verdict

SCORE = "vigil.threat.score"
CATEGORIES = "vigil.threat.categories"
RULES = "vigil.threat.rules"
OUTPUT_KEYS = frozenset({SCORE, CATEGORIES, RULES})

_CLIENT_KINDS = frozenset({3, 4})  # CLIENT, PRODUCER: outgoing calls, where only DB statements count
_SERVER_KIND = 2  # SERVER: the spans behaviour is judged on

# attribute key -> how its value is judged; _OUTPUT marks our own output keys
_QUERY, _PATH, _TARGET, _AGENT, _STATEMENT, _OUTPUT = (
    "query",
    "path",
    "target",
    "agent",
    "statement",
    "output",
)
_HTTP_KEYS = {
    "url.query": _QUERY,
    "url.path": _PATH,
    "http.target": _TARGET,
    "user_agent.original": _AGENT,
    "http.user_agent": _AGENT,
}
_DB_KEYS = {"db.query.text": _STATEMENT, "db.statement": _STATEMENT}
_SERVER_KEYS: dict[str, str] = {**_HTTP_KEYS, **_DB_KEYS, **dict.fromkeys(OUTPUT_KEYS, _OUTPUT)}
_CLIENT_KEYS: dict[str, str] = {**_DB_KEYS, **dict.fromkeys(OUTPUT_KEYS, _OUTPUT)}
# SERVER spans when behaviour is judged: an int is the slot of an attribute the detector reads.
_WATCHED_KEYS: dict[str, str | int] = {**_SERVER_KEYS, **SPAN_SLOTS}
_SKIPPED_LOG_PREFIXES = (
    "code.",
    "exception.stacktrace",
    "exception.type",
    "log.",
    "thread.",
    "process.",
    "otel.",
    "vigil.",
    "event.name",
)


@dataclass(frozen=True)
class ThreatConfig:
    """Settings of the threat scorer (YAML rules with reload are to come)."""

    disabled_rules: frozenset[str] = frozenset()
    """Rule ids that never fire."""
    behaviour: BehaviourConfig | None = field(default_factory=BehaviourConfig)
    """Thresholds of the behavioural detectors; None turns them off."""


@dataclass(frozen=True)
class Finding:
    """An annotated span or log record, for sinks (threat events, counters)."""

    signal: Signal
    item: Message
    verdict: Verdict
    evidence: tuple[Evidence, ...] = field(default=())
    resource: Message | None = None
    """The item's resource (service.name ...), for events about it."""
    event: bool = True
    """Whether an attack gets a ``vigil.threat`` event: not when it is one only through
    behavioural detections that repeat a level already reported (:mod:`.behaviour`)."""


Sink = Callable[[Finding], None]


class ThreatScorer:
    """Scores HTTP server spans, database spans and log records for injection payloads and
    attack tools, annotating the items it flags in place (see the module docstring)."""

    name = "threat"
    signals = frozenset({Signal.TRACES, Signal.LOGS})

    def __init__(
        self,
        config: ThreatConfig | None = None,
        sinks: Sequence[Sink] = (),
        behaviour: BehaviourDetector | None = None,
    ) -> None:
        """``behaviour``: the behavioural detector to use (default: one built from
        ``config.behaviour``, none if that is None)."""
        self.config = config = config or ThreatConfig()
        self.sinks = tuple(sinks)
        if behaviour is None and config.behaviour is not None:
            behaviour = BehaviourDetector(config.behaviour, config.disabled_rules)
        self.behaviour = behaviour
        # A service sees a few user agents and a few hundred distinct statements, many times.
        self._agents = BoundedCache(1024)
        self._statements = BoundedCache(4096)
        self._queries = BoundedCache(4096)  # popular searches, paging, tracking parameters

    def score(self, signal: Signal, request: Message) -> list[SideOutput]:
        """Annotate the spans or log records of ``request`` that carry threats, in place; return
        the ``vigil.threat`` events about the attacks among them (see :mod:`.reporting`)."""
        findings: list[Finding] = []
        if signal is Signal.TRACES:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    self._score_spans(scope_spans.spans, resource_spans.resource, findings)
        elif signal is Signal.LOGS:
            for resource_logs in request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        self._score_record(record, resource_logs.resource, findings)
        return report(findings)

    def _score_spans(self, spans: Iterable[Message], resource: Message, findings: list[Finding]) -> None:
        # The hot loop: one pass over each span's attributes, looked up by key, with the cheap
        # benign checks inlined (a function call per attribute would cost as much as the check).
        # The behavioural detector's attributes of SERVER spans are collected in the same pass.
        server_keys, client_keys, client_kinds = _SERVER_KEYS, _CLIENT_KEYS, _CLIENT_KINDS
        safe_path, path_target = PATH_IS_PLAIN.fullmatch, PATH_TARGET.search
        agents, statements, queries = self._agents, self._statements, self._queries
        behaviour = self.behaviour
        watched_keys = _WATCHED_KEYS if behaviour is not None else server_keys
        slots: list[KeyValue | None] | None = None
        for span in spans:
            kind = span.kind
            if kind == _SERVER_KIND:
                keys = watched_keys
                if behaviour is not None:
                    slots = [None] * SLOT_COUNT
            else:
                keys = client_keys if kind in client_kinds else server_keys
            evidence: list[Evidence] | None = None
            stale = False
            path = ""
            for kv in span.attributes:
                how = keys.get(kv.key)
                if how is None:
                    continue
                if how.__class__ is int:
                    slots[how] = kv  # type: ignore[index]
                    continue
                if how is _OUTPUT:
                    stale = True
                    continue
                value = kv.value.string_value
                if not value:
                    continue
                if how is _AGENT:
                    found = agents.get(value)
                    if found is None:
                        found = agents.put(value, analyse(value, Kind.USER_AGENT))
                elif how is _STATEMENT:
                    found = statements.get(value)
                    if found is None:
                        found = statements.put(value, analyse(value, Kind.STATEMENT))
                elif how is _PATH:
                    path = value
                    if safe_path(value) and not path_target(value.lower()):
                        continue
                    found = analyse(value, Kind.PATH)
                elif how is _QUERY:
                    found = queries.get(value)
                    if found is None:
                        found = queries.put(value, analyse_query(value))
                else:
                    path = path or value.partition("?")[0]
                    found = analyse_target(value)
                if found:
                    if evidence is None:
                        evidence = []
                    evidence.append(Evidence(kv.key, value, found))
            repeated: frozenset[str] = frozenset()
            if slots is not None:
                when = span.end_time_unix_nano or span.start_time_unix_nano
                observed = behaviour.span(slots, path, when, span)  # type: ignore[union-attr]
                slots = None
                if observed is not None:
                    evidence = [*(evidence or ()), *observed.evidence]
                    repeated = observed.repeated
            if evidence is not None or stale:
                self._annotate(Signal.TRACES, span, evidence or (), stale, resource, findings, repeated)

    def _score_record(self, record: Message, resource: Message, findings: list[Finding]) -> None:
        evidence: list[Evidence] = []
        stale = False
        event_name = record.event_name
        for kv in record.attributes:
            key = kv.key
            if key.startswith(_SKIPPED_LOG_PREFIXES):
                if key in OUTPUT_KEYS:
                    stale = True
                elif key == "event.name":
                    event_name = kv.value.string_value
                    if event_name.startswith("vigil."):
                        return
                continue
            value = kv.value.string_value
            if value:
                found = analyse(value, Kind.TEXT)
                if found:
                    evidence.append(Evidence(key, value, found))
        body = record.body.string_value
        if body:
            found = analyse(body, Kind.TEXT)
            if found:
                evidence.append(Evidence("body", body, found))
        repeated: frozenset[str] = frozenset()
        if event_name in EVENT_NAMES and self.behaviour is not None:
            observed = self._observe_event(event_name, record)
            if observed is not None:
                evidence.extend(observed.evidence)
                repeated = observed.repeated
        if evidence or stale:
            self._annotate(Signal.LOGS, record, evidence, stale, resource, findings, repeated)

    def _observe_event(self, name: str, record: Message) -> Observed | None:
        # Security events are rare next to other records: a second look at their attributes.
        values = {kv.key: kv.value.string_value for kv in record.attributes}
        client = next((values[k] for k in RECORD_CLIENT_KEYS if values.get(k)), "")
        user = next((values[k] for k in USER_KEYS if values.get(k)), "")
        when = record.time_unix_nano or record.observed_time_unix_nano
        return self.behaviour.event(name, client, user, when)  # type: ignore[union-attr]

    def _annotate(
        self,
        signal: Signal,
        item: Message,
        evidence: Iterable[Evidence],
        stale: bool,
        resource: Message,
        findings: list[Finding],
        repeated: frozenset[str] = frozenset(),
    ) -> None:
        evidence = tuple(evidence)
        disabled = self.config.disabled_rules
        detections = [d for e in evidence for d in e.detections if d.rule not in disabled]
        result = verdict(detections)
        if stale:
            drop_attributes(item, OUTPUT_KEYS)
        if result is None:
            return
        item.attributes.extend(
            [
                KeyValue(key=SCORE, value=AnyValue(double_value=result.score)),
                string_array(CATEGORIES, result.categories),
                string_array(RULES, result.rules),
            ]
        )
        event = True
        if repeated and result.is_attack:
            # An attack only through levels already reported (the 40th failed login of a client):
            # annotated, but no further event.
            alone = verdict([d for d in detections if d.rule not in repeated])
            event = alone is not None and alone.is_attack
        finding = Finding(signal, item, result, evidence, resource, event)
        findings.append(finding)
        for sink in self.sinks:
            sink(finding)
