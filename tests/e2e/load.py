"""Sending telemetry into the stack's collector with telemetrygen."""

from __future__ import annotations

import subprocess

# --rate 0: no throttling (telemetrygen sends one item a second by default).
OTLP = ["--otlp-insecure", "--otlp-endpoint", "127.0.0.1:4317", "--rate", "0"]


def run_telemetrygen(telemetrygen: str, signal: str, *args: str) -> None:
    subprocess.run([telemetrygen, signal, *OTLP, *args], check=True, capture_output=True, timeout=120)
