"""bench/pipeline/sidecar.py, tiny: every chain runs on the same recorded spans, every span comes back,
and the JSON line holds the per-core figures the notes quote. Servers on free loopback ports."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.installed import REPO, binary


def test_tiny_sidecar_bench_measures_each_chain_without_loss():
    binary("telemetrygen")
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "pipeline" / "sidecar.py"), "--spans", "4000", "--batch", "200",
         "--rounds", "1", "--chains", "none/threat,anomaly", "--processes", "1,2"],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    assert summary["spans"] == 4000
    assert summary["lost"] == {"none": 0, "none x2": 0, "threat,anomaly": 0, "threat,anomaly x2": 0}
    none, scored = summary["median"]["none"], summary["median"]["threat,anomaly"]
    assert none["spans_measured"] == scored["spans_measured"] == 3600  # after the warm-up tenth
    assert scored["cpu_us_per_span"] > 0 and scored["spans_per_core_second"] > 0
    assert summary["median"]["threat,anomaly x2"]["spans_measured"] == 3600
    assert (
        "x none (CPU)" in result.stdout
        and "threat,anomaly x2 / threat,anomaly: spans/s (wall)" in result.stdout
    )
