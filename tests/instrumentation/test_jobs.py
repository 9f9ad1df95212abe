"""Job metrics through the SDK's in-memory reader, and through the global API in a real process."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time

import pytest
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader

from tests.instrumentation.exported import run_exporting
from vigil.instrumentation import JobMetrics
from vigil.instrumentation.jobs import DURATION_BUCKETS, OTHER_ERROR


class Collected:
    """name -> {sorted attribute items: value (a histogram point for histograms)}."""

    def __init__(self) -> None:
        self.reader = InMemoryMetricReader()
        self.provider = MeterProvider(metric_readers=[self.reader])

    def __call__(self) -> dict[str, dict[tuple, object]]:
        found: dict[str, dict[tuple, object]] = {}
        data = self.reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                assert scope_metrics.scope.name == "vigil.instrumentation.jobs"
                for metric in scope_metrics.metrics:
                    found[metric.name] = {
                        tuple(sorted(point.attributes.items())): (
                            point if isinstance(point, HistogramDataPoint) else point.value
                        )
                        for point in metric.data.data_points
                    }
        return found


@pytest.fixture
def collected():
    return Collected()


LARGE = (("job.type", "resize"), ("size", "large"))


def test_the_lifecycle_is_counted(collected):
    jobs = JobMetrics("resize", meter_provider=collected.provider)
    with jobs.start({"size": "large"}):
        pass
    with pytest.raises(TimeoutError), jobs.start({"size": "large"}):
        raise TimeoutError("slow disk")
    job = jobs.start({"size": "large"})
    job.fail("quota_exceeded")
    job.complete()  # a second end is not counted
    jobs.start({"size": "large"}).fail()
    running = jobs.start({"size": "large"})

    metrics = collected()
    assert metrics["job.started"] == {LARGE: 5}
    assert metrics["job.completed"] == {LARGE: 1}
    assert metrics["job.failed"] == {
        (("error.type", "TimeoutError"), *LARGE): 1,
        (("error.type", "quota_exceeded"), *LARGE): 1,
        (("error.type", OTHER_ERROR), *LARGE): 1,
    }
    assert metrics["job.active"] == {LARGE: 1}
    durations = metrics["job.duration"]
    assert durations[LARGE].count == 1
    assert sum(point.count for point in durations.values()) == 4
    assert tuple(durations[LARGE].explicit_bounds) == DURATION_BUCKETS
    running.complete()
    assert collected()["job.active"] == {LARGE: 0}


def test_durations_are_seconds(collected):
    jobs = JobMetrics("sleep", meter_provider=collected.provider)
    with jobs.start():
        time.sleep(0.05)
    [point] = collected()["job.duration"].values()
    assert 0.05 <= point.sum < 1


def test_the_queue_depth_follows_enqueue_start_and_dequeue(collected):
    jobs = JobMetrics("mail", attributes={"queue": "bulk"}, meter_provider=collected.provider)
    jobs.enqueued(3)
    jobs.start({"priority": "high"}, queued=True).complete()
    jobs.dequeued()
    metrics = collected()
    # The queue carries the constructor's attributes only, so that adds and removals meet.
    assert metrics["job.queue.depth"] == {(("job.type", "mail"), ("queue", "bulk")): 1}
    assert metrics["job.started"] == {(("job.type", "mail"), ("priority", "high"), ("queue", "bulk")): 1}


def test_an_observed_queue_depth_is_read_at_collection(collected):
    waiting = [1, 2, 3, 4]
    jobs = JobMetrics("export", queue_depth=lambda: len(waiting), meter_provider=collected.provider)
    jobs.enqueued()  # ignored: the queue is observed
    assert collected()["job.queue.depth"] == {(("job.type", "export"),): 4}
    waiting.clear()
    assert collected()["job.queue.depth"] == {(("job.type", "export"),): 0}


def test_ids_are_refused_and_the_job_still_counted(collected, caplog):
    jobs = JobMetrics("resize", meter_provider=collected.provider)
    with jobs.start({"size": "large", "photo": "123e4567-e89b-12d3-a456-426614174000", "user.id": "7"}):
        pass
    assert collected()["job.started"] == {LARGE: 1}
    assert jobs.guard.refused == 2
    assert "'photo'" in caplog.text and "'user.id'" in caplog.text


def test_attribute_sets_past_the_cap_overflow(collected):
    jobs = JobMetrics("resize", meter_provider=collected.provider, max_attribute_sets=2)
    for size in ("s", "m", "l", "xl"):
        jobs.start({"size": size}).complete()
    started = collected()["job.started"]
    assert started == {
        (("job.type", "resize"), ("size", "s")): 1,
        (("job.type", "resize"), ("size", "m")): 1,
        (("otel.metric.overflow", True),): 2,
    }


def test_without_an_sdk_it_does_nothing():
    jobs = JobMetrics("resize", meter_provider=NoOpMeterProvider(), queue_depth=lambda: 1)
    with jobs.start({"size": "large"}):
        pass
    jobs.start().fail(ValueError("x"))


# The global API, in a fresh interpreter: JobMetrics made before any SDK exists (as at import time
# of an application module) records once the SDK's meter provider is set.
BEFORE_THE_SDK = textwrap.dedent(
    """
    import json
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from vigil.instrumentation import JobMetrics

    jobs = JobMetrics("early")
    jobs.start().complete()  # no SDK yet: nowhere to go
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    jobs.start().complete()
    found = {
        m.name: [p.value for p in m.data.data_points]
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name in ("job.started", "job.completed")
    }
    print(json.dumps(found))
    """
)


def test_made_before_the_sdk_it_records_once_the_sdk_is_set():
    out = subprocess.run(
        [sys.executable, "-c", BEFORE_THE_SDK], capture_output=True, text=True, timeout=60, check=True
    )
    assert json.loads(out.stdout) == {"job.started": [1], "job.completed": [1]}


JOBS_APP = """
from vigil.instrumentation import JobMetrics

thumbnails = JobMetrics("thumbnail")
thumbnails.enqueued(3)
for size in ("small", "large"):
    with thumbnails.start({"size": size}, queued=True):
        pass
try:
    with thumbnails.start({"size": "large", "photo": "9f86d081884c7d65"}, queued=True):
        raise MemoryError
except MemoryError:
    pass
"""


def test_under_opentelemetry_instrument_they_are_exported_with_the_apps_metrics():
    exported = run_exporting(JOBS_APP)
    small, large = (
        (("job.type", "thumbnail"), ("size", "small")),
        (("job.type", "thumbnail"), ("size", "large")),
    )
    assert exported.metrics["job.started"] == {small: 1, large: 2}
    assert exported.metrics["job.completed"] == {small: 1, large: 1}
    assert exported.metrics["job.failed"] == {(("error.type", "MemoryError"), *large): 1}
    assert exported.metrics["job.queue.depth"] == {(("job.type", "thumbnail"),): 0}
    assert exported.metrics["job.active"] == {small: 0, large: 0}
    assert sum(exported.metrics["job.duration"].values()) == 3
    assert "'photo' refused" in exported.stderr + "".join(r.body for r in exported.records)
