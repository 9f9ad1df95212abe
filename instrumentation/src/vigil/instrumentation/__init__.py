"""Vigil's instrumentation for Python applications.

Install ``vigil-instrumentation`` and run the app under the OpenTelemetry wrapper::

    opentelemetry-instrument python app.py

With no code change and no other setting, traces, metrics and logs go over OTLP/gRPC to the
collector on ``localhost:4317``. Every standard ``OTEL_*`` variable still works and wins over
Vigil's defaults (see :mod:`vigil.instrumentation.distro`).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("vigil-instrumentation")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
