"""VIGIL_THREAT_* variables reach the scorer that `vigil serve` builds from the entry point."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.ports import free_port
from vigil.processors.scoring import ScorerChain
from vigil.processors.threat.settings import threat_config_from_env


def test_defaults_keep_every_rule_and_the_behavioural_detectors():
    config = threat_config_from_env({})
    assert config.disabled_rules == frozenset()
    assert config.behaviour is not None and config.behaviour.bruteforce_levels == (3, 5, 10)


def test_variables_configure_rules_and_behaviour():
    config = threat_config_from_env(
        {
            "VIGIL_THREAT_DISABLED_RULES": "privileged.off-hours, sqli.tautology",
            "VIGIL_THREAT_BRUTEFORCE_LEVELS": "2,3,5",
            "VIGIL_THREAT_OFF_HOURS": "20-7",
            "VIGIL_THREAT_MAX_KEYS": "5000",
            "VIGIL_THREAT_LOGIN_ROUTE": r"/api/session$",
        }
    )
    assert config.disabled_rules == {"privileged.off-hours", "sqli.tautology"}
    assert config.behaviour.bruteforce_levels == (2, 3, 5)
    assert config.behaviour.off_hours == (20, 7)
    assert config.behaviour.max_keys == 5000
    assert config.behaviour.login_route == r"/api/session$"
    assert threat_config_from_env({"VIGIL_THREAT_BEHAVIOUR": "false"}).behaviour is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VIGIL_THREAT_DISABLED_RULES", "sqli.no-such-rule"),
        ("VIGIL_THREAT_BRUTEFORCE_LEVELS", "5,3,10"),
        ("VIGIL_THREAT_OFF_HOURS", "25-6"),
        ("VIGIL_THREAT_LOGIN_ROUTE", "(unclosed"),
        ("VIGIL_THREAT_BEHAVIOUR", "maybe"),
    ],
)
def test_bad_values_name_their_variable(variable, value):
    with pytest.raises(ValueError, match=variable):
        threat_config_from_env({variable: value})


def test_the_entry_point_reads_the_environment(monkeypatch):
    monkeypatch.setenv("VIGIL_THREAT_BEHAVIOUR", "false")
    (scorer,) = ScorerChain.from_names(["threat"]).scorers
    assert scorer.behaviour is None


def test_the_entry_point_reads_the_rule_file(monkeypatch, tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  scanner.user-agent: false\nbehaviour:\n  enabled: false\n")
    monkeypatch.setenv("VIGIL_THREAT_RULES_FILE", str(path))
    monkeypatch.setenv("VIGIL_THREAT_DISABLED_RULES", "jndi.*")
    (scorer,) = ScorerChain.from_names(["threat"]).scorers
    assert scorer.behaviour is None
    assert scorer.config.disabled_rules == {"scanner.user-agent", "jndi.lookup", "jndi.env-lookup"}


def test_a_bad_rule_file_stops_the_sidecar_with_its_line_and_key(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text("rules:\n  sqli.union: false\n  sqli.unoin: false\n")
    process = subprocess.run(
        [sys.executable, "-m", "vigil.processors.cli", "serve", "--endpoint", f"127.0.0.1:{free_port()}"],
        env={**os.environ, "VIGIL_SIDECAR_SCORERS": "threat", "VIGIL_THREAT_RULES_FILE": str(path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2
    assert f"VIGIL_THREAT_RULES_FILE: {path}:3: rules.sqli.unoin: unknown rule id" in process.stderr
    assert "did you mean 'sqli.union'?" in process.stderr
