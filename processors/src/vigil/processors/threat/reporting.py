"""What the threat scorer reports beyond its annotations: events and a counter.

For every span or log record it judges an attack (``vigil.threat.score`` >= 0.5):

One OTLP log record, the *threat event*, forwarded by the sidecar right after the scored data
(it reaches the collector's ``logs/out`` pipeline like any log), with the trace and span ids of
the item and:

=============================  ================================================================
``event.name``                 ``vigil.threat``
``vigil.threat.category``      the strongest category (``sqli``, ``xss``, ...)
``vigil.threat.severity``      ``critical`` (score >= 0.9), ``high`` (>= 0.7), ``medium``
``vigil.threat.rule``          the id of the strongest rule that fired
``vigil.threat.score``         as on the item; with ``vigil.threat.categories`` and ``.rules``
``vigil.threat.attribute``     where the payload was: ``url.query``, ``db.statement``, ``body`` ...;
                               for a behavioural attack, whose behaviour: ``client.address``,
                               ``user.name``
``vigil.threat.value``         the offending value, secrets masked
                               (:mod:`vigil.processors.redaction.masking`), cut at 256;
                               for a behavioural attack, the client or account
``client.address``             the client, when the item names it
=============================  ================================================================

The record's resource is the item's (``service.name`` and the rest); its severity number is FATAL,
ERROR or WARN for critical, high and medium. Its body says what happened in words ("bruteforce
attack (bruteforce.client): 5 failed logins in 5 min from 203.0.113.9").

A behavioural attack gives an event each time it reaches a level, not for every item past it
(:mod:`.behaviour`): those items are annotated, and their finding says ``event=False``.

The counter ``vigil_threats_total{category, severity}`` on the sidecar's ``/metrics`` (Prometheus
scrapes it as job ``vigil-sidecar``) counts the same events, by their strongest category: its sum
over categories is the number of attacks. Its labels are bounded (13 categories x 3 severities).
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, SeverityNumber
from prometheus_client import Counter

from vigil.processors.event_requests import EventsRequest
from vigil.processors.otlp_attributes import string_array, text
from vigil.processors.redaction.masking import mask_secrets
from vigil.processors.signals import Signal
from vigil.processors.threat.behaviour import RECORD_CLIENT_KEYS, first_client
from vigil.processors.threat.verdict import Verdict

if TYPE_CHECKING:
    from vigil.processors.scoring import SideOutput
    from vigil.processors.threat.scorer import Finding

EVENT_NAME = "vigil.threat"
SCOPE = InstrumentationScope(name="vigil.processors.threat")
VALUE_LIMIT = 256

THREATS = Counter(
    "vigil_threats", "Attacks detected, by strongest category and severity", ["category", "severity"]
)

_CLIENT_KEY_SET = frozenset(RECORD_CLIENT_KEYS)
_SEVERITY_NUMBERS = {
    "critical": SeverityNumber.SEVERITY_NUMBER_FATAL,
    "high": SeverityNumber.SEVERITY_NUMBER_ERROR,
    "medium": SeverityNumber.SEVERITY_NUMBER_WARN,
}
_TEMPLATES: dict[Verdict, LogRecord] = {}  # see _template


def severity(score: float) -> str:
    """``critical``, ``high`` or ``medium`` for an attack's score (>= 0.5)."""
    return "critical" if score >= 0.9 else "high" if score >= 0.7 else "medium"


def report(findings: list[Finding]) -> list[SideOutput]:
    """Count the attacks among ``findings`` and return their events as one logs request (or none)."""
    events = EventsRequest(SCOPE)
    counts: dict[tuple[str, str], int] = {}
    for finding in findings:
        if finding.verdict.is_attack and finding.event:
            counted = _event(finding, events.record(finding.resource))
            counts[counted] = counts.get(counted, 0) + 1
    for (category, level), count in counts.items():  # one inc() per label pair: each takes a lock
        _count(category, level).inc(count)
    request = events.request()
    return [] if request is None else [(Signal.LOGS, request)]


@functools.cache  # bounded: 13 categories x 3 severities
def _count(category: str, level: str) -> Counter:
    """The counter of ``category`` and ``level`` (labels() takes a lock and checks the labels)."""
    return THREATS.labels(category, level)


def _template(verdict: Verdict) -> LogRecord:
    """What every event about an item with ``verdict`` shares: its severity and first attributes.

    Built once per distinct verdict (they repeat: a few rules, a few scores) and copied into each
    event whole, which costs a fraction of building its messages one by one.
    """
    template = _TEMPLATES.get(verdict)
    if template is None:
        if len(_TEMPLATES) >= 1024:
            _TEMPLATES.clear()
        level = severity(verdict.score)
        template = _TEMPLATES[verdict] = LogRecord(
            severity_number=_SEVERITY_NUMBERS[level],
            severity_text=level.upper(),
            attributes=[
                text("event.name", EVENT_NAME),
                text("vigil.threat.category", verdict.categories[0]),
                text("vigil.threat.severity", level),
                text("vigil.threat.rule", verdict.rules[0]),
                KeyValue(key="vigil.threat.score", value=AnyValue(double_value=verdict.score)),
                string_array("vigil.threat.categories", verdict.categories),
                string_array("vigil.threat.rules", verdict.rules),
            ],
        )
    return template


def _event(finding: Finding, record: LogRecord) -> tuple[str, str]:
    """Fill ``record`` (empty) with the event about ``finding``; return its category and severity."""
    verdict, item = finding.verdict, finding.item
    category, rule = verdict.categories[0], verdict.rules[0]
    level = severity(verdict.score)
    evidence = next((e for e in finding.evidence if any(d.rule == rule for d in e.detections)), None)
    client = finding.client
    if client is None:
        # Only the client's keys are read: the last value of each, as a dict of every attribute gives.
        client = first_client(
            {kv.key: kv.value.string_value for kv in item.attributes if kv.key in _CLIENT_KEY_SET}
        )
    where = evidence.key if evidence else ""
    value = mask_secrets(evidence.value) if evidence else ""
    if len(value) > VALUE_LIMIT:
        value = value[:VALUE_LIMIT] + "…"
    origin = f" from {client}" if client else ""
    if evidence is not None and evidence.detail:
        body = f"{category} attack ({rule}): {evidence.detail}"
    else:
        body = f"{category} attack ({rule}) in {where or 'the item'}{origin}"
    now = time.time_ns()
    record.CopyFrom(_template(verdict))
    record.time_unix_nano = (
        getattr(item, "end_time_unix_nano", 0) or getattr(item, "time_unix_nano", 0) or now
    )
    record.observed_time_unix_nano = now
    record.body.string_value = body
    record.trace_id = item.trace_id
    record.span_id = item.span_id
    attributes = record.attributes
    attributes.add(key="vigil.threat.attribute").value.string_value = where
    attributes.add(key="vigil.threat.value").value.string_value = value
    if client:
        attributes.add(key="client.address").value.string_value = client
    return category, level
