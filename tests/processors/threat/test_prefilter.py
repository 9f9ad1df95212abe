"""The batch prefilters: a value they let through must be one the full judgement finds plain."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.processors.threat import corpora
from vigil.processors.threat.analysis import _SAFE_QUERY, PATH_IS_PLAIN, PATH_TARGET, analyse_query
from vigil.processors.threat.prefilter import PATHS, QUERIES, Prefilter


def plain_path(value: str) -> bool:
    return bool(PATH_IS_PLAIN.fullmatch(value)) and not PATH_TARGET.search(value.lower())


def plain_query(value: str) -> bool:
    return bool(_SAFE_QUERY.fullmatch(value))


# Characters that matter to the checks, and some that case folding treats specially.
ALPHABET = st.sampled_from([*"aZ09_.,@:/~+-=&%'\"<>;\n ", "etc/", "passwd", ".INI", "\u0130", "\u212a", "é"])
VALUES = st.lists(st.lists(ALPHABET, max_size=12).map("".join), max_size=30)


@settings(max_examples=2000, deadline=None)
@given(values=VALUES)
def test_what_the_path_filter_lets_through_is_plain(values):
    suspects = PATHS.suspects(values)
    assert all(plain_path(v) for v in values if v not in suspects)
    assert suspects == [v for v in values if v in suspects]  # in order, each at its place


@settings(max_examples=2000, deadline=None)
@given(values=VALUES)
def test_what_the_query_filter_lets_through_is_plain(values):
    suspects = QUERIES.suspects(values)
    assert all(plain_query(v) and not analyse_query(v) for v in values if v not in suspects)


def test_attack_paths_and_queries_are_all_pointed_at():
    rng = random.Random(5)
    attacks = [v for v in corpora.httpparams_label("path-traversal") if not plain_path(v)]
    plain = [f"/api/v1/users/{rng.randrange(10**6)}" for _ in range(500)]
    values = plain + attacks
    rng.shuffle(values)
    assert set(PATHS.suspects(values)) == set(attacks)
    sqli = corpora.httpparams_label("sqli")[:300]
    queries = [f"page={i}&per_page=20" for i in range(300)] + [f"q={v}" for v in sqli]
    assert set(QUERIES.suspects(queries)) == {q for q in queries if not plain_query(q)}


def test_a_hit_at_the_end_of_the_last_value_and_a_substring_across_values():
    flag = Prefilter("a-z", ("ab",))
    assert flag.suspects(["a", "b", "zzA"]) == ["zzA"]  # "a\nb" holds no "ab"
    assert flag.suspects(["xab"]) == ["xab"]
    assert flag.suspects([]) == []
