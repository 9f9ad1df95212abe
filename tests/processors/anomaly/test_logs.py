"""LogAnomalies: template mining, warm-up, new / rare / bursting templates, bounded memory, state."""

from __future__ import annotations

import gc
import uuid

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from tests.otlp_values import item_attributes as attrs
from vigil.processors.anomaly import output
from vigil.processors.anomaly.logs import LogAnomalies
from vigil.processors.anomaly.state import StateStore
from vigil.processors.anomaly.templates import TEMPLATE, TEMPLATE_ID, mask
from vigil.processors.signals import Signal

SECOND = 10**9
NOW = 1_750_000_000 * SECOND  # mid-2025
LONG_AGO = 1_000_000_000 * SECOND  # September 2001
COMMON = ("user {} logged in from {}", "GET /api/orders/{} returned 200 in {}ms", "cache hit for key {}")


def line(n: int, template: str = COMMON[0]) -> str:
    return template.format(n % 997, f"10.0.{n % 256}.{(n * 7) % 256}")


def record(body: str | AnyValue, t: int = NOW, **fields) -> LogRecord:
    value = body if isinstance(body, AnyValue) else AnyValue(string_value=body)
    return LogRecord(time_unix_nano=t, body=value, **fields)


def request(*records: LogRecord, resource: Resource | None = None) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=resource, scope_logs=[ScopeLogs(log_records=records)])]
    )


def run(scorer: LogAnomalies, *records: LogRecord, resource: Resource | None = None) -> list[LogRecord]:
    """Score ``records`` in one request; return the request's (scored) copies of them."""
    req = request(*records, resource=resource)
    scorer.score(req)
    return list(req.resource_logs[0].scope_logs[0].log_records)


def score_one(scorer: LogAnomalies, rec: LogRecord) -> dict[str, object]:
    return attrs(run(scorer, rec)[0])


def warmed(n: int = 60, **options) -> LogAnomalies:
    """A scorer past warm-up on the COMMON templates (20 records each)."""
    options.setdefault("warmup_records", n)
    scorer = LogAnomalies(**options)
    scorer.score(request(*(record(line(i, COMMON[i % 3])) for i in range(n))))
    return scorer


def test_warmup_marks_records_without_a_score_then_scores():
    scorer = LogAnomalies(warmup_records=10)
    req = request(*(record(line(i)) for i in range(12)))
    assert scorer.score(req) == []
    records = req.resource_logs[0].scope_logs[0].log_records
    for rec in records[:10]:
        got = attrs(rec)
        assert got[output.WARMUP] is True
        assert output.SCORE not in got
        assert got[TEMPLATE] == "user <NUM> logged in from <IP>"  # templates are written from the start
    for rec in records[10:]:
        got = attrs(rec)
        assert output.WARMUP not in got
        assert got[output.SCORE] < output.THRESHOLD


def test_variable_parts_are_masked_into_one_template():
    scorer = LogAnomalies(warmup_records=0)
    bodies = [
        f"request {uuid.uuid4()} from 192.168.{i}.{i * 3}:{8000 + i} took {i * 1.5}ms "
        f"trace={uuid.uuid4().hex} ptr=0x{i * 4096 + 10:x} at 2024-03-0{i % 9 + 1}T10:{i:02d}:00Z"
        for i in range(1, 30)
    ]
    records = run(scorer, *(record(b) for b in bodies))
    ids = {attrs(r)[TEMPLATE_ID] for r in records}
    assert len(ids) == 1
    assert (
        attrs(records[-1])[TEMPLATE] == "request <UUID> from <IP> took <NUM> trace=<HEX> ptr=<HEX> at <TIME>"
    )
    other = score_one(scorer, record("payment declined for card ending 4242"))
    assert other[TEMPLATE_ID] not in ids


def test_masking_keeps_words_that_look_like_hex():
    assert mask("deadbeef added a decade ago") == "deadbeef added a decade ago"
    assert (
        mask("v1.2.3 at ::1 and fe80::1ff:fe23:4567:890a in 50% of 3s")
        == "v1.2.3 at <IP> and <IP> in <NUM> of <NUM>"
    )


def test_new_template_after_warmup_scores_high_and_common_ones_low():
    scorer = warmed()
    req = request(*(record(line(1000 + i, COMMON[i % 3])) for i in range(30)))
    assert scorer.score(req) == []
    common = req.resource_logs[0].scope_logs[0].log_records
    assert all(attrs(r)[output.SCORE] < output.THRESHOLD for r in common)

    resource = Resource(attributes=[KeyValue(key="service.name", value=AnyValue(string_value="checkout"))])
    new = record(
        "disk quota exceeded on volume 7",
        t=NOW + 5 * SECOND,
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
    )
    req = request(new, resource=resource)
    (anomaly,) = scorer.score(req)
    got = attrs(req.resource_logs[0].scope_logs[0].log_records[0])
    assert got[output.SCORE] >= output.THRESHOLD
    assert got[output.REASONS] == ["new_template"]
    assert anomaly.signal is Signal.LOGS
    assert anomaly.reasons == ("new_template",)
    assert anomaly.subject == "disk quota exceeded on volume <NUM>"
    assert anomaly.score == pytest.approx(got[output.SCORE], abs=0.01)  # written in hundredths
    assert (anomaly.trace_id, anomaly.span_id) == (b"\x01" * 16, b"\x02" * 8)
    assert anomaly.time_unix_nano == NOW + 5 * SECOND
    assert anomaly.resource == resource

    # seen once, it is no longer new
    again = score_one(scorer, record("disk quota exceeded on volume 9"))
    assert "new_template" not in again.get(output.REASONS, [])


def test_rare_templates_are_graded_by_rarity_and_severity():
    # rare_fraction=1e-3: a template of 1 line in 1000 scores 0.5, 1 in 100 scores 0.2 (by design)
    scorer = LogAnomalies(warmup_records=2000, rare_fraction=1e-3)
    bodies = [line(i, COMMON[i % 3]) for i in range(2000)]
    bodies[550] = "slow query on shard 3"  # 1 in 2000
    for i in range(100, 2000, 100):
        bodies[i] = "retrying upload of part 12"  # 1 in 100
    scorer.score(request(*(record(b) for b in bodies)))

    rarest, rare, common = map(
        attrs,
        run(scorer, record("slow query on shard 4"), record("retrying upload of part 13"), record(line(5))),
    )
    assert rarest[output.SCORE] >= output.THRESHOLD
    assert rarest[output.REASONS] == ["rare_template"]
    assert 0.1 < rare[output.SCORE] < output.THRESHOLD
    assert common[output.SCORE] == 0.0

    error = record("retrying upload of part 14", severity_number=SeverityNumber.SEVERITY_NUMBER_ERROR)
    info = record("retrying upload of part 15", severity_number=SeverityNumber.SEVERITY_NUMBER_INFO)
    text_only = record("retrying upload of part 16", severity_text="error")
    error, info, text_only = map(attrs, run(scorer, error, info, text_only))
    assert error[output.SCORE] > info[output.SCORE]
    assert text_only[output.SCORE] > info[output.SCORE]  # "error" as text, without a number


def test_rarity_is_taken_over_recent_records():
    # A template that becomes common is no longer rare, however long the history before it.
    # (24,600 records with rare_memory_records=100 also take the decayed weights past their
    # rescaling point.)
    scorer = LogAnomalies(warmup_records=100, rare_fraction=1e-3, rare_memory_records=100)
    run(scorer, record("feature flag beta enabled for tenant 1"))  # known, then unseen for long
    for start in range(0, 24_000, 1000):
        run(scorer, *(record(line(i, COMMON[i % 3])) for i in range(start, start + 1000)))
    scored = run(
        scorer,
        *(record(f"feature flag beta enabled for tenant {i}" if i % 3 else line(i)) for i in range(600)),
    )
    flags = [attrs(r) for r in scored if r.body.string_value.startswith("feature")]
    assert flags[0][output.REASONS] == ["rare_template"]  # after 24,000 other lines
    assert flags[-1][output.SCORE] == 0.0  # a third of the recent lines (0.23 over all records)


def steady_then_burst(start: int, *, observed_only: bool = False) -> list[LogRecord]:
    """20 one-minute windows with 5 "job" lines and 50 background lines each, then 100 job lines
    (20 times the usual rate) in the 21st minute."""
    records: list[LogRecord] = []

    def add(body: str, t: int) -> None:
        records.append(LogRecord(observed_time_unix_nano=t, body=AnyValue(string_value=body)))
        if not observed_only:
            records[-1].time_unix_nano = t

    for minute in range(21):
        base = start + minute * 60 * SECOND
        jobs = 100 if minute == 20 else 5
        for i in range(50):
            add(line(minute * 50 + i, COMMON[i % 3]), base + i * SECOND)
        for i in range(jobs):
            add(f"job {minute * 1000 + i} finished in {i % 7 + 1}s", base + (i * 59 * SECOND) // jobs)
    return records


def rate_verdicts(scored: list[LogRecord]) -> tuple[list[dict], list[dict]]:
    """The attributes of the job lines: the steady minutes', and the burst's."""
    jobs = [attrs(r) for r in scored if r.body.string_value.startswith("job ")]
    return jobs[:-100], jobs[-100:]


def test_a_template_whose_rate_jumps_20x_scores_template_rate():
    scorer = LogAnomalies(warmup_records=100)
    records = steady_then_burst(NOW)
    # sent as a live sidecar gets them: one request per second of event time
    anomalies, scored = [], []
    for second in range(0, 21 * 60):
        lo, hi = NOW + second * SECOND, NOW + (second + 1) * SECOND
        batch = [r for r in records if lo <= r.time_unix_nano < hi]
        if batch:
            req = request(*batch)
            anomalies += scorer.score(req)
            scored += req.resource_logs[0].scope_logs[0].log_records
    steady, burst = rate_verdicts(scored)
    assert all(v.get(output.SCORE, 0.0) < output.THRESHOLD for v in steady)
    assert burst[-1][output.REASONS] == ["template_rate"]
    assert burst[-1][output.SCORE] > 0.9
    flagged = [v for v in burst if v[output.SCORE] >= output.THRESHOLD]
    assert len(flagged) > 50  # the burst's records, once it is one
    assert burst[0][output.SCORE] < output.THRESHOLD  # its first lines are still a normal minute
    assert {a.subject for a in anomalies} == {"job <NUM> finished in <NUM>"}


@pytest.mark.parametrize("observed_only", [False, True])
def test_rate_follows_event_time_not_the_wall_clock(observed_only: bool):
    # 21 minutes of 2001, scored in one request in a few milliseconds of wall clock
    scorer = LogAnomalies(warmup_records=100)
    req = request(*steady_then_burst(LONG_AGO, observed_only=observed_only))
    anomalies = scorer.score(req)
    steady, burst = rate_verdicts(req.resource_logs[0].scope_logs[0].log_records)
    assert all(v.get(output.SCORE, 0.0) < output.THRESHOLD for v in steady)
    assert burst[-1][output.REASONS] == ["template_rate"]
    assert anomalies and all(LONG_AGO <= a.time_unix_nano < LONG_AGO + 21 * 60 * SECOND for a in anomalies)


def test_memory_stays_bounded_for_any_number_of_templates():
    scorer = LogAnomalies(max_templates=100, warmup_records=0, cache_size=256)
    letters = "abcdefghijklmnopqrstuvwxyz"

    def word(n: int) -> str:  # letters only: nothing is masked, every line its own template
        out = ""
        for _ in range(4):
            n, r = divmod(n, 26)
            out += letters[r]
        return out

    def feed(start: int, stop: int) -> set[int]:
        hot_ids = set()
        for first in range(start, stop, 50):
            batch = [record("heartbeat ok")]  # a hot exact line, matched through the body cache
            batch += [
                record(" ".join(word(i * 31 + k * 7919) for k in range(2 + i % 30)))
                for i in range(first, first + 50)
            ]
            hot_ids.add(attrs(run(scorer, *batch)[0])[TEMPLATE_ID])
            assert len(scorer.templates) <= 100
        return hot_ids

    hot_ids = feed(0, 10_000)
    gc.collect()
    after_10k = len(gc.get_objects())
    hot_ids |= feed(10_000, 50_000)
    gc.collect()
    grown = len(gc.get_objects()) - after_10k
    assert grown < 2000  # 40,000 more templates, no more objects
    assert scorer.templates.tree_size() < 1000
    assert sum(1 for _ in scorer.templates) <= 100
    assert len(hot_ids) == 1  # used all along, never forgotten


def trained(warmup: int = 60) -> tuple[LogAnomalies, dict[str, int]]:
    scorer = warmed(warmup)
    samples = run(scorer, *(record(line(7, t)) for t in COMMON))
    return scorer, {t: attrs(r)[TEMPLATE_ID] for t, r in zip(COMMON, samples, strict=True)}


def test_snapshot_restore_round_trip_through_the_state_store(tmp_path):
    scorer, ids = trained()
    store = StateStore(tmp_path / "state")
    store.save("logs", scorer)

    restored = LogAnomalies(warmup_records=60)
    assert store.load("logs", restored)
    assert restored.records == scorer.records
    for template, template_id in ids.items():
        rec = record(line(4242, template))
        got = score_one(restored, rec)
        assert output.WARMUP not in got  # past warm-up already
        assert got[TEMPLATE_ID] == template_id
        assert got[output.SCORE] < output.THRESHOLD
    new = record("certificate for db.internal expires in 3 days")
    got = score_one(restored, new)
    assert got[output.REASONS] == ["new_template"]
    assert got[TEMPLATE_ID] > max(ids.values())  # ids are not reused


def test_restore_keeps_rate_baselines():
    scorer = LogAnomalies(warmup_records=100)
    records = steady_then_burst(LONG_AGO)
    before, burst = records[:-150], records[-150:]
    run(scorer, *before)
    restored = LogAnomalies(warmup_records=100)
    restored.restore(scorer.snapshot())
    assert rate_verdicts(run(restored, *burst))[1][-1][output.REASONS] == ["template_rate"]


def test_restore_ignores_a_foreign_state():
    scorer, _ = trained()
    scorer.restore({"version": 999})
    assert scorer.records > 0  # kept what it had


def test_vigil_events_are_untouched():
    scorer = warmed()
    event = record("logs anomaly in x: new_template")
    event.attributes.append(KeyValue(key="event.name", value=AnyValue(string_value="vigil.anomaly")))
    field_event = record("traces anomaly in y: latency", event_name="vigil.anomaly")
    req = request(event, field_event)
    before = req.SerializeToString()
    seen = scorer.records
    assert scorer.score(req) == []
    assert req.SerializeToString() == before
    assert scorer.records == seen


def test_records_without_a_string_body_are_untouched():
    scorer = warmed()
    bodies = [
        AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="msg", value=AnyValue(string_value="hi"))])),
        AnyValue(int_value=42),
        AnyValue(string_value=""),
        AnyValue(),
    ]
    req = request(*(record(b) for b in bodies), LogRecord(time_unix_nano=NOW))
    before = req.SerializeToString()
    seen = scorer.records
    assert scorer.score(req) == []
    assert req.SerializeToString() == before
    assert scorer.records == seen


def test_earlier_template_attributes_are_replaced():
    scorer = warmed()
    rec = record(line(3))
    rec.attributes.extend(
        [
            KeyValue(key=TEMPLATE, value=AnyValue(string_value="stale")),
            KeyValue(key=TEMPLATE_ID, value=AnyValue(int_value=999)),
        ]
    )
    (scored,) = run(scorer, rec)
    keys = [kv.key for kv in scored.attributes]
    assert keys.count(TEMPLATE) == keys.count(TEMPLATE_ID) == 1
    assert attrs(scored)[TEMPLATE] == "user <NUM> logged in from <IP>"
