"""``AnomalyScorer``: spans, traces, metrics and log records scored against learned baselines.

Enable it in the sidecar's scorer chain (entry point ``anomaly`` in ``vigil.scorers``), alone or
after the threat scorer::

    VIGIL_SIDECAR_SCORERS=threat,anomaly VIGIL_ANOMALY_STATE_DIR=/var/lib/vigil vigil serve

It needs no labels and no tuning per service: every operation, series and log template gets its
own baseline as data flows, after an explicit warm-up (items are marked ``vigil.anomaly.warmup``
meanwhile, never scored zero).

=========  ======================================================================================
signal     what is scored (module)
=========  ======================================================================================
traces     each span against its operation's latency and error-rate baseline
           (:mod:`.operations`) and a multivariate model (:mod:`.forest`); each trace's shape
           and latency below its entry span (:mod:`.traces`); see :mod:`.spans`
logs       each record's template (drain3): new, rare, or changed rate (:mod:`.logs`)
metrics    each data point against its series' baseline, seasonal once history allows, and
           drift of chosen metrics (:mod:`.metrics`, :mod:`.drift`); scores leave as the gauge
           ``vigil.anomaly.score`` and drift as ``vigil.anomaly.drift.psi`` / ``.kl``
=========  ======================================================================================

Output names are in :mod:`.output`; the counter ``vigil_anomalies_total`` and the ``vigil.anomaly``
events in :mod:`.events`. State (baselines, models, templates) is saved to
``VIGIL_ANOMALY_STATE_DIR`` every ``VIGIL_ANOMALY_SAVE_INTERVAL`` seconds and at shutdown, and
restored at start (:mod:`.state`). Memory is bounded for any number of operations, series and
templates: each part evicts its least recently seen entries.

Requests of one signal are scored one at a time (a lock per signal): the baselines learn in order,
and scoring holds the GIL anyway. Time is event time (item timestamps), so ``vigil score --state``
on recorded data behaves as the live sidecar did.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from google.protobuf.message import Message

from vigil.processors.anomaly.events import AnomalyEvents
from vigil.processors.anomaly.forest import SpanForest
from vigil.processors.anomaly.logs import LogAnomalies
from vigil.processors.anomaly.metrics import MetricAnomalies
from vigil.processors.anomaly.operations import OperationBaselines
from vigil.processors.anomaly.settings import AnomalySettings
from vigil.processors.anomaly.spans import SpanAnomalies
from vigil.processors.anomaly.state import StateStore
from vigil.processors.anomaly.traces import TraceShapes
from vigil.processors.scoring import SideOutput
from vigil.processors.signals import Signal

_logger = logging.getLogger(__name__)


class AnomalyScorer:
    """The anomaly scorer of the sidecar's chain (see the module docstring)."""

    name = "anomaly"
    signals = frozenset(Signal)

    def __init__(self, settings: AnomalySettings | None = None) -> None:
        self.settings = settings = settings or AnomalySettings.from_env()
        self.spans = SpanAnomalies(
            OperationBaselines(max_operations=settings.max_operations, warmup_spans=settings.warmup_spans),
            TraceShapes(window_seconds=settings.trace_window, warmup_traces=settings.warmup_traces),
            SpanForest() if settings.multivariate else None,
        )
        self.logs = LogAnomalies(max_templates=settings.max_templates, warmup_records=settings.warmup_logs)
        self.metrics = MetricAnomalies(
            max_series=settings.max_series,
            warmup_points=settings.warmup_points,
            drift_metrics=frozenset(settings.drift_metrics),
            drift_window_seconds=settings.drift_window,
        )
        self.events = AnomalyEvents(min_interval_seconds=settings.event_interval)
        self._parts: dict[Signal, Any] = {
            Signal.TRACES: self.spans,
            Signal.LOGS: self.logs,
            Signal.METRICS: self.metrics,
        }
        self._locks = {signal: threading.Lock() for signal in Signal}
        self._events_lock = threading.Lock()
        self._store = StateStore(settings.state_dir) if settings.state_dir else None
        self._last_save = time.monotonic()
        if self._store is not None:
            self.load()

    def score(self, signal: Signal, request: Message) -> list[SideOutput]:
        """Annotate ``request`` in place; return the ``vigil.anomaly`` events and, for metrics,
        the ``vigil.anomaly.*`` gauges."""
        side: list[SideOutput] = []
        with self._locks[signal]:
            if signal is Signal.METRICS:
                anomalies, gauges = self.metrics.score(request)
                if gauges is not None:
                    side.append((Signal.METRICS, gauges))
            else:
                anomalies = self._parts[signal].score(request)
        if anomalies:
            with self._events_lock:
                events = self.events.report(anomalies)
            if events is not None:
                side.append((Signal.LOGS, events))
        if self._store is not None and time.monotonic() - self._last_save >= self.settings.save_interval:
            self._last_save = time.monotonic()
            self.save()
        return side

    def save(self) -> None:
        """Write every part's state to the state directory (no-op without one)."""
        if self._store is None:
            return
        for signal, part in self._parts.items():
            try:
                with self._locks[signal]:
                    self._store.save(signal.label, part)
            except Exception:  # a full disk must not stop scoring
                _logger.exception("saving the %s anomaly state failed", signal.label)

    def load(self) -> None:
        """Restore every part saved in the state directory."""
        if self._store is None:
            return
        for signal, part in self._parts.items():
            with self._locks[signal]:
                if self._store.load(signal.label, part):
                    _logger.info("restored %s anomaly state from %s", signal.label, self._store.directory)

    def close(self) -> None:
        """Save the state (the sidecar calls this when it stops)."""
        if self.spans.forest is not None:
            self.spans.forest.wait(timeout=5.0)
        self.save()
