"""Bearer-token authentication on the apps' OTLP receivers (collector-config/overlays/bearer-auth.yaml),
through the real collector: the right token gets data in, a missing or wrong one is refused."""

from __future__ import annotations

import subprocess
import uuid

import pytest
import requests

from tests.e2e.backends import wait_for
from tests.e2e.isolated import ADDR, TELEMETRY, counter, pipeline

pytestmark = pytest.mark.stack

TOKEN = "vigil-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def authenticated(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("auth-run")
    token_file = run_dir / "token"
    token_file.write_text(TOKEN)
    token_file.chmod(0o600)
    with pipeline(run_dir, ["bearer-auth"], {"VIGIL_OTLP_BEARER_TOKEN_FILE": str(token_file)}) as stack:
        yield stack


def send(telemetrygen: str, *headers: str) -> subprocess.CompletedProcess[str]:
    args = [telemetrygen, "traces", "--otlp-insecure", "--otlp-endpoint", ADDR["otlp"], "--rate", "0",
            "--traces", "5", "--service", "auth-test"]  # fmt: skip
    for header in headers:
        args += ["--otlp-header", header]
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_the_right_token_gets_data_in(authenticated, telemetrygen):
    before = counter(TELEMETRY, "otelcol_receiver_accepted_spans_total", receiver="otlp")
    result = send(telemetrygen, f'Authorization="Bearer {TOKEN}"')
    assert result.returncode == 0, result.stderr[-1000:]
    accepted = wait_for(
        lambda: counter(TELEMETRY, "otelcol_receiver_accepted_spans_total", receiver="otlp") - before,
        lambda n: n >= 10,
    )
    assert accepted == 10


def test_a_missing_or_wrong_token_is_refused(authenticated, telemetrygen):
    before = counter(TELEMETRY, "otelcol_receiver_accepted_spans_total", receiver="otlp")
    for headers in ((), ('Authorization="Bearer not-the-token"',)):
        result = send(telemetrygen, *headers)
        assert "Unauthenticated" in result.stderr or "401" in result.stderr, result.stderr[-1000:]
    reply = requests.post(f"http://{ADDR['http']}/v1/traces", data=b"", timeout=5,
                          headers={"Content-Type": "application/x-protobuf"})  # fmt: skip
    assert reply.status_code == 401
    assert counter(TELEMETRY, "otelcol_receiver_accepted_spans_total", receiver="otlp") == before
