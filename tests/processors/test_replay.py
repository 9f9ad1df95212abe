"""`vigil score IN OUT`: recorded telemetry scored offline, bad lines reported and skipped."""

from __future__ import annotations

import io
import json
import subprocess
import sys

from tests.processors.test_otlp_json import SPANS
from vigil.processors.replay import replay
from vigil.processors.scoring import ScorerChain

ATTACK = json.loads(json.dumps(SPANS).replace("q=lamp", "q=1'%20OR%20'1'='1"))


def attributes(span: dict) -> dict:
    return {a["key"]: a["value"] for a in span["attributes"]}


def test_scored_lines_in_order_with_threat_events_after_the_attack():
    source = io.StringIO("\n".join([json.dumps(SPANS), json.dumps(ATTACK)]) + "\n")
    sink, errors = io.StringIO(), io.StringIO()
    report = replay(source, sink, ScorerChain.from_names(["threat"]), errors)
    benign, attack, event = (json.loads(line) for line in sink.getvalue().splitlines())

    assert benign == SPANS  # nothing to say about it: unchanged
    span = attack["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert attributes(span)["vigil.threat.score"]["doubleValue"] >= 0.5
    record = event["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert record["traceId"] == span["traceId"] and record["spanId"] == span["spanId"]
    assert (report.scored, report.side_output, report.errors) == (2, 1, [])


def test_a_bad_line_is_reported_with_its_number_and_the_rest_is_scored():
    lines = [json.dumps(SPANS), "{truncated", json.dumps(ATTACK)]
    sink, errors = io.StringIO(), io.StringIO()
    report = replay(io.StringIO("\n".join(lines)), sink, ScorerChain.from_names(["threat"]), errors)
    assert report.scored == 2 and len(sink.getvalue().splitlines()) == 3  # two requests and an event
    assert errors.getvalue().startswith("vigil score: line 2: not JSON")


def test_the_command_exits_1_when_it_skipped_a_line(tmp_path):
    recorded = tmp_path / "in.jsonl"
    recorded.write_text(
        json.dumps(ATTACK) + "\n" + '{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "vigil.processors.cli", "score", str(recorded), str(tmp_path / "out.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "line 2: an id is not hex" in result.stderr
    assert "1 requests scored, 1 events written, 1 lines skipped" in result.stderr
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2
