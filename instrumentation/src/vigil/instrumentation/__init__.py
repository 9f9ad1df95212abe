"""Vigil's instrumentation for Python applications.

Install ``vigil-instrumentation`` and run the app under the OpenTelemetry wrapper::

    opentelemetry-instrument python app.py

With no code change and no other setting, traces, metrics and logs go over OTLP/gRPC to the
collector on ``localhost:4317`` (the metrics include the process's, the system's and, in a container,
the container's: :mod:`vigil.instrumentation.metrics`), on a resource that says where they came from
(:mod:`vigil.instrumentation.resources`), and the app's exit waits a bounded time for the last of
them (:mod:`vigil.instrumentation.shutdown`). Every standard ``OTEL_*`` variable still works and wins
over Vigil's defaults (:mod:`vigil.instrumentation.distro`); Vigil's own settings are the ``VIGIL_*``
variables of :mod:`vigil.instrumentation.environment_variables`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vigil-instrumentation")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
