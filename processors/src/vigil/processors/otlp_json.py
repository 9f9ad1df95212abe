"""OTLP/JSON, as the collector's file exporter writes it: one export request per line.

OTLP/JSON is protobuf's JSON mapping with two differences that matter here: trace and span ids
are hex strings (protobuf's mapping would use base64), and enums are integers. :func:`decode`
turns one line into the export request of its signal (told by its top-level key:
``resourceSpans``, ``resourceMetrics`` or ``resourceLogs``); :func:`encode` turns a request back
into one line the collector's ``otlp_json`` readers accept. Fields this version of the OTLP
protos does not know (a newer producer's) are ignored rather than fatal, as are enum names it does
not know; a value of the wrong type, or an id that is not hex, is an error.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message

from vigil.processors.signals import Signal

_TOP_LEVEL = {"resourceSpans": Signal.TRACES, "resourceMetrics": Signal.METRICS, "resourceLogs": Signal.LOGS}
_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


class OtlpJsonError(ValueError):
    """A line that is not an OTLP/JSON export request."""


def _ids(node: Any, convert: Any) -> Any:
    """``node`` with every trace/span id value passed through ``convert``, at any depth."""
    if isinstance(node, dict):
        return {
            k: convert(v) if k in _ID_KEYS and isinstance(v, str) else _ids(v, convert)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_ids(item, convert) for item in node]
    return node


def _hex_to_base64(value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode()
    except ValueError:
        raise OtlpJsonError(f"an id is not hex: {value[:40]!r}") from None


def _base64_to_hex(value: str) -> str:
    return base64.b64decode(value).hex()


def decode(line: str) -> tuple[Signal, Message]:
    """The signal and export request of one OTLP/JSON line; raises :class:`OtlpJsonError`."""
    try:
        document = json.loads(line)
    except json.JSONDecodeError as exc:
        raise OtlpJsonError(f"not JSON: {exc}") from None
    if not isinstance(document, dict):
        raise OtlpJsonError("not a JSON object")
    signals = [signal for key, signal in _TOP_LEVEL.items() if key in document]
    if len(signals) != 1:
        raise OtlpJsonError("expected exactly one of resourceSpans, resourceMetrics, resourceLogs")
    signal = signals[0]
    request = signal.request_type()
    try:
        json_format.ParseDict(_ids(document, _hex_to_base64), request, ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise OtlpJsonError(str(exc)) from None
    return signal, request


def encode(request: Message) -> str:
    """One OTLP/JSON line (no newline) for an export request."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    return json.dumps(_ids(document, _base64_to_hex), separators=(",", ":"), ensure_ascii=False)
