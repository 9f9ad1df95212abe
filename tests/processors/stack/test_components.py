"""The default stack as `vigil status` reports it: every part of the pipeline and its backends, each
with the endpoint its health is judged by. Nothing is started: an empty run directory."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.installed import REPO
from vigil.processors.stack.components import default_components


def test_status_covers_every_part_in_start_order(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "vigil.processors.cli", "status", "--json", "--run-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 3, result.stderr  # not all healthy: nothing runs
    components = json.loads(result.stdout)["components"]
    assert list(components) == [
        "jaeger",
        "alertmanager",
        "prometheus",
        "sidecar",
        "collector",
        "demo",
        "traffic",
    ]
    assert {c["state"] for c in components.values()} == {"stopped"}
    for name in ("jaeger", "alertmanager", "prometheus", "sidecar", "collector"):
        assert components[name]["endpoints"]["health"].startswith("http://127.0.0.1:"), name
    assert components["alertmanager"]["endpoints"] == {
        "http": "http://127.0.0.1:9093",
        "health": "http://127.0.0.1:9093/-/ready",
    }


def test_alertmanager_runs_the_shipped_routing_with_its_data_in_the_run_directory(tmp_path):
    [alertmanager] = [c for c in default_components(tmp_path, home=REPO) if c.name == "alertmanager"]
    assert f"--config.file={REPO / 'backends' / 'alertmanager.yml'}" in alertmanager.argv
    assert f"--storage.path={tmp_path / 'alertmanager'}" in alertmanager.argv
