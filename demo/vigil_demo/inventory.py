"""``GET /internal/stock/<id>``: the stock service that ``/recommendations`` calls.

Answers ``{"item_id": <id>, "stock": <units>}``, or 404 for an unknown item. It stands in for
a separate internal service: it shares the app's process to keep the demo a single program,
but the recommendations endpoint reaches it over HTTP only, so a trace shows a real outbound
call and the server span that answers it.
"""

from flask import Blueprint, abort

from vigil_demo.context import db
from vigil_demo.database import query

bp = Blueprint("inventory", __name__, url_prefix="/internal")


@bp.get("/stock/<int:item_id>")
def stock(item_id: int) -> dict[str, int]:
    """The number of units of item ``item_id`` in stock."""
    rows = query(db(), "SELECT stock FROM items WHERE id = ?", (item_id,))
    if not rows:
        abort(404, description=f"no item {item_id}")
    return {"item_id": item_id, "stock": rows[0]["stock"]}
