"""``vigil score IN OUT``: scoring recorded telemetry offline.

Reads OTLP/JSON lines (the collector's file exporter format, any signal, one export request per
line) from ``IN`` (``-`` for standard input), runs them through the same scorer chain as the
sidecar, and writes the scored requests to ``OUT`` (``-`` for standard output), one line each, in
the same order, followed on the next lines by the scorers' side output (the threat scorer's
``vigil.threat`` events). For replaying recorded telemetry and for evaluating detectors on
labelled data::

    vigil score otlp-logs.jsonl scored.jsonl               # the threat scorer, as `vigil up` runs
    vigil score --scorers threat traces.jsonl - | jq ...
    vigil train last-week.jsonl --state baselines/         # learn anomaly baselines
    vigil score --state baselines/ today.jsonl scored.jsonl  # threat + anomaly, still learning

With ``--state``, lines are scored in the order of the file (the collector's file exporter writes
them as they arrive, which is time order up to its batching); the anomaly scorer's windows and
baselines follow the items' own timestamps, not the clock of the replay, and the state directory is
updated at the end.

A line that cannot be read is reported on standard error with its line number and skipped; the
others are still scored, and the exit status is 1 if any line was skipped. Speed: protobuf's JSON
mapping is the cost here (tens of µs per span), not the scoring.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from vigil.processors.otlp_json import OtlpJsonError, decode, encode
from vigil.processors.scoring import ScorerChain


@dataclass
class ReplayReport:
    lines: int = 0
    scored: int = 0
    side_output: int = 0
    errors: list[str] = field(default_factory=list)


def score_lines(lines: Iterable[str], chain: ScorerChain, report: ReplayReport) -> Iterator[str]:
    """Scored OTLP/JSON lines for ``lines``; unreadable lines are recorded in ``report`` and skipped."""
    for number, line in enumerate(lines, start=1):
        report.lines = number
        if not line.strip():
            continue
        try:
            signal, request = decode(line)
        except OtlpJsonError as exc:
            report.errors.append(f"line {number}: {exc}")
            continue
        side = chain.apply(signal, request) if chain.handles(signal) else []
        report.scored += 1
        yield encode(request)
        for _, side_request in side:
            report.side_output += 1
            yield encode(side_request)


def replay(source: TextIO, sink: TextIO, chain: ScorerChain, errors: TextIO = sys.stderr) -> ReplayReport:
    """Score every line of ``source`` into ``sink``; say what went wrong on ``errors``."""
    report = ReplayReport()
    for line in score_lines(source, chain, report):
        sink.write(line + "\n")
    for message in report.errors:
        print(f"vigil score: {message}", file=errors)
    return report
