"""OTLP attribute values as plain Python, for assertions: strings, numbers, booleans, bytes, and
arrays as lists (nested as they are)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def value(any_value: Any) -> Any:
    """The Python value of an ``AnyValue`` (None when unset)."""
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind) if kind else None


def attributes(key_values: Iterable[Any]) -> dict[str, Any]:
    """``KeyValue``s as a dict."""
    return {kv.key: value(kv.value) for kv in key_values}


def item_attributes(item: Any) -> dict[str, Any]:
    """A span's, log record's or data point's attributes as a dict."""
    return attributes(item.attributes)
