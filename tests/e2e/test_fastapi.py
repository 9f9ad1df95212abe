"""A FastAPI app (tests/apps/fastapi_app.py) under ``opentelemetry-instrument`` and uvicorn, with a real
sqlite database and a real outbound HTTP call, exporting to the real stack's collector: the span
tree, the resource, the HTTP server metrics and the logs correlated with each request arrive."""

from __future__ import annotations

import socket
import sys
import uuid

import pytest
import requests

from tests.apps.server import serving
from tests.e2e.backends import (
    exported_log_records,
    jaeger_spans,
    prometheus_query,
    tags,
    traces_by_marker,
    wait_for,
)
from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from tests.ports import free_port
from vigil.processors.stack.components import ENDPOINTS

pytestmark = pytest.mark.stack

# Three digits each: no order's path is a prefix of another's, so each marks exactly one trace.
ORDERS = range(101, 121)


def parent_of(span: dict) -> str | None:
    return next((ref["spanID"] for ref in span.get("references", []) if ref["refType"] == "CHILD_OF"), None)


def test_fastapi_app_span_tree_resource_metrics_and_logs(stack, tmp_path):
    service = f"e2e-fastapi-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = clean_env(
        OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{ENDPOINTS['collector']['otlp_grpc']}",
        OTEL_SERVICE_NAME=service,
        OTEL_METRIC_EXPORT_INTERVAL="2000",
        OTEL_BSP_SCHEDULE_DELAY="500",
        FIXTURE_DB=str(tmp_path / "orders.sqlite3"),
    )
    argv = [INSTRUMENT, sys.executable, "-m", "uvicorn", "tests.apps.fastapi_app:app", "--port", str(port)]
    with serving(argv, port, env, tmp_path) as pid:
        for order in ORDERS:
            requests.get(f"http://127.0.0.1:{port}/orders/{order}", timeout=10).raise_for_status()
        markers = [f"/orders/{order}" for order in ORDERS]
        traces = wait_for(
            lambda: traces_by_marker(jaeger_spans(service), markers),
            # Each trace is complete with its four spans: the order's server span, the sqlite
            # query, the outbound call and the /stock server span that answered it.
            lambda found: (
                len(found) == len(markers)
                and all(
                    sum(tags(s).get("span.kind") in ("server", "client") for s in t) >= 4
                    for t in found.values()
                )
            ),
            timeout=45,
        )
        assert sorted(traces) == sorted(markers)

        for marker, trace in traces.items():
            by_kind: dict[str, list[dict]] = {}
            for span in trace:
                by_kind.setdefault(tags(span).get("span.kind", "internal"), []).append(span)
            order_span = next(s for s in by_kind["server"] if s["operationName"] == "GET /orders/{order_id}")
            assert parent_of(order_span) is None, marker
            # The sqlite query and the outbound call are children of the request's server span.
            queries = [s for s in trace if tags(s).get("db.system") == "sqlite"]
            assert [parent_of(s) for s in queries] == [order_span["spanID"]], marker
            # (The query is a client span too.)
            (call,) = [s for s in by_kind["client"] if tags(s).get("http.url") or tags(s).get("url.full")]
            assert parent_of(call) == order_span["spanID"], marker
            assert "/stock/" in str(tags(call).get("http.url") or tags(call).get("url.full"))
            # The upstream (this app again) continued the trace under the client span.
            (stock_span,) = [s for s in by_kind["server"] if s["operationName"] == "GET /stock/{item}"]
            assert parent_of(stock_span) == call["spanID"], marker

        process = trace[0]["process"]
        assert process["serviceName"] == service
        resource = {t["key"]: t["value"] for t in process["tags"]}
        assert resource["telemetry.distro.name"] == "vigil"
        assert resource["process.pid"] == pid
        assert resource["host.name"] == socket.gethostname()

        # Metrics: the HTTP server duration histogram, one count per request (the orders and the
        # /stock calls they made), in Prometheus.
        def orders_counted(series: list[dict]) -> float:
            return sum(float(s["value"][1]) for s in series if "/orders" in str(s["metric"]))

        series = wait_for(
            lambda: prometheus_query(f'{{job="{service}", __name__=~"http_server_.*duration.*_count"}}'),
            lambda found: orders_counted(found) >= len(ORDERS),
            timeout=45,
        )
        assert orders_counted(series) == len(ORDERS), series

    # Logs: each request's record carries the ids of the request's server span.
    def looked_up(records: list[dict]) -> dict[str, dict]:
        return {
            r["body"]["stringValue"]: r
            for r in records
            if r.get("body", {}).get("stringValue", "").endswith("looked up")
        }

    records = wait_for(
        lambda: looked_up(exported_log_records(stack.run_dir / "otlp-logs.jsonl", service)),
        lambda found: len(found) == len(ORDERS),
        timeout=30,
    )
    assert sorted(records) == sorted(f"order {order} looked up" for order in ORDERS)
    for order in ORDERS:
        trace = traces[f"/orders/{order}"]
        order_span = next(s for s in trace if s["operationName"] == "GET /orders/{order_id}")
        record = records[f"order {order} looked up"]
        # As numbers: Jaeger drops a trace id's leading zeros.
        assert int(record["traceId"], 16) == int(order_span["traceID"], 16)
        assert int(record["spanId"], 16) == int(order_span["spanID"], 16)
        assert record["severityText"] == "INFO"
