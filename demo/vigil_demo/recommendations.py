"""``GET /recommendations/<id>``: an item, its live stock level, and similar items to suggest.

The stock level comes from an outbound HTTP call to the stock service at
``VIGIL_DEMO_UPSTREAM`` + ``/internal/stock/<id>`` (see ``inventory``), with a 2 s timeout.
Answers ``{"item": <item>, "stock": <units>, "recommended": [<item>, ...]}`` where the
recommended items are up to three others in stock, closest in price; 404 for an unknown
item, and 502 when the stock service fails, times out or answers something unusable.
"""

from typing import Any

import requests
from flask import Blueprint, abort

from vigil_demo.catalog import ITEM_COLUMNS, find_item
from vigil_demo.context import db, logger, settings
from vigil_demo.database import query

bp = Blueprint("recommendations", __name__)

UPSTREAM_TIMEOUT_SECONDS = 2.0


@bp.get("/recommendations/<int:item_id>")
def recommendations(item_id: int) -> dict[str, Any]:
    """Item ``item_id`` with its stock level and similar items."""
    item = find_item(item_id)
    if item is None:
        abort(404, description=f"no item {item_id}")
    recommended = query(
        db(),
        f"SELECT {ITEM_COLUMNS} FROM items WHERE id != ? AND stock > 0 ORDER BY abs(price - ?), id LIMIT 3",
        (item_id, item["price"]),
    )
    return {"item": item, "stock": _upstream_stock(item_id), "recommended": recommended}


def _upstream_stock(item_id: int) -> Any:
    url = f"{settings().upstream_url}/internal/stock/{item_id}"
    try:
        response = requests.get(url, timeout=UPSTREAM_TIMEOUT_SECONDS)
        response.raise_for_status()
        stock = response.json()["stock"]
    # ValueError: the body is not JSON; TypeError and KeyError: it is JSON without a stock count.
    except (requests.RequestException, ValueError, TypeError, KeyError) as error:
        logger.warning("stock service call failed: %s", error, extra={"url.full": url})
        abort(502, description="the stock service is unavailable")
    return stock
