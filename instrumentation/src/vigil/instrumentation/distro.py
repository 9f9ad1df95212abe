"""The ``opentelemetry_distro`` entry point: Vigil's defaults for ``opentelemetry-instrument``.

Defaults
--------
Before the SDK is configured, Vigil fills in these variables where they are unset:

- ``OTEL_TRACES_EXPORTER``, ``OTEL_METRICS_EXPORTER``, ``OTEL_LOGS_EXPORTER``: ``otlp``
- ``OTEL_EXPORTER_OTLP_PROTOCOL``: ``grpc`` (to ``localhost:4317`` unless
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` says otherwise)
- ``OTEL_EXPORTER_OTLP_TIMEOUT``: ``5``. This SDK's OTLP exporters read it as seconds (the
  specification says milliseconds; tests/instrumentation/test_configurator.py checks the unit the
  exporters actually apply, so an SDK upgrade that changes it fails there). It bounds each export,
  retries included; the SDK's own default is 10.
- ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``:
  ``vigil_host,vigil_os,vigil_process,vigil_container,vigil_k8s,vigil_cloud,otel`` (see
  :mod:`vigil.instrumentation.resources`)
- ``OTEL_PYTHON_CONFIGURATOR``: ``vigil``
- ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST``:
  ``referer,x-forwarded-for,x-forwarded-host,origin,content-type``: request headers that the
  sidecar's threat scorer judges for injection (``http.request.header.*``). Never credentials:
  ``Authorization`` and ``Cookie`` are not captured by default, and
- ``OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS``:
  ``authorization,cookie,api-key,token,secret,password``: a header whose name contains one of
  these is recorded as ``[REDACTED]`` by the instrumentation itself, should a user capture it.
  Telemetry that goes around the sidecar (the collector's failover path) then carries no
  credentials either. To let the threat scorer judge cookies, capture ``cookie`` and set this
  variable without it: the sidecar's redaction scorer masks cookie values after judging them.

Stdlib logging records become OTLP logs with trace and span ids through
``opentelemetry-instrumentation-logging``, which this distro loads without its ``basicConfig`` call
(:mod:`vigil.instrumentation.logs`); not through the SDK's deprecated handler, so
``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED`` is left unset.

Metrics of the process and its surroundings are on: the system and process metrics of
``opentelemetry-instrumentation-system-metrics``, which this distro loads with Vigil's configuration
(:mod:`vigil.instrumentation.metrics.system`), and, in a container or a cgroup with limits, the
``container.*`` metrics (:mod:`vigil.instrumentation.metrics.container`).

Anything set in the environment wins. In particular, a user who sets
``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` gets exactly the detectors named there: add Vigil's names to
keep them. The configurator applies the same defaults, so they hold whichever distro ran.

Which distro runs
-----------------
``opentelemetry-instrument`` loads the first ``opentelemetry_distro`` and the first
``opentelemetry_configurator`` entry point it finds unless ``OTEL_PYTHON_DISTRO`` /
``OTEL_PYTHON_CONFIGURATOR`` name one, and "first" is the order in which installed distributions
are listed on disk: arbitrary. With ``opentelemetry-distro`` installed too, the stock distro and
configurator could win, and Vigil's resource detectors, identity and bounded exit would silently be
missing.

So ``vigil-instrumentation`` installs ``vigil-instrumentation.pth`` into site-packages. Python runs
its one line at start-up, before the auto-instrumentation's ``sitecustomize``; in a process started
for OTel auto-instrumentation (its directory ``opentelemetry/instrumentation/auto_instrumentation``
is on ``PYTHONPATH``, as ``opentelemetry-instrument`` arranges) and when neither variable is set, it
sets ``OTEL_PYTHON_DISTRO=vigil`` and ``OTEL_PYTHON_CONFIGURATOR=vigil``. A user who sets either
variable keeps full control. Where no ``.pth`` runs (packages installed with ``pip --target``, as the
Kubernetes operator's images do, or auto-instrumentation started by calling ``initialize()``), set
both variables to ``vigil`` explicitly.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from importlib.metadata import EntryPoint

from opentelemetry.instrumentation.distro import BaseDistro

from vigil.instrumentation.logs import bridge
from vigil.instrumentation.metrics import system

DISTRO_NAME = "vigil"
"""The name of Vigil's distro and configurator entry points, and ``telemetry.distro.name``."""

RESOURCE_DETECTORS = "vigil_host,vigil_os,vigil_process,vigil_container,vigil_k8s,vigil_cloud,otel"
"""Vigil's default ``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS``: ours, then the SDK's ``otel`` last so that
``OTEL_RESOURCE_ATTRIBUTES`` and ``OTEL_SERVICE_NAME`` win over anything detected."""

CAPTURED_REQUEST_HEADERS = "referer,x-forwarded-for,x-forwarded-host,origin,content-type"
"""The request headers captured by default (``http.request.header.*`` on server spans)."""

SANITIZED_HEADERS = "authorization,cookie,api-key,token,secret,password"
"""Header-name patterns whose values the instrumentation records as ``[REDACTED]``."""

DEFAULTS = {
    "OTEL_TRACES_EXPORTER": "otlp",
    "OTEL_METRICS_EXPORTER": "otlp",
    "OTEL_LOGS_EXPORTER": "otlp",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    # Bounds each export attempt, retries included, so that a dead collector costs a background
    # thread a few seconds per batch rather than the SDK's 10. The exit has its own, shorter bound
    # (VIGIL_SHUTDOWN_TIMEOUT).
    "OTEL_EXPORTER_OTLP_TIMEOUT": "5",
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": RESOURCE_DETECTORS,
    # Decides the configurator when the user named only our distro (see "Which distro runs").
    "OTEL_PYTHON_CONFIGURATOR": DISTRO_NAME,
    # Request headers the threat scorer judges; credentials are neither captured nor, if a user
    # captures them, recorded (see the module docstring).
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST": CAPTURED_REQUEST_HEADERS,
    "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS": SANITIZED_HEADERS,
}


def apply_defaults(environ: MutableMapping[str, str] = os.environ) -> None:
    """Fill in Vigil's defaults where the variable is unset (an empty value counts as unset, as the
    SDK treats it)."""
    for name, value in DEFAULTS.items():
        if not environ.get(name, "").strip():
            environ[name] = value


class VigilDistro(BaseDistro):
    """Sets Vigil's defaults; the SDK itself is set up by :class:`VigilConfigurator`."""

    def _configure(self, **kwargs: object) -> None:
        apply_defaults()

    def load_instrumentor(self, entry_point: EntryPoint, **kwargs: object) -> None:
        """Every instrumentation as ``opentelemetry-instrument`` would load it, except the system
        metrics and logging, which get Vigil's configuration."""
        if entry_point.name == system.ENTRY_POINT:
            system.instrument_system_metrics(entry_point.load(), **kwargs)
        elif entry_point.name == bridge.ENTRY_POINT:
            bridge.instrument_logging(entry_point.load(), **kwargs)
        else:
            super().load_instrumentor(entry_point, **kwargs)
