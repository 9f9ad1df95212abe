"""A FastAPI app for uvicorn: ``uvicorn tests.apps.fastapi_app:app``.

- ``GET /orders/{order_id}``: reads the order from sqlite, asks ``/stock/{item}`` over HTTP
  (``requests``; the upstream is ``FIXTURE_UPSTREAM``, by default this app itself), logs
  ``order <id> looked up`` at INFO and answers the order with its stock and the serving ``pid``.
  An unknown order is a 404.
- ``GET /stock/{item}``: ``{"item": ..., "in_stock": ...}``.
- ``GET /healthz``: ``ok``.

``FIXTURE_DB`` names the sqlite file (created and filled at import if needed). The endpoints are
plain ``def`` functions: FastAPI runs them in its thread pool, as blocking database and HTTP calls
must be, and the request's trace context follows them there.
"""

from __future__ import annotations

import logging
import os
import sqlite3

import requests
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse

from tests.apps.store import DB_PATH, ensure_database

UPSTREAM = os.environ.get("FIXTURE_UPSTREAM", "").rstrip("/")

_logger = logging.getLogger(__name__)
# The root logger's WARNING level would drop these records before any handler saw them.
_logger.setLevel(logging.INFO)

ensure_database(DB_PATH)
_http = requests.Session()  # keep-alive to the upstream, as a real service would
app = FastAPI()


@app.get("/orders/{order_id}")
def order(order_id: int, request: Request) -> dict:
    with sqlite3.connect(DB_PATH) as connection:
        row = (
            connection.cursor()
            .execute("SELECT item, quantity FROM orders WHERE id = ?", (order_id,))
            .fetchone()
        )
    if row is None:
        raise HTTPException(status_code=404, detail="no such order")
    item, quantity = row
    upstream = UPSTREAM or str(request.base_url).rstrip("/")
    stock = _http.get(f"{upstream}/stock/{item}", timeout=5).json()
    _logger.info("order %s looked up", order_id)
    return {"order": order_id, "item": item, "quantity": quantity, "stock": stock, "pid": os.getpid()}


@app.get("/stock/{item}")
def stock(item: str) -> dict:
    return {"item": item, "in_stock": not item.endswith("0")}


@app.get("/healthz", response_class=PlainTextResponse)
def healthz() -> str:
    return "ok"
