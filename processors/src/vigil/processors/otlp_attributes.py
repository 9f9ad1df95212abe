"""Building the OTLP attributes that scorers write: strings, doubles, booleans and string arrays."""

from __future__ import annotations

from collections.abc import Iterable

from google.protobuf.message import Message
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue

_ARRAYS: dict[tuple[str, tuple[str, ...]], KeyValue] = {}


def text(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def number(key: str, value: float) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(double_value=value))


def flag(key: str, value: bool) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(bool_value=value))


def drop_attributes(item: Message, keys: Iterable[str]) -> None:
    """Remove the attributes named ``keys`` from a span or log record (e.g. output an earlier
    scoring pass left); an item without any is left untouched."""
    keys = frozenset(keys)
    attributes = item.attributes
    if any(kv.key in keys for kv in attributes):
        kept = [kv for kv in attributes if kv.key not in keys]
        del attributes[:]
        attributes.extend(kept)


def string_array(key: str, values: tuple[str, ...]) -> KeyValue:
    """A KeyValue holding a string array, built once per distinct array (extend() copies it)."""
    cached = _ARRAYS.get((key, values))
    if cached is None:
        if len(_ARRAYS) >= 4096:
            _ARRAYS.clear()
        cached = KeyValue(
            key=key, value=AnyValue(array_value=ArrayValue(values=[AnyValue(string_value=v) for v in values]))
        )
        _ARRAYS[(key, values)] = cached
    return cached
