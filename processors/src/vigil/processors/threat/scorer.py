"""``ThreatScorer``: injection payloads, attack tools and attack behaviour, scored on every span
and log record.

Enable it in the sidecar's scorer chain (entry point ``threat`` in ``vigil.scorers``)::

    VIGIL_SIDECAR_SCORERS=threat vigil serve

What it reads
-------------
Spans (every kind but CLIENT and PRODUCER, so the HTTP *server* side):
    ``url.query`` (split into parameters, each judged), ``url.path``, ``http.target`` (old
    semantic conventions: path and query), ``user_agent.original`` / ``http.user_agent`` (known
    attack tools, JNDI lookups), and the request headers the instrumentation captured
    (``http.request.header.referer``, ``...x_forwarded_for``, ``...cookie`` and the others of
    :mod:`vigil.processors.threat.headers`).
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

Spans are judged per batch: the attributes above come as columns read from the request's wire
bytes (:mod:`vigil.processors.span_columns`, in C; the sidecar hands the first scorer of its
chain the bytes it received), each distinct value of a batch is judged once, plain paths and
query strings are found by one scan of the batch (:mod:`.prefilter`), and only spans with
something found are looked up in the decoded request. Results for user agents, statements,
query strings, query parameter values and headers are cached per scorer (bounded), since real
traffic repeats them; a cache miss costs what a first sight costs, never more. SQL is tokenised
in C too (:mod:`.sql`).

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

Configuring it
--------------
The ``VIGIL_THREAT_*`` variables and the rule file (``VIGIL_THREAT_RULES_FILE``, YAML, reloaded
without a restart: :mod:`vigil.processors.threat.rulefile`) turn rules on and off, set the
behavioural thresholds and allow routes, query parameters and clients
(:mod:`vigil.processors.threat.allowlist`). A reload is picked up when a batch arrives, before it
is scored; each batch is scored with one set of rules.

Extending it
------------
``ThreatScorer(config=..., sinks=[...], reload=...)``: rules can be disabled by id, behavioural
thresholds set or the behavioural detectors turned off, allow-lists given (:class:`ThreatConfig`);
``reload`` is called before each batch and returns a new config, or None to keep the one in force;
each sink is called with a :class:`Finding` (the item, its verdict, the evidence: attribute,
value, detections, and the item's resource) for every annotated item.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from vigil.processors.otlp_attributes import drop_attributes, string_array
from vigil.processors.scoring import SideOutput
from vigil.processors.signals import Signal
from vigil.processors.span_columns import ALL_KINDS, ColumnReader, Slot, SpanColumns, SpanLocator
from vigil.processors.threat.allowlist import Allowance, AllowList, Exemption, judge_query
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
    BEHAVIOURAL_RULES,
    EVENT_NAMES,
    RECORD_CLIENT_KEYS,
    SLOT_COUNT,
    SPAN_SLOTS,
    USER_KEYS,
    BehaviourConfig,
    BehaviourDetector,
    Observed,
    first_client,
)
from vigil.processors.threat.headers import HEADER_KEYS, HeaderJudge
from vigil.processors.threat.prefilter import PATHS, QUERIES
from vigil.processors.threat.reporting import report
from vigil.processors.threat.rules import Detection, Evidence
from vigil.processors.threat.verdict import Verdict, verdict

SCORE = "vigil.threat.score"
CATEGORIES = "vigil.threat.categories"
RULES = "vigil.threat.rules"
OUTPUT_KEYS = frozenset({SCORE, CATEGORIES, RULES})

_SERVER_KIND = 2  # SERVER: the spans behaviour is judged on
# Every kind but CLIENT and PRODUCER (outgoing calls, where only DB statements count).
_INCOMING_KINDS = ALL_KINDS - {3, 4}

# How a value is judged
_QUERY, _PATH, _TARGET, _AGENT, _STATEMENT, _HEADER = (
    "query",
    "path",
    "target",
    "agent",
    "statement",
    "header",
)
# The columns read from each request: (key, how, kinds), one column per key so that evidence
# names the key the value came under.
_JUDGED: tuple[tuple[str, str, frozenset[int]], ...] = (
    ("url.query", _QUERY, _INCOMING_KINDS),
    ("url.path", _PATH, _INCOMING_KINDS),
    ("http.target", _TARGET, _INCOMING_KINDS),
    ("user_agent.original", _AGENT, _INCOMING_KINDS),
    ("http.user_agent", _AGENT, _INCOMING_KINDS),
    *((key, _HEADER, _INCOMING_KINDS) for key in HEADER_KEYS),
    ("db.query.text", _STATEMENT, ALL_KINDS),
    ("db.statement", _STATEMENT, ALL_KINDS),
)
_OUTPUT_COLUMN = len(_JUDGED)  # our own output keys: earlier annotations to replace
# Then the behavioural detector's attributes of SERVER spans, one dense column per SPAN_SLOTS
# slot, and the two that give a server span's path.
_BEHAVIOUR_COLUMN = _OUTPUT_COLUMN + 1
_SLOT_KEYS = sorted(SPAN_SLOTS, key=SPAN_SLOTS.__getitem__)
_URL_PATH_COLUMN = _BEHAVIOUR_COLUMN + SLOT_COUNT
_TARGET_COLUMN = _URL_PATH_COLUMN + 1
_COLUMNS = (
    *(Slot((key,), kinds) for key, _, kinds in _JUDGED),
    Slot(tuple(OUTPUT_KEYS)),
    *(Slot((key,), {_SERVER_KIND}, dense=True) for key in _SLOT_KEYS),
    Slot(("url.path",), {_SERVER_KIND}, dense=True),
    Slot(("http.target",), {_SERVER_KIND}, dense=True),
)
_READER = ColumnReader(_COLUMNS)
# Where the allow-lists find a server span's client and route among the behavioural slots.
_CLIENT_SLOTS = tuple(SPAN_SLOTS[key] for key in RECORD_CLIENT_KEYS)
_ROUTE_SLOT = SPAN_SLOTS["http.route"]
_ITEM_KEYS = frozenset({"http.route", "url.path", "http.target", *RECORD_CLIENT_KEYS})
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
    """Settings of the threat scorer (from the environment and the rule file: :mod:`.settings`)."""

    disabled_rules: frozenset[str] = frozenset()
    """Rule ids that never fire."""
    behaviour: BehaviourConfig | None = field(default_factory=BehaviourConfig)
    """Thresholds of the behavioural detectors; None turns them off."""
    allow: tuple[Allowance, ...] = ()
    """Allow-list entries (:mod:`.allowlist`)."""


class _State(NamedTuple):
    """What one batch is scored with; replaced whole on a reload."""

    config: ThreatConfig
    behaviour: BehaviourDetector | None
    allow: AllowList


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
    client: str | None = None
    """The item's client (``client.address`` or an older key), when the scorer has read it
    already (a server span's columns); None: the event looks in the item's attributes."""


Sink = Callable[[Finding], None]


class ThreatScorer:
    """Scores HTTP server spans, database spans and log records for injection payloads and
    attack tools, annotating the items it flags in place (see the module docstring)."""

    name = "threat"
    signals = frozenset({Signal.TRACES, Signal.LOGS})
    reads_payload = True

    def __init__(
        self,
        config: ThreatConfig | None = None,
        sinks: Sequence[Sink] = (),
        behaviour: BehaviourDetector | None = None,
        reload: Callable[[], ThreatConfig | None] | None = None,
    ) -> None:
        """``behaviour``: the behavioural detector to use (default: one built from
        ``config.behaviour``, none if that is None). ``reload``: called before each batch; a
        config it returns replaces the one in force (see :meth:`reconfigure`)."""
        config = config or ThreatConfig()
        self.sinks = tuple(sinks)
        if behaviour is None and config.behaviour is not None:
            behaviour = BehaviourDetector(config.behaviour, config.disabled_rules)
        self._state = _State(config, behaviour, AllowList(config.allow))
        self._reload = reload
        self._reload_lock = threading.Lock()
        # A service sees a few user agents and a few hundred distinct statements, many times.
        self._agents = BoundedCache(1024)
        self._statements = BoundedCache(4096)
        self._queries = BoundedCache(4096)  # popular searches, paging, tracking parameters
        self._parameters = BoundedCache(4096)  # their values, which recur in other queries
        self._headers = HeaderJudge()

    @property
    def config(self) -> ThreatConfig:
        """The settings in force."""
        return self._state.config

    @property
    def behaviour(self) -> BehaviourDetector | None:
        """The behavioural detector in force (None: off)."""
        return self._state.behaviour

    def reconfigure(self, config: ThreatConfig) -> None:
        """Score the next batches with ``config``. The behavioural detector, and the counts it
        holds, is kept unless its thresholds or its rules changed."""
        old = self._state
        behaviour = old.behaviour
        if config.behaviour != old.config.behaviour or (
            (config.disabled_rules ^ old.config.disabled_rules) & BEHAVIOURAL_RULES
        ):
            behaviour = (
                BehaviourDetector(config.behaviour, config.disabled_rules) if config.behaviour else None
            )
        allow = old.allow if config.allow == old.config.allow else AllowList(config.allow)
        self._state = _State(config, behaviour, allow)

    def score(self, signal: Signal, request: Message, payload: bytes | None = None) -> list[SideOutput]:
        """Annotate the spans or log records of ``request`` that carry threats, in place; return
        the ``vigil.threat`` events about the attacks among them (see :mod:`.reporting`).
        ``payload``: the bytes ``request`` was decoded from, if nothing changed it since (spans
        are read from them; without, the request is encoded again)."""
        if self._reload is not None and self._reload_lock.acquire(blocking=False):
            # One thread looks; the others score on with the rules in force meanwhile.
            try:
                config = self._reload()
                if config is not None:
                    self.reconfigure(config)
            finally:
                self._reload_lock.release()
        state = self._state
        findings: list[Finding] = []
        if signal is Signal.TRACES:
            self._score_spans(request, payload, findings, state)
        elif signal is Signal.LOGS:
            for resource_logs in request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        self._score_record(record, resource_logs.resource, findings, state)
        return report(findings)

    def _score_spans(
        self, request: Message, payload: bytes | None, findings: list[Finding], state: _State
    ) -> None:
        # Per batch, not per span: the attributes judged come as columns from the wire bytes
        # (span_columns), each distinct value is judged once, and only the spans with something
        # found are looked up in the decoded request.
        try:
            if payload is None:
                raise ValueError("no payload")
            read = _READER.read(payload)
        except ValueError:
            # No bytes, or bytes the reader refuses though protobuf took them (an array value in
            # more than eight parts): the request's own encoding is always readable.
            read = _READER.read(request.SerializeToString())
        columns = read.columns
        evidence: dict[int, list[Evidence]] = {}
        for column, (key, how, _) in enumerate(_JUDGED):
            numbers, values = columns[column]
            if values:
                self._judge_column(key, how, numbers, values, evidence)
        stale = set(columns[_OUTPUT_COLUMN][0])
        locate = SpanLocator(request, read.groups)
        observed: dict[int, Observed] = {}
        behaviour = state.behaviour
        if read.dense_index and (behaviour is not None or state.allow.skips_items):
            observed = self._observe_servers(read, locate, evidence, state)
        if not (evidence or stale or observed):
            return
        servers = read.dense_index
        dense = columns[_BEHAVIOUR_COLUMN : _BEHAVIOUR_COLUMN + SLOT_COUNT]
        for number in sorted({*evidence, *stale, *observed}):
            span, resource = locate(number)
            found = evidence.get(number, ())
            seen = observed.get(number)
            repeated: frozenset[str] = frozenset()
            if seen is not None:
                found = [*found, *seen.evidence]
                repeated = seen.repeated
            k = bisect_left(servers, number)  # server spans are read in order: numbers ascend
            client = _client(dense, k) if k < len(servers) and servers[k] == number else None
            self._annotate(
                Signal.TRACES, span, found, number in stale, resource, findings, state, repeated, client
            )

    def _judge_column(
        self,
        key: str,
        how: str,
        numbers: Sequence[int],
        values: list[object],
        evidence: dict[int, list[Evidence]],
    ) -> None:
        """Add the evidence found in one column (the values of ``key``) to ``evidence``."""
        found: dict[str, tuple[Detection, ...]] = {}
        distinct: Iterable[object] = set(values)
        if how is _PATH or how is _QUERY:  # most are plain: one scan finds the others
            strings = [value for value in distinct if value.__class__ is str]
            distinct = (PATHS if how is _PATH else QUERIES).suspects(strings)  # type: ignore[arg-type]
        for value in distinct:
            if value.__class__ is tuple:  # a header sent several times: a string array
                for item in value:
                    if item.__class__ is str and item and item not in found:
                        found[item] = self._judge(key, how, item)
            elif value.__class__ is str and value:
                found[value] = self._judge(key, how, value)
        flagged = {value: detections for value, detections in found.items() if detections}
        if not flagged:
            return
        # Arrays cannot be dict keys of flagged: their items are looked up one by one.
        arrays = any(value.__class__ is tuple for value in distinct)
        for number, value in zip(numbers, values, strict=True):
            if value in flagged:
                evidence.setdefault(number, []).append(Evidence(key, value, flagged[value]))  # type: ignore[arg-type,index]
            elif arrays and value.__class__ is tuple:
                for item in value:  # type: ignore[attr-defined]
                    if item in flagged:
                        evidence.setdefault(number, []).append(Evidence(key, item, flagged[item]))

    def _judge(self, key: str, how: str, value: str) -> tuple[Detection, ...]:
        """What one value of ``key`` carries (the cheap benign checks first)."""
        if how is _QUERY:
            return self._queries.judged(value, analyse_query, self._parameters)
        if how is _PATH:
            if PATH_IS_PLAIN.fullmatch(value) and not PATH_TARGET.search(value.lower()):
                return ()
            return analyse(value, Kind.PATH)
        if how is _AGENT:
            return self._agents.judged(value, analyse, Kind.USER_AGENT)
        if how is _STATEMENT:
            return self._statements.judged(value, analyse, Kind.STATEMENT)
        if how is _HEADER:
            return self._headers.detections(key, value)
        return analyse_target(value)

    def _observe_servers(
        self, read: SpanColumns, locate: SpanLocator, evidence: dict[int, list[Evidence]], state: _State
    ) -> dict[int, Observed]:
        """Count the batch's server spans into the behavioural detector; return what it found,
        by span number. Spans an allow-list takes out whole lose their evidence too."""
        columns = read.columns
        dense = columns[_BEHAVIOUR_COLUMN : _BEHAVIOUR_COLUMN + SLOT_COUNT]
        paths = _paths(columns[_URL_PATH_COLUMN], columns[_TARGET_COLUMN])
        numbers, times = read.dense_index, read.times
        if state.allow.skips_items:
            skips = state.allow.skips
            kept = [k for k in range(len(numbers)) if not _skipped(skips, dense, paths, k)]
            if len(kept) < len(numbers):
                for k in set(range(len(numbers))).difference(kept):
                    evidence.pop(numbers[k], None)
                dense = [[column[k] for k in kept] for column in dense]
                paths = [paths[k] for k in kept]
                numbers = [numbers[k] for k in kept]
                times = [times[k] for k in kept]
        if state.behaviour is None or not numbers:
            return {}
        found = state.behaviour.spans(dense, paths, times, lambda k: locate(numbers[k])[0])
        return {numbers[k]: seen for k, seen in found.items()}

    def _score_record(
        self, record: Message, resource: Message, findings: list[Finding], state: _State
    ) -> None:
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
        if event_name in EVENT_NAMES and state.behaviour is not None:
            observed = self._observe_event(event_name, record, state)
            if observed is not None:
                evidence.extend(observed.evidence)
                repeated = observed.repeated
        if evidence or stale:
            self._annotate(Signal.LOGS, record, evidence, stale, resource, findings, state, repeated)

    def _observe_event(self, name: str, record: Message, state: _State) -> Observed | None:
        # Security events are rare next to other records: a second look at their attributes.
        values = {kv.key: kv.value.string_value for kv in record.attributes}
        client = first_client(values)
        user = next((values[k] for k in USER_KEYS if values.get(k)), "")
        if state.allow.skips_items:
            route, path, _ = _context(record)
            if state.allow.skips(route, path, client):
                return None
        when = record.time_unix_nano or record.observed_time_unix_nano
        return state.behaviour.event(name, client, user, when)  # type: ignore[union-attr]

    def _annotate(
        self,
        signal: Signal,
        item: Message,
        evidence: Iterable[Evidence],
        stale: bool,
        resource: Message,
        findings: list[Finding],
        state: _State,
        repeated: frozenset[str] = frozenset(),
        client: str | None = None,
    ) -> None:
        evidence = tuple(evidence)
        disabled = state.config.disabled_rules
        if evidence and state.allow:
            exemption = state.allow.exemption(*_context(item))
            if exemption is not None:
                evidence = _exempted(evidence, exemption)
                disabled = disabled | exemption.rules
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
        finding = Finding(signal, item, result, evidence, resource, event, client)
        findings.append(finding)
        for sink in self.sinks:
            sink(finding)


def _paths(url_paths: list[object], targets: list[object]) -> list[str]:
    """Each server span's path: its ``url.path``, else the path of its ``http.target``."""
    if not any(targets) and all(path.__class__ is str for path in url_paths):
        return url_paths  # type: ignore[return-value]
    return [
        path if path.__class__ is str and path else _target_path(target)
        for path, target in zip(url_paths, targets, strict=True)
    ]


def _target_path(target: object) -> str:
    return target.partition("?")[0] if isinstance(target, str) else ""


def _client(dense: Sequence[Sequence[object]], k: int) -> str:
    """The client of the ``k``-th server span (``dense``: its behaviour columns): its first
    client attribute that is a non-empty string."""
    clients = (dense[slot][k] for slot in _CLIENT_SLOTS)
    return next((value for value in clients if value.__class__ is str and value), "")  # type: ignore[misc]


def _skipped(skips: Callable[[str, str, str], bool], dense: Sequence[list], paths: list[str], k: int) -> bool:
    """Whether an allow-list entry takes the ``k``-th server span out of scoring whole."""
    route = dense[_ROUTE_SLOT][k]
    return skips(route if route.__class__ is str else "", paths[k], _client(dense, k))


def _context(item: Message) -> tuple[str, str, str]:
    """An item's route, path and client, for the allow-lists (only items with detections, and
    security events, are looked at twice)."""
    values = {kv.key: kv.value.string_value for kv in item.attributes if kv.key in _ITEM_KEYS}
    path = values.get("url.path") or values.get("http.target", "").partition("?")[0]
    client = first_client(values)
    return values.get("http.route", ""), path, client


def _exempted(evidence: tuple[Evidence, ...], exemption: Exemption) -> tuple[Evidence, ...]:
    """``evidence`` without what ``exemption`` allows: everything, or the allowed parameters of
    the query string (judged again without them)."""
    if exemption.everything:
        return ()
    if not exemption.parameters:
        return evidence
    kept = []
    for item in evidence:
        if item.key == "url.query":
            item = Evidence(item.key, item.value, judge_query(item.value, exemption.parameters), item.detail)
        elif item.key == "http.target":
            path, _, query = item.value.partition("?")
            found = analyse(path, Kind.PATH) + (judge_query(query, exemption.parameters) if query else ())
            item = Evidence(item.key, item.value, found, item.detail)
        if item.detections:
            kept.append(item)
    return tuple(kept)
