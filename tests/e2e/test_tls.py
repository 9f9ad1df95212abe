"""Mutual TLS between the real collector (collector-config/overlays/tls.yaml) and the sidecar, with
certificates from scripts/make-certs.sh: spans go app -> collector -> sidecar -> collector over
authenticated connections, and none of them takes the unscored bypass."""

from __future__ import annotations

import subprocess
import uuid

import grpc
import pytest

from tests.e2e.backends import wait_for
from tests.e2e.isolated import ADDR, SIDECAR_METRICS, TELEMETRY, counter, pipeline
from tests.installed import REPO
from tests.processors.otlp_samples import traces
from vigil.processors.signals import Signal

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def tls_pipeline(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("tls-run")
    certs = run_dir / "certs"
    subprocess.run([str(REPO / "scripts" / "make-certs.sh"), str(certs)], check=True, capture_output=True)
    sidecar_env = {
        "VIGIL_SIDECAR_TLS_CERT_FILE": str(certs / "sidecar.pem"),
        "VIGIL_SIDECAR_TLS_KEY_FILE": str(certs / "sidecar-key.pem"),
        "VIGIL_SIDECAR_TLS_CLIENT_CA_FILE": str(certs / "ca.pem"),
        "VIGIL_SIDECAR_RETURN_TLS_CA_FILE": str(certs / "ca.pem"),
    }
    with pipeline(run_dir, ["tls"], {"VIGIL_TLS_DIR": str(certs)}, sidecar_env) as stack:
        yield stack


def test_spans_cross_both_hops_over_mutual_tls_and_are_scored(tls_pipeline, telemetrygen):
    subprocess.run(
        [telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", ADDR["otlp"], "--rate", "0",
         "--traces", "20", "--service", f"tls-{uuid.uuid4().hex[:8]}"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    returned = wait_for(
        lambda: counter(TELEMETRY, "otelcol_receiver_accepted_spans_total", receiver="otlp/return"),
        lambda n: n >= 40,
    )
    assert returned == 40
    assert counter(SIDECAR_METRICS, "vigil_sidecar_items_total", signal="traces") == 40
    assert counter(TELEMETRY, "otelcol_processor_incoming_items_total", processor="transform/unscored") == 0


def test_the_sidecar_refuses_a_plaintext_peer(tls_pipeline):
    with grpc.insecure_channel(ADDR["sidecar"]) as channel:
        with pytest.raises(grpc.RpcError) as err:
            channel.unary_unary(Signal.TRACES.method)(traces().SerializeToString(), timeout=5)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
