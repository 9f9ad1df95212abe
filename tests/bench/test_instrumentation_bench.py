"""bench/instrumentation/run.py, tiny: the three variants serve real load, the instrumented two export
to the real collector and the uninstrumented one nothing, and the JSON line holds the figures and
ratios the notes quote. The first run creates the stock distro's environment (about a minute; cached
in ~/.cache/vigil/bench-venvs afterwards)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.installed import REPO, binary

pytestmark = pytest.mark.stack

VARIANTS = ["none", "stock", "vigil"]


def test_tiny_instrumentation_bench_measures_every_variant():
    binary("otelcol-vigil")
    argv = ["--rounds", "1", "--duration", "1", "--warmup", "0.5", "--connections", "2", "--startups", "0",
            "--idle", "3"]  # fmt: skip
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "instrumentation" / "run.py"), *argv],
        capture_output=True,
        text=True,
        timeout=480,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])

    assert summary["benchmark"] == "instrumentation"
    assert list(summary["median"]) == VARIANTS
    for name in VARIANTS:
        figures = summary["median"][name]
        assert figures["requests_per_second"] > 0
        assert 0 < figures["p50_ms"] <= figures["p99_ms"]
        assert figures["startup_ms"] > 0
        assert figures["idle_percent_of_core"] >= 0
        (run,) = summary["runs"][name]
        # Exporting was real: the collector accepted what the instrumented servers sent, and
        # nothing from the uninstrumented one.
        if name == "none":
            assert run["exported_spans"] == run["exported_log_records"] == 0
        else:
            assert run["exported_spans"] > 0 and run["exported_log_records"] > 0
    assert set(summary["ratios"]) >= {
        "throughput_vigil_over_stock",
        "p50_vigil_over_stock",
        "p99_vigil_over_stock",
    }
    assert set(summary["differences"]) >= {"startup_vigil_minus_stock_ms", "collectors_percent_of_core"}
    assert {name: type(target["met"]) for name, target in summary["targets"].items()} == {
        "throughput_vigil_over_stock": bool,
        "startup_vigil_minus_stock_ms": bool,
        "collectors_percent_of_core": bool,
    }
    assert "vigil/stock" in result.stdout
