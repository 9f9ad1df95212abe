"""What the anomaly scorer writes on spans and log records: stable attribute names and reasons.

On spans and log records
------------------------
==============================  ================================================================
``vigil.anomaly.score``         double, 0..1, calibrated: >= 0.5 means "anomalous" (the default
                                alerting and sampling threshold); below it, a graded suspicion.
``vigil.anomaly.reasons``       string array, strongest first: what made the item unusual (see
                                :class:`Reason`); written only when the score is >= 0.5.
``vigil.anomaly.warmup``        ``true`` when the item's baseline is still learning: the item has
                                *no* score then (never a zero that would read as "normal").
``vigil.anomaly.trace.score``   on a trace's local root span: the trace-level score (latency and
                                call shape of the whole trace), with its reasons in
                                ``vigil.anomaly.reasons`` when >= 0.5.
``vigil.log.template``          on log records: the mined template (drain3) the record matched,
                                with ``vigil.log.template_id``.
==============================  ================================================================

Items scored >= 0.5 are also counted and reported as ``vigil.anomaly`` events
(:mod:`vigil.processors.anomaly.events`).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue

from vigil.processors.otlp_attributes import drop_attributes, flag, number, string_array
from vigil.processors.signals import Signal

SCORE = "vigil.anomaly.score"
REASONS = "vigil.anomaly.reasons"
WARMUP = "vigil.anomaly.warmup"
TRACE_SCORE = "vigil.anomaly.trace.score"
OUTPUT_KEYS = frozenset({SCORE, REASONS, WARMUP, TRACE_SCORE})

THRESHOLD = 0.5
"""Scores at or above it are anomalies: they get reasons, an event and a count."""

SCOPE = InstrumentationScope(name="vigil.processors.anomaly")


class Reason(str, enum.Enum):
    """Why an item scored high (the values are the strings written in ``vigil.anomaly.reasons``)."""

    LATENCY = "latency"
    """A span far slower than its operation's baseline."""
    ERROR = "error"
    """An error status where the operation's error rate is low."""
    MULTIVARIATE = "multivariate"
    """An unusual combination of span features (IsolationForest)."""
    TRACE_LATENCY = "trace_latency"
    """A whole trace far slower than traces of its root operation."""
    TRACE_SHAPE = "trace_shape"
    """A trace whose calls (missing, extra, changed fan-out) depart from its root operation's usual."""
    NEW_TEMPLATE = "new_template"
    """A log line of a template never seen before (past warm-up)."""
    RARE_TEMPLATE = "rare_template"
    """A log line of a template seldom seen."""
    TEMPLATE_RATE = "template_rate"
    """A sudden change of a log template's rate."""
    LEVEL = "level"
    """A metric data point far from its series' baseline (for its hour of the day / week)."""
    DRIFT = "drift"
    """A metric's distribution shifted between the reference and current windows (PSI, KL)."""


@dataclass(frozen=True)
class Anomaly:
    """An item that scored at or above the threshold, for the event and the counter."""

    signal: Signal
    score: float
    reasons: tuple[str, ...]
    subject: str
    """The operation, series or template that was unusual."""
    resource: Message | None = None
    trace_id: bytes = b""
    span_id: bytes = b""
    time_unix_nano: int = 0


# Scores are written with two decimals, truncated (so that a written 0.50 always means >= 0.5);
# the attributes are built once and copied, which is what makes annotating every span cheap.
_SCORES = {key: [number(key, i / 100) for i in range(101)] for key in (SCORE, TRACE_SCORE)}
SCORE_ATTRIBUTES = _SCORES[SCORE]
"""``SCORE_ATTRIBUTES[i]`` is the attribute for a score of ``i / 100``."""
TRACE_SCORE_ATTRIBUTES = _SCORES[TRACE_SCORE]
WARMUP_ATTRIBUTE = flag(WARMUP, True)


def score_attribute(score: float, key: str = SCORE) -> KeyValue:
    """The cached attribute for ``score`` (0..1) under ``key`` (``SCORE`` or ``TRACE_SCORE``)."""
    return _SCORES[key][min(100, max(0, int(score * 100)))]


def annotate(item: Message, score: float, reasons: Sequence[str] = ()) -> None:
    """Write ``score`` (and, if anomalous, ``reasons``) on a span or log record, replacing any
    earlier anomaly output on it."""
    clear_previous(item)
    attributes = item.attributes
    attributes.append(score_attribute(score))
    if score >= THRESHOLD and reasons:
        attributes.append(string_array(REASONS, tuple(reasons)))


def mark_warmup(item: Message) -> None:
    """Mark an item whose baseline is still learning (it gets no score)."""
    clear_previous(item)
    item.attributes.append(WARMUP_ATTRIBUTE)


def clear_previous(item: Message) -> None:
    """Drop anomaly output an earlier pass left (replayed or re-scored data). Scorers append their
    output last, so only an item whose last attribute is Vigil's can carry any: the common case
    costs one look, not a walk of every attribute."""
    attributes = item.attributes
    if attributes and attributes[-1].key.startswith("vigil."):
        drop_attributes(item, OUTPUT_KEYS)
