"""Which detectors judge which value, and the cheap checks that spare benign values any work.

Every value is first checked against what cannot carry an attack, because most values are
identifiers, numbers, slugs, names and e-mail addresses:

- a value made only of letters, digits and ``_ . , @ : -`` (but not ``--``, a SQL comment) is
  benign for every injection category, and costs one regular-expression match;
- if it also has spaces, only SQL keywords could make it an attack (``-1 UNION SELECT 1,2``,
  ``1 OR 1``): it goes to the SQL detector alone, and only if such a keyword is in it.

Anything else is decoded (:mod:`~vigil.processors.threat.decoding`) and handed to each detector
whose own trigger characters it contains. The kinds of value (:class:`Kind`):

``PARAM``      a query-string parameter (``+`` is a space): every injection detector
``PATH``       a request's URL path: traversal (stricter: clients normalise ``..``), sensitive
               file probes, and the injection detectors on the decoded path
``TEXT``       a log body or log attribute: every injection detector, no ``+`` decoding
``STATEMENT``  a ``db.statement``: injected structure only (:func:`sql.analyse_statement`)
``USER_AGENT`` attack-tool user agents and JNDI lookups (a favourite Log4Shell carrier)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

from vigil.processors.threat import html, jndi, scanner, shell, sql, ssrf, ssti, traversal
from vigil.processors.threat.decoding import clip, decode
from vigil.processors.threat.rules import Detection


class Kind(enum.Enum):
    """What a value is, which decides how it is decoded and which detectors see it."""

    PARAM = "param"
    PATH = "path"
    TEXT = "text"
    STATEMENT = "statement"
    USER_AGENT = "user_agent"


# The plain sets below are "(?:[set]|-(?!-))*" and the like (a "-" not followed by another, as
# "--" starts a SQL comment: 1--, @@version--) with each run of the set's characters taken by a
# bare "[set]*": sre runs that in its counting loop, while each turn of a repeated group is a step
# of its general matcher. The group turns only at a "-" (in some, at "%", "/" or "*" too), which
# the set lacks, so a value matches in one way only and a failed match backtracks in linear time.
_SAFE = re.compile(r"[\w.,@:]*(?:-(?!-)[\w.,@:]*)*")
_SAFE_SPACED = re.compile(r"[\w .,@:]*(?:-(?!-)[\w .,@:]*)*")
_SAFE_QUERY = re.compile(r"[\w.,@:=&]*(?:-(?!-)[\w.,@:=&]*)*")
# A query string whose only escapes are of harmless punctuation (space, + , / : @ [ ]): decoded
# at once and judged as a whole, like _SAFE_URLISH, instead of parameter by parameter.
_PLAIN_QUERY = re.compile(r"[\w.,@:=&+~]*(?:(?:-(?!-)|%(?:2[0BCFbcf]|3[Aa]|40|5[BDbd]))[\w.,@:=&+~]*)*")
_PLAIN_ESCAPES = (
    ("%20", " "),
    ("%2b", "+"),
    ("%2c", ","),
    ("%2f", "/"),
    ("%3a", ":"),
    ("%40", "@"),
    ("%5b", "["),
    ("%5d", "]"),
)
# An address as a parameter's value. Also one at the start of the query string, or localhost or
# metadata anywhere, but _urlish_risk, checked first on the same text, finds those: leaving "^" out
# lets sre look for "=" alone instead of trying the pattern at every character.
_BARE_ADDRESS = re.compile(r"=\s*(?:\d{1,3}\.\d|\[|0x|localhost|metadata)")
PATH_IS_PLAIN = _SAFE_PATH = re.compile(r"[\w.,@:/~+]*(?:-(?!-)[\w.,@:/~+]*)*")
"""A URL path of plain characters: only sensitive-file targets (:data:`PATH_TARGET`) matter in it."""
# Words that can make SQL out of letters, digits and spaces alone (-1 UNION SELECT 1,2; 1 OR 1),
# looked up in the lower-cased words of a value (faster than a regular expression alternation).
_SQL_WORDSET = frozenset(
    "union select or and xor order group having limit waitfor declare exec drop shutdown delete truncate"
    " insert update procedure sleep benchmark like rlike regexp between true false null div mod into"
    " outfile dumpfile sounds where".split()
)
_WORD = re.compile(r"[a-z_]+")


def _sql_words(lower: str) -> bool:
    return not _SQL_WORDSET.isdisjoint(_WORD.findall(lower))


# Letters, digits, spaces and URL punctuation: no quote, <>(){}, separator or escape. Such a
# value is benign unless one of _URLISH_RISK is in it.
_SAFE_URLISH = re.compile(r"[\w .,@:+=?#~!\[\]]*(?:(?:-(?!-)|/(?!\*)|\*(?!/))[\w .,@:+=?#~!\[\]]*)*")
# What makes a URL-ish value risky: "..", a dot file, "//" before an address, a system directory,
# a scheme other than http(s), Windows and server directories, localhost and metadata. sre's
# search tries a pattern only where one of its branches' first characters is, so the branches
# start at few characters (". / : w i l m"), not at each word's first letter: a scheme's or a
# directory's name is looked behind from its ":" or "/" ("/(?<=etc/)" finds "etc/").
_URLISH_RISK = re.compile(
    r"\.(?:\.|ini|env|git|ht|ssh|aws|asa|bash_|zsh_)"
    r"|/(?:/\s*(?:\[|\d|localhost|metadata|instance-data)|usr/|s?bin/"
    r"|(?<=etc/)|(?<=proc/)|(?<=var/)(?:log|run))"
    r"|:(?:(?<=jar:)|(?<=data:|dict:|file:|sftp:|ldap:|tftp:|phar:)|(?<=script:|gopher:|netdoc:|expect:))"
    r"|w(?:in(?:dows|nt)|eb-inf|p-config)|inetpub|localhost|metadata"
)
# An address first (1.2.3.4, [::1]): matched apart, since a "^" branch would make sre try
# _URLISH_RISK at every character.
_URLISH_START = re.compile(r"\s*[\d\[]")


def _urlish_risk(lower: str) -> bool:
    return (
        _URLISH_RISK.search(lower) is not None or _URLISH_START.match(lower) is not None or _sql_words(lower)
    )


# Which detectors a value needs, from the characters in it (a set, built once per value).
# A quote alone never makes SQL injection: some operator, punctuation or keyword must be there;
# "& - + % ," count only next to a quote (AT&T, 50% off and t-shirt are everywhere).
_SQL_CHARS = frozenset(";#()=<>|*/^~!\\{`")
_SQL_QUOTE_CHARS = frozenset("&-+%,")
_QUOTES = frozenset("'\"")
_HTML_WORDS = re.compile(
    r"script|data:|\bon[a-z]{3,}\W*=|&\{|expression|alert|confirm|prompt|eval|write|document\.|window\."
    r"|\);\s*[\"'`]\s*>"  # a call ended, then a quote and a tag end: x(0);'>
)
_HTML_CHARS = frozenset("(:=`{")
_SHELL_CHARS = frozenset(";|&`$\n\r(<")
_TRAVERSAL_CHARS = frozenset("/\\")
PATH_TARGET = _PATH_TARGET = re.compile(r"/\.|etc/|passwd|\.ini|web-inf|wp-config|proc/|global\.asa|\.\.")
"""What makes a plain path worth a look, searched in the lower-cased path."""


class BoundedCache:
    """A dict of analysis results that empties itself when full (hot values come back at once)."""

    __slots__ = ("_items", "_size", "get")

    def __init__(self, size: int) -> None:
        self._items: dict[str, tuple[Detection, ...]] = {}
        self._size = size
        self.get = self._items.get

    def put(self, key: str, value: tuple[Detection, ...]) -> tuple[Detection, ...]:
        if len(self._items) >= self._size:
            self._items.clear()
        self._items[key] = value
        return value

    def judged(
        self, key: str, judge: Callable[..., tuple[Detection, ...]], *args: object
    ) -> tuple[Detection, ...]:
        """What ``judge(key, *args)`` returns, remembered: judged only the first time ``key`` comes."""
        found = self._items.get(key)
        return self.put(key, judge(key, *args)) if found is None else found


def analyse(value: str, kind: Kind) -> tuple[Detection, ...]:
    """Every detection in ``value`` of ``kind`` (several per rule possible; see verdict.strongest)."""
    if kind is Kind.PARAM or kind is Kind.TEXT:
        if _SAFE.fullmatch(value):
            return ()
        text = decode(value, query=kind is Kind.PARAM)
        return _injections(text)
    if kind is Kind.PATH:
        return _path(value)
    if kind is Kind.STATEMENT:
        return _statement(value)
    if kind is Kind.USER_AGENT:
        found = scanner.analyse(value)
        if "${" in value:
            found = found + tuple(jndi.analyse(decode(value)))
        return found
    raise ValueError(f"unknown kind {kind!r}")


def _injections(text: str) -> tuple[Detection, ...]:
    """Every injection detector whose trigger ``text`` (decoded) contains."""
    if _SAFE.fullmatch(text) or text.isspace():
        return ()
    lower = text.lower()
    if _SAFE_SPACED.fullmatch(text):
        found = tuple(sql.analyse(text)) if _sql_words(lower) else ()
        first = lower.split(None, 1)[0] if " " in lower else lower
        if first in shell.COMMANDS or first.endswith(".exe"):
            found += tuple(shell.analyse(text))  # "ping -n 30 10.0.0.1": a command line, a suspicion
        return found
    if _SAFE_URLISH.fullmatch(text) and not _urlish_risk(lower):
        return ()
    chars = set(text)
    found: list[Detection] = []
    if (
        not _SQL_CHARS.isdisjoint(chars)
        or "--" in text
        or (not _QUOTES.isdisjoint(chars) and not _SQL_QUOTE_CHARS.isdisjoint(chars))
        or _sql_words(lower)
    ):
        found += sql.analyse(text)
    if "<" in chars or (not _HTML_CHARS.isdisjoint(chars) and _HTML_WORDS.search(lower)):
        found += html.analyse(text)
    if (
        not _TRAVERSAL_CHARS.isdisjoint(chars)
        or ".." in text
        or "file:" in lower
        or "0x" in lower
        or text[0] == "."
    ):
        found += traversal.analyse(text)
    if (
        not _SHELL_CHARS.isdisjoint(chars)
        or text[0] in "/\\"
        or (" " in chars and text.split(None, 1)[0].lower() in shell.COMMANDS)  # not all space: checked
    ):
        found += shell.analyse(text)
    if "{" in chars or "<%" in text:
        if "${" in text:
            found += jndi.analyse(text)
        found += ssti.analyse(text)
    if (
        (":" in chars and "/" in chars)
        or text[0] in "0123456789["
        or "localhost" in lower
        or "metadata" in lower
    ):
        found += ssrf.analyse(text)
    return tuple(found)


def _path(path: str) -> tuple[Detection, ...]:
    path = clip(path)
    if _SAFE_PATH.fullmatch(path):
        if not _PATH_TARGET.search(path.lower()):
            return ()
        return tuple(traversal.analyse(path, in_path=True))
    text = decode(path)
    found = traversal.analyse(text, in_path=True)
    lower = text.lower()
    if not _SQL_CHARS.isdisjoint(text) or not _QUOTES.isdisjoint(text) or _sql_words(lower):
        found += sql.analyse(text)
    if "<" in text or _HTML_WORDS.search(lower):
        found += html.analyse(text)
    found += shell.analyse(text)
    if "${" in text:
        found += jndi.analyse(text)
    found += ssti.analyse(text)
    return tuple(found)


def _statement(statement: str) -> tuple[Detection, ...]:
    return tuple(sql.analyse_statement(clip(statement)))


def query_parameters(query: str) -> list[tuple[str, str]]:
    """``query`` (``a=1&b=2``, still encoded) split into (name, value) pairs, neither decoded."""
    pairs = []
    for part in clip(query).split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((name, value))
    return pairs


_CACHED_VALUE_LIMIT = 512  # longer values are rare and would make a cache of 4096 large


def analyse_query(query: str, values: BoundedCache | None = None) -> tuple[Detection, ...]:
    """Every detection in the parameters of a raw query string (``url.query``); ``values``, if
    given, keeps what each parameter value was found to hold (values recur across queries)."""
    if _SAFE_QUERY.fullmatch(query):
        return ()
    if _PLAIN_QUERY.fullmatch(query):
        lower = query.replace("+", " ").lower()
        if "%" in lower:
            for escape, char in _PLAIN_ESCAPES:
                if escape in lower:
                    lower = lower.replace(escape, char)
        if not _urlish_risk(lower) and not _BARE_ADDRESS.search(lower):
            return ()
    found: list[Detection] = []
    for name, value in query_parameters(query):
        if value and not _SAFE.fullmatch(value):
            if values is None or len(value) > _CACHED_VALUE_LIMIT:
                found += analyse(value, Kind.PARAM)
            else:
                found += values.judged(value, analyse, Kind.PARAM)
        if not _SAFE.fullmatch(name):
            found += analyse(name, Kind.PARAM)
    return tuple(found)


def analyse_target(target: str) -> tuple[Detection, ...]:
    """Every detection in a request target, path and query (``http.target`` of old semconv)."""
    path, _, query = target.partition("?")
    found = analyse(path, Kind.PATH)
    if query:
        found += analyse_query(query)
    return found


__all__ = [
    "PATH_IS_PLAIN",
    "PATH_TARGET",
    "BoundedCache",
    "Kind",
    "analyse",
    "analyse_query",
    "analyse_target",
    "query_parameters",
]
