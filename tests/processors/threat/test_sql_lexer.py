"""The C SQL tokeniser and pair check give exactly what their Python specification gives.

``sql.tokenize`` and ``sql._BadPairs`` run in C; ``sql_reference`` holds the regular expression
and the Python rules they replaced. Every rule of the SQL detector reads the token letters and
texts and the bad-pair counts, so any difference is a detection changed: the two are compared on
every corpus value (as is and in both quote contexts, at several token limits), on hand-picked
corners of the pattern, on random and mutated texts and token lists, and for leaks.
"""

from __future__ import annotations

import gc
import random
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.processors.threat import corpora, sql_reference
from vigil.processors.threat import sql
from vigil.processors.threat._sql_lexer import Lexer


def _same(text: str, limit: int = sql.MAX_TOKENS) -> None:
    ours = sql.tokenize(text, limit)
    spec = sql_reference.tokenize(text, limit)
    assert (ours.types, ours.texts, ours.evasion) == (spec.types, spec.texts, spec.evasion), repr(text)


def _corpus() -> list[str]:
    values = [*corpora.benign_values(), *(value for _, value in corpora.attack_values())]
    if corpora.available():
        values += [
            *corpora.libinjection_sqli(),
            *corpora.libinjection_xss(),
            *corpora.libinjection_false_positives(),
            *corpora.payloadbox_sqli(),
            *(value for _, value in corpora.httpparams()),
        ]
    return values


def test_every_corpus_value_in_every_context_and_limit():
    values = _corpus()
    assert len(values) > 40_000 or not corpora.available()
    for value in values:
        # as the detector reads it: as is, and after the first single and double quote
        for text in (value, value[value.find("'") + 1 :], value[value.find('"') + 1 :]):
            for limit in (sql.MAX_TOKENS, 4 * sql.MAX_TOKENS, 3):
                _same(text, limit)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \t\n",
        "\x00\x00",
        "1 OR 1=1 \x00 \x00\n",  # trailing NULs and spaces, mixed
        "a\x00b",  # a NUL inside separates tokens
        # words: dots, stars, $ and Unicode letters and digits
        "a.b..c.* x..y...z a. b.. mysql.user.* t$1 _x 1abc",
        # str.upper changes lengths (straße, the fi ligature); ² starts a word, an Arabic digit a number
        "ÉCOLE straße \ufb01le \u0131 ²³ x² \u0663\u0664 ½",
        "n'x' N\"y\" n'open nx 'n'",
        # numbers
        "0x1F 0xZ 0b101 0b2 1.5e+10 1e 1e+ .5 . 1. 12.e3 \\N \\n \u0663.\u0664e\u0665",
        # comments, executable comments
        "1/*!50000UNION*/ /*!SELECT*/ 2 /* x */ 3 -- y\nz # w\n4 /*/ open",
        "/*!1234567 x",
        "1 /* a */ /* b */",
        "-- only a comment",
        # string literals: doubled and escaped quotes, open literals
        "'a''b' \"c\"\"d\" 'e\\'f' 'g\\\\' 'h\\",
        "'''' '''x ''",
        "x' OR 'a'='a",
        # quoted names, variables, operators
        "`a b` `open [x] [a b] [] `` [`x`]",
        "@a @@version @@ @x.y$ ? $1 $x :name :1 ::int :=",
        "<=> != <> <= >= == || && << >> ~ ^ % | & ! < > = + - * /",
        # function calls: '(' right after, after spaces, after comments (the lazy comment end)
        "SLEEP(5) sleep (5) user /**/ () version /* a */ x */ (1) left\t(1) if/x",
        "f" + " " * 70 + "(1)",  # the parenthesis beyond the 64-character window
        "f /* " + "x" * 70 + " */ (1)",
        # keywords merged with the token before
        "ORDER BY 1 GROUP  BY 2 x SOUNDS LIKE y UNION ALL SELECT UNION DISTINCT 1 by like",
        # evasion: a comment between keywords
        "1/**/UNION/**/SELECT 2",
        "/**/1",
        "a/**/b",
    ],
)
def test_corners_of_the_pattern(text):
    _same(text)
    _same(text, 2)


def test_the_limit_counts_tokens_before_the_trailing_comment():
    tokens = sql.tokenize("1 2 3 4 5 -- end", 3)
    assert (tokens.types, tokens.texts) == ("nnn", ["1", "2", "3"])
    tokens = sql.tokenize("1 2 -- end", 3)
    assert (tokens.types, tokens.texts) == ("nnc", ["1", "2", "-- end"])


_SQL_ALPHABET = st.sampled_from(
    [
        *"'\"`[]()@$?:;,.*/#-+=<>!|&^%~\\_0123456789 \t\n\x00",
        *"OR AND UNION SELECT ALL BY ORDER LIKE SOUNDS sleep n N x e".split(),
        *"/* */ /*! -- '' \"\" 0x 0b É ß ²".split(),
        *("\u0663", "\u2028", "\xa0", "\U0001f600"),
    ]
)


@settings(max_examples=3000, deadline=None)
@given(parts=st.lists(_SQL_ALPHABET, max_size=40), limit=st.integers(min_value=-1, max_value=30))
def test_random_sql_like_texts(parts, limit):
    _same("".join(parts), limit)


@settings(max_examples=1000, deadline=None)
@given(text=st.text(max_size=80))
def test_random_unicode_texts(text):
    _same(text)


def test_mutated_corpus_values():
    rng = random.Random(7)
    values = _corpus()
    pieces = "'\"`[]()@$?:;,./*#-+=<>!|&^%~\\ \t\n\x00ÉßOR"
    for _ in range(20_000):
        chars = list(rng.choice(values))
        for _ in range(rng.randint(1, 4)):
            at = rng.randint(0, len(chars))
            action = rng.random()
            if action < 0.4:
                chars.insert(at, rng.choice(pieces))
            elif action < 0.8 and chars:
                del chars[min(at, len(chars) - 1)]
            elif chars:
                chars[min(at, len(chars) - 1)] = rng.choice(pieces)
        _same("".join(chars))


def test_arguments_are_checked():
    empty = frozenset()
    lexer = Lexer({"OR": "&"}, empty, empty, empty, empty, empty)
    with pytest.raises(TypeError):
        lexer.tokenize(b"1 OR 1", 10)
    with pytest.raises(TypeError):
        lexer.tokenize("1 OR 1")
    with pytest.raises(TypeError):
        Lexer({"OR": "&"}, ["SLEEP"], empty, empty, empty, empty)
    with pytest.raises(TypeError, match="one ASCII letter"):
        Lexer({"OR": "and"}, empty, empty, empty, empty, empty).tokenize("1 OR 1", 10)
    assert lexer.tokenize("1 or 1", 10) == ("n&n", ["1", "OR", "1"], False)
    with pytest.raises(TypeError):
        lexer.tokenize("1 OR 1", "10")
    bare = Lexer.__new__(Lexer)  # never initialised: refused, not a crash
    with pytest.raises(RuntimeError):
        bare.tokenize("1 OR 1", 10)
    with pytest.raises(RuntimeError):
        bare.bad_pairs("nn", ["1", "2"])


def test_no_memory_is_kept():
    values = _corpus()[:2000]

    def tokenize_all() -> None:
        for value in values:
            sql.tokenize(value, 2)
            for _, tokens in sql.contexts(value):
                sql._LEXER.bad_pairs(tokens.types, tokens.texts)

    tracemalloc.start()
    try:
        tokenize_all()  # free lists and caches fill here, inside the traced section
        gc.collect()
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(3):
            tokenize_all()
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 64 * 1024, f"{after - before} bytes kept after 12,000 calls"


# --- bad neighbour pairs -------------------------------------------------------------------------


def test_bad_pairs_of_every_corpus_value_in_every_context():
    for value in _corpus():
        for _, tokens in sql.contexts(value):
            assert sql._LEXER.bad_pairs(tokens.types, tokens.texts) == sql_reference.bad_pairs(
                tokens.types, tokens.texts
            ), repr(value)


_LETTERS = "snzvbkfo&UEBc(),;x"
# Texts the pair rules look at, and a few they do not.
_TEXTS = [
    *"DECLARE EXEC EXECUTE WAITFOR NOT SHUTDOWN BEGIN FROM JOIN SELECT DISTINCT TOP CASE WHEN AS".split(),
    *"TABLE ALL LIKE IN IS BINARY AND OR X 1".split(),
    *"~ ! * - + = ( ) , ;".split(),
    "",
]


@settings(max_examples=3000, deadline=None)
@given(
    tokens=st.lists(st.tuples(st.sampled_from(_LETTERS), st.sampled_from(_TEXTS)), max_size=12),
)
def test_bad_pairs_of_random_token_lists(tokens):
    types = "".join(letter for letter, _ in tokens)
    texts = [text for _, text in tokens]
    assert sql._LEXER.bad_pairs(types, texts) == sql_reference.bad_pairs(types, texts)


def test_bad_pairs_checks_its_arguments():
    with pytest.raises(ValueError, match="one per text"):
        sql._LEXER.bad_pairs("nn", ["1"])
    with pytest.raises(TypeError, match="str"):
        sql._LEXER.bad_pairs("nn", ["1", 2])
    with pytest.raises(TypeError):
        sql._LEXER.bad_pairs("nn", ("1", "2"))
    assert sql._LEXER.bad_pairs("", []) == [0]
    assert sql._LEXER.bad_pairs("n", ["1"]) == [0]
    assert sql._LEXER.bad_pairs("nnx", ["1", "2", "?"]) == [0, 1, 2]
