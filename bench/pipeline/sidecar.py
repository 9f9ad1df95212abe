"""The scoring sidecar alone: spans per second per core with each scorer chain, and against none.

``bench/pipeline/run.py`` measures the sidecar inside the whole pipeline, where telemetrygen, the collector
and Jaeger share the machine's cores with it: on 2 cores its CPU per span there includes the cost of
that contention. This benchmark gives the sidecar the machine:

1. telemetrygen sends ``--spans`` spans (traces of ``--child-spans`` + 1 spans) to a recording OTLP
   receiver; they are cut into export requests of ``--batch`` spans in arrival order, as the
   collector's batch processor hands them on;
2. for each chain of ``--chains`` (``none`` is the baseline: no scorer, the bytes forwarded as
   they came), a fresh ``vigil serve`` process scores them: the first tenth as warm-up (baselines,
   the first models), then the rest from ``--clients`` concurrent gRPC clients, the sidecar
   forwarding everything to a recording receiver in this process;
3. its CPU time (user + system, ``/proc/PID/stat``) over the measured part gives CPU µs per span
   and spans per second per core; every span must come back (checked).

Each chain runs ``--rounds`` times, interleaved; the summary is the median per chain, and the
ratios compare each chain with ``none`` in this run. Only ratios and figures from one run mean
anything: machines are noisy.

Usage (from the checkout; about a minute with the defaults)::

    .venv/bin/python bench/pipeline/sidecar.py [--spans 200000] [--chains none,threat,threat,anomaly]

(``--chains`` is a list of chains separated by ``/``: ``none/threat/threat,anomaly``.) Every
server listens on a free loopback port. The last line printed is a JSON object with every number.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
import requests
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

HOME = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(HOME))

from bench.pipeline.run import Load  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.recording_receiver import RecordingReceiver  # noqa: E402
from vigil.processors.signals import Signal  # noqa: E402

WARMUP_SHARE = 0.1


def record_spans(spans: int, child_spans: int, batch: int) -> list[bytes]:
    """telemetrygen's spans, re-cut into export requests of ``batch`` spans."""
    load = Load.for_spans(spans, workers=1, child_spans=child_spans)
    with RecordingReceiver() as receiver:
        subprocess.run(
            load.argv(receiver.endpoint),
            env={**os.environ, **load.env()},
            check=True,
            capture_output=True,
            timeout=300,
        )
        requests_ = receiver.requests(Signal.TRACES)
    first = requests_[0].resource_spans[0]
    spans_in = [s for r in requests_ for rs in r.resource_spans for ss in rs.scope_spans for s in ss.spans]
    out = []
    for start in range(0, len(spans_in), batch):
        request = ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add(resource=first.resource)
        resource_spans.scope_spans.add(scope=first.scope_spans[0].scope).spans.extend(
            spans_in[start : start + batch]
        )
        out.append(request.SerializeToString())
    return out


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(chain: str, batches: Sequence[bytes], clients: int, processes: int = 1) -> dict[str, float]:
    """``processes`` fresh sidecars with ``chain`` scoring ``batches`` (request i to sidecar
    i mod processes, ``clients`` concurrent clients each): CPU µs per span over the part after the
    warm-up (all sidecars' CPU), spans per second of wall time, and whether every span came back."""
    with RecordingReceiver() as returned, contextlib.ExitStack() as stack:
        scorers = [] if chain == "none" else [f"--scorers={chain}"]
        sidecars, exports = [], []
        for _ in range(processes):
            port, health = free_port(), free_port()
            sidecar = subprocess.Popen(
                [sys.executable, "-m", "vigil.processors.cli", "serve", f"--endpoint=127.0.0.1:{port}",
                 f"--return-endpoint={returned.endpoint}", f"--health-endpoint=127.0.0.1:{health}", *scorers],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            stack.callback(_stop, sidecar)
            _wait_ready(sidecar, health, chain)
            channel = stack.enter_context(
                grpc.insecure_channel(
                    f"127.0.0.1:{port}", options=[("grpc.max_send_message_length", 64 << 20)]
                )
            )
            sidecars.append(sidecar)
            exports.append(channel.unary_unary(f"/{Signal.TRACES.service}/Export"))
        warm = max(processes, int(len(batches) * WARMUP_SHARE))
        for i, payload in enumerate(batches[:warm]):
            exports[i % processes](payload, timeout=60)
        todo = [iter(batches[warm + k :: processes]) for k in range(processes)]
        lock = threading.Lock()

        def client(k: int) -> None:
            while True:
                with lock:
                    payload = next(todo[k], None)
                if payload is None:
                    return
                exports[(warm + k) % processes](payload, timeout=60)

        before, started = sum(cpu_seconds(p.pid) for p in sidecars), time.perf_counter()
        threads = [
            threading.Thread(target=client, args=(k,)) for k in range(processes) for _ in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cpu = sum(cpu_seconds(p.pid) for p in sidecars) - before
        wall = time.perf_counter() - started
        sent = sum(_spans(payload) for payload in batches)
        back = sum(_spans(payload) for signal, payload in returned.received if signal is Signal.TRACES)
    measured = sum(_spans(payload) for payload in batches[warm:])
    return {
        "cpu_us_per_span": cpu / measured * 1e6,
        "spans_per_core_second": measured / cpu if cpu else float("inf"),
        "spans_per_second": measured / wall,
        "spans_measured": measured,
        "lost": sent - back,
    }


def _wait_ready(sidecar: subprocess.Popen[str], health: int, chain: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{health}/health/ready", timeout=1).ok:
                return
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline or sidecar.poll() is not None:
            raise RuntimeError(f"the sidecar ({chain}) did not get ready")
        time.sleep(0.1)


def _stop(sidecar: subprocess.Popen[str]) -> None:
    sidecar.terminate()
    sidecar.wait(30)


def _spans(payload: bytes) -> int:
    return Signal.TRACES.count_items(Signal.TRACES.parse(payload))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spans", type=int, default=200_000)
    parser.add_argument("--child-spans", type=int, default=9)
    parser.add_argument("--batch", type=int, default=2048, help="spans per export request")
    parser.add_argument("--clients", type=int, default=2, help="concurrent gRPC clients")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--chains", default="none/threat/threat,anomaly", help="chains separated by /")
    parser.add_argument(
        "--processes", default="1", help="sidecar process counts to compare, e.g. 1,2 (each chain with each)"
    )
    args = parser.parse_args(argv)
    chains = args.chains.split("/")
    counts = [int(n) for n in args.processes.split(",")]
    variants = [(chain, n) for chain in chains for n in counts]
    label = {(chain, n): chain if n == 1 else f"{chain} x{n}" for chain, n in variants}
    batches = record_spans(args.spans, args.child_spans, args.batch)
    runs: dict[str, list[dict[str, float]]] = {label[v]: [] for v in variants}
    for round_ in range(1, args.rounds + 1):
        for chain, n in variants:
            run = measure(chain, batches, args.clients, n)
            runs[label[chain, n]].append(run)
            print(f"round {round_} {label[chain, n]:<28} {run['cpu_us_per_span']:6.2f} CPU µs/span "
                  f"{run['spans_per_core_second']:>10,.0f} spans/s/core "
                  f"{run['spans_per_second']:>10,.0f} spans/s", flush=True)  # fmt: skip
    median = {
        chain: {key: statistics.median(run[key] for run in chain_runs) for key in chain_runs[0]}
        for chain, chain_runs in runs.items()
    }
    print(f"\n{sum(map(_spans, batches)):,} spans in requests of {args.batch}, {args.clients} clients, "
          f"{os.cpu_count()} CPUs; medians of {args.rounds} rounds")  # fmt: skip
    print(f"{'chain':<28} {'CPU µs/span':>12} {'spans/s/core':>13} {'x none (CPU)':>13} {'spans/s':>10}")
    baseline = median.get("none", {}).get("cpu_us_per_span")
    for chain, numbers in median.items():
        ratio = (
            f"{numbers['cpu_us_per_span'] / baseline:13.2f}"
            if baseline and " x" not in chain
            else f"{'-':>13}"
        )
        cpu, per_core, wall = (
            numbers["cpu_us_per_span"],
            numbers["spans_per_core_second"],
            numbers["spans_per_second"],
        )
        print(f"{chain:<28} {cpu:12.2f} {per_core:13,.0f} {ratio} {wall:10,.0f}")
    for chain, n in variants:
        if n > 1 and (chain, 1) in label:
            gain = median[label[chain, n]]["spans_per_second"] / median[label[chain, 1]]["spans_per_second"]
            print(f"{label[chain, n]} / {chain}: spans/s (wall) {gain:.2f}x")
    lost = {chain: sum(run["lost"] for run in chain_runs) for chain, chain_runs in runs.items()}
    print("no loss: every span came back" if not any(lost.values()) else f"LOST spans: {lost}")
    print(json.dumps({"benchmark": "sidecar", "spans": sum(map(_spans, batches)), "batch": args.batch,
                      "clients": args.clients, "runs": runs, "median": median, "lost": lost},
                     separators=(",", ":")))  # fmt: skip
    return 1 if any(lost.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
