"""deploy/kubernetes: every manifest valid against Kubernetes' own JSON schemas (bundled by the
kubernetes-validate package: no cluster, no network), the collector configuration the ConfigMap
carries the same as the local stack's and valid for otelcol-vigil, and the pieces wired to each
other (the k8s resolver's Service and port, RBAC, probes)."""

from __future__ import annotations

import copy
import os
import re
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.installed import REPO, binary
from vigil.processors.stack.components import COLLECTOR_FLAGS

DEPLOY = REPO / "deploy" / "kubernetes"
KUSTOMIZATION = DEPLOY / "kustomization.yaml"
# Collector configuration merged into the ConfigMap, not a Kubernetes object.
NOT_MANIFESTS = {KUSTOMIZATION, DEPLOY / "collector-kubernetes.yaml"}
# The oldest and the newest Kubernetes release whose schemas the package bundles from 1.30 on.
VERSIONS = sorted({"1.30.0", kubernetes_validate.utils.latest_version()})


def manifest_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*.yaml") if p not in NOT_MANIFESTS)


def documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def all_objects() -> list[dict]:
    return [doc for path in manifest_files() for doc in documents(path)]


def find(kind: str, name: str) -> dict:
    found = [d for d in all_objects() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def env_of(deployment: dict) -> dict[str, str]:
    """The container's literal env values, $(VAR) references to earlier ones resolved (the
    namespace from the downward API taken as the manifests' own)."""
    values: dict[str, str] = {}
    for var in container(deployment).get("env", []):
        if "valueFrom" in var:
            assert var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"
            values[var["name"]] = deployment["metadata"]["namespace"]
        else:
            values[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], var["value"])
    return values


def test_kustomization_names_every_base_manifest():
    resources = yaml.safe_load(KUSTOMIZATION.read_text())["resources"]
    base = {p.name for p in DEPLOY.glob("*.yaml")} - {p.name for p in NOT_MANIFESTS}
    assert sorted(resources) == sorted(base)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("path", manifest_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_manifest_matches_the_kubernetes_schema(path, version):
    docs = documents(path)
    assert docs
    for doc in docs:
        # strict: an unknown field (a typo) is an error, as kubectl's server-side validation makes it.
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_schema_check_rejects_a_broken_manifest():
    # The check above means something only if it fails on a mistake.
    deployment = copy.deepcopy(find("Deployment", "vigil-sidecar"))
    container(deployment)["readinessProbe"]["httpGet"]["prot"] = 13134
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)
    deployment = copy.deepcopy(find("Deployment", "vigil-sidecar"))
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, VERSIONS[-1], strict=True)


# --- the collector's configuration ---------------------------------------------------------------

SOURCES = {
    "vigil.yaml": REPO / "collector-config" / "vigil.yaml",
    "scale-out.yaml": REPO / "collector-config" / "overlays" / "scale-out.yaml",
    "kubernetes.yaml": DEPLOY / "collector-kubernetes.yaml",
}


@pytest.fixture(scope="module")
def config_map() -> dict[str, str]:
    return find("ConfigMap", "vigil-collector-config")["data"]


def test_the_config_map_carries_the_local_stacks_files(config_map):
    assert list(config_map) == list(SOURCES)
    for key, path in SOURCES.items():
        source = path.relative_to(REPO)
        assert config_map[key] == path.read_text(), (
            f"{key} differs from {source}: run .venv/bin/python deploy/kubernetes/configmap.py"
        )


def test_the_collector_runs_the_config_map_in_order_with_the_feature_gate():
    deployment = find("Deployment", "vigil-collector")
    mount = next(m for m in container(deployment)["volumeMounts"] if m["name"] == "config")
    volume = next(v for v in deployment["spec"]["template"]["spec"]["volumes"] if v["name"] == "config")
    assert volume["configMap"]["name"] == "vigil-collector-config"
    args = container(deployment)["args"]
    configs = [a.removeprefix("--config=") for a in args if a.startswith("--config=")]
    assert configs == [f"{mount['mountPath']}/{key}" for key in SOURCES]
    assert set(COLLECTOR_FLAGS) <= set(args)


def collector_env(tmp_path: Path) -> dict[str, str]:
    """The collector Deployment's environment, with its disk paths moved into ``tmp_path``."""
    env = env_of(find("Deployment", "vigil-collector"))
    env["VIGIL_COLLECTOR_STORAGE_DIR"] = str(tmp_path / "queues")
    env["VIGIL_LOG_EXPORT_PATH"] = str(tmp_path / "logs.jsonl")
    return env


def validate(configs: list[Path], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [binary("otelcol-vigil"), "validate", *COLLECTOR_FLAGS, *(f"--config={c}" for c in configs)]
    # Only the Deployment's variables (and PATH): the test runner's VIGIL_* must not leak in.
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "OTEL_", "KUBERNETES_"))}
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=clean | env)


@pytest.fixture
def written(config_map, tmp_path) -> list[Path]:
    paths = []
    for key, text in config_map.items():
        (tmp_path / key).write_text(text)
        paths.append(tmp_path / key)
    return paths


def test_the_collector_config_validates_but_for_the_cluster_connection(written, tmp_path):
    # validate builds every exporter, and the k8s resolver needs in-cluster credentials to be
    # built (contrib #42293): outside a cluster that, and only that, fails.
    result = validate(written, collector_env(tmp_path))
    assert result.returncode != 0
    assert "no configuration has been provided, try setting KUBERNETES_MASTER" in result.stderr, result.stderr


def test_the_collector_config_validates_with_a_stand_in_resolver(written, tmp_path):
    # The same configuration with the sidecars listed instead of resolved: everything else checked.
    stand_in = tmp_path / "stand-in-resolver.yaml"
    resolver = {"resolver": {"k8s": None, "static": {"hostnames": ["vigil-sidecar-0:4327"]}}}
    exporters = yaml.safe_load(SOURCES["kubernetes.yaml"].read_text())["exporters"]
    stand_in.write_text(yaml.safe_dump({"exporters": dict.fromkeys(exporters, resolver)}))
    result = validate([*written, stand_in], collector_env(tmp_path))
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_scoring_tier_behind_kafka_validates(written, tmp_path):
    # The gateway's configuration plus the kafka source overlay: what the ingest tier writes, the
    # scoring tier reads (same topics, trace-keyed partitions).
    stand_in = tmp_path / "stand-in-resolver.yaml"
    resolver = {"resolver": {"k8s": None, "static": {"hostnames": ["vigil-sidecar-0:4327"]}}}
    exporters = yaml.safe_load(SOURCES["kubernetes.yaml"].read_text())["exporters"]
    stand_in.write_text(yaml.safe_dump({"exporters": dict.fromkeys(exporters, resolver)}))
    source = REPO / "collector-config" / "overlays" / "kafka-source.yaml"
    env = collector_env(tmp_path) | {"VIGIL_KAFKA_BROKERS": "kafka-0.kafka:9092"}
    result = validate([*written, stand_in, source], env)
    assert result.returncode == 0, result.stderr[-2000:]
    ingest = yaml.safe_load(find("ConfigMap", "vigil-ingest-config")["data"]["ingest.yaml"])["exporters"][
        "kafka"
    ]
    consumed = yaml.safe_load(source.read_text())["receivers"]["kafka"]
    for signal in ("traces", "metrics", "logs"):
        assert consumed[signal] == ingest[signal]


def test_the_k8s_resolver_finds_the_sidecars_headless_service():
    service = find("Service", "vigil-sidecar")
    sidecars = find("Deployment", "vigil-sidecar")
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"].items() <= sidecars["spec"]["template"]["metadata"]["labels"].items()
    resolved = env_of(find("Deployment", "vigil-collector"))["VIGIL_SIDECAR_SERVICE"]
    assert resolved == f"{service['metadata']['name']}.{service['metadata']['namespace']}"

    exporters = yaml.safe_load(SOURCES["kubernetes.yaml"].read_text())["exporters"]
    scale_out = yaml.safe_load(SOURCES["scale-out.yaml"].read_text())["exporters"]
    assert set(exporters) == set(scale_out), "every loadbalancing exporter of the overlay resolves by k8s"
    listen = next(a for a in container(sidecars)["args"] if a.startswith("--endpoint="))
    port = int(listen.rsplit(":", 1)[1])
    assert [p["port"] for p in service["spec"]["ports"]] == [port]
    for name, exporter in exporters.items():
        assert exporter["resolver"]["static"] is None, name
        assert exporter["resolver"]["k8s"] == {"service": "${env:VIGIL_SIDECAR_SERVICE}", "ports": [port]}


def test_logs_reach_one_sidecar_through_a_cluster_ip_service():
    # Logs keep vigil.yaml's otlp/sidecar (VIGIL_SIDECAR_ENDPOINT), as in the scale-out overlay.
    scale_out = yaml.safe_load(SOURCES["scale-out.yaml"].read_text())["service"]["pipelines"]
    assert "logs/score" not in scale_out
    service = find("Service", "vigil-sidecar-logs")
    sidecars = find("Deployment", "vigil-sidecar")
    assert "clusterIP" not in service["spec"]  # a cluster IP: one connection, one ready pod
    assert service["spec"]["selector"].items() <= sidecars["spec"]["template"]["metadata"]["labels"].items()
    endpoint = env_of(find("Deployment", "vigil-collector"))["VIGIL_SIDECAR_ENDPOINT"]
    port = service["spec"]["ports"][0]["port"]
    assert endpoint == f"vigil-sidecar-logs.vigil.svc.cluster.local:{port}"


def test_the_collector_may_watch_endpoints_and_nothing_more():
    account = find("ServiceAccount", "vigil-collector")
    collector = find("Deployment", "vigil-collector")
    assert collector["spec"]["template"]["spec"]["serviceAccountName"] == account["metadata"]["name"]
    binding = find("RoleBinding", "vigil-collector-endpoints-reader")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": "vigil"}
    ]
    role = find("Role", binding["roleRef"]["name"])
    granted = {(group, resource): set(rule["verbs"]) for rule in role["rules"]
               for group in rule["apiGroups"] for resource in rule["resources"]}  # fmt: skip
    assert granted[("", "endpoints")] == {"get", "list", "watch"}
    assert all(verbs <= {"get", "list", "watch"} for verbs in granted.values())


def test_sidecar_probes_and_return_path_match_the_collector():
    sidecars = find("Deployment", "vigil-sidecar")
    args = dict(a.split("=", 1) for a in container(sidecars)["args"] if a.startswith("--"))
    health_port = int(args["--health-endpoint"].rsplit(":", 1)[1])
    ports = {p["name"]: p["containerPort"] for p in container(sidecars)["ports"]}
    assert ports["health"] == health_port
    assert container(sidecars)["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container(sidecars)["livenessProbe"]["httpGet"]["path"] == "/health/live"
    collector = find("Service", "vigil-collector")
    return_port = next(p["port"] for p in collector["spec"]["ports"] if p["name"] == "return")
    host = re.sub(r"\$\(POD_NAMESPACE\)", "vigil", args["--return-endpoint"])
    assert host == f"vigil-collector.vigil.svc.cluster.local:{return_port}"
    assert return_port == int(env_of(find("Deployment", "vigil-collector"))["VIGIL_COLLECTOR_RETURN_ENDPOINT"]
                              .rsplit(":", 1)[1])  # fmt: skip


def test_the_kafka_ingest_tier_config_validates(tmp_path):
    ingest = find("Deployment", "vigil-ingest")
    text = find("ConfigMap", "vigil-ingest-config")["data"]["ingest.yaml"]
    config = tmp_path / "ingest.yaml"
    config.write_text(text.replace("/var/lib/vigil/queue", str(tmp_path / "queue")))
    result = validate([config], env_of(ingest))
    assert result.returncode == 0, result.stderr[-2000:]
