"""What the endpoint modules share during a request: the settings, the database, the logger.

The app's own log records all go to the ``vigil_demo`` logger, with structured details as
``extra`` fields named after OpenTelemetry attributes (``user.name``, ``client.address``),
so that the logging instrumentation exports them as log attributes.
"""

import logging
import sqlite3

from flask import current_app, g

from vigil_demo import database, faults
from vigil_demo.settings import Settings

SETTINGS_KEY = "VIGIL_DEMO_SETTINGS"
"""The key of the app's :class:`Settings` in ``app.config``."""

logger = logging.getLogger("vigil_demo")


def settings() -> Settings:
    """The settings of the app handling the current request."""
    return current_app.config[SETTINGS_KEY]


def db() -> sqlite3.Connection:
    """The current request's database connection, opened on first use."""
    # One connection per request: the server is threaded, and a sqlite3 connection belongs to
    # the thread that opened it.
    if "db" not in g:
        # Every statement passes by the fault registry, which slows it when a slow_db fault is on.
        slow_db_hook = faults.registry(current_app).before_statement
        g.db = database.connect(settings().db_path, on_statement=slow_db_hook)
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    """Close the current request's database connection, if it opened one."""
    connection = g.pop("db", None)
    if connection is not None:
        connection.close()
