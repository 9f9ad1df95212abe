"""Spans per second through collector -> Jaeger, without the scoring sidecar and with it.

One run measures both modes on loopback, with the same collector config file
(``collector-config/vigil.yaml``) and the same load:

``direct``
    the collector's ``traces/score`` pipeline hands its data straight to ``traces/out`` (the
    command line adds ``--set=service::pipelines::traces/score::exporters=[forward/traces]``),
    so everything but the sidecar hop is the same; no sidecar runs.
``sidecar``
    the config as is: ``traces/in`` -> failover -> ``traces/score`` -> sidecar -> ``otlp/return``
    -> ``traces/out`` -> Jaeger.
``sidecar-xN`` (with ``--sidecars N``, N > 1)
    N sidecar processes behind the collector's loadbalancing exporter, routing by trace id
    (``collector-config/overlays/scale-out.yaml`` merged over the same file, the sidecars listed
    in ``VIGIL_SIDECAR_ENDPOINTS``); otherwise as ``sidecar``. The report then adds the ratios
    ``sidecar-xN`` / ``sidecar``: what N processes gain over one.

Each measurement starts fresh processes (Jaeger, the collector and, in sidecar mode, the sidecar),
waits until each is healthy, then has ``telemetrygen`` send a bounded number of spans unthrottled.
The clock starts when telemetrygen starts and stops when the collector's
``otelcol_exporter_sent_spans_total{exporter="otlp/jaeger"}`` reaches the number of spans sent
(polled every 100 ms): spans/s is spans over that time. CPU seconds (user + system, from
``/proc/PID/stat``; for telemetrygen its whole life, from ``wait4``) are taken per process over the
measured window, extended until Jaeger has stored every span so that its share is complete, and
reported as CPU microseconds per span.

Every run also checks that nothing was lost: the collector received, and Jaeger stored, exactly
the spans telemetrygen generated (and the sidecar saw them all in sidecar mode). telemetrygen's
SDK drops spans silently when its export queue is full (2048 spans by default), so the benchmark
sizes that queue (``OTEL_BSP_MAX_QUEUE_SIZE``) to hold the whole load.

The modes alternate (direct, sidecar[, sidecar-xN], direct, ...) for ``--rounds`` rounds; the summary
is the median of each number per mode, and the ratios compare those medians. Machines are noisy:
only ratios from one run mean anything, absolute numbers are for this machine at this moment.

Usage (from the checkout; about 20 seconds with the defaults)::

    .venv/bin/python bench/pipeline/run.py [--spans 200000] [--workers 2] [--rounds 3]
                                           [--scorers threat] [--sidecars 2]

Every process listens on 127.0.0.1 on ports of its own (collector 24317/24318/24328, health 23133,
telemetry 28888, Prometheus exporter 28889; sidecar 24327, health 23134, the Nth sidecar of
``--sidecars`` 10 ports further each (24337/23144, ...); Jaeger 25317/25318,
25686/25685, health 25133, metrics 25269), clear of the local stack's default ports and of the
kernel's ephemeral range (32768-60999, where outgoing connections take their ports), so it can run
next to ``vigil up`` or the end-to-end tests (which then add noise to the numbers). Every process
started is stopped at the end, on errors and on Ctrl-C too. The last line printed is a JSON object
with every number.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from vigil.processors.stack.components import COLLECTOR_FLAGS, Component, find_binary, jaeger_component
from vigil.processors.stack.runner import Stack

HOME = Path(__file__).resolve().parents[2]
COLLECTOR_CONFIG = HOME / "collector-config" / "vigil.yaml"
SCALE_OUT_OVERLAY = HOME / "collector-config" / "overlays" / "scale-out.yaml"
PYTHON = sys.executable

HOST = "127.0.0.1"
PORTS: Mapping[str, int] = {
    "collector_otlp_grpc": 24317,
    "collector_otlp_http": 24318,
    "collector_return": 24328,
    "collector_health": 23133,
    "collector_prometheus": 28889,
    "collector_telemetry": 28888,
    "sidecar_otlp": 24327,
    "sidecar_health": 23134,
    "jaeger_otlp_grpc": 25317,
    "jaeger_otlp_http": 25318,
    "jaeger_query": 25686,
    "jaeger_query_grpc": 25685,
    "jaeger_health": 25133,
    "jaeger_metrics": 25269,
}


def addr(port: str) -> str:
    return f"{HOST}:{PORTS[port]}"


def url(port: str, path: str) -> str:
    return f"http://{addr(port)}{path}"


COLLECTOR_METRICS = url("collector_telemetry", "/metrics")
JAEGER_METRICS = url("jaeger_metrics", "/metrics")
# --sidecars N: the ith sidecar (from 0) listens 10 ports above the first, in the benchmark's range.
MAX_SIDECARS = 8
SIDECAR_PORT_STEP = 10


def sidecar_addr(index: int, port: str) -> str:
    """``port`` (sidecar_otlp or sidecar_health) of the ``index``th sidecar, from 0."""
    return f"{HOST}:{PORTS[port] + SIDECAR_PORT_STEP * index}"


def sidecar_count(mode: str) -> int:
    """Sidecar processes in ``mode``: 0 (direct), 1 (sidecar) or N (sidecar-xN)."""
    return 0 if mode == "direct" else int(mode.partition("-x")[2] or 1)


def modes_for(sidecars: int) -> tuple[str, ...]:
    return ("direct", "sidecar") + ((f"sidecar-x{sidecars}",) if sidecars > 1 else ())


# The command-line change that turns the sidecar config into the direct one.
DIRECT_OVERRIDE = "--set=service::pipelines::traces/score::exporters=[forward/traces]"
POLL_SECONDS = 0.1
HEALTH_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
# After the collector delivered everything, how long Jaeger may take to store the last batch.
STORE_TIMEOUT = 10.0
# A sender busy for more than this share of the window is what limits throughput.
SENDER_BOUND = 0.8
# Processes whose CPU is measured, in table order; telemetrygen last.
PROCESSES = ("collector", "sidecar", "jaeger", "telemetrygen")


@dataclass(frozen=True)
class Load:
    """What telemetrygen sends: ``workers`` x ``traces`` traces of ``1 + child_spans`` spans."""

    workers: int
    traces: int
    child_spans: int

    @classmethod
    def for_spans(cls, spans: int, workers: int, child_spans: int) -> Load:
        """The smallest load of at least ``spans`` spans."""
        return cls(workers, math.ceil(spans / (workers * (child_spans + 1))), child_spans)

    @property
    def spans(self) -> int:
        return self.workers * self.traces * (self.child_spans + 1)

    def argv(self, endpoint: str | None = None) -> list[str]:
        """telemetrygen's command line, sending to ``endpoint`` (default: the collector's OTLP port)."""
        return [
            find_binary("telemetrygen"),
            "traces",
            f"--traces={self.traces}",
            f"--workers={self.workers}",
            f"--child-spans={self.child_spans}",
            "--rate=0",
            "--service=vigil-bench",
            "--otlp-insecure",
            f"--otlp-endpoint={endpoint or addr('collector_otlp_grpc')}",
        ]

    def env(self) -> dict[str, str]:
        # The SDK's batch span processor drops (silently) what does not fit its queue.
        return {"OTEL_BSP_MAX_QUEUE_SIZE": str(max(2048, self.spans))}


@dataclass
class Run:
    """One measurement of one mode."""

    mode: str
    round: int
    spans: int
    seconds: float  # telemetrygen started -> the collector sent every span to Jaeger
    cpu_window: float  # the same, extended until Jaeger stored every span
    sender_seconds: float  # telemetrygen's wall time, from its start to its exit
    cpu_seconds: dict[str, float]  # per process, over cpu_window (telemetrygen: its whole life)
    counts: dict[str, int]  # spans seen at each stage
    split: list[int]  # spans each sidecar forwarded (several sidecars: how even the routing was)

    def figures(self) -> dict[str, float]:
        """What the report compares: throughput, CPU microseconds per span, busy cores."""
        cpu_us = {f"{name}_cpu_us_per_span": 1e6 * cpu / self.spans for name, cpu in self.cpu_seconds.items()}
        return {
            "spans_per_second": self.spans / self.seconds,
            "seconds": self.seconds,
            "sender_seconds": self.sender_seconds,
            **cpu_us,
            "total_cpu_us_per_span": sum(cpu_us.values()),
            "busy_cores": sum(self.cpu_seconds.values()) / self.cpu_window,
        }

    def mismatches(self) -> dict[str, int]:
        """The stages that did not see exactly the spans sent (lost or duplicated)."""
        return {stage: count for stage, count in self.counts.items() if count != self.spans}

    def summary(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "round": self.round,
            **{k: round(v, 3) for k, v in self.figures().items()},
            "cpu_window_seconds": round(self.cpu_window, 3),
            "cpu_seconds": {k: round(v, 3) for k, v in self.cpu_seconds.items()},
            "counts": self.counts,
            **({"sidecar_split": self.split} if len(self.split) > 1 else {}),
        }


class BenchError(RuntimeError):
    pass


# --- processes ---------------------------------------------------------------------------------


def base_env() -> dict[str, str]:
    """This environment without OTEL_* and VIGIL_* variables: another stack's settings stay out."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "VIGIL_"))}


def collector_argv(mode: str) -> tuple[str, ...]:
    """The collector's command line: vigil.yaml, with the scale-out overlay for several sidecars,
    with the sidecar hop cut out for direct."""
    configs = [COLLECTOR_CONFIG] + ([SCALE_OUT_OVERLAY] if sidecar_count(mode) > 1 else [])
    return (
        find_binary("otelcol-vigil"),
        *(arg for config in configs for arg in ("--config", str(config))),
        *COLLECTOR_FLAGS,
        *((DIRECT_OVERRIDE,) if mode == "direct" else ()),
    )


def sidecar_name(index: int, count: int) -> str:
    return "sidecar" if count == 1 else f"sidecar-{index + 1}"


def components(mode: str, log_dir: Path, scorers: str | None) -> list[Component]:
    """The pipeline's processes for ``mode``, in start order: Jaeger and the sidecars listen before
    the collector starts, since a refused first connection puts the collector's gRPC client into
    backoff, and its first exports then fail and wait for a retry (hundreds of milliseconds)."""
    jaeger = jaeger_component(
        HOME,
        {n.removeprefix("jaeger_"): port for n, port in PORTS.items() if n.startswith("jaeger_")},
    )
    count = sidecar_count(mode)
    collector = Component(
        "collector",
        collector_argv(mode),
        env=collector_env(log_dir, max(count, 1)),
        health_url=url("collector_health", "/"),
    )
    sidecars = [
        Component(
            sidecar_name(index, count),
            (
                PYTHON,
                "-m",
                "vigil.processors.cli",
                "serve",
                f"--endpoint={sidecar_addr(index, 'sidecar_otlp')}",
                f"--return-endpoint={addr('collector_return')}",
                f"--health-endpoint={sidecar_addr(index, 'sidecar_health')}",
                *([f"--scorers={scorers}"] if scorers else []),
            ),
            # Ready only once connected to the collector's return receiver, which starts after it.
            health_url=f"http://{sidecar_addr(index, 'sidecar_health')}/health/ready",
            started_url=f"http://{sidecar_addr(index, 'sidecar_health')}/health/live",
        )
        for index in range(count)
    ]
    return [jaeger, *sidecars, collector]


def sidecar_metrics_urls(mode: str) -> list[str]:
    return [f"http://{sidecar_addr(i, 'sidecar_health')}/metrics" for i in range(sidecar_count(mode))]


def collector_env(log_dir: Path, sidecars: int = 1) -> dict[str, str]:
    return {
        "VIGIL_COLLECTOR_OTLP_GRPC_ENDPOINT": addr("collector_otlp_grpc"),
        "VIGIL_COLLECTOR_OTLP_HTTP_ENDPOINT": addr("collector_otlp_http"),
        "VIGIL_COLLECTOR_RETURN_ENDPOINT": addr("collector_return"),
        "VIGIL_COLLECTOR_HEALTH_ENDPOINT": addr("collector_health"),
        "VIGIL_COLLECTOR_PROMETHEUS_ENDPOINT": addr("collector_prometheus"),
        "VIGIL_COLLECTOR_TELEMETRY_HOST": HOST,
        "VIGIL_COLLECTOR_TELEMETRY_PORT": str(PORTS["collector_telemetry"]),
        # Set in direct mode too: the metrics and logs pipelines still name the sidecar.
        "VIGIL_SIDECAR_ENDPOINT": addr("sidecar_otlp"),
        # The scale-out overlay's list (read only with the overlay, for several sidecars).
        "VIGIL_SIDECAR_ENDPOINTS": ",".join(sidecar_addr(i, "sidecar_otlp") for i in range(sidecars)),
        "VIGIL_JAEGER_OTLP_ENDPOINT": addr("jaeger_otlp_grpc"),
        "VIGIL_LOG_EXPORT_PATH": str(log_dir / "otlp-logs.jsonl"),
        "VIGIL_COLLECTOR_STORAGE_DIR": str(log_dir / "collector-queues"),
    }


@contextlib.contextmanager
def pipeline(mode: str, log_dir: Path, scorers: str | None) -> Iterator[Stack]:
    """The pipeline's processes, started and healthy; all stopped on the way out."""
    stack = Stack(log_dir, components(mode, log_dir, scorers), environ=base_env(), progress=sys.stderr)
    try:
        if not stack.up(timeout=HEALTH_TIMEOUT):
            raise BenchError(f"{mode}: the pipeline did not come up; logs in {stack.log_dir}")
        yield stack
    finally:
        stack.down(timeout=STOP_TIMEOUT)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process (all its threads)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # fields from the 3rd (state); comm may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sender:
    """telemetrygen sending ``load``, reaped by a thread the moment it exits: its exit time and the
    CPU seconds of its whole life (``wait4``), which /proc no longer has once it is gone."""

    def __init__(self, load: Load, log_dir: Path) -> None:
        self.log = log_dir / "telemetrygen.log"
        self.started = time.monotonic()
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                load.argv(),
                env=base_env() | load.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.exited_at: float | None = None
        self.cpu_seconds = 0.0
        self._reaped = threading.Event()
        threading.Thread(target=self._reap, name="reap-telemetrygen", daemon=True).start()

    def _reap(self) -> None:
        _, status, usage = os.wait4(self.popen.pid, 0)
        self.cpu_seconds = usage.ru_utime + usage.ru_stime
        self.popen.returncode = os.waitstatus_to_exitcode(status)
        self.exited_at = time.monotonic()
        self._reaped.set()

    def check(self) -> None:
        """Raises if telemetrygen has exited with an error."""
        if self._reaped.is_set() and self.popen.returncode != 0:
            code = self.popen.returncode
            tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-15:])
            raise BenchError(f"telemetrygen failed ({code}):\n{tail}")

    def wait(self, timeout: float = STOP_TIMEOUT) -> float:
        """Waits for telemetrygen to exit; returns its wall time."""
        if not self._reaped.wait(timeout):
            raise BenchError(f"telemetrygen still running {timeout:.0f}s after its spans were delivered")
        self.check()
        assert self.exited_at is not None
        return self.exited_at - self.started

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if self._reaped.is_set():
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            self._reaped.wait(STOP_TIMEOUT)


# --- metrics -----------------------------------------------------------------------------------


def scrape(metrics_url: str) -> str:
    response = requests.get(metrics_url, timeout=2)
    response.raise_for_status()
    return response.text


def metric(text: str, name: str, **labels: str) -> int:
    """The sum of the samples of ``name`` whose labels include ``labels`` (Prometheus text)."""
    total = 0.0
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{(.*)\}})?\s+(\S+)", re.MULTILINE)
    for match in pattern.finditer(text):
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return int(total)


def delivered(text: str) -> int:
    return metric(text, "otelcol_exporter_sent_spans_total", exporter="otlp/jaeger")


def stored(text: str) -> int:
    return metric(text, "otelcol_exporter_sent_spans_total", exporter="jaeger_storage_exporter")


def counts(mode: str) -> dict[str, int]:
    """Every stage's span count, for the loss check."""
    collector = scrape(COLLECTOR_METRICS)
    found = {
        "collector_received": metric(collector, "otelcol_receiver_accepted_spans_total", receiver="otlp"),
        "collector_sent_to_jaeger": delivered(collector),
        "jaeger_stored": stored(scrape(JAEGER_METRICS)),
    }
    if mode != "direct":
        found["sidecar_items"] = sum(sidecar_split(mode))
        found["collector_returned"] = metric(
            collector, "otelcol_receiver_accepted_spans_total", receiver="otlp/return"
        )
    return found


def sidecar_split(mode: str) -> list[int]:
    """Spans each sidecar forwarded, in sidecar order."""
    return [
        metric(scrape(u), "vigil_sidecar_items_total", signal="traces") for u in sidecar_metrics_urls(mode)
    ]


# --- one measurement ---------------------------------------------------------------------------


def poll_until(
    metrics_url: str, count: Callable[[str], int], target: int, deadline: float, check: Callable[[], None]
) -> float | None:
    """Polls until ``count(metrics) >= target``: the monotonic time it did, None at ``deadline``.
    ``check()`` runs before each poll and may raise to give up early."""
    while time.monotonic() < deadline:
        check()
        if count(scrape(metrics_url)) >= target:
            return time.monotonic()
        time.sleep(POLL_SECONDS)
    return None


def measure(mode: str, round_: int, load: Load, stack: Stack, timeout: float) -> Run:
    """Sends the load once; measures until the collector delivered it and Jaeger stored it."""
    pids = {c.name: stack.pid(c) for c in stack.components}
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    sender = Sender(load, stack.log_dir)
    try:
        sent = poll_until(COLLECTOR_METRICS, delivered, load.spans, sender.started + timeout, sender.check)
        if sent is None:
            raise incomplete(
                mode, load, f"the collector had not sent every span to Jaeger after {timeout:g}s"
            )
        done = poll_until(JAEGER_METRICS, stored, load.spans, sent + STORE_TIMEOUT, sender.check)
        if done is None:
            raise incomplete(mode, load, f"Jaeger had not stored every span {STORE_TIMEOUT:g}s later")
        after = {name: cpu_seconds(pid) for name, pid in pids.items()}
        sender_seconds = sender.wait()
    finally:
        sender.stop()
    cpu: dict[str, float] = {}
    for name in pids:  # several sidecars count as one "sidecar" column
        key = "sidecar" if name.startswith("sidecar") else name
        cpu[key] = cpu.get(key, 0.0) + after[name] - before[name]
    cpu["telemetrygen"] = sender.cpu_seconds
    return Run(
        mode,
        round_,
        load.spans,
        sent - sender.started,
        done - sender.started,
        sender_seconds,
        cpu,
        counts(mode),
        sidecar_split(mode),
    )


def incomplete(mode: str, load: Load, what: str) -> BenchError:
    """The error for a run that timed out, with every stage's count to show where spans stopped."""
    return BenchError(
        f"{mode}: {what}; counts of {load.spans} spans: {counts(mode)} "
        "(telemetrygen drops, silently, spans its export queue cannot hold)"
    )


def run_once(mode: str, round_: int, load: Load, args: argparse.Namespace, log_dir: Path) -> Run:
    mode_dir = log_dir / f"{round_}-{mode}"
    mode_dir.mkdir()
    with pipeline(mode, mode_dir, args.scorers) as stack:
        return measure(mode, round_, load, stack, args.timeout)


# --- before the runs ---------------------------------------------------------------------------


def check_ports_free(sidecars: int = 1) -> None:
    """Fails early if anything (say, a previous run's leftovers) listens on a port of the plan."""
    extra = {
        f"{name} #{i + 1}": port + SIDECAR_PORT_STEP * i
        for i in range(1, sidecars)
        for name, port in PORTS.items()
        if name.startswith("sidecar_")
    }
    for name, port in {**PORTS, **extra}.items():
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((HOST, port)) == 0:
                raise BenchError(f"{HOST}:{port} ({name}) is in use: is a previous benchmark still running?")


def check_configs(log_dir: Path, modes: Sequence[str]) -> None:
    """``otelcol-vigil validate`` accepts each mode's command line (the direct mode's ``--set``,
    the scale-out overlay)."""
    for mode in modes:
        argv = collector_argv(mode)
        argv = (argv[0], "validate", *argv[1:])
        env = base_env() | collector_env(log_dir, max(sidecar_count(mode), 1))
        result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0:
            raise BenchError(f"the {mode} mode's config is invalid: {result.stderr.strip()}")


# --- report ------------------------------------------------------------------------------------


def medians(runs: Sequence[Run]) -> dict[str, dict[str, float]]:
    """Per mode, the median of each figure over its rounds (each figure on its own)."""
    result = {}
    for mode in dict.fromkeys(run.mode for run in runs):
        figures = [run.figures() for run in runs if run.mode == mode]
        result[mode] = {key: statistics.median(f[key] for f in figures) for key in figures[0]}
    return result


def ratios(
    median: Mapping[str, Mapping[str, float]], numerator: str = "sidecar", denominator: str = "direct"
) -> dict[str, float | None]:
    """numerator/denominator of the medians ("pipeline" is the collector plus the sidecars); None
    for a CPU figure too small to measure (a 10 ms clock tick per process is the resolution)."""
    direct, sidecar = median[denominator], median[numerator]

    def pipeline_cpu(figures: Mapping[str, float]) -> float:
        return figures["collector_cpu_us_per_span"] + figures.get("sidecar_cpu_us_per_span", 0.0)

    def ratio(numerator: float, denominator: float) -> float | None:
        return numerator / denominator if denominator else None

    return {
        "throughput": ratio(sidecar["spans_per_second"], direct["spans_per_second"]),
        "collector_cpu_per_span": ratio(
            sidecar["collector_cpu_us_per_span"], direct["collector_cpu_us_per_span"]
        ),
        "pipeline_cpu_per_span": ratio(pipeline_cpu(sidecar), pipeline_cpu(direct)),
        "total_cpu_per_span": ratio(sidecar["total_cpu_us_per_span"], direct["total_cpu_us_per_span"]),
    }


RATIO_LABELS = {
    "throughput": "throughput",
    "collector_cpu_per_span": "collector CPU per span",
    "pipeline_cpu_per_span": "collector+sidecar CPU per span",
    "total_cpu_per_span": "total CPU per span",
}
# Table columns: (heading, width, figure key or None for the row's label cells).
COLUMNS = (
    ("mode", 10, None),
    ("round", 6, None),
    ("spans/s", 9, "spans_per_second"),
    ("seconds", 7, "seconds"),
    ("sender", 6, "sender_seconds"),
    *((name, max(len(name), 7), f"{name}_cpu_us_per_span") for name in (*PROCESSES, "total")),
    ("cores", 5, "busy_cores"),
)


def table_row(mode: str, label: str, figures: Mapping[str, float] | None) -> str:
    """One line of the table; ``figures`` None: the heading."""
    cells = []
    for heading, width, key in COLUMNS:
        if figures is None:
            text = heading
        elif key is None:
            text = mode if heading == "mode" else label
        elif key not in figures:
            text = "-"
        else:
            text = f"{figures[key]:,.0f}" if key == "spans_per_second" else f"{figures[key]:.2f}"
        cells.append(f"{text:<{width}}" if key is None else f"{text:>{width}}")
    return "  ".join(cells)


def rounded(ratio: Mapping[str, float | None]) -> dict[str, float | None]:
    return {k: None if v is None else round(v, 3) for k, v in ratio.items()}


def report(load: Load, runs: Sequence[Run], scorers: str | None, sidecars: int = 1) -> dict[str, object]:
    """Prints the table and the ratios; returns every number for the JSON line."""
    median = medians(runs)
    ratio = ratios(median)
    scaled = f"sidecar-x{sidecars}"
    scale_ratio = ratios(median, scaled, "sidecar") if sidecars > 1 else {}
    print(
        f"\n{load.spans:,} spans per run ({load.workers} workers x {load.traces:,} traces x "
        f"{load.child_spans + 1} spans), telemetrygen unthrottled, sidecar scorers: {scorers or 'none'}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        "seconds: until the collector sent every span to Jaeger; sender: until telemetrygen exited;\n"
        "collector..total: CPU microseconds per span; cores: all these processes' CPU / window\n"
    )
    print(table_row("", "", None))
    for run in runs:
        print(table_row(run.mode, str(run.round), run.figures()))
    for mode in median:
        print(table_row(mode, "median", median[mode]))
    print()
    width = max(map(len, RATIO_LABELS.values()))
    for key, label in RATIO_LABELS.items():
        value = ratio[key]
        print(f"{label:<{width}}  sidecar/direct = {'n/a' if value is None else f'{value:.2f}x'}")
    for key, label in RATIO_LABELS.items() if scale_ratio else ():
        value = scale_ratio[key]
        print(f"{label:<{width}}  {scaled}/sidecar = {'n/a' if value is None else f'{value:.2f}x'}")
    splits = [run.split for run in runs if len(run.split) > 1]
    if splits:
        shares = [f"{min(split) / sum(split):.0%}" for split in splits if sum(split)]
        print(f"{scaled}: the least loaded sidecar's share of the spans, per run: {', '.join(shares)}")
    mismatches = {f"{run.mode}#{run.round}": run.mismatches() for run in runs if run.mismatches()}
    if mismatches:
        print(f"LOSS: some stage did not count {load.spans} spans: {mismatches}")
    else:
        print(f"no loss: in every run every stage counted exactly {load.spans:,} spans")
    sending = min(m["sender_seconds"] / m["seconds"] for m in median.values())
    if sending > SENDER_BOUND:
        print(
            f"note: telemetrygen was still sending for {sending:.0%}+ of the window in every mode: the "
            "sender limits throughput, so CPU per span says more than spans/s"
        )
    return {
        "benchmark": "pipeline",
        "spans": load.spans,
        "workers": load.workers,
        "child_spans": load.child_spans,
        "scorers": scorers or "",
        "runs": [run.summary() for run in runs],
        "median": {mode: {k: round(v, 3) for k, v in figures.items()} for mode, figures in median.items()},
        "ratios_sidecar_over_direct": rounded(ratio),
        # sidecar-xN over sidecar (one process), with --sidecars N > 1.
        **({"ratios_sidecars_over_one": rounded(scale_ratio)} if scale_ratio else {}),
        "sidecars": sidecars,
        "cpus": os.cpu_count(),
        "mismatches": mismatches,
    }


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spans", type=int, default=200_000, help="spans per run (default 200000)")
    parser.add_argument("--workers", type=int, default=2, help="telemetrygen workers (default 2)")
    parser.add_argument("--child-spans", type=int, default=9, help="child spans per trace (default 9)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each mode, alternating (default 3)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds allowed per run (default 120)")
    parser.add_argument("--scorers", help="the sidecar's --scorers (default: its own default, none)")
    parser.add_argument(
        "--sidecars",
        type=int,
        default=1,
        help=f"also measure N sidecars behind the loadbalancing exporter (2..{MAX_SIDECARS}; default 1: no)",
    )
    parser.add_argument("--log-dir", type=Path, help="keep the processes' logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    if min(args.spans, args.workers, args.child_spans, args.rounds) < 1:
        parser.error("--spans, --workers, --child-spans and --rounds must be at least 1")
    if not 1 <= args.sidecars <= MAX_SIDECARS:
        parser.error(f"--sidecars must be from 1 to {MAX_SIDECARS}")
    return args


def run_all(args: argparse.Namespace, log_dir: Path) -> dict[str, object]:
    load = Load.for_spans(args.spans, args.workers, args.child_spans)
    modes = modes_for(args.sidecars)
    check_ports_free(args.sidecars)
    check_configs(log_dir, modes)
    runs = []
    for round_ in range(1, args.rounds + 1):
        for mode in modes:
            print(f"round {round_}/{args.rounds} {mode}: ", end="", file=sys.stderr, flush=True)
            run = run_once(mode, round_, load, args, log_dir)
            print(f"{run.figures()['spans_per_second']:,.0f} spans/s", file=sys.stderr, flush=True)
            runs.append(run)
    return report(load, runs, args.scorers, args.sidecars)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C does, through every stop().
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    with contextlib.ExitStack() as stack:
        if args.log_dir:
            args.log_dir.mkdir(parents=True, exist_ok=True)
            log_dir = Path(tempfile.mkdtemp(prefix="pipeline-", dir=args.log_dir))
        else:
            log_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vigil-bench-")))
        try:
            summary = run_all(args, log_dir)
        except (BenchError, FileNotFoundError) as exc:
            started_any = any(log_dir.iterdir())
            hint = " (--log-dir DIR keeps the processes' logs)" if started_any and not args.log_dir else ""
            print(f"\nbench/pipeline: {exc}{hint}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nbench/pipeline: interrupted; every process it started is stopped", file=sys.stderr)
            return 130
    print(json.dumps(summary, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
