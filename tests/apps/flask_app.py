"""A Flask app for gunicorn: ``gunicorn tests.apps.flask_app:app``.

- ``GET /work/<marker>``: one sqlite query and 20 ms of waiting (so that concurrent requests keep
  more than one sync worker busy), then answers ``{"marker": ..., "pid": ...}``: a test can find each
  request's span by its marker and tell which worker served it.
- ``GET /healthz``: ``ok``.

At import it adds 1 to the counter ``fixture.preloaded``: under ``gunicorn --preload`` that happens
once, in the master, before the workers are forked, and must be exported once, by the master.
"""

from __future__ import annotations

import os
import sqlite3
import time

from flask import Flask, jsonify
from opentelemetry import metrics

from tests.apps.store import DB_PATH, ensure_database

metrics.get_meter(__name__).create_counter("fixture.preloaded").add(1, {"pid": os.getpid()})
ensure_database(DB_PATH)

app = Flask(__name__)


@app.get("/work/<marker>")
def work(marker: str):
    with sqlite3.connect(DB_PATH) as connection:
        (count,) = connection.cursor().execute("SELECT count(*) FROM orders").fetchone()
    time.sleep(0.02)
    return jsonify(marker=marker, pid=os.getpid(), orders=count)


@app.get("/healthz")
def healthz() -> str:
    return "ok"
