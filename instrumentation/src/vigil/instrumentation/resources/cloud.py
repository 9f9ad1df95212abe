"""The cloud the application runs on, through the cloud vendors' own detectors: ``vigil_cloud``.

The AWS, GCP and Azure detector packages (``opentelemetry-sdk-extension-aws``,
``opentelemetry-resourcedetector-gcp``, ``opentelemetry-resource-detector-azure``) know each
platform's metadata service, but most of them find out whether they are on their cloud by asking
it: an HTTP request to a link-local or ``metadata.google.internal`` address, which off-cloud costs a
DNS lookup or a connection timeout at every start-up. ``vigil_cloud`` first decides from cheap local
facts (environment variables, files, the DMI strings the hypervisor exposes under
``/sys/class/dmi/id``) which platform this is, and only then loads and runs that platform's
detectors. Off-cloud it imports none of them and opens no connection.

Local evidence, and the detectors (entry-point names) it calls for:

- ``AWS_LAMBDA_FUNCTION_NAME``, or ``AWS_EXECUTION_ENV`` starting with ``AWS_Lambda``:
  ``aws_lambda`` (reads the environment only).
- ``ECS_CONTAINER_METADATA_URI_V4`` or ``ECS_CONTAINER_METADATA_URI``, or ``AWS_EXECUTION_ENV``
  starting with ``AWS_ECS``: ``aws_ecs`` (asks the task metadata endpoint those variables name).
- ``/var/elasticbeanstalk/xray/environment.conf``: ``aws_elastic_beanstalk`` (reads that file).
- DMI vendor ``Amazon EC2`` (or a Xen uuid starting with ``ec2``): ``aws_eks`` in a pod
  (``KUBERNETES_SERVICE_HOST`` set; asks the Kubernetes API), ``aws_ec2`` otherwise (instance
  metadata, IMDSv2).
- ``K_SERVICE``, ``CLOUD_RUN_JOB``, ``FUNCTION_TARGET`` or ``GAE_SERVICE``, or DMI product
  ``Google Compute Engine``: ``gcp`` (the metadata server; covers GKE, Cloud Run, Cloud Functions,
  App Engine and GCE).
- ``WEBSITE_SITE_NAME``: ``azure_functions`` when ``FUNCTIONS_WORKER_RUNTIME`` is set too,
  ``azure_app_service`` otherwise (both read the environment only).
- In a pod, ``CLUSTER_RESOURCE_ID`` or ``/etc/kubernetes/aks-cluster-metadata``: ``azure_aks``
  (reads that variable or file).
- DMI vendor ``Microsoft Corporation`` with Azure's chassis asset tag: ``azure_vm`` (instance
  metadata).

What the packages detect is kept except empty values and ``container.id``, which
``vigil_container`` reads more reliably from the cgroup (the ECS detector takes the last 64 characters
of the first long cgroup line, which on Fargate is no id).

``GOOGLE_CLOUD_PROJECT`` alone is not taken as evidence: developers set it on their laptops for the
Google client libraries. A platform's detectors that are not installed are reported with a warning.
The whole detection is bounded like every Vigil detector (``VIGIL_RESOURCE_DETECTOR_TIMEOUT``), so a
metadata service that does not answer delays start-up by that much at most. Files are read under
``root`` and variables from ``environ`` so that tests can simulate each platform.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.util._importlib_metadata import entry_points  # the SDK's cached entry-point scan

from vigil.instrumentation.resources.bounded import BoundedResourceDetector

_logger = logging.getLogger(__name__)

AZURE_CHASSIS_ASSET_TAG = "7783-7084-3265-9085-8269-3286-77"
"""What every Azure VM reports as its DMI chassis asset tag (and Hyper-V elsewhere does not)."""

_DMI = "sys/class/dmi/id"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def choose_detectors(environ: Mapping[str, str], root: Path) -> list[tuple[str, str]]:
    """The cloud detectors (entry-point names) that local evidence calls for, each with the evidence.

    Reads only environment variables and local files; never the network."""

    def env(name: str) -> str:
        return environ.get(name, "").strip()

    def dmi(name: str) -> str:
        return _read(root / _DMI / name)

    chosen: list[tuple[str, str]] = []
    in_pod = bool(env("KUBERNETES_SERVICE_HOST"))
    execution_env = env("AWS_EXECUTION_ENV")

    # AWS
    if env("AWS_LAMBDA_FUNCTION_NAME") or execution_env.startswith("AWS_Lambda"):
        chosen.append(("aws_lambda", "AWS_LAMBDA_FUNCTION_NAME / AWS_EXECUTION_ENV"))
    elif (
        env("ECS_CONTAINER_METADATA_URI_V4")
        or env("ECS_CONTAINER_METADATA_URI")
        or execution_env.startswith("AWS_ECS")
    ):
        chosen.append(("aws_ecs", "ECS_CONTAINER_METADATA_URI(_V4) / AWS_EXECUTION_ENV"))
    else:
        if (root / "var/elasticbeanstalk/xray/environment.conf").is_file():
            chosen.append(("aws_elastic_beanstalk", "/var/elasticbeanstalk/xray/environment.conf"))
        on_ec2 = "Amazon EC2" in (dmi("sys_vendor"), dmi("board_vendor")) or _read(
            root / "sys/hypervisor/uuid"
        ).lower().startswith("ec2")
        if on_ec2:
            chosen.append(("aws_eks", "EC2 hardware, in a pod") if in_pod else ("aws_ec2", "EC2 hardware"))

    # GCP
    gcp_variables = [
        name for name in ("K_SERVICE", "CLOUD_RUN_JOB", "FUNCTION_TARGET", "GAE_SERVICE") if env(name)
    ]
    if gcp_variables:
        chosen.append(("gcp", ", ".join(gcp_variables)))
    elif "Google Compute Engine" in dmi("product_name") or dmi("bios_vendor") == "Google":
        chosen.append(("gcp", "Google Compute Engine hardware"))

    # Azure
    if env("WEBSITE_SITE_NAME"):
        if env("FUNCTIONS_WORKER_RUNTIME"):
            chosen.append(("azure_functions", "WEBSITE_SITE_NAME, FUNCTIONS_WORKER_RUNTIME"))
        else:
            chosen.append(("azure_app_service", "WEBSITE_SITE_NAME"))
    else:
        if in_pod and (env("CLUSTER_RESOURCE_ID") or (root / "etc/kubernetes/aks-cluster-metadata").exists()):
            chosen.append(("azure_aks", "AKS cluster metadata, in a pod"))
        if (
            dmi("sys_vendor") == "Microsoft Corporation"
            and dmi("chassis_asset_tag") == AZURE_CHASSIS_ASSET_TAG
        ):
            chosen.append(("azure_vm", "Azure hardware"))
    return chosen


class CloudResourceDetector(BoundedResourceDetector):
    name = "vigil_cloud"

    def _detect(self) -> Resource:
        chosen = choose_detectors(self.environ, self.root)
        if not chosen:
            return Resource.get_empty()
        resource = Resource.get_empty()
        for name, evidence in chosen:
            found = list(entry_points(group="opentelemetry_resource_detector", name=name))
            if not found:
                _logger.warning(
                    "%s suggests a cloud whose resource detector %r is not installed; skipping it",
                    evidence,
                    name,
                )
                continue
            _logger.debug("Running cloud resource detector %s (%s)", name, evidence)
            try:
                detected = found[0].load()().detect()
            except Exception as exc:  # one platform's failure must not cost the others
                _logger.warning("Cloud resource detector %s failed, skipping it: %r", name, exc)
                continue
            resource = resource.merge(Resource(_usable(detected.attributes)))
        return resource


def _usable(attributes: Mapping[str, object]) -> dict[str, object]:
    # The packages report what they could not find as "" (e.g. the ECS detector's container.id on
    # cgroup v2), and the ECS detector takes the last 64 characters of the first long cgroup line for
    # container.id, which on Fargate is not an id. vigil_container owns container.id.
    return {
        key: value
        for key, value in attributes.items()
        if key != "container.id" and value not in ("", None) and not (isinstance(value, tuple) and not value)
    }
