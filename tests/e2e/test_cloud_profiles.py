"""Exporter profiles (collector-config/profiles/) through the real collector and sidecar: the AWS
profile against a local AWS emulator (moto), reading the spans back from X-Ray and the metrics
from CloudWatch Logs (EMF records); the OTLP/HTTP and Azure Monitor profiles against a local HTTP
server that records what a vendor would receive. All three at once, so that they also show that
profiles compose. Spans cross the sidecar's threat scorer first: what the clouds get is scored."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.e2e.backends import wait_for
from tests.e2e.isolated import ADDR, PORTS, counter, pipeline
from tests.ports import free_port, listening_socket
from vigil.processors.stack.components import Component
from vigil.processors.stack.runner import Stack

pytestmark = pytest.mark.stack

REGION = "us-east-1"
# moto accepts any credentials; the exporters read these from the environment like real ones.
CREDENTIALS = {"AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
LOG_GROUP = "/vigil/e2e-metrics"
TOKEN = f"Bearer {uuid.uuid4().hex}"
INSTRUMENTATION_KEY = str(uuid.uuid4())
ATTACK = 'url.query="q=<script>alert(document.cookie)</script>"'


@pytest.fixture(scope="module")
def moto(tmp_path_factory) -> Iterator[str]:
    """A moto server on a free loopback port: its endpoint URL."""
    port = free_port()
    server = Component(
        "moto",
        (str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)),
        health_url=f"http://127.0.0.1:{port}/moto-api/",
    )
    stack = Stack(tmp_path_factory.mktemp("moto"), [server])
    try:
        assert stack.up(timeout=60), f"moto did not start; logs in {stack.log_dir}"
        yield f"http://127.0.0.1:{port}"
    finally:
        stack.down()


class Recorder:
    """An HTTP server that answers every POST with 200 and keeps (path, headers, body), the body
    decompressed as its Content-Encoding says."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        sock = listening_socket()
        self._server = ThreadingHTTPServer(sock.getsockname(), Handler, bind_and_activate=False)
        self._server.socket.close()
        self._server.socket = sock
        self._server.server_activate()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def posted(self, prefix: str) -> list[tuple[str, dict[str, str], bytes]]:
        return [r for r in list(self.requests) if r[0].startswith(prefix)]


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    try:
        yield server
    finally:
        server.close()


def send(binary: str, signal: str, service: str, *extra: str, endpoint: str = ADDR["otlp"]) -> None:
    subprocess.run(
        [binary, signal, "--otlp-insecure", "--otlp-endpoint", endpoint, "--rate", "0",
         "--service", service, *extra],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def sent(moto, recorder, telemetrygen, tmp_path_factory) -> Iterator[dict[str, str]]:
    """The three profiles over the pipeline, and what was sent through it: an attacked and an
    ordinary service's traces, and metrics (service names by role)."""
    run = uuid.uuid4().hex[:8]
    services = {
        "attacked": f"aws-attacked-{run}",
        "ordinary": f"aws-ordinary-{run}",
        "metrics": f"aws-m-{run}",
    }
    collector_env = {
        **CREDENTIALS,
        "VIGIL_AWS_XRAY_ENDPOINT": moto,
        "VIGIL_AWS_LOGS_ENDPOINT": moto,
        "VIGIL_AWS_EMF_LOG_GROUP": LOG_GROUP,
        "VIGIL_OTLP_HTTP_ENDPOINT": f"{recorder.url}/vendor",
        "VIGIL_OTLP_HTTP_HEADERS": json.dumps({"authorization": TOKEN, "x-tenant": "vigil-e2e"}),
        "APPLICATIONINSIGHTS_CONNECTION_STRING": (
            f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint={recorder.url}/azure/"
        ),
    }
    with pipeline(
        tmp_path_factory.mktemp("profiles-run"),
        profiles=["aws", "otlphttp", "azuremonitor"],
        collector_env=collector_env,
        sidecar_env={"VIGIL_SIDECAR_SCORERS": "threat"},
    ):
        send(telemetrygen, "traces", services["attacked"], "--traces", "3", "--telemetry-attributes", ATTACK)
        send(telemetrygen, "traces", services["ordinary"], "--traces", "3")
        send(
            telemetrygen,
            "metrics",
            services["metrics"],
            "--metrics",
            "5",
            "--otlp-metric-name",
            "vigil.e2e.temperature",
        )
        yield services


def aws_client(service: str, endpoint: str):  # a botocore client; its class is generated
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def xray_segments(endpoint: str) -> list[dict]:
    """Every segment document X-Ray holds from the last ten minutes."""
    xray = aws_client("xray", endpoint)
    now = time.time()
    ids = [s["Id"] for s in xray.get_trace_summaries(StartTime=now - 600, EndTime=now + 60)["TraceSummaries"]]
    documents = []
    for start in range(0, len(ids), 5):  # BatchGetTraces takes up to 5 ids
        for trace in xray.batch_get_traces(TraceIds=ids[start : start + 5])["Traces"]:
            documents.extend(json.loads(s["Document"]) for s in trace["Segments"])
    return documents


def of_service(segments: list[dict], service: str) -> list[dict]:
    return [
        s
        for s in segments
        if s.get("metadata", {}).get("default", {}).get("otel.resource.service.name") == service
    ]


def test_xray_gets_every_span_with_the_threat_scores_as_annotations(moto, sent):
    def both(segments: list[dict]) -> bool:
        # telemetrygen sends traces of two spans (a client and a server span): 6 segments each.
        return all(len(of_service(segments, sent[role])) >= 6 for role in ("attacked", "ordinary"))

    segments = wait_for(lambda: xray_segments(moto), both, timeout=45)
    attacked, ordinary = of_service(segments, sent["attacked"]), of_service(segments, sent["ordinary"])
    assert len(attacked) == len(ordinary) == 6
    # The threat scorer judges the server span, where the request arrives: one per trace.
    flagged = [s for s in attacked if s.get("annotations", {}).get("vigil.threat.score", 0) >= 0.5]
    assert len({s["trace_id"] for s in flagged}) == len({s["trace_id"] for s in attacked}) == 3
    for segment in flagged:
        assert segment["annotations"]["vigil.threat.category"] == "xss", segment
        # X-Ray annotations hold scalars only: the array goes to the metadata, as JSON text.
        assert json.loads(segment["metadata"]["default"]["vigil.threat.categories"]) == ["xss"]
    for segment in ordinary:
        assert segment.get("annotations", {}).get("vigil.threat.score", 0) < 0.5, segment


def emf_records(endpoint: str) -> list[dict]:
    logs = aws_client("logs", endpoint)
    try:
        streams = logs.describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [
        json.loads(event["message"])
        for stream in streams
        for event in logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream["logStreamName"])[
            "events"
        ]
    ]


def test_cloudwatch_gets_the_metrics_as_emf_records(moto, sent):
    def ours(records: list[dict]) -> list[dict]:
        return [r for r in records if r.get("service.name") == sent["metrics"]]

    # telemetrygen's points of one series share a timestamp: EMF writes them as one record.
    records = ours(wait_for(lambda: emf_records(moto), lambda r: bool(ours(r)), timeout=45))
    assert records
    for record in records:
        assert record["vigil.e2e.temperature"] is not None
        (declaration,) = record["_aws"]["CloudWatchMetrics"]
        assert declaration["Namespace"] == "Vigil"
        assert [m["Name"] for m in declaration["Metrics"]] == ["vigil.e2e.temperature"]
        # The service is a dimension of the metric, so CloudWatch keeps services apart.
        assert any("service.name" in dimensions for dimensions in declaration["Dimensions"])


def vendor_spans(recorder: Recorder) -> list[tuple[dict[str, str], dict, str]]:
    """(request headers, span attributes, service name) of every span the OTLP/HTTP vendor got."""
    spans = []
    for _, headers, body in recorder.posted("/vendor/v1/traces"):
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {a.key: a.value for a in span.attributes}
                    spans.append((headers, attributes, resource.get("service.name", "")))
    return spans


def test_otlp_http_vendor_gets_scored_spans_with_the_headers_from_the_environment(recorder, sent):
    def attacked(spans: list) -> list:
        return [s for s in spans if s[2] == sent["attacked"]]

    spans = attacked(wait_for(lambda: vendor_spans(recorder), lambda s: len(attacked(s)) >= 6, timeout=45))
    assert len(spans) == 6
    assert all(h["authorization"] == TOKEN and h["x-tenant"] == "vigil-e2e" for h, _, _ in spans)
    flagged = [a for _, a, _ in spans if "vigil.threat.score" in a]
    assert len(flagged) == 3  # the server span of each trace
    for attributes in flagged:
        assert attributes["vigil.threat.score"].double_value >= 0.5
        assert [v.string_value for v in attributes["vigil.threat.categories"].array_value.values] == ["xss"]


def azure_envelopes(recorder: Recorder) -> list[dict]:
    """Application Insights envelopes (one JSON document per line) the ingestion endpoint got."""
    return [
        json.loads(line)
        for _, _, body in recorder.posted("/azure/v2.1/track")
        for line in body.decode().splitlines()
        if line.strip()
    ]


def test_azure_monitor_gets_scored_spans_as_requests(recorder, sent):
    def attacked(envelopes: list[dict]) -> list[dict]:
        return [
            e
            for e in envelopes
            if e["data"]["baseType"] == "RequestData"
            and e.get("tags", {}).get("ai.cloud.role") == sent["attacked"]
        ]

    # The Application Insights channel sends every 10 s (the exporter's maxbatchinterval).
    requests = attacked(
        wait_for(lambda: azure_envelopes(recorder), lambda e: len(attacked(e)) >= 3, timeout=45)
    )
    assert len(requests) == 3  # the server span of each trace; the client spans are dependencies
    for envelope in requests:
        assert envelope["iKey"] == INSTRUMENTATION_KEY
        properties = envelope["data"]["baseData"]["properties"]
        assert float(properties["vigil.threat.score"]) >= 0.5
        # Application Insights keeps scalar properties only: the array arrives as JSON text.
        assert json.loads(properties["vigil.threat.categories"]) == ["xss"]
        assert properties["vigil.threat.category"] == "xss"


def test_a_failing_aws_endpoint_costs_its_batches_not_the_local_pipeline(telemetrygen, tmp_path_factory):
    # X-Ray and EMF exporters have no queue: the profile's batch processors keep their failures from
    # reaching the sidecar's forward, which would fail the whole request over to bypass (measured
    # without them: of 10 spans, 5 went around the sidecar unscored when X-Ray refused connections).
    # Ports of its own: the module's pipeline above still runs on the isolated ones.
    ports = {name: free_port() for name in PORTS}
    telemetry = f"http://127.0.0.1:{ports['telemetry']}/metrics"
    nowhere = f"http://127.0.0.1:{free_port()}"
    collector_env = {**CREDENTIALS, "VIGIL_AWS_XRAY_ENDPOINT": nowhere, "VIGIL_AWS_LOGS_ENDPOINT": nowhere}
    with pipeline(
        tmp_path_factory.mktemp("aws-down-run"),
        profiles=["aws"],
        collector_env=collector_env,
        sidecar_env={"VIGIL_SIDECAR_SCORERS": "threat"},
        ports=ports,
    ):
        service = f"aws-down-{uuid.uuid4().hex[:8]}"
        for _ in range(5):  # one request each
            send(telemetrygen, "traces", service, "--traces", "1", endpoint=f"127.0.0.1:{ports['otlp']}")
        failed = wait_for(
            lambda: counter(telemetry, "otelcol_exporter_send_failed_spans_total", exporter="awsxray"),
            lambda n: n >= 10,
            timeout=45,
        )
        assert failed == 10, "X-Ray was expected to fail every span"
        assert counter(telemetry, "otelcol_receiver_accepted_spans_total", receiver="otlp/return") == 10
        assert counter(telemetry, "otelcol_receiver_refused_spans_total", receiver="otlp/return") == 0
        assert (
            counter(telemetry, "otelcol_processor_incoming_items_total", processor="transform/unscored") == 0
        )
