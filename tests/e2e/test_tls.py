"""Mutual TLS between the real collector (collector-config/overlays/tls.yaml) and the sidecar, with
certificates from scripts/make-certs.sh: spans go app -> collector -> sidecar -> collector over
authenticated connections, and none of them takes the unscored bypass. Runs its own collector and
sidecar on ports of their own (4xxxx), beside the session's stack."""

from __future__ import annotations

import subprocess
import sys
import uuid

import grpc
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.backends import wait_for
from tests.installed import REPO, binary
from tests.processors.otlp_samples import traces
from tests.processors.ports import free_port
from vigil.processors.signals import Signal
from vigil.processors.stack.components import COLLECTOR_FLAGS, Component
from vigil.processors.stack.runner import Stack

pytestmark = pytest.mark.stack

HOST = "127.0.0.1"
PORTS = {"otlp": 44317, "http": 44318, "return": 44328, "health": 43133, "prom": 48889, "telemetry": 48888,
         "sidecar": 44327, "sidecar_health": 43134}  # fmt: skip


def counter(url: str, name: str, **labels: str) -> float:
    text = requests.get(url, timeout=5).text
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items())
    )


@pytest.fixture(scope="module")
def tls_pipeline(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tls-run")
    certs = run_dir / "certs"
    subprocess.run([str(REPO / "scripts" / "make-certs.sh"), str(certs)], check=True, capture_output=True)
    addr = {name: f"{HOST}:{port}" for name, port in PORTS.items()}
    collector = Component(
        "collector",
        (
            binary("otelcol-vigil"),
            "--config",
            str(REPO / "collector-config" / "vigil.yaml"),
            "--config",
            str(REPO / "collector-config" / "overlays" / "tls.yaml"),
            *COLLECTOR_FLAGS,
        ),
        env={
            "VIGIL_TLS_DIR": str(certs),
            "VIGIL_COLLECTOR_OTLP_GRPC_ENDPOINT": addr["otlp"],
            "VIGIL_COLLECTOR_OTLP_HTTP_ENDPOINT": addr["http"],
            "VIGIL_COLLECTOR_RETURN_ENDPOINT": addr["return"],
            "VIGIL_COLLECTOR_HEALTH_ENDPOINT": addr["health"],
            "VIGIL_COLLECTOR_PROMETHEUS_ENDPOINT": addr["prom"],
            "VIGIL_COLLECTOR_TELEMETRY_PORT": str(PORTS["telemetry"]),
            "VIGIL_SIDECAR_ENDPOINT": addr["sidecar"],
            # No Jaeger here: scored spans wait in the exporter's queue, which is fine for this test.
            "VIGIL_JAEGER_OTLP_ENDPOINT": f"{HOST}:{free_port()}",
            "VIGIL_COLLECTOR_STORAGE_DIR": str(run_dir / "queues"),
            "VIGIL_LOG_EXPORT_PATH": str(run_dir / "logs.jsonl"),
        },
        health_url=f"http://{addr['health']}/",
    )
    sidecar = Component(
        "sidecar",
        (
            sys.executable,
            "-m",
            "vigil.processors.cli",
            "serve",
            "--endpoint",
            addr["sidecar"],
            "--return-endpoint",
            addr["return"],
            "--health-endpoint",
            addr["sidecar_health"],
        ),
        env={
            "VIGIL_SIDECAR_TLS_CERT_FILE": str(certs / "sidecar.pem"),
            "VIGIL_SIDECAR_TLS_KEY_FILE": str(certs / "sidecar-key.pem"),
            "VIGIL_SIDECAR_TLS_CLIENT_CA_FILE": str(certs / "ca.pem"),
            "VIGIL_SIDECAR_RETURN_TLS_CA_FILE": str(certs / "ca.pem"),
        },
        health_url=f"http://{addr['sidecar_health']}/health/ready",
        started_url=f"http://{addr['sidecar_health']}/health/live",
    )
    stack = Stack(run_dir, [sidecar, collector])
    try:
        assert stack.up(timeout=60), f"TLS pipeline did not come up; logs in {stack.log_dir}"
        yield addr
    finally:
        stack.down()


def test_spans_cross_both_hops_over_mutual_tls_and_are_scored(tls_pipeline, telemetrygen):
    addr = tls_pipeline
    sidecar_metrics = f"http://{addr['sidecar_health']}/metrics"
    telemetry = f"http://{HOST}:{PORTS['telemetry']}/metrics"
    subprocess.run(
        [telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", addr["otlp"], "--rate", "0",
         "--traces", "20", "--service", f"tls-{uuid.uuid4().hex[:8]}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    returned = wait_for(
        lambda: counter(telemetry, "otelcol_receiver_accepted_spans_total", receiver="otlp/return"),
        lambda n: n >= 40,
    )
    assert returned == 40
    assert counter(sidecar_metrics, "vigil_sidecar_items_total", signal="traces") == 40
    assert counter(telemetry, "otelcol_processor_incoming_items_total", processor="transform/unscored") == 0


def test_the_sidecar_refuses_a_plaintext_peer(tls_pipeline):
    with grpc.insecure_channel(tls_pipeline["sidecar"]) as channel:
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary(Signal.TRACES.method)(traces().SerializeToString(), timeout=5)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
