"""docker-compose.yml: valid for Compose, and the same topology and files as the local stack.

No image can be pulled here, so the check is Compose's own `config` (it parses, interpolates and
validates the file) plus a comparison with what `vigil up` runs."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml

from tests.installed import REPO
from vigil.processors.stack.components import default_components


@pytest.fixture(scope="module")
def compose() -> dict:
    tool = shutil.which("docker-compose")
    if tool is None:
        pytest.fail("docker-compose is not installed (the README's first command installs it)")
    out = subprocess.run(
        [tool, "-f", str(REPO / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


def test_compose_has_the_stack_topology(compose):
    assert {"collector", "sidecar", "jaeger", "prometheus", "alertmanager", "grafana"} <= set(
        compose["services"]
    )


def _mounted(service: dict, container_path: str) -> str:
    """The host path mounted at the container directory that holds ``container_path``."""
    for volume in service.get("volumes", []):
        target = volume["target"] if isinstance(volume, dict) else volume.split(":")[1]
        source = volume["source"] if isinstance(volume, dict) else volume.split(":")[0]
        if container_path == target or container_path.startswith(target.rstrip("/") + "/"):
            return source + container_path[len(target) :]
    raise AssertionError(f"nothing mounted at {container_path}")


def test_collector_runs_the_same_config_file_as_the_local_stack(compose, tmp_path):
    service = compose["services"]["collector"]
    config_in_container = service["command"][service["command"].index("--config") + 1]
    host_file = _mounted(service, config_in_container)
    local = next(c for c in default_components(tmp_path, home=REPO) if c.name == "collector")
    assert (
        host_file
        == local.argv[local.argv.index("--config") + 1]
        == str(REPO / "collector-config" / "vigil.yaml")
    )


def test_backends_use_the_same_files_as_the_local_stack(compose, tmp_path):
    local = {c.name: " ".join(c.argv) for c in default_components(tmp_path, home=REPO)}
    jaeger = compose["services"]["jaeger"]
    jaeger_file = _mounted(jaeger, jaeger["command"][1].removeprefix("file:"))
    assert jaeger_file in local["jaeger"]
    prometheus = compose["services"]["prometheus"]
    flag = next(a for a in prometheus["command"] if a.startswith("--config.file="))
    assert _mounted(prometheus, flag.split("=", 1)[1]) in local["prometheus"]
    alertmanager = compose["services"]["alertmanager"]
    flag = next(a for a in alertmanager["command"] if a.startswith("--config.file="))
    assert _mounted(alertmanager, flag.split("=", 1)[1]) in local["alertmanager"]


def test_every_service_shares_the_host_loopback(compose):
    # The config files name loopback addresses: they mean the same thing only on the host network.
    assert {s.get("network_mode") for s in compose["services"].values()} == {"host"}


def test_grafana_gets_the_data_sources_and_the_dashboards(compose):
    grafana = compose["services"]["grafana"]
    assert _mounted(grafana, "/etc/grafana/provisioning/datasources/vigil.yaml") == str(
        REPO / "backends" / "grafana" / "provisioning" / "datasources" / "vigil.yaml"
    )
    provider = yaml.safe_load(
        (REPO / "backends" / "grafana" / "provisioning" / "dashboards" / "vigil.yaml").read_text()
    )
    path = provider["providers"][0]["options"]["path"]
    assert _mounted(grafana, path) == str(REPO / "backends" / "grafana" / "dashboards")
    assert _mounted(grafana, f"{path}/security-overview.json") == str(
        REPO / "backends" / "grafana" / "dashboards" / "security-overview.json"
    )
