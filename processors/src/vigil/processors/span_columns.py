"""Chosen span attributes of a whole trace export request, as columns, read from its wire bytes.

A scorer that judges a few attributes of every span (the threat scorer: ``url.query``,
``url.path``, the user agent, ``db.query.text`` ...) would otherwise read every attribute of every
span through the protobuf message, at about 0.2 µs per attribute in Python: more than the
judging itself. :class:`ColumnReader` instead walks the request's wire bytes once, in C
(``_span_columns.c``), and returns only the values asked for, so the Python code runs per batch
and per value of interest.

What to read is a list of :class:`Slot`\\ s, each a set of attribute keys, the span kinds it
applies to, and a shape:

*sparse* (the default)
    ``columns[slot]`` is ``(indices, values)``: one entry per occurrence of one of the slot's keys
    on a span of one of its kinds, in request order; ``indices`` are span numbers (below).
*dense*
    ``columns[slot]`` is a list with one entry per span of the dense kinds (all dense slots read
    the same kinds), aligned with ``dense_index``: the value of the slot's key on that span (the
    last one, if given twice), or None. ``times`` holds those spans' end times (their start time
    when the end is missing).

Spans are numbered in request order over all resources and scopes; ``groups`` lists each scope's
``(resource index, scope index, first span number, span count)``, and :class:`SpanLocator` finds the
decoded span (and its resource) for a number. Values are ``str`` (string values), ``int``,
``float``, ``bool``, ``bytes``, a tuple of such for arrays, or None (key-value lists, no value).

The reader follows protobuf's rules where they decide what the decoded message holds (the last of
a repeated singular field wins, a value given twice is merged), and the payload must be the bytes
the request was decoded from: annotations made since are not in them. A malformed payload raises
ValueError (a payload the protobuf library accepted can still be refused in one case, an array
value split into more than eight parts; the caller then reads the request re-encoded).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Collection, Iterable, Sequence
from typing import NamedTuple

from google.protobuf.message import Message

from vigil.processors._span_columns import Reader

_ANY_KIND = 1 << 31  # kinds the wire reader does not number (outside 0..30)
ALL_KINDS = frozenset(range(31)) | {-1}
"""Every span kind, including values outside the enum (``-1`` stands for those)."""


class Slot(NamedTuple):
    """Attribute keys read into one column."""

    keys: tuple[str, ...]
    kinds: Collection[int] = ALL_KINDS
    """Span kinds (``Span.kind`` numbers; -1: any kind outside 0..30) on which the keys are read."""
    dense: bool = False


class SpanColumns(NamedTuple):
    """What :meth:`ColumnReader.read` found (see the module docstring). Span numbers and times
    are sequences of ints (memoryviews over the reader's arrays)."""

    spans: int
    groups: list[tuple[int, int, int, int]]
    dense_index: Sequence[int]
    times: Sequence[int]
    columns: tuple


def _mask(kinds: Iterable[int]) -> int:
    mask = 0
    for kind in kinds:
        mask |= _ANY_KIND if kind < 0 or kind > 30 else 1 << kind
    return mask


class ColumnReader:
    """Reads the attributes of ``slots`` from serialised ``ExportTraceServiceRequest``\\ s."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        self.slots = tuple(slots)
        self._reader = Reader([(tuple(s.keys), _mask(s.kinds), s.dense) for s in self.slots])
        self._dense = tuple(s.dense for s in self.slots)

    def read(self, payload: bytes) -> SpanColumns:
        """The columns of ``payload``; ValueError if it is not a well-formed request."""
        spans, groups, dense_index, times, columns = self._reader.read(payload)
        return SpanColumns(
            spans,
            groups,
            memoryview(dense_index).cast("i"),
            memoryview(times).cast("Q"),
            tuple(
                column if dense else (memoryview(column[0]).cast("i"), column[1])
                for dense, column in zip(self._dense, columns, strict=True)
            ),
        )


class SpanLocator:
    """Finds decoded spans by number (see the module docstring) in the request the columns of
    ``groups`` were read from."""

    __slots__ = ("_firsts", "_groups", "_request")

    def __init__(self, request: Message, groups: Sequence[tuple[int, int, int, int]]) -> None:
        self._request = request
        self._groups = groups
        self._firsts = [group[2] for group in groups]

    def __call__(self, number: int) -> tuple[Message, Message]:
        """The span numbered ``number`` and its resource."""
        resource, scope, first, _ = self._groups[bisect_right(self._firsts, number) - 1]
        resource_spans = self._request.resource_spans[resource]
        return resource_spans.scope_spans[scope].spans[number - first], resource_spans.resource


__all__ = ["ALL_KINDS", "ColumnReader", "Slot", "SpanColumns", "SpanLocator"]
