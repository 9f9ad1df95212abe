"""The real stack for end-to-end tests: Jaeger, Alertmanager, Prometheus, otelcol-vigil, the sidecar
and the demo app (under opentelemetry-instrument), started once per session on the default loopback
ports in a run directory of the session's own. The demo's endless traffic generator is left out:
tests send bounded traffic they can count."""

from __future__ import annotations

import pytest

from tests.installed import binary
from vigil.processors.stack.runner import Stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    for name in ("otelcol-vigil", "jaeger", "telemetrygen", "prometheus", "prometheus-alertmanager"):
        binary(name)
    stack = Stack.default(run_dir=tmp_path_factory.mktemp("vigil-run"))
    stack.components = [c for c in stack.components if c.name != "traffic"]
    try:
        if not stack.up(timeout=90):
            pytest.fail(f"the stack did not come up; logs in {stack.log_dir}")
        yield stack
    finally:
        stack.down()


@pytest.fixture(scope="session")
def telemetrygen():
    return binary("telemetrygen")
