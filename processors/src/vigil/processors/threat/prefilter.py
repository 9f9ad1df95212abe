"""Which values of a batch need a closer look, found by scanning them all at once.

Most values the threat scorer sees are plain: paths like ``/api/v1/users/42``, query strings like
``page=2&per_page=20``. Checking them one by one costs a Python call and a match or two each;
joining a batch's distinct values and scanning the text once costs a few calls per batch. Only
the values the scan points at are judged, in full.

A :class:`Prefilter` points at every value with a character outside its plain set or one of its
substrings (``--``, ``..``, ``etc/`` ...). It must point at every value the full judgement could
flag; it may point at more (those are judged and found benign). Values with non-ASCII characters
are always pointed at, so that case folding and Unicode classes never make the scan and the
judgement disagree.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

_SEPARATOR = "\n"


class Prefilter:
    """Points at the values with a character outside ``plain`` (a regular-expression character
    set body, e.g. ``A-Za-z0-9_``) or holding one of ``substrings`` (lower case; found in the
    lower-cased value if ``fold``)."""

    def __init__(self, plain: str, substrings: Sequence[str], fold: bool = False) -> None:
        # A bare character set: the regular-expression engine scans for it without backtracking.
        self._outside = re.compile(f"[^{plain}{_SEPARATOR}]")
        self._substrings = tuple(substrings)
        self._fold = fold

    def suspects(self, values: Sequence[str]) -> list[str]:
        """The values to judge in full, in order."""
        if not values:
            return []
        text = _SEPARATOR.join(values)
        if not text.isascii() or text.count(_SEPARATOR) != len(values) - 1:
            # A value with non-ASCII characters (lower-casing could shift offsets) or a newline
            # (the scan could not tell values apart): rare, one by one.
            return [value for value in values if self._suspect(value)]
        hay = text.lower() if self._fold else text
        # Where each value starts; a hit is in the value that starts last before it.
        starts = [0, *accumulate(map((1).__add__, map(len, values[:-1])))]
        hits: set[int] = set()
        search = self._outside.search
        match = search(hay)
        while match is not None:
            index = bisect_right(starts, match.start()) - 1
            hits.add(index)
            match = search(hay, starts[index + 1]) if index + 1 < len(starts) else None
        for substring in self._substrings:
            at = hay.find(substring)
            while at >= 0:
                index = bisect_right(starts, at) - 1
                hits.add(index)
                at = hay.find(substring, starts[index + 1]) if index + 1 < len(starts) else -1
        return [values[index] for index in sorted(hits)]

    def _suspect(self, value: str) -> bool:
        if not value.isascii() or _SEPARATOR in value or self._outside.search(value):
            return True
        hay = value.lower() if self._fold else value
        return any(substring in hay for substring in self._substrings)


PATHS = Prefilter(
    r"A-Za-z0-9_.,@:/~+\-",
    ("--", "/.", "..", "etc/", "passwd", ".ini", "web-inf", "wp-config", "proc/", "global.asa"),
    fold=True,
)
"""URL paths that are more than plain (``analysis.PATH_IS_PLAIN`` and ``PATH_TARGET``)."""

QUERIES = Prefilter(r"A-Za-z0-9_.,@:=&\-", ("--",))
"""Raw query strings that are more than plain parameters (``analysis._SAFE_QUERY``)."""


__all__ = ["PATHS", "QUERIES", "Prefilter"]
