"""The SDK as Vigil's configurator sets it up, in real subprocesses under ``opentelemetry-instrument``:
the resource carries what Vigil's detectors found, standard variables win, exporters get Vigil's
timeout in the unit they apply, and start-up opens no connection."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import vigil.instrumentation
from tests.instrumentation.instrumented import INSTRUMENT, clean_env, run_probe
from vigil.instrumentation.distro import RESOURCE_DETECTORS, apply_defaults
from vigil.instrumentation.redaction import REDACTED
from vigil.instrumentation.resources.cloud import choose_detectors


def test_resource_carries_what_vigil_detectors_found():
    probe = run_probe("--password", "hunter2", "--port", "8080", K8S_POD_NAME="checkout-0")
    resource = probe["resource"]
    assert resource["host.name"] == socket.gethostname()
    assert resource["host.arch"] in ("amd64", "arm64") or resource["host.arch"] == platform.machine().lower()
    assert resource["os.type"] == platform.system().lower()
    assert resource["os.description"]
    assert resource["process.executable.path"] == sys.executable
    assert resource["process.command_args"][-4:] == ["--password", REDACTED, "--port", "8080"]
    assert resource["process.runtime.name"] == "cpython"
    assert resource["k8s.pod.name"] == "checkout-0"
    assert resource["telemetry.distro.name"] == "vigil"
    assert resource["telemetry.distro.version"] == vigil.instrumentation.__version__
    assert resource["service.name"] == "probe"
    assert "service.instance.id" in resource  # the SDK's, always prepended


def test_cloud_attributes_arrive_through_the_vendor_package():
    # App Service is recognised from the environment alone and its detector reads only the environment.
    resource = run_probe(WEBSITE_SITE_NAME="shop", REGION_NAME="westeurope")["resource"]
    assert resource["cloud.provider"] == "azure"
    assert resource["cloud.region"] == "westeurope"


def test_resource_attributes_from_the_environment_win_over_detected_ones():
    resource = run_probe(OTEL_RESOURCE_ATTRIBUTES="host.name=from-env,os.type=custom")["resource"]
    assert resource["host.name"] == "from-env"
    assert resource["os.type"] == "custom"


def test_the_users_detector_list_wins():
    resource = run_probe(OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="otel")["resource"]
    assert "host.name" not in resource and "process.command_args" not in resource
    assert resource["telemetry.distro.name"] == "vigil"


def test_a_detector_can_be_left_out():
    resource = run_probe(OTEL_EXPERIMENTAL_RESOURCE_DETECTORS="vigil_host,otel")["resource"]
    assert resource["host.name"] == socket.gethostname()
    assert "process.pid" not in resource


EXPORTER_TIMEOUTS = """
import gc, json, os
found = {type(o).__name__: o._timeout for o in gc.get_objects()
         if type(o).__name__ in ("OTLPSpanExporter", "OTLPMetricExporter", "OTLPLogExporter")}
print(json.dumps(found), flush=True)
os._exit(0)
"""


def exporter_timeouts(**env: str) -> dict[str, float]:
    out = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", EXPORTER_TIMEOUTS],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_exporters_apply_the_default_timeout_in_seconds():
    # The SDK reads OTEL_EXPORTER_OTLP_TIMEOUT as seconds (the specification says milliseconds). If an
    # upgrade switches the unit, "5" would mean 5 ms and every export would fail: this test says so.
    assert exporter_timeouts() == {"OTLPSpanExporter": 5.0, "OTLPMetricExporter": 5.0, "OTLPLogExporter": 5.0}


def test_the_users_exporter_timeout_wins():
    timeouts = exporter_timeouts(OTEL_EXPORTER_OTLP_TIMEOUT="7", OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="2")
    assert timeouts == {"OTLPSpanExporter": 2.0, "OTLPMetricExporter": 7.0, "OTLPLogExporter": 7.0}


def test_defaults_fill_only_unset_or_empty_variables():
    environ = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "9",
    }
    apply_defaults(environ)
    assert environ["OTEL_TRACES_EXPORTER"] == "console"
    assert environ["OTEL_METRICS_EXPORTER"] == "otlp"  # empty means unset, as the specification says
    assert environ["OTEL_EXPORTER_OTLP_TIMEOUT"] == "9"
    assert environ["OTEL_EXPERIMENTAL_RESOURCE_DETECTORS"] == RESOURCE_DETECTORS
    assert environ["OTEL_PYTHON_CONFIGURATOR"] == "vigil"


# sitecustomize.py of the auto-instrumentation is exactly `initialize()`; calling it here, after an
# audit hook is in place, sees every connection that start-up makes through Python's sockets.
STARTUP_AUDIT = textwrap.dedent(
    """
    import json, sys, time
    events = []
    def audit(event, args):
        if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
            events.append([event, repr(args)[:200]])
    sys.addaudithook(audit)
    started = time.perf_counter()
    from opentelemetry.instrumentation.auto_instrumentation import initialize
    initialize(swallow_exceptions=False)
    elapsed = time.perf_counter() - started
    from opentelemetry import trace
    resource = dict(trace.get_tracer_provider().resource.attributes)
    print(json.dumps({"events": events, "has_host": "host.name" in resource, "seconds": elapsed}), flush=True)
    import os; os._exit(0)
    """
)


@pytest.mark.skipif(bool(choose_detectors(os.environ, Path("/"))), reason="this machine looks like a cloud")
def test_start_up_off_cloud_makes_no_connection():
    env = clean_env(OTEL_PYTHON_DISTRO="vigil", OTEL_PYTHON_CONFIGURATOR="vigil")
    out = subprocess.run(
        [sys.executable, "-c", STARTUP_AUDIT], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["has_host"], "Vigil's detectors did not run"
    assert report["events"] == []


FORK = """
import json, os
from opentelemetry import trace
provider = trace.get_tracer_provider()
pid = os.fork()
if pid == 0:
    attributes = provider.resource.attributes
    print(json.dumps({"pid": os.getpid(), "ppid": os.getppid(), "resource_pid": attributes["process.pid"],
                      "resource_ppid": attributes["process.parent_pid"]}), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
os._exit(0)
"""


def test_process_attributes_follow_a_fork():
    # Pre-fork servers: the SDK re-runs process-dependent detectors in the child; vigil_process is one.
    out = subprocess.run(
        [INSTRUMENT, sys.executable, "-c", FORK], env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr[-3000:]
    child = json.loads(out.stdout.strip().splitlines()[-1])
    assert child["resource_pid"] == child["pid"]
    assert child["resource_ppid"] == child["ppid"]
