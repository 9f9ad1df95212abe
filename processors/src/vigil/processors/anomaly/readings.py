"""What is scored of each metric data point: a gauge's value, a counter's rate, a histogram's mean.

=============================================  ==================================================
data point                                     value scored
=============================================  ==================================================
gauge                                          its value
sum, cumulative, monotonic (a counter)         the rate: increase / seconds since the previous
                                               point; a reset (the value drops, or the start time
                                               changes) counts the new value as the increase,
                                               over the time since the new start when it lies
                                               between the two points. The first point of a
                                               series has no rate.
sum, cumulative, not monotonic (up-down)       its value, like a gauge (it is a level)
sum, delta                                     value per second of its interval (start time to
                                               time; without a start time, since the series'
                                               previous point)
histogram                                      the mean of the interval's observations (sum /
                                               count of the delta; cumulative points differenced,
                                               resets as for counters) and the 95th percentile
                                               interpolated in its buckets (scored as a series of
                                               its own)
exponential histogram, summary                 the mean, as for histograms (no percentile)
=============================================  ==================================================

An interval with no observations has no mean; a point flagged "no recorded value" is skipped.
Times are the points' own (``time_unix_nano``, event time): a series' point not newer than its
previous one (a retried or replayed export) is ignored, so it never counts twice.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from itertools import accumulate
from operator import sub
from typing import Any, NamedTuple

from google.protobuf.message import Message

NO_RECORDED_VALUE = 1  # DataPointFlags.DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK
NANOS = 1e9
PERCENTILE = 0.95


class Cursor:
    """A series' previous reading: what rates and cumulative differences are taken from."""

    __slots__ = ("buckets", "count", "start", "time", "total", "value")

    def __init__(self) -> None:
        self.time = 0
        """Event time of the series' latest point (ns), 0 before the first."""
        self.start = 0
        self.value = 0.0
        self.count = 0
        self.total = 0.0
        self.buckets: tuple[tuple[float, ...], tuple[int, ...]] | None = None
        """A cumulative histogram's (bounds, bucket counts)."""

    def state(self) -> tuple[Any, ...]:
        return (self.time, self.start, self.value, self.count, self.total, self.buckets)

    @classmethod
    def from_state(cls, state: Sequence[Any]) -> Cursor:
        cursor = cls()
        cursor.time, cursor.start, cursor.value, cursor.count, cursor.total, cursor.buckets = state
        return cursor


class Interval(NamedTuple):
    """A histogram's (or summary's) observations between two points."""

    count: int
    total: float | None
    """Their sum, when the point reports one."""
    bounds: tuple[float, ...] = ()
    buckets: tuple[int, ...] = ()

    @property
    def mean(self) -> float | None:
        if self.count <= 0 or self.total is None:
            return None
        return self.total / self.count

    @property
    def percentile(self) -> float | None:
        return quantile(self.bounds, self.buckets, PERCENTILE) if self.buckets else None


def number(point: Message) -> float:
    """A gauge or sum point's value, int or double."""
    return point.as_int if point.WhichOneof("value") == "as_int" else point.as_double


def sum_value(point: Message, cursor: Cursor, cumulative: bool, monotonic: bool) -> float | None:
    """The value scored for a sum point (see the module docstring); moves ``cursor`` on."""
    value = float(number(point))
    time, start = point.time_unix_nano, point.start_time_unix_nano
    previous_time, previous_value, previous_start = cursor.time, cursor.value, cursor.start
    cursor.time, cursor.value, cursor.start = time, value, start
    if cumulative and not monotonic:
        return value
    if not cumulative:
        if 0 < start < time:
            return value * NANOS / (time - start)
        return value * NANOS / (time - previous_time) if previous_time else None
    if not previous_time:
        return None
    if value < previous_value or (start and previous_start and start != previous_start):
        since = start if previous_time < start < time else previous_time
        return value * NANOS / (time - since)
    return (value - previous_value) * NANOS / (time - previous_time)


def histogram_interval(point: Message, cursor: Cursor, cumulative: bool) -> Interval | None:
    """The observations of an explicit-bucket histogram point since the series' previous point
    (the point itself when delta); None for a cumulative series' first point."""
    bounds = tuple(point.explicit_bounds)
    buckets = tuple(point.bucket_counts)
    if len(buckets) != len(bounds) + 1:
        buckets = ()  # malformed or bucketless: mean only
    total = point.sum if point.HasField("sum") else None
    if not cumulative:
        cursor.time = point.time_unix_nano
        return Interval(point.count, total, bounds, buckets)
    previous = _advance(cursor, point, total)
    previous_buckets = cursor.buckets
    cursor.buckets = (bounds, buckets)
    if previous is None:
        return None
    previous_count, previous_total, reset = previous
    if reset:
        return Interval(point.count, total, bounds, buckets)
    if previous_buckets is None or previous_buckets[0] != bounds or len(previous_buckets[1]) != len(buckets):
        delta_buckets: tuple[int, ...] = ()  # boundaries changed: no percentile this time
    else:
        delta_buckets = tuple(map(sub, buckets, previous_buckets[1]))
        if min(delta_buckets) < 0:
            delta_buckets = ()
    delta_total = None if total is None or previous_total is None else total - previous_total
    return Interval(point.count - previous_count, delta_total, bounds, delta_buckets)


def summary_interval(point: Message, cursor: Cursor, cumulative: bool = True) -> Interval | None:
    """Count and sum since the previous point, for summaries and exponential histograms."""
    total = point.sum if _has_sum(point) else None
    if not cumulative:
        cursor.time = point.time_unix_nano
        return Interval(point.count, total)
    previous = _advance(cursor, point, total)
    if previous is None:
        return None
    previous_count, previous_total, reset = previous
    if reset:
        return Interval(point.count, total)
    delta_total = None if total is None or previous_total is None else total - previous_total
    return Interval(point.count - previous_count, delta_total)


def _has_sum(point: Message) -> bool:
    try:
        return point.HasField("sum")
    except ValueError:  # SummaryDataPoint.sum is not optional
        return True


def _advance(cursor: Cursor, point: Message, total: float | None) -> tuple[int, float | None, bool] | None:
    """Move a cumulative series' cursor to ``point``; return the previous count and sum and
    whether the series was reset in between (None for the series' first point)."""
    previous_time, previous_start = cursor.time, cursor.start
    previous_count, previous_total = cursor.count, cursor.total
    start = point.start_time_unix_nano
    cursor.time, cursor.start, cursor.count = point.time_unix_nano, start, point.count
    cursor.total = total if total is not None else float("nan")
    if not previous_time:
        return None
    reset = point.count < previous_count or bool(start and previous_start and start != previous_start)
    return previous_count, None if previous_total != previous_total else previous_total, reset


def quantile(bounds: Sequence[float], counts: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile of bucketed observations, interpolated linearly inside its bucket (the
    first bucket from 0, or from its bound when that is not positive; the overflow bucket answers
    its lower bound, as Prometheus' ``histogram_quantile`` does). None without observations."""
    if not bounds or not counts:
        return None
    cumulative = list(accumulate(counts))
    total = cumulative[-1]
    if total <= 0:
        return None
    rank = q * total
    i = bisect_left(cumulative, rank)  # the first bucket reaching the rank: it has observations
    if i >= len(bounds):
        return float(bounds[-1])
    count = counts[i]
    upper = bounds[i]
    lower = bounds[i - 1] if i else min(0.0, upper)
    return lower + (upper - lower) * (rank - cumulative[i] + count) / count
