"""Running code in a real subprocess under ``opentelemetry-instrument``, as an application would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ports import free_port

INSTRUMENT = str(Path(sys.executable).with_name("opentelemetry-instrument"))

RESOURCE_PROBE = """
import json, os
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
provider = trace.get_tracer_provider()
print(json.dumps({
    "sdk": isinstance(provider, TracerProvider),
    "resource": dict(provider.resource.attributes) if isinstance(provider, TracerProvider) else {},
    "env": {k: v for k, v in os.environ.items() if k.startswith(("OTEL_", "VIGIL_"))},
}, default=list), flush=True)
os._exit(0)  # skip the exit's final export to the closed port: these probes are about start-up
"""
"""Prints, as the last line of stdout, what the SDK was set up with: its resource and the OTEL_ and
VIGIL_ variables after the distro ran."""


def clean_env(**env: str) -> dict[str, str]:
    """This environment without OTEL_/VIGIL_ settings, pointing the exporters at a closed port, plus
    ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "VIGIL_"))}
    # Nothing listens there: the child must not depend on a collector.
    clean.update(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{free_port()}", "OTEL_SERVICE_NAME": "probe"}
    )
    clean.update(env)
    return clean


def run_probe(*args: str, python: str = sys.executable, timeout: float = 60, **env: str) -> dict:
    """Run RESOURCE_PROBE under opentelemetry-instrument with ``args`` as its arguments; return what it
    printed."""
    out = subprocess.run(
        [INSTRUMENT, python, "-c", RESOURCE_PROBE, *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
