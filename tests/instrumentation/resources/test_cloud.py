"""The cloud detector: which platform's detectors run is decided locally, and off-cloud nothing is
imported or connected to."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.instrumentation.fixture_trees import FIXTURES
from tests.ports import listening_socket
from vigil.instrumentation.resources import cloud
from vigil.instrumentation.resources.cloud import CloudResourceDetector, choose_detectors

CLOUD = FIXTURES / "cloud"
# Every variable choose_detectors looks at, so that the test process's own environment cannot leak in.
CLOUD_VARIABLES = (
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_EXECUTION_ENV",
    "ECS_CONTAINER_METADATA_URI_V4",
    "ECS_CONTAINER_METADATA_URI",
    "K_SERVICE",
    "CLOUD_RUN_JOB",
    "FUNCTION_TARGET",
    "GAE_SERVICE",
    "WEBSITE_SITE_NAME",
    "FUNCTIONS_WORKER_RUNTIME",
    "CLUSTER_RESOURCE_ID",
    "KUBERNETES_SERVICE_HOST",
)


@pytest.mark.parametrize(
    ("tree", "environ", "expected"),
    [
        ("baremetal", {}, []),
        ("hyperv-onprem", {}, []),  # Microsoft's hypervisor on premises, not Azure
        ("baremetal", {"GOOGLE_CLOUD_PROJECT": "dev-laptop"}, []),
        ("baremetal", {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, []),  # a pod on some other cluster
        ("ec2", {}, ["aws_ec2"]),
        ("ec2-xen", {}, ["aws_ec2"]),
        ("ec2", {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}, ["aws_eks"]),
        ("baremetal", {"AWS_LAMBDA_FUNCTION_NAME": "f"}, ["aws_lambda"]),
        ("ec2", {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.11"}, ["aws_lambda"]),
        ("ec2", {"ECS_CONTAINER_METADATA_URI_V4": "http://169.254.170.2/v4/x"}, ["aws_ecs"]),
        ("baremetal", {"AWS_EXECUTION_ENV": "AWS_ECS_FARGATE"}, ["aws_ecs"]),
        ("beanstalk", {}, ["aws_elastic_beanstalk"]),
        ("gce", {}, ["gcp"]),
        ("baremetal", {"K_SERVICE": "checkout"}, ["gcp"]),
        ("baremetal", {"FUNCTION_TARGET": "handler"}, ["gcp"]),
        ("azure", {}, ["azure_vm"]),
        ("baremetal", {"WEBSITE_SITE_NAME": "shop"}, ["azure_app_service"]),
        (
            "baremetal",
            {"WEBSITE_SITE_NAME": "shop", "FUNCTIONS_WORKER_RUNTIME": "python"},
            ["azure_functions"],
        ),
        (
            "azure",
            {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "CLUSTER_RESOURCE_ID": "/subs/x"},
            ["azure_aks", "azure_vm"],
        ),
    ],
)
def test_choice_from_local_evidence(tree, environ, expected):
    assert [name for name, _ in choose_detectors(environ, CLOUD / tree)] == expected


def test_every_chosen_detector_is_installed():
    from opentelemetry.util._importlib_metadata import entry_points

    installed = set(entry_points(group="opentelemetry_resource_detector").names)
    for name in (
        "aws_lambda",
        "aws_ecs",
        "aws_ec2",
        "aws_eks",
        "aws_elastic_beanstalk",
        "gcp",
        "azure_vm",
        "azure_app_service",
        "azure_functions",
        "azure_aks",
    ):
        assert name in installed, f"{name}: add its package to instrumentation/pyproject.toml"


OFF_CLOUD = textwrap.dedent(
    """
    import json, sys
    events = []
    def audit(event, args):
        if event.startswith(("socket.", "urllib.", "http.")) and event != "socket.gethostname":
            events.append([event, repr(args)[:200]])
    sys.addaudithook(audit)
    from vigil.instrumentation.resources.cloud import CloudResourceDetector
    resource = CloudResourceDetector(root=sys.argv[1], environ={}).detect()
    cloud_modules = sorted(m for m in sys.modules if m.startswith((
        "opentelemetry.sdk.extension.aws", "opentelemetry.resourcedetector",
        "opentelemetry.resource.detector", "requests")))
    print(json.dumps({"attributes": dict(resource.attributes), "events": events, "modules": cloud_modules}))
    """
)


@pytest.mark.parametrize("tree", ["baremetal", "hyperv-onprem"])
def test_off_cloud_nothing_is_imported_and_no_connection_is_attempted(tree):
    # In a subprocess: audit hooks cannot be removed once added.
    out = subprocess.run(
        [sys.executable, "-c", OFF_CLOUD, str(CLOUD / tree)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report == {"attributes": {}, "events": [], "modules": []}


def test_lambda_through_the_aws_package(monkeypatch, tmp_path):
    for name in CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    lambda_env = {
        "AWS_LAMBDA_FUNCTION_NAME": "checkout",
        "AWS_REGION": "eu-west-1",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/02/[$LATEST]abc",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
    }
    for name, value in lambda_env.items():
        monkeypatch.setenv(name, value)  # the AWS package reads os.environ itself
    attributes = CloudResourceDetector(root=tmp_path).detect().attributes
    assert attributes["cloud.provider"] == "aws"
    assert attributes["cloud.platform"] == "aws_lambda"
    assert attributes["cloud.region"] == "eu-west-1"
    assert attributes["faas.name"] == "checkout"
    assert attributes["faas.max_memory"] == 512


def test_azure_app_service_through_the_azure_package(monkeypatch, tmp_path):
    for name in CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WEBSITE_SITE_NAME", "shop")
    monkeypatch.setenv("REGION_NAME", "westeurope")
    attributes = CloudResourceDetector(root=tmp_path).detect().attributes
    assert attributes["cloud.provider"] == "azure"
    assert (
        attributes["cloud.platform"] == "azure_app_service"
    )  # the package's value (semconv now: azure.app_service)
    assert attributes["service.name"] == "shop"


class _EcsMetadata(BaseHTTPRequestHandler):
    """The ECS task metadata endpoint v4, as much of it as the AWS detector reads."""

    delay = 0.0
    requests: list[str] = []

    def do_GET(self):
        type(self).requests.append(self.path)
        time.sleep(self.delay)
        if self.path.endswith("/task"):
            body = {
                "TaskARN": "arn:aws:ecs:eu-west-1:123456789012:task/shop/0123456789abcdef0123456789abcdef",
                "Cluster": "shop",
                "LaunchType": "FARGATE",
                "Family": "checkout",
                "Revision": "7",
            }
        else:
            body = {
                "ContainerARN": "arn:aws:ecs:eu-west-1:123456789012:container/shop/0123/abcd",
                "LogDriver": "json",
            }
        payload = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def ecs_endpoint(monkeypatch):
    """A fake ECS metadata endpoint on loopback, named by ECS_CONTAINER_METADATA_URI_V4."""
    sock = listening_socket()
    server = ThreadingHTTPServer(sock.getsockname(), _EcsMetadata, bind_and_activate=False)
    server.socket.close()
    server.socket = sock
    server.server_activate()
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _EcsMetadata.requests = []
    _EcsMetadata.delay = 0.0
    for name in CLOUD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{sock.getsockname()[1]}/v4/abc")
    yield _EcsMetadata
    server.shutdown()
    server.server_close()


def test_ecs_through_the_aws_package_asks_only_the_endpoint_it_was_given(ecs_endpoint, tmp_path):
    attributes = CloudResourceDetector(root=tmp_path).detect().attributes
    assert ecs_endpoint.requests == ["/v4/abc", "/v4/abc/task"]
    assert attributes["cloud.platform"] == "aws_ecs"
    assert attributes["aws.ecs.launchtype"] == "fargate"
    assert attributes["aws.ecs.task.family"] == "checkout"
    # The package's container.id (the tail of a cgroup line) is not taken; vigil_container owns it.
    assert "container.id" not in attributes


def test_a_metadata_endpoint_that_does_not_answer_is_abandoned_within_the_bound(
    ecs_endpoint, tmp_path, caplog
):
    ecs_endpoint.delay = 10
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        attributes = CloudResourceDetector(root=tmp_path, timeout=0.5).detect().attributes
    assert time.monotonic() - started < 1.5
    assert attributes == {}
    assert "vigil_cloud did not finish within 0.5s" in caplog.text


def test_a_missing_package_is_a_warning(monkeypatch, tmp_path, caplog):
    monkeypatch.setattr(cloud, "choose_detectors", lambda environ, root: [("nimbus_vm", "Nimbus hardware")])
    with caplog.at_level(logging.WARNING):
        assert CloudResourceDetector(root=tmp_path).detect().attributes == {}
    assert "'nimbus_vm' is not installed" in caplog.text
