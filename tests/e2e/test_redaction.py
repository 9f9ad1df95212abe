"""Through the real stack (``vigil up``'s chain: threat, anomaly, redaction; the demo app under
Vigil's distro): a request header the distro captures is judged for injection, and a secret in
the query string is judged raw but reaches Jaeger and the threat event masked."""

from __future__ import annotations

import uuid

import pytest
import requests

from tests.e2e.backends import exported_log_records, jaeger_spans, tags, traces_by_marker, wait_for
from vigil.processors.stack.components import ENDPOINTS

pytestmark = pytest.mark.stack

DEMO = ENDPOINTS["demo"]["http"]
SECRET = "sk-e2e-0123456789"


def test_captured_headers_are_judged_and_secrets_leave_masked(stack):
    marker = f"{uuid.uuid4().hex[:8]}-redaction"
    requests.get(
        f"{DEMO}/search",
        params={"q": "desk lamp", "ref": marker, "api_key": SECRET},
        headers={"Referer": "https://shop.example/search?q=1'+UNION+SELECT+password+FROM+users--"},
        timeout=5,
    )
    found = wait_for(
        lambda: traces_by_marker(jaeger_spans("vigil-demo"), [marker]), lambda f: marker in f, timeout=45
    )
    server = tags(next(s for s in found[marker] if tags(s).get("span.kind") == "server"))
    assert "UNION+SELECT" in str(server["http.request.header.referer"])
    assert "sqli" in str(server["vigil.threat.categories"]) and server["vigil.threat.score"] >= 0.5
    # the demo's Flask instrumentation records the old http.target, newer ones url.query
    assert "api_key=REDACTED" in str(server.get("http.target", "")) + str(server.get("url.query", ""))
    assert not [s for s in found[marker] if SECRET in str(s)], "the key reached Jaeger"

    trace_id = found[marker][0]["traceID"]
    events = wait_for(
        lambda: [
            r
            for r in exported_log_records(stack.run_dir / "otlp-logs.jsonl", "vigil-demo")
            if r.get("traceId") == trace_id
            and {"key": "event.name", "value": {"stringValue": "vigil.threat"}} in r["attributes"]
        ],
        bool,
        timeout=30,
    )
    fields = {a["key"]: a["value"].get("stringValue") for a in events[0]["attributes"]}
    assert fields["vigil.threat.attribute"] == "http.request.header.referer"
    assert SECRET not in str(events)
