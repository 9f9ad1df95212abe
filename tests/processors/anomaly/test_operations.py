"""Per-operation latency and error baselines: warm-up, what scores high, what stays low, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from vigil.processors.anomaly.operations import OperationBaselines

OP = ("shop", "GET /items", 2)


MINUTE = 60 * 10**9
clock = {"now": 0}


def feed(baselines, key, durations_ms, errors=None, now=None, step=MINUTE):
    """Score, then learn, one batch; event time moves ``step`` (a minute) per batch."""
    clock["now"] += step
    now = clock["now"] if now is None else now
    durations = np.asarray(np.asarray(durations_ms, dtype=float) * 1e6, dtype=np.int64)
    errors = np.zeros(len(durations), dtype=bool) if errors is None else np.asarray(errors, dtype=bool)
    slots = baselines.slots([key] * len(durations), now)
    scores = baselines.score(slots, durations, errors)
    baselines.learn(slots, durations, errors, now)
    return scores


def lognormal(rng, median_ms, sigma, n):
    return median_ms * np.exp(rng.normal(0, sigma, n))


def test_no_score_before_warmup_then_scored():
    baselines = OperationBaselines(warmup_spans=30)
    first = feed(baselines, OP, [10.0] * 29 + [500.0])
    assert not first.warm.any()
    assert (first.latency == 0).all()
    later = feed(baselines, OP, [10.0, 500.0])
    assert later.warm.all()
    assert later.latency[1] > 0.5


def test_steady_lognormal_latency_rarely_scores_anomalous():
    rng = np.random.default_rng(1)
    baselines = OperationBaselines()
    feed(baselines, OP, lognormal(rng, 20, 0.3, 200))
    flagged = 0
    for _ in range(100):
        flagged += int((feed(baselines, OP, lognormal(rng, 20, 0.3, 100)).latency >= 0.5).sum())
    assert flagged <= 10  # of 10,000 ordinary spans: at most 0.1 %


def test_ten_times_slower_scores_high_and_faster_scores_zero():
    rng = np.random.default_rng(2)
    baselines = OperationBaselines()
    feed(baselines, OP, lognormal(rng, 20, 0.3, 500))
    scores = feed(baselines, OP, [200.0, 2.0, 20.0])
    assert scores.latency[0] >= 0.6  # z ~ 7.7 robust sigmas
    assert scores.latency[1] == 0.0
    assert scores.latency[2] < 0.1


def test_small_absolute_excess_is_not_news():
    baselines = OperationBaselines(min_excess_ms=1.0)
    feed(baselines, OP, [0.04] * 100)
    assert feed(baselines, OP, [0.12]).latency[0] == 0.0  # 3x, but only 80 µs slower


def test_errors_score_as_a_rate_against_the_operations_usual_rate():
    rng = np.random.default_rng(3)
    reliable, flaky = OperationBaselines(), OperationBaselines()
    for _ in range(10):
        feed(reliable, OP, lognormal(rng, 20, 0.3, 100), rng.random(100) < 0.002)
        feed(flaky, OP, lognormal(rng, 20, 0.3, 100), rng.random(100) < 0.5)
    feed(reliable, OP, [20.0] * 50)  # no recent error
    isolated = feed(reliable, OP, [20.0] * 10, [True] + [False] * 9).error[0]
    assert 0.1 < isolated < 0.5  # one is expected every 500 spans: noted, not an anomaly
    feed(reliable, OP, [20.0] * 50)
    burst = feed(reliable, OP, [20.0] * 10, [True, True, True] + [False] * 7).error[:3]
    assert (burst >= 0.5).all()
    assert (feed(flaky, OP, [20.0] * 4, [True] * 4).error < 0.2).all()
    assert feed(reliable, OP, [20.0], [False]).error[0] == 0.0


def test_lasting_change_becomes_the_new_normal_but_a_burst_does_not():
    rng = np.random.default_rng(4)
    baselines = OperationBaselines(halflife_seconds=600)
    feed(baselines, OP, lognormal(rng, 20, 0.2, 1000))
    feed(baselines, OP, [400.0] * 20, step=10**9)  # a burst, clipped while it is learnt
    assert baselines.baseline_ms(OP) == pytest.approx(20, rel=0.35)
    reported = feed(baselines, OP, lognormal(rng, 200, 0.2, 100))
    assert (reported.latency >= 0.5).mean() > 0.9  # a new level is news at first
    for _ in range(180):  # three hours of event time, a batch a minute
        feed(baselines, OP, lognormal(rng, 200, 0.2, 100))
    assert baselines.baseline_ms(OP) == pytest.approx(200, rel=0.35)
    assert (feed(baselines, OP, lognormal(rng, 200, 0.2, 100)).latency < 0.5).mean() > 0.95


def test_operations_are_independent():
    rng = np.random.default_rng(5)
    baselines = OperationBaselines()
    fast, slow = ("shop", "SELECT users", 3), ("shop", "GET /report", 2)
    feed(baselines, fast, lognormal(rng, 2, 0.2, 200))
    feed(baselines, slow, lognormal(rng, 2000, 0.2, 200))
    assert feed(baselines, slow, [2000.0]).latency[0] < 0.1
    assert feed(baselines, fast, [2000.0]).latency[0] > 0.9


def test_memory_is_bounded_and_the_coldest_operations_go():
    baselines = OperationBaselines(max_operations=100, warmup_spans=1)
    for t in range(1000):
        feed(baselines, ("svc", f"op-{t}", 1), [5.0], now=t)
    assert len(baselines) <= 100
    assert baselines.baseline_ms(("svc", "op-999", 1)) is not None
    assert baselines.baseline_ms(("svc", "op-0", 1)) is None


def test_snapshot_restore_keeps_baselines():
    rng = np.random.default_rng(6)
    baselines = OperationBaselines()
    feed(baselines, OP, lognormal(rng, 20, 0.3, 300))
    copy = OperationBaselines()
    copy.restore(baselines.snapshot())
    assert copy.baseline_ms(OP) == baselines.baseline_ms(OP)
    assert feed(copy, OP, [300.0]).latency[0] == pytest.approx(feed(baselines, OP, [300.0]).latency[0])


def test_zero_and_negative_durations_do_not_break_scores():
    baselines = OperationBaselines(warmup_spans=2)
    scores = feed(baselines, OP, [0.0, -5.0, 1.0, 0.0])
    assert np.isfinite(scores.latency).all()
    assert np.isfinite(feed(baselines, OP, [0.0, 10.0]).latency).all()
