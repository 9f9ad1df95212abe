"""Alerting: backends/alertmanager.yml routes by severity, and a rule firing in a real Prometheus
reaches a webhook through a real Alertmanager (Debian's), both with the shipped configuration.

The live test runs its own Prometheus, Alertmanager and webhook on fixed ports of its own
(22000-22199, below the kernel's ephemeral range), so it runs beside `vigil up` and the e2e stack."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from tests.installed import REPO, binary
from vigil.processors.stack.components import Component, alertmanager_component
from vigil.processors.stack.runner import Stack

SHIPPED = REPO / "backends" / "alertmanager.yml"
PORTS = {"prometheus": 22090, "alertmanager": 22093, "webhook": 22095}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("amtool"), *args], capture_output=True, text=True, timeout=60)


def test_alertmanager_config_is_valid():
    result = amtool("check-config", str(SHIPPED))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receiver"),
    [
        (["severity=critical"], "vigil-critical"),
        (["severity=warning"], "vigil-warning"),
        # Any other severity, or none, opens a ticket rather than being dropped.
        (["severity=info"], "vigil-warning"),
        ([], "vigil-warning"),
    ],
)
def test_routes_by_severity(labels, receiver):
    result = amtool("config", "routes", "test", f"--config.file={SHIPPED}", "alertname=VigilX", *labels)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.split() == [receiver]


class Webhook:
    """An HTTP server that takes Alertmanager's webhook POSTs: (path, JSON body) in a queue."""

    def __init__(self, port: int) -> None:
        self.calls: queue.Queue[tuple[str, dict]] = queue.Queue()
        calls = self.calls

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                calls.put((self.path, json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def alerts_until(self, names: set[str], timeout: float) -> dict[str, list[tuple[str, dict]]]:
        """Every (path, payload) that carried each alert named in ``names``, once all have come."""
        seen: dict[str, list[tuple[str, dict]]] = {}
        deadline = time.monotonic() + timeout
        while not names <= seen.keys():
            try:
                path, payload = self.calls.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"webhook got {sorted(seen)} of {sorted(names)} within {timeout:.0f} s")
            for alert in payload["alerts"]:
                seen.setdefault(alert["labels"]["alertname"], []).append((path, payload))
        return seen


# Two rules true at once, one per severity, firing at the first evaluation.
TEST_RULES = {
    "groups": [
        {
            "name": "alerting-test",
            "rules": [
                {
                    "alert": "VigilTestPage",
                    "expr": "vector(1) > 0",
                    "labels": {"severity": "critical"},
                    "annotations": {"summary": "a page"},
                },
                {
                    "alert": "VigilTestTicket",
                    "expr": "vector(1) > 0",
                    "labels": {"severity": "warning"},
                    "annotations": {"summary": "a ticket"},
                },
            ],
        }
    ]
}


def alertmanager_config(directory: Path) -> Path:
    """The shipped routing with this test's webhook as every receiver's URL (one path per
    receiver), and group waits of a second instead of the shipped ten seconds and a minute."""
    config = yaml.safe_load(SHIPPED.read_text())
    for receiver in config["receivers"]:
        for webhook in receiver["webhook_configs"]:
            webhook["url"] = f"http://127.0.0.1:{PORTS['webhook']}/{receiver['name']}"
    for route in [config["route"], *config["route"]["routes"]]:
        route["group_wait"] = "1s"
    path = directory / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def prometheus_config(directory: Path) -> Path:
    """backends/prometheus.yml's alerting block, pointed at this test's Alertmanager, with the
    test rules evaluated every second and nothing scraped."""
    config = yaml.safe_load((REPO / "backends" / "prometheus.yml").read_text())
    for alertmanager in config["alerting"]["alertmanagers"]:
        for static in alertmanager["static_configs"]:
            static["targets"] = [f"127.0.0.1:{PORTS['alertmanager']}"]
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    (directory / "test.rules.yml").write_text(yaml.safe_dump(TEST_RULES))
    config["rule_files"] = ["test.rules.yml"]
    config["scrape_configs"] = []
    path = directory / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    # Listening before Alertmanager starts: a refused first delivery would be retried with backoff.
    with Webhook(PORTS["webhook"]) as webhook:
        yield webhook


@pytest.fixture
def alerting(tmp_path, webhook) -> Iterator[Stack]:
    prometheus = Component(
        "prometheus",
        (
            binary("prometheus"),
            f"--config.file={prometheus_config(tmp_path)}",
            f"--storage.tsdb.path={tmp_path / 'prometheus'}",
            f"--web.listen-address=127.0.0.1:{PORTS['prometheus']}",
            # Alerts of the first evaluations are dropped while Prometheus still discovers its
            # Alertmanager; they are sent again after this delay (default 1m).
            "--rules.alert.resend-delay=1s",
        ),
        health_url=f"http://127.0.0.1:{PORTS['prometheus']}/-/ready",
    )
    binary("prometheus-alertmanager")  # a missing package fails with the install command
    alertmanager = alertmanager_component(tmp_path, alertmanager_config(tmp_path), PORTS["alertmanager"])
    stack = Stack(tmp_path, [alertmanager, prometheus])
    try:
        assert stack.up(timeout=30), f"Prometheus and Alertmanager did not come up; logs in {stack.log_dir}"
        yield stack
    finally:
        stack.down(timeout=10)


@pytest.mark.stack
def test_a_firing_rule_reaches_the_webhook_of_its_severity(alerting, webhook):
    seen = webhook.alerts_until({"VigilTestPage", "VigilTestTicket"}, timeout=30)

    page_path, page = seen["VigilTestPage"][0]
    assert (page_path, page["receiver"], page["status"]) == ("/vigil-critical", "vigil-critical", "firing")
    [alert] = page["alerts"]
    assert alert["labels"]["severity"] == "critical"
    assert alert["annotations"]["summary"] == "a page"

    ticket_path, ticket = seen["VigilTestTicket"][0]
    assert (ticket_path, ticket["receiver"]) == ("/vigil-warning", "vigil-warning")
    assert ticket["alerts"][0]["labels"]["severity"] == "warning"
    # Each went to its own receiver only.
    assert {path for path, _ in seen["VigilTestPage"]} == {"/vigil-critical"}
    assert {path for path, _ in seen["VigilTestTicket"]} == {"/vigil-warning"}


@pytest.mark.stack
def test_alertmanager_runs_alone_on_loopback(alerting):
    status = requests.get(f"http://127.0.0.1:{PORTS['alertmanager']}/api/v2/status", timeout=5).json()
    # No cluster: nothing gossips on 9094 (on every interface, by default), over TCP or UDP.
    assert status["cluster"]["status"] == "disabled"
    [component] = [c for c in alerting.components if c.name == "alertmanager"]
    sockets = psutil.Process(alerting.pid(component)).net_connections(kind="inet")
    assert {s.laddr.ip for s in sockets} == {"127.0.0.1"}
    assert {s.laddr.port for s in sockets if s.status == psutil.CONN_LISTEN} == {PORTS["alertmanager"]}
