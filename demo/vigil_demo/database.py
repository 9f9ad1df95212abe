"""The demo app's sqlite database: schema, first-start seeding, and queries.

Everything goes through the standard library's ``sqlite3`` and through cursors, which is
what the OpenTelemetry sqlite3 instrumentation traces: each statement becomes a span whose
``db.statement`` is the SQL text. (``Connection.execute`` would bypass the instrumentation.)

A connection can call back as each statement starts running (see :func:`connect`), which is
how the ``slow_db`` fault (see ``faults``) slows every query inside its span.
"""

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vigil_demo.seed import seed

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('customer', 'admin'))
);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    price REAL NOT NULL,
    stock INTEGER NOT NULL CHECK (stock >= 0)
);
"""

Params = Sequence[Any] | Mapping[str, Any]


def connect(path: str, *, on_statement: Callable[[str], None] | None = None) -> sqlite3.Connection:
    """A connection to the database at ``path`` whose rows read as mappings.

    ``on_statement``, if given, is called with each statement's SQL (parameters filled in) as
    the statement starts running: within ``cursor.execute``, so within the statement's span.
    Exceptions it raises are ignored.
    """
    # Looked up on the module at call time, so that it is the instrumented connect.
    connection = sqlite3.connect(path)
    connection.row_factory = sqlite3.Row
    if on_statement is not None:
        # sqlite's statement trace fires from the first step of the statement, which
        # cursor.execute takes itself; a sleep before calling execute would land outside the span.
        connection.set_trace_callback(on_statement)
    return connection


def initialise(path: str) -> None:
    """Create and seed the database at ``path`` unless it already has its tables."""
    connection = connect(path)
    try:
        with connection:
            cursor = connection.cursor()
            # Schema and seed in one transaction, so an interrupted first start leaves no empty tables
            # behind that would stop the next start from seeding.
            cursor.execute("BEGIN")
            cursor.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'items'")
            if cursor.fetchone() is None:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    cursor.execute(statement)
                seed(cursor)
    finally:
        connection.close()


def query(connection: sqlite3.Connection, sql: str, params: Params = ()) -> list[dict[str, Any]]:
    """The rows ``sql`` selects, as dicts keyed by column name."""
    cursor = connection.cursor()
    cursor.execute(sql, params)
    return [dict(row) for row in cursor.fetchall()]


def execute(connection: sqlite3.Connection, sql: str, params: Params = ()) -> int:
    """Run and commit a data-changing statement; the number of rows it changed."""
    with connection:
        cursor = connection.cursor()
        cursor.execute(sql, params)
        return cursor.rowcount
