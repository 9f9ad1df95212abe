"""OTLP/JSON lines as the collector's file exporter writes them: hex ids, integer enums."""

from __future__ import annotations

import json

import pytest

from vigil.processors.otlp_json import OtlpJsonError, decode, encode
from vigil.processors.signals import Signal

TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"

SPANS = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "shop"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "opentelemetry.instrumentation.flask"},
                    "spans": [
                        {
                            "traceId": TRACE_ID,
                            "spanId": SPAN_ID,
                            "parentSpanId": "eee19b7ec3c1b173",
                            "name": "GET /search",
                            "kind": 2,
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": "1544712661000000000",
                            "attributes": [{"key": "url.query", "value": {"stringValue": "q=lamp"}}],
                            "status": {"code": 2},
                        }
                    ],
                }
            ],
        }
    ]
}


def test_a_span_line_decodes_with_its_ids_and_encodes_back_unchanged():
    signal, request = decode(json.dumps(SPANS))
    assert signal is Signal.TRACES
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.trace_id.hex() == TRACE_ID and span.span_id.hex() == SPAN_ID
    assert span.kind == 2 and span.end_time_unix_nano == 1544712661000000000
    assert json.loads(encode(request)) == SPANS


@pytest.mark.parametrize(
    "document,signal",
    [
        (
            {"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "jobs", "gauge": {}}]}]}]},
            Signal.METRICS,
        ),
        ({"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}}]}]}]}, Signal.LOGS),
    ],
)
def test_each_signal_is_told_by_its_top_level_key(document, signal):
    assert decode(json.dumps(document))[0] is signal


@pytest.mark.parametrize(
    "line,message",
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"resourceSpans": [], "resourceLogs": []}', "exactly one of"),
        ('{"somethingElse": []}', "exactly one of"),
        ('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}', "not hex"),
        (
            '{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            "startTimeUnixNano",
        ),
    ],
)
def test_what_is_not_otlp_json_is_a_clear_error(line, message):
    with pytest.raises(OtlpJsonError, match=message):
        decode(line)


def test_fields_of_newer_otlp_versions_are_ignored_not_fatal():
    newer = {
        "resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "x"}, "futureField": 1}]}]}]
    }
    assert decode(json.dumps(newer))[1].resource_logs[0].scope_logs[0].log_records[0].body.string_value == "x"
