"""otelcol-vigil, built from otelcol/manifest.yaml: its components and its configurations."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.installed import REPO, binary

# What the pipeline and the next issues need. At the pinned release the OTLP exporters are still
# called otlp and otlphttp (later releases rename them otlp_grpc and otlp_http).
EXPECTED = {
    "receivers": {"otlp", "hostmetrics", "docker_stats", "prometheus", "filelog"},
    "processors": {
        "batch",
        "memory_limiter",
        "resourcedetection",
        "attributes",
        "transform",
        "filter",
        "tail_sampling",
        "redaction",
    },
    "exporters": {
        "otlp",
        "otlphttp",
        "debug",
        "file",
        "prometheus",
        "prometheusremotewrite",
        "awsxray",
        "awsemf",
        "googlecloud",
        "azuremonitor",
        "kafka",
        "loadbalancing",
    },
    "connectors": {"forward", "failover", "spanmetrics", "routing"},
    "extensions": {"health_check", "file_storage", "pprof", "zpages", "bearertokenauth", "basicauth"},
}


@pytest.fixture(scope="module")
def components() -> dict:
    out = subprocess.run(
        [binary("otelcol-vigil"), "components"], capture_output=True, text=True, check=True, timeout=60
    )
    return yaml.safe_load(out.stdout)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_components_lists_everything_the_pipeline_needs(components, kind):
    names = {c["name"] for c in components[kind]}
    assert EXPECTED[kind] <= names, f"missing {kind}: {sorted(EXPECTED[kind] - names)}"


def test_binary_is_built_from_the_manifest_at_one_release(components):
    manifest = yaml.safe_load((REPO / "otelcol" / "manifest.yaml").read_text())
    assert components["buildinfo"]["command"] == manifest["dist"]["name"] == "otelcol-vigil"
    pinned = {entry["gomod"] for kind in EXPECTED for entry in manifest[kind]}
    versions = {gomod.split()[1] for gomod in pinned}
    assert len(versions) == 1, f"components pinned to several releases: {versions}"
    built = {c["module"] for kind in EXPECTED for c in components[kind]}
    assert pinned == built


CONFIGS = sorted((REPO / "collector-config").glob("**/*.yaml"))


def test_there_are_configs_to_validate():
    assert REPO / "collector-config" / "vigil.yaml" in CONFIGS


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_collector_config_validates(config):
    result = subprocess.run(
        [binary("otelcol-vigil"), "validate", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_validate_rejects_a_broken_config(tmp_path):
    # The check above means something only if validate does fail on a wrong pipeline.
    broken = (REPO / "collector-config" / "vigil.yaml").read_text()
    broken = re.sub(r"exporters: \[otlp/jaeger\]", "exporters: [otlp/nowhere]", broken)
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = subprocess.run(
        [binary("otelcol-vigil"), "validate", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "otlp/nowhere" in result.stderr
