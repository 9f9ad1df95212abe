"""Vigil's instrumentation for Python applications.

Install ``vigil-instrumentation`` and run the app under the OpenTelemetry wrapper::

    opentelemetry-instrument python app.py

With no code change and no other setting, traces, metrics and logs go over OTLP/gRPC to the
collector on ``localhost:4317`` (the metrics include the process's, the system's and, in a container,
the container's: :mod:`vigil.instrumentation.metrics`), on a resource that says where they came from
(:mod:`vigil.instrumentation.resources`), and the app's exit waits a bounded time for the last of
them (:mod:`vigil.instrumentation.shutdown`). Every standard ``OTEL_*`` variable still works and wins
over Vigil's defaults (:mod:`vigil.instrumentation.distro`); Vigil's own settings are the ``VIGIL_*``
variables of :mod:`vigil.instrumentation.environment_variables`. Logging records go over OTLP with
their trace and span ids, and optionally to stdout as JSON lines (:mod:`vigil.instrumentation.logs`).

The public API, for what only the application knows::

    from vigil.instrumentation import JobMetrics, security_events

    resize = JobMetrics("resize")                  # job.started, .completed, .failed, .duration, ...
    with resize.start({"size": "large"}):
        ...

    security_events.auth_failure(user="alice", client_address="203.0.113.9", reason="bad_password")

- :class:`JobMetrics` (:mod:`vigil.instrumentation.jobs`): the lifecycle of units of work as
  metrics, with bounded cardinality (:mod:`vigil.instrumentation.cardinality`).
- :mod:`~vigil.instrumentation.security_events`: authentication failures and successes, denied
  access and privileged operations as log events that Vigil's sidecar scores;
  :class:`SecurityEvents` for a logger provider of one's own.

Both work through the OpenTelemetry API: exported under ``opentelemetry-instrument``, no-ops
without an SDK.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vigil-instrumentation")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["JobMetrics", "SecurityEvents", "__version__", "security_events"]

# Imported on first use: the distro and configurator import this package at every start-up.
_LAZY = {
    "JobMetrics": ("vigil.instrumentation.jobs", "JobMetrics"),
    "SecurityEvents": ("vigil.instrumentation.security_events", "SecurityEvents"),
    "security_events": ("vigil.instrumentation.security_events", None),
}


def __getattr__(name: str) -> object:
    try:
        module_name, attribute = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    module = import_module(module_name)
    return module if attribute is None else getattr(module, attribute)
