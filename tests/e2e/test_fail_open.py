"""Fail-open through the real stack: with the sidecar killed, every span, data point and log record
still reaches the backends, marked ``vigil.scored = false``; when the sidecar returns, scoring
resumes by itself and nothing is lost in either switch."""

from __future__ import annotations

import os
import signal
import uuid

import pytest

from tests.e2e.backends import (
    exported_log_records,
    jaeger_spans,
    prometheus_query,
    sidecar_counter,
    tags,
    wait_for,
)
from tests.e2e.load import run_telemetrygen

pytestmark = pytest.mark.stack


def unscored(attributes: list[dict]) -> bool:
    return {"key": "vigil.scored", "value": {"boolValue": False}} in attributes


def test_sidecar_down_then_back(stack, telemetrygen):
    sidecar = next(c for c in stack.components if c.name == "sidecar")
    os.killpg(stack.pid(sidecar), signal.SIGKILL)
    assert wait_for(lambda: stack.state(sidecar), lambda s: s == "stopped", timeout=10) == "stopped"
    run = uuid.uuid4().hex[:8]
    try:
        run_telemetrygen(telemetrygen, "traces", "--traces", "30", "--service", f"down-{run}")
        run_telemetrygen(telemetrygen, "logs", "--logs", "20", "--service", f"down-{run}")
        run_telemetrygen(
            telemetrygen, "metrics", "--metrics", "10", "--metric-type", "Sum",
            "--otlp-metric-name", "vigil_e2e_failopen", "--service", f"down-{run}",
            # Prometheus shows a resource's attributes on target_info only for an identified instance.
            "--otlp-attributes", f'service.instance.id="{run}"',
        )  # fmt: skip

        spans = wait_for(lambda: jaeger_spans(f"down-{run}"), lambda s: len(s) >= 60)
        assert len(spans) == 60  # 30 traces of a root and a child: none lost
        assert all(tags(s).get("vigil.scored") is False for s in spans)

        records = wait_for(
            lambda: exported_log_records(stack.run_dir / "otlp-logs.jsonl", f"down-{run}"),
            lambda r: len(r) >= 20,
        )
        assert len(records) == 20 and all(unscored(r.get("attributes", [])) for r in records)

        info = wait_for(
            lambda: prometheus_query(f'target_info{{job="down-{run}", vigil_scored="false"}}'),
            bool,
            timeout=40,
        )
        assert info, "unscored metrics did not reach Prometheus marked on their resource"
        value = wait_for(
            lambda: prometheus_query(f'vigil_e2e_failopen_total{{job="down-{run}"}}'),
            lambda r: bool(r) and float(r[0]["value"][1]) == 9,
            timeout=40,
        )
        assert value and float(value[0]["value"][1]) == 9
    finally:
        assert stack.up(timeout=60), "the sidecar did not come back"

    # Scoring resumes by itself: the connector tries the sidecar again every 5 s.
    before = sidecar_counter("vigil_sidecar_items", signal="traces")
    attempts: list[str] = []

    def send_probe() -> float:
        service = f"probe-{run}-{len(attempts)}"
        attempts.append(service)
        run_telemetrygen(telemetrygen, "traces", "--traces", "5", "--service", service)
        return sidecar_counter("vigil_sidecar_items", signal="traces") - before

    assert wait_for(send_probe, lambda delta: delta > 0, timeout=30, every=1) > 0, "scoring did not resume"
    # Every probe arrived, scored or not: nothing was lost in the switch back.
    for service in attempts:
        assert len(wait_for(lambda s=service: jaeger_spans(s), lambda s: len(s) >= 10)) == 10

    # Now all of it goes through the sidecar again.
    before = sidecar_counter("vigil_sidecar_items", signal="traces")
    run_telemetrygen(telemetrygen, "traces", "--traces", "30", "--service", f"back-{run}")
    spans = wait_for(lambda: jaeger_spans(f"back-{run}"), lambda s: len(s) >= 60)
    assert len(spans) == 60
    assert not any("vigil.scored" in tags(s) for s in spans)
    assert sidecar_counter("vigil_sidecar_items", signal="traces") - before >= 60
