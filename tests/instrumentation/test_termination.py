"""A process stopped by SIGTERM (with its default action) still exports what it recorded last, then
dies by SIGTERM as before; handlers set by the app or its server are left alone."""

from __future__ import annotations

import signal
import subprocess
import sys

from tests.instrumentation.instrumented import INSTRUMENT, clean_env
from tests.recording_receiver import RecordingReceiver
from vigil.processors.signals import Signal

APP = """
import time
from opentelemetry import trace
tracer = trace.get_tracer("termination-test")
for i in range(25):
    with tracer.start_as_current_span(f"job {i}"):
        pass
print("WORK-DONE", flush=True)
time.sleep(60)
"""


def test_sigterm_flushes_the_last_spans_then_terminates():
    with RecordingReceiver() as receiver:
        process = subprocess.Popen(
            [INSTRUMENT, sys.executable, "-c", APP],
            # The SDK's batch delay (5 s) keeps the 25 spans queued when SIGTERM comes.
            env=clean_env(OTEL_EXPORTER_OTLP_ENDPOINT=f"http://{receiver.endpoint}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout.readline().strip() == "WORK-DONE"
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=20)
        finally:
            process.kill()
            stderr = process.stderr.read()
            process.stdout.close()
            process.stderr.close()
        spans = [
            span.name
            for request in receiver.requests(Signal.TRACES)
            for resource_spans in request.resource_spans
            for scope_spans in resource_spans.scope_spans
            for span in scope_spans.spans
        ]
    assert process.returncode == -signal.SIGTERM, stderr[-3000:]
    assert sorted(spans) == sorted(f"job {i}" for i in range(25))


HANDLERS = """
import json, signal
from vigil.instrumentation.termination import FlushThenTerminate
print(json.dumps(type(signal.getsignal(signal.SIGTERM)).__name__), flush=True)
"""


def test_the_handler_is_installed_only_over_the_default_action():
    def handler_in_child(preexec=None) -> str:
        out = subprocess.run(
            [INSTRUMENT, sys.executable, "-c", HANDLERS],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=preexec,
        )
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout.strip().splitlines()[-1]

    assert handler_in_child() == '"FlushThenTerminate"'
    # A process started with SIGTERM ignored (nohup-like supervisors do this) keeps ignoring it.
    assert handler_in_child(lambda: signal.signal(signal.SIGTERM, signal.SIG_IGN)) == '"Handlers"'
