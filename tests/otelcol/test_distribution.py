"""otelcol-vigil, built from otelcol/manifest.yaml: its components and its configurations."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.installed import REPO, binary
from vigil.processors.stack.components import COLLECTOR_FLAGS

# What the pipeline and the next issues need. At the pinned release the OTLP exporters are still
# called otlp and otlphttp (later releases rename them otlp_grpc and otlp_http).
EXPECTED = {
    "receivers": {"otlp", "hostmetrics", "docker_stats", "prometheus", "filelog", "kafka"},
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


CONFIGS = sorted((REPO / "collector-config").glob("*.yaml"))
OVERLAYS = sorted((REPO / "collector-config" / "overlays").glob("*.yaml"))


def test_there_are_configs_to_validate():
    assert REPO / "collector-config" / "vigil.yaml" in CONFIGS
    assert REPO / "collector-config" / "overlays" / "tls.yaml" in OVERLAYS
    assert REPO / "collector-config" / "overlays" / "bearer-auth.yaml" in OVERLAYS


def validate(*configs: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    args = [binary("otelcol-vigil"), "validate", *COLLECTOR_FLAGS]
    for config in configs:
        args += ["--config", str(config)]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("certs")
    subprocess.run([str(REPO / "scripts" / "make-certs.sh"), str(directory)], check=True, capture_output=True)
    return directory


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: str(p.relative_to(REPO)))
def test_collector_config_validates(config):
    result = validate(config)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: str(p.relative_to(REPO)))
def test_overlay_validates_merged_over_the_pipeline(overlay, certs):
    env = {"VIGIL_TLS_DIR": str(certs), "VIGIL_OTLP_BEARER_TOKEN_FILE": str(certs / "ca.pem")}
    result = validate(REPO / "collector-config" / "vigil.yaml", overlay, env=env)
    assert result.returncode == 0, result.stderr[-2000:]


def test_validate_rejects_a_broken_config(tmp_path):
    # The check above means something only if validate does fail on a wrong pipeline.
    broken, replaced = re.subn(
        r"exporters: \[otlp/sidecar\]",
        "exporters: [otlp/nowhere]",
        (REPO / "collector-config" / "vigil.yaml").read_text(),
    )
    assert replaced, "the mutation no longer matches vigil.yaml: update it"
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    result = validate(path)
    assert result.returncode != 0
    assert "otlp/nowhere" in result.stderr
