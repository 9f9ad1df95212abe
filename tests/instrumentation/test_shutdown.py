"""A collector that is down, or hung, never holds up the application's exit for long.

The subprocess tests run a real app under ``opentelemetry-instrument`` that creates spans, metrics and
logs, and time its exit: from the moment it prints that its work is done to the moment the process
is gone."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from tests.ports import free_port
from tests.recording_receiver import RecordingReceiver
from vigil.instrumentation._settings import positive_seconds
from vigil.instrumentation.configurator import DEFAULT_SHUTDOWN_TIMEOUT
from vigil.instrumentation.shutdown import shutdown_within
from vigil.processors.signals import Signal

# Interpreter teardown after the bounded flush, plus scheduling noise on a loaded 2-core machine.
EXIT_SLACK = 1.5

APP = """
import logging
from opentelemetry import metrics, trace
tracer = trace.get_tracer("exit-test")
jobs = metrics.get_meter("exit-test").create_counter("jobs")
for i in range(20):
    with tracer.start_as_current_span(f"job {i}"):
        jobs.add(1)
        logging.getLogger("app").warning("job %d done", i)
print("WORK-DONE", flush=True)
"""


def run_and_time_exit(endpoint: str, **env: str) -> tuple[float, str]:
    """Run APP; return (seconds from the end of its work to its exit, its stderr)."""
    proc = subprocess.Popen(
        [INSTRUMENT, sys.executable, "-c", APP],
        env=clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for line in proc.stdout:
            if line.strip() == "WORK-DONE":
                break
        done = time.monotonic()
        proc.wait(timeout=60)
        exit_seconds = time.monotonic() - done
    finally:
        proc.kill()
        stderr = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, stderr[-3000:]
    return exit_seconds, stderr


def test_collector_down_exit_within_the_default_bound():
    exit_seconds, _ = run_and_time_exit(f"http://127.0.0.1:{free_port()}")
    print(f"exit with the collector down: {exit_seconds:.2f}s")
    assert exit_seconds < DEFAULT_SHUTDOWN_TIMEOUT + EXIT_SLACK


def test_collector_down_exit_within_a_configured_bound():
    # 1 s is shorter than the exporters' own give-up (about 3 s of retries against a refused port), so
    # it is the bound that ends the wait here, and says so.
    exit_seconds, stderr = run_and_time_exit(f"http://127.0.0.1:{free_port()}", VIGIL_SHUTDOWN_TIMEOUT="1")
    print(f"exit with the collector down, VIGIL_SHUTDOWN_TIMEOUT=1: {exit_seconds:.2f}s")
    assert exit_seconds < 1 + EXIT_SLACK
    assert "telemetry not exported within 1.0s at exit" in stderr


def test_hung_collector_exit_within_the_bound():
    # Accepts connections and requests, never answers: each export would wait its full 5 s deadline.
    with RecordingReceiver() as collector:
        collector.delay.clear()  # hold every request unanswered
        exit_seconds, stderr = run_and_time_exit(f"http://{collector.endpoint}")
    print(f"exit with a hung collector: {exit_seconds:.2f}s")
    assert exit_seconds < DEFAULT_SHUTDOWN_TIMEOUT + EXIT_SLACK
    assert "telemetry not exported within 3.0s at exit" in stderr


def test_healthy_collector_exit_is_quick_and_loses_nothing():
    with RecordingReceiver() as collector:
        exit_seconds, stderr = run_and_time_exit(f"http://{collector.endpoint}")
    print(f"exit with a healthy collector: {exit_seconds:.2f}s")
    assert exit_seconds < EXIT_SLACK
    assert "not exported" not in stderr
    spans = [
        span
        for request in collector.requests(Signal.TRACES)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    assert sorted(span.name for span in spans) == sorted(f"job {i}" for i in range(20))
    logs = [
        record
        for request in collector.requests(Signal.LOGS)
        for rl in request.resource_logs
        for sl in rl.scope_logs
        if sl.scope.name == "app"
        for record in sl.log_records
    ]
    assert len(logs) == 20 and all(record.trace_id for record in logs)
    metric_names = {
        metric.name
        for request in collector.requests(Signal.METRICS)
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert "jobs" in metric_names
    # What Vigil's detectors found arrives with every signal.
    for signal in Signal:
        for resource in collector.resources(signal):
            assert resource["telemetry.distro.name"] == "vigil"
            assert resource["host.name"] and resource["os.type"] and resource["process.pid"]
            assert resource["process.command_args"][:2] == [sys.executable, "-c"]


class _Provider:
    def __init__(self, seconds: float, fail: bool = False) -> None:
        self.seconds, self.fail, self.done = seconds, fail, threading.Event()

    def shutdown(self) -> None:
        time.sleep(self.seconds)
        if self.fail:
            raise RuntimeError("exporter exploded")
        self.done.set()


def test_providers_are_shut_down_in_parallel():
    providers = [_Provider(0.4), _Provider(0.4), _Provider(0.4)]
    started = time.monotonic()
    assert shutdown_within(providers, timeout=5) == []
    assert time.monotonic() - started < 1.0  # not 1.2 s one after the other
    assert all(provider.done.is_set() for provider in providers)


def test_a_provider_that_hangs_is_abandoned_with_a_message(capsys):
    hanging, quick = _Provider(30), _Provider(0)
    started = time.monotonic()
    assert shutdown_within([hanging, quick], timeout=0.3) == [hanging]
    assert time.monotonic() - started < 0.8
    assert "telemetry not exported within 0.3s at exit" in capsys.readouterr().err
    assert quick.done.is_set()


def test_a_provider_that_fails_does_not_stop_the_others():
    failing, ok = _Provider(0, fail=True), _Provider(0)
    assert shutdown_within([failing, ok], timeout=2) == []
    assert ok.done.is_set()


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan"])
def test_a_bad_bound_falls_back_to_the_default(value, monkeypatch):
    monkeypatch.setenv("VIGIL_SHUTDOWN_TIMEOUT", value)
    assert positive_seconds("VIGIL_SHUTDOWN_TIMEOUT", DEFAULT_SHUTDOWN_TIMEOUT) == DEFAULT_SHUTDOWN_TIMEOUT
