"""JsonFormatter on records made in this process (the subprocess tests in test_console.py check the
same lines against the OTLP records)."""

from __future__ import annotations

import io
import json
import logging
import sys

from opentelemetry.sdk.trace import TracerProvider

from vigil.instrumentation.logs import JsonFormatter
from vigil.instrumentation.logs.console import ConsoleHandler


def record(message: str = "paid %s", *args: object, **extra: object) -> logging.LogRecord:
    made = logging.getLogger("shop").makeRecord("shop", logging.WARNING, "shop.py", 7, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_record_in_a_span_carries_its_ids():
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("checkout") as span:
        line = json.loads(JsonFormatter().format(record("paid %s", "in full")))
    context = span.get_span_context()
    assert list(line)[:7] == ["timestamp", "level", "logger", "message", "trace_id", "span_id", "trace_flags"]
    assert line["message"] == "paid in full"
    assert (line["level"], line["logger"]) == ("WARNING", "shop")
    assert line["trace_id"] == format(context.trace_id, "032x")
    assert line["span_id"] == format(context.span_id, "016x")
    assert line["trace_flags"] == format(context.trace_flags, "02x")


def test_outside_a_span_there_are_no_trace_fields():
    line = json.loads(JsonFormatter().format(record()))
    assert not {"trace_id", "span_id", "trace_flags"} & set(line)


def test_formatted_away_from_its_thread_it_uses_the_ids_taken_when_it_was_made():
    # What OTEL_PYTHON_LOG_CORRELATION=true puts on each record, read behind a QueueHandler.
    made = record(otelTraceID="ab" * 16, otelSpanID="cd" * 8, otelTraceSampled=True, otelServiceName="s")
    line = json.loads(JsonFormatter().format(made))
    assert (line["trace_id"], line["span_id"], line["trace_flags"]) == ("ab" * 16, "cd" * 8, "01")
    assert not [key for key in line if key.startswith("otel")], "the raw fields are not repeated"


def test_exceptions_stacks_and_extras():
    try:
        raise KeyError("missing")
    except KeyError:
        made = logging.getLogger("shop").makeRecord(
            "shop",
            logging.ERROR,
            "shop.py",
            9,
            "failed",
            (),
            sys.exc_info(),
            sinfo="Stack (most recent call last)",
        )
    made.__dict__.update({"order.size": "large", "amount": 12.5, "when": object()})
    line = json.loads(JsonFormatter().format(made))
    assert line["exception"].startswith("Traceback") and "KeyError: 'missing'" in line["exception"]
    assert line["stack"] == "Stack (most recent call last)"
    assert line["order.size"] == "large" and line["amount"] == 12.5
    assert line["when"].startswith("<object object"), "what JSON cannot hold is written as str()"


def test_the_console_writes_to_whatever_stdout_is_now(monkeypatch):
    handler = ConsoleHandler()
    replaced = io.StringIO()
    monkeypatch.setattr(sys, "stdout", replaced)
    handler.handle(record("to the new stdout"))
    assert json.loads(replaced.getvalue())["message"] == "to the new stdout"
