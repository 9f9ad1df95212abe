"""``Redactor``: secrets and personal data masked in every span and log record before they leave
the sidecar.

Enable it in the scorer chain (entry point ``redaction``; ``vigil up`` runs
``threat,anomaly,redaction``)::

    VIGIL_SIDECAR_SCORERS=threat,anomaly,redaction vigil serve

It always runs last, wherever it is named (``runs_last``: see :mod:`vigil.processors.scoring`):
the other scorers judge the raw values (the threat scorer needs the payload next to the
password), and only then are the values masked. Its settings are the ``VIGIL_REDACTION_*``
variables (:mod:`vigil.processors.redaction.settings`). How values are masked, and what is left of
them, is :mod:`vigil.processors.redaction.masking`.

What it reads
-------------
Spans of every kind, and the attributes of their events:

=================================================  ============================================
``url.query``                                      a query string: secret-named parameters
``url.full``, ``url.original``, ``http.url``,      a URL: user info, query, fragment
``http.target``
``http.request.header.<name>``,                    by header: ``Authorization`` keeps its scheme
``http.response.header.<name>`` (strings or        only, ``Cookie`` / ``Set-Cookie`` their names,
string arrays)                                     ``X-Api-Key`` and other secret names nothing,
                                                   ``Referer`` / ``Location`` as URLs; addresses,
                                                   hosts, agents and media types (``X-Forwarded-
                                                   For``, ``User-Agent``, ``Accept``...) are not
                                                   read; the rest as text
``db.query.text``, ``db.statement``,               text: secret-named pairs, credentials, token
``exception.message``, ``exception.stacktrace``    shapes, card numbers
an attribute whose last segment names a secret     the whole value (``app.api_key``,
(``*.password``, ``*.api_key``, ``*.token``), or   ``user.password``)
one in ``VIGIL_REDACTION_ATTRIBUTES``
``user.email``, ``user.name``, ``user.id``,        text, for e-mail addresses
``enduser.id`` (with ``VIGIL_REDACTION_EMAILS``)
=================================================  ============================================

Log records: the body (a string as text; a map's values by their key, as above) and every string
attribute: those above as above, the others as text, except labels that carry no data
(``code.*``, ``thread.*``, ``process.*``, ``otel.*``, ``log.*``, ``vigil.*``, ``event.name``,
``exception.type``).

Not read: resource attributes (the instrumentation redacts ``process.command_args`` itself),
metrics, span names and links.

What it writes
--------------
The masked value in place of the original; nothing else. A request with nothing to mask is left
byte for byte as it was. The counter ``vigil_redactions_total{signal}`` on the sidecar's
``/metrics`` counts the values masked.

Cost
----
Each attribute key is classified once (a bounded dict from key to what to do); a span costs one
dict lookup per attribute, and the few values worth reading a substring pre-check
(:meth:`~vigil.processors.redaction.masking.Masker.worth_a_look`). Statements and query strings,
and header values, which repeat, are remembered (bounded). ``bench/redaction`` measures it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from prometheus_client import Counter

from vigil.processors.redaction.masking import REDACTED, Masker
from vigil.processors.signals import Signal

REDACTIONS = Counter("vigil_redactions", "Values in which secrets or personal data were masked", ["signal"])

# What to do with a value (compared by identity); a header is ("header", its name).
_NONE, _QUERY, _URL, _TEXT, _MEMO_TEXT, _SECRET = "none", "query", "url", "text", "memo-text", "secret"
_KNOWN_KEYS = {
    "url.query": _QUERY,
    "url.full": _URL,
    "url.original": _URL,
    "http.url": _URL,
    "http.target": _URL,
    "db.query.text": _MEMO_TEXT,
    "db.statement": _MEMO_TEXT,
    "exception.message": _TEXT,
    "exception.stacktrace": _TEXT,
}
_HEADER_PREFIXES = ("http.request.header.", "http.response.header.")
# Headers whose values are addresses, hosts, agents or media types by nature: not read.
_PLAIN_HEADERS = frozenset(
    {
        "x-forwarded-for",
        "x-real-ip",
        "true-client-ip",
        "x-client-ip",
        "cf-connecting-ip",
        "forwarded",
        "host",
        "x-forwarded-host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "user-agent",
        "accept",
        "accept-language",
        "accept-encoding",
        "content-type",
        "content-length",
        "x-requested-with",
        "traceparent",
        "tracestate",
    }
)
_PERSONAL_KEYS = frozenset({"user.email", "user.name", "user.id", "enduser.id"})
# Log attributes that label a record rather than carry data.
_LOG_LABELS = ("code.", "thread.", "process.", "otel.", "log.", "vigil.", "event.name", "exception.type")
_CACHE_SIZE = 4096
_MAX_DEPTH = 8  # nested maps and arrays in a log body
_MISS = object()


@dataclass(frozen=True)
class RedactionConfig:
    """Settings of the redaction scorer (``VIGIL_REDACTION_*``)."""

    cards: bool = True
    """Mask payment card numbers (all but the last four digits)."""
    emails: bool = False
    """Mask the local part of e-mail addresses."""
    secret_names: frozenset[str] = frozenset()
    """More names of parameters, pairs, headers and attributes whose values are secrets."""
    attributes: frozenset[str] = frozenset()
    """Attribute keys whose whole value is masked."""


class Redactor:
    """Masks secrets and personal data in spans and log records, in place (see the module
    docstring)."""

    name = "redaction"
    signals = frozenset({Signal.TRACES, Signal.LOGS})
    runs_last = True

    def __init__(self, config: RedactionConfig | None = None) -> None:
        self.config = config = config or RedactionConfig()
        self.masker = Masker(cards=config.cards, emails=config.emails, secret_names=config.secret_names)
        self._span_keys: dict[str, object] = {}
        self._log_keys: dict[str, object] = {}
        # Per kind of value that repeats (statements, query strings, each header): value ->
        # masked, or None when unchanged.
        self._memos: dict[object, dict[str, str | None]] = {}

    def score(self, signal: Signal, request: Message) -> None:
        """Mask the secrets in ``request``'s spans or log records, in place."""
        masked = 0
        if signal is Signal.TRACES:
            for resource_spans in request.resource_spans:
                for scope_spans in resource_spans.scope_spans:
                    masked += self._spans(scope_spans.spans)
        elif signal is Signal.LOGS:
            for resource_logs in request.resource_logs:
                for scope_logs in resource_logs.scope_logs:
                    masked += self._records(scope_logs.log_records)
        if masked:
            REDACTIONS.labels(signal.label).inc(masked)

    def _spans(self, spans: Iterable[Message]) -> int:
        keys, classify, redact = self._span_keys, self._classify, self._redact
        masked = 0
        for span in spans:
            for kv in span.attributes:
                how = keys.get(kv.key)
                if how is None:
                    how = classify(kv.key, keys, log=False)
                if how is not _NONE:
                    masked += redact(kv.value, how)
            if span.events:
                for event in span.events:
                    masked += self._attributes(event.attributes)
        return masked

    def _records(self, records: Iterable[Message]) -> int:
        masked = 0
        for record in records:
            masked += self._attributes(record.attributes)
            body = record.body
            if body.string_value or body.HasField("kvlist_value") or body.HasField("array_value"):
                masked += self._redact(body, _TEXT)
        return masked

    def _attributes(self, attributes: Iterable[Message]) -> int:
        keys, classify, redact = self._log_keys, self._classify, self._redact
        masked = 0
        for kv in attributes:
            how = keys.get(kv.key)
            if how is None:
                how = classify(kv.key, keys, log=True)
            if how is not _NONE:
                masked += redact(kv.value, how)
        return masked

    def _classify(self, key: str, cache: dict[str, object], log: bool) -> object:
        how: object = _KNOWN_KEYS.get(key)
        if how is None:
            last = key.rpartition(".")[2]
            if key.startswith(_HEADER_PREFIXES):
                name = last.replace("_", "-")
                how = _NONE if name in _PLAIN_HEADERS else ("header", name)
            elif key in self.config.attributes or self.masker.is_secret_name(last):
                how = _SECRET
            elif log:
                how = _NONE if key.startswith(_LOG_LABELS) else _TEXT
            elif self.masker.emails and key in _PERSONAL_KEYS:
                how = _TEXT
            else:
                how = _NONE
        if len(cache) >= _CACHE_SIZE:
            cache.clear()
        cache[key] = how
        return how

    def _redact(self, value: AnyValue, how: object, depth: int = 0) -> int:
        """Mask ``value`` (a string, or the strings in an array or map) in place; return how many
        strings changed."""
        text = value.string_value
        if text:
            masked = self._mask(text, how)
            if masked is text:
                return 0
            value.string_value = masked
            return 1
        if depth >= _MAX_DEPTH:
            return 0
        kind = value.WhichOneof("value")
        changed = 0
        if kind == "array_value":
            mask = self._mask
            for item in value.array_value.values:
                text = item.string_value
                if text:
                    masked = mask(text, how)
                    if masked is not text:
                        item.string_value = masked
                        changed += 1
                elif item.WhichOneof("value") in ("array_value", "kvlist_value"):
                    changed += self._redact(item, how, depth + 1)
        elif kind == "kvlist_value":
            for kv in value.kvlist_value.values:
                inner = _SECRET if self.masker.is_secret_name(kv.key) else how
                changed += self._redact(kv.value, inner, depth + 1)
        return changed

    def _mask(self, text: str, how: object) -> str:
        masker = self.masker
        if how is _TEXT:
            return masker.text(text)
        if how is _URL:  # full URLs carry ids and rarely repeat
            return masker.url(text)
        if how is _SECRET:
            return text if text == REDACTED else REDACTED
        # Statements, query strings and header values repeat: remembered per kind (bounded).
        memo = self._memos.get(how)
        if memo is None:
            memo = self._memos[how] = {}
        known = memo.get(text, _MISS)
        if known is not _MISS:
            return text if known is None else known  # type: ignore[return-value]
        if how is _QUERY:
            masked = masker.query(text)
        elif how is _MEMO_TEXT:
            masked = masker.text(text)
        else:
            masked = masker.header(how[1], text)  # type: ignore[index]
        if len(memo) >= _CACHE_SIZE:
            memo.clear()
        memo[text] = None if masked is text else masked
        return masked
