"""SQL injection, judged on the structure of a value once tokenised as SQL.

A value is tokenised as SQL into a *fingerprint*, one letter per token (as libinjection does):

====  ===========================================  ====  ==========================================
``s``  closed string literal                         ``f``  function name (a word before ``(``)
``z``  string left open at the end of the value      ``o``  operator: ``= < + * LIKE IS IN NOT ...``
``n``  number, ``NULL``, ``TRUE``, ``FALSE``          ``&``  logic: ``AND OR XOR && ||``
``v``  variable: ``@x``, ``@@version``, ``?``         ``U``  ``UNION [ALL]``, ``INTERSECT``, ``EXCEPT``
``b``  bare word or quoted identifier                ``E``  statement: ``SELECT DROP EXEC WAITFOR ...``
``k``  other keyword: ``FROM AS CASE TABLE ...``     ``B``  clause: ``ORDER BY  GROUP BY  HAVING ...``
``c``  trailing comment (inner ones are dropped)     ``( ) , ;``  themselves; ``x`` anything else
====  ===========================================  ====  ==========================================

Injected input is input that, placed where the application expects a literal, continues as SQL.
So each value is read in three contexts: as is (a number or bare word, e.g. ``1 OR 1=1``), and
as the content of a single- or double-quoted literal, where the first quote of the value closes
the application's literal (``x' OR 'a'='a``). In each context the rules look at what follows
that break, and at how well it parses: every pair of neighbouring tokens that SQL would reject
(two operands in a row, a dangling operator) lowers the score, so prose with quotes and
keywords ("O'Brien and Smith", "select the best option") stays quiet while real payloads,
which are valid SQL by construction, score high.

A ``db.statement`` is SQL by nature: :func:`analyse_statement` flags it only when it carries
injected structure (an OR with a constant condition, UNION SELECT of constants, a stacked
time or exec statement, a comment that cuts off the rest of the query right after a literal),
never merely for being a query.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from vigil.processors.threat._sql_lexer import Lexer
from vigil.processors.threat.rules import Detection, detection

MAX_TOKENS = 100
"""Tokens read per value and context; payloads are short, prose beyond this adds nothing."""

_LOGIC = frozenset({"AND", "OR", "XOR"})
_OPWORDS = frozenset(
    "LIKE RLIKE REGEXP ILIKE GLOB IS IN BETWEEN DIV MOD NOT COLLATE ESCAPE SIMILAR BINARY".split()
)
_SETOPS = frozenset({"UNION", "INTERSECT", "EXCEPT"})
_STATEMENTS = frozenset(
    "SELECT INSERT UPDATE DELETE DROP CREATE ALTER TRUNCATE EXEC EXECUTE DECLARE SHUTDOWN GRANT "
    "REVOKE WAITFOR CALL LOAD HANDLER SHOW DESCRIBE MERGE RENAME BEGIN SET IF PRINT REPLACE USE COPY".split()
)
_CLAUSES = frozenset({"HAVING", "LIMIT", "OFFSET", "PROCEDURE", "INTO", "WHERE"})
_KEYWORDS = frozenset(
    "FROM AS ON JOIN INNER LEFT RIGHT OUTER CROSS CASE WHEN THEN ELSE END DISTINCT ALL TOP TABLE "
    "DATABASE VALUES ASC DESC DELAY TIME OUTFILE DUMPFILE ANY SOME WITH BY ROWNUM INFILE FOR".split()
)
_CONSTANTS = frozenset({"NULL", "TRUE", "FALSE"})
# Keywords that are also functions when a parenthesis follows.
_FUNCTION_KEYWORDS = frozenset(
    {"LEFT", "RIGHT", "DATABASE", "TIME", "ANY", "SOME", "IF", "REPLACE", "INSERT"}
)
_SYSTEM_VALUES = frozenset({"CURRENT_USER", "SESSION_USER", "SYSTEM_USER", "CURRENT_DATABASE"})
# Keywords after which an operand must come (so "select all from" does not parse).
_NEEDS_OPERAND = frozenset(
    "FROM AS ON JOIN WHEN THEN ELSE TABLE DATABASE DISTINCT ALL TOP BY VALUES ANY SOME WITH DELAY "
    "TIME CASE OUTFILE DUMPFILE FOR".split()
)
_UNARY = frozenset({"-", "+", "~", "!", "NOT", "BINARY"})
# Keywords that may follow each other (after CASE, AS or ALL, SQL rejects any other keyword).
_KEYWORD_PAIRS = frozenset({("CASE", "WHEN"), ("AS", "TABLE"), ("ALL", "DISTINCT")})
_COMPARISONS = frozenset(
    "= == < > <= >= <> != <=> LIKE RLIKE REGEXP ILIKE GLOB IS IN BETWEEN SOUNDS - + * / % ^ & | DIV "
    "MOD NOT".split()
)

_TIME_FUNCTIONS = frozenset(
    "SLEEP BENCHMARK PG_SLEEP PG_SLEEP_FOR DBMS_LOCK.SLEEP SYS.DBMS_LOCK.SLEEP "
    "DBMS_PIPE.RECEIVE_MESSAGE DBMS_SESSION.SLEEP RANDOMBLOB".split()
)
_SYSTEM_FUNCTIONS = frozenset(
    "VERSION DATABASE USER SCHEMA CURRENT_USER SYSTEM_USER SESSION_USER LOAD_FILE USER_NAME DB_NAME "
    "HOST_NAME SUSER_NAME SUSER_SNAME IS_SRVROLEMEMBER EXTRACTVALUE UPDATEXML NAME_CONST GTID_SUBSET "
    "PG_READ_FILE LO_IMPORT UTL_HTTP.REQUEST UTL_INADDR.GET_HOST_ADDRESS UTL_INADDR.GET_HOST_NAME "
    "CTXSYS.DRITHSX.SN XP_CMDSHELL MASTER..XP_CMDSHELL SQLITE_VERSION CURRENT_SETTING "
    "HAS_DATABASE_PRIVILEGE".split()
)
_SYSTEM_PREFIXES = (
    "INFORMATION_SCHEMA",
    "SYSOBJECTS",
    "SYSCOLUMNS",
    "SYSUSERS",
    "MASTER.",
    "MYSQL.",
    "PG_CATALOG",
    "PG_SHADOW",
    "PG_USER",
    "SYS.",
    "SYSIBM.",
    "ALL_TABLES",
    "ALL_USERS",
    "ALL_TAB_COLUMNS",
    "USER_TABLES",
    "V$",
    "SQLITE_MASTER",
    "XP_",
    "SP_",
)
_STACKED_VERBS = frozenset(
    "SELECT INSERT UPDATE DELETE DROP CREATE ALTER TRUNCATE EXEC EXECUTE DECLARE SHUTDOWN GRANT "
    "REVOKE WAITFOR CALL LOAD HANDLER SHOW DESCRIBE RENAME SET IF BEGIN PRINT REPLACE COPY MERGE".split()
)
_STATEMENT_VERBS = frozenset(
    "SELECT INSERT UPDATE DELETE DROP CREATE ALTER TRUNCATE EXEC EXECUTE DECLARE SHUTDOWN GRANT "
    "WAITFOR SHOW".split()
)

RAW, SINGLE, DOUBLE = "raw", "'", '"'

_CONSTANT = frozenset("nsz")


class Tokens:
    """A value tokenised as SQL: ``types`` (the fingerprint) and the matching token ``texts``.

    Words and operators are upper-cased; strings keep their content without quotes.
    """

    __slots__ = ("evasion", "texts", "types")

    def __init__(self, types: str, texts: list[str], evasion: bool = False) -> None:
        self.types = types
        self.texts = texts
        self.evasion = evasion
        """Whether a comment stands between SQL keywords, as whitespace (``1/**/UNION``)."""

    def __repr__(self) -> str:
        return f"Tokens({self.types!r}, {self.texts!r})"


def _word_type(word: str) -> str:
    if word in _LOGIC:
        return "&"
    if word in _OPWORDS:
        return "o"
    if word in _SETOPS:
        return "U"
    if word in _STATEMENTS:
        return "E"
    if word in _CLAUSES:
        return "B"
    if word in _KEYWORDS:
        return "k"
    if word in _CONSTANTS:
        return "n"
    if word in _SYSTEM_VALUES:
        return "v"
    return "b"


_WORD_TYPES = {
    word: _word_type(word)
    for word in (
        _LOGIC | _OPWORDS | _SETOPS | _STATEMENTS | _CLAUSES | _KEYWORDS | _CONSTANTS | _SYSTEM_VALUES
    )
}
# The tokeniser runs in C (_sql_lexer.c), a pattern-for-pattern port of the regular expression
# kept in tests/processors/threat/sql_reference.py, which the tests compare it with: a value is
# tokenised up to three times (as is and in two quote contexts), and the pattern cost ~5 us a call.
_LEXER = Lexer(
    _WORD_TYPES,
    _FUNCTION_KEYWORDS,
    needs_operand=_NEEDS_OPERAND,
    opwords=_OPWORDS,
    unary=_UNARY,
    keyword_pairs=_KEYWORD_PAIRS,
)


def tokenize(text: str, limit: int = MAX_TOKENS) -> Tokens:
    """Tokenise ``text`` as SQL (see the module docstring for the token letters).

    At most ``limit`` tokens are read, then a trailing comment if there is one. Inner comments
    are dropped; one between two tokens counts as evasion when the value holds SQL keywords.
    Trailing whitespace and NULs are ignored.
    """
    return Tokens(*_LEXER.tokenize(text, limit))


def _escaped(text: str, pos: int) -> bool:
    slashes = 0
    while pos > slashes and text[pos - slashes - 1] == "\\":
        slashes += 1
    return slashes % 2 == 1


def contexts(text: str) -> list[tuple[str, Tokens]]:
    """``text`` tokenised as is and, if it has quotes, as the inside of '...' and of "..." literals.

    In a quoted context the first token is the string the value's first quote closes.
    """
    found = [(RAW, tokenize(text))]
    for quote in (SINGLE, DOUBLE):
        pos = text.find(quote)
        # '' and \' are quotes inside the literal, not its end
        while pos >= 0 and (text.startswith(quote, pos + 1) or _escaped(text, pos)):
            pos = text.find(quote, pos + (1 if _escaped(text, pos) else 2))
        if pos >= 0:
            rest = tokenize(text[pos + 1 :])
            found.append((quote, Tokens("s" + rest.types, [text[:pos], *rest.texts], rest.evasion)))
    return found


class _BadPairs:
    """Counts of bad neighbour pairs over any range of a token list, from one pass over it.

    A pair is bad when SQL cannot have those two tokens next to each other: two operands in a row
    (``1 1``, ``'a' b`` unless ``b`` is an alias), an operator with nothing after it, a function
    name without its parenthesis, anything after a trailing comment ... The check runs in C
    (``_sql_lexer.c``, ``bad_pairs``); ``tests/processors/threat/sql_reference.py`` states it in
    Python and the tests compare the two.
    """

    __slots__ = ("_prefix",)

    def __init__(self, types: str, texts: list[str]) -> None:
        self._prefix = _LEXER.bad_pairs(types, texts)

    def between(self, start: int, end: int | None = None) -> int:
        """Bad pairs (i, i + 1) for start <= i < end (end: the last token by default)."""
        prefix = self._prefix
        last = len(prefix) - 1
        end = last if end is None else max(0, min(end, last))
        start = max(0, min(start, end))
        return prefix[end] - prefix[start]


def _fit(bad: int) -> float:
    return (1.0, 0.75, 0.5, 0.35)[min(bad, 3)]


def _skip_operand(types: str, texts: list[str], j: int) -> tuple[str, int]:
    """The operand starting at ``j`` (after unary operators and parentheses) and where it ends.

    Returns its kind: a fingerprint letter, ``"q"`` for a parenthesised subquery, ``"f"`` for a
    function call (skipped to its closing parenthesis) or ``""`` for none.
    """
    n = len(types)
    while j < n and (types[j] == "(" or (types[j] == "o" and texts[j] in _UNARY)):
        if types[j] == "(" and j + 1 < n and types[j + 1] == "E":
            return "q", _close_paren(types, j)
        j += 1
    if j >= n:
        return "", j
    t = types[j]
    if t == "f":
        return "f", _close_paren(types, j + 1) if j + 1 < n else j + 1
    if t in "nszvb":
        return t, j + 1
    return "", j


def _close_paren(types: str, j: int) -> int:
    depth = 0
    for k in range(j, len(types)):
        if types[k] == "(":
            depth += 1
        elif types[k] == ")":
            depth -= 1
            if depth <= 0:
                return k + 1
    return len(types)


_REAL_COMPARISONS = frozenset(
    "= == < > <= >= <> != <=> LIKE RLIKE REGEXP ILIKE GLOB IS BETWEEN SOUNDS".split()
)


# Where a condition can start: after a logic operator, WHERE, HAVING, WHEN, IF or "(".
_CONDITION_START = re.compile(r"[&B(kE]")


def _conditions(types: str, texts: list[str], start: int, sql_like: bool) -> tuple[float, float]:
    """The strongest constant condition (tautology) and probing condition (boolean-blind) that
    follow a logic operator, WHERE/WHEN or a parenthesis, as strengths (0..1)."""
    tautology = blind = 0.0
    n = len(types)
    # Only the tokens that can start a condition are visited (found by the regex engine in C).
    for match in _CONDITION_START.finditer(types, start, n - 1):
        a = match.start()
        t = types[a]
        # 2 after a logic operator; 1 where only real comparisons count
        if t == "&":
            after_logic = 2
        elif (
            t == "("
            or (t == "B" and texts[a] in ("WHERE", "HAVING"))
            or (t == "k" and texts[a] == "WHEN")
            or (t == "E" and texts[a] == "IF")
        ):
            after_logic = 1
        else:
            continue
        kind1, j = _skip_operand(types, texts, a + 1)
        if not kind1:
            continue
        first = j - 1
        while (
            kind1 == "n" and j + 1 < n and types[j] == "o" and texts[j] in _ARITHMETIC and types[j + 1] == "n"
        ):
            j += 2  # 1+2=3
        while j < n and types[j] == ")":
            j += 1
        op = texts[j] if j < n and types[j] == "o" else ""
        if op == "NOT" and j + 1 < n and texts[j + 1] in _OPWORDS:
            j += 1
            op = texts[j]
        comparison = op in _REAL_COMPARISONS or (after_logic == 2 and sql_like and op in _COMPARISONS)
        kind2 = ""
        k = j + 1
        if comparison:
            while k < n and types[k] == "o" and texts[k] in _UNARY:  # IS NOT, NOT LIKE, = -1
                k += 1
            kind2, _ = _skip_operand(types, texts, k)
            if kind2 == "b" and kind1 == "b" and texts[first] == texts[k] and k < n:
                tautology = max(tautology, 0.9)  # x=x
                continue
        if after_logic == 1:
            if kind1 in _CONSTANT and kind2 in _CONSTANT and kind2:
                tautology = max(tautology, 0.9)
            continue
        if kind1 in "qf" or (kind2 and kind2 in "qf"):
            blind = max(blind, 1.0)
        elif "v" in (kind1, kind2) and (_probe_value(texts[first]) or _probe_value(texts[min(k, n - 1)])):
            blind = max(blind, 1.0)  # 1=@@version: an error-based probe
        elif kind1 in _CONSTANT and kind2 and kind2 in _CONSTANT:
            tautology = max(tautology, 1.0)
        elif kind1 in "bv" and kind2 and kind2 in _CONSTANT and sql_like:
            blind = max(blind, 0.7)  # 1 OR user_id IS NOT NULL: a probe on a column
        elif kind1 in _CONSTANT and not comparison:
            # "OR 1" / "OR 'x'" on its own: a probe when it ends the value or precedes a comment.
            after = types[j] if j < n else ""
            if after in ("", "c", "&", ";", "z", "s", "B", ")"):
                tautology = max(tautology, 0.55 if kind1 == "n" else 0.35)
    return tautology, blind


_ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^", "|", "&", "<<", ">>", "DIV", "MOD"})


def _probe_value(text: str) -> bool:
    return text.startswith("@@") or text in _SYSTEM_VALUES


def _arithmetic_probe(types: str, texts: list[str], start: int) -> bool:
    """A number followed by arithmetic on a function call or subquery: ``1 + (SELECT ...)``,
    ``234 + ASCII(SUBSTRING(passwd,1,1))``."""
    for i in range(start, len(types) - 2):
        if types[i] in "ns)" and types[i + 1] == "o" and texts[i + 1] in _ARITHMETIC:
            kind, _ = _skip_operand(types, texts, i + 2)
            if kind in ("f", "q"):
                return True
    return False


_IMPLICIT = frozenset({"=", "<", ">", "<>", "!=", "&", "|", "^", "-", "LIKE", "SOUNDS", "XOR", "IS"})
_PLAIN_OPERATORS = frozenset({"+", "-", "*", "/", "%", ".", "||"})


def _sql_specific(types: str, texts: list[str], start: int) -> bool:
    """Whether anything from ``start`` on is more than plain words, numbers and arithmetic."""
    for i in range(start, len(types)):
        t = types[i]
        if t in "&fvUEBk;c(" and not (t == "&" and texts[i] == "||"):
            return True
        if t == "o" and texts[i] not in _PLAIN_OPERATORS:
            return True
    return False


def _sql_prefix(types: str, bad: _BadPairs, start: int, upto: int) -> float:
    """How much the tokens before a rule look like SQL rather than prose (0.5..1)."""
    if upto <= start:
        return 1.0
    if types[start] == "b" and upto - start >= 2 and types[start + 1] == "b":
        return 0.5
    return _fit(bad.between(start, upto))


_BREAK_VERBS = frozenset({"WAITFOR", "EXEC", "EXECUTE", "DECLARE", "SHUTDOWN"})
_BREAK_KEYWORDS = frozenset({"AS", "FROM", "WHEN", "THEN", "ELSE", "END", "COLLATE"})
_PROSE_VERBS = frozenset(
    "SELECT UPDATE DELETE SET SHOW PRINT USE IF BEGIN CALL LOAD REPLACE COPY MERGE RENAME CREATE "
    "INSERT GRANT".split()
)


_STRUCTURE = frozenset("&UE;fcvBk(")


def _positions(types: str, letters: str, start: int, stop: int) -> Iterator[int]:
    """Where ``letters`` occur in ``types``, from ``start``, before ``stop`` (found by str.find)."""
    find = types.find
    i = find(letters, start)
    while 0 <= i < stop:
        yield i
        i = find(letters, i + 1)


_CALL_OR_STATEMENT = re.compile(r"[fE]")
_PROBE_CARRIER = re.compile(r"[vfb]")  # a variable, function or name can probe the system


def _analyse(ctx: str, tokens: Tokens) -> list[Detection]:
    types, texts = tokens.types, tokens.texts
    n = len(types)
    if n == 0:
        return []
    if (
        not tokens.evasion
        and _STRUCTURE.isdisjoint(types[0 if ctx == RAW else 1 :])
        and (ctx == RAW or types[1:2] not in ("o", ","))
    ):
        # only words, numbers, strings and operators: nothing but a system table name can fire
        return [detection("sqli.system-probe")] if _system_probe(types, texts, 0) else []
    found: list[Detection] = []
    start = 0 if ctx == RAW else 1
    tail = start
    while tail < n and types[tail] == ")":
        tail += 1
    pairs = _BadPairs(types, texts)
    bad = pairs.between(start)
    fit = _fit(bad)
    lead_number = 1 if n > 1 and types[0] == "o" and texts[0] in ("-", "+") else 0
    numeric = ctx == RAW and (
        types[lead_number] in "n()" or (types[lead_number] in "sv" and bad == 0 and n >= 3)
    )
    if ctx == RAW:
        broke = False
        # a string left open in a bare context cannot be valid SQL
        closed = not (types[-1] == "z" or (types[-1] == "c" and n > 1 and types[-2] == "z"))
        balanced = closed
        ends_comment = types[-1] == "c"
    else:
        last = texts[-1]
        balanced = types[-1] == "c" or (types[-1] == "z" and last[:1] == ctx)
        closed = balanced
        ends_comment = types[-1] == "c"
        nxt = types[tail] if n > tail else ""
        broke = (
            nxt in "&oUB;c,"
            or (nxt == "E" and texts[tail] in _BREAK_VERBS)
            or (nxt == "k" and texts[tail] in _BREAK_KEYWORDS)
        )
        if nxt == "o" and texts[tail] in ("NOT", "~", "!"):
            broke = False
    sql_like = broke or numeric
    words_before = len(texts[0].split()) if ctx != RAW else 0
    prefix = 1.0 if words_before <= 1 else 0.7 if words_before == 2 else 0.45

    # UNION [ALL] SELECT <something SQL-like>
    for u in _positions(types, "U", start, n - 1):
        e = u + 1
        while e < n and types[e] == "(":
            e += 1
        if e >= n or types[e] != "E" or texts[e] != "SELECT":
            continue
        s = e + 1
        while s < n and types[s] == "k" and texts[s] in ("DISTINCT", "ALL", "TOP"):
            s += 1
        nxt = types[s] if s < n else ""
        after = types[s + 1 : s + 2]
        if after == "b" and types[s + 2 : s + 3] in ("", ",", "k", "c", "B", ")"):
            after = ","  # a column and its alias
        if (
            nxt in ("", "c")
            or nxt in "nszvf(o"
            or (nxt == "k" and texts[s] != "FROM")
            or (nxt == "b" and after in ("", ",", "k", "c", "B", "U", ")", "o", "&", ";"))
        ):
            found.append(detection("sqli.union", 1.0 if bad <= 1 or sql_like else 0.85))
            break

    if numeric and "U" in types and not any(d.rule == "sqli.union" for d in found):
        u = types.index("U")
        if types[u + 1 : u + 2] in ("", "c") and pairs.between(0, u) == 0:
            found.append(detection("sqli.union", 0.5))  # -1 UNION, probing

    # ; <statement>
    for p in _positions(types, ";", start, n - 1):
        if types[p + 1] not in "Ef" or texts[p + 1] not in _STACKED_VERBS:
            continue
        rest = types[p + 2 :]
        verb = texts[p + 1]
        if rest and rest[0] not in "c;":
            if rest == "b" * len(rest) and (len(rest) > 1 or verb in _PROSE_VERBS):
                continue
            if verb in ("EXEC", "EXECUTE") and not (
                rest[0] in "bf(" and rest[1:2] in ("", "s", "z", "n", "v", ",", ";", "c", "(")
            ):
                continue
            stop = types.find(";", p + 1)
            if pairs.between(p + 1, stop if stop > 0 else None) > (0 if verb in _PROSE_VERBS else 1):
                continue
        before = types[p - 1] if p > 0 else ""
        strength = 1.0 if (p == tail or before in "nsz)v" or sql_like) else 0.65
        found.append(detection("sqli.stacked", strength))
        break

    tautology, blind = _conditions(types, texts, start, sql_like)
    if sql_like and _arithmetic_probe(types, texts, start):
        blind = max(blind, 0.9)
    if tautology or blind:
        first_logic = types.find("&", start)
        lead = 1.0 if sql_like else _sql_prefix(types, pairs, start, first_logic)
        shape = max(fit, 0.75) if sql_like else fit
        if not closed:
            shape *= 0.8 if sql_like and ctx != RAW else 0.5
        if tautology:
            strength = tautology * lead * shape
            if tautology < 0.9:
                strength *= prefix
                if ends_comment and sql_like:
                    strength = max(strength, 0.9)
                elif ctx != RAW:
                    strength = 0.0  # x' OR 'y: what the quote-break rule judges
            if strength:
                found.append(detection("sqli.tautology", strength))
        if blind:
            found.append(detection("sqli.boolean-blind", blind * lead * shape))

    # A quote closes the literal and the rest of the query is commented out.
    if ctx != RAW and n > tail:
        rest = types[tail:]
        if rest == "c" or rest == ";c":
            comment = texts[-1]
            if comment.startswith("#") and len(comment.strip()) > 2:
                strength = 0.45
            elif comment.startswith("--") and len(comment[2:].split()) > 1:
                strength = 0.55
            else:
                strength = 1.0
            found.append(detection("sqli.comment-truncation", strength * prefix))

    # SLEEP(n), BENCHMARK(...), WAITFOR DELAY '0:0:5'
    for match in _CALL_OR_STATEMENT.finditer(types, start):
        t = match.start()
        if types[t] == "f" and texts[t] in _TIME_FUNCTIONS:
            arg = types[t + 2] if t + 2 < n else ""
            strength = 1.0 if arg and arg in "nvf(o" else 0.4
            if t > start and types[t - 1] == "b":
                strength *= 0.5  # "I need sleep(8)"
            strength *= max(fit, 0.5)
            found.append(detection("sqli.time-delay", strength))
            break
        if types[t] == "E" and texts[t] == "WAITFOR" and t + 2 < n and texts[t + 1] in ("DELAY", "TIME"):
            found.append(detection("sqli.time-delay", 1.0 if types[t + 2] in "sz" else 0.6))
            break

    # A quote closes the literal, SQL follows.
    if broke and n - tail >= 2 and types[tail] != "c":
        strength = _fit(pairs.between(tail)) * prefix
        if ctx == DOUBLE:
            strength *= 0.75  # a string only in MySQL; in prose, inch marks and quotations
        if not balanced:
            strength *= 0.45
        elif ctx == DOUBLE and types[-1] == "z" and (" " in last.strip() or len(last) > 24):
            strength *= 0.6  # the reopened literal reads like prose: SMALL "&" SIGN
        if types[tail:] == "&z" and last == ctx:
            strength *= 0.4  # x' and ': a condition on an empty string is no probe
        if not _sql_specific(types, texts, tail) and not (
            n - tail == 2 and texts[tail] in _IMPLICIT and last == ctx
        ):
            strength *= 0.5  # only arithmetic between plain words: 4'+X+4'+WOOD
        found.append(detection("sqli.quote-break", strength))

    # ORDER BY / GROUP BY / HAVING / LIMIT / INTO OUTFILE after the break or a number
    for c in _positions(types, "B", start, n - 1):
        if c != tail and not (numeric and pairs.between(0, c) == 0):
            break
        word, nxt = texts[c], types[c + 1]
        if word in ("ORDER", "GROUP"):
            ok = nxt == "n" or (ctx != RAW and nxt == "b") or nxt == "f"
        elif word == "INTO":
            ok = texts[c + 1] in ("OUTFILE", "DUMPFILE") or nxt == "v"
        elif word in ("LIMIT", "OFFSET"):
            ok = nxt == "n"
        elif word == "PROCEDURE":
            ok = nxt == "f"
        elif word in ("HAVING", "WHERE"):
            ok = nxt in "nbfv("
        else:
            ok = False
        if ok:
            strong = ctx != RAW or nxt in "nv" or word in ("WHERE", "HAVING", "INTO")
            found.append(detection("sqli.clause", fit if strong else fit * 0.7))
        break

    # (SELECT ...)
    for q in _positions(types, "(E", start, n - 2):
        if texts[q + 1] == "SELECT":
            nxt = types[q + 2]
            if nxt in "nszvf(o" or (nxt == "b" and types[q + 3 : q + 4] in (",", "k")):
                found.append(detection("sqli.subquery", max(fit, 0.75) if sql_like else fit))
                break

    probe = _system_probe(types, texts, start)
    # The whole value is SQL: "select version();", "drop table users", "LENGTH(version())"
    if ctx == RAW and n >= 2 and bad == 0 and closed:
        if types[0] == "E" and texts[0] in _STATEMENT_VERBS and types[1] not in ",;)":
            if any(t in "fvok(" for t in types[1:]):
                # ending in a comment, or dangling ("... FROM t WHERE"), it is made to be spliced in
                spliced = (ends_comment and len(texts[-1].split()) <= 2) or types[-1] in "&oB"
                spliced = spliced or (types[-1] == "k" and texts[-1] in _NEEDS_OPERAND)
                found.append(detection("sqli.statement", 1.45 if spliced else 1.0))
        elif types[0] in "f(" and _nested_probe(types, texts):
            found.append(detection("sqli.statement"))
    # A bare SQL expression, then a comment: 1--, 1 * 1/*, ( 'a' ) --
    if (
        ctx == RAW
        and ends_comment
        and n >= 2
        and bad == 0
        and closed
        and "b" not in types
        and "z" not in types
        and types[:-1].strip("n,")
    ):
        comment = texts[-1]
        if comment.startswith("#") and len(comment.strip()) > 2:
            strength = 0.45
        elif comment.startswith("--") and len(comment[2:].split()) > 1:
            strength = 0.5
        else:
            strength = 0.75
        found.append(detection("sqli.comment-truncation", strength))
    if tokens.evasion and sql_like:
        found.append(detection("sqli.comment-evasion", fit))
    if probe:
        found.append(detection("sqli.system-probe"))
    return found


def _nested_probe(types: str, texts: list[str]) -> bool:
    """A database-introspection call nested in another call or subquery: LENGTH(version())."""
    depth = 0
    for i, t in enumerate(types):
        if t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif depth > 0 and (
            (t == "f" and texts[i] in _SYSTEM_FUNCTIONS) or (t == "v" and texts[i][:2] == "@@")
        ):
            return True
    return False


def _system_probe(types: str, texts: list[str], start: int) -> bool:
    for match in _PROBE_CARRIER.finditer(types, start):
        i = match.start()
        t = types[i]
        if t == "v" and texts[i].startswith("@@"):
            return True
        if t == "f" and texts[i] in _SYSTEM_FUNCTIONS:
            return True
        if t == "b" and texts[i].startswith(_SYSTEM_PREFIXES):
            return True
    return False


def analyse(text: str) -> list[Detection]:
    """SQL-injection detections in a user-controlled value (already decoded), strongest per rule."""
    best: dict[str, Detection] = {}
    for ctx, tokens in contexts(text):
        for found in _analyse(ctx, tokens):
            if found.rule not in best or found.score > best[found.rule].score:
                best[found.rule] = found
    return list(best.values())


# --- db.statement -----------------------------------------------------------------------------

_STATEMENT_HINT = re.compile(
    r"(?i)\b(?:or|union|sleep|benchmark|waitfor|pg_sleep|dbms_lock|dbms_pipe|xp_\w+|shutdown|"
    r"information_schema|load_file)\b|;\s*\S|--|#|@@"
)
_TRUNCATED_REST = re.compile(r"""^\s*['")]|['"]\s*(?:and|or)\b""", re.IGNORECASE)


def analyse_statement(statement: str) -> list[Detection]:
    """Injected structure in a SQL statement a database client ran (``db.statement``)."""
    if not _STATEMENT_HINT.search(statement) and statement.rfind("/*") <= statement.rfind("*/"):
        return []  # nothing that injected structure needs (an unclosed /* comment included)
    tokens = tokenize(statement, limit=4 * MAX_TOKENS)
    types, texts = tokens.types, tokens.texts
    n = len(types)
    found: list[Detection] = []

    # OR <constant> [op <constant>] that is true
    for a in range(n):
        if types[a] != "&" or texts[a] not in ("OR", "||"):
            continue
        if texts[a] == "||" and not _statement_condition_ahead(types, a):
            continue
        kind1, j = _skip_operand(types, texts, a + 1)
        while j < n and types[j] == ")":
            j += 1
        if kind1 in _CONSTANT and j < n and types[j] == "o" and texts[j] in _COMPARISONS:
            kind2, _ = _skip_operand(types, texts, j + 1)
            if kind2 in _CONSTANT and (kind1 != "n" or kind2 != "n" or _true(texts, a, j)):
                found.append(detection("sqli.tautology"))
                break
        elif kind1 == "n" and (j >= n or types[j] in "c);&") and texts[a + 1] not in ("0", "NULL", "FALSE"):
            found.append(detection("sqli.tautology", 0.9))
            break

    # UNION SELECT of constants / probes, the classic column-count and data-extraction shape
    for u in range(n - 1):
        if types[u] == "U" and types[u + 1] == "E" and texts[u + 1] == "SELECT":
            end = u + 2
            while end < n and types[end] not in "kBU;c":
                end += 1
            items = types[u + 2 : end]
            constants = sum(1 for t in items if t in "nsv")
            if items and constants >= 2 and "b" not in items.replace("f", ""):
                found.append(detection("sqli.union"))
                break
            if _system_probe(types, texts, u + 2) or types[-1:] == "c":
                found.append(detection("sqli.union", 0.9))
                break

    # ; <statement that never belongs in an application's batch>
    for p in range(n - 1):
        if types[p] == ";" and types[p + 1] in "Ef":
            verb = texts[p + 1]
            tail = texts[p + 1 : p + 6]
            if verb in ("SHUTDOWN", "WAITFOR", "DECLARE") or any(
                t in _TIME_FUNCTIONS or t.startswith(("XP_", "MASTER..XP_")) for t in tail
            ):
                found.append(detection("sqli.stacked"))
                break
            if verb in ("DROP", "DELETE", "TRUNCATE", "EXEC", "EXECUTE", "GRANT") and types[-1:] == "c":
                found.append(detection("sqli.stacked", 0.9))
                break

    # A comment right after a literal cutting off the rest of the statement: ... = 'admin'-- ' AND ...
    if n >= 2 and types[-1] == "c" and types[-2] in "sn)":
        comment = texts[-1]
        rest = comment[2:] if comment.startswith("--") else comment[1:] if comment.startswith("#") else ""
        if comment.startswith("/*") and not comment.endswith("*/"):
            found.append(detection("sqli.comment-truncation", 0.9))
        elif rest and _TRUNCATED_REST.search(rest):
            found.append(detection("sqli.comment-truncation"))

    # SLEEP() and friends inside a condition
    for t in range(1, n):
        if types[t] == "f" and texts[t] in _TIME_FUNCTIONS and types[t - 1] in "&o(,":
            found.append(detection("sqli.time-delay"))
            break
    return found


def _statement_condition_ahead(types: str, a: int) -> bool:
    return a + 2 < len(types) and types[a + 1] in "n(" and types[a + 2] in "o)"


def _true(texts: list[str], a: int, j: int) -> bool:
    try:
        left = float(int(texts[a + 1], 0)) if texts[a + 1].startswith("0X") else float(texts[a + 1])
        right_text = texts[j + 1]
        right = float(int(right_text, 0)) if right_text.startswith("0X") else float(right_text)
    except (ValueError, IndexError):
        return True
    op = texts[j]
    if op in ("=", "==", "<=>", "LIKE", "IS"):
        return left == right
    if op in ("<>", "!="):
        return left != right
    if op in ("<", ">", "<=", ">="):
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
    return True
