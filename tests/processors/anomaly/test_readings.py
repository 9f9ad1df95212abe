"""What is scored of each data point: counter rates across resets, delta sums, histogram intervals."""

from __future__ import annotations

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    HistogramDataPoint,
    NumberDataPoint,
    SummaryDataPoint,
)

from tests.processors.anomaly.metric_requests import SECOND, T0
from vigil.processors.anomaly.readings import (
    Cursor,
    histogram_interval,
    quantile,
    sum_value,
    summary_interval,
)


def rates(points: list[tuple[int, int, int]], cumulative: bool = True, monotonic: bool = True) -> list:
    """Values of sum points given as ``(time, start, value)``, in order."""
    cursor = Cursor()
    return [
        sum_value(
            NumberDataPoint(time_unix_nano=t, start_time_unix_nano=s, as_int=v), cursor, cumulative, monotonic
        )
        for t, s, v in points
    ]


def test_cumulative_counter_becomes_a_rate_and_survives_a_reset():
    start = T0 - 100 * SECOND
    restart = T0 + 25 * SECOND
    got = rates(
        [
            (T0, start, 1000),
            (T0 + 10 * SECOND, start, 1100),  # +100 in 10 s
            (T0 + 20 * SECOND, start, 1300),  # +200 in 10 s
            (T0 + 30 * SECOND, restart, 50),  # process restarted at +25 s: 50 since then, in 5 s
            (T0 + 40 * SECOND, restart, 150),
        ]
    )
    assert got == [None, pytest.approx(10.0), pytest.approx(20.0), pytest.approx(10.0), pytest.approx(10.0)]


def test_a_counter_that_drops_without_a_start_time_counts_its_value_as_the_increase():
    got = rates([(T0, 0, 500), (T0 + 10 * SECOND, 0, 600), (T0 + 20 * SECOND, 0, 40)])
    assert got == [None, pytest.approx(10.0), pytest.approx(4.0)]


def test_delta_sums_are_per_second_and_up_down_counters_are_levels():
    start = T0 - 20 * SECOND
    assert rates([(T0, start, 60)], cumulative=False) == [pytest.approx(3.0)]
    # no start time: since the previous point; the first has no rate
    assert rates([(T0, 0, 60), (T0 + 30 * SECOND, 0, 60)], cumulative=False) == [None, pytest.approx(2.0)]
    assert rates([(T0, 0, 7), (T0 + SECOND, 0, 3)], monotonic=False) == [7.0, 3.0]


def test_cumulative_histogram_intervals_are_differences_and_restart_on_reset():
    bounds = [10.0, 100.0, 1000.0]
    cursor = Cursor()

    def point(t: int, count: int, total: float, buckets: list[int], start: int = T0 - SECOND):
        return HistogramDataPoint(
            time_unix_nano=t,
            start_time_unix_nano=start,
            count=count,
            sum=total,
            bucket_counts=buckets,
            explicit_bounds=bounds,
        )

    assert histogram_interval(point(T0, 10, 500.0, [2, 8, 0, 0]), cursor, True) is None
    interval = histogram_interval(point(T0 + SECOND, 30, 4500.0, [2, 8, 15, 5]), cursor, True)
    assert (interval.count, interval.total, interval.buckets) == (20, 4000.0, (0, 0, 15, 5))
    assert interval.mean == pytest.approx(200.0)
    assert interval.percentile == 1000.0  # in the overflow bucket: its lower bound
    # a reset: fewer observations than before; the point is its own interval
    interval = histogram_interval(point(T0 + 2 * SECOND, 4, 100.0, [2, 2, 0, 0]), cursor, True)
    assert (interval.count, interval.mean, interval.buckets) == (4, 25.0, (2, 2, 0, 0))


def test_delta_histograms_and_summaries():
    cursor = Cursor()
    point = HistogramDataPoint(
        time_unix_nano=T0, count=4, sum=40.0, bucket_counts=[4, 0], explicit_bounds=[20.0]
    )
    interval = histogram_interval(point, cursor, cumulative=False)
    assert interval.mean == 10.0
    assert interval.percentile == pytest.approx(19.0)  # 95 % of the way through (0, 20]
    no_sum = HistogramDataPoint(
        time_unix_nano=T0 + SECOND, count=4, bucket_counts=[4, 0], explicit_bounds=[20.0]
    )
    assert histogram_interval(no_sum, cursor, cumulative=False).mean is None

    cursor = Cursor()
    assert summary_interval(SummaryDataPoint(time_unix_nano=T0, count=10, sum=100.0), cursor) is None
    interval = summary_interval(SummaryDataPoint(time_unix_nano=T0 + SECOND, count=30, sum=700.0), cursor)
    assert interval.mean == pytest.approx(30.0)


def test_quantile_interpolates_inside_its_bucket():
    assert quantile([1.0, 2.0, 4.0], [0, 10, 10, 0], 0.5) == pytest.approx(2.0)
    assert quantile([1.0, 2.0, 4.0], [0, 10, 10, 0], 0.75) == pytest.approx(3.0)
    assert quantile([1.0, 2.0], [0, 0, 0], 0.95) is None
    assert quantile([-5.0, 5.0], [10, 0, 0], 0.5) == pytest.approx(-5.0)
