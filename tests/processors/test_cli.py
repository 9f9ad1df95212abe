"""`vigil serve` as an operator runs it: settings errors, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import requests

from tests.ports import free_port


def serve(*args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "vigil.processors.cli", "serve", *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_bad_setting_is_a_clear_error():
    process = serve(VIGIL_SIDECAR_WORKERS="many")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "VIGIL_SIDECAR_WORKERS='many'" in out


def test_unknown_scorer_is_a_clear_error():
    process = serve("--scorers", "nonexistent", "--endpoint", f"127.0.0.1:{free_port()}")
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "unknown scorer 'nonexistent'" in out


def test_serves_health_and_exits_cleanly_on_sigterm():
    health = f"127.0.0.1:{free_port()}"
    process = serve("--endpoint", f"127.0.0.1:{free_port()}", "--health-endpoint", health)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"http://{health}/health/live", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, process.stdout.read()
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0
    assert "received SIGTERM" in out and "draining" in out
