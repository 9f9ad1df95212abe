"""What instruments observe, collected through the SDK's in-memory reader."""

from __future__ import annotations

from dataclasses import dataclass

from opentelemetry.metrics import Meter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import Gauge, InMemoryMetricReader, Sum

Attributes = tuple[tuple[str, object], ...]


@dataclass(frozen=True)
class Reading:
    unit: str
    kind: str
    """``counter`` (monotonic sum), ``updowncounter`` (non-monotonic sum) or ``gauge``."""
    scope: str
    points: dict[Attributes, float]
    """Value by the point's attributes, as sorted (key, value) pairs."""

    def value(self, **attributes: object) -> float:
        """The value of the point with exactly these attributes (dots spelled as ``__``)."""
        key = tuple(sorted((name.replace("__", "."), value) for name, value in attributes.items()))
        return self.points[key]


class Readings:
    """A meter provider with an in-memory reader; :meth:`collect` returns what was observed."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def meter(self, name: str = "test") -> Meter:
        return self.provider.get_meter(name)

    def collect(self) -> dict[str, Reading]:
        data = self.reader.get_metrics_data()
        readings: dict[str, Reading] = {}
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    if isinstance(metric.data, Sum):
                        kind = "counter" if metric.data.is_monotonic else "updowncounter"
                    else:
                        assert isinstance(metric.data, Gauge)
                        kind = "gauge"
                    points = {
                        tuple(sorted(point.attributes.items())): point.value
                        for point in metric.data.data_points
                    }
                    if points:
                        readings[metric.name] = Reading(metric.unit, kind, scope_metrics.scope.name, points)
        return readings
