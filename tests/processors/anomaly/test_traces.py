"""Trace shape: missing, extra and multiplied calls below an entry span; warm-up; bounded buffer."""

from __future__ import annotations

import itertools
import random

from vigil.processors.anomaly.traces import TraceShapes

ENTRY = ("shop", "GET /items", 2)
DB = ("shop", "SELECT items", 3)
STOCK = ("shop", "GET inventory", 3)
AUDIT = ("shop", "INSERT audit", 3)
CLOCK = itertools.count(0, 10**9)  # event time: a trace a second


def train(shapes: TraceShapes, traces: int = 200, seed: int = 0) -> None:
    rng = random.Random(seed)
    for _ in range(traces):
        shapes.judge(ENTRY, {DB: rng.randint(1, 3), STOCK: 1}, next(CLOCK))


def test_no_verdict_during_warmup():
    shapes = TraceShapes(warmup_traces=20)
    verdicts = [shapes.judge(ENTRY, {DB: 1, STOCK: 1}, next(CLOCK)).score for _ in range(21)]
    assert verdicts[:20] == [None] * 20
    assert verdicts[20] is not None and verdicts[20] < 0.5


def test_usual_variation_stays_low():
    shapes = TraceShapes()
    train(shapes)
    for db_calls in (1, 2, 3):
        assert shapes.judge(ENTRY, {DB: db_calls, STOCK: 1}, next(CLOCK)).score < 0.5


def test_missing_usual_call_scores_anomalous_and_says_which():
    shapes = TraceShapes()
    train(shapes)
    verdict = shapes.judge(ENTRY, {DB: 2}, next(CLOCK))
    assert verdict.score >= 0.5
    assert any("missing shop GET inventory" in f for f in verdict.findings)


def test_extra_call_never_seen_scores_anomalous():
    shapes = TraceShapes()
    train(shapes)
    verdict = shapes.judge(ENTRY, {DB: 2, STOCK: 1, AUDIT: 1}, next(CLOCK))
    assert verdict.score >= 0.5
    assert "extra shop INSERT audit" in verdict.findings


def test_changed_fan_out_scores_anomalous():
    shapes = TraceShapes()
    train(shapes)
    verdict = shapes.judge(ENTRY, {DB: 30, STOCK: 1}, next(CLOCK))
    assert verdict.score >= 0.5
    assert verdict.findings[0].startswith("fan-out shop SELECT items 30")


def test_calls_below_follows_parent_links_only():
    spans = [
        (b"r", b"", ENTRY),
        (b"a", b"r", DB),
        (b"b", b"r", STOCK),
        (b"c", b"b", AUDIT),
        (b"x", b"other", DB),  # a sibling subtree of another entry
        (b"l", b"l", DB),  # a malformed self-loop must not hang
    ]
    assert TraceShapes.calls_below(b"r", spans) == {DB: 1, STOCK: 1, AUDIT: 1}
    assert TraceShapes.calls_below(b"b", spans) == {AUDIT: 1}


def test_pending_spans_expire_by_event_time_and_by_count():
    shapes = TraceShapes(window_seconds=30, max_buffered_spans=100)
    shapes.remember([b"t1"] * 3, [b"a", b"b", b"c"], [b"r"] * 3, [DB] * 3, now=0)
    shapes.expire(now=29 * 10**9)
    assert shapes.buffered_spans == 3
    shapes.expire(now=31 * 10**9)
    assert shapes.buffered_spans == 0
    for i in range(500):
        shapes.remember([i.to_bytes(16, "big")], [b"s"], [b"p"], [DB], now=40 * 10**9)
        shapes.expire(now=40 * 10**9)
    assert shapes.buffered_spans <= 100
    assert shapes.take((499).to_bytes(16, "big")) == [(b"s", b"p", DB)]


def test_entry_operations_are_bounded():
    shapes = TraceShapes(max_entries=50)
    for i in range(500):
        shapes.judge(("svc", f"op-{i}", 2), {DB: 1}, next(CLOCK))
    assert len(shapes.snapshot()["entries"]) == 50


def test_snapshot_restore_keeps_what_is_usual():
    shapes = TraceShapes()
    train(shapes)
    copy = TraceShapes()
    copy.restore(shapes.snapshot())
    assert copy.judge(ENTRY, {DB: 2, STOCK: 1}, next(CLOCK)).score < 0.5
    assert copy.judge(ENTRY, {DB: 2}, next(CLOCK)).score >= 0.5


def test_a_batch_of_traces_learns_as_those_traces_one_by_one():
    one_by_one, batched = TraceShapes(), TraceShapes()
    for calls in [{DB: 1, STOCK: 1}] * 5 + [{DB: 3}] * 5:
        one_by_one.judge(ENTRY, calls, 10**9)
    batched.judge_many([(ENTRY, {DB: 1, STOCK: 1}, 5), (ENTRY, {DB: 3}, 5)], 10**9)

    def usual(shapes: TraceShapes) -> dict:
        ((_, traces, _, calls),) = shapes.snapshot()["entries"]
        assert traces == 10
        return {op: (round(presence, 9), round(mean, 9)) for op, presence, mean, _ in calls}

    # DB in every trace, twice on average; STOCK in half of them.
    assert usual(batched) == usual(one_by_one) == {DB: (1.0, 2.0), STOCK: (0.5, 1.0)}


def test_a_batch_is_judged_against_the_baseline_before_it():
    shapes = TraceShapes(warmup_traces=20)
    train(shapes)
    usual, missing = shapes.judge_many([(ENTRY, {DB: 2, STOCK: 1}, 300), (ENTRY, {DB: 2}, 1)], next(CLOCK))
    assert usual.score < 0.5
    assert missing.score >= 0.5 and missing.findings == ("missing shop GET inventory",)
