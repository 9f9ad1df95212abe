"""Naming metric series: the key a series is learned under, and the few attributes that identify
its score in the ``vigil.anomaly.score`` gauge.

A series is its resource's ``service.name``, the metric's name and the data point's attributes,
all of them (order does not matter). Its score is exported with ``metric.name``,
``service.name`` and at most ``keys_limit`` (default 5) of the point's attributes, chosen in key
order among those that are safe to use as labels:

* string, int, double and bool values only, cut at ``value_limit`` characters (default 64);
* no value that looks like an identifier: a UUID, a run of 16 or more hex digits, a run of 6 or
  more decimal digits (user ids, timestamps; status codes and ports stay);
* no key that names an identifier (``*.id``, ``*_id``, ``*.uid``, ``*uuid``, ``*.pid``), nor
  ``metric.name``, ``service.name`` or Vigil's own ``vigil.*``.

So the gauge's cardinality stays bounded by the metric's low-cardinality attributes even when a
series carries a request or user id. Series that differ only in dropped attributes share one
label set; their gauge point holds the highest of their scores.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

UNKNOWN_SERVICE = "unknown_service"
METRIC_NAME = "metric.name"
SERVICE_NAME = "service.name"

_ID_VALUE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|[0-9a-fA-F]{16,}"
    r"|\d{6,}"
)
_ID_KEY_SUFFIXES = (".id", "_id", ".uid", "_uid", "uuid", ".pid")
_RESERVED_KEYS = frozenset({METRIC_NAME, SERVICE_NAME})

Labels = tuple[tuple[str, str], ...]

_serialize = KeyValue.SerializeToString


def service_name(resource: Message) -> str:
    """The resource's ``service.name``, or ``unknown_service`` as the SDKs default it."""
    for kv in resource.attributes:
        if kv.key == SERVICE_NAME:
            return kv.value.string_value or UNKNOWN_SERVICE
    return UNKNOWN_SERVICE


def attribute_key(attributes: Sequence[Message]) -> tuple[bytes, ...]:
    """A data point's attributes as a hashable key, independent of their order (serialized
    KeyValues: cheaper than decoding each value, and exact)."""
    if len(attributes) > 1:
        return tuple(sorted(map(_serialize, attributes)))
    return tuple(map(_serialize, attributes))


def looks_like_id(value: str) -> bool:
    """True for a value that probably identifies one request, user or instance."""
    return _ID_VALUE.search(value) is not None


def bounded_labels(encoded: Iterable[bytes], keys_limit: int = 5, value_limit: int = 64) -> Labels:
    """The safe, bounded labels of a series from its :func:`attribute_key` (see the module
    docstring), sorted by key."""
    labels: dict[str, str] = {}
    for data in encoded:
        kv = KeyValue.FromString(data)
        key = kv.key
        if key in _RESERVED_KEYS or key.startswith("vigil.") or key.endswith(_ID_KEY_SUFFIXES):
            continue
        value = _label_value(kv.value)
        if value is None or looks_like_id(value):
            continue
        labels[key] = value[:value_limit]
    return tuple(sorted(labels.items())[:keys_limit])


def _label_value(value: Message) -> str | None:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    return None  # bytes, arrays and maps make poor labels


def describe(metric_name: str, labels: Labels) -> str:
    """A series as people write it: ``name{key=value, ...}``."""
    if not labels:
        return metric_name
    return metric_name + "{" + ", ".join(f"{k}={v}" for k, v in labels) + "}"
