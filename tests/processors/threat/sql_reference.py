"""The SQL tokeniser and its neighbour-pair check in Python: the specification of the C code.

``vigil.processors.threat.sql.tokenize`` and ``sql._BadPairs`` run in C (``_sql_lexer.c``). This
module keeps the regular expression, the loop and the pair rules the C code was written from, so
that tests can compare the two on any text (tests/processors/threat/test_sql_lexer.py). It is not
used outside the tests.
"""

from __future__ import annotations

import re

from vigil.processors.threat.sql import (
    _FUNCTION_KEYWORDS,
    _KEYWORD_PAIRS,
    _NEEDS_OPERAND,
    _OPWORDS,
    _UNARY,
    _WORD_TYPES,
    MAX_TOKENS,
    Tokens,
)

# The alternatives are tried in order, the most frequent first (words, punctuation, numbers);
# where two could match, the order decides: a comment before an operator (-- before -, /* and */
# before / and *), a literal before a word (n'...' is a string), anything else last (x).
TOKEN = re.compile(
    r"""
    [\s\x00]*                                        # whitespace before a token is skipped
    (?:(?P<word>(?![nN]['"])[^\W\d][\w$]*(?:\.{1,2}(?:[^\W\d][\w$]*|\*))*)
    |(?P<p>[(),;])
    |(?P<num>0[xX][0-9a-fA-F]+|0[bB][01]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|\\N)
    |(?P<mc>/\*!\d{0,6}|\*/)                       # MySQL executable comment: its content is SQL
    |(?P<cm>/\*.*?(?:\*/|\Z)|--[^\n]*|\#[^\n]*)
    # A string literal ends at the first quote that is neither escaped by a backslash nor doubled;
    # (?!') keeps a doubled quote from being split by backtracking when the literal is left open.
    |(?P<str>[nN]?(?:'[^'\\]*(?:(?:\\.|'')[^'\\]*)*'(?!')|"[^"\\]*(?:(?:\\.|"")[^"\\]*)*"(?!")))
    |(?P<ostr>[nN]?['"].*)                            # left open: it runs to the end
    |(?P<qid>`[^`]*`?|\[[^\]\s]*\])
    |(?P<var>@@?[\w$.]*|\?|\$\d+|:[A-Za-z_]\w*)
    |(?P<op><=>|!=|<>|<=|>=|==|\|\||&&|<<|>>|:=|::|[=<>!+\-*/%^&|~])
    |(?P<x>[^\s\x00]))
    """,
    re.VERBOSE | re.DOTALL,
)
PAREN_AHEAD = re.compile(r"(?:\s|/\*.*?\*/)*\(", re.DOTALL)
MAYBE_PAREN = frozenset(" \t\n\r\f\v/")


def tokenize(text: str, limit: int = MAX_TOKENS) -> Tokens:
    """What ``sql.tokenize`` returns, computed with the regular expression."""
    text = text.rstrip()
    while text.endswith("\x00"):
        text = text.rstrip("\x00").rstrip()
    types: list[str] = []
    texts: list[str] = []
    comment: str | None = None
    evasion = False
    for match in TOKEN.finditer(text):
        kind = match.lastgroup
        if kind == "mc":
            continue
        token = match.group(kind)  # type: ignore[arg-type]
        if kind == "cm":
            comment = token
            continue
        if comment is not None:
            evasion = bool(types)
            comment = None
        if kind == "word":
            word = token.upper()
            letter = _WORD_TYPES.get(word, "b")
            if types:
                prev = types[-1]
                if word == "BY" and prev == "b" and texts[-1] in ("ORDER", "GROUP"):
                    types[-1] = "B"
                    continue
                if word == "LIKE" and prev == "b" and texts[-1] == "SOUNDS":
                    types[-1] = "o"
                    continue
                if prev == "U" and (word == "ALL" or word == "DISTINCT"):
                    continue
            if letter in "bv" or word in _FUNCTION_KEYWORDS:
                end = match.end()
                following = text[end : end + 1]
                if following == "(" or (following in MAYBE_PAREN and PAREN_AHEAD.match(text, end, end + 64)):
                    letter = "f"
            types.append(letter)
            texts.append(word)
        elif kind == "p":
            types.append(token)
            texts.append(token)
        elif kind == "op":
            types.append("&" if token == "&&" or token == "||" else "o")
            texts.append(token)
        elif kind == "num":
            types.append("n")
            texts.append(token.upper())
        elif kind == "str":
            types.append("s")
            texts.append(token[2:-1] if token[0] in "nN" else token[1:-1])
        elif kind == "ostr":
            types.append("z")
            texts.append(token[1:] if token[0] in "nN" else token)
        elif kind == "var":
            types.append("v")
            texts.append(token.upper())
        elif kind == "qid":
            types.append("b")
            texts.append(token.strip("`[]").upper())
        else:
            types.append("x")
            texts.append(token)
        if len(types) >= limit:
            break
    if comment is not None:
        types.append("c")
        texts.append(comment)
    joined = "".join(types)
    return Tokens(joined, texts, evasion and any(t in joined for t in "UE&B"))


OPERANDS = frozenset("nszvb)")


def _unary(types: str, texts: list[str], i: int) -> bool:
    return types[i] == "o" and texts[i] in _UNARY


ALIAS_AFTER = frozenset(",)kBU;c&o")


def alias(types: str, texts: list[str], i: int) -> bool:
    """``i`` and ``i + 1`` are a table or column and its alias: ``FROM users u,``, ``(SELECT ...) x``."""
    if types[i + 1] != "b":
        return False
    after = types[i + 2] if i + 2 < len(types) else ""
    if after and after not in ALIAS_AFTER:
        return False
    if types[i] == ")":
        return True
    if types[i] in "bnsf" and i > 0:
        before = types[i - 1]
        return before == "," or (
            before in "kE(" and texts[i - 1] in ("FROM", "JOIN", "SELECT", "(", "DISTINCT", "TOP")
        )
    return False


def bad_pair(types: str, texts: list[str], i: int) -> bool:
    """Whether tokens ``i`` and ``i + 1`` cannot follow each other in SQL."""
    a, b = types[i], types[i + 1]
    if a == "x" or b == "x":
        return True
    if i > 0 and types[i - 1] == "E" and texts[i - 1] in ("DECLARE", "EXEC", "EXECUTE") and a in "vb":
        return b in ")x"  # DECLARE @x varchar(10), EXEC sp_name @arg = 1
    if a in OPERANDS or (a == "k" and texts[i] not in _NEEDS_OPERAND):
        if b in "nvbfz":
            return not ((a == "s" and b == "z") or alias(types, texts, i))
        if b == "s":
            return a != "s"
        if b == "(":
            return True
        if b == "E":
            return a != ")" and texts[i + 1] not in ("WAITFOR", "EXEC", "EXECUTE", "DECLARE")
        if b == "o" and texts[i + 1] in ("NOT", "~", "!"):
            nxt = texts[i + 2] if i + 2 < len(types) else ""
            return nxt not in _OPWORDS
        return False
    if a == "f":
        return b != "("
    if a == "c":
        return True
    if a == ";":
        return b in "),;"
    if a == "(":
        return b in ",;" or (b == "o" and not _unary(types, texts, i + 1) and texts[i + 1] != "*")
    if a == "E":
        return b in ",;)" and texts[i] not in ("SHUTDOWN", "BEGIN")
    if a == "U":
        return b not in "E(c"
    # a is an operator, logic, comma, clause or a keyword that needs an operand
    if b in "nszvbf(":
        return False
    if b == "o":
        return not (_unary(types, texts, i + 1) or (a == "o" and texts[i + 1] in _OPWORDS))
    if b == "E":
        return a not in "(,;Uk&o"
    if b == "k":
        return a != "E" and (texts[i], texts[i + 1]) not in _KEYWORD_PAIRS
    if a == "o" and texts[i] == "*":
        return b not in "),kBc;&U"
    return True


def bad_pairs(types: str, texts: list[str]) -> list[int]:
    """What ``Lexer.bad_pairs`` returns: [0, then the running count of bad pairs (i, i + 1)]."""
    prefix = [0]
    total = 0
    for i in range(len(types) - 1):
        total += bad_pair(types, texts, i)
        prefix.append(total)
    return prefix
