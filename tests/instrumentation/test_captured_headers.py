"""The request headers Vigil's distro captures by default reach the server span as the threat
scorer reads them, and credentials are neither captured nor, when a user captures them, recorded."""

from __future__ import annotations

import json
import subprocess
import sys

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from tests.processors.threat.spans import request
from vigil.processors.signals import Signal
from vigil.processors.threat import ThreatScorer

# A Flask app under opentelemetry-instrument; one request with browser-like and hostile headers;
# the server span's attributes printed as JSON.
APP = """
import json
from flask import Flask
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
app = Flask("probe")

@app.route("/products/<slug>")
def product(slug):
    return "ok"

client = app.test_client()
client.set_cookie("session", "abc123")  # the test client manages the Cookie header itself
client.get(
    "/products/lamp",
    headers={
        "Referer": "https://shop.example.com/search?q=1'+UNION+SELECT+password+FROM+users--",
        "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
        "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2ln",
        "X-Api-Key": "k-123",
    },
)
(span,) = [s for s in exporter.get_finished_spans() if s.kind.name == "SERVER"]
print(json.dumps(dict(span.attributes), default=list), flush=True)
import os; os._exit(0)
"""


def server_span_attributes(**env: str) -> dict:
    out = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", APP],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def as_span(attributes: dict) -> Span:
    span = Span(name="GET /products/<slug>", kind=Span.SPAN_KIND_SERVER)
    for key, value in attributes.items():
        if isinstance(value, list):
            strings = ArrayValue(values=[AnyValue(string_value=v) for v in value])
            span.attributes.append(KeyValue(key=key, value=AnyValue(array_value=strings)))
        elif isinstance(value, str):
            span.attributes.append(KeyValue(key=key, value=AnyValue(string_value=value)))
    return span


def test_default_headers_are_captured_and_judged_credentials_are_not_captured():
    attributes = server_span_attributes()
    headers = {k: v for k, v in attributes.items() if k.startswith("http.request.header.")}
    assert headers == {
        "http.request.header.referer": [
            "https://shop.example.com/search?q=1'+UNION+SELECT+password+FROM+users--"
        ],
        "http.request.header.x_forwarded_for": ["203.0.113.9, 10.0.0.1"],
    }
    req = request(as_span(attributes))
    ThreatScorer().score(Signal.TRACES, req)
    found = {kv.key: kv.value for kv in req.resource_spans[0].scope_spans[0].spans[0].attributes}
    assert [v.string_value for v in found["vigil.threat.categories"].array_value.values] == ["sqli"]


def test_credentials_a_user_captures_are_recorded_redacted():
    attributes = server_span_attributes(
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST="referer,authorization,cookie,x-api-key"
    )
    assert attributes["http.request.header.authorization"] == ["[REDACTED]"]
    assert attributes["http.request.header.cookie"] == ["[REDACTED]"]
    assert attributes["http.request.header.x_api_key"] == ["[REDACTED]"]
    assert "http.request.header.x_forwarded_for" not in attributes  # the user's list replaces ours
