"""bench/threats/run.py, tiny: it runs, measures both variants and prints every number as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.processors.threat.corpora import ROOT


def test_tiny_threat_bench():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "threats" / "run.py"), "--batches", "2", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    cost = summary["cost"]
    assert cost["spans"] == 1024 and cost["attack_spans"] > 0
    assert set(cost["us_per_span"]) == {"vigil", "baseline"}
    assert cost["detection"]["vigil"]["benign_spans_flagged"] == 0
    assert summary["accuracy"]["libinjection sqli-*"]["vigil"] >= 0.98
    assert summary["accuracy"]["all benign"]["vigil"] <= 0.001
    assert f"vigil/{summary['baseline']}" in result.stdout
