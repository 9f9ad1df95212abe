"""The threat rule file: strict checking with the line and key of every mistake, the shipped
example at the defaults, the precedence of the variables, and reloading while scoring."""

from __future__ import annotations

import logging
import os
import textwrap

import pytest

from vigil.processors.threat.behaviour import BehaviourConfig
from vigil.processors.threat.rulefile import (
    EXAMPLE,
    RuleFileError,
    RuleFileWatcher,
    load_rule_file,
    parse_rule_file,
)
from vigil.processors.threat.rules import RULES
from vigil.processors.threat.scorer import ThreatConfig
from vigil.processors.threat.settings import threat_config_from_env


def parse(text: str):
    return parse_rule_file(textwrap.dedent(text), "rules.yaml")


def test_the_shipped_example_is_every_default():
    rule_file = load_rule_file(EXAMPLE)
    assert threat_config_from_env({}, rule_file) == ThreatConfig()
    assert rule_file.disabled == frozenset()
    assert dict(rule_file.behaviour).keys() == {f for f in BehaviourConfig.__dataclass_fields__}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_rule_id_is_accepted(rule):
    assert parse(f"rules:\n  {rule}: false\n").disabled == {rule}


def test_a_full_file_is_read():
    rule_file = parse(
        """
        version: 1
        rules:
          ssrf.*: false
          ssrf.cloud-metadata: true     # later keys win
          privileged.off-hours: false
        behaviour:
          bruteforce_levels: [2, 4, 8]
          bruteforce_window_s: 120
          login_methods: [POST, PUT]
          off_hours: [20, 7]
          utc_offset_minutes: -300
        allow:
          - note: code search
            routes: [/api/code-search]
            parameters: [q]
            rules: [sqli.*]
          - clients: [10.20.0.0/16, "2001:db8::/32"]
        """
    )
    assert rule_file.disabled == {r for r in RULES if r.startswith("ssrf.")} - {"ssrf.cloud-metadata"} | {
        "privileged.off-hours"
    }
    config = threat_config_from_env({}, rule_file)
    assert config.behaviour.bruteforce_levels == (2, 4, 8)
    assert config.behaviour.bruteforce_window_s == 120.0
    assert config.behaviour.login_methods == {"POST", "PUT"}
    assert config.behaviour.off_hours == (20, 7) and config.behaviour.utc_offset_minutes == -300
    code_search, clients = config.allow
    assert code_search.parameters == ("q",) and "sqli.union" in code_search.rules
    assert clients.clients == ("10.20.0.0/16", "2001:db8::/32") and clients.everything


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("rules:\n  sqli.no-such-rule: false\n", "rules.yaml:2: rules.sqli.no-such-rule: unknown rule id"),
        ("rules:\n  sqli.tautolgy: false\n", "did you mean 'sqli.tautology'"),
        ("rules:\n  nope.*: false\n", "rules.yaml:2: rules.nope.*: 'nope.*' matches no rule"),
        ("rules:\n  sqli.union: maybe\n", "rules.yaml:2: rules.sqli.union: expected true or false"),
        ("rules:\n  sqli.union: 0\n", "expected true or false, not int 0"),
        ("rulez:\n  sqli.union: false\n", "rules.yaml:1: rulez: unknown key (did you mean 'rules'?"),
        (
            "behaviour:\n  bruteforce_level: [1, 2, 3]\n",
            "rules.yaml:2: behaviour.bruteforce_level: unknown key",
        ),
        (
            "behaviour:\n  bruteforce_levels: [5, 3, 10]\n",
            "rules.yaml:2: behaviour.bruteforce_levels: expected three",
        ),
        ("behaviour:\n  off_hours: [22, 25]\n", "behaviour.off_hours: expected START-END hours"),
        ("behaviour:\n  login_route: '(unclosed'\n", "behaviour.login_route: not a regular expression"),
        ("behaviour:\n  rate_factor: -1\n", "behaviour.rate_factor: expected a number above 0"),
        ("behaviour:\n  rate_smoothing: 2\n", "at most 1"),
        ("behaviour:\n  max_keys: many\n", "behaviour.max_keys: expected a whole number, not str 'many'"),
        ("behaviour:\n  enumeration_statuses: [404, 42]\n", "expected HTTP status codes"),
        ("behaviour:\n  enabled: yes please\n", "behaviour.enabled: expected true or false"),
        ("allow:\n  - routes: [/a]\n    params: [q]\n", "rules.yaml:3: allow[0].params: unknown key"),
        ("allow:\n  - clients: [10.0.0.0/33]\n", "rules.yaml:2: allow[0]: '10.0.0.0/33' is no address"),
        (
            "allow:\n  - note: nothing selected\n",
            "allow[0]: an allow entry needs routes, clients or parameters",
        ),
        ("allow:\n  - routes: /admin\n", "allow[0].routes: expected a list"),
        ("allow:\n  - parameters: [q]\n    rules: [sqli.nope]\n", "allow[0].rules: unknown rule id"),
        (
            "rules:\n  sqli.union: false\n  sqli.union: true\n",
            "rules.yaml:3: rules.sqli.union: duplicate key",
        ),
        ("version: 2\n", "rules.yaml:1: version: only version 1 is known"),
        ("rules: [sqli.union]\n", "rules.yaml:1: rules: expected a mapping"),
        ("rules:\n  sqli.union: [false\n", "rules.yaml:3: not valid YAML"),
        ("- just\n- a list\n", "rules.yaml:1: expected a mapping"),
    ],
)
def test_mistakes_name_the_line_and_key(text, where):
    with pytest.raises(RuleFileError) as error:
        parse_rule_file(text, "rules.yaml")
    assert where in str(error.value)


def test_an_empty_file_is_every_default():
    assert threat_config_from_env({}, parse("# nothing yet\n")) == ThreatConfig()


def test_variables_win_over_the_file(caplog):
    rule_file = parse(
        """
        rules:
          privileged.off-hours: true
        behaviour:
          enabled: false
          bruteforce_levels: [2, 4, 8]
          off_hours: [20, 7]
        """
    )
    environ = {
        "VIGIL_THREAT_DISABLED_RULES": "privileged.off-hours",
        "VIGIL_THREAT_BEHAVIOUR": "true",
        "VIGIL_THREAT_OFF_HOURS": "23-5",
    }
    with caplog.at_level(logging.WARNING):
        config = threat_config_from_env(environ, rule_file)
    assert config.disabled_rules == {"privileged.off-hours"}
    assert config.behaviour.off_hours == (23, 5)  # the variable
    assert config.behaviour.bruteforce_levels == (2, 4, 8)  # the file, where no variable says otherwise
    (message,) = [r.getMessage() for r in caplog.records if r.name.endswith("threat.settings")]
    assert "VIGIL_THREAT_OFF_HOURS over behaviour.off_hours" in message
    assert "VIGIL_THREAT_DISABLED_RULES over rules ['privileged.off-hours']" in message
    assert "VIGIL_THREAT_BEHAVIOUR over behaviour.enabled" in message


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def write(path, text: str) -> None:
    # A new version renamed over the old one, as the documentation asks.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(textwrap.dedent(text))
    os.replace(tmp, path)


def test_the_watcher_reloads_changes_at_most_once_an_interval(tmp_path, caplog):
    path = tmp_path / "rules.yaml"
    write(path, "rules:\n  sqli.union: false\n")
    clock = Clock()
    watcher = RuleFileWatcher(path, lambda f: f.disabled, interval=1.0, clock=clock)
    assert watcher.current == {"sqli.union"}
    assert watcher.poll() is None  # unchanged
    write(path, "rules:\n  sqli.stacked: false\n")
    clock.now = 0.5
    assert watcher.poll() is None  # not yet time to look
    clock.now = 1.0
    assert watcher.poll() == {"sqli.stacked"} == watcher.current
    clock.now = 2.0
    assert watcher.poll() is None
    # a bad version is refused, logged with its line and key, and the rules in force stay
    write(path, "rules:\n  sqli.stacked: false\n  sqli.nope: false\n")
    clock.now = 3.0
    with caplog.at_level(logging.ERROR):
        assert watcher.poll() is None
    assert watcher.current == {"sqli.stacked"}
    assert "rules.yaml:3: rules.sqli.nope: unknown rule id" in caplog.text
    assert "the rules in force stay" in caplog.text
    clock.now = 4.0
    caplog.clear()
    assert watcher.poll() is None and not caplog.text  # refused once, not every second
    # a file that disappears keeps the rules in force
    path.unlink()
    clock.now = 5.0
    assert watcher.poll() is None and watcher.current == {"sqli.stacked"}
    write(path, "rules:\n  jndi.lookup: false\n")
    clock.now = 6.0
    assert watcher.poll() == {"jndi.lookup"}


def test_a_bad_or_missing_file_at_start_is_an_error(tmp_path):
    with pytest.raises(RuleFileError, match="cannot read the threat rule file"):
        RuleFileWatcher(tmp_path / "missing.yaml", lambda f: f)
    (tmp_path / "bad.yaml").write_text("behaviour:\n  max_keys: 0\n")
    with pytest.raises(RuleFileError, match=r"bad\.yaml:2: behaviour\.max_keys: expected a whole number"):
        RuleFileWatcher(tmp_path / "bad.yaml", lambda f: f)
