"""The ``opentelemetry_distro`` entry point: Vigil's defaults for ``opentelemetry-instrument``.

Before the SDK is configured, the distro fills in, only where the variable is unset:

==============================================================  ==========
variable                                                        default
==============================================================  ==========
``OTEL_TRACES_EXPORTER``, ``OTEL_METRICS_EXPORTER``,            ``otlp``
``OTEL_LOGS_EXPORTER``
``OTEL_EXPORTER_OTLP_PROTOCOL``                                 ``grpc``
``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED``            ``true`` (stdlib logging
                                                                records become OTLP logs,
                                                                with trace and span ids)
==============================================================  ==========

Anything set in the environment wins.
"""

from __future__ import annotations

import os

from opentelemetry.instrumentation.distro import BaseDistro

DEFAULTS = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
}


class VigilDistro(BaseDistro):
    """Sets Vigil's defaults; the SDK itself is set up by :class:`VigilConfigurator`."""

    def _configure(self, **kwargs: object) -> None:
        for name, value in DEFAULTS.items():
            os.environ.setdefault(name, value)
