"""bench/pipeline/run.py, tiny: both modes run, every stage counts every span, the JSON line holds
the numbers the notes quote. Uses the benchmark's own ports (23xxx-28xxx),
clear of the stack the end-to-end tests start."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.installed import REPO, binary

pytestmark = pytest.mark.stack


def test_tiny_pipeline_bench_measures_both_modes_without_loss():
    for name in ("otelcol-vigil", "jaeger", "telemetrygen"):
        binary(name)
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pipeline" / "run.py"), "--spans", "2000", "--rounds", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    assert summary["spans"] == 2000
    assert [run["mode"] for run in summary["runs"]] == ["direct", "sidecar"]
    assert summary["mismatches"] == {}
    direct, sidecar = summary["runs"]
    assert set(direct["counts"].values()) == {2000}
    assert sidecar["counts"]["sidecar_items"] == 2000
    assert set(sidecar["counts"].values()) == {2000}
    assert summary["ratios_sidecar_over_direct"]["throughput"] > 0
    assert "sidecar/direct" in result.stdout


def test_tiny_pipeline_bench_compares_one_and_two_sidecars_without_loss():
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pipeline" / "run.py"), "--spans", "2000", "--rounds", "1",
         "--sidecars", "2"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    assert [run["mode"] for run in summary["runs"]] == ["direct", "sidecar", "sidecar-x2"]
    assert summary["mismatches"] == {}
    scaled = summary["runs"][2]
    assert set(scaled["counts"].values()) == {2000}
    # Both sidecars worked (routing by trace id: 200 traces of 10 spans, split about evenly).
    assert len(scaled["sidecar_split"]) == 2 and min(scaled["sidecar_split"]) > 0
    assert summary["ratios_sidecars_over_one"]["throughput"] > 0
    assert "sidecar-x2/sidecar" in result.stdout
