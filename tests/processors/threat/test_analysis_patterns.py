"""The cheap benign checks of ``analysis`` decide exactly as the regular expressions they stand for.

The checks are written for speed (runs of plain characters taken by a bare character set, search
branches that start at few characters, an anchored branch matched apart). The expressions below
are their specification, as first written: every check must agree with its expression on every
value, or a benign shortcut could hide an attack (or judge a value it used to spare).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.processors.threat import corpora
from vigil.processors.threat import analysis
from vigil.processors.threat.analysis import Kind, analyse, analyse_query, query_parameters

SAFE = re.compile(r"(?:[\w.,@:]|-(?!-))*")
SAFE_SPACED = re.compile(r"(?:[\w .,@:]|-(?!-))*")
SAFE_QUERY = re.compile(r"(?:[\w.,@:=&]|-(?!-))*")
PLAIN_QUERY = re.compile(r"(?:[\w.,@:=&+~]|-(?!-)|%(?:2[0BCFbcf]|3[Aa]|40|5[BDbd]))*")
SAFE_PATH = re.compile(r"(?:[\w.,@:/~+]|-(?!-))*")
SAFE_URLISH = re.compile(r"(?:[\w .,@:+=?#~!\[\]]|-(?!-)|/(?!\*)|\*(?!/))*")
URLISH_RISK = re.compile(
    r"\.\.|data:|script:|file:|//\s*(?:\[|\d|localhost|metadata|instance-data)|^\s*(?:\d|\[)"
    r"|(?:gopher|dict|ldap|tftp|jar|netdoc|sftp|expect|phar):"
    r"|/(?:usr/|s?bin/)|etc/|proc/|windows|winnt|web-inf|inetpub|\.(?:ini|env|git|ht|ssh|aws|asa|bash_|zsh_)"
    r"|wp-config|var/log|var/run"
    r"|localhost|metadata"
)
BARE_ADDRESS = re.compile(r"(?:^|=)\s*(?:\d{1,3}\.\d|\[|0x|localhost|metadata)")


def urlish_risk(lower: str) -> bool:
    return bool(URLISH_RISK.search(lower)) or analysis._sql_words(lower)


def plain_query_is_benign(query: str) -> bool:
    """A query string the first cheap checks of analyse_query dismiss whole."""
    if SAFE_QUERY.fullmatch(query):
        return True
    if not PLAIN_QUERY.fullmatch(query):
        return False
    lower = query.replace("+", " ").lower()
    for escape, char in analysis._PLAIN_ESCAPES:  # the escapes are not what these tests check
        lower = lower.replace(escape, char)
    return not urlish_risk(lower) and not BARE_ADDRESS.search(lower)


def analyse_query_spec(query: str) -> tuple:
    """analyse_query as specified: nothing in a plain query, else what each parameter holds."""
    if plain_query_is_benign(query):
        return ()
    return tuple(
        detection
        for name, value in query_parameters(query)
        for detection in analyse(value, Kind.PARAM) + analyse(name, Kind.PARAM)
    )


# (name, the check as written in analysis, its specification): each answers a truth value.
CHECKS: list[tuple[str, Callable[[str], object], Callable[[str], object]]] = [
    ("_SAFE", analysis._SAFE.fullmatch, SAFE.fullmatch),
    ("_SAFE_SPACED", analysis._SAFE_SPACED.fullmatch, SAFE_SPACED.fullmatch),
    ("_SAFE_QUERY", analysis._SAFE_QUERY.fullmatch, SAFE_QUERY.fullmatch),
    ("_PLAIN_QUERY", analysis._PLAIN_QUERY.fullmatch, PLAIN_QUERY.fullmatch),
    ("PATH_IS_PLAIN", analysis.PATH_IS_PLAIN.fullmatch, SAFE_PATH.fullmatch),
    ("_SAFE_URLISH", analysis._SAFE_URLISH.fullmatch, SAFE_URLISH.fullmatch),
    ("_urlish_risk", analysis._urlish_risk, urlish_risk),
    # _BARE_ADDRESS no longer looks at the start of the text: it is only asked after _urlish_risk.
    (
        "_BARE_ADDRESS after _urlish_risk",
        lambda v: analysis._urlish_risk(v) or analysis._BARE_ADDRESS.search(v),
        lambda v: urlish_risk(v) or BARE_ADDRESS.search(v),
    ),
]
IDS = [name for name, _, _ in CHECKS]

# Characters that decide the checks (and their neighbours), Unicode letters, digits and spaces
# that \w, \d and \s take in or leave out, and whole words the risk patterns look for.
CHARS = [
    *"aZz_09-/*%.,@:=&+~?#![]{}()<>'\"`;|$\\^ \t\n",
    *"\x0b\x1c\x85\xa0\u2003\u3000",  # \s in Python: whitespace beyond ASCII
    *"éÉß\u0130\u212a²\u0663\u00bd",  # letters, a digit \d refuses (²), one it accepts (٣)
]
WORDS = [
    *("%2F", "%2f", "%20", "%2B", "%2C", "%3A", "%3a", "%40", "%5B", "%5D", "%5d", "%2D", "%2", "%4"),
    *("--", "/*", "*/", "..", "//", "1.2", "127.0.0.1", "0x", "[::1]", "localhost", "metadata"),
    *("instance-data", "data:", "script:", "file:", "jar:", "gopher:", "phar:", "dict:", "etc/"),
    *("proc/", "var/", "log", "run", "/usr/", "/bin/", "/sbin/", "windows", "WinNT", "web-inf"),
    *("inetpub", "wp-config", ".ini", ".env", ".git", ".ht", "bash_", "zsh_", "union", "select", "or"),
]
# Few characters, so that their sequences come up: what the plain sets forbid, escapes and near
# misses, an address after "=" (or first), schemes and directories spelled letter by letter.
FOCUSED = ("-/*a", "%2fFbB0-a", "= \t\xa01.2[0xa&", ":/.etcprovaljr")
VALUES = st.one_of(
    st.lists(st.sampled_from(CHARS) | st.sampled_from(WORDS), max_size=24).map("".join),
    *(st.text(alphabet, max_size=16) for alphabet in FOCUSED),
)


# What each branch of the expressions above matches, or what they forbid, at least once each.
WITNESSES = (
    *("--", "-", "/*", "*/", "/", "*", "%20", "%2B", "%2b", "%2C", "%2F", "%3A", "%3a", "%40", "%5B"),
    *("%5d", "%2D", "%41", "..", "data:", "script:", "file:", "//[", "// 1", "//\tlocalhost"),
    *("//metadata", "//instance-data", " 1", "\xa0[", "gopher:", "dict:", "ldap:", "tftp:", "jar:"),
    *("netdoc:", "sftp:", "expect:", "phar:", "/usr/", "/bin/", "/sbin/", "etc/", "proc/", "windows"),
    *("winnt", "web-inf", "inetpub", ".ini", ".env", ".git", ".ht", ".ssh", ".aws", ".asa", ".bash_"),
    *(".zsh_", "wp-config", "var/log", "var/run", "localhost", "metadata", "=1.2", "= 123.4"),
    *("=1234.5", "=\t[", "=0x", "=localhost", "= metadata", "1.2", "0x1", "union", "or"),
)
CONTEXTS = (("", ""), ("a", ""), ("", "a"), ("q=", "&b"), ("é", "²"), ("1", ""), ("/", "/"), (".", "-"))


@functools.cache
def near_misses() -> tuple[str, ...]:
    """Each witness in a few contexts, and with each of its characters left out or replaced; as
    given and lower-cased."""
    values = {prefix + w + suffix for w in WITNESSES for prefix, suffix in CONTEXTS}
    for w in WITNESSES:
        for at in range(len(w)):
            values.update(
                "x=" + w[:at] + c + w[at + 1 :] for c in ("", "-", "/", "*", " ", "a", "1", "%", "A")
            )
    return tuple(sorted(values | {v.lower() for v in values}))


@functools.cache
def corpus() -> tuple[str, ...]:
    """Every value of the corpora, as given and lower-cased."""
    values = [*corpora.benign_values(), *(v for _, v in corpora.attack_values())]
    if corpora.available():
        values += [v for v, _ in corpora.httpparams()]
        values += corpora.libinjection_sqli() + corpora.libinjection_xss()
        values += corpora.libinjection_false_positives() + corpora.payloadbox_sqli()
    return tuple(dict.fromkeys([*values, *(v.lower() for v in values)]))


@settings(max_examples=5000, deadline=None)
@given(value=VALUES)
def test_each_check_agrees_with_its_expression(value):
    for name, check, spec in CHECKS:
        for text in (value, value.lower()):
            assert bool(check(text)) == bool(spec(text)), (name, text)


@pytest.mark.parametrize(("name", "check", "spec"), CHECKS, ids=IDS)
def test_each_check_agrees_with_its_expression_on_the_corpora(name, check, spec):
    differ = [v for v in corpus() if bool(check(v)) != bool(spec(v))]
    assert differ == []


@pytest.mark.parametrize(("name", "check", "spec"), CHECKS, ids=IDS)
def test_each_check_agrees_with_its_expression_on_each_branch_and_near_misses(name, check, spec):
    differ = [v for v in near_misses() if bool(check(v)) != bool(spec(v))]
    assert differ == []


def test_the_corpora_hold_values_each_check_accepts_and_refuses():
    # The corpora are worth comparing on only if each check says yes to some values and no to others.
    for name, check, _ in CHECKS:
        answers = {bool(check(v)) for v in corpus()}
        assert answers == {True, False}, name


@settings(max_examples=4000, deadline=None)
@given(query=VALUES)
def test_analyse_query_is_its_specification(query):
    assert analyse_query(query) == analyse_query_spec(query)


def test_analyse_query_is_its_specification_on_the_corpora():
    differ = [v for v in corpus() if analyse_query(v) != analyse_query_spec(v)]
    assert differ == []
