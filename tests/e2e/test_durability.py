"""Durability through the real stack: spans the collector accepted survive a crash of the collector
(SIGKILL) while Jaeger is down, and reach Jaeger once both are back."""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.backends import jaeger_spans, sidecar_counter, wait_for
from tests.e2e.isolated import signal_component
from tests.e2e.load import run_telemetrygen

pytestmark = pytest.mark.stack


def test_accepted_spans_survive_a_collector_crash_while_jaeger_is_down(stack, telemetrygen):
    service = f"durable-{uuid.uuid4().hex[:8]}"
    signal_component(stack, "jaeger")
    try:
        before = sidecar_counter("vigil_sidecar_items", signal="traces")
        run_telemetrygen(telemetrygen, "traces", "--traces", "50", "--service", service)
        # The sidecar answers OK only once the return receiver accepted the spans, i.e. once they
        # sit in the otlp/jaeger exporter's queue, waiting for Jaeger.
        scored = wait_for(
            lambda: sidecar_counter("vigil_sidecar_items", signal="traces") - before, lambda n: n >= 100
        )
        assert scored >= 100
        signal_component(stack, "collector")
    finally:
        assert stack.up(timeout=90), "the stack did not come back"

    spans = wait_for(lambda: jaeger_spans(service), lambda s: len(s) >= 100, timeout=60)
    assert len(spans) == 100
