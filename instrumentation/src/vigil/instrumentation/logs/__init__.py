"""Logs: stdlib ``logging`` records as OTLP log records with trace and span ids, optional JSON lines
on stdout with the same ids, and the level, without touching what the application configures.

Under ``opentelemetry-instrument`` with Vigil's distro, and no setting:

- Every record that passes the root logger's level becomes an OTLP log record, exported with the
  application's traces and metrics, carrying the trace id, span id and flags of the span active
  when it was logged; an exception logged with ``logger.exception`` carries ``exception.type``,
  ``exception.message`` and ``exception.stacktrace``; ``extra={...}`` fields become attributes, and
  ``extra={"otel.event.name": "..."}`` makes the record an event (its ``EventName``). The bridge is
  ``opentelemetry-instrumentation-logging`` (:mod:`.bridge`); each record is exported once.
- Nothing else changes: no ``logging.basicConfig`` call, no console handler, no level. An
  application that calls ``basicConfig`` or ``dictConfig`` gets exactly what it configured, plus
  the export. One thing differs for an application that configures nothing: Python's root logger
  starts at ``WARNING`` with no handler, and prints warnings and errors to stderr through its
  last-resort handler only while no handler exists; the bridge's handler now exists, so they are
  exported and no longer printed. ``VIGIL_LOG_FORMAT=json`` or a ``basicConfig()`` call brings the
  console back.

Settings:

- ``OTEL_PYTHON_LOG_LEVEL`` (``debug``, ``info``, ``warning``, ``error``, ``critical``, any case):
  the root logger's level, set once at start-up; the application's own configuration, which runs
  later, still wins. It is the contrib package's variable, which there applies only together with
  ``OTEL_PYTHON_LOG_CORRELATION=true`` and through ``basicConfig``; Vigil applies the level alone.
- ``OTEL_PYTHON_LOG_HANDLER_LEVEL``: the least level exported over OTLP (default: all that pass the
  loggers), and the contrib package's other settings (:mod:`.bridge`).
- :envvar:`VIGIL_LOG_FORMAT` ``=json``: every record also goes to stdout as one JSON object per line
  (:mod:`.json_format`: ``timestamp``, ``level``, ``logger``, ``message``, ``trace_id``, ``span_id``,
  ``trace_flags``, ``service.name``, ``exception``), through one handler that stands in for the
  console handler the application's ``basicConfig`` would add (:mod:`.console`).
  :class:`JsonFormatter` can be named in the application's own logging configuration too.

The configurator calls :func:`configure_logs` once the SDK is set up; calling it again (a second
configuration, a re-initialised worker) changes nothing.
"""

from __future__ import annotations

import logging
import os

from vigil.instrumentation.environment_variables import VIGIL_LOG_FORMAT
from vigil.instrumentation.logs.console import ConsoleHandler, install_console
from vigil.instrumentation.logs.json_format import JsonFormatter

__all__ = ["ConsoleHandler", "JsonFormatter", "configure_logs"]

_logger = logging.getLogger(__name__)

OTEL_PYTHON_LOG_LEVEL = "OTEL_PYTHON_LOG_LEVEL"

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "fatal": logging.CRITICAL,
}
FORMATS = ("json",)


def configure_logs() -> None:
    """Apply ``OTEL_PYTHON_LOG_LEVEL`` and :envvar:`VIGIL_LOG_FORMAT` (see the module docstring)."""
    level_name = os.environ.get(OTEL_PYTHON_LOG_LEVEL, "").strip()
    if level_name:
        level = LEVELS.get(level_name.lower())
        if level is None:
            _logger.warning(
                "%s=%r is not one of %s; the log level is left alone",
                OTEL_PYTHON_LOG_LEVEL,
                level_name,
                ", ".join(LEVELS),
            )
        else:
            logging.getLogger().setLevel(level)
    log_format = os.environ.get(VIGIL_LOG_FORMAT, "").strip().lower()
    if log_format == "json":
        install_console()
    elif log_format:
        _logger.warning(
            "%s=%r is not one of %s; no console output is added", VIGIL_LOG_FORMAT, log_format, FORMATS
        )
