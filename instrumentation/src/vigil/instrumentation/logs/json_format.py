"""``JsonFormatter``: one JSON object per log record, with the trace context it was written in.

What :envvar:`VIGIL_LOG_FORMAT` ``=json`` prints on stdout, and usable in any logging configuration
of the application's own::

    logging.config.dictConfig({
        "version": 1,
        "formatters": {"json": {"()": "vigil.instrumentation.logs.JsonFormatter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
        "root": {"handlers": ["console"], "level": "INFO"},
    })

Each line is one object with these fields, in this order (the trace fields only inside a span):

================  ==============================================================================
``timestamp``     when the record was made, RFC 3339 in UTC with microseconds
``level``         the level name (``INFO``, ``WARNING``, ...)
``logger``        the logger's name
``message``       the formatted message
``trace_id``      the active span's trace id, 32 hex digits, as in the OTLP record and in Jaeger
``span_id``       its span id, 16 hex digits
``trace_flags``   its W3C trace flags, 2 hex digits (``01``: sampled)
``service.name``  the ``service.name`` of the SDK's resource
``exception``     the formatted traceback, when the record has one (``logger.exception(...)``)
``stack``         the formatted stack, when the record was made with ``stack_info=True``
================  ==============================================================================

followed by the record's extra attributes (``logger.info("paid", extra={"order": 7})``), those that
JSON can hold as they are and the others as their ``str()``. The trace fields are the ones the OTLP
log record of the same call carries, so a line on stdout and the record in the backend can be
matched (``trace_flags`` too: ``03`` is sampled with a random trace id, as this SDK makes them).
They are taken when the record is formatted, which is when it is logged for the handlers that format
in the logging thread (stream handlers). A record formatted elsewhere (behind a ``QueueHandler``)
has them only with ``OTEL_PYTHON_LOG_CORRELATION=true``, from the ``otelTraceID``/``otelSpanID``
fields the logging instrumentation then puts on each record when it is made (its flags say only
whether the span was sampled: ``01`` or ``00``).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from opentelemetry import trace
from opentelemetry._logs import get_logger_provider

# The attributes every LogRecord has: not extras.
_STANDARD = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)
_CORRELATION_PREFIX = "otel"  # otelTraceID, otelSpanID, ... of the logging instrumentation


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON; see the module docstring."""

    def __init__(self) -> None:
        super().__init__()
        self._service_name: str | None = None

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update(_trace_fields(record))
        service = self._service()
        if service:
            document["service.name"] = service
        if record.exc_info:
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        for key, value in vars(record).items():
            if (
                key not in _STANDARD
                and not key.startswith((_CORRELATION_PREFIX, "_"))
                and key not in document
            ):
                document[key] = value
        return json.dumps(document, default=str, ensure_ascii=False)

    def _service(self) -> str | None:
        # Looked up until the SDK has a resource (the formatter may be made before it is set up).
        if self._service_name is None:
            for provider in (trace.get_tracer_provider(), get_logger_provider()):
                resource = getattr(provider, "resource", None) or getattr(provider, "_resource", None)
                name = resource.attributes.get("service.name") if resource is not None else None
                if name:
                    self._service_name = str(name)
                    break
        return self._service_name


def _trace_fields(record: logging.LogRecord) -> dict[str, str]:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return {
            "trace_id": format(context.trace_id, "032x"),
            "span_id": format(context.span_id, "016x"),
            "trace_flags": format(context.trace_flags, "02x"),
        }
    # Formatted away from the thread that logged it (a QueueHandler's listener): what the logging
    # instrumentation took when the record was made, if it did (it keeps only the sampled flag).
    injected = getattr(record, "otelTraceID", None)
    if injected and injected != "0":
        return {
            "trace_id": injected,
            "span_id": record.otelSpanID,  # type: ignore[attr-defined]
            "trace_flags": "01" if record.otelTraceSampled else "00",  # type: ignore[attr-defined]
        }
    return {}
