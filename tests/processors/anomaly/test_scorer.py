"""AnomalyScorer as the sidecar and `vigil score` run it: every signal, side output, state across
restarts, and the offline commands `vigil train` and `vigil score --state`."""

from __future__ import annotations

import json

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from bench.anomaly.workload import Fault, Workload
from tests.processors.anomaly.metric_requests import MINUTE, T0, gauge, request
from vigil.processors.anomaly.scorer import AnomalyScorer
from vigil.processors.anomaly.settings import AnomalySettings
from vigil.processors.cli import main
from vigil.processors.otlp_json import encode
from vigil.processors.scoring import ScorerChain
from vigil.processors.signals import Signal


def spans_of(request_):
    return [s for rs in request_.resource_spans for ss in rs.scope_spans for s in ss.spans]


def keys_of(item) -> set[str]:
    return {kv.key for kv in item.attributes}


def test_the_chain_runs_threat_then_anomaly_from_entry_points():
    chain = ScorerChain.from_names(["threat", "anomaly"])
    assert [s.name for s in chain.scorers] == ["threat", "anomaly"]
    assert all(chain.handles(signal) for signal in Signal)


def test_traces_get_scores_and_anomalies_become_events():
    scorer = AnomalyScorer(AnomalySettings(multivariate=False))
    workload = Workload(seed=3)
    for r in workload.requests(1500, per_request=100):
        scorer.score(Signal.TRACES, r)
    workload.faults = [Fault("latency", "SELECT users", 20.0)]
    side = []
    for r in workload.requests(200, per_request=100):
        side += scorer.score(Signal.TRACES, r)
        assert all("vigil.anomaly.score" in keys_of(s) for s in spans_of(r))
    events = [
        rec
        for sig, req in side
        if sig is Signal.LOGS
        for rl in req.resource_logs
        for rec in rl.scope_logs[0].log_records
    ]
    subjects = {
        kv.value.string_value for rec in events for kv in rec.attributes if kv.key == "vigil.anomaly.subject"
    }
    assert "shop SELECT users" in subjects


def test_metrics_leave_as_score_gauges_and_logs_get_templates():
    scorer = AnomalyScorer(AnomalySettings(warmup_points=5, warmup_logs=5))
    side = []
    for i in range(10):
        side += scorer.score(Signal.METRICS, request(gauge("queue.depth", [(T0 + i * MINUTE, 10.0 + i % 2)])))
    gauges = [
        m
        for sig, req in side
        if sig is Signal.METRICS
        for rm in req.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    ]
    assert {m.name for m in gauges} == {"vigil.anomaly.score"}

    logs = ExportLogsServiceRequest()
    records = logs.resource_logs.add().scope_logs.add().log_records
    for i in range(10):
        records.add(time_unix_nano=T0 + i, body=AnyValue(string_value=f"job {i} finished in {i * 7} ms"))
    scorer.score(Signal.LOGS, logs)
    assert all("vigil.log.template_id" in keys_of(r) for r in records)
    assert "vigil.anomaly.score" in keys_of(records[-1])


def test_state_survives_a_restart(tmp_path):
    settings = AnomalySettings(state_dir=str(tmp_path / "state"), multivariate=False)
    first = AnomalyScorer(settings)
    workload = Workload(seed=4)
    for r in workload.requests(600, per_request=100):
        first.score(Signal.TRACES, r)
    first.close()
    assert {p.name for p in (tmp_path / "state").iterdir()} == {
        "traces.pickle",
        "metrics.pickle",
        "logs.pickle",
    }

    restarted = AnomalyScorer(settings)
    r = workload.request(20)
    restarted.score(Signal.TRACES, r)
    assert not any("vigil.anomaly.warmup" in keys_of(s) for s in spans_of(r))
    cold = AnomalyScorer(AnomalySettings(multivariate=False))
    r = workload.request(20)
    cold.score(Signal.TRACES, r)
    assert all("vigil.anomaly.warmup" in keys_of(s) for s in spans_of(r))


def write_lines(path, requests_) -> None:
    path.write_text("".join(encode(r) + "\n" for r in requests_))


def test_vigil_train_then_score_with_state(tmp_path, capsys):
    workload = Workload(seed=5)
    recorded = tmp_path / "last-week.jsonl"
    write_lines(recorded, workload.requests(1500, per_request=100))
    state = tmp_path / "state"
    assert main(["train", str(recorded), "--state", str(state)]) == 0
    assert "learnt from 15 requests" in capsys.readouterr().err

    workload.faults = [Fault("fanout", "GET /items", 9)]
    today, scored = tmp_path / "today.jsonl", tmp_path / "scored.jsonl"
    write_lines(today, workload.requests(200, per_request=100))
    assert main(["score", "--state", str(state), str(today), str(scored)]) == 0
    lines = [json.loads(line) for line in scored.read_text().splitlines()]
    spans = [
        s
        for line in lines
        for rs in line.get("resourceSpans", [])
        for ss in rs["scopeSpans"]
        for s in ss["spans"]
    ]
    assert spans and not any(a["key"] == "vigil.anomaly.warmup" for s in spans for a in s["attributes"])
    shaped = [
        s
        for s in spans
        if s["name"] == "GET /items"
        and any(
            a["key"] == "vigil.anomaly.reasons" and "trace_shape" in json.dumps(a) for a in s["attributes"]
        )
    ]
    assert len(shaped) >= 0.8 * sum(s["name"] == "GET /items" for s in spans)
    assert any("resourceLogs" in line for line in lines)  # the vigil.anomaly events follow the data
