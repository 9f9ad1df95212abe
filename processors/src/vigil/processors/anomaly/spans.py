"""Scoring every span of a traces request: operation baselines, trace shape, multivariate model.

For each span, in one pass over the request, Vigil reads only what the models need: the service
(from the resource), span name and kind (the operation), start and end time, status code, and the
trace, span and parent ids. It does not walk span attributes, except for database spans named by a
bare SQL verb, whose operation is their statement's shape (:mod:`.statements`). The batch is then
scored with numpy:

- against its operation's latency and error-rate baseline (:mod:`.operations`);
- if the span is an entry span (a root, SERVER or CONSUMER span), its trace below it against the
  entry operation's usual shape (:mod:`.traces`); the trace score is written on the entry span as
  ``vigil.anomaly.trace.score`` and also lifts the entry span's ``vigil.anomaly.score``, so one
  attribute finds every anomalous trace in Jaeger and in tail sampling;
- by the multivariate model over span features, when one is configured (:mod:`.forest`).

A span's ``vigil.anomaly.score`` is the highest of its scores; ``vigil.anomaly.reasons`` lists
the reasons of those >= 0.5, strongest first. Spans of operations still warming up are marked
``vigil.anomaly.warmup = true`` and get no score. Baselines learn from each batch after scoring it.

Time is event time: the largest span end time seen so far, never the sidecar's clock, so that
replaying recorded telemetry (``vigil score --state``) behaves as it did live.
"""

from __future__ import annotations

import bisect
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from vigil.processors.anomaly import output
from vigil.processors.anomaly.forest import SpanForest
from vigil.processors.anomaly.operations import OperationBaselines
from vigil.processors.anomaly.output import THRESHOLD, Anomaly, Reason
from vigil.processors.anomaly.statements import SQL_VERBS, operation_name
from vigil.processors.anomaly.traces import ENTRY_KINDS, TraceShapes
from vigil.processors.otlp_attributes import string_array
from vigil.processors.signals import Signal

_ERROR = 2  # STATUS_CODE_ERROR


def service_name(resource: Any) -> str:
    """``service.name`` of an OTLP resource, or ``unknown_service``."""
    for kv in resource.attributes:
        if kv.key == "service.name":
            return kv.value.string_value
    return "unknown_service"


class SpanAnomalies:
    """Scores traces requests in place and returns the anomalies found (see the module docstring)."""

    def __init__(
        self,
        baselines: OperationBaselines | None = None,
        shapes: TraceShapes | None = None,
        forest: SpanForest | None = None,
    ) -> None:
        self.baselines = baselines or OperationBaselines()
        self.shapes = shapes or TraceShapes()
        self.forest = forest
        self.now = 0
        """The event time reached: the latest span end time seen (ns)."""

    def score(self, request: ExportTraceServiceRequest) -> list[Anomaly]:
        # One comprehension per scope reads the few fields the models need: per-span Python
        # work is the cost here, the rest is numpy over the batch.
        spans: list[Any] = []
        rows: list[tuple[Any, ...]] = []
        resources: list[tuple[int, Any]] = []  # (index of the first span, its resource)
        for resource_spans in request.resource_spans:
            resource = resource_spans.resource
            service = service_name(resource)
            resources.append((len(spans), resource))
            for scope_spans in resource_spans.scope_spans:
                batch = scope_spans.spans
                spans.extend(batch)
                rows.extend(
                    [
                        (
                            service,
                            s.name,
                            s.kind,
                            s.start_time_unix_nano,
                            s.end_time_unix_nano,
                            s.status.code,
                            s.trace_id,
                            s.span_id,
                            s.parent_span_id,
                        )
                        for s in batch
                    ]
                )
        if not spans:
            return []
        services, names, kinds, starts, ends, codes, trace_ids, span_ids, parent_ids = zip(*rows, strict=True)
        verbs = SQL_VERBS
        if any(name in verbs for name in names):
            names = [operation_name(spans[i]) if name in verbs else name for i, name in enumerate(names)]
        keys: list[Hashable] = list(zip(services, names, kinds, strict=True))
        end = np.array(ends, dtype=np.int64)
        duration = end - np.array(starts, dtype=np.int64)
        error = np.array(codes, dtype=np.int64) == _ERROR
        kind = np.array(kinds, dtype=np.int64)
        self.now = max(self.now, int(end.max()))

        baselines = self.baselines
        slots = baselines.slots(keys, self.now)
        scores = baselines.score(slots, duration, error)
        best = np.maximum(scores.latency, scores.error)
        multivariate = None
        if self.forest is not None:
            rows_ = self.forest.rows(spans, kind, scores.z, error)
            multivariate = self.forest.score(rows_)
            if multivariate is not None:
                best = np.maximum(best, multivariate)
        baselines.learn(slots, duration, error, self.now)

        verdicts = self._judge_traces(kind, trace_ids, span_ids, parent_ids, keys)

        # Annotate: a cached attribute per span; the few entry spans and anomalies get more.
        score_index = np.minimum((best * 100).astype(np.int64), 100)
        cached = output.SCORE_ATTRIBUTES
        warm = scores.warm
        clear = output.clear_previous
        for span, is_warm, index in zip(spans, warm.tolist(), score_index.tolist(), strict=True):
            clear(span)
            span.attributes.append(cached[index] if is_warm else output.WARMUP_ATTRIBUTE)
        anomalies: list[Anomaly] = []
        flagged = set(np.flatnonzero(warm & (best >= THRESHOLD)).tolist()) | verdicts.keys()
        for i in sorted(flagged):
            span = spans[i]
            candidates = [(float(scores.latency[i]), Reason.LATENCY), (float(scores.error[i]), Reason.ERROR)]
            if multivariate is not None:
                candidates.append((float(multivariate[i]), Reason.MULTIVARIATE))
            if not warm[i]:
                candidates = []
            subject = f"{keys[i][0]} {keys[i][1]}"
            verdict = verdicts.get(i)
            if verdict is not None:
                trace_score, findings = verdict
                if findings:
                    candidates.append((trace_score, Reason.TRACE_SHAPE))
                    subject += ": " + "; ".join(findings)
                else:  # a trace is as slow as its entry span
                    trace_score = max(trace_score, float(scores.latency[i]) if warm[i] else 0.0)
                    candidates.append((trace_score, Reason.TRACE_LATENCY))
            top = max(c[0] for c in candidates)
            attributes = span.attributes
            if not warm[i] or top > best[i]:
                # The trace's verdict lifts (or, during the span's own warm-up, gives) its score.
                attributes[-1].CopyFrom(output.score_attribute(top))
            if verdict is not None:
                attributes.append(output.score_attribute(trace_score, output.TRACE_SCORE))
            if top < THRESHOLD:
                continue
            reasons = tuple(r.value for c, r in sorted(candidates, key=lambda c: -c[0]) if c >= THRESHOLD)
            attributes.append(string_array(output.REASONS, reasons))
            resource = resources[bisect.bisect_right(resources, i, key=lambda r: r[0]) - 1][1]
            anomalies.append(
                Anomaly(Signal.TRACES, top, reasons, subject, resource, span.trace_id, span.span_id, ends[i])
            )
        self.shapes.expire(self.now)
        return anomalies

    def _judge_traces(
        self,
        kinds: NDArray[np.int64],
        trace_ids: Sequence[bytes],
        span_ids: Sequence[bytes],
        parent_ids: Sequence[bytes],
        keys: list[Hashable],
    ) -> dict[int, tuple[float, tuple[str, ...]]]:
        """Judge the batch's entry spans against their operation's usual calls: index -> (score,
        findings) for entry operations past warm-up. Spans of traces whose root is not in the
        batch wait in :class:`TraceShapes` for it."""
        shapes = self.shapes
        is_root = np.array([not p for p in parent_ids], dtype=bool)
        is_entry = is_root | np.isin(kinds, list(ENTRY_KINDS))
        groups: dict[bytes, list[int]] = {}
        for i in np.flatnonzero(is_entry).tolist():
            groups.setdefault(trace_ids[i], [])
        if not groups:
            shapes.remember(trace_ids, span_ids, parent_ids, keys, self.now)
            return {}
        waiting: list[int] = []
        for i, trace_id in enumerate(trace_ids):
            members = groups.get(trace_id)
            if members is None:
                waiting.append(i)
            else:
                members.append(i)
        if waiting:
            self._remember(waiting, trace_ids, span_ids, parent_ids, keys)
        verdicts: dict[int, tuple[float, tuple[str, ...]]] = {}
        for trace_id, members in groups.items():
            earlier = shapes.take(trace_id)
            entries = [i for i in members if is_entry[i]]
            single_root = len(entries) == 1 and is_root[entries[0]]
            if not single_root or earlier:
                spans = earlier + [(span_ids[i], parent_ids[i], keys[i]) for i in members]
            for e in entries:
                if single_root and not earlier:
                    calls: dict[Hashable, int] = {}
                    for i in members:
                        if i != e:
                            calls[keys[i]] = calls.get(keys[i], 0) + 1
                else:
                    calls = shapes.calls_below(span_ids[e], spans)
                verdict = shapes.judge(keys[e], calls, self.now)
                if verdict.score is not None:
                    verdicts[e] = (verdict.score, verdict.findings)
            if not any(is_root[e] for e in entries):
                # A nested entry span: the trace's root is still to come, with all of these.
                self._remember(members, trace_ids, span_ids, parent_ids, keys)
        return verdicts

    def _remember(
        self,
        indices: list[int],
        trace_ids: Sequence[bytes],
        span_ids: Sequence[bytes],
        parent_ids: Sequence[bytes],
        keys: list[Hashable],
    ) -> None:
        pick = (
            [trace_ids[i] for i in indices],
            [span_ids[i] for i in indices],
            [parent_ids[i] for i in indices],
        )
        self.shapes.remember(*pick, [keys[i] for i in indices], self.now)

    def snapshot(self) -> dict[str, Any]:
        state = {"now": self.now, "baselines": self.baselines.snapshot(), "shapes": self.shapes.snapshot()}
        if self.forest is not None:
            state["forest"] = self.forest.snapshot()
        return state

    def restore(self, state: dict[str, Any]) -> None:
        self.now = state["now"]
        self.baselines.restore(state["baselines"])
        self.shapes.restore(state["shapes"])
        if self.forest is not None and "forest" in state:
            self.forest.restore(state["forest"])
