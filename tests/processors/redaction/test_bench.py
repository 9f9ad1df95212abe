"""bench/redaction/run.py, tiny: it runs, masks every secret it planted, changes nothing else, and
prints every number as JSON."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.processors.threat.corpora import ROOT


def test_tiny_redaction_bench():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "redaction" / "run.py"), "--batches", "2", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["spans"]["items"] == summary["logs"]["items"] == 1024
    assert set(summary["spans"]["us_per_item"]) == {"walk", "redaction", "threat"}
    for checked in summary["checks"].values():
        assert checked["secrets_masked"] > 0 and checked["secrets_missed"] == checked["benign_changed"] == 0
    assert "spans   redaction/walk" in result.stdout
