"""The fault soak: spans flow through the real pipeline while the sidecar is killed ten times and
the collector restarted once, and every span sent reaches Jaeger, scored or marked unscored.

The pipeline, on ports of its own (29000-29199): Jaeger (in-memory), the sidecar with the threat
and anomaly scorers (the anomaly scorer marks every span it sees), and the collector with
``collector-config/vigil.yaml`` as shipped (persistent queues, failover to the unscored bypass).

The load
    :class:`tests.e2e.load.TraceSender` sends ``VIGIL_SOAK_SPANS`` spans (default 100,000; the
    million-span run is ``bench/soak``) in traces of 10 spans, 20 traces to a request, and sends
    each request again until the collector accepts it, so the number sent is exact. Each span's
    id is its number, so each span found in Jaeger maps back to the one sent. The sender is paced
    so that the load lasts until the last fault (the rate is re-planned after each); then the
    rest goes as fast as the collector accepts it.

The faults, all while the sender is sending
    - the sidecar is killed (SIGKILL) ten times, each time ``SCORING_SECONDS`` after its new
      process has started scoring, and started again at once;
    - after the fifth kill, the collector is restarted (SIGTERM, then started again) while it holds
      accepted spans in its persistent queue: Jaeger is frozen (SIGSTOP) until the queue towards it
      holds at least ``QUEUED_BATCHES`` batches and until the collector has exited with them on
      disk; then Jaeger resumes and the collector starts again.

The counts (one JSON line, ``fault soak: {...}``)
    ``sent`` (accepted by the collector), ``received`` (distinct span ids of the load in Jaeger,
    read as stored through Jaeger's api_v3 gRPC API), ``scored`` (spans with a copy the sidecar
    annotated, ``vigil.anomaly.score`` or ``vigil.anomaly.warmup``), ``unscored`` (spans whose
    copies are all marked ``vigil.scored = false``), ``duplicates`` (copies beyond the first, by
    kind: a batch the sidecar forwarded just before it died is delivered again unscored, and one
    in flight during the restart is sent again from the queue), the spans the collector carried
    over its restart on disk, and the collector's own loss counters.

"Equal" here means: every span sent was received at least once, and nothing else was; every copy
is scored or marked unscored, never both or neither. Duplicates are counted, not failed: fail-open
delivers at least once. Each one comes from a batch in flight at a fault, so they are bounded by
(faults x batches in flight x batch size): ``num_consumers`` of the failover connector's queue
(10 by default) and ``send_batch_max_size`` (4096) in collector-config/vigil.yaml set the bound.
bench/soak/README.md has the figures of both sizes and where each kind of duplicate comes from.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field

import pytest
import requests

from tests.e2e.backends import jaeger_stored_traces, settled, wait_for
from tests.e2e.isolated import addresses, counter, pipeline, signal_component
from tests.e2e.load import TraceLoad, TraceSender
from tests.installed import binary
from vigil.processors.anomaly.output import SCORE, WARMUP
from vigil.processors.stack.runner import Stack

pytestmark = pytest.mark.stack

SPANS = int(os.environ.get("VIGIL_SOAK_SPANS", "100000"))
SPANS_PER_TRACE = 10
SIDECAR_KILLS = 10
RESTART_AFTER_KILL = 5
# Batches in the collector's queue towards Jaeger when the collector is stopped.
QUEUED_BATCHES = 5
# How long the sidecar scores between kills, once scoring has resumed.
SCORING_SECONDS = 2.0
# How long a fault takes, for pacing the load until the first one (then measured).
FAULT_SECONDS = 10.0
# Allowance for sending the rest and for the pipeline to deliver its backlog: a millisecond a span.
DRAIN_SECONDS = 120 + SPANS / 1000

PORTS = {"otlp": 29017, "http": 29018, "return": 29028, "health": 29033, "prom": 29089, "telemetry": 29088,
         "sidecar": 29027, "sidecar_health": 29034,
         "jaeger_otlp_grpc": 29117, "jaeger_otlp_http": 29118, "jaeger_query": 29186,
         "jaeger_query_grpc": 29185, "jaeger_health": 29133, "jaeger_metrics": 29169}  # fmt: skip
assert all(29000 <= port < 29200 for port in PORTS.values())
ADDR = addresses(PORTS)
TELEMETRY = f"http://{ADDR['telemetry']}/metrics"
SIDECAR_METRICS = f"http://{ADDR['sidecar_health']}/metrics"
JAEGER_METRICS = f"http://{ADDR['jaeger_metrics']}/metrics"
# The collector's counters of data it dropped or failed to queue (zero in a run without loss).
LOSS_COUNTERS = {
    f"{short}_{what}_failed": (f"otelcol_exporter_{what}_failed_spans_total", {"exporter": exporter})
    for short, exporter in (("failover", "failover/traces"), ("jaeger", "otlp/jaeger"))
    for what in ("send", "enqueue")
}


def metric(url: str, name: str, **labels: str) -> float:
    """``counter`` of a process that may be down at the moment: 0 then."""
    try:
        return counter(url, name, **labels)
    except requests.RequestException:
        return 0.0


@dataclass
class Tally:
    """What Jaeger holds of a load, span by span."""

    sent: int
    stored: int = 0  # copies of the load's spans, duplicates included
    received: int = 0  # distinct spans of the load
    scored: int = 0  # spans with a scored copy
    unscored: int = 0  # spans with unscored copies only
    duplicates: Counter[str] = field(default_factory=Counter)  # extra copies by "scored+unscored" etc.
    unmarked: int = 0  # copies neither scored nor marked unscored
    marked_both: int = 0  # copies scored and marked unscored
    foreign: int = 0  # spans of the service that the load did not send
    missing: list[int] = field(default_factory=list)  # the first span numbers never received


def tally(load: TraceLoad, sent: int, since_ns: int, max_traces: int) -> Tally:
    """Reads every span of ``load`` from Jaeger (one api_v3 stream) and counts its copies."""
    result = Tally(sent)
    # Copies per span number, scored and unscored (at most 255 each).
    scored, unscored = bytearray(load.spans + 1), bytearray(load.spans + 1)
    until_ns = time.time_ns() + 60 * 10**9
    for data in jaeger_stored_traces(ADDR["jaeger_query_grpc"], load.service, since_ns, until_ns, max_traces):
        for resource_spans in data.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    number = load.span_number(span.trace_id, span.span_id)
                    if number is None:
                        result.foreign += 1
                        continue
                    is_scored = is_unscored = False
                    for kv in span.attributes:
                        if kv.key == "vigil.scored":
                            is_unscored = kv.value.HasField("bool_value") and not kv.value.bool_value
                        elif kv.key == SCORE or kv.key == WARMUP:
                            is_scored = True
                    result.stored += 1
                    result.unmarked += not (is_scored or is_unscored)
                    result.marked_both += is_scored and is_unscored
                    if is_scored:
                        scored[number] = min(255, scored[number] + 1)
                    else:
                        unscored[number] = min(255, unscored[number] + 1)
    for number in range(1, load.spans + 1):
        copies = scored[number] + unscored[number]
        if not copies:
            if len(result.missing) < 20:
                result.missing.append(number)
            continue
        result.received += 1
        if scored[number]:
            result.scored += 1
        else:
            result.unscored += 1
        if copies > 1:
            result.duplicates[f"{scored[number]} scored+{unscored[number]} unscored"] += copies - 1
    return result


def loss_counters() -> dict[str, float]:
    return {key: metric(TELEMETRY, name, **labels) for key, (name, labels) in LOSS_COUNTERS.items()}


def wait_until_scoring(timeout: float = 60.0) -> float:
    """Until the sidecar's current process has scored spans; their number."""
    return wait_for(
        lambda: metric(SIDECAR_METRICS, "vigil_sidecar_items_total", signal="traces"),
        lambda n: n > 0,
        timeout=timeout,
        every=0.1,
    )


def restart_collector(stack: Stack) -> dict[str, float]:
    """Stops the collector while its persistent queue towards Jaeger holds ``QUEUED_BATCHES``
    batches, then starts it again; what it held and counted. Jaeger stays frozen until the
    collector has exited: the batches are still on disk then, with those it was sending (which
    time out; the collector keeps them for after the restart)."""
    signal_component(stack, "jaeger", signal.SIGSTOP, exit_within=None)
    try:
        queued = wait_for(
            lambda: metric(TELEMETRY, "otelcol_exporter_queue_size", exporter="otlp/jaeger"),
            lambda n: n >= QUEUED_BATCHES,
            timeout=30,
            every=0.1,
        )
        before = loss_counters()
        stopping = time.monotonic()
        signal_component(stack, "collector", signal.SIGTERM, exit_within=60)
        stopped_in = time.monotonic() - stopping
    finally:
        signal_component(stack, "jaeger", signal.SIGCONT, exit_within=None)
    assert stack.up(timeout=60), f"the collector did not come back; logs in {stack.log_dir}"
    return {"queued_batches": queued, "stop_seconds": round(stopped_in, 1), **before}


def carried_over() -> dict[str, float]:
    """Spans the restarted collector delivered beyond what it received: read from disk."""
    received = metric(TELEMETRY, "otelcol_receiver_accepted_spans_total", receiver="otlp")
    to_sidecar_or_bypass = metric(TELEMETRY, "otelcol_exporter_sent_spans_total", exporter="failover/traces")
    returned = metric(TELEMETRY, "otelcol_receiver_accepted_spans_total", receiver="otlp/return")
    bypassed = metric(TELEMETRY, "otelcol_processor_outgoing_items_total", processor="transform/unscored")
    to_jaeger = metric(TELEMETRY, "otelcol_exporter_sent_spans_total", exporter="otlp/jaeger")
    return {
        "failover_queue_spans": to_sidecar_or_bypass - received,
        "jaeger_queue_spans": to_jaeger - returned - bypassed,
    }


def test_fault_soak_every_span_arrives_scored_or_marked(tmp_path_factory, capsys):
    for name in ("otelcol-vigil", "jaeger"):
        binary(name)
    service = f"soak-{uuid.uuid4().hex[:8]}"
    load = TraceLoad(service, traces=SPANS // SPANS_PER_TRACE, spans_per_trace=SPANS_PER_TRACE)
    max_traces = max(200_000, 2 * load.traces)
    run_dir = tmp_path_factory.mktemp("soak-run")
    with pipeline(
        run_dir,
        sidecar_env={"VIGIL_SIDECAR_SCORERS": "threat,anomaly"},
        jaeger=True,
        ports=PORTS,
        jaeger_env={"JAEGER_MAX_TRACES": str(max_traces)},
    ) as stack:
        since_ns = time.time_ns() - 10**9
        faults = SIDECAR_KILLS + 1
        sender = TraceSender(ADDR["otlp"], load, rate=load.spans / (faults * FAULT_SECONDS))
        started = time.monotonic()
        sender.start()
        # (fault, seconds into the load, spans sent then, spans the sidecar process had scored)
        timeline: list[tuple[str, float, int, float]] = []
        restart: dict[str, float] = {}
        try:
            for kill in range(1, SIDECAR_KILLS + 1):
                assert wait_until_scoring() > 0, f"scoring did not resume before kill {kill}"
                time.sleep(SCORING_SECONDS)
                scored = metric(SIDECAR_METRICS, "vigil_sidecar_items_total", signal="traces")
                timeline.append((f"kill {kill}", time.monotonic() - started, sender.sent, scored))
                signal_component(stack, "sidecar", signal.SIGKILL)
                assert stack.up(timeout=60), f"the sidecar did not come back; logs in {stack.log_dir}"
                if kill == RESTART_AFTER_KILL:
                    timeline.append(("collector restart", time.monotonic() - started, sender.sent, 0))
                    restart = restart_collector(stack)
                # Pace the rest of the load over the faults left, at the pace so far (and then some).
                done = kill + (kill >= RESTART_AFTER_KILL)
                if done < faults:
                    seconds_left = 1.5 * (faults - done) * (time.monotonic() - started) / done + 5
                    sender.rate = (load.spans - sender.sent) / seconds_left
            assert sender.is_alive(), f"the load ended before the last fault: {timeline}"
            sender.rate = None
            sender.join(timeout=DRAIN_SECONDS)
        finally:
            sender.stop()
            sender.join()
        load_seconds = time.monotonic() - started
        assert sender.error is None, sender.error
        assert sender.sent == load.spans
        assert all(0 < sent < load.spans for _, _, sent, _ in timeline), timeline

        # Everything accepted is delivered: Jaeger's count of stored spans stops growing.
        def stored() -> float:
            name = "otelcol_exporter_sent_spans_total"
            return metric(JAEGER_METRICS, name, exporter="jaeger_storage_exporter")

        wait_for(stored, lambda n: n >= sender.sent, timeout=DRAIN_SECONDS)
        settled(stored, timeout=120, quiet=3.0)
        counted = time.monotonic()
        found = tally(load, sender.sent, since_ns, max_traces)
        carried = carried_over()
        figures = {
            **{k: v for k, v in asdict(found).items() if k not in ("duplicates", "missing")},
            "duplicates": sum(found.duplicates.values()),
            "duplicates_by_kind": dict(found.duplicates),
            "missing_first": found.missing,
            "sidecar_kills": SIDECAR_KILLS,
            "collector_restarts": 1,
            "collector_restart": restart,
            "carried_over_restart": carried,
            "collector_loss_counters": {
                key: restart.get(key, 0.0) + value for key, value in loss_counters().items()
            },
            "sender_answers": dict(sender.answers),
            "faults_at": [(name, round(at, 1), sent, scored) for name, at, sent, scored in timeline],
            "load_seconds": round(load_seconds, 1),
            "count_seconds": round(time.monotonic() - counted, 1),
        }
        with capsys.disabled():  # the counts belong in CI's log, passed or not
            print(f"\nfault soak: {json.dumps(figures)}")

    assert found.received == found.sent, f"lost {found.sent - found.received} spans, e.g. {found.missing}"
    assert found.foreign == 0
    assert found.unmarked == 0 and found.marked_both == 0
    assert found.scored > 0 and found.unscored > 0
    # The restarted collector delivered spans the stopped one had accepted and left on disk.
    assert carried["jaeger_queue_spans"] > 0, carried
