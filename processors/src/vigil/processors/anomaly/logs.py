"""Log-record anomalies: new and rare templates, and sudden changes in a template's rate.

What it reads
-------------
Every log record whose body is a string, except Vigil's own events (``event.name``, the attribute
or the record field, starting with ``vigil.``). Records with another body (a map, bytes, none) are
left untouched. The record's time is its *event* time, ``time_unix_nano``, else
``observed_time_unix_nano``, else the latest event time seen so far: never the wall clock, so that
replaying recorded telemetry (``vigil score``) scores as it did live.

What it writes
--------------
On each record it reads:

``vigil.log.template_id`` (int) and ``vigil.log.template`` (string, cut at 200 characters)
    The record's template, mined by :mod:`.templates` (drain3): variable parts such as numbers,
    ids and addresses are masked (``request <NUM> took <NUM> from <IP>``).
``vigil.anomaly.warmup``
    During warm-up, the first ``warmup_records`` records (no score then).
``vigil.anomaly.score`` and, at 0.5 and above, ``vigil.anomaly.reasons``
    After warm-up, on every record (see :mod:`.output`); each record scored 0.5 or more is also
    returned as an :class:`~.output.Anomaly` whose subject is the template.

How it scores
-------------
Three surprises, each divided by the value that alone scores 0.5 (its "at half"), are added as
independent evidence (square root of the sum of squares) and calibrated
(:func:`~.calibration.calibrate_one`, 1.0 -> 0.5). A reason is listed when its own part is at
least half its "at half" (alone it would score 0.2), strongest first.

``new_template``
    The record made a template that did not exist, after warm-up: fixed at twice its "at half",
    so 0.8 on its own (0.9 for ERROR and worse, see below). A template forgotten for being
    unused (``max_templates``) is new again when it returns.
``rare_template``
    The template's share ``p`` of the records before this one (exponentially decayed over about
    ``rare_memory_records`` records, so a template that has become common is no longer rare, and
    one unseen for that long is rare again) is small: the surprise is ``log10(100 * rare_fraction / p)``
    decades, 0 for templates at least 100 times more common than ``rare_fraction``; "at half" is
    2 decades, i.e. ``p = rare_fraction`` scores 0.5, ``10 x`` more common 0.2, ``10 x`` rarer 0.69.
``template_rate``
    A burst: the template's count ``k`` in the current event-time window of
    ``rate_window_seconds`` against the EWMA mean ``m`` and variance ``v`` of its count in past
    windows (time constant ``rate_memory_windows``): ``z = (k - m) / sqrt(max(v, m) + 1)``, a
    Poisson z-score that a template's own burstiness (``v > m``) widens. "At half" is ``z = 6``.
    A window above ``z = 3`` enters the baseline clipped to ``z = 3``, so that a burst does not
    hide its own continuation in the next window, nor the next burst.
    Scored once the template has ``rate_min_windows`` complete windows of history (its first,
    partial window is not one) and ``k >= rate_min_count`` (a few lines are not a rate). Only rises
    are seen, on the records that make them; a template falling silent has no record to mark.

Severity: for a record of severity ERROR or worse (``severity_number >= 17``, or, without one, a
``severity_text`` such as ``ERROR``, ``FATAL``, ``CRITICAL``) the new- and rare-template
surprises count 1.5 times: a rare error is more suspicious than a rare INFO line.

Time and state
--------------
Windows are event-time windows (``time // rate_window_seconds``), per template. A record older than
its template's current window (late, or from a host whose clock lags) is not counted in any
window; a clock far ahead advances the template's window and makes its later, correct records
late until time catches up. Warm-up and rarity count records, not time.

:meth:`LogAnomalies.snapshot` / :meth:`LogAnomalies.restore` (:class:`~.state.Stateful`) carry the
templates and their statistics across restarts: a restored scorer is past warm-up if the saved one
was, and knows the old templates.

Memory: at most ``max_templates`` templates with their statistics (the least recently seen are
forgotten), a body cache of ``cache_size`` bodies of at most 1024 characters, nothing per record.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from vigil.processors.anomaly import output
from vigil.processors.anomaly.calibration import calibrate_one
from vigil.processors.anomaly.output import Anomaly, Reason
from vigil.processors.anomaly.templates import TEMPLATE_KEYS, LogTemplates, Template
from vigil.processors.otlp_attributes import drop_attributes
from vigil.processors.signals import Signal

NEW_TEMPLATE_SURPRISE = 2.0
"""A new template's surprise, in units of its "at half": alone it scores 0.8."""
RARE_AT_HALF = 2.0
"""Decades of rarity below ``100 * rare_fraction`` that score 0.5 (``p = rare_fraction``)."""
RATE_AT_HALF = 6.0
"""Rate z-score that scores 0.5."""
SEVERE_BOOST = 1.5
"""Factor on the new- and rare-template surprises of ERROR and worse records."""

_LISTED = 0.5  # a reason's share of its "at half" needed to be listed
_SEVERE_NUMBER = 17  # SEVERITY_NUMBER_ERROR
_SEVERE_TEXTS = frozenset(
    {"ERROR", "ERR", "FATAL", "CRITICAL", "CRIT", "ALERT", "EMERG", "EMERGENCY", "SEVERE", "PANIC"}
)
_FOLD_CLIP = 3.0  # z-score above which a window's count enters the rate baseline clipped
_MIN_SHARE = 1e-12  # a known template with no weight yet (restored without statistics)
_RENORMALISE_AT = 1e100  # decayed weights are kept scaled up; rescaled before floats overflow
_STATE_VERSION = 1
_NEW, _RARE, _RATE = Reason.NEW_TEMPLATE.value, Reason.RARE_TEMPLATE.value, Reason.TEMPLATE_RATE.value

_logger = logging.getLogger(__name__)


class _Usage:
    """What is known of one template's frequency: its decayed weight and its per-window counts."""

    __slots__ = ("count", "mean", "var", "weight", "window", "windows")

    def __init__(self) -> None:
        self.weight = 0.0
        """Decayed record count, in the scorer's current unit."""
        self.window = -1
        """Index of the event-time window being counted (-1: none yet)."""
        self.count = 0
        """Records in that window."""
        self.windows = -1
        """Complete windows in ``mean``/``var`` (-1 while in the template's first, partial one)."""
        self.mean = 0.0
        self.var = 0.0


class LogAnomalies:
    """Scores log records for new, rare and bursting templates (see the module docstring)."""

    def __init__(
        self,
        *,
        max_templates: int = 2000,
        warmup_records: int = 500,
        rare_fraction: float = 1e-4,
        rare_memory_records: int = 1_000_000,
        rate_window_seconds: float = 60.0,
        rate_memory_windows: float = 15.0,
        rate_min_windows: int = 5,
        rate_min_count: int = 10,
        similarity: float = 0.5,
        cache_size: int = 4096,
    ) -> None:
        """
        :param max_templates: templates kept at once (Drain's LRU): a service logs tens to a few
            hundred; 2000 leaves room for several services behind one sidecar.
        :param warmup_records: records learned before any is scored; 500 lets the common
            templates of a service be seen so that they are not reported as new.
        :param rare_fraction: share of records at which a template's rarity scores 0.5; 1e-4
            is one line in 10,000.
        :param rare_memory_records: about how many recent records the shares are taken over
            (exponential decay), so that a template that has become common stops being rare.
        :param rate_window_seconds: event-time window in which a template's records are counted.
        :param rate_memory_windows: time constant, in windows, of the EWMA rate baseline
            (15 one-minute windows: a burst is judged against the last quarter of an hour).
        :param rate_min_windows: complete windows of history before a template's rate is judged.
        :param rate_min_count: records in the current window before its rate is judged.
        :param similarity: share of equal tokens for Drain to merge a line into a template.
        :param cache_size: exact bodies remembered with their template.
        """
        if warmup_records < 0 or not 0.0 < rare_fraction < 1.0 or rate_window_seconds <= 0:
            raise ValueError("warmup_records >= 0, 0 < rare_fraction < 1, rate_window_seconds > 0")
        if rare_memory_records < 2 or rate_memory_windows < 1:
            raise ValueError("rare_memory_records >= 2 and rate_memory_windows >= 1")
        self.warmup_records = warmup_records
        self.rare_fraction = rare_fraction
        self.rate_min_windows = rate_min_windows
        self.rate_min_count = rate_min_count
        self.templates = LogTemplates(
            max_templates=max_templates, similarity=similarity, cache_size=cache_size
        )
        self._common = min(1.0, 100.0 * rare_fraction)  # shares from here up are not rare at all
        self._growth = 1.0 / (1.0 - 1.0 / rare_memory_records)
        self._window_ns = max(1, round(rate_window_seconds * 1e9))
        self._alpha = 1.0 / rate_memory_windows
        # After this many empty windows the baseline is ~0 (e^-8); longer gaps change nothing.
        self._max_gap = math.ceil(8 * rate_memory_windows) + rate_min_windows
        self._records = 0
        self._unit = 1.0  # weight of the latest record; earlier ones weigh relatively less
        self._total = 0.0
        self._latest = 0  # latest event time seen, for records without one

    @property
    def records(self) -> int:
        """Records learned from (warm-up ends once this reaches ``warmup_records``)."""
        return self._records

    def score(self, request: ExportLogsServiceRequest) -> list[Anomaly]:
        """Annotate the log records of ``request`` in place; return those scoring >= 0.5."""
        anomalies: list[Anomaly] = []
        score_record = self._score_record
        for resource_logs in request.resource_logs:
            resource = resource_logs.resource
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    anomaly = score_record(record, resource)
                    if anomaly is not None:
                        anomalies.append(anomaly)
        return anomalies

    def _score_record(self, record: Message, resource: Message) -> Anomaly | None:
        body = record.body.string_value
        if not body or record.event_name.startswith("vigil."):
            return None
        stale = False
        for kv in record.attributes:
            key = kv.key
            if key == "event.name":
                if kv.value.string_value.startswith("vigil."):
                    return None
            elif key in TEMPLATE_KEYS:
                stale = True  # written by an earlier sidecar hop

        template, created = self.templates.match(body)
        if stale:
            drop_attributes(record, TEMPLATE_KEYS)

        usage = template.stats
        if usage is None:
            usage = template.stats = _Usage()
        self._records += 1
        # The share of the records *before* this one: how expected this template was.
        share = usage.weight / self._total if self._total else 1.0
        unit = self._unit * self._growth
        self._unit = unit
        usage.weight += unit
        self._total += unit
        if unit > _RENORMALISE_AT:
            self._renormalise()

        now = record.time_unix_nano or record.observed_time_unix_nano
        if now:
            if now > self._latest:
                self._latest = now
        else:
            now = self._latest
        if now:
            window = now // self._window_ns
            if window == usage.window:
                usage.count += 1
            elif window > usage.window:
                if usage.window >= 0:
                    self._advance(usage, window)
                usage.window = window
                usage.count = 1
            # else: late for its template's window; not counted

        # The template goes after the score: output.clear_previous() looks for earlier output
        # only when an item's last attribute is Vigil's, so ours must not precede the score.
        if self._records <= self.warmup_records:
            output.mark_warmup(record)
            record.attributes.extend(template.attributes)
            return None
        score, reasons = self._judge(record, usage, created, share)
        output.annotate(record, score, reasons)
        record.attributes.extend(template.attributes)
        if score < output.THRESHOLD:
            return None
        return _anomaly(record, resource, template, score, reasons, now)

    def _judge(
        self, record: Message, usage: _Usage, created: bool, share: float
    ) -> tuple[float, tuple[str, ...]]:
        """The record's score and, when >= 0.5, its reasons."""
        new = rare = rate = 0.0
        if created:
            new = NEW_TEMPLATE_SURPRISE
        else:
            if share < self._common:
                rare = math.log10(self._common / max(share, _MIN_SHARE)) / RARE_AT_HALF
            if usage.count >= self.rate_min_count and usage.windows >= self.rate_min_windows:
                z = (usage.count - usage.mean) / math.sqrt(max(usage.var, usage.mean) + 1.0)
                if z > 0.0:
                    rate = z / RATE_AT_HALF
        if new or rare:
            if _severe(record):
                new *= SEVERE_BOOST
                rare *= SEVERE_BOOST
        elif not rate:
            return 0.0, ()  # the common case: a common template at its usual rate
        score = calibrate_one(math.sqrt(new * new + rare * rare + rate * rate), 1.0)
        if score < output.THRESHOLD:
            return score, ()
        parts = sorted(((new, _NEW), (rare, _RARE), (rate, _RATE)), key=lambda part: -part[0])
        return score, tuple(reason for part, reason in parts if part >= _LISTED)

    def _advance(self, usage: _Usage, window: int) -> None:
        """Close ``usage``'s window (and the empty ones up to ``window``) into its baseline."""
        alpha = self._alpha
        if usage.windows < 0:
            usage.windows = 0  # the first window was partial (the template appeared in it)
        else:
            # A burst enters the baseline clipped, so that one burst window does not make the
            # next (or the burst's own second window) look ordinary; a lasting change of rate
            # still moves the baseline within a few windows, as the clipped steps add up.
            mean = usage.mean
            ceiling = mean + _FOLD_CLIP * math.sqrt(max(usage.var, mean) + 1.0)
            _fold(usage, min(usage.count, ceiling), alpha)
        for _ in range(min(window - usage.window - 1, self._max_gap)):
            _fold(usage, 0, alpha)

    def _renormalise(self) -> None:
        unit = self._unit
        for template in self.templates:
            if template.stats is not None:
                template.stats.weight /= unit
        self._total /= unit
        self._unit = 1.0

    def snapshot(self) -> dict[str, Any]:
        """Templates, their statistics and the record count, as plain data."""
        unit = self._unit
        usage = {}
        for template in self.templates:
            u = template.stats
            if u is not None:
                usage[template.id] = (u.weight / unit, u.window, u.count, u.windows, u.mean, u.var)
        return {
            "version": _STATE_VERSION,
            "templates": self.templates.snapshot(),
            "usage": usage,
            "records": self._records,
            "total": self._total / unit,
            "latest": self._latest,
        }

    def restore(self, state: Any) -> None:
        """Take back a :meth:`snapshot`; a state of another version is ignored (with a warning)."""
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            _logger.warning("ignoring saved log-template state: not version %d", _STATE_VERSION)
            return
        self.templates.restore(state["templates"])
        for template_id, (weight, window, count, windows, mean, var) in state["usage"].items():
            template = self.templates.get(template_id)
            if template is None:
                continue  # beyond a smaller max_templates
            u = template.stats = _Usage()
            u.weight, u.window, u.count, u.windows = float(weight), int(window), int(count), int(windows)
            u.mean, u.var = float(mean), float(var)
        self._records = int(state["records"])
        self._total = float(state["total"])
        self._unit = 1.0
        self._latest = int(state["latest"])


def _fold(usage: _Usage, count: float, alpha: float) -> None:
    # EWMA of mean and variance; the first windows are averaged plainly (weight 1/n) so that the
    # baseline does not lean on its first value for the first ~1/alpha windows.
    n = usage.windows + 1
    weight = max(alpha, 1.0 / n)
    delta = count - usage.mean
    usage.mean += weight * delta
    usage.var = (1.0 - weight) * (usage.var + weight * delta * delta)
    usage.windows = n


def _severe(record: Message) -> bool:
    number = record.severity_number
    if number:
        return number >= _SEVERE_NUMBER
    text = record.severity_text
    return bool(text) and text.upper() in _SEVERE_TEXTS


def _anomaly(
    record: Message, resource: Message, template: Template, score: float, reasons: tuple[str, ...], now: int
) -> Anomaly:
    return Anomaly(
        signal=Signal.LOGS,
        score=score,
        reasons=reasons,
        subject=template.text,
        resource=resource,
        trace_id=record.trace_id,
        span_id=record.span_id,
        time_unix_nano=now,
    )
