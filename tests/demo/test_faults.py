"""Fault injection: the faults' effects, their control endpoint, and VIGIL_DEMO_FAULTS."""

import threading
import time

import flask
import pytest
import requests
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.sqlite3 import SQLite3Instrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from vigil_demo import app as app_module
from vigil_demo import faults
from vigil_demo.app import create_app
from vigil_demo.faults import BURNER_THREAD_PREFIX, MAX_CPU_BURNERS, Fault, FaultRegistry, parse_faults
from vigil_demo.settings import Settings

DELAY_MS = 200
DELAY = DELAY_MS / 1000


@pytest.fixture
def registry(client):
    """The fault registry of ``client``'s app, cleared (its CPU burners stopped) afterwards."""
    registry = faults.registry(client.application)
    yield registry
    registry.clear()


def _timed(client, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    status = client.get(path).status_code
    return status, time.perf_counter() - started


def _burner_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith(BURNER_THREAD_PREFIX)]


def test_no_faults_by_default(client, registry):
    assert client.get("/_faults").json == []
    assert registry.faults() == []


def test_a_latency_fault_slows_its_route_only(client, registry):
    response = client.post("/_faults", json={"kind": "latency", "route": "/items", "value": DELAY_MS})
    assert response.status_code == 200
    assert response.json == [{"kind": "latency", "route": "/items", "value": DELAY_MS}]
    status, elapsed = _timed(client, "/items/1")
    assert status == 200
    assert DELAY <= elapsed < DELAY * 3
    for path in ("/search?q=kettle", "/healthz", "/internal/stock/1"):
        status, elapsed = _timed(client, path)
        assert status == 200
        assert elapsed < DELAY / 2, path


def test_latency_jitter_is_small_and_never_below_the_delay():
    registry = FaultRegistry(seed=1)
    registry.add(Fault("latency", "/items", 100))
    delays = [registry.request_faults("/items/1", "/items/<int:item_id>")[0] for _ in range(200)]
    assert all(0.1 <= delay <= 0.11 for delay in delays)
    assert len(set(delays)) > 1


@pytest.mark.parametrize(
    ("route", "path", "rule", "matches"),
    [
        ("/items", "/items/3", "/items/<int:item_id>", True),
        ("/items/<int:item_id>", "/items/3", "/items/<int:item_id>", True),
        ("/items/3", "/items/3", "/items/<int:item_id>", True),
        ("/items/3", "/items/4", "/items/<int:item_id>", False),
        ("/search", "/search", "/search", True),
        # A route is one operation: the legacy search is another one.
        ("/search", "/search/legacy", "/search/legacy", False),
        ("/items", "/itemsx", None, False),
        ("/admin/items", "/admin/items/2", "/admin/items/<int:item_id>", True),
        ("/admin", "/admin/users", "/admin/users", False),
        ("/nowhere", "/nowhere", None, True),
    ],
)
def test_which_requests_a_route_names(route, path, rule, matches):
    registry = FaultRegistry()
    registry.add(Fault("error", route, 1.0))
    assert registry.request_faults(path, rule) == (0.0, matches)


def test_an_error_fault_of_one_fails_every_request_to_its_route(client, registry):
    client.post("/_faults", json={"kind": "error", "route": "/search", "value": 1.0})
    for _ in range(5):
        response = client.get("/search", query_string={"q": "kettle"})
        assert response.status_code == 500
        assert "error" in response.json
    assert client.get("/search/legacy", query_string={"q": "kettle"}).status_code == 200
    assert client.get("/items/1").status_code == 200


def test_an_error_fault_of_a_half_fails_every_second_request(client, registry):
    client.post("/_faults", json={"kind": "error", "route": "/items", "value": 0.5})
    statuses = [client.get("/items/1").status_code for _ in range(10)]
    assert statuses == [200, 500] * 5


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.25, 0.7, 0.0])
def test_an_error_fault_fails_exactly_its_fraction(fraction):
    registry = FaultRegistry()
    registry.add(Fault("error", "/search", fraction))
    failures = sum(registry.request_faults("/search", "/search")[1] for _ in range(100))
    assert failures == round(100 * fraction)


def test_an_injected_error_is_a_crash(client, registry, caplog):
    client.post("/_faults", json={"kind": "error", "route": "/search", "value": 1})
    client.get("/search")
    (record,) = [record for record in caplog.records if record.exc_info]
    assert record.exc_info[0] is faults.InjectedError


def test_clearing_restores_every_route(client, registry):
    client.post("/_faults", json={"kind": "error", "route": "/search", "value": 1})
    client.post("/_faults", json={"kind": "latency", "route": "/items", "value": DELAY_MS})
    client.post("/_faults", json={"kind": "slow_db", "value": DELAY_MS})
    assert len(client.get("/_faults").json) == 3
    response = client.delete("/_faults")
    assert (response.status_code, response.json) == (200, [])
    assert client.get("/search").status_code == 200
    status, elapsed = _timed(client, "/items/1")
    assert status == 200 and elapsed < DELAY / 2


def test_one_fault_can_be_removed(client, registry):
    client.post("/_faults", json={"kind": "error", "route": "/search", "value": 1})
    client.post("/_faults", json={"kind": "slow_db", "value": 10})
    response = client.delete("/_faults", query_string={"kind": "error", "route": "/search"})
    assert response.json == [{"kind": "slow_db", "route": None, "value": 10}]
    assert client.get("/search").status_code == 200
    assert client.delete("/_faults", query_string={"kind": "error", "route": "/search"}).status_code == 404
    assert client.delete("/_faults", query_string={"kind": "slow_db"}).json == []


def test_a_new_fault_replaces_one_of_its_kind_on_its_route(client, registry):
    client.post("/_faults", json={"kind": "latency", "route": "/items", "value": 300})
    client.post("/_faults", json={"kind": "latency", "route": "/search", "value": 5})
    faults_now = client.post("/_faults", json={"kind": "latency", "route": "/items", "value": 1}).json
    assert faults_now == [
        {"kind": "latency", "route": "/items", "value": 1},
        {"kind": "latency", "route": "/search", "value": 5},
    ]


def test_a_slow_db_fault_slows_every_query(client, registry):
    client.post("/_faults", json={"kind": "slow_db", "value": DELAY_MS})
    status, elapsed = _timed(client, "/items/1")  # one query
    assert status == 200 and elapsed >= DELAY
    status, elapsed = _timed(client, "/healthz")  # no query
    assert status == 200 and elapsed < DELAY / 2


def test_a_slow_db_fault_slows_a_change_once(client, registry, admin_headers):
    client.post("/_faults", json={"kind": "slow_db", "value": DELAY_MS})
    started = time.perf_counter()
    assert client.delete("/admin/items/5", headers=admin_headers).status_code == 200
    # The DELETE is slowed; the transaction's implicit BEGIN and its COMMIT are not.
    assert DELAY <= time.perf_counter() - started < 2 * DELAY


def test_a_slow_db_fault_does_not_slow_transaction_control():
    registry = FaultRegistry()
    registry.add(Fault("slow_db", None, DELAY_MS))
    started = time.perf_counter()
    for sql in ("BEGIN ", "COMMIT", "rollback", "SAVEPOINT a", "RELEASE a"):
        registry.before_statement(sql)
    assert time.perf_counter() - started < DELAY


def test_a_cpu_fault_runs_its_burners_until_stopped(client, registry):
    assert _burner_threads() == []
    client.post("/_faults", json={"kind": "cpu", "value": 2})
    assert len(_burner_threads()) == registry.cpu_burners() == 2
    client.post("/_faults", json={"kind": "cpu", "value": 1})
    assert len(_burner_threads()) == registry.cpu_burners() == 1
    assert client.get("/healthz").status_code == 200
    client.delete("/_faults", query_string={"kind": "cpu"})
    assert _burner_threads() == [] and registry.cpu_burners() == 0
    client.post("/_faults", json={"kind": "cpu", "value": 3})
    assert len(_burner_threads()) == 3
    client.delete("/_faults")
    assert _burner_threads() == []


def test_cpu_burners_are_bounded(client, registry):
    response = client.post("/_faults", json={"kind": "cpu", "value": MAX_CPU_BURNERS + 1})
    assert response.status_code == 400
    assert _burner_threads() == []


@pytest.mark.parametrize(
    "body",
    [
        {"data": "not json"},
        {"data": "{"},
        {"json": ["latency", "/items", 300]},
        {"json": {"kind": "teleport", "value": 1}},
        {"json": {"kind": "latency", "value": 300}},
        {"json": {"kind": "latency", "route": "items", "value": 300}},
        {"json": {"kind": "latency", "route": "/items", "value": "300"}},
        {"json": {"kind": "latency", "route": "/items", "value": True}},
        {"json": {"kind": "latency", "route": "/items", "value": -1}},
        {"json": {"kind": "latency", "route": "/items", "value": 10**9}},
        {"json": {"kind": "latency", "route": "/items", "delay": 300}},
        {"json": {"kind": "latency", "route": "/no/such/route", "value": 300}},
        {"json": {"kind": "latency", "route": "/_faults", "value": 300}},
        {"json": {"kind": "error", "route": "/search", "value": 1.5}},
        {"json": {"kind": "slow_db", "route": "/items", "value": 100}},
        {"json": {"kind": "cpu", "value": 1.5}},
        {"json": {"kind": "cpu", "value": 0}},
    ],
)
def test_the_control_endpoint_refuses_what_is_no_fault(client, registry, body):
    response = client.post("/_faults", **body)
    assert response.status_code == 400
    assert response.content_type == "application/json" and "error" in response.json
    assert client.get("/_faults").json == []


def test_the_control_endpoint_answers_json_errors(client, registry):
    response = client.put("/_faults", json={})
    assert response.status_code == 405
    assert "error" in response.json and "POST" in response.headers["Allow"]
    assert client.get("/_faults/anything").status_code == 404
    # Not the control endpoint: an ordinary unknown route of the app.
    assert client.get("/_faultsx").status_code == 404


def test_faults_are_read_from_the_environment(demo_env):
    app = create_app(Settings.from_env({**demo_env, "VIGIL_DEMO_FAULTS": "error:/search:1, slow_db:5"}))
    client = app.test_client()
    assert client.get("/_faults").json == [
        {"kind": "error", "route": "/search", "value": 1.0},
        {"kind": "slow_db", "route": None, "value": 5.0},
    ]
    assert client.get("/search").status_code == 500


def test_the_environment_syntax():
    assert parse_faults("latency:/items:300,error:/search:0.5,slow_db:200,cpu:1") == (
        Fault("latency", "/items", 300),
        Fault("error", "/search", 0.5),
        Fault("slow_db", None, 200),
        Fault("cpu", None, 1),
    )
    # A route holding colons of its own; blanks and empty items ignored.
    spaced = " latency:/items/<int:item_id>:50 ,, "
    assert parse_faults(spaced) == (Fault("latency", "/items/<int:item_id>", 50),)
    assert parse_faults("") == ()


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("latency:300", "expected latency:<route>:<value>"),
        ("latency:/items", "expected latency:<route>:<value>"),
        ("latency:/items:slow", "'slow' is not a number"),
        ("slowdb:200", "unknown kind 'slowdb'"),
        ("slow_db:/items:200", "is not a number"),
        ("error:/search:2", "fraction of requests"),
        ("cpu:100", "number of busy threads"),
        ("latency:/items:nan", "milliseconds"),
        ("cpu:1;latency:/items:300", "is not a number"),
    ],
)
def test_a_malformed_environment_is_refused_clearly(spec, complaint):
    with pytest.raises(ValueError, match="VIGIL_DEMO_FAULTS") as raised:
        Settings.from_env({"VIGIL_DEMO_FAULTS": spec})
    assert complaint in str(raised.value)
    assert "e.g. 'latency:/items:300" in str(raised.value)


def test_an_environment_fault_on_an_unknown_route_is_refused(demo_env):
    with pytest.raises(ValueError, match="VIGIL_DEMO_FAULTS: no route of the app matches '/itemz'"):
        create_app(Settings.from_env({**demo_env, "VIGIL_DEMO_FAULTS": "cpu:1,latency:/itemz:5"}))
    assert _burner_threads() == []  # refused before anything started


def test_the_control_endpoint_on_a_live_server(live_url):
    fault = {"kind": "error", "route": "/items", "value": 1}
    try:
        assert requests.post(f"{live_url}/_faults", json=fault, timeout=5).json() == [fault]
        assert requests.get(f"{live_url}/items/1", timeout=5).status_code == 500
        assert requests.get(f"{live_url}/search", timeout=5).status_code == 200
    finally:
        assert requests.delete(f"{live_url}/_faults", timeout=5).json() == []
    assert requests.get(f"{live_url}/items/1", timeout=5).status_code == 200


@pytest.fixture
def spans(monkeypatch):
    """Spans of the Flask and sqlite3 instrumentations, installed as opentelemetry-instrument would."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    flask_instrumentor, sqlite_instrumentor = FlaskInstrumentor(), SQLite3Instrumentor()
    flask_instrumentor.instrument(tracer_provider=provider)
    sqlite_instrumentor.instrument(tracer_provider=provider)
    # opentelemetry-instrument replaces flask.Flask before the app module imports it; here the
    # module has imported it already.
    monkeypatch.setattr(app_module, "Flask", flask.Flask)
    try:
        yield exporter
    finally:
        sqlite_instrumentor.uninstrument()
        flask_instrumentor.uninstrument()


def _duration(span) -> float:
    return (span.end_time - span.start_time) / 1e9


def test_faults_show_in_the_spans_and_the_control_endpoint_does_not(spans, demo_env):
    client = create_app(Settings.from_env(demo_env)).test_client()
    try:
        client.post("/_faults", json={"kind": "error", "route": "/search", "value": 1})
        client.post("/_faults", json={"kind": "slow_db", "value": DELAY_MS})
        client.post("/_faults", json={"kind": "latency", "route": "/internal/stock", "value": DELAY_MS})
        spans.clear()
        assert client.get("/search").status_code == 500
        assert client.get("/items/1").status_code == 200
        assert client.get("/internal/stock/1").status_code == 200
        client.get("/_faults")
    finally:
        faults.registry(client.application).clear()
    server = {span.name: span for span in spans.get_finished_spans() if span.kind == SpanKind.SERVER}
    assert set(server) == {"GET /search", "GET /items/<int:item_id>", "GET /internal/stock/<int:item_id>"}
    crashed = server["GET /search"]
    assert crashed.status.status_code == StatusCode.ERROR
    assert any(event.name == "exception" for event in crashed.events)
    assert _duration(server["GET /internal/stock/<int:item_id>"]) >= 2 * DELAY  # latency + one query
    queries = [span for span in spans.get_finished_spans() if span.kind == SpanKind.CLIENT]
    assert len(queries) == 2  # /items/1's and /internal/stock/1's
    # The sleep is inside each query's own span, not only inside the request's.
    assert all(_duration(query) >= DELAY for query in queries)
