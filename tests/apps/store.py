"""The fixture apps' sqlite database: a table of orders, created and filled once, by whichever process
comes first (every statement is idempotent, so workers starting together are fine)."""

from __future__ import annotations

import os
import sqlite3
import tempfile

DB_PATH = os.environ.get("FIXTURE_DB") or os.path.join(tempfile.gettempdir(), "vigil-fixture-app.sqlite3")
"""The database file: ``FIXTURE_DB``, else one in the temporary directory."""

ORDERS = 500
"""Orders 1..ORDERS exist."""


def ensure_database(path: str) -> None:
    with sqlite3.connect(path, timeout=10) as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL, quantity INTEGER)"
        )
        connection.executemany(
            "INSERT OR IGNORE INTO orders (id, item, quantity) VALUES (?, ?, ?)",
            [(n, f"item-{n % 7}", n % 5 + 1) for n in range(1, ORDERS + 1)],
        )
