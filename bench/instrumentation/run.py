"""The cost of Vigil's distro to a web app, next to the stock ``opentelemetry-distro`` and to no
instrumentation at all, measured in one run.

The app is the FastAPI fixture app (``tests/apps/fastapi_app.py``) under uvicorn, one process:
``GET /orders/<n>`` reads sqlite, calls the app's own ``/stock/<item>`` over HTTP and logs a line. It
runs three ways:

``none``
    ``python -m uvicorn ...`` in Vigil's environment (``.venv``), without ``opentelemetry-instrument``.
``stock``
    ``opentelemetry-instrument python -m uvicorn ...`` in a throwaway environment with the stock
    ``opentelemetry-distro`` and the same instrumentation packages, libraries and versions as
    ``.venv`` (the stock distro must not share an environment with Vigil's: which one
    ``opentelemetry-instrument`` picks would be arbitrary). It is created on first use under
    ``~/.cache/vigil/bench-venvs`` (about a minute) and reused while the versions are the same.
    Logging auto-instrumentation is switched on (``OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED``,
    which Vigil's distro turns on by default), so both export the same three signals.
``vigil``
    ``opentelemetry-instrument python -m uvicorn ...`` in ``.venv``: Vigil's distro with its defaults
    (resource detectors, system and container metrics, logs).

Both instrumented variants export over OTLP/gRPC to a real collector (``otelcol-vigil`` with an OTLP
receiver and the ``debug`` exporter, on free loopback ports), with ``OTEL_METRIC_EXPORT_INTERVAL`` at
10 s. What it measures:

- **throughput, latency and CPU per request**: for each variant, alternating (none, stock, vigil,
  none, ...) for ``--rounds`` rounds, a fresh server takes ``--warmup`` seconds of load, then
  ``--duration`` seconds measured: ``--connections`` keep-alive connections, each sending its next
  request when the last one answered. Requests per second, p50 and p99 latency, and the server's CPU
  time per request (steadier than requests per second where other work shares the machine); the
  median over the rounds.
- **start-up**: from the server's process start to the first answer of ``/healthz``, polled every
  5 ms; every start is a sample (``--startups`` extra starts per variant), the median is reported.
- **the metric collectors' CPU**: the three variants idle side by side for ``--idle`` seconds
  (default 30: three exports at the 10 s interval); each one's CPU time over that window, as a share
  of one core. The collectors' cost is Vigil's idle share minus the uninstrumented one: collecting
  the system, process and container metrics and exporting them, with the idle wake-ups of the SDK's
  threads.

It prints the figures and the ratios vigil/stock and vigil/none against the targets (throughput >=
0.95x stock's, start-up at most 100 ms above stock's, collectors at most 1% of a core); the last line
is a JSON object with every number. Only ratios from one run mean anything: absolute figures hold
for this machine at this moment (see ../README.md).

Usage (from the checkout; about three minutes with the defaults, plus the first creation of the
stock environment)::

    .venv/bin/python bench/instrumentation/run.py [--rounds 3] [--duration 8] [--warmup 2]
        [--connections 8] [--startups 5] [--idle 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import distributions, version
from pathlib import Path

import psutil

HOME = Path(__file__).resolve().parents[2]
# The fixture app and the loopback port helper live in the checkout's tests package.
sys.path.insert(0, str(HOME))

from tests.apps.store import ORDERS  # noqa: E402
from tests.ports import free_port  # noqa: E402
from vigil.processors.stack.components import COLLECTOR_FLAGS, Component, cache_dir, find_binary  # noqa: E402
from vigil.processors.stack.runner import Stack  # noqa: E402

APP = "tests.apps.fastapi_app:app"
VARIANTS = ("none", "stock", "vigil")
EXPORT_INTERVAL_MS = "10000"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0

TARGETS = {
    "throughput_vigil_over_stock": ">= 0.95",
    "startup_vigil_minus_stock_ms": "<= 100",
    "collectors_percent_of_core": "<= 1",
}


class BenchError(RuntimeError):
    pass


# --- the stock distro's environment -----------------------------------------------------------


def _name(distribution) -> str:
    return re.sub(r"[-_.]+", "-", distribution.metadata["Name"]).lower()


def stock_requirements() -> list[str]:
    """The stock distro with every instrumentation package of this environment, and the app's
    libraries, all at this environment's versions."""
    instrumentations = {
        _name(d): d.version for d in distributions() if _name(d).startswith("opentelemetry-instrumentation-")
    }
    pinned = [f"{name}=={v}" for name, v in sorted(instrumentations.items())]
    pinned.append(f"opentelemetry-distro=={version('opentelemetry-instrumentation')}")
    for name in (
        "opentelemetry-exporter-otlp-proto-grpc",
        "fastapi",
        "uvicorn",
        "requests",
        "flask",
        "psutil",
    ):
        pinned.append(f"{name}=={version(name)}")
    return pinned


def stock_environment() -> Path:
    """The throwaway environment with the stock distro, created once per set of requirements."""
    requirements = stock_requirements()
    digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:12]
    root = cache_dir() / "bench-venvs"
    venv = root / f"stock-distro-{digest}"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two benchmarks at once build it once
        if (venv / ".complete").exists():
            return venv
        print(f"creating the stock distro's environment in {venv} (once)", file=sys.stderr, flush=True)
        subprocess.run(
            [getattr(sys, "_base_executable", sys.executable), "-m", "venv", "--clear", str(venv)], check=True
        )
        subprocess.run(
            [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", *requirements],
            check=True,
        )
        (venv / ".complete").write_text("\n".join(requirements) + "\n")
    return venv


# --- the sink ------------------------------------------------------------------------------------

SINK_CONFIG = """
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
exporters:
  debug:
    verbosity: basic
extensions:
  health_check:
    endpoint: 127.0.0.1:{health}
service:
  extensions: [health_check]
  telemetry:
    logs:
      level: warn
    metrics:
      level: normal
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {telemetry}
  pipelines:
    traces: {{receivers: [otlp], exporters: [debug]}}
    metrics: {{receivers: [otlp], exporters: [debug]}}
    logs: {{receivers: [otlp], exporters: [debug]}}
"""


@dataclass(frozen=True)
class Sink:
    endpoint: str
    telemetry_url: str

    def accepted(self) -> dict[str, int]:
        """Spans, metric points and log records the collector's receiver accepted so far."""
        with urllib.request.urlopen(self.telemetry_url, timeout=5) as response:
            text = response.read().decode()
        found = {}
        for signal_name in ("spans", "metric_points", "log_records"):
            values = re.findall(
                rf"^otelcol_receiver_accepted_{signal_name}_total\{{[^}}]*\}} (\S+)", text, re.M
            )
            found[signal_name] = int(sum(float(v) for v in values))
        return found


@contextlib.contextmanager
def sink(work_dir: Path) -> Iterator[Sink]:
    ports = {"grpc": free_port(), "health": free_port(), "telemetry": free_port()}
    config = work_dir / "sink.yaml"
    config.write_text(SINK_CONFIG.format(**ports))
    collector = Component(
        "sink",
        (find_binary("otelcol-vigil"), "--config", str(config), *COLLECTOR_FLAGS),
        health_url=f"http://127.0.0.1:{ports['health']}/",
    )
    stack = Stack(work_dir, [collector], progress=sys.stderr)
    try:
        if not stack.up(timeout=START_TIMEOUT):
            raise BenchError(f"the collector did not come up; its log is in {stack.log_dir}")
        yield Sink(f"http://127.0.0.1:{ports['grpc']}", f"http://127.0.0.1:{ports['telemetry']}/metrics")
    finally:
        stack.down(timeout=STOP_TIMEOUT)


# --- the servers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    name: str
    python: Path
    instrumented: bool
    env: Mapping[str, str]

    def argv(self, port: int) -> list[str]:
        server = ["-m", "uvicorn", APP, "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        if not self.instrumented:
            return [str(self.python), *server]
        return [str(self.python.with_name("opentelemetry-instrument")), str(self.python), *server]


def variants(stock_venv: Path, sink: Sink, db: Path) -> dict[str, Variant]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "VIGIL_", "PYTHONPATH"))}
    base |= {"PYTHONPATH": str(HOME), "FIXTURE_DB": str(db)}
    exporting = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": EXPORT_INTERVAL_MS,
    }
    return {
        "none": Variant("none", Path(sys.executable), False, base),
        "stock": Variant(
            "stock",
            stock_venv / "bin" / "python",
            True,
            base
            | exporting
            | {
                "OTEL_SERVICE_NAME": "bench-stock",
                "OTEL_PYTHON_LOGGING_AUTO_INSTRUMENTATION_ENABLED": "true",
                "OTEL_LOGS_EXPORTER": "otlp",
            },
        ),
        "vigil": Variant(
            "vigil", Path(sys.executable), True, base | exporting | {"OTEL_SERVICE_NAME": "bench-vigil"}
        ),
    }


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Server:
    """One variant's server process: started, timed until it answers, stopped."""

    def __init__(self, variant: Variant, log_dir: Path) -> None:
        self.variant = variant
        self.port = free_port()
        log = open(log_dir / f"{variant.name}-{self.port}.log", "wb")
        started = time.perf_counter()
        self.process = subprocess.Popen(
            self.variant.argv(self.port),
            env=dict(variant.env),
            cwd=log_dir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.log = Path(log.name)
        url = f"http://127.0.0.1:{self.port}/healthz"
        deadline = started + START_TIMEOUT
        while not _answers(url):
            if self.process.poll() is not None or time.perf_counter() > deadline:
                self.stop()
                tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
                raise BenchError(f"{variant.name}: the server did not come up:\n{tail}")
            time.sleep(0.005)
        self.startup_seconds = time.perf_counter() - started

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@contextlib.contextmanager
def serving(variant: Variant, log_dir: Path) -> Iterator[Server]:
    server = Server(variant, log_dir)
    try:
        yield server
    finally:
        server.stop()


# --- the load ----------------------------------------------------------------------------------

_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.I)


async def _connection(
    port: int, first: int, start: float, measure_from: float, end: float, out: dict
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    order = first
    try:
        while (sent := time.perf_counter()) < end:
            order = order % ORDERS + 1
            writer.write(f"GET /orders/{order} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            length = _LENGTH.search(head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            done = time.perf_counter()
            out["requests"] += 1
            if head[9:12] != b"200":
                out["errors"] += 1
            if sent >= measure_from and done <= end:
                out["latencies"].append(done - sent)
    finally:
        writer.close()


def load(port: int, connections: int, warmup: float, duration: float) -> dict[str, float]:
    """``connections`` keep-alive clients for ``warmup`` + ``duration`` seconds; figures of the latter."""
    out: dict = {"requests": 0, "errors": 0, "latencies": []}

    async def run() -> None:
        start = time.perf_counter()
        measure_from, end = start + warmup, start + warmup + duration
        await asyncio.gather(
            *(_connection(port, i * 37, start, measure_from, end, out) for i in range(connections))
        )

    asyncio.run(run())
    latencies = sorted(out["latencies"])
    if out["errors"] or not latencies:
        raise BenchError(f"{out['errors']} of {out['requests']} requests failed")
    return {
        "requests_per_second": len(latencies) / duration,
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "requests": out["requests"],
    }


# --- the measurements --------------------------------------------------------------------------


def measure_load(variant: Variant, args: argparse.Namespace, sink: Sink, log_dir: Path) -> dict[str, float]:
    before = sink.accepted()
    with serving(variant, log_dir) as server:
        cpu_before = server.cpu_seconds()
        figures = load(server.port, args.connections, args.warmup, args.duration)
        # Over warm-up and measurement alike: CPU per request is steadier than requests per
        # second on a machine that other work shares.
        figures["server_cpu_ms_per_request"] = (
            1000 * (server.cpu_seconds() - cpu_before) / figures["requests"]
        )
        figures["startup_ms"] = 1000 * server.startup_seconds
    # After the stop, the exit's flush (where the distro has one) has reached the collector.
    after = sink.accepted()
    figures |= {f"exported_{k}": after[k] - before[k] for k in after}
    return figures


def measure_idle(all_variants: Mapping[str, Variant], seconds: float, log_dir: Path) -> dict[str, float]:
    """Percent of one core each variant uses while idle, all side by side over the same window."""
    with contextlib.ExitStack() as stack:
        servers = {name: stack.enter_context(serving(v, log_dir)) for name, v in all_variants.items()}
        time.sleep(2)  # start-up's own work done
        before = {name: server.cpu_seconds() for name, server in servers.items()}
        started = time.perf_counter()
        time.sleep(seconds)
        window = time.perf_counter() - started
        return {
            name: 100 * (server.cpu_seconds() - before[name]) / window for name, server in servers.items()
        }


def median_of(runs: Sequence[Mapping[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def report(runs: Mapping[str, list[dict]], startups: Mapping[str, list[float]], idle: Mapping[str, float],
           args: argparse.Namespace) -> dict[str, object]:  # fmt: skip
    median = {
        name: {
            "requests_per_second": median_of(runs[name], "requests_per_second"),
            "p50_ms": median_of(runs[name], "p50_ms"),
            "p99_ms": median_of(runs[name], "p99_ms"),
            "server_cpu_ms_per_request": median_of(runs[name], "server_cpu_ms_per_request"),
            "startup_ms": 1000 * statistics.median(startups[name]),
            "idle_percent_of_core": idle[name],
        }
        for name in VARIANTS
    }
    vigil, stock, none = median["vigil"], median["stock"], median["none"]
    ratios = {
        "throughput_vigil_over_stock": vigil["requests_per_second"] / stock["requests_per_second"],
        "throughput_vigil_over_none": vigil["requests_per_second"] / none["requests_per_second"],
        "throughput_stock_over_none": stock["requests_per_second"] / none["requests_per_second"],
        "p50_vigil_over_stock": vigil["p50_ms"] / stock["p50_ms"],
        "p99_vigil_over_stock": vigil["p99_ms"] / stock["p99_ms"],
        "cpu_per_request_vigil_over_stock": vigil["server_cpu_ms_per_request"]
        / stock["server_cpu_ms_per_request"],
        "startup_vigil_over_stock": vigil["startup_ms"] / stock["startup_ms"],
    }
    differences = {
        "startup_vigil_minus_stock_ms": vigil["startup_ms"] - stock["startup_ms"],
        "collectors_percent_of_core": vigil["idle_percent_of_core"] - none["idle_percent_of_core"],
        "stock_collectors_percent_of_core": stock["idle_percent_of_core"] - none["idle_percent_of_core"],
    }
    met = {
        "throughput_vigil_over_stock": ratios["throughput_vigil_over_stock"] >= 0.95,
        "startup_vigil_minus_stock_ms": differences["startup_vigil_minus_stock_ms"] <= 100,
        "collectors_percent_of_core": differences["collectors_percent_of_core"] <= 1,
    }

    print(
        f"\nFastAPI app under uvicorn (1 process), {args.connections} connections, {args.duration:g} s "
        f"measured after {args.warmup:g} s of warm-up, {args.rounds} rounds; {os.cpu_count()} CPUs"
    )
    print(f"{'variant':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/req':>10} {'start ms':>9} "
          f"{'idle %core':>10}")  # fmt: skip
    for name in VARIANTS:
        m = median[name]
        print(
            f"{name:<8} {m['requests_per_second']:>8.1f} {m['p50_ms']:>8.2f} {m['p99_ms']:>8.2f} "
            f"{m['server_cpu_ms_per_request']:>10.2f} {m['startup_ms']:>9.0f} "
            f"{m['idle_percent_of_core']:>10.2f}"
        )
    print()
    print(f"throughput   vigil/stock = {ratios['throughput_vigil_over_stock']:.2f}x   (target >= 0.95x)")
    print(f"throughput   vigil/none  = {ratios['throughput_vigil_over_none']:.2f}x   "
          f"(stock/none = {ratios['throughput_stock_over_none']:.2f}x)")  # fmt: skip
    print(f"p50 latency  vigil/stock = {ratios['p50_vigil_over_stock']:.2f}x")
    print(f"p99 latency  vigil/stock = {ratios['p99_vigil_over_stock']:.2f}x")
    print(f"server CPU per request  vigil/stock = {ratios['cpu_per_request_vigil_over_stock']:.2f}x")
    startup = differences["startup_vigil_minus_stock_ms"]
    print(f"start-up     vigil/stock = {ratios['startup_vigil_over_stock']:.2f}x   "
          f"vigil-stock = {startup:+.0f} ms   (target <= +100 ms)")  # fmt: skip
    collectors, stock_collectors = (
        differences[k] for k in ("collectors_percent_of_core", "stock_collectors_percent_of_core")
    )
    print(f"collectors   vigil-none  = {collectors:.2f}% of a core at a 10 s interval   "
          f"(target <= 1%; stock-none = {stock_collectors:.2f}%)")  # fmt: skip
    missed = [name for name, ok in met.items() if not ok]
    print("every target met" if not missed else f"MISSED: {', '.join(missed)}")
    return {
        "benchmark": "instrumentation",
        "rounds": args.rounds,
        "connections": args.connections,
        "duration": args.duration,
        "runs": {name: [{k: round(v, 3) for k, v in run.items()} for run in runs[name]] for name in VARIANTS},
        "startups_ms": {name: [round(1000 * s, 1) for s in startups[name]] for name in VARIANTS},
        "median": {name: {k: round(v, 3) for k, v in figures.items()} for name, figures in median.items()},
        "ratios": {k: round(v, 3) for k, v in ratios.items()},
        "differences": {k: round(v, 3) for k, v in differences.items()},
        "targets": {name: {"target": TARGETS[name], "met": met[name]} for name in TARGETS},
        "cpus": os.cpu_count(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument(
        "--rounds", type=int, default=3, help="load runs per variant, alternating (default 3)"
    )
    parser.add_argument("--duration", type=float, default=8.0, help="measured seconds per run (default 8)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before that (default 2)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--startups", type=int, default=5, help="extra starts per variant (default 5)")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of the idle window (default 30)")
    parser.add_argument("--log-dir", type=Path, help="keep the processes' logs here (default: a temp dir)")
    args = parser.parse_args(argv)
    if min(args.rounds, args.connections) < 1 or min(args.duration, args.idle) <= 0 or args.startups < 0:
        parser.error("--rounds and --connections must be at least 1, --duration and --idle positive")
    return args


def run_all(args: argparse.Namespace, work_dir: Path) -> dict[str, object]:
    stock_venv = stock_environment()
    with sink(work_dir) as collector:
        all_variants = variants(stock_venv, collector, work_dir / "orders.sqlite3")
        runs: dict[str, list[dict]] = {name: [] for name in VARIANTS}
        startups: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for round_ in range(1, args.rounds + 1):
            for name in VARIANTS:
                figures = measure_load(all_variants[name], args, collector, work_dir)
                runs[name].append(figures)
                startups[name].append(figures["startup_ms"] / 1000)
                print(
                    f"round {round_}/{args.rounds} {name:<5}: {figures['requests_per_second']:.1f} req/s, "
                    f"p99 {figures['p99_ms']:.1f} ms, start-up {figures['startup_ms']:.0f} ms",
                    file=sys.stderr,
                    flush=True,
                )
        for _ in range(args.startups):
            for name in VARIANTS:
                with serving(all_variants[name], work_dir) as server:
                    startups[name].append(server.startup_seconds)
        print(f"idle for {args.idle:g} s, the three side by side", file=sys.stderr, flush=True)
        idle = measure_idle(all_variants, args.idle, work_dir)
        exported = {name: runs[name][-1] for name in ("stock", "vigil")}
        for name, figures in exported.items():
            if not figures["exported_spans"]:
                raise BenchError(f"{name}: nothing reached the collector")
    return report(runs, startups, idle, args)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with contextlib.ExitStack() as stack:
        if args.log_dir:
            work_dir = args.log_dir
            work_dir.mkdir(parents=True, exist_ok=True)
        else:
            work_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vigil-bench-")))
        try:
            summary = run_all(args, work_dir)
        except BenchError as error:
            print(f"error: {error} (logs in {work_dir})", file=sys.stderr)
            return 1
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
