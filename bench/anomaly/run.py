"""Anomaly scoring benchmark: detection, delay and false alarms on injected faults, and cost per span.

One run, one machine, everything relative:

1. The synthetic ``shop`` service (:mod:`workload`) warms the scorer up, then runs fault-free for
   ``--hours`` of event time: every ``vigil.anomaly`` event there is a false alarm (per hour),
   and so is every span scored >= 0.5 (per 10,000 spans).
2. Each fault runs for ``--fault-seconds`` of event time, followed by as long fault-free: the
   detection rate is the share of the spans the fault touches that score >= 0.5 with the fault's
   reason, the delay the event time from the fault's start to its first ``vigil.anomaly`` event.
3. The same spans go through a *static-threshold baseline*, what a team sets up without Vigil:
   per operation, alarm when a span takes more than 3x its warm-up median, or fails. It has no
   notion of trace shape.
4. Cost: µs per span of the anomaly scorer, against decoding the same requests
   (``ParseFromString``), the floor any Python scorer pays.

Usage: ``python bench/anomaly/run.py [--hours 0.5] [--fault-seconds 60] [--rate 50]``. Prints a
table and, last, one JSON line with every figure.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.anomaly.workload import TIMING, Fault, Workload
from vigil.processors.anomaly.events import AnomalyEvents
from vigil.processors.anomaly.forest import SpanForest
from vigil.processors.anomaly.operations import OperationBaselines
from vigil.processors.anomaly.spans import SpanAnomalies
from vigil.processors.anomaly.traces import TraceShapes

FAULTS = [
    (Fault("latency", "SELECT items", 5.0), "latency", "SELECT items"),
    (Fault("latency", "GET recommender", 3.0), "latency", "GET recommender"),
    (Fault("error", "GET inventory", 0.3), "error", "GET inventory"),
    (Fault("fanout", "GET /items", 6), "trace_shape", "GET /items"),
    (Fault("missing", "POST /login"), "trace_shape", "POST /login"),
]
PER_REQUEST = 100


class StaticThreshold:
    """The baseline: per operation, > 3x its warm-up median latency, or an error."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.limit: dict[str, float] = {}

    def learn(self, spans) -> None:
        for span in spans:
            self.samples[span.name].append(span.end_time_unix_nano - span.start_time_unix_nano)

    def freeze(self) -> None:
        self.limit = {name: 3 * float(np.median(v)) for name, v in self.samples.items()}

    def flags(self, span) -> bool:
        duration = span.end_time_unix_nano - span.start_time_unix_nano
        return span.status.code == 2 or duration > self.limit.get(span.name, float("inf"))


def spans_of(request):
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def reasons_of(span) -> tuple[float, str]:
    score, reasons = 0.0, ""
    for kv in span.attributes:
        if kv.key == "vigil.anomaly.score":
            score = kv.value.double_value
        elif kv.key == "vigil.anomaly.reasons":
            reasons = ",".join(v.string_value for v in kv.value.array_value.values)
    return score, reasons


def run(hours: float, fault_seconds: float, rate: float, seed: int) -> dict:
    workload = Workload(seed=seed, rate=rate)
    scorer = SpanAnomalies(OperationBaselines(), TraceShapes(), SpanForest(background=False))
    events = AnomalyEvents()
    baseline = StaticThreshold()

    # Warm-up: 5 minutes of event time, which also trains the baseline's thresholds.
    for request in workload.requests(int(300 * rate), PER_REQUEST):
        baseline.learn(spans_of(request))
        events.report(scorer.score(request))
    baseline.freeze()

    # Fault-free: false alarms, and the cost per span against decoding.
    quiet_spans = quiet_flagged = quiet_events = baseline_flagged = 0
    scoring_s = parse_s = 0.0
    for request in workload.requests(int(hours * 3600 * rate), PER_REQUEST):
        data = request.SerializeToString()
        t0 = time.perf_counter()
        request = type(request).FromString(data)
        t1 = time.perf_counter()
        anomalies = scorer.score(request)
        t2 = time.perf_counter()
        parse_s += t1 - t0
        scoring_s += t2 - t1
        reported = events.report(anomalies)
        quiet_events += (
            sum(len(sl.log_records) for rl in reported.resource_logs for sl in rl.scope_logs)
            if reported
            else 0
        )
        for span in spans_of(request):
            quiet_spans += 1
            quiet_flagged += reasons_of(span)[0] >= 0.5
            baseline_flagged += baseline.flags(span)

    results = []
    for fault, reason, operation in FAULTS:
        workload.faults = [fault]
        start = workload.now_ns
        touched = detected = baseline_detected = 0
        first_event_ns = None
        for request in workload.requests(int(fault_seconds * rate), PER_REQUEST):
            anomalies = scorer.score(request)
            for anomaly in anomalies:
                if first_event_ns is None and operation in anomaly.subject and reason in anomaly.reasons:
                    first_event_ns = anomaly.time_unix_nano
            events.report(anomalies)
            for span in spans_of(request):
                if span.name != operation:
                    continue
                if fault.kind in ("fanout", "missing") or fault.kind == "latency" or span.status.code == 2:
                    touched += 1
                    score, why = reasons_of(span)
                    detected += score >= 0.5 and reason in why
                    baseline_detected += baseline.flags(span)
        workload.faults = []
        for request in workload.requests(int(fault_seconds * rate), PER_REQUEST):
            events.report(scorer.score(request))
        results.append(
            {
                "fault": f"{fault.kind} {fault.operation}" + (f" x{fault.value:g}" if fault.value else ""),
                "touched": touched,
                "detection_rate": detected / max(touched, 1),
                "baseline_detection_rate": baseline_detected / max(touched, 1),
                "delay_s": None if first_event_ns is None else (first_event_ns - start) / 1e9,
            }
        )

    return {
        "event_hours": hours,
        "spans_fault_free": quiet_spans,
        "false_alarm_events_per_hour": quiet_events / hours,
        "flagged_per_10k_spans": 1e4 * quiet_flagged / quiet_spans,
        "baseline_flagged_per_10k_spans": 1e4 * baseline_flagged / quiet_spans,
        "us_per_span": 1e6 * scoring_s / quiet_spans,
        "scoring_over_decoding": scoring_s / parse_s,
        "operations": len(TIMING),
        "faults": results,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hours", type=float, default=0.5, help="fault-free event time (0.5)")
    parser.add_argument("--fault-seconds", type=float, default=60.0, help="event time per fault (60)")
    parser.add_argument("--rate", type=float, default=50.0, help="traces per second of event time (50)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    summary = run(args.hours, args.fault_seconds, args.rate, args.seed)

    print(f"fault-free: {summary['spans_fault_free']} spans over {summary['event_hours']:g} h of event time")
    print(f"  false alarms: {summary['false_alarm_events_per_hour']:.1f} vigil.anomaly events/h")
    print(
        f"  spans >= 0.5 per 10k: vigil {summary['flagged_per_10k_spans']:.1f}, "
        f"static 3x-median baseline {summary['baseline_flagged_per_10k_spans']:.1f}"
    )
    print(
        f"  cost: {summary['us_per_span']:.1f} µs/span = "
        f"{summary['scoring_over_decoding']:.1f}x decoding the request"
    )
    print(f"{'fault':<32} {'spans':>6} {'vigil':>7} {'static':>7} {'delay':>8}")
    for f in summary["faults"]:
        delay = "-" if f["delay_s"] is None else f"{f['delay_s']:.1f} s"
        print(
            f"{f['fault']:<32} {f['touched']:>6} {f['detection_rate']:>7.0%} "
            f"{f['baseline_detection_rate']:>7.0%} {delay:>8}"
        )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
