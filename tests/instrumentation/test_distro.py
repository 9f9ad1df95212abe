"""The distro and configurator as `opentelemetry-instrument` loads them, in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import vigil.instrumentation

INSTRUMENT = str(Path(sys.executable).with_name("opentelemetry-instrument"))

PROBE = """
import json, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
provider = trace.get_tracer_provider()
print(json.dumps({
    "sdk": isinstance(provider, TracerProvider),
    "resource": dict(provider.resource.attributes) if isinstance(provider, TracerProvider) else {},
    "env": {k: os.environ.get(k) for k in (
        "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_LOGS_EXPORTER",
        "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED")},
}))
"""


def run_instrumented(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    # Nothing listens here: the probe must not depend on a collector, only configure the SDK.
    clean.update({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9", "OTEL_SERVICE_NAME": "probe", **env})
    out = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", PROBE], env=clean, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_otlp_for_all_signals_by_default_and_the_distro_identifies_itself():
    probe = run_instrumented()
    assert probe["sdk"], "opentelemetry-instrument did not set up the SDK"
    assert probe["env"] == {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
    }
    assert probe["resource"]["telemetry.distro.name"] == "vigil"
    assert probe["resource"]["telemetry.distro.version"] == vigil.instrumentation.__version__
    assert probe["resource"]["service.name"] == "probe"


def test_standard_variables_win_over_the_distro_defaults():
    probe = run_instrumented(OTEL_TRACES_EXPORTER="console", OTEL_LOGS_EXPORTER="none")
    assert probe["env"]["OTEL_TRACES_EXPORTER"] == "console"
    assert probe["env"]["OTEL_LOGS_EXPORTER"] == "none"
    assert probe["env"]["OTEL_METRICS_EXPORTER"] == "otlp"


def test_resource_attributes_from_the_environment_win_over_the_distro_identity():
    probe = run_instrumented(OTEL_RESOURCE_ATTRIBUTES="telemetry.distro.name=acme,deployment.environment=ci")
    assert probe["resource"]["telemetry.distro.name"] == "acme"
    assert probe["resource"]["deployment.environment"] == "ci"
