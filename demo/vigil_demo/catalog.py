"""The shop catalogue: searching items and viewing one.

- ``GET /search?q=<text>``: the items whose name or description contains ``q`` (case-insensitive
  for ASCII, ``%`` and ``_`` acting as SQL wildcards), ordered by name, at most 50, as a JSON list.
- ``GET /search/legacy?q=<text>``: the same search, but DELIBERATELY INJECTABLE (see
  :func:`legacy_search`).
- ``GET /items/<id>``: one item, or 404.

An item reads ``{"id", "name", "description", "price", "stock"}``.
"""

import sqlite3
from typing import Any

from flask import Blueprint, abort, request

from vigil_demo.context import db, logger
from vigil_demo.database import query

bp = Blueprint("catalog", __name__)

ITEM_COLUMNS = "id, name, description, price, stock"


def _search_sql(condition: str) -> str:
    return f"SELECT {ITEM_COLUMNS} FROM items WHERE {condition} ORDER BY name, id LIMIT 50"


@bp.get("/search")
def search() -> list[dict[str, Any]]:
    """Search the catalogue, with ``q`` bound as a query parameter."""
    pattern = f"%{request.args.get('q', '')}%"
    return query(db(), _search_sql("name LIKE :pattern OR description LIKE :pattern"), {"pattern": pattern})


@bp.get("/search/legacy")
def legacy_search() -> list[dict[str, Any]]:
    """Search the catalogue with ``q`` pasted into the SQL text: DELIBERATELY INJECTABLE.

    For ordinary terms it answers exactly what ``/search`` does. A ``q`` containing a quote
    changes the statement itself: ``' OR 1=1 --`` lists every item, and a ``UNION SELECT`` can
    read other tables. This endpoint exists so that Vigil's threat detectors see injected SQL
    structure in the ``db.statement`` of the sqlite3 spans; it must never be fixed, nor copied.
    The app only listens on loopback addresses, which limits who can reach it.

    SQL that the injection leaves malformed answers 400, as a real app's error handling would.
    """
    q = request.args.get("q", "")
    try:
        return query(db(), _search_sql(f"name LIKE '%{q}%' OR description LIKE '%{q}%'"))
    except sqlite3.Error as error:
        logger.warning("legacy search failed: %s", error, extra={"client.address": request.remote_addr})
        abort(400, description="malformed search query")


def find_item(item_id: int) -> dict[str, Any] | None:
    """The item with id ``item_id``, or None."""
    items = query(db(), f"SELECT {ITEM_COLUMNS} FROM items WHERE id = ?", (item_id,))
    return items[0] if items else None


@bp.get("/items/<int:item_id>")
def item(item_id: int) -> dict[str, Any]:
    """One item by id."""
    found = find_item(item_id)
    if found is None:
        abort(404, description=f"no item {item_id}")
    return found
