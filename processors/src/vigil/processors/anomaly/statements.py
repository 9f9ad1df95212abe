"""Operation names for database spans that their instrumentation names by the SQL verb alone.

Several database instrumentations (sqlite3, and others through ``dbapi``) name a span after the
first word of its statement: every query of the app is a ``SELECT`` span. As one operation, a
primary-key lookup of 0.1 ms and a report query of 800 ms share one baseline whose spread is so
wide that neither ever looks unusual. For such spans the anomaly scorer takes the statement's
*shape* as the operation instead: ``db.query.text`` (or the older ``db.statement``) with its
literals replaced by ``?`` and runs of whitespace collapsed, cut at 160 characters::

    SELECT id, name FROM items WHERE id = 42        ->  SELECT id, name FROM items WHERE id = ?
    SELECT * FROM users WHERE name = 'bob' LIMIT 5  ->  SELECT * FROM users WHERE name = ? LIMIT ?

Only spans whose name is a bare SQL verb pay for reading their attributes; shapes are cached
(bounded), since an app runs a few hundred distinct statements many times.
"""

from __future__ import annotations

import re
from typing import Any

SQL_VERBS = frozenset(
    {"SELECT", "INSERT", "UPDATE", "DELETE", "REPLACE", "UPSERT", "MERGE", "WITH", "CALL", "EXEC", "EXECUTE"}
)
_STATEMENT_KEYS = ("db.query.text", "db.statement")
_LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\b0x[0-9a-fA-F]+\b|\b\d+(?:\.\d+)?\b")
_SPACE = re.compile(r"\s+")
_LIMIT = 160
_CACHE_LIMIT = 4096
_shapes: dict[str, str] = {}


def statement_shape(statement: str) -> str:
    """``statement`` with literals as ``?``, whitespace collapsed, cut at 160 characters."""
    shape = _shapes.get(statement)
    if shape is None:
        shape = _SPACE.sub(" ", _LITERALS.sub("?", statement[: 4 * _LIMIT])).strip()[:_LIMIT]
        if len(_shapes) >= _CACHE_LIMIT:
            _shapes.clear()
        _shapes[statement] = shape
    return shape


def operation_name(span: Any) -> str:
    """The span's name, or for a span named by a bare SQL verb, its statement's shape."""
    name = span.name
    if name.upper() not in SQL_VERBS:
        return name
    for kv in span.attributes:
        if kv.key in _STATEMENT_KEYS:
            statement = kv.value.string_value
            if statement:
                return statement_shape(statement)
    return name
