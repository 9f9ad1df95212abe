"""The anomaly scorer's settings, read once from the ``VIGIL_ANOMALY_*`` variables
(:mod:`vigil.processors.environment_variables` documents each)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from vigil.processors import environment_variables as ev
from vigil.processors.settings import parse_bool, read_environ, split_list


@dataclass(frozen=True)
class AnomalySettings:
    state_dir: str | None = None
    save_interval: float = 60.0
    warmup_spans: int = 30
    warmup_traces: int = 20
    warmup_logs: int = 500
    max_templates: int = 2_000
    max_operations: int = 10_000
    trace_window: float = 30.0
    multivariate: bool = True
    event_interval: float = 10.0
    max_series: int = 10_000
    warmup_points: int = 30
    drift_window: float = 3600.0
    drift_metrics: tuple[str, ...] = field(default=())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> AnomalySettings:
        """Defaults, then ``VIGIL_ANOMALY_*`` variables, then ``overrides`` that are not None."""
        sources = {
            "state_dir": (ev.VIGIL_ANOMALY_STATE_DIR, str),
            "save_interval": (ev.VIGIL_ANOMALY_SAVE_INTERVAL, float),
            "warmup_spans": (ev.VIGIL_ANOMALY_WARMUP_SPANS, int),
            "warmup_traces": (ev.VIGIL_ANOMALY_WARMUP_TRACES, int),
            "warmup_logs": (ev.VIGIL_ANOMALY_WARMUP_LOGS, int),
            "max_templates": (ev.VIGIL_ANOMALY_MAX_TEMPLATES, int),
            "max_operations": (ev.VIGIL_ANOMALY_MAX_OPERATIONS, int),
            "trace_window": (ev.VIGIL_ANOMALY_TRACE_WINDOW, float),
            "multivariate": (ev.VIGIL_ANOMALY_MULTIVARIATE, parse_bool),
            "event_interval": (ev.VIGIL_ANOMALY_EVENT_INTERVAL, float),
            "max_series": (ev.VIGIL_ANOMALY_MAX_SERIES, int),
            "warmup_points": (ev.VIGIL_ANOMALY_WARMUP_POINTS, int),
            "drift_window": (ev.VIGIL_ANOMALY_DRIFT_WINDOW, float),
            "drift_metrics": (ev.VIGIL_ANOMALY_DRIFT_METRICS, split_list),
        }
        values = read_environ(sources, os.environ if environ is None else environ)
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return cls(**values)  # type: ignore[arg-type]
