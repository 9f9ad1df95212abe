"""Job metrics: how many units of work an application starts, finishes and fails, how long they
take, and how many wait.

A *job* is any unit of work the application runs on its own terms: a background task, a message
taken from a queue, a scheduled run, a request to something the auto-instrumentation does not see.
(HTTP requests to the application are measured already, by its framework's instrumentation.)

Usage::

    from vigil.instrumentation import JobMetrics

    thumbnails = JobMetrics("thumbnail")          # at module level: one per kind of work

    def submit(photo):
        queue.put(photo)
        thumbnails.enqueued()

    def work():
        photo = queue.get()
        with thumbnails.start({"size": photo.size_class}, queued=True):
            render(photo)                         # an exception counts the job as failed

or, without a ``with`` block, ``job = thumbnails.start(...)`` then ``job.complete()`` or
``job.fail(error)``. A queue kept elsewhere (Redis, a database table) is observed instead:
``JobMetrics("export", queue_depth=lambda: redis.llen("exports"))``.

Metrics
-------
All carry ``job.type`` (the first argument) and the attributes given to the constructor; the
lifecycle ones also the attributes given to :meth:`JobMetrics.start`:

====================  ===========================  ======  =========================================
name                  instrument                   unit    what
====================  ===========================  ======  =========================================
``job.started``       Counter                      {job}   jobs started
``job.completed``     Counter                      {job}   jobs that ended well
``job.failed``        Counter                      {job}   jobs that failed, with ``error.type``
``job.duration``      Histogram                    s       from start to end, with ``error.type``
                                                           when failed
``job.active``        UpDownCounter                {job}   jobs started and not ended yet
``job.queue.depth``   UpDownCounter, or            {job}   jobs waiting: :meth:`~JobMetrics.enqueued`
                      ObservableUpDownCounter              minus those started with ``queued=True``
                      with ``queue_depth``                 or :meth:`~JobMetrics.dequeued`; or what
                                                           ``queue_depth()`` answers
====================  ===========================  ======  =========================================

``error.type`` follows the semantic conventions: the exception's class name (``TimeoutError``), or
the short reason the application gives (``job.fail("quota_exceeded")``). The duration histogram's
buckets run from 5 ms to an hour. The queue depth carries only the constructor's attributes, so that
what is added and taken away always meet in one series; make one ``JobMetrics`` per queue to tell
queues apart (``JobMetrics("mail", attributes={"queue": "bulk"})``).

Through the OpenTelemetry metrics API
-------------------------------------
The instruments come from the global meter provider (or ``meter_provider``), under the scope
``vigil.instrumentation.jobs``: under ``opentelemetry-instrument`` they are exported with the
application's other metrics; with no SDK configured they are no-ops that cost a function call; a
``JobMetrics`` made before the SDK is set up starts recording once it is. Two ``JobMetrics`` of the
same ``job.type`` share the instruments.

Bounded cardinality
-------------------
Every attribute goes through an :class:`~vigil.instrumentation.cardinality.AttributeGuard`: an
attribute whose key names an identity or whose value looks like an id (a UUID, a long hex or digit
run, an e-mail or IP address, a random token) is dropped with a warning, once per key, and each
instrument admits at most ``max_attribute_sets`` attribute sets (200 by default) before new ones go
to ``otel.metric.overflow=true``; :mod:`vigil.instrumentation.cardinality` has the exact rules.
Put ids on spans and log records instead.

Nothing here raises into the application for a telemetry reason: a job ended twice is counted once,
a job never ended stays in ``job.active``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from types import TracebackType

from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation, get_meter
from opentelemetry.semconv.attributes.error_attributes import ERROR_TYPE
from opentelemetry.semconv.schemas import Schemas

from vigil.instrumentation import __version__
from vigil.instrumentation.cardinality import (
    DEFAULT_MAX_ATTRIBUTE_SETS,
    AttributeGuard,
    Attributes,
    AttributeValue,
)

_logger = logging.getLogger(__name__)

SCOPE = "vigil.instrumentation.jobs"
JOB_TYPE = "job.type"
"""The attribute that carries the kind of work (``JobMetrics("thumbnail")``)."""

STARTED = "job.started"
COMPLETED = "job.completed"
FAILED = "job.failed"
DURATION = "job.duration"
ACTIVE = "job.active"
QUEUE_DEPTH = "job.queue.depth"

DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
)
"""Seconds: from a fast task to an hour-long batch (the SDK's default buckets are for milliseconds)."""

OTHER_ERROR = "_OTHER"
"""``error.type`` of a failure given no reason, as the semantic conventions spell "unknown"."""


class JobMetrics:
    """The lifecycle metrics of one kind of job; see the module docstring.

    ``job_type``: the value of ``job.type`` (a category such as ``"thumbnail"``, never an id).
    ``attributes``: added to every measurement (e.g. ``{"queue": "bulk"}``).
    ``queue_depth``: a callable that answers the number of jobs waiting, read at each metric
    export; when given, :meth:`enqueued` and :meth:`dequeued` do nothing.
    ``meter_provider``: default, the global one.
    ``max_attribute_sets``: the cap on distinct attribute sets per instrument."""

    def __init__(
        self,
        job_type: str,
        *,
        attributes: Attributes | None = None,
        queue_depth: Callable[[], int] | None = None,
        meter_provider: MeterProvider | None = None,
        max_attribute_sets: int = DEFAULT_MAX_ATTRIBUTE_SETS,
    ) -> None:
        self.guard = AttributeGuard(f"job metrics {job_type!r}", max_attribute_sets)
        self._base = self.guard.clean({**(attributes or {}), JOB_TYPE: job_type})
        meter = get_meter(SCOPE, __version__, meter_provider, schema_url=Schemas.V1_44_0.value)
        self._started = meter.create_counter(STARTED, "{job}", "Jobs started")
        self._completed = meter.create_counter(COMPLETED, "{job}", "Jobs that ended well")
        self._failed = meter.create_counter(FAILED, "{job}", "Jobs that failed")
        self._duration = meter.create_histogram(
            DURATION,
            "s",
            "Duration of jobs, from start to end",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        self._active = meter.create_up_down_counter(ACTIVE, "{job}", "Jobs started and not ended yet")
        self._queue_depth = queue_depth
        self._queued = None
        if queue_depth is None:
            self._queued = meter.create_up_down_counter(QUEUE_DEPTH, "{job}", "Jobs waiting to start")
        else:
            meter.create_observable_up_down_counter(
                QUEUE_DEPTH, [self._observe_queue], "{job}", "Jobs waiting to start"
            )

    def enqueued(self, count: int = 1) -> None:
        """``count`` jobs joined the queue."""
        if self._queued is not None:
            self._queued.add(count, self._admit(QUEUE_DEPTH, self._base))

    def dequeued(self, count: int = 1) -> None:
        """``count`` jobs left the queue without being started (cancelled, expired, dropped)."""
        if self._queued is not None:
            self._queued.add(-count, self._admit(QUEUE_DEPTH, self._base))

    def start(self, attributes: Attributes | None = None, *, queued: bool = False) -> Job:
        """Count a job as started (and, with ``queued``, as no longer waiting); end it through the
        returned :class:`Job`, or use that as a context manager."""
        merged = {**self._base, **self.guard.clean(attributes)} if attributes else self._base
        self._started.add(1, self._admit(STARTED, merged))
        self._active.add(1, self._admit(ACTIVE, merged))
        if queued:
            self.dequeued()
        return Job(self, merged)

    def _end(self, attributes: dict[str, AttributeValue], seconds: float, error_type: str | None) -> None:
        self._active.add(-1, self._admit(ACTIVE, attributes))
        if error_type is None:
            self._completed.add(1, self._admit(COMPLETED, attributes))
            self._duration.record(seconds, self._admit(DURATION, attributes))
            return
        failed = {**attributes, **self.guard.clean({ERROR_TYPE: error_type})}
        self._failed.add(1, self._admit(FAILED, failed))
        self._duration.record(seconds, self._admit(DURATION, failed))

    def _admit(self, instrument: str, attributes: dict[str, AttributeValue]) -> dict[str, AttributeValue]:
        return self.guard.admit(instrument, attributes)  # type: ignore[return-value]

    def _observe_queue(self, options: CallbackOptions) -> Iterable[Observation]:
        try:
            depth = self._queue_depth()  # type: ignore[misc]
        except Exception:
            _logger.warning("job metrics: the queue_depth callable failed", exc_info=True)
            return []
        return [Observation(depth, self._admit(QUEUE_DEPTH, self._base))]


class Job:
    """One started job. End it once with :meth:`complete` or :meth:`fail`; as a context manager it
    completes when the block ends, or fails with the exception that ends it (which propagates)."""

    __slots__ = ("_attributes", "_ended", "_metrics", "_start")

    def __init__(self, metrics: JobMetrics, attributes: dict[str, AttributeValue]) -> None:
        self._metrics = metrics
        self._attributes = attributes
        self._start = time.monotonic()
        self._ended = False

    @property
    def elapsed(self) -> float:
        """Seconds since the job started."""
        return time.monotonic() - self._start

    def complete(self) -> None:
        """The job ended well."""
        self._finish(None)

    def fail(self, error: BaseException | str | None = None) -> None:
        """The job failed: ``error`` is the exception (its class name becomes ``error.type``) or a
        short reason such as ``"timeout"`` (a category, never a message with ids in it)."""
        if isinstance(error, BaseException):
            self._finish(type(error).__qualname__)
        else:
            self._finish(error or OTHER_ERROR)

    def _finish(self, error_type: str | None) -> None:
        if self._ended:
            _logger.debug("job metrics: a job was ended twice; the second end is not counted")
            return
        self._ended = True
        self._metrics._end(self._attributes, self.elapsed, error_type)

    def __enter__(self) -> Job:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.complete()
        else:
            self.fail(exc)
