"""Every threat rule, with its stable id, category, default strength and a one-line description.

A detector reports what it found as :class:`Detection` values: the category, the id of the rule
that fired and the rule's score contribution for that value (0..1). Rule ids are stable names,
``<category>.<name>`` (``sqli.tautology``, ``xss.event-handler``): they are what
``vigil.threat.rules`` carries and what configuration refers to when it disables a rule. A rule's
``score`` is its contribution when it fires at full strength; detectors grade it down when the
evidence is weaker (a single ``../``, a quote break that does not parse as SQL).

Scores are calibrated so that one rule alone reaches 0.5 ("this is an attack") only where its
false-positive rate on the benign corpora is negligible; weaker rules stay below 0.5 and only
combine into an attack verdict (see :mod:`vigil.processors.threat.verdict`).

Categories (the values of ``vigil.threat.categories``):

``sqli``        SQL injection
``xss``         cross-site scripting
``traversal``   path traversal and sensitive-file probes
``cmdi``        OS command injection
``jndi``        JNDI / Log4Shell-style lookups
``ssti``        server-side template and expression-language injection
``ssrf``        server-side request forgery targets in parameters
``scanner``     known attack tools, by user agent

and, from behaviour over time rather than from one value (:mod:`vigil.processors.threat.behaviour`):

``bruteforce``  repeated failed logins, per client and per account
``stuffing``    credential stuffing: many accounts failing from one client, or one account from many
``rate-abuse``  a client far above its usual request rate on an endpoint
``enumeration`` bursts of 404 / 403 (or ``access.denied`` events) from one client
``privileged``  admin routes and deletes at unusual hours (a suspicion, below 0.5 on its own)

The behavioural rules grade their score by level: 0.55 (medium), 0.75 (high) and 0.92 (critical)
as their counts pass the configured levels; their ``score`` below is the critical one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

SQLI = "sqli"
XSS = "xss"
TRAVERSAL = "traversal"
CMDI = "cmdi"
JNDI = "jndi"
SSTI = "ssti"
SSRF = "ssrf"
SCANNER = "scanner"
BRUTEFORCE = "bruteforce"
STUFFING = "stuffing"
RATE_ABUSE = "rate-abuse"
ENUMERATION = "enumeration"
PRIVILEGED = "privileged"

CATEGORIES: tuple[str, ...] = (
    SQLI,
    XSS,
    TRAVERSAL,
    CMDI,
    JNDI,
    SSTI,
    SSRF,
    SCANNER,
    BRUTEFORCE,
    STUFFING,
    RATE_ABUSE,
    ENUMERATION,
    PRIVILEGED,
)


@dataclass(frozen=True)
class Rule:
    """A detection rule: stable id, category, full-strength score and a one-line description."""

    id: str
    category: str
    score: float
    description: str


class Detection(NamedTuple):
    """One rule firing on one value, with the score it contributes (0..1)."""

    category: str
    rule: str
    score: float


@dataclass(frozen=True)
class Evidence:
    """One attribute value and what was found in it: a payload in ``url.query``, or, for the
    behavioural rules, the client (``client.address``) or account (``user.name``) whose behaviour
    fired them, with what it did (``detail``: "5 failed logins in 5 min")."""

    key: str
    value: str
    detections: tuple[Detection, ...]
    detail: str = ""


_RULES: tuple[Rule, ...] = (
    # SQL injection (sql.py)
    Rule("sqli.tautology", SQLI, 0.9, "an always-true or always-false condition: OR 1=1, ' OR 'a'='a"),
    Rule("sqli.union", SQLI, 0.9, "UNION SELECT appended to a value"),
    Rule("sqli.stacked", SQLI, 0.9, "a second statement after ';': ; DROP TABLE, ; EXEC, ; SELECT"),
    Rule(
        "sqli.comment-truncation",
        SQLI,
        0.8,
        "a literal closed then the rest of the query commented out: admin'--",
    ),
    Rule("sqli.time-delay", SQLI, 0.85, "time-based probes: SLEEP(), BENCHMARK(), PG_SLEEP(), WAITFOR DELAY"),
    Rule("sqli.quote-break", SQLI, 0.75, "a quote closes the literal and SQL operators or keywords follow"),
    Rule("sqli.boolean-blind", SQLI, 0.8, "a logic operator followed by a subquery or function probe"),
    Rule("sqli.clause", SQLI, 0.7, "ORDER BY / GROUP BY / HAVING / LIMIT / INTO OUTFILE appended to a value"),
    Rule("sqli.subquery", SQLI, 0.6, "a parenthesised SELECT inside a value"),
    Rule(
        "sqli.system-probe", SQLI, 0.35, "database fingerprinting: @@version, version(), information_schema"
    ),
    Rule("sqli.statement", SQLI, 0.45, "the whole value is SQL: a statement, or a nested introspection call"),
    Rule("sqli.comment-evasion", SQLI, 0.6, "comments used as whitespace between SQL keywords: 1/**/UNION"),
    # Cross-site scripting (html.py)
    Rule("xss.script-tag", XSS, 0.9, "a <script> element"),
    Rule(
        "xss.event-handler", XSS, 0.85, 'an on* event-handler attribute: <img onerror=...>, " onmouseover=...'
    ),
    Rule("xss.js-url", XSS, 0.85, "a javascript:, vbscript: or data:text/html URL"),
    Rule(
        "xss.dangerous-tag",
        XSS,
        0.6,
        "an element that loads active content: iframe, object, embed, base, meta",
    ),
    Rule("xss.css-injection", XSS, 0.7, "script in CSS: expression(), -moz-binding, behavior:"),
    Rule("xss.js-break", XSS, 0.65, "a quote or tag break followed by a JavaScript call: ';alert(1)//"),
    Rule(
        "xss.css-break",
        XSS,
        0.6,
        "inline CSS breaking out of its declarations or hiding words: foo}color:red, \\63olor, gre/**/en",
    ),
    Rule(
        "xss.external-entity",
        XSS,
        0.85,
        'an XML external entity pulling content into the page: <!ENTITY x SYSTEM "http://...">',
    ),
    # Path traversal (traversal.py)
    Rule("traversal.dot-dot", TRAVERSAL, 0.85, "../ or ..\\ segments climbing out of a directory"),
    Rule("traversal.dot-evasion", TRAVERSAL, 0.7, "dot-dot filter evasions: ....//, /.../, ..;/"),
    Rule(
        "traversal.os-file",
        TRAVERSAL,
        0.6,
        "a sensitive file as target: /etc/passwd, boot.ini, WEB-INF/web.xml",
    ),
    Rule("traversal.file-url", TRAVERSAL, 0.5, "a file: URL to a local path"),
    # Command injection (shell.py)
    Rule("cmdi.separator", CMDI, 0.85, "a shell separator ; | & or newline followed by a command"),
    Rule("cmdi.substitution", CMDI, 0.85, "command substitution: `cmd`, $(cmd), ${IFS}"),
    Rule("cmdi.ssi", CMDI, 0.9, "a server-side include directive: <!--#exec cmd=...-->"),
    Rule("cmdi.code-exec", CMDI, 0.75, "a call that runs a command: system('id'), exec(), passthru()"),
    Rule(
        "cmdi.command-line", CMDI, 0.55, "the whole value is a command line: /usr/bin/id, ping -n 5 10.0.0.1"
    ),
    # Lookups, templates and request forgery (jndi.py, ssti.py, ssrf.py)
    Rule("jndi.lookup", JNDI, 0.95, "a JNDI lookup, including nested obfuscation: ${jndi:ldap://...}"),
    Rule("jndi.env-lookup", JNDI, 0.5, "a Log4j-style ${env:...} / ${sys:...} lookup"),
    Rule("ssti.arithmetic-probe", SSTI, 0.7, "template arithmetic on literals: {{7*7}}, ${7*7}, <%= 7*7 %>"),
    Rule(
        "ssti.object-traversal", SSTI, 0.9, "template access to internals: __class__, __globals__, getRuntime"
    ),
    Rule(
        "ssrf.cloud-metadata",
        SSRF,
        0.9,
        "a cloud metadata endpoint: 169.254.169.254, metadata.google.internal",
    ),
    Rule("ssrf.loopback", SSRF, 0.45, "a URL to a loopback host: localhost, 127.0.0.1, [::1]"),
    Rule(
        "ssrf.obfuscated-ip", SSRF, 0.75, "a host written as a decimal, hex or octal IP: http://2130706433/"
    ),
    Rule("ssrf.private-host", SSRF, 0.3, "a URL to a private or link-local address"),
    Rule("ssrf.scheme", SSRF, 0.7, "a URL with a scheme used to reach internal services: gopher:, dict:"),
    # Attack tools (scanner.py)
    Rule(
        "scanner.user-agent",
        SCANNER,
        0.8,
        "the user agent of a known attack tool: sqlmap, nikto, nuclei, masscan",
    ),
    # Behaviour over time (behaviour.py); graded 0.55 / 0.75 / 0.92 by level
    Rule("bruteforce.client", BRUTEFORCE, 0.92, "failed logins from one client: 3 / 5 / 10 in 5 minutes"),
    Rule("bruteforce.account", BRUTEFORCE, 0.92, "failed logins on one account: 3 / 5 / 10 in 5 minutes"),
    Rule(
        "bruteforce.success-after-failures",
        BRUTEFORCE,
        0.85,
        "a successful login after 5 or more failures of its client or account in 5 minutes",
    ),
    Rule(
        "stuffing.client-many-accounts",
        STUFFING,
        0.92,
        "one client failing logins on many accounts: 5 / 10 / 20 in 10 minutes",
    ),
    Rule(
        "stuffing.account-many-clients",
        STUFFING,
        0.92,
        "one account failing logins from many clients: 5 / 10 / 20 in 10 minutes",
    ),
    Rule(
        "rate-abuse.client-endpoint",
        RATE_ABUSE,
        0.92,
        "a client above 8 / 16 / 32 times its usual requests per minute on a route",
    ),
    Rule(
        "enumeration.client-4xx-burst",
        ENUMERATION,
        0.92,
        "404 / 403 responses or access.denied events for one client: 20 / 50 / 100 a minute",
    ),
    Rule(
        "privileged.off-hours",
        PRIVILEGED,
        0.35,
        "an admin route, DELETE or privileged.operation event between 22:00 and 06:00 UTC",
    ),
)

RULES: dict[str, Rule] = {rule.id: rule for rule in _RULES}
"""Every rule by id."""


@functools.lru_cache(maxsize=4096)  # detectors grade with a few strengths; a Detection is immutable
def detection(rule_id: str, strength: float = 1.0) -> Detection:
    """A :class:`Detection` of ``rule_id`` at ``strength`` (0..1) times the rule's full score."""
    rule = RULES[rule_id]
    return Detection(rule.category, rule.id, round(min(1.0, rule.score * strength), 3))
