"""The OTLP bridge for stdlib logging: ``opentelemetry-instrumentation-logging``, as Vigil loads it.

``vigil-instrumentation`` depends on that contrib package, the successor of the SDK's own
``LoggingHandler`` (deprecated in the SDK Vigil pins, 1.45: it warns, and is to be removed, along with
``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED``, which switches it on). It is an
``opentelemetry_instrumentor`` entry point named ``logging``, so ``opentelemetry-instrument`` loads it
after the configurator has set up the logger provider; it adds one handler to the root logger that
turns each record into an OTLP log record with the active span's trace and span ids, and keeps that
handler in place when the application calls ``logging.basicConfig``, ``dictConfig`` or
``fileConfig``. Vigil's distro loads it with one change, :func:`instrument_logging`:

- It never calls ``logging.basicConfig``. The contrib package does when
  ``OTEL_PYTHON_LOG_CORRELATION=true``, at start-up, before the application's code runs: the
  application's own ``basicConfig`` then finds a handler and does nothing, so its level and format
  are silently lost. Under Vigil, ``OTEL_PYTHON_LOG_CORRELATION=true`` only puts the correlation
  fields on every record (``otelTraceID``, ``otelSpanID``, ``otelTraceSampled``,
  ``otelServiceName``), for the application's own format strings;
  ``OTEL_PYTHON_LOG_FORMAT`` has nothing to apply to. Console output with the same fields is
  :envvar:`VIGIL_LOG_FORMAT` ``=json``; the level is ``OTEL_PYTHON_LOG_LEVEL``
  (:mod:`vigil.instrumentation.logs`).

The other settings of the contrib package apply as documented there:
``OTEL_PYTHON_LOG_HANDLER_LEVEL`` (the least level exported over OTLP),
``OTEL_PYTHON_LOG_CODE_ATTRIBUTES`` (``code.*`` attributes on each record; off),
``OTEL_PYTHON_LOG_AUTO_INSTRUMENTATION=false`` (no OTLP handler, correlation fields only), and
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=logging`` turns it all off.

Exactly one handler exports: the instrumentor is a singleton that instruments once however often it
is loaded, and when ``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED=true`` has the SDK's
deprecated handler attached already, it attaches none of its own. An application that adds an
exporting handler of its own (``LoggingHandler()`` in its code) next to it gets each record twice.
"""

from __future__ import annotations

import os

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

ENTRY_POINT = "logging"
"""The contrib instrumentation's entry point name, as ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` knows it."""

OTEL_PYTHON_LOG_CORRELATION = "OTEL_PYTHON_LOG_CORRELATION"


def instrument_logging(instrumentor_class: type[BaseInstrumentor], **kwargs: object) -> None:
    """Load the contrib logging instrumentation as Vigil does (what the distro does for the
    ``logging`` entry point); ``kwargs`` go to ``instrument()``."""
    correlation = os.environ.get(OTEL_PYTHON_LOG_CORRELATION, "").strip().lower() == "true"
    instrumentor_class().instrument(
        **{"set_logging_format": False, "inject_trace_context": correlation, **kwargs}
    )
