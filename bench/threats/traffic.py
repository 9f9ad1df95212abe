"""Realistic OTLP traffic for the threat benchmark: mostly benign spans, a share of attacks.

Spans are what OpenTelemetry's Python instrumentations record (semantic conventions 1.2x):
HTTP server spans (Flask/Django style, with ``url.path``, ``url.query``, ``user_agent.original``
and the rest), database client spans with ORM-generated SQL, HTTP client spans and internal
spans. Values are varied (ids, search terms, names, e-mail addresses, encoded redirect URLs) so
that nothing is answered from a cache that real traffic would miss. Attacks replace the value of
a query parameter, the path, the statement or the user agent of a span with a corpus payload.
"""

from __future__ import annotations

import os
import random
import urllib.parse
from collections.abc import Sequence

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 "
    "Mobile Safari/537.36",
    "python-requests/2.31.0",
    "curl/8.5.0",
    "okhttp/4.12.0",
    "Go-http-client/1.1",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "kube-probe/1.29",
    "Prometheus/2.51.0",
)
SCANNER_AGENTS = (
    "sqlmap/1.8.3#stable (https://sqlmap.org)",
    "Mozilla/5.00 (Nikto/2.5.0) (Evasions:None) (Test:000562)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/91.0 "
    "Safari/537.36 Nuclei",
    "masscan/1.3 (https://github.com/robertdavidgraham/masscan)",
)
WORDS = (
    # search terms: mostly plain, a few with the quotes, ampersands and symbols real searches have
    "red shoes",
    "wireless headphones",
    "coffee table",
    "garden hose 50ft",
    "usb-c cable",
    "standing desk",
    "dr martens",
    "new york",
    "machine learning book",
    "iphone 15 case",
    "nike air max 90",
    "gaming chair",
    "the lord of the rings",
    "air fryer",
    "yoga mat",
    "winter jacket",
    "desk lamp",
    "phone charger",
    "running shoes men",
    "bluetooth speaker",
    "baby stroller",
    "office chair",
    "water bottle",
    "backpack",
    "monitor 27 inch",
    "led strip lights",
    "kitchen knife set",
    "dog bed large",
    "lego star wars",
    "puzzle 1000",
    "women's running jacket",
    "O'Brien",
    "kids' bikes",
    '4k monitor 27"',
    "Ben & Jerry's",
    "50% off",
    "C++ primer",
    "café au lait",
)
NAMES = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "oscar",
)
ROUTES = (
    ("/api/v1/users/{id}", "/api/v1/users/<int:user_id>"),
    ("/api/v1/orders/{id}/items", "/api/v1/orders/<int:order_id>/items"),
    ("/products/{slug}", "/products/<slug>"),
    ("/search", "/search"),
    ("/api/v1/carts/{uuid}", "/api/v1/carts/<uuid:cart_id>"),
    ("/static/js/app.{hex}.js", "/static/<path:filename>"),
    ("/login", "/login"),
    ("/health", "/health"),
    ("/api/v1/products", "/api/v1/products"),
    ("/account/settings", "/account/settings"),
)
STATEMENTS = (
    "SELECT users.id, users.email, users.name, users.created_at FROM users WHERE users.id = %(id_1)s",
    "SELECT orders.id, orders.user_id, orders.total, orders.status FROM orders WHERE orders.user_id = "
    "%(user_id_1)s "
    "AND orders.status IN (%(status_1_1)s, %(status_1_2)s) ORDER BY orders.created_at DESC LIMIT %(param_1)s",
    "SELECT p.id, p.name, p.price FROM products p JOIN categories c ON c.id = p.category_id "
    "WHERE c.slug = 'garden' AND p.price < 100 ORDER BY p.price ASC LIMIT 20 OFFSET 40",
    "SELECT COUNT(*) AS count_1 FROM (SELECT items.id FROM items WHERE items.cart_id = ?) AS anon_1",
    "INSERT INTO audit_log (user_id, action, created_at) VALUES (?, ?, ?)",
    "UPDATE carts SET updated_at=%s, total=%s WHERE carts.id = %s",
    'SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."username" = %s '
    "LIMIT 21",
    "SELECT * FROM products WHERE name LIKE '%lamp%' OR description LIKE '%lamp%' /* "
    "app:shop,route:search */",
    "DELETE FROM sessions WHERE expires_at < now()",
    "SELECT id FROM users WHERE email = 'o''brien@example.com'",
    "BEGIN",
    "COMMIT",
)


def _attr(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _query(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return urllib.parse.urlencode({"page": rng.randint(1, 40), "per_page": rng.choice((10, 20, 50))})
    if kind < 0.55:
        return urllib.parse.urlencode(
            {"q": rng.choice(WORDS), "sort": rng.choice(("price", "-created_at", "relevance"))}
        )
    if kind < 0.65:
        return urllib.parse.urlencode(
            {"next": f"https://shop.example.com/account/orders/{rng.randint(1, 9999)}"}
        )
    if kind < 0.75:
        return urllib.parse.urlencode({"email": f"{rng.choice(NAMES)}+{rng.randint(1, 99)}@example.com"})
    if kind < 0.85:
        return (
            f"ids={','.join(str(rng.randint(1, 999)) for _ in range(rng.randint(1, 6)))}&fields=id,name,price"
        )
    if kind < 0.92:
        return f"utm_source=newsletter&utm_medium=email&utm_campaign=spring_{rng.randint(2020, 2025)}"
    return (
        f"filter%5Bstatus%5D=active&filter%5Bcreated_after%5D=2024-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
    )


def _path(rng: random.Random, template: str) -> str:
    return (
        template.replace("{id}", str(rng.randint(1, 10**6)))
        .replace("{slug}", "-".join(rng.choice(WORDS).lower().replace("'", "").split()[:3]))
        .replace("{uuid}", str(__import__("uuid").UUID(int=rng.getrandbits(128))))
        .replace("{hex}", f"{rng.getrandbits(32):08x}")
    )


START_NS = 1_700_000_000_000_000_000
BATCH_WINDOW_NS = 200_000_000
"""A request holds spans that ended in the 200 ms before it was sent (the collector's batch
processor sends every 200 ms at the latest), as the sidecar receives them."""


def benign_span(rng: random.Random, span: Span, now_ns: int = START_NS) -> None:
    """Fill ``span`` with a realistic benign span that ended shortly before ``now_ns``."""
    span.trace_id = rng.randbytes(16)
    span.span_id = rng.randbytes(8)
    span.end_time_unix_nano = now_ns - rng.randrange(BATCH_WINDOW_NS)
    span.start_time_unix_nano = span.end_time_unix_nano - rng.randint(10**5, 10**8)
    kind = rng.random()
    if kind < 0.45:  # HTTP server
        template, route = rng.choice(ROUTES)
        method = "GET" if rng.random() < 0.8 else "POST"
        span.name = f"{method} {route}"
        span.kind = Span.SPAN_KIND_SERVER
        attrs = [
            _attr("http.request.method", method),
            _attr("url.scheme", "https"),
            _attr("url.path", _path(rng, template)),
            _attr("http.route", route),
            _attr("server.address", "shop.example.com"),
            _attr("server.port", 443),
            _attr("network.protocol.version", "1.1"),
            _attr("client.address", f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"),
            _attr("user_agent.original", rng.choice(USER_AGENTS)),
            _attr("http.response.status_code", rng.choice((200, 200, 200, 201, 204, 302, 404))),
        ]
        if rng.random() < 0.5:
            attrs.insert(3, _attr("url.query", _query(rng)))
    elif kind < 0.8:  # database client
        statement = rng.choice(STATEMENTS)
        span.name = statement.split()[0]
        span.kind = Span.SPAN_KIND_CLIENT
        attrs = [
            _attr("db.system.name", rng.choice(("postgresql", "sqlite", "mysql"))),
            _attr("db.namespace", "shop"),
            _attr("db.query.text", statement),
            _attr("db.operation.name", statement.split()[0]),
            _attr("server.address", "db.internal"),
            _attr("server.port", 5432),
        ]
    elif kind < 0.9:  # HTTP client
        span.name = "GET"
        span.kind = Span.SPAN_KIND_CLIENT
        attrs = [
            _attr("http.request.method", "GET"),
            _attr("url.full", f"https://payments.example.net/v2/charges/ch_{rng.getrandbits(48):012x}"),
            _attr("server.address", "payments.example.net"),
            _attr("server.port", 443),
            _attr("http.response.status_code", 200),
        ]
    else:  # internal
        span.name = rng.choice(("render_template", "compute_cart_total", "send_email", "cache.get"))
        span.kind = Span.SPAN_KIND_INTERNAL
        attrs = [_attr("code.function", span.name), _attr("code.namespace", "shop.views")]
    span.attributes.extend(attrs)


def attack_span(rng: random.Random, span: Span, payload: str, category: str, now_ns: int = START_NS) -> None:
    """Fill ``span`` with an HTTP server span (or a DB span, for some SQL) that carries ``payload``."""
    benign_span(rng, span, now_ns)
    while span.kind != Span.SPAN_KIND_SERVER:
        del span.attributes[:]
        benign_span(rng, span, now_ns)
    kept = [kv for kv in span.attributes if kv.key not in ("url.query", "url.path", "user_agent.original")]
    del span.attributes[:]
    span.attributes.extend(kept)
    if category == "scanner":
        span.attributes.extend([_attr("url.path", "/"), _attr("user_agent.original", payload)])
        return
    span.attributes.append(_attr("user_agent.original", rng.choice(USER_AGENTS)))
    if category == "traversal" and rng.random() < 0.5:
        span.attributes.append(_attr("url.path", "/download/" + urllib.parse.quote(payload, safe="/")))
        return
    name = rng.choice(("q", "id", "file", "redirect", "name", "search"))
    span.attributes.append(_attr("url.path", "/search"))
    span.attributes.append(_attr("url.query", f"page=1&{name}={urllib.parse.quote_plus(payload)}"))


def request(
    rng: random.Random,
    spans: int,
    attacks: Sequence[tuple[str, str]],
    attack_share: float,
    now_ns: int = START_NS,
) -> tuple[ExportTraceServiceRequest, list[bool]]:
    """A request of ``spans`` spans, about ``attack_share`` of them carrying one of ``attacks``
    ((payload, category) pairs), sent at ``now_ns``; also returns which spans are attacks."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.extend([_attr("service.name", "shop"), _attr("telemetry.sdk.language", "python")])
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.flask"
    truth = []
    for _ in range(spans):
        span = ss.spans.add()
        if attacks and rng.random() < attack_share:
            payload, category = rng.choice(attacks)
            attack_span(rng, span, payload, category, now_ns)
            truth.append(True)
        else:
            benign_span(rng, span, now_ns)
            truth.append(False)
    return req, truth


__all__ = ["SCANNER_AGENTS", "attack_span", "benign_span", "os", "request"]
