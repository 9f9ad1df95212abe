"""Traffic that gives the stack's scorers something to find, quickly: attacks, spans far slower than
their operation's baseline, failing server spans, and a metric series long enough to get an anomaly
score. Each sends telemetrygen's spans or points, under a service name of the caller's, into the
session stack's collector and returns within seconds; what it causes shows in the backends within a
scrape or two. Not through the demo app: tests count its requests in Jaeger
(tests/e2e/test_pipeline.py), and tests/e2e/test_threats.py attacks it already."""

from __future__ import annotations

from tests.e2e.backends import jaeger_spans, wait_for
from tests.e2e.load import run_telemetrygen

ATTACK_QUERY = "url.query=\"q=x' OR '1'='1\""
CLIENT = "203.0.113.9"
# The anomaly scorer's default warm-up: spans per operation, points per metric series.
WARMUP_SPANS = 30
WARMUP_POINTS = 30


def attack_traces(telemetrygen: str, service: str, traces: int = 3) -> None:
    """Traces of ``service`` whose spans carry a SQL injection in their query string, from one client
    (203.0.113.9): their server spans score >= 0.5, category sqli."""
    attributes = [
        "--telemetry-attributes",
        ATTACK_QUERY,
        "--telemetry-attributes",
        f'client.address="{CLIENT}"',
    ]
    run_telemetrygen(telemetrygen, "traces", "--traces", str(traces), "--service", service, *attributes)


def ordinary_traces(telemetrygen: str, service: str, traces: int = 3) -> None:
    attributes = ["--telemetry-attributes", 'url.query="q=spring+jacket"']
    run_telemetrygen(telemetrygen, "traces", "--traces", str(traces), "--service", service, *attributes)


def anomalous_traces(telemetrygen: str, service: str, slow: int = 5) -> None:
    """Traces of ``service`` (a client and a server span each) that warm its baselines at 20 ms a
    span, then, once those are scored (in Jaeger), ``slow`` traces of 3 s spans: those score >= 0.5
    for latency. Sent together, one batch would hold both, scored before the baseline learned.
    telemetrygen only stamps the durations: it takes milliseconds."""
    warmup = WARMUP_SPANS + 10
    run_telemetrygen(
        telemetrygen, "traces", "--traces", str(warmup), "--service", service, "--span-duration", "20ms"
    )
    learned = wait_for(lambda: len(jaeger_spans(service)), lambda n: n >= 2 * warmup, timeout=30)
    assert learned >= 2 * warmup, f"{learned} of {2 * warmup} warm-up spans reached Jaeger"
    run_telemetrygen(
        telemetrygen, "traces", "--traces", str(slow), "--service", service, "--span-duration", "3s"
    )


def failing_traces(telemetrygen: str, service: str, traces: int = 5) -> None:
    """Traces whose spans, the server span too, end in error."""
    run_telemetrygen(
        telemetrygen, "traces", "--traces", str(traces), "--service", service, "--status-code", "Error"
    )


def metric_series(telemetrygen: str, service: str) -> None:
    """One gauge series of ``service`` (telemetrygen's ``gen``), past the warm-up: the sidecar writes
    its vigil.anomaly.score."""
    run_telemetrygen(telemetrygen, "metrics", "--metrics", str(WARMUP_POINTS + 10), "--service", service)
