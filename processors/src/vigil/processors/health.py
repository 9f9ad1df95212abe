"""The sidecar's HTTP endpoint for probes and scraping (``VIGIL_SIDECAR_HEALTH_ENDPOINT``).

================  ==============================================================================
path              answer
================  ==============================================================================
``/health/live``  200 while the process serves: restart it only if this fails
``/health/ready`` 200 when it can do useful work (return endpoint connected, not shutting down),
                  503 otherwise; the JSON body says why
``/health``       same as ``/health/ready``
``/metrics``      the sidecar's own metrics in Prometheus text format (see :mod:`self_metrics`)
================  ==============================================================================
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

Readiness = Callable[[], tuple[bool, dict[str, object]]]


def split_host_port(address: str) -> tuple[str, int]:
    """``"127.0.0.1:13134"`` -> ``("127.0.0.1", 13134)``; ``"[::1]:80"`` -> ``("::1", 80)``."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {address!r}")
    return host.strip("[]"), int(port)


class HealthServer:
    """A small threaded HTTP server answering liveness, readiness and metrics requests."""

    def __init__(self, address: str, readiness: Readiness) -> None:
        self._readiness = readiness
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._answer(self)

            def log_message(self, format: str, *args: object) -> None:  # probes are not news
                pass

        self._httpd = ThreadingHTTPServer(split_host_port(address), Handler)
        self._httpd.daemon_threads = True
        self.address = "{}:{}".format(*self._httpd.server_address[:2])
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="vigil-health", daemon=True)

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0].rstrip("/")
        if path == "/metrics":
            self._send(request, 200, generate_latest(), CONTENT_TYPE_LATEST)
        elif path == "/health/live":
            self._send_json(request, 200, {"status": "alive"})
        elif path in ("/health", "/health/ready"):
            ready, detail = self._readiness()
            self._send_json(
                request, 200 if ready else 503, {"status": "ready" if ready else "not ready"} | detail
            )
        else:
            self._send_json(request, 404, {"error": f"no such path {path!r}"})

    def _send_json(self, request: BaseHTTPRequestHandler, status: int, body: dict[str, object]) -> None:
        self._send(request, status, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
