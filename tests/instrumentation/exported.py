"""Running an app under ``opentelemetry-instrument`` against a recording OTLP receiver, and reading
what it exported: log records, spans and metric names, decoded."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field

from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from tests.otlp_values import attributes, value
from tests.recording_receiver import RecordingReceiver
from vigil.processors.signals import Signal


@dataclass
class Record:
    """One exported log record, its ids as hex (empty when none)."""

    body: str
    event_name: str
    severity_text: str
    trace_id: str
    span_id: str
    flags: int
    attributes: dict
    scope: str


@dataclass
class Exported:
    stdout: str
    stderr: str
    records: list[Record] = field(default_factory=list)
    spans: dict[str, tuple[str, str]] = field(default_factory=dict)
    """span name -> (trace id, span id), hex."""
    metrics: dict[str, dict] = field(default_factory=dict)
    """metric name -> the last data point of each attribute set: {sorted attribute items: value}."""
    logs_requests: list = field(default_factory=list)
    """The raw ExportLogsServiceRequest messages, in order."""

    def bodies(self, prefix: str) -> list[Record]:
        return [r for r in self.records if r.body.startswith(prefix)]


def run_exporting(app: str, *, timeout: float = 60, **env: str) -> Exported:
    """Run ``app`` (Python source) under opentelemetry-instrument with Vigil's distro, exporting all
    three signals to a recording receiver; return what arrived by the end of its exit (the bounded
    exit flushes every provider)."""
    with RecordingReceiver() as receiver:
        out = subprocess.run(
            [INSTRUMENT, sys.executable, "-c", app],
            env=clean_env(
                **{
                    "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{receiver.endpoint}",
                    "OTEL_SERVICE_NAME": "exported-app",
                    # Quieter and faster: the app's own telemetry is what these runs are about.
                    "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "system_metrics",
                    "VIGIL_CONTAINER_METRICS": "false",
                    **env,
                }
            ),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        exported = Exported(out.stdout, out.stderr)
        exported.logs_requests = receiver.requests(Signal.LOGS)
        for request in exported.logs_requests:
            for resource_logs in request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    for record in scope_logs.log_records:
                        exported.records.append(
                            Record(
                                body=record.body.string_value,
                                event_name=record.event_name,
                                severity_text=record.severity_text,
                                trace_id=record.trace_id.hex(),
                                span_id=record.span_id.hex(),
                                flags=record.flags,
                                attributes=attributes(record.attributes),
                                scope=scope_logs.scope.name,
                            )
                        )
        for request in receiver.requests(Signal.TRACES):
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        exported.spans[span.name] = (span.trace_id.hex(), span.span_id.hex())
        for request in receiver.requests(Signal.METRICS):
            for resource_metrics in request.resource_metrics:
                for scope_metrics in resource_metrics.scope_metrics:
                    for metric in scope_metrics.metrics:
                        data = getattr(metric, metric.WhichOneof("data"))
                        points = exported.metrics.setdefault(metric.name, {})
                        for point in data.data_points:
                            key = tuple(sorted((kv.key, value(kv.value)) for kv in point.attributes))
                            kind = point.WhichOneof("value") if hasattr(point, "as_int") else None
                            points[key] = getattr(point, kind) if kind else point.count
    return exported
