"""The JSON console: every log record that reaches the root logger, as a JSON line on stdout.

:func:`install_console` adds one :class:`ConsoleHandler` (a stream handler on stdout with
:class:`~vigil.instrumentation.logs.json_format.JsonFormatter`) to the root logger, once however
often it is called. It is the application's console output from then on, and keeps that role
through the application's own logging set-up:

- ``logging.basicConfig(level=..., format=...)`` with no destination (no ``stream``, ``filename``
  or ``handlers``) applies as usual (its level, ``force``) except that the console handler it
  installs is this one: the lines stay JSON, and nothing is printed twice. Without Vigil, a
  ``basicConfig`` that finds the root logger with a handler does nothing at all, level included.
- ``basicConfig`` that names a destination, and ``logging.config.dictConfig`` or ``fileConfig`` that
  configure the root logger's handlers, are the application deciding where its logs go: they apply
  as written and this handler is gone (name ``vigil.instrumentation.logs.JsonFormatter`` in such a
  configuration to keep JSON). The OTLP bridge's handler is kept through all three by the logging
  instrumentation itself.
"""

from __future__ import annotations

import functools
import logging
import sys
import threading
from collections.abc import Callable
from typing import TextIO

from vigil.instrumentation.logs.json_format import JsonFormatter

_DESTINATIONS = ("stream", "filename", "handlers")
_lock = threading.Lock()
_basic_config_wrapped = False


class ConsoleHandler(logging.StreamHandler):
    """JSON lines on whatever ``sys.stdout`` is when a record is written (as logging's own
    last-resort handler does for stderr), so that a test runner's or a daemon's replacement of
    stdout is followed."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JsonFormatter())

    @property
    def stream(self) -> TextIO:  # type: ignore[override]
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # StreamHandler.__init__ sets it; stdout is read at each write instead


def installed_console(logger: logging.Logger | None = None) -> ConsoleHandler | None:
    """The console handler on ``logger`` (the root logger by default), if it has one."""
    logger = logger or logging.getLogger()
    return next((h for h in logger.handlers if isinstance(h, ConsoleHandler)), None)


def install_console() -> ConsoleHandler:
    """Add the console handler to the root logger unless it is there already; return it."""
    global _basic_config_wrapped
    root = logging.getLogger()
    with _lock:
        handler = installed_console(root)
        if handler is None:
            handler = ConsoleHandler()
            root.addHandler(handler)
        if not _basic_config_wrapped:
            logging.basicConfig = _keeping_console(logging.basicConfig)
            _basic_config_wrapped = True
    return handler


def _keeping_console(basic_config: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(basic_config)
    def wrapper(**kwargs: object) -> None:
        root = logging.getLogger()
        console = installed_console(root)
        if console is None:
            return basic_config(**kwargs)
        root.removeHandler(console)
        if any(kwargs.get(name) is not None for name in _DESTINATIONS):
            return basic_config(**kwargs)  # the application chose where its logs go
        try:
            basic_config(**{**kwargs, "handlers": [console]})
        finally:
            # basicConfig adds nothing when the root logger has other handlers: keep ours then.
            if console not in root.handlers:
                root.addHandler(console)
        return None

    return wrapper
