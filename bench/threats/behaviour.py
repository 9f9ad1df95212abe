"""The behavioural detector's cost per HTTP server span: one call per span against one per batch.

``BehaviourDetector.span`` judges one server span from its attributes (KeyValues, as the scorer
collected them one span at a time); ``BehaviourDetector.spans`` judges a batch from columns of
the attributes' values (as the scorer's column scanner hands them over). Both give the same
results and leave the same state (``tests/processors/threat/test_behaviour.py``); this measures
what each costs.

The traffic: ``--batches`` consecutive batches of ``--size`` (512) server spans, a few ms apart,
from random clients (``10.x.y.z``: almost every request a new client, the worst case for the
stores), to about ten routes, mostly GET, statuses mostly 200 and a few 404 (and 401 on a
login). ``--hour`` sets the time of day: 12 by default, 23 to include the night-time check of
privileged routes (one of the routes is ``/admin/users``). Each round starts fresh detectors
and the variants alternate; the medians of ``--rounds`` rounds are compared. The clock covers the
detector calls only (the KeyValues and the columns are made beforehand).

Only ratios from one run mean anything; absolute µs hold for this machine at this moment.

Usage (from the checkout; a few seconds)::

    .venv/bin/python bench/threats/behaviour.py [--batches 40] [--size 512] [--rounds 7] [--hour 12]

The last line printed is a JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from vigil.processors.threat.behaviour import SLOT_COUNT, SPAN_SLOTS, BehaviourDetector

ROUTES = (
    "/",
    "/api/v1/items",
    "/api/v1/items/{id}",
    "/api/v1/cart",
    "/api/v1/orders",
    "/api/v1/orders/{id}",
    "/api/v1/search",
    "/api/v1/auth/login",
    "/static/{path}",
    "/admin/users",
)
S = 1_000_000_000
MIDNIGHT = 1_699_920_000 * S  # 2023-11-14 00:00:00 UTC


def batch(rng: random.Random, size: int, start: int) -> tuple[list[list], list[str], list[int], list[Span]]:
    """(columns, paths, times, spans) of one batch of server spans."""
    columns: list[list] = [[None] * size for _ in range(SLOT_COUNT)]
    paths, times, spans = [], [], []
    for k in range(size):
        route = rng.choice(ROUTES)
        login = route.endswith("/login")
        method = "POST" if login or rng.random() < 0.1 else "GET"
        roll = rng.random()
        status = 401 if login and roll < 0.2 else 404 if roll < 0.02 else 200
        client = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        columns[SPAN_SLOTS["client.address"]][k] = client
        columns[SPAN_SLOTS["http.route"]][k] = route
        columns[SPAN_SLOTS["http.request.method"]][k] = method
        columns[SPAN_SLOTS["http.response.status_code"]][k] = status
        paths.append(route.replace("{id}", str(rng.randrange(1, 10_000))).replace("{path}", "app.js"))
        times.append(start + k * 1_000_000)
        span = Span(kind=Span.SpanKind.SPAN_KIND_SERVER, end_time_unix_nano=times[-1])
        span.attributes.add(key="user.name", value=AnyValue(string_value=f"user{rng.randrange(1000)}"))
        spans.append(span)
    return columns, paths, times, spans


def key_values(columns: list[list], k: int) -> list[KeyValue | None]:
    """The k-th span's attributes by slot, as the per-span scorer collects them."""
    names = {slot: key for key, slot in SPAN_SLOTS.items()}
    found: list[KeyValue | None] = []
    for slot in range(SLOT_COUNT):
        value = columns[slot][k]
        if value is None:
            found.append(None)
        elif isinstance(value, int):
            found.append(KeyValue(key=names[slot], value=AnyValue(int_value=value)))
        else:
            found.append(KeyValue(key=names[slot], value=AnyValue(string_value=value)))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--hour", type=int, default=12)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = MIDNIGHT + args.hour * 3600 * S
    batches = [batch(rng, args.size, start + b * args.size * 1_000_000) for b in range(args.batches)]
    rows = [[key_values(columns, k) for k in range(args.size)] for columns, *_ in batches]

    def per_span() -> float:
        detector = BehaviourDetector()
        span = detector.span
        began = time.perf_counter()
        for (_, paths, times, spans), found in zip(batches, rows, strict=True):
            for k in range(len(times)):
                span(found[k], paths[k], times[k], spans[k])
        return time.perf_counter() - began

    def per_batch() -> float:
        detector = BehaviourDetector()
        began = time.perf_counter()
        for columns, paths, times, spans in batches:
            detector.spans(columns, paths, times, spans.__getitem__)
        return time.perf_counter() - began

    variants: dict[str, Callable[[], float]] = {"span": per_span, "spans": per_batch}
    timings: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            timings[name].append(run())
    count = args.batches * args.size
    us = {name: statistics.median(values) / count * 1e6 for name, values in timings.items()}
    ratio = us["spans"] / us["span"]
    print(f"server spans: {count} in {args.batches} batches of {args.size}, {args.hour:02d}:00 UTC")
    print(f"span() one by one: {us['span']:.3f} µs per span")
    print(f"spans() per batch: {us['spans']:.3f} µs per span ({ratio:.1%} of span())")
    print(json.dumps({"spans": count, "hour": args.hour, "us_per_span": us, "ratio": ratio}))


if __name__ == "__main__":
    main()
