"""String literals in the SQL tokeniser: where a literal ends decides what the rules see after it."""

from __future__ import annotations

import pytest

from vigil.processors.threat import sql


@pytest.mark.parametrize(
    ("value", "types", "texts"),
    [
        ("'a''b' x", "sb", ["a''b", "X"]),  # a doubled quote stays inside the literal
        ('"x""y" z', "sb", ['x""y', "Z"]),
        ("'abc''", "z", ["'abc''"]),  # ... also when nothing closes it: one open literal
        ("'a\\' OR 1", "z", ["'a\\' OR 1"]),  # an escaped quote does not close it
        ("'a\\\\' OR 1", "s&n", ["a\\\\", "OR", "1"]),  # an escaped backslash does
        ("n'abc' OR 1", "s&n", ["abc", "OR", "1"]),  # N'...' is a string, not the word N
        ("N'open", "z", ["'open"]),  # an open literal keeps its quote, not the N
        ("name = 'x'", "bos", ["NAME", "=", "x"]),
    ],
)
def test_where_a_literal_ends(value, types, texts):
    tokens = sql.tokenize(value)
    assert (tokens.types, tokens.texts) == (types, texts)
