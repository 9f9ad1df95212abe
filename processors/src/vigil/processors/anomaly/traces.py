"""Trace shape: does this request make the calls its entry point usually makes?

Failures often show only in a trace's structure: a cache that stops answering turns one call into
a fan-out of database queries; a feature flag skips the payment call; a retry loop calls the same
backend ten times. None of those spans needs an error status or unusual latency.

When a trace is judged
----------------------
Every span passing the sidecar is remembered briefly by trace id: its id, its parent's id and its
operation. When an *entry span* arrives (a root span, or any SERVER or CONSUMER span: where a
service starts handling a request), its descendants among the remembered spans are collected by
walking parent links, and the trace below the entry span is judged. An entry span ends after its
children, so SDKs export it with or after them: by the time it reaches the sidecar its subtree is
complete, except for spans still in another process' export queue (in practice: children of other
services exported more than ``window_seconds`` after the entry span, or never). Spans wait at most
``window_seconds`` of event time (span end times), and at most ``max_buffered_spans`` in all
(oldest traces dropped first).

The traces judged in one request are judged against the baselines as they were before it, and
learnt together (:meth:`TraceShapes.judge_many`): traces of one entry operation that made exactly
the same calls cost one judgement.

With several sidecars, all spans of one trace must reach the same one: the collector's
``loadbalancing`` exporter with ``routing_key: traceID`` does that (see ``docs/scale-out.md``).

The baseline of an entry operation
----------------------------------
For each entry operation (service, name, kind), a weighted history of its traces: for each
downstream operation, how often it appears (presence ``p``) and how many times when it does
(mean ``m`` and mean absolute deviation ``s`` of the count). A trace is scored by its surprise in
nats, the largest of

- a usual call missing: ``-ln(1 - p)`` (missing a call made in 95 % of traces: 3.0);
- an unusual call present: ``-ln p``, with ``p`` at most ``1/(n+1)`` for a call never seen in ``n``
  traces (a new call after 100 traces: 4.6);
- a changed fan-out: ``z² / 2`` with ``z = |count - m| / max(1.25 s, 0.5)`` (a call made 1-2 times
  now made 6 times: z = 8, capped at 10 nats);

plus a quarter of the others, and calibrated so that 3 nats scores 0.5. The history is a running
mean at first, then has a half-life of ``halflife_seconds`` of event time (10 minutes, but never
fewer than ``min_halflife_traces`` traces, 50). An entry operation with
fewer than ``warmup_traces`` traces has no trace score. At most ``max_entries`` entry operations
(least recently seen forgotten) and ``max_calls`` downstream operations per entry (rarest dropped).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vigil.processors.anomaly.calibration import calibrate_one
from vigil.processors.anomaly.learning import learning_weight

_SERVER, _CONSUMER = 2, 5
ENTRY_KINDS = frozenset({_SERVER, _CONSUMER})
_FANOUT_CAP = 10.0


@dataclass
class _Calls:
    """How an entry operation's traces use one downstream operation."""

    presence: float = 0.0
    mean: float = 0.0
    spread: float = 0.0


@dataclass
class _Entry:
    traces: int = 0
    calls: dict[Hashable, _Calls] = field(default_factory=dict)
    learnt_at: int = 0


@dataclass(frozen=True)
class ShapeVerdict:
    """A judged trace: its shape score and what stood out (empty during warm-up)."""

    score: float | None
    """None while the entry operation warms up."""
    findings: tuple[str, ...] = ()
    """e.g. ``missing shop SELECT orders``, ``extra ...``, ``fan-out ... 9 (usually 1)``."""


_WARMING_UP = ShapeVerdict(None)


@dataclass
class _Pending:
    first_seen: int
    spans: list[tuple[bytes, bytes, Hashable]] = field(default_factory=list)


class TraceShapes:
    """Remembers recent spans by trace and judges each entry span's subtree against its baseline."""

    def __init__(
        self,
        *,
        window_seconds: float = 30.0,
        max_buffered_spans: int = 200_000,
        warmup_traces: int = 20,
        halflife_seconds: float = 600.0,
        min_halflife_traces: float = 50.0,
        shape_at_half: float = 3.0,
        max_entries: int = 2_000,
        max_calls: int = 64,
    ) -> None:
        self.window_ns = int(window_seconds * 1e9)
        self.max_buffered_spans = max_buffered_spans
        self.warmup_traces = warmup_traces
        self.halflife_seconds = halflife_seconds
        self.min_halflife_traces = min_halflife_traces
        self.shape_at_half = shape_at_half
        self.max_entries = max_entries
        self.max_calls = max_calls
        self._pending: OrderedDict[bytes, _Pending] = OrderedDict()
        self._buffered = 0
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()

    @property
    def buffered_spans(self) -> int:
        return self._buffered

    def remember(
        self,
        trace_ids: Sequence[bytes],
        span_ids: Sequence[bytes],
        parent_ids: Sequence[bytes],
        operations: Sequence[Hashable],
        now: int,
    ) -> None:
        """Keep spans until an entry span of their trace arrives (or the window passes)."""
        pending = self._pending
        for trace_id, span_id, parent_id, operation in zip(
            trace_ids, span_ids, parent_ids, operations, strict=True
        ):
            waiting = pending.get(trace_id)
            if waiting is None:
                waiting = pending[trace_id] = _Pending(now)
            waiting.spans.append((span_id, parent_id, operation))
        self._buffered += len(trace_ids)

    def take(self, trace_id: bytes) -> list[tuple[bytes, bytes, Hashable]]:
        """The remembered spans of a trace, forgotten by the call."""
        waiting = self._pending.pop(trace_id, None)
        if waiting is None:
            return []
        self._buffered -= len(waiting.spans)
        return waiting.spans

    @staticmethod
    def calls_below(span_id: bytes, spans: Iterable[tuple[bytes, bytes, Hashable]]) -> dict[Hashable, int]:
        """Operations called below ``span_id`` (descendants by parent links), with their counts."""
        children: dict[bytes, list[tuple[bytes, Hashable]]] = {}
        for sid, parent, op in spans:
            children.setdefault(parent, []).append((sid, op))
        calls: dict[Hashable, int] = {}
        stack, seen = [span_id], {span_id}
        while stack:
            for sid, op in children.get(stack.pop(), ()):
                if sid not in seen:  # a malformed trace may loop
                    seen.add(sid)
                    stack.append(sid)
                    calls[op] = calls.get(op, 0) + 1
        return calls

    def waiting(self, trace_id: bytes) -> bool:
        """Whether spans of ``trace_id`` are remembered (its entry span has not come yet)."""
        return trace_id in self._pending

    def judge(self, operation: Hashable, calls: Mapping[Hashable, int], now: int) -> ShapeVerdict:
        """Judge the calls below one entry span of ``operation`` and learn from them."""
        return self.judge_many([(operation, calls, 1)], now)[0]

    def judge_many(
        self, traces: Sequence[tuple[Hashable, Mapping[Hashable, int], int]], now: int
    ) -> list[ShapeVerdict]:
        """Judge a batch's traces, given as (entry operation, calls below the entry span, how
        many traces of the batch made exactly these calls), and learn from them.

        As the operation baselines, every trace of a batch is judged against the baseline as it
        was before the batch, then the batch is learnt at once: a batch of 2,000 spans holds a
        few hundred traces but a handful of distinct shapes, and each shape costs one judgement."""
        by_operation: dict[Hashable, list[int]] = {}
        for i, (operation, _, _) in enumerate(traces):
            by_operation.setdefault(operation, []).append(i)
        verdicts: list[ShapeVerdict] = [_WARMING_UP] * len(traces)
        for operation, members in by_operation.items():
            entry = self._entries.get(operation)
            if entry is None:
                entry = self._new_entry(operation)
            else:
                self._entries.move_to_end(operation)
            learnt = []
            for i in members:
                _, calls, count = traces[i]
                verdict = self._score(entry, calls) if entry.traces >= self.warmup_traces else _WARMING_UP
                verdicts[i] = verdict
                # An anomalous trace is learnt at a fifth of the weight: reported for a while, not
                # at once the new normal.
                anomalous = verdict.score is not None and verdict.score >= 0.5
                learnt.append((calls, count, 0.2 if anomalous else 1.0))
            self._learn(entry, learnt, now)
        return verdicts

    def expire(self, now: int) -> None:
        """Forget traces older than the window, and the oldest beyond ``max_buffered_spans``."""
        horizon = now - self.window_ns
        pending = self._pending
        while pending:
            trace_id, oldest = next(iter(pending.items()))
            if oldest.first_seen >= horizon and self._buffered <= self.max_buffered_spans:
                break
            del pending[trace_id]
            self._buffered -= len(oldest.spans)

    def _score(self, entry: _Entry, calls: Mapping[Hashable, int]) -> ShapeVerdict:
        surprises: list[tuple[float, str]] = []
        for op, usual in entry.calls.items():
            count = calls.get(op, 0)
            if count == 0:
                if usual.presence > 0.5:
                    surprises.append((-math.log(max(1.0 - usual.presence, 1e-4)), f"missing {_name(op)}"))
                continue
            z = abs(count - usual.mean) / max(1.25 * usual.spread, 0.5)
            if z > 2.0:
                surprises.append(
                    (min(z * z / 2.0, _FANOUT_CAP), f"fan-out {_name(op)} {count} (usually {usual.mean:.3g})")
                )
            if usual.presence < 0.05:
                rarity = -math.log(max(usual.presence, 1.0 / (entry.traces + 1)))
                surprises.append((rarity, f"rare {_name(op)}"))
        for op in calls.keys() - entry.calls.keys():
            surprises.append((math.log(entry.traces + 1), f"extra {_name(op)}"))
        if not surprises:
            return ShapeVerdict(0.0)
        surprises.sort(key=lambda s: s[0], reverse=True)
        total = surprises[0][0] + 0.25 * sum(s for s, _ in surprises[1:])
        return ShapeVerdict(calibrate_one(total, self.shape_at_half), tuple(f for _, f in surprises[:3]))

    def _learn(
        self, entry: _Entry, traces: Sequence[tuple[Mapping[Hashable, int], int, float]], now: int
    ) -> None:
        """Move an entry operation's baseline towards a batch of its traces: (calls, how many
        traces made them, strength 0..1)."""
        n = sum(count for _, count, _ in traces)
        weights = [(calls, count * strength) for calls, count, strength in traces]
        n_eff = sum(w for _, w in weights)
        # As the operation baselines (.learning): a lasting change of shape is reported for a
        # while whatever the traffic, then becomes the new normal.
        elapsed = max(now - entry.learnt_at, 0) / 1e9
        weight = learning_weight(
            entry.traces, n, elapsed, self.halflife_seconds, self.min_halflife_traces, n_eff / n
        )
        entry.traces += n
        entry.learnt_at = now
        known = entry.calls
        called = set(known).union(*(calls.keys() for calls, _ in weights))
        for op in called:
            usual = known.get(op)
            mean = usual.mean if usual is not None else 0.0
            present = counted = deviation = 0.0
            for calls, w in weights:
                count = calls.get(op, 0)
                if count:
                    present += w
                    counted += w * count
                    deviation += w * abs(count - mean)
            if usual is None:
                # A call first seen now: present in this batch's share of the history.
                batch_mean = counted / present
                spread = sum(w * abs(calls[op] - batch_mean) for calls, w in weights if op in calls) / present
                known[op] = _Calls(presence=weight * present / n_eff, mean=batch_mean, spread=spread)
                continue
            usual.presence += weight * (present / n_eff - usual.presence)
            if present:
                usual.spread += weight * (deviation / present - usual.spread)
                usual.mean += weight * (counted / present - usual.mean)
        if len(known) > self.max_calls:
            rarest = sorted(known, key=lambda op: known[op].presence)
            for op in rarest[: len(known) - self.max_calls]:
                del known[op]

    def _new_entry(self, operation: Hashable) -> _Entry:
        if len(self._entries) >= self.max_entries:
            self._entries.popitem(last=False)
        entry = self._entries[operation] = _Entry()
        return entry

    def snapshot(self) -> dict[str, Any]:
        return {
            "entries": [
                (
                    op,
                    entry.traces,
                    entry.learnt_at,
                    [(c, u.presence, u.mean, u.spread) for c, u in entry.calls.items()],
                )
                for op, entry in self._entries.items()
            ]
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._entries.clear()
        for op, traces, learnt_at, calls in state["entries"][-self.max_entries :]:
            self._entries[op] = _Entry(traces, {c: _Calls(p, m, s) for c, p, m, s in calls}, learnt_at)


def _name(operation: Hashable) -> str:
    if isinstance(operation, tuple) and len(operation) >= 2:
        return f"{operation[0]} {operation[1]}"
    return str(operation)
