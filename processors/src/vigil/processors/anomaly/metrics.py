"""``MetricAnomalies``: an anomaly score for every metric series, and distribution drift of chosen
metrics, written as metrics of their own.

What is scored
--------------
Every data point of gauges, sums, histograms, exponential histograms and summaries, as the value
:mod:`.readings` takes from it (a counter's rate, a histogram's mean and 95th percentile ...),
against its series' baseline (:mod:`.series`: a robust level and spread, by hour of the day after
2 days of data and of the week after 7). A series is a resource's ``service.name``, a metric name
and a point's attributes. Its first ``warmup_points`` points have no score. Metrics named
``vigil.*`` or ``vigil_*`` (Vigil's own, including the scores below) are never scored: no feedback
loop. The request itself is left untouched (an attribute added to a data point would make it
another series downstream).

The surprise, in robust standard deviations from the baseline (widened for series with heavy
tails, see :mod:`.series`), is calibrated with ``at_half = 5``: a point 5 sigmas away scores 0.5,
10 sigmas 0.8. Five rather than the four of span latency because every point of every series is
judged, and metric noise is rarely normal.

What it writes
--------------
A side-output ``ExportMetricsServiceRequest``, under each scored point's original resource, scope
``vigil.processors.anomaly``:

============================  ===================================================================
``vigil.anomaly.score``       gauge, 0..1: one point per scored series per request (its highest
                              score in the request, at that point's time), with attributes
                              ``metric.name``, ``service.name`` and at most 5 of the series' own
                              attributes, id-like values left out (:mod:`.series_labels`), so its
                              cardinality stays bounded.
``vigil.anomaly.drift.psi``   gauge: the population stability index of each drift metric's
                              current window against its reference (:mod:`.drift`), attributes
                              ``metric.name`` and ``service.name``.
``vigil.anomaly.drift.kl``    gauge: the KL divergence, same attributes.
============================  ===================================================================

and an :class:`~vigil.processors.anomaly.output.Anomaly` for every data point scored >= 0.5
(reason ``level``, subject ``metric{attributes}``, followed by ``p95`` for a histogram's
percentile), and for every drift metric whose PSI reaches 0.25 (score 0.5; reason ``drift``, once
per window; subject the metric's name).

Memory
------
At most ``max_series`` series (a histogram's percentile is a series of its own) are followed; a
new series beyond evicts the one seen least recently, so any number of series costs bounded
memory: about 2.5 KB per series (baselines ~2 KB, key and cursor), 25 MB at the default 10,000.
Drift follows at most 1,000 metric x service pairs.

Time is the data points' own (``time_unix_nano``): replaying recorded telemetry scores as live
scoring did. Points without a time, flagged "no recorded value", or with a NaN or infinite value
are skipped. The learned state is saved and restored through
:meth:`MetricAnomalies.snapshot` / :meth:`MetricAnomalies.restore`
(:class:`~vigil.processors.anomaly.state.Stateful`).

Cost: decoding the points and finding their series is a little Python per point; scoring and
learning run once per request, vectorised over all its points (a series with several points in
one request takes one vectorised turn per point).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from google.protobuf.message import Message
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Gauge,
    NumberDataPoint,
    ScopeMetrics,
)

from vigil.processors.anomaly.calibration import calibrate
from vigil.processors.anomaly.drift import Drift, DriftMonitor, DriftSettings
from vigil.processors.anomaly.output import SCOPE, THRESHOLD, Anomaly, Reason
from vigil.processors.anomaly.readings import (
    NO_RECORDED_VALUE,
    Cursor,
    histogram_interval,
    number,
    sum_value,
    summary_interval,
)
from vigil.processors.anomaly.series import BaselineSettings, SeriesBaselines
from vigil.processors.anomaly.series_labels import (
    METRIC_NAME,
    SERVICE_NAME,
    Labels,
    attribute_key,
    bounded_labels,
    describe,
    service_name,
)
from vigil.processors.otlp_attributes import text
from vigil.processors.signals import Signal

SCORE_METRIC = "vigil.anomaly.score"
PSI_METRIC = "vigil.anomaly.drift.psi"
KL_METRIC = "vigil.anomaly.drift.kl"
LEVEL_AT_HALF = 5.0
"""Robust sigmas from the baseline that score 0.5."""
OWN_PREFIXES = ("vigil.", "vigil_")
PERCENTILE = "p95"
STATE_VERSION = 1

_logger = logging.getLogger(__name__)

_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_SeriesKey = tuple[str, str, tuple[bytes, ...], str]  # service, metric, attributes, statistic
_LEVEL = (Reason.LEVEL.value,)
_NOTHING = (-1.0, 0, None)
_SCORE_DESCRIPTION = "Anomaly score of the metric series, 0..1, >= 0.5 anomalous"
_PSI_DESCRIPTION = "Population stability index of the metric, current window against the reference"
_KL_DESCRIPTION = "KL divergence of the metric's current window from the reference"


def _by_origin(item: tuple[tuple[int, Any], Any]) -> int:
    return item[0][0]


def _psi(drift: Drift) -> float:
    return drift.psi


def _kl(drift: Drift) -> float:
    return drift.kl


class _Output:
    """How a series is written: its gauge point's attributes (a template, copied per point, is
    much cheaper than building attributes each time) and its name in events."""

    __slots__ = ("key", "subject", "template")

    def __init__(self, name: str, service: str, statistic: str, labels: Labels) -> None:
        self.key = (name, service, labels)
        """Series sharing it share one gauge point per request."""
        self.subject = describe(name, labels) + (f" {statistic}" if statistic else "")
        attributes = [text(METRIC_NAME, name), text(SERVICE_NAME, service)]
        attributes.extend(text(key, value) for key, value in labels)
        self.template = NumberDataPoint(attributes=attributes)


class _Series:
    """One followed series: its row of baselines, its cursor, and how it is written (lazily)."""

    __slots__ = ("cursor", "key", "output", "row")

    def __init__(self, key: _SeriesKey, row: int, cursor: Cursor | None = None) -> None:
        self.key = key
        self.row = row
        self.cursor = cursor or Cursor()
        self.output: _Output | None = None


@dataclass
class _Pass:
    """One request's points on their way to the baselines, and what came out so far."""

    resources: list[Message] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    origins: list[int] = field(default_factory=list)  # index of the point's resource
    touched: set[int] = field(default_factory=set)
    # (resource index, output key) -> (score, time, output)
    best: dict[tuple[int, tuple[str, str, Labels]], tuple[float, int, _Output]] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)
    drift_values: dict[tuple[str, str], tuple[list[int], list[float]]] = field(default_factory=dict)
    drift_origin: dict[tuple[str, str], int] = field(default_factory=dict)

    def add(self, series: _Series, time: int, value: float, origin: int) -> None:
        self.rows.append(series.row)
        self.times.append(time)
        self.values.append(value)
        self.origins.append(origin)
        self.touched.add(series.row)


class MetricAnomalies:
    """Scores metric series and measures drift (see the module docstring)."""

    def __init__(
        self,
        *,
        max_series: int = 10000,
        warmup_points: int = 30,
        window_points: int = 200,
        bucket_min_points: int = 8,
        relative_floor: float = 0.01,
        at_half: float = LEVEL_AT_HALF,
        histogram_percentile: bool = True,
        attribute_keys_limit: int = 5,
        attribute_value_limit: int = 64,
        drift_metrics: frozenset[str] = frozenset(),
        drift_window_seconds: float = 3600.0,
        drift_min_samples: int = 300,
        drift_bins: int = 10,
        drift_reference: Literal["previous", "fixed"] = "previous",
    ) -> None:
        if max_series < 1:
            raise ValueError("max_series must be at least 1")
        self.max_series = max_series
        self.at_half = at_half
        self.histogram_percentile = histogram_percentile
        self.attribute_keys_limit = attribute_keys_limit
        self.attribute_value_limit = attribute_value_limit
        self.drift_metrics = frozenset(drift_metrics)
        self._baselines = SeriesBaselines(
            BaselineSettings(
                warmup_points=warmup_points,
                window_points=window_points,
                bucket_min_points=bucket_min_points,
                relative_floor=relative_floor,
            ),
            capacity=min(max_series, 1024),
            max_capacity=max_series,
        )
        self._drift = DriftMonitor(
            DriftSettings(
                window_seconds=drift_window_seconds,
                min_samples=drift_min_samples,
                bins=drift_bins,
                reference=drift_reference,
            )
        )
        self._index: OrderedDict[_SeriesKey, _Series] = OrderedDict()  # least recently seen first
        self._rows: list[_Series] = []  # by row

    def __len__(self) -> int:
        """Series followed now (at most ``max_series``)."""
        return len(self._index)

    def score(
        self, request: ExportMetricsServiceRequest
    ) -> tuple[list[Anomaly], ExportMetricsServiceRequest | None]:
        """Score and learn every data point of ``request``; return the anomalies found and the
        side-output request of scores and drift measures (None when there is nothing to write)."""
        work = _Pass()
        for resource_metrics in request.resource_metrics:
            origin = len(work.resources)
            work.resources.append(resource_metrics.resource)
            service = service_name(resource_metrics.resource)
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if not metric.name.startswith(OWN_PREFIXES):
                        self._read(metric, service, origin, work)
        self._flush(work)
        drifts = self._measure_drift(work)
        return work.anomalies, self._side_output(work, drifts)

    def _read(self, metric: Message, service: str, origin: int, work: _Pass) -> None:
        """Turn a metric's points into values of their series (see :mod:`.readings`)."""
        name = metric.name
        kind = metric.WhichOneof("data")
        drift_key = (service, name) if name in self.drift_metrics else None
        drift_times: list[int] | None = None
        drift_values: list[float] = []
        if drift_key is not None and kind in ("gauge", "sum"):
            drift_times, drift_values = work.drift_values.setdefault(drift_key, ([], []))
        if drift_key is not None:
            work.drift_origin[drift_key] = origin
        if kind == "gauge" or kind == "sum":
            data = metric.gauge if kind == "gauge" else metric.sum
            gauge = kind == "gauge"
            cumulative = not gauge and data.aggregation_temporality != _DELTA
            monotonic = not gauge and data.is_monotonic
            # the hot loop: one lookup per point, the known-series path inlined
            index, move_to_end = self._index, self._index.move_to_end
            rows, times, values, origins, touched = (
                work.rows,
                work.times,
                work.values,
                work.origins,
                work.touched,
            )
            for point in data.data_points:
                time = point.time_unix_nano
                if not time or point.flags & NO_RECORDED_VALUE:
                    continue
                key = (service, name, attribute_key(point.attributes), "")
                series = index.get(key)
                if series is None:
                    series = self._series(*key, work)
                else:
                    move_to_end(key)
                cursor = series.cursor
                if time <= cursor.time:
                    continue
                if gauge:
                    cursor.time = time
                    value: float | None = number(point)
                else:
                    value = sum_value(point, cursor, cumulative, monotonic)
                if value is not None:
                    rows.append(series.row)
                    times.append(time)
                    values.append(value)
                    origins.append(origin)
                    touched.add(series.row)
                    if drift_times is not None:
                        drift_times.append(time)
                        drift_values.append(value)
        elif kind == "histogram" or kind == "exponential_histogram" or kind == "summary":
            data = getattr(metric, kind)
            cumulative = kind == "summary" or data.aggregation_temporality != _DELTA
            for point in data.data_points:
                time = point.time_unix_nano
                if not time or point.flags & NO_RECORDED_VALUE:
                    continue
                attributes = attribute_key(point.attributes)
                series = self._series(service, name, attributes, "", work)
                if time <= series.cursor.time:
                    continue
                if kind == "histogram":
                    interval = histogram_interval(point, series.cursor, cumulative)
                else:
                    interval = summary_interval(point, series.cursor, cumulative)
                if interval is None:
                    continue
                mean = interval.mean
                if mean is not None:
                    work.add(series, time, mean, origin)
                if kind != "histogram" or not interval.buckets:
                    continue
                if self.histogram_percentile:
                    percentile = interval.percentile
                    if percentile is not None:
                        tail = self._series(service, name, attributes, PERCENTILE, work)
                        work.add(tail, time, percentile, origin)
                if drift_key is not None:
                    self._drift.add_buckets(drift_key, time, interval.bounds, interval.buckets)

    def _series(
        self, service: str, name: str, attributes: tuple[bytes, ...], statistic: str, work: _Pass
    ) -> _Series:
        """The series of a point, made (evicting the coldest when full) if new."""
        key = (service, name, attributes, statistic)
        series = self._index.get(key)
        if series is not None:
            self._index.move_to_end(key)
            return series
        if len(self._index) >= self.max_series:
            _, coldest = self._index.popitem(last=False)
            row = coldest.row
            if row in work.touched:
                self._flush(work)  # its pending points must be scored before the row changes hands
            self._baselines.reset([row])
            series = self._rows[row] = _Series(key, row)
        else:
            row = len(self._rows)
            self._baselines.ensure(row + 1)
            series = _Series(key, row)
            self._rows.append(series)
        self._index[key] = series
        return series

    def _flush(self, work: _Pass) -> None:
        """Score and learn the pending points, all at once."""
        if not work.rows:
            return
        rows = np.asarray(work.rows, dtype=np.intp)
        seconds = np.asarray(work.times, dtype=np.int64) / 1e9
        values = np.asarray(work.values, dtype=np.float64)
        finite = np.isfinite(values)
        if finite.all():
            surprise = self._baselines.observe(rows, seconds, values)
        else:  # a NaN or infinity would poison the baseline for good: not learned, not scored
            surprise = np.full(len(values), np.nan)
            surprise[finite] = self._baselines.observe(rows[finite], seconds[finite], values[finite])
        scores = calibrate(surprise, self.at_half)
        best = work.best
        for i in np.flatnonzero(~np.isnan(surprise)).tolist():
            series = self._rows[work.rows[i]]
            output = series.output or self._output(series)
            score, time, origin = float(scores[i]), work.times[i], work.origins[i]
            where = (origin, output.key)
            if score > best.get(where, _NOTHING)[0]:
                best[where] = (score, time, output)
            if score >= THRESHOLD:
                work.anomalies.append(
                    Anomaly(
                        signal=Signal.METRICS,
                        score=score,
                        reasons=_LEVEL,
                        subject=output.subject,
                        resource=work.resources[origin],
                        time_unix_nano=time,
                    )
                )
        for pending in (work.rows, work.times, work.values, work.origins):
            pending.clear()  # in place: the reading loop holds them
        work.touched.clear()

    def _output(self, series: _Series) -> _Output:
        service, name, attributes, statistic = series.key
        labels = bounded_labels(attributes, self.attribute_keys_limit, self.attribute_value_limit)
        series.output = _Output(name, service, statistic, labels)
        return series.output

    def _measure_drift(self, work: _Pass) -> list[tuple[int, str, str, Drift]]:
        for key, (times, values) in work.drift_values.items():
            if times:
                self._drift.add_values(key, times, values)
        measured = []
        for (service, name), origin in work.drift_origin.items():
            drift = self._drift.measure((service, name))
            if drift is None:
                continue
            measured.append((origin, service, name, drift))
            if drift.new_alarm:
                work.anomalies.append(
                    Anomaly(
                        signal=Signal.METRICS,
                        score=drift.score,
                        reasons=(Reason.DRIFT.value,),
                        subject=name,
                        resource=work.resources[origin],
                        time_unix_nano=drift.time_unix_nano,
                    )
                )
        return measured

    def _side_output(
        self, work: _Pass, drifts: list[tuple[int, str, str, Drift]]
    ) -> ExportMetricsServiceRequest | None:
        if not work.best and not drifts:
            return None
        # Built in place: a message appended or passed to a constructor is copied, points and all.
        request = ExportMetricsServiceRequest()
        scopes: dict[int, ScopeMetrics] = {}

        def metric(origin: int, name: str, description: str) -> Gauge:
            scope = scopes.get(origin)
            if scope is None:
                resource_metrics = request.resource_metrics.add()
                resource_metrics.resource.CopyFrom(work.resources[origin])
                scope = scopes[origin] = resource_metrics.scope_metrics.add()
                scope.scope.CopyFrom(SCOPE)
            return scope.metrics.add(name=name, unit="1", description=description).gauge

        gauges: dict[int, Gauge] = {}
        for (origin, _), (score, time, output) in sorted(work.best.items(), key=_by_origin):
            gauge = gauges.get(origin)
            if gauge is None:
                gauge = gauges[origin] = metric(origin, SCORE_METRIC, _SCORE_DESCRIPTION)
            point = gauge.data_points.add()
            point.CopyFrom(output.template)
            point.time_unix_nano = time
            point.as_double = round(score, 4)
        for name, description, measure in (
            (PSI_METRIC, _PSI_DESCRIPTION, _psi),
            (KL_METRIC, _KL_DESCRIPTION, _kl),
        ):
            gauges = {}
            for origin, service, metric_name, drift in drifts:
                gauge = gauges.get(origin)
                if gauge is None:
                    gauge = gauges[origin] = metric(origin, name, description)
                gauge.data_points.add(
                    time_unix_nano=drift.time_unix_nano,
                    as_double=measure(drift),
                    attributes=[text(METRIC_NAME, metric_name), text(SERVICE_NAME, service)],
                )
        return request

    def snapshot(self) -> dict[str, Any]:
        """Series (coldest first) with their cursors and baselines, and the drift windows."""
        followed = list(self._index.values())
        return {
            "version": STATE_VERSION,
            "series": [(series.key, series.cursor.state()) for series in followed],
            "baselines": self._baselines.snapshot([series.row for series in followed]),
            "drift": self._drift.snapshot(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a :meth:`snapshot`; beyond ``max_series``, the coldest series are dropped."""
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            _logger.warning("ignoring saved metric baselines: not version %d", STATE_VERSION)
            return
        saved = state["series"]
        keep = min(len(saved), self.max_series)
        first = len(saved) - keep
        baselines = {name: values[first:] for name, values in state["baselines"].items()}
        self._baselines.restore(baselines)
        self._rows = [
            _Series(key, row, Cursor.from_state(cursor)) for row, (key, cursor) in enumerate(saved[first:])
        ]
        self._index = OrderedDict((series.key, series) for series in self._rows)
        self._drift.restore(state["drift"])
