"""Bounded cardinality for the attributes of application metrics.

Every distinct set of attribute values makes one more time series, kept in memory by the SDK for as
long as the process runs and stored by every backend downstream. A user id, an order number or a
client address as a metric attribute makes one series per user, order or client: unbounded memory
in the application and a bill at the backend. :class:`AttributeGuard` is what the application-metric
API (:mod:`vigil.instrumentation.jobs`) puts between the application's attributes and the
instruments. Ids belong on spans and log records, which are made for them.

What is refused
---------------
An attribute is dropped from the measurement (the measurement itself is still recorded, without
it) when its key names an identity, or its value looks like an id:

- **keys**: a key whose last word is ``id`` (``id``, ``user.id``, ``job_id``, ``requestId``), and the
  semantic-convention keys whose values are unbounded by nature: ``user.name``, ``user.email``,
  ``user.full_name``, ``enduser.id``, ``session.id``, ``client.address``, ``client.port``,
  ``source.address``, ``source.port``, ``url.full``, ``url.path``, ``url.query``, ``http.target``;
- **strings** that contain a UUID (``123e4567-e89b-12d3-a456-426614174000``), a run of 12 or more hex
  digits with a digit among them or of 16 or more of any hex digits (hashes, trace ids, container
  ids, Mongo object ids), a run of 6 or more decimal digits (order numbers, timestamps, phone and
  account numbers), an e-mail address, an IPv4 address or an IPv6 address (the whole value), a run
  of 16 or more letters and digits mixing both (ULIDs, base62 and other random tokens); and strings
  longer than 64 characters, which are text rather than a category;
- **integers** of 6 or more digits (ids again) and **floats** (a measured value, not a category);
  a sequence is refused when one of its items would be. Booleans are always fine.

Each refused key is reported once per guard with a warning on the ``vigil.instrumentation.cardinality``
logger (the value is not logged: it may be personal data), and all warnings together are limited to
:data:`WARNINGS_PER_MINUTE`, so that an application that makes new keys on the fly cannot flood its
own logs. :attr:`AttributeGuard.refused` counts the refusals.

The cap
-------
On top of that, each instrument admits at most ``max_attribute_sets`` distinct attribute sets
(:data:`DEFAULT_MAX_ATTRIBUTE_SETS` unless the caller says otherwise). Measurements with a new set
past the cap are recorded under the one overflow set ``{"otel.metric.overflow": true}``, as the
OpenTelemetry metrics specification names it for its cardinality limits (which this SDK does not
implement yet), with a warning once per instrument: totals stay right, and the series the overflow
takes is the sign to look at the attributes. The sets seen are kept for the life of the process;
the cap bounds that memory.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence

_logger = logging.getLogger(__name__)

AttributeValue = str | bool | int | float | Sequence[str] | Sequence[bool] | Sequence[int] | Sequence[float]
"""What a metric attribute may hold (the OpenTelemetry API's primitive values and sequences)."""
Attributes = Mapping[str, AttributeValue]

DEFAULT_MAX_ATTRIBUTE_SETS = 200
"""Distinct attribute sets an instrument admits before measurements go to the overflow set."""

OVERFLOW: Mapping[str, AttributeValue] = {"otel.metric.overflow": True}
"""The attribute set of measurements past the cap (OpenTelemetry metrics specification)."""

WARNINGS_PER_MINUTE = 10
"""Refusal and overflow warnings logged per minute, over all guards in the process."""

MAX_LENGTH = 64
"""Longer strings are refused: text, not a category."""

UNBOUNDED_KEYS = frozenset(
    {
        "user.name",
        "user.email",
        "user.full_name",
        "enduser.id",
        "session.id",
        "client.address",
        "client.port",
        "source.address",
        "source.port",
        "url.full",
        "url.path",
        "url.query",
        "http.target",
    }
)
"""Semantic-convention keys whose values are unbounded by nature (besides every ``*id`` key)."""

_ID_KEY_CAMEL = re.compile(r"[a-z0-9]Id$")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_RUN = re.compile(r"(?<![0-9A-Za-z])[0-9a-fA-F]{12,}(?![0-9A-Za-z])")
_DIGITS = re.compile(r"\d{6,}")
_EMAIL = re.compile(r"[^\s@]+@[^\s@]+\.[A-Za-z]{2,}")
_IPV4 = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}(?![\d.])")
_TOKEN = re.compile(r"[A-Za-z0-9]{16,}")


def key_is_unbounded(key: str) -> bool:
    """Whether ``key`` names an identity (see the module docstring)."""
    if key in UNBOUNDED_KEYS:
        return True
    lowered = key.lower()
    if lowered == "id" or _ID_KEY_CAMEL.search(key):
        return True
    return lowered.endswith((".id", "_id", "-id", " id"))


def looks_like_id(value: object) -> str | None:
    """Why ``value`` looks like an id (e.g. ``"a UUID"``), or None when it looks like a category."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "a number of 6 or more digits" if abs(value) >= 100_000 else None
    if isinstance(value, float):
        return "a floating-point number"
    if isinstance(value, str):
        return _string_looks_like_id(value)
    if isinstance(value, Sequence):
        return next((reason for item in value if (reason := looks_like_id(item)) is not None), None)
    return "a value that is not a string, number or boolean"


def _string_looks_like_id(value: str) -> str | None:
    if len(value) > MAX_LENGTH:
        return f"text longer than {MAX_LENGTH} characters"
    if _UUID.search(value):
        return "a UUID"
    for run in _HEX_RUN.findall(value):
        if len(run) >= 16 or any(c.isdigit() for c in run):
            return "a hexadecimal id"
    if _DIGITS.search(value):
        return "a run of 6 or more digits"
    if _EMAIL.search(value):
        return "an e-mail address"
    if _IPV4.search(value):
        return "an IP address"
    if ":" in value:
        try:
            ipaddress.IPv6Address(value.strip("[]"))
        except ValueError:
            pass
        else:
            return "an IP address"
    for run in _TOKEN.findall(value):
        if any(c.isdigit() for c in run) and any(c.isalpha() for c in run):
            return "a random token"
    return None


class _WarningBudget:
    """At most ``per_minute`` warnings a minute, process-wide (a token bucket)."""

    def __init__(self, per_minute: int) -> None:
        self._per_minute = per_minute
        self._tokens = float(per_minute)
        self._at = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._per_minute, self._tokens + (now - self._at) * self._per_minute / 60)
            self._at = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


_BUDGET = _WarningBudget(WARNINGS_PER_MINUTE)
_VERDICT_CACHE_SIZE = 4096
_MAX_WARNED_KEYS = 1024


class AttributeGuard:
    """Filters attributes before they reach instruments; see the module docstring.

    ``owner`` names what the attributes belong to in warnings (e.g. ``job metrics "resize"``).
    Thread-safe."""

    def __init__(self, owner: str, max_attribute_sets: int = DEFAULT_MAX_ATTRIBUTE_SETS) -> None:
        if max_attribute_sets < 1:
            raise ValueError(f"max_attribute_sets must be at least 1, not {max_attribute_sets}")
        self.owner = owner
        self.max_attribute_sets = max_attribute_sets
        self.refused = 0
        """Attributes refused so far."""
        self.overflowed = 0
        """Measurements recorded under the overflow set so far."""
        self._verdicts: dict[tuple[str, object], str | None] = {}
        self._warned_keys: set[str] = set()
        self._sets: dict[str, set[frozenset]] = {}
        self._overflow_warned: set[str] = set()
        self._lock = threading.Lock()

    def clean(self, attributes: Attributes | None) -> dict[str, AttributeValue]:
        """``attributes`` without the ones that name or look like ids (each refusal warned once
        per key)."""
        if not attributes:
            return {}
        kept: dict[str, AttributeValue] = {}
        for key, value in attributes.items():
            reason = self._verdict(key, value)
            if reason is None:
                kept[key] = value
            else:
                self._refuse(key, reason)
        return kept

    def admit(
        self, instrument: str, attributes: Mapping[str, AttributeValue]
    ) -> Mapping[str, AttributeValue]:
        """``attributes`` if ``instrument`` has seen them or is under the cap, else the overflow set."""
        key = frozenset((k, tuple(v) if isinstance(v, list) else v) for k, v in attributes.items())
        seen = self._sets.get(instrument)
        if seen is not None and key in seen:  # the common case, without the lock
            return attributes
        with self._lock:
            seen = self._sets.setdefault(instrument, set())
            if key in seen:
                return attributes
            if len(seen) < self.max_attribute_sets:
                seen.add(key)
                return attributes
            self.overflowed += 1
            first = instrument not in self._overflow_warned
            self._overflow_warned.add(instrument)
        if first and _BUDGET.take():
            _logger.warning(
                "%s: %s has %d distinct attribute sets, its cap; measurements with new sets are "
                "recorded under otel.metric.overflow=true. Look for an attribute that varies per item.",
                self.owner,
                instrument,
                self.max_attribute_sets,
            )
        return OVERFLOW

    def _verdict(self, key: str, value: AttributeValue) -> str | None:
        cache_key = (key, tuple(value) if isinstance(value, list) else value)
        try:
            return self._verdicts[cache_key]
        except (KeyError, TypeError):
            pass
        reason = "a key that names an identity" if key_is_unbounded(key) else looks_like_id(value)
        if len(self._verdicts) >= _VERDICT_CACHE_SIZE:
            self._verdicts.clear()
        try:
            self._verdicts[cache_key] = reason
        except TypeError:  # an unhashable value: judged each time
            pass
        return reason

    def _refuse(self, key: str, reason: str) -> None:
        with self._lock:
            self.refused += 1
            if key in self._warned_keys or len(self._warned_keys) >= _MAX_WARNED_KEYS:
                return
            self._warned_keys.add(key)
        if _BUDGET.take():
            _logger.warning(
                "%s: attribute %r refused, it is not exported: %s, which would make one series per "
                "value (put ids on spans or log records instead). Later refusals of %r are silent.",
                self.owner,
                key,
                reason if reason.startswith("a key") else f"its value looks like {reason}",
                key,
            )
