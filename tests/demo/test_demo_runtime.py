"""The app as Vigil's stack runs it: ``python -m vigil_demo``, instrumented with no code of its own."""

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from vigil_demo import database
from vigil_demo.app import create_app
from vigil_demo.seed import SEED_ITEMS, SEED_USERS
from vigil_demo.settings import Settings

DEMO = Path(__file__).resolve().parents[2] / "demo"


def test_the_app_and_generator_do_not_import_opentelemetry():
    # In a fresh interpreter: this test process has imported OpenTelemetry itself.
    code = (
        "import sys, vigil_demo.__main__, vigil_demo.traffic;"
        "print([m for m in sys.modules if m.startswith('opentelemetry')])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={"PYTHONPATH": str(DEMO)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == "[]"


def test_python_m_vigil_demo_serves_and_logs_logins(tmp_path, free_port):
    env = {
        "PYTHONPATH": str(DEMO),
        "VIGIL_DEMO_PORT": str(free_port),
        "VIGIL_DEMO_DB": str(tmp_path / "d.db"),
    }
    user = SEED_USERS[0]
    url = f"http://127.0.0.1:{free_port}"
    command = [sys.executable, "-m", "vigil_demo"]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as server:
        try:
            health = _wait_for_health(f"{url}/healthz")
            credentials = {"username": user.username, "password": user.password}
            login = requests.post(f"{url}/login", json=credentials, timeout=5)
        finally:
            server.terminate()
        output = server.communicate(timeout=10)[0]
    assert (health.status_code, health.text) == (200, "ok")
    assert login.status_code == 200
    assert "login succeeded" in output


def _wait_for_health(url: str) -> requests.Response:
    deadline = time.monotonic() + 15
    while True:
        try:
            return requests.get(url, timeout=1)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@pytest.fixture
def sqlite_spans():
    """The spans of the sqlite3 instrumentation, installed here as opentelemetry-instrument would."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = SQLite3Instrumentor()
    instrumentor.instrument(tracer_provider=provider)
    try:
        yield exporter
    finally:
        instrumentor.uninstrument()


def test_every_query_reaches_db_statement_injected_sql_included(sqlite_spans, demo_env):
    client = create_app(Settings.from_env(demo_env)).test_client()
    sqlite_spans.clear()
    injection = "zz' UNION SELECT id, username, password_hash, 0, 0 FROM users --"
    response = client.get("/search/legacy", query_string={"q": injection})
    assert response.status_code == 200
    assert len(response.json) == len(SEED_USERS)  # the injection worked, as the endpoint intends
    client.get("/items/1")
    statements = [span.attributes["db.statement"] for span in sqlite_spans.get_finished_spans()]
    assert len(statements) == 2
    assert f"LIKE '%{injection}%'" in statements[0]
    assert statements[1].endswith("FROM items WHERE id = ?")


def test_start_up_seeds_a_new_database_once(tmp_path):
    path = str(tmp_path / "demo.sqlite3")
    for _ in range(2):
        database.initialise(path)
    with sqlite3.connect(path) as connection:
        users = connection.execute("SELECT username, password_hash FROM users").fetchall()
        items = connection.execute("SELECT count(*) FROM items").fetchone()[0]
    assert [username for username, _ in users] == [user.username for user in SEED_USERS]
    assert items == len(SEED_ITEMS)
    assert not any(
        user.password in password_hash for user, (_, password_hash) in zip(SEED_USERS, users, strict=True)
    )
