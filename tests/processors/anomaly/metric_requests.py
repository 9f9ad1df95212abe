"""OTLP metrics requests for the metric anomaly tests: gauges, counters and histograms at chosen
event times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality, Metric

T0 = 1_700_006_400 * 10**9  # Wednesday 2023-11-15 00:00 UTC
MONDAY = 1_699_833_600 * 10**9  # Monday 2023-11-13 00:00 UTC
SECOND = 10**9
MINUTE = 60 * SECOND
HOUR = 3600 * SECOND
DAY = 24 * HOUR
CUMULATIVE = AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA

Attributes = Mapping[str, str | int | float | bool]


def key_values(attributes: Attributes) -> list[KeyValue]:
    out = []
    for key, value in attributes.items():
        if isinstance(value, bool):
            any_value = AnyValue(bool_value=value)
        elif isinstance(value, int):
            any_value = AnyValue(int_value=value)
        elif isinstance(value, float):
            any_value = AnyValue(double_value=value)
        else:
            any_value = AnyValue(string_value=value)
        out.append(KeyValue(key=key, value=any_value))
    return out


def request(
    *metrics: Metric, service: str = "shop", resource: Attributes | None = None
) -> ExportMetricsServiceRequest:
    """One resource (``service.name`` = ``service``) with ``metrics`` in one scope."""
    out = ExportMetricsServiceRequest()
    resource_metrics = out.resource_metrics.add()
    resource_metrics.resource.attributes.extend(key_values({"service.name": service, **(resource or {})}))
    resource_metrics.scope_metrics.add().metrics.extend(metrics)
    return out


def gauge(name: str, points: Iterable[tuple[int, float]], attributes: Attributes | None = None) -> Metric:
    """A gauge whose points are ``(time_unix_nano, value)``, all of one series."""
    metric = Metric(name=name)
    for time, value in points:
        metric.gauge.data_points.add(
            time_unix_nano=time, as_double=value, attributes=key_values(attributes or {})
        )
    return metric


def gauge_series(name: str, time: int, values: Sequence[float], attributes: Sequence[Attributes]) -> Metric:
    """A gauge with one point per series at ``time``: ``values[i]`` for ``attributes[i]``."""
    metric = Metric(name=name)
    for value, attrs in zip(values, attributes, strict=True):
        metric.gauge.data_points.add(
            time_unix_nano=time, as_double=float(value), attributes=key_values(attrs)
        )
    return metric


def counter(
    name: str,
    points: Iterable[tuple[int, float]],
    start: int = 0,
    temporality: int = CUMULATIVE,
    monotonic: bool = True,
    attributes: Attributes | None = None,
) -> Metric:
    """A sum whose points are ``(time_unix_nano, value)``."""
    metric = Metric(name=name)
    metric.sum.aggregation_temporality = temporality
    metric.sum.is_monotonic = monotonic
    for time, value in points:
        metric.sum.data_points.add(
            time_unix_nano=time,
            start_time_unix_nano=start,
            as_int=int(value),
            attributes=key_values(attributes or {}),
        )
    return metric


def histogram(
    name: str,
    points: Iterable[tuple[int, int, float, Sequence[int]]],
    bounds: Sequence[float],
    start: int = 0,
    temporality: int = CUMULATIVE,
    attributes: Attributes | None = None,
) -> Metric:
    """A histogram whose points are ``(time_unix_nano, count, sum, bucket_counts)``."""
    metric = Metric(name=name)
    metric.histogram.aggregation_temporality = temporality
    for time, count, total, buckets in points:
        metric.histogram.data_points.add(
            time_unix_nano=time,
            start_time_unix_nano=start,
            count=count,
            sum=total,
            bucket_counts=list(buckets),
            explicit_bounds=list(bounds),
            attributes=key_values(attributes or {}),
        )
    return metric


def points_of(
    side_output: ExportMetricsServiceRequest | None, name: str
) -> list[tuple[dict[str, str], float]]:
    """The ``(attributes, value)`` of every point of gauge ``name`` in a side output."""
    if side_output is None:
        return []
    found = []
    for resource_metrics in side_output.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    for point in metric.gauge.data_points:
                        attrs = {kv.key: kv.value.string_value for kv in point.attributes}
                        found.append((attrs, point.as_double))
    return found
