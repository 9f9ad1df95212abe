"""Tail sampling (collector-config/overlays/tail-sampling.yaml) through the real collector, sidecar and
Jaeger: with ordinary traces sampled at 0%, every trace with a threat or an error still reaches
Jaeger, and the ordinary ones do not."""

from __future__ import annotations

import subprocess
import time
import uuid

import pytest

from tests.e2e.backends import jaeger_spans, wait_for
from tests.e2e.isolated import ADDR, JAEGER_QUERY, pipeline

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    collector_env = {"VIGIL_TRACE_SAMPLE_PERCENT": "0", "VIGIL_TAIL_DECISION_WAIT": "1s"}
    sidecar_env = {"VIGIL_SIDECAR_SCORERS": "threat"}
    with pipeline(
        tmp_path_factory.mktemp("tail-run"), ["tail-sampling"], collector_env, sidecar_env, jaeger=True
    ):
        yield


def send(telemetrygen: str, service: str, *extra: str) -> None:
    subprocess.run(
        [telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", ADDR["otlp"], "--rate", "0",
         "--traces", "5", "--service", service, *extra],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def traces(service: str) -> int:
    return len({span["traceID"] for span in jaeger_spans(service, JAEGER_QUERY)})


def test_threats_and_errors_are_kept_and_ordinary_traces_sampled_away(sampled, telemetrygen):
    run = uuid.uuid4().hex[:8]
    ordinary, failing, attacked = f"ordinary-{run}", f"failing-{run}", f"attacked-{run}"
    send(telemetrygen, ordinary)
    send(telemetrygen, failing, "--status-code", "Error")
    send(telemetrygen, attacked, "--telemetry-attributes", 'url.query="q=<script>alert(1)</script>"')

    assert wait_for(lambda: traces(attacked), lambda n: n >= 5, timeout=60) == 5
    assert wait_for(lambda: traces(failing), lambda n: n >= 5, timeout=30) == 5
    time.sleep(3)  # the ordinary traces were decided in the same rounds: give a straggler time
    assert traces(ordinary) == 0
