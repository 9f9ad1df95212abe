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
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
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
_ENTRY_KINDS = np.array(sorted(ENTRY_KINDS))
# The attribute written per span, by index: a score of i / 100, or (last) the warm-up mark.
_WRITTEN = [*output.SCORE_ATTRIBUTES, output.WARMUP_ATTRIBUTE]
_WARMUP_INDEX = len(_WRITTEN) - 1
_MAX_DEPTH = 64


@dataclass(frozen=True)
class _TraceVerdicts:
    """The trace verdicts of a batch, one per judged entry span."""

    index: NDArray[np.intp]
    """The entry spans' indices in the batch."""
    score: NDArray[np.float64]
    findings: list[tuple[str, ...]]
    """What stood out in each trace's shape (empty: nothing, or only its latency)."""

    @property
    def shaped(self) -> NDArray[np.bool_]:
        return np.array([bool(f) for f in self.findings], dtype=bool)


_NO_VERDICTS = _TraceVerdicts(np.zeros(0, dtype=np.intp), np.zeros(0), [])


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
        # Random 64-bit codes per operation slot: a trace's calls sum to a multiset hash.
        codes = np.random.default_rng(0).integers(
            0, 2**64, size=(2, self.baselines.max_operations), dtype=np.uint64
        )
        self._call_hash, self._entry_hash = codes
        self.now = 0
        """The event time reached: the latest span end time seen (ns)."""

    def score(self, request: ExportTraceServiceRequest) -> list[Anomaly]:
        # One comprehension per scope reads the few fields the models need: per-span Python
        # work is the cost here, the rest is numpy over the batch.
        rows: list[tuple[Any, ...]] = []
        resources: list[tuple[int, Any]] = []  # (index of the first span, its resource)
        for resource_spans in request.resource_spans:
            resource = resource_spans.resource
            service = service_name(resource)
            resources.append((len(rows), resource))
            for scope_spans in resource_spans.scope_spans:
                # (iterating a repeated field builds a wrapper per span: once, kept in the row)
                rows.extend(
                    [
                        (
                            s,
                            service,
                            s.name,
                            s.kind,
                            s.start_time_unix_nano,
                            s.end_time_unix_nano,
                            s.status.code,
                            s.trace_id,
                            s.span_id,
                            s.parent_span_id,
                            len(s.attributes),
                            len(s.events),
                            len(s.links),
                        )
                        for s in scope_spans.spans
                    ]
                )
        if not rows:
            return []
        (spans, services, names, kinds, starts, ends, codes, trace_ids, span_ids, parent_ids, *shape) = zip(
            *rows, strict=True
        )
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
            features = np.array(shape, dtype=np.int64).T
            multivariate = self.forest.score(self.forest.rows(features, kind, scores.z, error))
            if multivariate is not None:
                best = np.maximum(best, multivariate)
        baselines.learn(slots, duration, error, self.now)

        warm = scores.warm
        traces = self._judge_traces(kind, trace_ids, span_ids, parent_ids, keys, slots)
        # The written score: the span's own where warm; on entry spans with a trace verdict, the
        # trace's if higher (or, during the span's own warm-up, the trace's alone). A trace as
        # such is as slow as its entry span, unless its shape is what stands out.
        final = np.where(warm, best, np.nan)
        entries = traces.index
        trace_score = traces.score
        if len(entries):
            own_latency = np.where(warm[entries], scores.latency[entries], 0.0)
            trace_score = np.where(traces.shaped, trace_score, np.maximum(trace_score, own_latency))
            final[entries] = np.fmax(final[entries], trace_score)
        written = np.where(np.isnan(final), _WARMUP_INDEX, np.minimum(np.nan_to_num(final) * 100, 100))
        cached = _WRITTEN
        for span, index in zip(spans, written.astype(np.int64).tolist(), strict=True):
            attributes = span.attributes
            # output.clear_previous's cheap look, inlined: a call per span costs as much.
            if attributes and attributes[-1].key.startswith("vigil."):
                output.clear_previous(span)
            attributes.append(cached[index])
        trace_cached = output.TRACE_SCORE_ATTRIBUTES
        trace_written = np.minimum(trace_score * 100, 100).astype(np.int64).tolist()
        for i, index in zip(entries.tolist(), trace_written, strict=True):
            spans[i].attributes.append(trace_cached[index])

        anomalies: list[Anomaly] = []
        position = {int(i): n for n, i in enumerate(entries.tolist())}
        for i in np.flatnonzero(final >= THRESHOLD).tolist():
            candidates = []
            if warm[i]:
                candidates = [
                    (float(scores.latency[i]), Reason.LATENCY),
                    (float(scores.error[i]), Reason.ERROR),
                ]
                if multivariate is not None:
                    candidates.append((float(multivariate[i]), Reason.MULTIVARIATE))
            subject = f"{keys[i][0]} {keys[i][1]}"
            n = position.get(i)
            if n is not None:
                findings = traces.findings[n]
                reason = Reason.TRACE_SHAPE if findings else Reason.TRACE_LATENCY
                candidates.append((float(trace_score[n]), reason))
                if findings:
                    subject += ": " + "; ".join(findings)
            top = float(final[i])
            reasons = tuple(r.value for c, r in sorted(candidates, key=lambda c: -c[0]) if c >= THRESHOLD)
            span = spans[i]
            span.attributes.append(string_array(output.REASONS, reasons))
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
        slots: NDArray[np.intp],
    ) -> _TraceVerdicts:
        """Judge the batch's entry spans against their operation's usual calls (entry operations
        past warm-up only). Spans of traces whose root is not in the batch wait in
        :class:`TraceShapes` for it.

        The common case, a trace whose root is in the batch with nothing of it remembered from
        earlier, is done in numpy: parent links are followed level by level, each span adds a
        random code of its operation to every entry span above it, and the sums (multiset
        hashes) group the entry spans that made the same calls, so that each distinct shape of
        an entry operation is judged once. Other traces are walked span by span."""
        shapes = self.shapes
        n = len(trace_ids)
        numbering: dict[bytes, int] = {}
        number = numbering.setdefault
        trace = np.fromiter((number(t, len(numbering)) for t in trace_ids), dtype=np.intp, count=n)
        is_root = np.fromiter((not p for p in parent_ids), dtype=bool, count=n)
        is_entry = is_root | np.isin(kinds, _ENTRY_KINDS)
        count = len(numbering)
        entries_in = np.bincount(trace[is_entry], minlength=count)
        waiting = np.flatnonzero(entries_in[trace] == 0)
        if len(waiting):
            self._remember(waiting.tolist(), trace_ids, span_ids, parent_ids, keys)
        if not entries_in.any():
            return _NO_VERDICTS
        judged = np.flatnonzero(entries_in)
        complete = np.zeros(count, dtype=bool)
        complete[judged] = np.bincount(trace[is_root], minlength=count)[judged] > 0
        by_number = list(numbering)
        for t in np.flatnonzero(complete).tolist():
            if shapes.waiting(by_number[t]):
                complete[t] = False

        items: list[tuple[Hashable, Mapping[Hashable, int], int]] = []
        owners: list[NDArray[np.intp]] = []  # the entry spans each item's verdict belongs to
        if complete.any():
            self._group_shapes(
                np.flatnonzero(complete[trace]),
                trace,
                is_entry,
                span_ids,
                parent_ids,
                keys,
                slots,
                items,
                owners,
            )
        order = np.argsort(trace, kind="stable")
        bounds = np.searchsorted(trace[order], np.arange(count + 1))
        for t in judged[~complete[judged]].tolist():
            members = order[bounds[t] : bounds[t + 1]].tolist()
            earlier = shapes.take(by_number[t])
            spans = earlier + [(span_ids[i], parent_ids[i], keys[i]) for i in members]
            entries = [i for i in members if is_entry[i]]
            for e in entries:
                items.append((keys[e], shapes.calls_below(span_ids[e], spans), 1))
                owners.append(np.array([e], dtype=np.intp))
            if not any(is_root[e] for e in entries):
                # A nested entry span: the trace's root is still to come, with all of these.
                self._remember(members, trace_ids, span_ids, parent_ids, keys)

        index: list[NDArray[np.intp]] = []
        score: list[float] = []
        findings: list[tuple[str, ...]] = []
        for members, verdict in zip(owners, shapes.judge_many(items, self.now), strict=True):
            if verdict.score is None:
                continue
            index.append(members)
            score.extend([verdict.score] * len(members))
            findings.extend([verdict.findings] * len(members))
        if not index:
            return _NO_VERDICTS
        return _TraceVerdicts(np.concatenate(index), np.array(score), findings)

    def _group_shapes(
        self,
        members: NDArray[np.intp],
        trace: NDArray[np.intp],
        is_entry: NDArray[np.bool_],
        span_ids: Sequence[bytes],
        parent_ids: Sequence[bytes],
        keys: list[Hashable],
        slots: NDArray[np.intp],
        items: list[tuple[Hashable, Mapping[Hashable, int], int]],
        owners: list[NDArray[np.intp]],
    ) -> None:
        """Add the entry spans of complete traces (``members``: their spans' indices) to
        ``items``, one item per entry operation and distinct calls below, and to ``owners`` the
        entry spans of each."""
        numbers = trace.tolist()
        where = {(numbers[i], span_ids[i]): i for i in members.tolist()}
        parent = np.full(len(trace), -1, dtype=np.intp)
        parent[members] = [where.get((numbers[i], parent_ids[i]), -1) for i in members.tolist()]
        # (span, entry span above it) pairs, one level up at a time; a malformed trace whose
        # parent links loop stops at _MAX_DEPTH.
        below: list[NDArray[np.intp]] = []
        above: list[NDArray[np.intp]] = []
        span, ancestor = members, parent[members]
        for _ in range(_MAX_DEPTH):
            live = ancestor >= 0
            if not live.any():
                break
            span, ancestor = span[live], ancestor[live]
            at_entry = is_entry[ancestor]
            below.append(span[at_entry])
            above.append(ancestor[at_entry])
            ancestor = parent[ancestor]
        calls, entry = np.concatenate(below or [members[:0]]), np.concatenate(above or [members[:0]])
        hashes = np.zeros(len(trace), dtype=np.uint64)
        np.add.at(hashes, entry, self._call_hash[slots[calls]])
        entries = members[is_entry[members]]
        shape = hashes[entries] + self._entry_hash[slots[entries]]
        _, first, group = np.unique(shape, return_index=True, return_inverse=True)
        by_group = np.argsort(group, kind="stable")
        group_bounds = np.searchsorted(group[by_group], np.arange(len(first) + 1))
        by_entry = np.argsort(entry, kind="stable")
        sorted_entry = entry[by_entry]
        for g, e in enumerate(entries[first].tolist()):
            lo, hi = np.searchsorted(sorted_entry, [e, e + 1])
            counted: dict[Hashable, int] = {}
            for i in calls[by_entry[lo:hi]].tolist():
                counted[keys[i]] = counted.get(keys[i], 0) + 1
            items.append((keys[e], counted, int(group_bounds[g + 1] - group_bounds[g])))
            owners.append(entries[by_group[group_bounds[g] : group_bounds[g + 1]]])

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
