"""bench/redaction: what the redaction scorer costs per span and per log record, beside a bare walk
over the same attributes and beside the threat scorer.

    .venv/bin/python bench/redaction/run.py [--batches 20] [--rounds 5] [--secret-share 0.02] [--seed 1]

Traffic: batches of 512 spans from ``bench/threats/traffic.py`` (HTTP server, database, HTTP client
and internal spans with realistic values), where HTTP server spans also carry the request headers
Vigil's distro captures (``Referer`` on most, ``X-Forwarded-For`` on all, as string arrays), and
batches of 512 log records (access lines, application messages, JSON bodies, with ``code.*`` and
``thread.*`` attributes). A share (``--secret-share``) of spans and records carries a secret:
a password in the query string, an ``Authorization`` header, an API key in an outgoing URL, a
password literal in a statement, a card number or token in a log body.

Variants, on the same batches, alternating, each round with fresh scorers (their memories of
statements and query strings warm up within a round, never across), the clock around
``score()`` only (decoding and encoding the request, the sidecar's cost with any scorer, is shown
apart):

``walk``       every attribute of every span (and span event) or record looked up in a dict by key,
               and nothing else: the floor for any scorer that reads attributes
``redaction``  the redaction scorer
``threat``     the threat scorer (spans only), for proportion

Printed: µs per span and per record (medians), the ratios redaction/walk and redaction/threat,
and a check that every secret was masked and every other item left byte for byte.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench" / "threats"))

import traffic  # noqa: E402
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span  # noqa: E402

from vigil.processors.redaction import Redactor  # noqa: E402
from vigil.processors.signals import Signal  # noqa: E402
from vigil.processors.threat import ThreatScorer  # noqa: E402

BATCH = 512


def _text(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _header(name: str, value: str) -> KeyValue:
    strings = ArrayValue(values=[AnyValue(string_value=value)])
    return KeyValue(key=f"http.request.header.{name}", value=AnyValue(array_value=strings))


def _referer(rng: random.Random) -> str:
    path = rng.choice(("/", "/search", "/products/desk-lamp", "/account/orders", "/cart"))
    if rng.random() < 0.5:
        query = urllib.parse.urlencode({"q": rng.choice(traffic.WORDS), "page": rng.randint(1, 9)})
        return f"https://shop.example.com{path}?{query}"
    return f"https://shop.example.com{path}"


def _set(span: Span, key: str, value: str) -> None:
    for kv in span.attributes:
        if kv.key == key:
            kv.value.string_value = value
            return
    span.attributes.append(_text(key, value))


def _add_secret(rng: random.Random, span: Span) -> None:
    """Put one secret where the span kind has room for it."""
    keys = {kv.key for kv in span.attributes}
    if "db.query.text" in keys:
        _set(span, "db.query.text", f"UPDATE users SET password = 'pw{rng.getrandbits(32):x}' WHERE id = ?")
    elif "url.full" in keys:
        _set(span, "url.full", f"https://payments.example.net/v2/charges?api_key=sk{rng.getrandbits(64):x}")
    elif span.kind == Span.SPAN_KIND_SERVER:
        if rng.random() < 0.5:
            _set(span, "url.query", f"user=alice&password=hunter{rng.randint(0, 999)}")
        else:
            span.attributes.append(_header("authorization", f"Bearer tok{rng.getrandbits(96):x}"))
    else:
        span.attributes.append(_text("app.api_key", f"k{rng.getrandbits(64):x}"))


def span_batch(rng: random.Random, secret_share: float) -> tuple[bytes, list[bool]]:
    req, _ = traffic.request(rng, BATCH, [], 0.0)
    secrets = []
    for span in req.resource_spans[0].scope_spans[0].spans:
        if span.kind == Span.SPAN_KIND_SERVER:
            span.attributes.append(_header("x_forwarded_for", f"198.51.100.{rng.randint(1, 254)}, 10.0.0.1"))
            if rng.random() < 0.7:
                span.attributes.append(_header("referer", _referer(rng)))
        secret = rng.random() < secret_share
        if secret:
            _add_secret(rng, span)
        secrets.append(secret)
    return req.SerializeToString(), secrets


LOG_BODIES = (
    "GET /api/v1/orders/{n} 200 in {n}ms",
    "user {name} logged in from 10.{n}.3.4",
    "cache miss for key product:{n}",
    "payment accepted for order {n}",
    "retrying request to inventory service (attempt {n} of 3)",
    'order created {{"order_id": {n}, "items": 3, "total": 59.90, "currency": "EUR"}}',
    "Slow query took {n} ms: SELECT * FROM orders WHERE user_id = ?",
    "worker {n} finished 512 jobs",
    "session expired for user {name}",
    "rendering template product_detail.html",
)
LOG_SECRETS = (
    "login failed: password={n}hunter for user {name}",
    "charging card 4111 1111 1111 1111 for order {n}",
    "calling https://api.partner.example/v1?api_key=ak{n}x9",
    "upstream said: Authorization: Bearer tok{n}abcdef",
)


def log_batch(rng: random.Random, secret_share: float) -> tuple[bytes, list[bool]]:
    req = ExportLogsServiceRequest()
    scope = req.resource_logs.add().scope_logs.add()
    secrets = []
    for _ in range(BATCH):
        secret = rng.random() < secret_share
        template = rng.choice(LOG_SECRETS if secret else LOG_BODIES)
        body = template.format(n=rng.randint(1, 99999), name=rng.choice(traffic.NAMES))
        record = scope.log_records.add(severity_text="INFO", body=AnyValue(string_value=body))
        record.attributes.extend(
            [
                _text("code.filepath", "/app/shop/views.py"),
                _text("code.function", rng.choice(("checkout", "login", "search"))),
                KeyValue(key="code.lineno", value=AnyValue(int_value=rng.randint(1, 400))),
                _text("thread.name", "MainThread"),
                _text("otel.scope.name", "shop.views"),
            ]
        )
        secrets.append(secret)
    return req.SerializeToString(), secrets


class Walk:
    """Every attribute looked up by key, nothing done: the floor for any attribute reader."""

    name = "walk"

    def __init__(self) -> None:
        self._keys: dict[str, object] = {}

    def score(self, signal: Signal, request: object) -> None:
        keys = self._keys
        if signal is Signal.TRACES:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        for kv in span.attributes:
                            keys.get(kv.key)
                        if span.events:
                            pass
        else:
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        for kv in record.attributes:
                            keys.get(kv.key)
                        record.body.string_value  # noqa: B018


def _items(signal: Signal, request: object) -> list:
    if signal is Signal.TRACES:
        return [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    return [record for rl in request.resource_logs for sl in rl.scope_logs for record in sl.log_records]


def measure(signal: Signal, payloads: list[bytes], variants: dict, rounds: int) -> dict[str, object]:
    items = len(_items(signal, signal.parse(payloads[0]))) * len(payloads)
    times: dict[str, list[float]] = {name: [] for name in variants}
    codec: list[float] = []
    for _ in range(rounds):
        for name, make in variants.items():
            scorer = make()
            started = time.perf_counter()
            parsed = [signal.parse(p) for p in payloads]
            parsed_at = time.perf_counter()
            for req in parsed:
                scorer.score(signal, req)
            scored_at = time.perf_counter()
            for req in parsed:
                req.SerializeToString()
            codec.append((parsed_at - started + time.perf_counter() - scored_at) / items * 1e6)
            times[name].append((scored_at - parsed_at) / items * 1e6)
    return {
        "items": items,
        "us_per_item": {name: statistics.median(t) for name, t in times.items()},
        "rounds": times,
        "decode_encode_us": statistics.median(codec),
    }


def check(signal: Signal, payloads: list[bytes], secrets: list[list[bool]]) -> dict[str, int]:
    """Every item with a secret changed, every other byte for byte the same."""
    redactor = Redactor()
    masked = missed = changed = 0
    for payload, flags in zip(payloads, secrets, strict=True):
        before = [item.SerializeToString() for item in _items(signal, signal.parse(payload))]
        req = signal.parse(payload)
        redactor.score(signal, req)
        after = [item.SerializeToString() for item in _items(signal, req)]
        for was, now, secret in zip(before, after, flags, strict=True):
            if secret:
                masked += was != now
                missed += was == now
            else:
                changed += was != now
    return {"secrets_masked": masked, "secrets_missed": missed, "benign_changed": changed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--secret-share", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    span_batches = [span_batch(rng, args.secret_share) for _ in range(args.batches)]
    log_batches = [log_batch(rng, args.secret_share) for _ in range(args.batches)]
    spans = measure(
        Signal.TRACES,
        [p for p, _ in span_batches],
        {"walk": Walk, "redaction": Redactor, "threat": ThreatScorer},
        args.rounds,
    )
    logs = measure(
        Signal.LOGS, [p for p, _ in log_batches], {"walk": Walk, "redaction": Redactor}, args.rounds
    )
    checks = {
        "spans": check(Signal.TRACES, [p for p, _ in span_batches], [s for _, s in span_batches]),
        "logs": check(Signal.LOGS, [p for p, _ in log_batches], [s for _, s in log_batches]),
    }
    span_us, log_us = spans["us_per_item"], logs["us_per_item"]
    print(f"spans: {spans['items']} in batches of {BATCH}, {args.rounds} rounds, medians in µs per span")
    for name, us in span_us.items():
        print(f"  {name:<10} {us:7.2f}")
    print(f"  (decode + encode the request: {spans['decode_encode_us']:.2f})")
    print(f"log records: {logs['items']}, medians in µs per record")
    for name, us in log_us.items():
        print(f"  {name:<10} {us:7.2f}")
    print(f"  (decode + encode the request: {logs['decode_encode_us']:.2f})")
    print(f"spans   redaction/walk   = {span_us['redaction'] / span_us['walk']:.2f}x")
    print(f"spans   redaction/threat = {span_us['redaction'] / span_us['threat']:.2f}x")
    print(f"records redaction/walk   = {log_us['redaction'] / log_us['walk']:.2f}x")
    for signal, result in checks.items():
        print(f"{signal}: {result}")
    summary = {"spans": spans, "logs": logs, "checks": checks}
    print(json.dumps(summary))
    return 0 if not any(r["secrets_missed"] or r["benign_changed"] for r in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
