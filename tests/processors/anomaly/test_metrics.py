"""MetricAnomalies on OTLP requests: scores, events, the side-output gauge, memory bounds, state."""

from __future__ import annotations

import numpy as np
import pytest

from tests.processors.anomaly.metric_requests import (
    DELTA,
    HOUR,
    MINUTE,
    SECOND,
    T0,
    counter,
    gauge,
    gauge_series,
    histogram,
    points_of,
    request,
)
from vigil.processors.anomaly.metrics import KL_METRIC, PSI_METRIC, SCORE_METRIC, MetricAnomalies
from vigil.processors.anomaly.output import THRESHOLD, Reason
from vigil.processors.anomaly.state import StateStore
from vigil.processors.signals import Signal

ROUTE = {"http.route": "/cart", "queue": "orders"}


def steady(scorer: MetricAnomalies, minutes: int, start: int = T0, seed: int = 1, name: str = "queue.depth"):
    """``minutes`` requests of one gauge point each, 100 plus noise; the last results."""
    rng = np.random.default_rng(seed)
    result = ([], None)
    for i in range(minutes):
        point = (start + i * MINUTE, 100.0 + rng.normal(0.0, 2.0))
        result = scorer.score(request(gauge(name, [point], ROUTE)))
    return result


def scores_of(side_output) -> list[float]:
    return [value for _, value in points_of(side_output, SCORE_METRIC)]


def test_warmup_points_get_no_score():
    scorer = MetricAnomalies(warmup_points=10)
    outputs = [
        scorer.score(request(gauge("queue.depth", [(T0 + i * MINUTE, 5.0)], ROUTE))) for i in range(11)
    ]
    assert all(anomalies == [] and side is None for anomalies, side in outputs[:10])
    assert scores_of(outputs[10][1]) == [0.0]


def test_steady_gauge_scores_low_then_a_tenfold_jump_is_a_level_anomaly():
    scorer = MetricAnomalies()
    anomalies, side = steady(scorer, 120)
    assert anomalies == []
    assert scores_of(side)[0] < 0.2
    anomalies, side = scorer.score(request(gauge("queue.depth", [(T0 + 120 * MINUTE, 1000.0)], ROUTE)))
    assert scores_of(side)[0] >= THRESHOLD
    [anomaly] = anomalies
    assert anomaly.signal is Signal.METRICS
    assert anomaly.reasons == (Reason.LEVEL.value,)
    assert anomaly.score >= THRESHOLD
    assert anomaly.subject == "queue.depth{http.route=/cart, queue=orders}"
    assert anomaly.time_unix_nano == T0 + 120 * MINUTE
    assert {kv.key: kv.value.string_value for kv in anomaly.resource.attributes} == {"service.name": "shop"}


def test_counter_rate_jump_is_scored_and_a_reset_is_not_an_anomaly():
    scorer = MetricAnomalies()
    rng = np.random.default_rng(3)
    total, start = 0, T0 - HOUR
    for i in range(60):
        total += int(1000 + rng.integers(-30, 30))  # about 1000 per 10 s: 100/s
        anomalies, side = scorer.score(request(counter("jobs", [(T0 + i * 10 * SECOND, total)], start=start)))
        assert anomalies == []
    # the process restarts: 990 since a start 10 s ago, the same rate as before
    restart = T0 + 60 * 10 * SECOND - 10 * SECOND
    anomalies, side = scorer.score(request(counter("jobs", [(T0 + 60 * 10 * SECOND, 990)], start=restart)))
    assert anomalies == [] and scores_of(side)[0] < 0.2
    # then ten times the rate
    anomalies, side = scorer.score(
        request(counter("jobs", [(T0 + 61 * 10 * SECOND, 990 + 10000)], start=restart))
    )
    assert [a.reasons for a in anomalies] == [(Reason.LEVEL.value,)]


def test_delta_counters_are_scored_per_second():
    scorer = MetricAnomalies(warmup_points=5)
    for i in range(20):
        t = T0 + i * MINUTE
        scorer.score(request(counter("bytes", [(t, 6000)], start=t - MINUTE, temporality=DELTA)))
    anomalies, _ = scorer.score(
        request(counter("bytes", [(T0 + 20 * MINUTE, 60000)], start=T0 + 19 * MINUTE, temporality=DELTA))
    )
    assert len(anomalies) == 1


def test_histogram_mean_shift_is_detected():
    bounds = [50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0]
    scorer = MetricAnomalies()
    rng = np.random.default_rng(4)
    buckets = np.zeros(len(bounds) + 1, dtype=np.int64)
    count, total = 0, 0.0

    def export(i: int, latencies: np.ndarray):
        nonlocal count, total, buckets
        count += len(latencies)
        total += float(latencies.sum())
        buckets += np.bincount(np.searchsorted(bounds, latencies), minlength=len(bounds) + 1)
        point = (T0 + i * MINUTE, count, total, buckets.tolist())
        return scorer.score(
            request(histogram("http.server.duration", [point], bounds, start=T0 - HOUR, attributes=ROUTE))
        )

    for i in range(60):
        anomalies, side = export(i, rng.lognormal(np.log(80.0), 0.3, 200))
        assert anomalies == []
    assert max(scores_of(side)) < 0.5
    anomalies, side = export(60, rng.lognormal(np.log(800.0), 0.3, 200))
    assert anomalies and all(a.reasons == (Reason.LEVEL.value,) for a in anomalies)
    subjects = {a.subject for a in anomalies}
    assert "http.server.duration{http.route=/cart, queue=orders}" in subjects  # the mean
    assert "http.server.duration{http.route=/cart, queue=orders} p95" in subjects  # the tail
    assert len(points_of(side, SCORE_METRIC)) == 1  # one gauge point for the series: the higher score


def test_memory_is_bounded_by_evicting_the_coldest_series():
    scorer = MetricAnomalies(max_series=1000, warmup_points=3)
    # 100,899 distinct series; a hot one, seen in every request, must survive the churn
    for i in range(101):
        points = [{"request": f"r{i}-{j}"} for j in range(999)]
        metric = gauge_series("churn", T0 + i * MINUTE, [1.0] * 999, points)
        hot = gauge("hot", [(T0 + i * MINUTE, 7.0)])
        scorer.score(request(metric, hot))
        assert len(scorer) <= 1000
    assert len(scorer) == 1000
    _, side = scorer.score(request(gauge("hot", [(T0 + 101 * MINUTE, 7.0)])))
    assert scores_of(side) == [0.0]  # still known: scored, not warming up again


def test_side_output_gauge_has_bounded_attributes_and_the_original_resource():
    scorer = MetricAnomalies(warmup_points=2)
    attributes = {
        "http.route": "/items/{id}",
        "http.request.method": "GET",
        "http.response.status_code": 200,
        "server.port": 8080,
        "session": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "trace": "4bf92f3577b34da6a3ce929d0e0e4736",
        "user": "u-123456789",
        "user_id": "alice",
        "zone": "z" * 300,
        "zzz.extra": "x",
        "retry": True,
    }
    resource = {"host.name": "web-1", "deployment.environment": "prod"}
    for i in range(3):
        _, side = scorer.score(
            request(gauge("queue.depth", [(T0 + i * MINUTE, 5.0)], attributes), resource=resource)
        )
    [(labels, _)] = points_of(side, SCORE_METRIC)
    assert labels["metric.name"] == "queue.depth"
    assert labels["service.name"] == "shop"
    own = {key: value for key, value in labels.items() if key not in ("metric.name", "service.name")}
    assert len(own) <= 5
    assert not {"session", "trace", "user", "user_id"} & own.keys()  # id-like: dropped
    # the first five safe keys in key order; ints and bools become strings
    assert own == {
        "http.request.method": "GET",
        "http.response.status_code": "200",
        "http.route": "/items/{id}",
        "retry": "true",
        "server.port": "8080",
    }
    resource_attributes = {
        kv.key: kv.value.string_value for kv in side.resource_metrics[0].resource.attributes
    }
    assert resource_attributes == {"service.name": "shop", **resource}
    assert side.resource_metrics[0].scope_metrics[0].scope.name == "vigil.processors.anomaly"


def test_long_values_are_cut_and_series_differing_only_by_ids_share_a_point():
    scorer = MetricAnomalies(warmup_points=2)
    for i in range(3):
        metric = gauge_series(
            "queue.depth",
            T0 + i * MINUTE,
            [5.0, 5.0],
            [
                {"zone": "z" * 300, "request": "a1b2c3d4e5f6a7b8c9"},
                {"zone": "z" * 300, "request": "ffffeeeeddddcccc0000"},
            ],
        )
        _, side = scorer.score(request(metric))
    [(labels, _)] = points_of(side, SCORE_METRIC)
    assert labels["zone"] == "z" * 64
    assert "request" not in labels


def test_vigil_metrics_are_not_scored():
    scorer = MetricAnomalies(warmup_points=2, drift_metrics=frozenset({"vigil.anomaly.score"}))
    for i in range(5):
        own = gauge(SCORE_METRIC, [(T0 + i * MINUTE, 0.1 * i)], {"metric.name": "x"})
        sidecar = gauge("vigil_sidecar_items_total", [(T0 + i * MINUTE, float(i))])
        anomalies, side = scorer.score(request(own, sidecar))
        assert anomalies == [] and side is None
    assert len(scorer) == 0


def test_replayed_points_are_not_learned_twice():
    scorer = MetricAnomalies(warmup_points=5)
    first = request(gauge("queue.depth", [(T0 + i * MINUTE, 5.0) for i in range(4)]))
    scorer.score(first)
    scorer.score(first)  # a retried export
    _, side = scorer.score(request(gauge("queue.depth", [(T0 + 4 * MINUTE, 5.0)])))
    assert side is None  # 5 points seen: the fifth is still warm-up


def test_state_survives_a_restart_through_the_state_store(tmp_path):
    scorer = MetricAnomalies(drift_metrics=frozenset({"queue.depth"}))
    steady(scorer, 60)
    store = StateStore(tmp_path / "state")
    store.save("metrics", scorer)

    restarted = MetricAnomalies(drift_metrics=frozenset({"queue.depth"}))
    assert store.load("metrics", restarted)
    assert len(restarted) == 1
    # no warm-up again: the next point is scored at once, and a jump is still a jump
    _, side = restarted.score(request(gauge("queue.depth", [(T0 + 60 * MINUTE, 101.0)], ROUTE)))
    assert scores_of(side)[0] < 0.2
    anomalies, _ = restarted.score(request(gauge("queue.depth", [(T0 + 61 * MINUTE, 1000.0)], ROUTE)))
    assert len(anomalies) == 1


def test_restore_into_a_smaller_scorer_keeps_the_most_recent_series():
    def export(minute: int, numbers: range):
        metric = gauge_series(
            "g", T0 + minute * MINUTE, [1.0] * len(numbers), [{"n": str(n)} for n in numbers]
        )
        return scorer.score(request(metric))[1]

    scorer = MetricAnomalies(warmup_points=2)
    for minute in range(3):
        export(minute, range(10))
    small = MetricAnomalies(max_series=4, warmup_points=2)
    small.restore(scorer.snapshot())
    assert len(small) == 4
    scorer = small
    assert sorted(labels["n"] for labels, _ in points_of(export(3, range(6, 10)), SCORE_METRIC)) == [
        "6",
        "7",
        "8",
        "9",
    ]
    assert export(3, range(1)) is None  # series 0 was dropped: warming up again


def test_drift_of_a_chosen_metric_is_exported_and_a_shift_is_an_anomaly():
    scorer = MetricAnomalies(
        drift_metrics=frozenset({"model.score"}), drift_window_seconds=3600, drift_min_samples=300
    )
    rng = np.random.default_rng(5)

    def hour(h: int, mean: float):
        results = []
        for m in range(60):  # ten model instances, one point each per minute: 600 values an hour
            t = T0 + h * HOUR + m * MINUTE
            values = rng.normal(mean, 1.0, 10)
            results.append(
                scorer.score(
                    request(gauge_series("model.score", t, values, [{"i": str(i)} for i in range(10)]))
                )
            )
        return results

    hour(0, 0.0)
    same = hour(1, 0.0)
    psi = [value for _, side in same for _, value in points_of(side, PSI_METRIC)]
    assert psi and max(psi) < 0.25
    assert not [a for anomalies, _ in same for a in anomalies if a.reasons == (Reason.DRIFT.value,)]
    shifted = hour(2, 1.0)
    drift_events = [a for anomalies, _ in shifted for a in anomalies if a.reasons == (Reason.DRIFT.value,)]
    assert len(drift_events) == 1  # once per window
    assert drift_events[0].subject == "model.score" and drift_events[0].score >= 0.5
    [(labels, last_psi)] = points_of(shifted[-1][1], PSI_METRIC)
    [(_, last_kl)] = points_of(shifted[-1][1], KL_METRIC)
    assert labels == {"metric.name": "model.score", "service.name": "shop"}
    assert last_psi > 0.25 and last_kl > 0.1


def test_histogram_drift_uses_bucket_counts():
    bounds = [0.25, 0.5, 0.75]
    scorer = MetricAnomalies(drift_metrics=frozenset({"model.prediction"}), drift_min_samples=300)
    results = []
    for h, buckets in enumerate([[100, 100, 100, 100], [100, 100, 100, 100], [10, 40, 150, 200]]):
        for m in range(6):
            point = (T0 + h * HOUR + m * 10 * MINUTE, 400, 200.0, buckets)
            results.append(
                scorer.score(request(histogram("model.prediction", [point], bounds, temporality=DELTA)))
            )
    psi = [value for _, side in results for _, value in points_of(side, PSI_METRIC)]
    assert max(psi[:6]) < 0.01  # the second hour: same distribution
    assert psi[-1] > 0.25
    assert [a.reasons for anomalies, _ in results for a in anomalies if a.reasons[0] == "drift"] == [
        ("drift",)
    ]


def test_points_without_a_time_or_value_are_skipped():
    scorer = MetricAnomalies(warmup_points=2)
    metric = gauge("queue.depth", [(0, 5.0)])
    metric.gauge.data_points.add(time_unix_nano=T0, as_double=1.0, flags=1)
    assert scorer.score(request(metric)) == ([], None)
    assert len(scorer) == 0


@pytest.mark.parametrize("bad", [0, -1])
def test_max_series_must_be_positive(bad):
    with pytest.raises(ValueError):
        MetricAnomalies(max_series=bad)


def test_non_finite_values_are_neither_scored_nor_learned():
    scorer = MetricAnomalies(warmup_points=3)
    for i, value in enumerate([5.0, 5.0, float("nan"), 5.0, float("inf"), 5.0]):
        _, side = scorer.score(request(gauge("queue.depth", [(T0 + i * MINUTE, value)])))
    assert scores_of(side) == [0.0]
    anomalies, _ = scorer.score(request(gauge("queue.depth", [(T0 + 6 * MINUTE, 50.0)])))
    assert len(anomalies) == 1


def test_daily_cycle_uses_event_time_from_the_points():
    """Three days of an hourly pattern, replayed in one go: the peak at 15:00 is normal, the same
    value at 03:00 is not."""
    scorer = MetricAnomalies()
    rng = np.random.default_rng(6)

    def level(t: int) -> float:
        return 100.0 + 80.0 * np.sin(2 * np.pi * ((t / HOUR) % 24 - 9.0) / 24.0)

    for hour in range(72):  # one request per hour of event time, a point every 5 minutes
        times = [T0 + hour * HOUR + k * 5 * MINUTE for k in range(12)]
        points = [(t, level(t) * (1.0 + rng.normal(0.0, 0.02))) for t in times]
        anomalies, _ = scorer.score(request(gauge("orders.rate", points)))
        if hour >= 48:
            assert anomalies == []
    peak = level(T0 + 3 * 24 * HOUR + 15 * HOUR)
    anomalies, _ = scorer.score(request(gauge("orders.rate", [(T0 + 3 * 24 * HOUR + 15 * HOUR, peak)])))
    assert anomalies == []
    anomalies, _ = scorer.score(request(gauge("orders.rate", [(T0 + 4 * 24 * HOUR + 3 * HOUR, peak)])))
    assert [a.reasons for a in anomalies] == [(Reason.LEVEL.value,)]
