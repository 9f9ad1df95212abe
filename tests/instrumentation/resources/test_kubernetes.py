"""Kubernetes attributes from downward-API environment variables and files."""

from __future__ import annotations

import socket

from tests.instrumentation.fixture_trees import FIXTURES, POD_UID
from vigil.instrumentation.resources.kubernetes import (
    KubernetesResourceDetector,
    owners_from_labels,
    parse_labels,
)

K8S = FIXTURES / "k8s"
IN_POD = {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}


def detect(root=K8S, **environ: str) -> dict:
    return dict(KubernetesResourceDetector(root=root, environ=environ).detect().attributes)


def test_files_of_the_downward_api_volume():
    attributes = detect(**IN_POD)
    assert attributes["k8s.pod.name"] == "checkout-7d9f8b6c5-x2k4p"
    assert attributes["k8s.namespace.name"] == "shop"  # the volume's file wins over the service account
    assert attributes["k8s.pod.uid"] == POD_UID
    assert attributes["k8s.node.name"] == "node-a-1"
    assert attributes["k8s.pod.label.app"] == "checkout"
    assert attributes["k8s.pod.label.app.kubernetes.io/part-of"] == "shop"
    assert attributes["k8s.pod.label.note"] == 'say "hi"'
    assert attributes["k8s.replicaset.name"] == "checkout-7d9f8b6c5"
    assert attributes["k8s.deployment.name"] == "checkout"


def test_environment_wins_over_files():
    attributes = detect(K8S_POD_NAME="from-env", POD_NAMESPACE="ns-env", K8S_CLUSTER_NAME="prod-eu", **IN_POD)
    assert attributes["k8s.pod.name"] == "from-env"
    assert attributes["k8s.namespace.name"] == "ns-env"
    assert attributes["k8s.cluster.name"] == "prod-eu"


def test_in_a_pod_without_podinfo(tmp_path):
    sa = tmp_path / "var/run/secrets/kubernetes.io/serviceaccount"
    sa.mkdir(parents=True)
    (sa / "namespace").write_text("billing")
    attributes = detect(tmp_path, NODE_NAME="node-7", POD_IP="10.1.2.3", CONTAINER_NAME="api", **IN_POD)
    assert attributes == {
        "k8s.pod.name": socket.gethostname(),  # a pod's host name is its name
        "k8s.namespace.name": "billing",
        "k8s.node.name": "node-7",
        "k8s.pod.ip": "10.1.2.3",
        "k8s.container.name": "api",
    }


def test_outside_kubernetes_nothing(tmp_path):
    # NODE_NAME is what Jenkins sets; CONTAINER_NAME appears in compose files: not evidence of a pod.
    assert detect(tmp_path, NODE_NAME="built-in", CONTAINER_NAME="web", POD_NAME="x") == {}


def test_outside_kubernetes_explicit_k8s_variables_still_count(tmp_path):
    assert detect(tmp_path, K8S_POD_NAME="p", K8S_NAMESPACE_NAME="n") == {
        "k8s.pod.name": "p",
        "k8s.namespace.name": "n",
    }


def test_podinfo_dir_is_configurable(tmp_path, monkeypatch):
    (tmp_path / "downward").mkdir()
    (tmp_path / "downward" / "name").write_text("web-0\n")
    (tmp_path / "downward" / "labels").write_text('statefulset.kubernetes.io/pod-name="web-0"\n')
    monkeypatch.setenv("VIGIL_K8S_PODINFO_DIR", "/downward")
    attributes = detect(tmp_path)
    assert attributes["k8s.pod.name"] == "web-0"
    assert attributes["k8s.statefulset.name"] == "web"


def test_labels_and_owners():
    assert parse_labels('a="1"\nbad line\nb="x\\ty"\n') == {"a": "1", "b": "x\ty"}
    assert owners_from_labels("pi-x7q2z", {"batch.kubernetes.io/job-name": "pi"}) == {"k8s.job.name": "pi"}
    # A pod-template-hash that the name does not contain says nothing about the name.
    assert owners_from_labels("standalone", {"pod-template-hash": "abc"}) == {}
