"""Prometheus rules: valid, and each alert unit-tested with promtool (vigil.rules.test.yml)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.installed import REPO, binary


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=120)


def test_rules_are_valid():
    result = promtool("check", "rules", *map(str, sorted((REPO / "backends" / "rules").glob("*.yml"))))
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_config_is_valid():
    result = promtool("check", "config", str(REPO / "backends" / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_alert_rules_fire_on_their_data_and_not_on_look_alikes():
    result = promtool("test", "rules", str(Path(__file__).with_name("vigil.rules.test.yml")))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
