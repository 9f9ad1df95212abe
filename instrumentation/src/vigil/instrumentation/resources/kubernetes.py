"""The Kubernetes pod the application runs in, from the downward API: ``vigil_k8s``.

Nothing here calls the Kubernetes API: the pod has to tell the application about itself, through
environment variables (``fieldRef``) or a downward-API volume. A pod spec excerpt that provides all
of it::

    env:
      - {name: K8S_POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
      - {name: K8S_NAMESPACE_NAME, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
      - {name: K8S_POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
      - {name: K8S_NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
      - {name: K8S_POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
      - {name: K8S_CONTAINER_NAME, value: app}
    volumes:
      - name: podinfo
        downwardAPI:
          items:
            - {path: labels, fieldRef: {fieldPath: metadata.labels}}
    # and in the container: volumeMounts: [{name: podinfo, mountPath: /etc/podinfo}]

Sources, first found wins, for each attribute:

- ``k8s.pod.name``: ``K8S_POD_NAME``, ``POD_NAME``, file ``name``; in a pod with neither, the
  host name (a pod's host name is its name unless ``spec.hostname`` says otherwise)
- ``k8s.namespace.name``: ``K8S_NAMESPACE_NAME``, ``K8S_NAMESPACE``, ``K8S_POD_NAMESPACE``,
  ``POD_NAMESPACE``, file ``namespace``, the service account's ``namespace`` file
- ``k8s.pod.uid``: ``K8S_POD_UID``, ``POD_UID``, file ``uid``
- ``k8s.node.name``: ``K8S_NODE_NAME``, ``NODE_NAME``, file ``node_name``
- ``k8s.pod.ip``: ``K8S_POD_IP``, ``POD_IP``
- ``k8s.container.name``: ``K8S_CONTAINER_NAME``, ``CONTAINER_NAME``
- ``k8s.cluster.name``: ``K8S_CLUSTER_NAME``
- ``k8s.pod.label.<key>``: every line of the ``labels`` file. From the labels, the owner where they
  tell it: ``k8s.replicaset.name`` and ``k8s.deployment.name`` (``pod-template-hash``),
  ``k8s.statefulset.name`` (``statefulset.kubernetes.io/pod-name``), ``k8s.job.name``
  (``batch.kubernetes.io/job-name`` or ``job-name``).

Files are read from ``VIGIL_K8S_PODINFO_DIR`` (default ``/etc/podinfo``). The unprefixed variables
(``POD_NAME``, ``NODE_NAME``, ``CONTAINER_NAME``, ...) are common outside Kubernetes too (CI systems
set ``NODE_NAME``), so they count only in a pod, that is when ``KUBERNETES_SERVICE_HOST`` is set.
Outside a pod, with no ``K8S_*`` variable and no podinfo directory, the detector adds nothing.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from opentelemetry.sdk.resources import Resource

from vigil.instrumentation._settings import text
from vigil.instrumentation.environment_variables import VIGIL_K8S_PODINFO_DIR
from vigil.instrumentation.resources.bounded import BoundedResourceDetector

DEFAULT_PODINFO_DIR = "/etc/podinfo"
SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

# attribute: (variables that count anywhere, variables that count only in a pod, podinfo file)
_SOURCES: dict[str, tuple[tuple[str, ...], tuple[str, ...], str | None]] = {
    "k8s.pod.name": (("K8S_POD_NAME",), ("POD_NAME",), "name"),
    "k8s.namespace.name": (
        ("K8S_NAMESPACE_NAME", "K8S_NAMESPACE", "K8S_POD_NAMESPACE"),
        ("POD_NAMESPACE",),
        "namespace",
    ),
    "k8s.pod.uid": (("K8S_POD_UID",), ("POD_UID",), "uid"),
    "k8s.node.name": (("K8S_NODE_NAME",), ("NODE_NAME",), "node_name"),
    "k8s.pod.ip": (("K8S_POD_IP",), ("POD_IP",), None),
    "k8s.container.name": (("K8S_CONTAINER_NAME",), ("CONTAINER_NAME",), None),
    "k8s.cluster.name": (("K8S_CLUSTER_NAME",), (), None),
}


def parse_labels(content: str) -> dict[str, str]:
    """The downward API's ``key="value"`` lines (values quoted and escaped as Go's ``%q``)."""
    labels = {}
    for line in content.splitlines():
        key, separator, value = line.partition("=")
        if not separator or not key.strip():
            continue
        value = value.strip()
        try:
            decoded = json.loads(value)  # %q and JSON agree for the escapes labels can hold
        except ValueError:
            decoded = value.strip('"')
        labels[key.strip()] = str(decoded)
    return labels


def owners_from_labels(pod_name: str | None, labels: Mapping[str, str]) -> dict[str, str]:
    """The pod's owners that its labels and name reveal."""
    owners = {}
    template_hash = labels.get("pod-template-hash")
    if pod_name and template_hash and f"-{template_hash}-" in pod_name:
        # <deployment>-<template hash>-<random>: the ReplicaSet is <deployment>-<template hash>.
        deployment = pod_name[: pod_name.rindex(f"-{template_hash}-")]
        owners["k8s.replicaset.name"] = f"{deployment}-{template_hash}"
        owners["k8s.deployment.name"] = deployment
    stateful_pod = labels.get("statefulset.kubernetes.io/pod-name")
    if stateful_pod and "-" in stateful_pod:
        owners["k8s.statefulset.name"] = stateful_pod.rsplit("-", 1)[0]
    if job := labels.get("batch.kubernetes.io/job-name") or labels.get("job-name"):
        owners["k8s.job.name"] = job
    return owners


class KubernetesResourceDetector(BoundedResourceDetector):
    name = "vigil_k8s"

    def _detect(self) -> Resource:
        in_pod = bool(self.environ.get("KUBERNETES_SERVICE_HOST"))
        podinfo = self._under_root(text(VIGIL_K8S_PODINFO_DIR, DEFAULT_PODINFO_DIR))
        has_podinfo = podinfo.is_dir()
        attributes: dict[str, str] = {}
        for attribute, (anywhere, in_pod_only, filename) in _SOURCES.items():
            names = anywhere + (in_pod_only if in_pod else ())
            value = next(
                (self.environ[name].strip() for name in names if self.environ.get(name, "").strip()), ""
            )
            if not value and filename and has_podinfo:
                value = _read(podinfo / filename)
            if value:
                attributes[attribute] = value
        if not (in_pod or has_podinfo or attributes):
            return Resource.get_empty()
        if in_pod:
            attributes.setdefault("k8s.pod.name", socket.gethostname())
            if namespace := _read(self._under_root(SERVICE_ACCOUNT_NAMESPACE)):
                attributes.setdefault("k8s.namespace.name", namespace)
        labels = parse_labels(_read(podinfo / "labels")) if has_podinfo else {}
        for key, value in labels.items():
            attributes[f"k8s.pod.label.{key}"] = value
        for key, value in owners_from_labels(attributes.get("k8s.pod.name"), labels).items():
            attributes.setdefault(key, value)
        return Resource(attributes)

    def _under_root(self, path: str) -> Path:
        parts = PurePosixPath(path).parts
        return self.root.joinpath(*(parts[1:] if parts[:1] == ("/",) else parts))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""
