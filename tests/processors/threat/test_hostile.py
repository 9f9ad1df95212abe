"""Hostile input: huge values, deep encodings, broken escapes, pathological repetitions.

Nothing raises, and every value costs a bounded time: values are clipped (decoding.MAX_CHARS),
SQL reads at most sql.MAX_TOKENS tokens, HTML at most html.MAX_TAGS tags, the shell detector at
most shell.MAX_SEPARATORS separators, and no regular expression backtracks quadratically.
"""

from __future__ import annotations

import random
import time

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.processors.otlp_samples import attr
from tests.processors.threat.test_scorer import request
from vigil.processors.signals import Signal
from vigil.processors.threat import ThreatScorer
from vigil.processors.threat.analysis import Kind, analyse, analyse_query, analyse_target

# Repeated, each of these once made some pattern or loop do work per character, per character.
PIECES = [
    "'",
    '"',
    "<",
    "<!--",
    "/*",
    ".",
    "....",
    ";",
    "|",
    "&",
    "`",
    "$(",
    "${",
    "{{",
    "%",
    "%25",
    "%u",
    "&#",
    "\\x",
    "\\u",
    "(",
    " ",
    "\n",
    "\x00",
    "0x2e",
    "../",
    "..\\",
    "or ",
    "union select ",
    "-- ",
    "#",
    "javascript:",
    "onload=",
    '" on',
    "alert(1) ",
    "onload=  ",
    '"   ',
    "http://",
    "a /*a ",
    ";a:\\ ",
    "' or '",
    "<a href=",
    "'||'",
    "${${",
    "%%32%65",
    "%c0%ae",
    "\\",
    "//",
    "\uff1c",
    "+ADw-",
    "\ufdfa",
]
BUDGET = 0.25  # seconds per value, whatever it is (typically well under 10 ms)


@pytest.mark.parametrize("piece", PIECES)
def test_repetitions_stay_bounded(piece):
    value = piece * (50_000 // len(piece))
    for judge in (
        lambda v: analyse(v, Kind.PARAM),
        lambda v: analyse(v, Kind.PATH),
        lambda v: analyse(v, Kind.TEXT),
        lambda v: analyse(v, Kind.STATEMENT),
        lambda v: analyse(v, Kind.USER_AGENT),
        lambda v: analyse_query("a=" + v + "&" + v + "=b"),
        lambda v: analyse_target("/x/" + v + "?q=" + v),
    ):
        started = time.perf_counter()
        judge(value)
        assert time.perf_counter() - started < BUDGET, (piece, judge)


def test_random_garbage_never_raises():
    rng = random.Random(11)
    alphabet = "'\"<>/\\.;|&`$(){}[]%#-=+*,:@!?~^ \t\n\x00aZ09xuU\uff0e\u202e"
    tokens = [
        "%27",
        "%25",
        "%u0027",
        "&#39;",
        "&#x3c",
        "\\u003c",
        "+ADw-",
        "union",
        "select",
        "<script",
        "../",
        "${jndi:",
        "{{",
        "http://0x",
        "%c0%ae",
        "/*",
        "--",
        "%",
        "&#x",
        "\\u{",
        "[::",
    ]
    for _ in range(5000):
        value = "".join(
            rng.choice(tokens) if rng.random() < 0.3 else rng.choice(alphabet)
            for _ in range(rng.randint(1, 30))
        )
        for kind in Kind:
            analyse(value, kind)
        analyse_query(value)
        analyse_target(value)


def test_a_huge_request_is_scored_in_bounded_time():
    huge = "q=" + "%27%20OR%20" * 100_000  # 1.1 MB of query string
    spans = []
    for i in range(50):
        span = Span(name="GET /", kind=Span.SPAN_KIND_SERVER)
        span.attributes.extend([attr("url.query", huge), attr("url.path", "/" + "../" * 10_000 + str(i))])
        span.attributes.extend(attr(f"app.extra.{n}", "x" * 100) for n in range(200))
        spans.append(span)
    req = request(*spans)
    started = time.perf_counter()
    ThreatScorer().score(Signal.TRACES, req)
    assert time.perf_counter() - started < 10
    first = req.resource_spans[0].scope_spans[0].spans[0]
    assert any(kv.key == "vigil.threat.score" for kv in first.attributes)
