"""`vigil up/down/status` mechanics, on small real processes (an HTTP server per component)."""

from __future__ import annotations

import sys

import pytest
import requests

from tests.ports import free_port
from vigil.processors.stack.components import Component
from vigil.processors.stack.runner import Stack


def http_component(name: str, port: int) -> Component:
    return Component(
        name,
        (sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)),
        endpoints={"http": f"http://127.0.0.1:{port}"},
        health_url=f"http://127.0.0.1:{port}/",
    )


@pytest.fixture
def stack(tmp_path):
    ports = [free_port(), free_port()]
    stack = Stack(tmp_path, [http_component("jaeger", ports[0]), http_component("collector", ports[1])])
    yield stack, ports
    stack.down(timeout=5)


def test_up_starts_each_component_and_waits_until_healthy(stack):
    stack, ports = stack
    assert stack.up(timeout=20)
    for port in ports:
        assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    report = stack.status()
    assert {c["state"] for c in report["components"].values()} == {"healthy"}
    assert all(isinstance(c["pid"], int) for c in report["components"].values())


def test_up_twice_keeps_the_running_processes(stack):
    stack, _ = stack
    assert stack.up(timeout=20)
    pids = {c.name: stack.pid(c) for c in stack.components}
    assert stack.up(timeout=20)
    assert {c.name: stack.pid(c) for c in stack.components} == pids


def test_down_stops_everything_and_status_says_so(stack):
    stack, ports = stack
    assert stack.up(timeout=20)
    stack.down(timeout=5)
    assert {c["state"] for c in stack.status()["components"].values()} == {"stopped"}
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{ports[0]}/", timeout=2)


def test_up_refuses_a_port_that_another_process_serves(stack, tmp_path):
    stack, ports = stack
    other = Stack(tmp_path / "other", [http_component("jaeger", ports[0])])
    assert other.up(timeout=20)
    try:
        with pytest.raises(
            RuntimeError, match="already answers for a process this run directory did not start"
        ):
            stack.up(timeout=20)
    finally:
        other.down(timeout=5)


def test_a_component_that_dies_fails_up_and_shows_its_log(tmp_path, capsys):
    broken = Component(
        "collector",
        (sys.executable, "-c", "import sys; print('bad config: no receivers'); sys.exit(1)"),
        health_url=f"http://127.0.0.1:{free_port()}/",
    )
    stack = Stack(tmp_path, [broken])
    assert stack.up(timeout=10) is False
    out = capsys.readouterr().out
    assert "collector    NOT healthy" in out and "bad config: no receivers" in out
