"""Threat scoring: recall and false positives per category, and µs per span, beside libinjection.

One run measures, on the same data:

**Accuracy, per value.** Every value of the corpora in ``../shared/corpora`` (libinjection's
SQLi and XSS files and false positives, payloadbox, HttpParamsDataset) and of Vigil's own
``tests/processors/threat/{attack,benign}_values.txt`` is judged as one query-string parameter,
the way ``ThreatScorer`` judges each parameter of ``url.query``. HttpParamsDataset's xss, path-traversal
and cmdi labels are measured twice: all rows, and the attacks alone (``... attacks``: without the
rows ``tests/processors/threat/corpora.py`` names in ``HTTPPARAMS_EXCLUSIONS``, with the reason
for each; the counts are in the JSON as ``excluded``). Vigil flags a value when its
score is >= 0.5. libinjection (``libinjection-python``, GPL: installed for this benchmark only,
``.venv/bin/pip install libinjection-python``, never a dependency) gets the value URL-decoded
once, as its own test harness does, and flags it when ``is_sql_injection`` (SQLi corpora),
``is_xss`` (XSS corpora) or either (other categories, benign values) says so. Without
libinjection installed, a naive keyword/regex baseline stands in and the output says so.

**Cost, per value.** ``analyse(value, Kind.PARAM)`` on every benign value and on the attacks of
each category, one by one and without any cache, beside the baseline's decode-and-check of the
same values (alternating, median of ``--rounds``).

**Cost, per span.** Batches of 512 spans (``traffic.py``), one every 200 ms of span time, each
holding spans that ended in the 200 ms before it: HTTP server spans with realistic
paths, query strings and user agents, database spans with ORM-generated SQL, HTTP client and
internal spans, and about ``--attack-share`` (2%) of spans carrying a payload drawn from the
attack corpora (or a scanner user agent). Each variant scores freshly parsed copies of the same
batches (Vigil's scorer also gets the bytes they were parsed from, as in the sidecar, where it is
the first scorer of the chain); the clock covers ``score()`` only (decoding the request and
encoding it again is the sidecar's cost with any scorer, shown apart as ``parse+encode``). Each
round starts a fresh scorer, so its caches (user agents, statements, query strings: values real
traffic repeats) warm up within the round but never on batches already seen. The variants
alternate (vigil, baseline, vigil, ...) for ``--rounds`` rounds and the medians are compared. The baseline
scorer walks the same attributes and calls libinjection on each decoded query parameter and on
the decoded path.

Only ratios from one run mean anything; absolute µs hold for this machine at this moment.

Usage (from the checkout; about a minute)::

    .venv/bin/python bench/threats/run.py [--batches 20] [--rounds 5] [--attack-share 0.02] [--seed 1]

The last line printed is a JSON object with every number.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import traffic  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402

from tests.processors.threat import corpora  # noqa: E402
from vigil.processors.signals import Signal  # noqa: E402
from vigil.processors.threat import ThreatScorer  # noqa: E402
from vigil.processors.threat.analysis import Kind, analyse  # noqa: E402
from vigil.processors.threat.verdict import ATTACK_THRESHOLD, verdict  # noqa: E402

try:
    import libinjection  # GPL: installed for this benchmark only, never imported outside bench/
except ImportError:  # pragma: no cover - depends on the environment
    libinjection = None


# --- the baseline -------------------------------------------------------------------------------

_NAIVE_SQL = re.compile(
    r"(?i)('|\")\s*(or|and)\s|union\s+select|;\s*(drop|delete|insert|update)\s|--|/\*|sleep\("
)
_NAIVE_XSS = re.compile(r"(?i)<script|javascript:|\bon[a-z]+\s*=|<iframe|<img[^>]+src")


class Baseline:
    """libinjection if installed, else a naive keyword/regex check, on a once-decoded value."""

    def __init__(self) -> None:
        self.name = "libinjection" if libinjection is not None else "naive-regex"

    def sqli(self, decoded: str) -> bool:
        if libinjection is not None:
            return bool(libinjection.is_sql_injection(decoded)["is_sqli"])
        return bool(_NAIVE_SQL.search(decoded))

    def xss(self, decoded: str) -> bool:
        if libinjection is not None:
            return bool(libinjection.is_xss(decoded)["is_xss"])
        return bool(_NAIVE_XSS.search(decoded))

    def either(self, decoded: str) -> bool:
        return self.sqli(decoded) or self.xss(decoded)


def _unquote(value: str) -> str:
    return urllib.parse.unquote_plus(value, errors="replace")


class BaselineScorer:
    """The same attribute walk as ThreatScorer, libinjection on each decoded parameter and path."""

    name = "baseline"
    signals = frozenset({Signal.TRACES})
    _KEYS = frozenset({"url.query", "url.path", "http.target"})

    def __init__(self, baseline: Baseline) -> None:
        self.baseline = baseline

    def score(self, signal: Signal, request) -> None:
        either, keys = self.baseline.either, self._KEYS
        for rs in request.resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    if span.kind in (3, 4):
                        continue
                    flagged = False
                    for kv in span.attributes:
                        if kv.key not in keys:
                            continue
                        value = kv.value.string_value
                        if kv.key == "url.query":
                            parts = [p.partition("=")[2] for p in value.split("&")]
                        else:
                            parts = [value]
                        flagged = flagged or any(either(_unquote(p)) for p in parts if p)
                    if flagged:
                        span.attributes.append(
                            KeyValue(key="baseline.flagged", value=AnyValue(bool_value=True))
                        )


# --- accuracy -----------------------------------------------------------------------------------


def vigil_flags(value: str) -> tuple[bool, tuple[str, ...]]:
    result = verdict(analyse(value, Kind.PARAM))
    return (result is not None and result.score >= ATTACK_THRESHOLD, result.categories if result else ())


def accuracy(baseline: Baseline) -> dict[str, dict[str, object]]:
    own = corpora.attack_values()
    attacks: list[tuple[str, str, Sequence[str], Callable[[str], bool]]] = [
        ("sqli", "libinjection sqli-*", corpora.libinjection_sqli(), baseline.sqli),
        ("sqli", "httpparams sqli", corpora.httpparams_label("sqli"), baseline.sqli),
        ("sqli", "payloadbox", corpora.payloadbox_sqli(), baseline.sqli),
        ("xss", "libinjection xss-*", corpora.libinjection_xss(), baseline.xss),
        ("xss", "httpparams xss", corpora.httpparams_label("xss"), baseline.xss),
        ("xss", "httpparams xss attacks", corpora.httpparams_attacks("xss"), baseline.xss),
        (
            "traversal",
            "httpparams path-traversal",
            corpora.httpparams_label("path-traversal"),
            baseline.either,
        ),
        (
            "traversal",
            "httpparams path-traversal attacks",
            corpora.httpparams_attacks("path-traversal"),
            baseline.either,
        ),
        ("cmdi", "httpparams cmdi", corpora.httpparams_label("cmdi"), baseline.either),
        ("cmdi", "httpparams cmdi attacks", corpora.httpparams_attacks("cmdi"), baseline.either),
    ]
    for category in ("sqli", "xss", "traversal", "cmdi", "jndi", "ssti", "ssrf"):
        values = [v for c, v in own if c == category]
        check = (
            baseline.sqli if category == "sqli" else baseline.xss if category == "xss" else baseline.either
        )
        attacks.append((category, f"vigil attack_values {category}", values, check))
    rows: dict[str, dict[str, object]] = {}
    for category, name, values, check in attacks:
        flagged = right = base = 0
        for value in values:
            hit, categories = vigil_flags(value)
            flagged += hit
            right += hit and category in categories
            base += check(_unquote(value))
        n = len(values)
        rows[name] = {"kind": "attack", "category": category, "n": n, "vigil": flagged / n,
                      "vigil_right_category": right / n, baseline.name: base / n}  # fmt: skip
    benign = [
        ("httpparams norm", corpora.httpparams_label("norm")),
        ("libinjection false_positives", corpora.libinjection_false_positives()),
        ("vigil benign_values", corpora.benign_values()),
    ]
    total = {"n": 0, "vigil": 0, "base": 0}
    for name, values in benign:
        flagged = sum(vigil_flags(v)[0] for v in values)
        base = sum(baseline.either(_unquote(v)) for v in values)
        rows[name] = {"kind": "benign", "n": len(values), "vigil": flagged / len(values),
                      baseline.name: base / len(values)}  # fmt: skip
        total["n"] += len(values)
        total["vigil"] += flagged
        total["base"] += base
    rows["all benign"] = {"kind": "benign", "n": total["n"], "vigil": total["vigil"] / total["n"],
                          baseline.name: total["base"] / total["n"]}  # fmt: skip
    return rows


# --- cost per value -------------------------------------------------------------------------------


def value_sets() -> dict[str, Sequence[str]]:
    """The values timed one by one: every benign value, and the attacks of each category."""
    own = corpora.attack_values()
    return {
        "benign": [
            *corpora.httpparams_label("norm"),
            *corpora.libinjection_false_positives(),
            *corpora.benign_values(),
        ],
        "sqli": [*corpora.httpparams_label("sqli"), *(v for c, v in own if c == "sqli")],
        "xss": [
            *corpora.libinjection_xss(),
            *corpora.httpparams_label("xss"),
            *(v for c, v in own if c == "xss"),
        ],
        "traversal": [*corpora.httpparams_label("path-traversal"), *(v for c, v in own if c == "traversal")],
        "cmdi": [*corpora.httpparams_label("cmdi"), *(v for c, v in own if c == "cmdi")],
    }


def value_cost(baseline: Baseline, rounds: int) -> dict[str, dict[str, float]]:
    """µs per value of ``analyse(value, Kind.PARAM)`` and of the baseline (decode + check), per set.

    No cache is involved: every value is judged from scratch, as on its first sighting. The two
    variants alternate for ``rounds`` rounds; the medians are reported.
    """
    checks: dict[str, Callable[[str], object]] = {
        "vigil": lambda v: analyse(v, Kind.PARAM),
        "baseline": lambda v: baseline.either(_unquote(v)),
    }
    result: dict[str, dict[str, float]] = {}
    for name, values in value_sets().items():
        times: dict[str, list[float]] = {variant: [] for variant in checks}
        for _ in range(rounds):
            for variant, check in checks.items():
                started = time.perf_counter()
                for value in values:
                    check(value)
                times[variant].append((time.perf_counter() - started) / len(values) * 1e6)
        result[name] = {"n": len(values), **{v: statistics.median(t) for v, t in times.items()}}
    return result


# --- cost per span --------------------------------------------------------------------------------


def attack_pool(rng: random.Random) -> list[tuple[str, str]]:
    pool: list[tuple[str, str]] = []
    pool += [(v, "sqli") for v in rng.sample(corpora.libinjection_sqli(), 400)]
    pool += [(v, "sqli") for v in rng.sample(corpora.httpparams_label("sqli"), 400)]
    pool += [(v, "xss") for v in rng.sample(corpora.libinjection_xss(), 300)]
    pool += [(v, "xss") for v in corpora.httpparams_label("xss")[:200]]
    pool += [(v, "traversal") for v in corpora.httpparams_label("path-traversal")]
    pool += [(v, "cmdi") for v in corpora.httpparams_label("cmdi")]
    pool += [(v, c) for c, v in corpora.attack_values() if c in ("jndi", "ssti", "ssrf")] * 3
    pool += [(agent, "scanner") for agent in traffic.SCANNER_AGENTS] * 20
    return pool


def cost(args: argparse.Namespace, baseline: Baseline) -> dict[str, object]:
    rng = random.Random(args.seed)
    pool = attack_pool(rng)
    # One request every 200 ms, as a collector's batch processor sends them.
    batches = [
        traffic.request(rng, 512, pool, args.attack_share, traffic.START_NS + i * traffic.BATCH_WINDOW_NS)
        for i in range(args.batches)
    ]
    payloads = [req.SerializeToString() for req, _ in batches]
    truth = [t for _, ts in batches for t in ts]
    spans = len(truth)
    # A fresh scorer per round: its caches (user agents, statements, query strings) warm up within
    # the round, as in a running sidecar, but never on batches it has already seen.
    scorers = {"vigil": ThreatScorer, "baseline": lambda: BaselineScorer(baseline)}
    timings: dict[str, list[float]] = {name: [] for name in scorers}
    parse_encode: list[float] = []
    outputs: dict[str, list] = {}
    for _ in range(args.rounds):
        for name, make in scorers.items():
            scorer = make()
            started = time.perf_counter()
            parsed = [Signal.TRACES.parse(p) for p in payloads]
            parsed_at = time.perf_counter()
            if getattr(scorer, "reads_payload", False):  # as the sidecar runs it: with the bytes
                for req, payload in zip(parsed, payloads, strict=True):
                    scorer.score(Signal.TRACES, req, payload=payload)
            else:
                for req in parsed:
                    scorer.score(Signal.TRACES, req)
            scored_at = time.perf_counter()
            for req in parsed:
                req.SerializeToString()
            encoded_at = time.perf_counter()
            timings[name].append((scored_at - parsed_at) / spans * 1e6)
            if name == "vigil":
                parse_encode.append(((parsed_at - started) + (encoded_at - scored_at)) / spans * 1e6)
            outputs[name] = parsed
    detection = {}
    for name, parsed in outputs.items():
        flags = []
        for req in parsed:
            for span in req.resource_spans[0].scope_spans[0].spans:
                flag = False
                for kv in span.attributes:
                    if kv.key == "vigil.threat.score":
                        flag = kv.value.double_value >= ATTACK_THRESHOLD
                    elif kv.key == "baseline.flagged":
                        flag = True
                flags.append(flag)
        attacks = sum(truth)
        detection[name] = {
            "attack_spans_flagged": sum(f and t for f, t in zip(flags, truth, strict=True)) / max(attacks, 1),
            "benign_spans_flagged": sum(f and not t for f, t in zip(flags, truth, strict=True))
            / max(spans - attacks, 1),
        }
    return {
        "spans": spans,
        "attack_spans": sum(truth),
        "batch_spans": 512,
        "rounds": args.rounds,
        "us_per_span": {name: statistics.median(values) for name, values in timings.items()},
        "us_per_span_rounds": timings,
        "parse_encode_us_per_span": statistics.median(parse_encode),
        "detection": detection,
    }


# --- report ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=20, help="batches of 512 spans (default 20)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per variant (default 5)")
    parser.add_argument(
        "--attack-share", type=float, default=0.02, help="share of attack spans (default 0.02)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-accuracy", action="store_true", help="measure cost only")
    args = parser.parse_args(argv)
    if not corpora.available():
        print(f"corpora not found at {corpora.CORPORA}", file=sys.stderr)
        return 2
    baseline = Baseline()
    if baseline.name != "libinjection":
        print("libinjection-python is not installed: comparing with a naive regex baseline instead")
    b = baseline.name

    rows = {} if args.skip_accuracy else accuracy(baseline)
    if rows:
        print(f"\naccuracy per value (flagged = score >= {ATTACK_THRESHOLD}; {b} = the baseline)")
        print(f"{'corpus':34} {'n':>6} {'vigil':>8} {'right cat.':>10} {b:>12} {'vigil/' + b:>18}")
        for name, row in rows.items():
            ratio = row["vigil"] / row[b] if row[b] else float("inf")
            label = "recall" if row["kind"] == "attack" else "false pos."
            right = f"{row['vigil_right_category']:>10.2%}" if "vigil_right_category" in row else " " * 10
            print(
                f"{name:34} {row['n']:>6} {row['vigil']:>8.2%} {right} {row[b]:>12.2%}"
                f"   {label} {ratio:>6.2f}x"
            )

    per_value = value_cost(baseline, args.rounds)
    print(f"\ncost per value, no cache (median of {args.rounds} alternating rounds)")
    print(f"{'values':12} {'n':>6} {'vigil µs':>9} {b + ' µs':>16} {'vigil/' + b:>18}")
    for name, row in per_value.items():
        print(
            f"{name:12} {row['n']:>6} {row['vigil']:>9.2f} {row['baseline']:>16.2f} "
            f"{row['vigil'] / row['baseline']:>17.2f}x"
        )

    result = cost(args, baseline)
    result["us_per_value"] = per_value
    us = result["us_per_span"]
    print(
        f"\ncost per span: {result['spans']} spans in batches of 512, {result['attack_spans']} attacks "
        f"({result['attack_spans'] / result['spans']:.1%}), median of {args.rounds} alternating rounds"
    )
    for name in ("vigil", "baseline"):
        rounds = ", ".join(f"{v:.2f}" for v in result["us_per_span_rounds"][name])
        label = "ThreatScorer.score" if name == "vigil" else f"{b} scorer"
        print(f"  {label:28} {us[name]:6.2f} µs/span   (rounds: {rounds})")
    print(f"  {'parse + encode (any scorer)':28} {result['parse_encode_us_per_span']:6.2f} µs/span")
    for name, det in result["detection"].items():
        label = "vigil" if name == "vigil" else b
        print(
            f"  {label:28} attack spans flagged {det['attack_spans_flagged']:.2%}, "
            f"benign spans flagged {det['benign_spans_flagged']:.3%}"
        )
    print(f"\ncost per span                   vigil/{b} = {us['vigil'] / us['baseline']:.2f}x")
    det = result["detection"]
    print(
        f"attack spans flagged            vigil/{b} = "
        f"{det['vigil']['attack_spans_flagged'] / max(det['baseline']['attack_spans_flagged'], 1e-9):.2f}x"
    )
    if rows:
        for name in ("libinjection sqli-*", "httpparams sqli", "libinjection xss-*", "all benign"):
            row = rows[name]
            what = "false positives" if row["kind"] == "benign" else "recall"
            ratio = row["vigil"] / row[b] if row[b] else float("inf")
            print(f"{what + ' ' + name:31} vigil/{b} = {ratio:.2f}x")
    excluded = {label: corpora.httpparams_excluded(label) for label in ("xss", "path-traversal", "cmdi")}
    print(json.dumps({"baseline": b, "accuracy": rows, "cost": result, "excluded": excluded}, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
