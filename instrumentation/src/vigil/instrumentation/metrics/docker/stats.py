"""The selected containers' statistics, read in the background and reported as ``container.*`` metrics.

Reading
-------
A background thread lists the running containers that match the selector every
:envvar:`VIGIL_DOCKER_INTERVAL` seconds (10 by default), and right away when a lifecycle event says
one started or stopped. It then reads each one's configuration (inspect) and statistics, up to 8
containers at a time. Statistics are asked for as a single sample (API 1.41+, Docker 20.10+: a few
milliseconds); older daemons wait for a second sample, about a second per container, which is why
this never happens in the metric export: the instruments' callbacks only report the latest readings.

Bounds: at most 256 containers are tracked (the ones already tracked keep their place; a warning
says when more match). A container that stops or disappears keeps its last values, but for
``container.cpu.usage``, for 5 minutes, so that the final CPU time, memory and I/O of a short job
reach at least one export at the default 60 s interval, and is then forgotten. A job shorter than
the interval may be read once, when its start event wakes the reader, or not at all; its lifecycle
events always arrive.

Metrics
-------
Named and measured as the ``container.*`` metrics of the process's own cgroup
(:mod:`vigil.instrumentation.metrics.container`), with each container's identity on every point
(:mod:`.selection`):

- ``container.cpu.time`` (counter, ``s``): with ``cpu.mode`` ``user`` and ``system`` (Docker's
  ``usage_in_usermode`` / ``usage_in_kernelmode``), else one total.
- ``container.cpu.usage`` (gauge, ``{cpu}``): CPUs in use between the last two readings; running
  containers only.
- ``container.cpu.limit`` (updowncounter, ``{cpu}``): ``--cpus``, or ``--cpu-quota`` over
  ``--cpu-period``; only when set. ``container.cpu.limit.utilization`` (gauge, ``1``): usage over it.
- ``container.cpu.periods``, ``container.cpu.throttled.periods`` (counters, ``{period}``),
  ``container.cpu.throttled.time`` (counter, ``s``): CFS bandwidth enforcement.
- ``container.memory.usage`` (updowncounter, ``By``): the cgroup's usage, page cache included.
- ``container.memory.working_set`` (updowncounter, ``By``): usage less inactive file pages (what
  ``docker stats`` shows).
- ``container.memory.rss`` (updowncounter, ``By``): anonymous memory.
- ``container.memory.limit`` (updowncounter, ``By``): ``--memory``, only when set;
  ``container.memory.available`` (updowncounter, ``By``): the limit less the working set.
- ``container.disk.io`` (counter, ``By``): by ``disk.io.direction`` and ``system.device`` (the
  kernel's name when the daemon is on this host's socket, else ``major:minor``). On cgroup v1 hosts
  the daemon reports nothing here unless an I/O scheduler or throttling rule accounts the device.
- ``container.network.io`` (counter, ``By``): by ``network.io.direction`` and
  ``network.interface.name``; only for containers with a network interface of their own (not
  ``--network none`` or ``host``).

Docker reports cgroup v1 and v2 statistics in the same shape but for the memory details, whose v1
(``total_inactive_file``, ``total_rss``) and v2 (``inactive_file``, ``anon``) keys are both read.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.semconv._incubating.attributes.cpu_attributes import CPU_MODE, CpuModeValues
from opentelemetry.semconv._incubating.attributes.disk_attributes import DISK_IO_DIRECTION
from opentelemetry.semconv._incubating.attributes.network_attributes import (
    NETWORK_INTERFACE_NAME,
    NETWORK_IO_DIRECTION,
)
from opentelemetry.semconv._incubating.attributes.system_attributes import SYSTEM_DEVICE
from opentelemetry.semconv._incubating.metrics.container_metrics import (
    CONTAINER_CPU_TIME,
    CONTAINER_CPU_USAGE,
    CONTAINER_DISK_IO,
    CONTAINER_MEMORY_AVAILABLE,
    CONTAINER_MEMORY_RSS,
    CONTAINER_MEMORY_USAGE,
    CONTAINER_MEMORY_WORKING_SET,
    CONTAINER_NETWORK_IO,
)

from vigil.instrumentation.metrics.container import (
    CONTAINER_CPU_LIMIT,
    CONTAINER_CPU_LIMIT_UTILIZATION,
    CONTAINER_CPU_PERIODS,
    CONTAINER_CPU_THROTTLED_PERIODS,
    CONTAINER_CPU_THROTTLED_TIME,
    CONTAINER_MEMORY_LIMIT,
)
from vigil.instrumentation.metrics.docker.connection import REQUEST_TIMEOUT, Connection, make_client
from vigil.instrumentation.metrics.docker.selection import LabelSelector

if TYPE_CHECKING:
    from docker import APIClient

_logger = logging.getLogger(__name__)

DEFAULT_INTERVAL = 10.0
MAX_CONTAINERS = 256
FORGET_AFTER = 300.0
"""Seconds a stopped container's last values are still reported."""
MAX_READERS = 8
"""Containers read at the same time."""
MIN_GAP = 1.0
"""Seconds between two rounds at least, however many events wake the reader."""

Point = tuple[float, Mapping[str, str]]


@dataclass(frozen=True)
class Throttling:
    periods: int
    throttled_periods: int
    throttled_seconds: float


@dataclass(frozen=True)
class ContainerStats:
    """What one statistics sample of the Docker API says; ``None`` where it says nothing."""

    cpu_total: float | None = None
    cpu_user: float | None = None
    cpu_system: float | None = None
    throttling: Throttling | None = None
    memory_usage: int | None = None
    memory_working_set: int | None = None
    memory_rss: int | None = None
    disk_io: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """``{(major:minor, "read" | "write"): bytes}``."""
    network_io: Mapping[tuple[str, str], int] = field(default_factory=dict)
    """``{(interface, "receive" | "transmit"): bytes}``."""


def parse_stats(payload: Mapping[str, Any]) -> ContainerStats:
    """A ``GET /containers/{id}/stats`` answer (cgroup v1 or v2) as :class:`ContainerStats`."""
    cpu = payload.get("cpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    total, user, system = (
        usage.get("total_usage"),
        usage.get("usage_in_usermode"),
        usage.get("usage_in_kernelmode"),
    )
    throttling_data = cpu.get("throttling_data") or {}
    throttling = None
    if all(key in throttling_data for key in ("periods", "throttled_periods", "throttled_time")):
        throttling = Throttling(
            int(throttling_data["periods"]),
            int(throttling_data["throttled_periods"]),
            throttling_data["throttled_time"] / 1e9,
        )

    memory = payload.get("memory_stats") or {}
    details = memory.get("stats") or {}
    memory_usage = memory.get("usage")
    # v1 keeps the hierarchy's totals under total_*, the plain keys being the cgroup's own; v2 has
    # only plain keys, and calls anonymous memory "anon".
    inactive = details.get("total_inactive_file", details.get("inactive_file"))
    rss = details.get("total_rss", details.get("rss", details.get("anon")))
    working_set = None
    if memory_usage is not None and inactive is not None:
        working_set = max(memory_usage - inactive, 0)

    disk_io: dict[tuple[str, str], int] = {}
    for entry in (payload.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
        direction = str(entry.get("op", "")).lower()  # v1 "Read", v2 "read"
        if direction in ("read", "write") and "value" in entry:
            key = (f"{entry.get('major')}:{entry.get('minor')}", direction)
            disk_io[key] = disk_io.get(key, 0) + int(entry["value"])

    network_io = {}
    for interface, counters in (payload.get("networks") or {}).items():
        for direction, key in (("receive", "rx_bytes"), ("transmit", "tx_bytes")):
            if key in counters:
                network_io[(interface, direction)] = int(counters[key])

    return ContainerStats(
        cpu_total=total / 1e9 if total is not None else None,
        cpu_user=user / 1e9 if user is not None else None,
        cpu_system=system / 1e9 if system is not None else None,
        throttling=throttling,
        memory_usage=memory_usage,
        memory_working_set=working_set,
        memory_rss=rss,
        disk_io=disk_io,
        network_io=network_io,
    )


def limits(inspect: Mapping[str, Any]) -> tuple[float | None, int | None]:
    """``(CPUs, memory bytes)`` the container is limited to, from its inspect answer (``None``: no
    limit)."""
    host_config = inspect.get("HostConfig") or {}
    cpus = None
    if nano_cpus := host_config.get("NanoCpus"):
        cpus = nano_cpus / 1e9
    elif (quota := host_config.get("CpuQuota") or 0) > 0:
        cpus = quota / (host_config.get("CpuPeriod") or 100_000)  # the kernel's default period
    memory = host_config.get("Memory") or None
    return cpus, memory


@dataclass(frozen=True)
class Sample:
    """The latest reading of one container, as the instruments report it."""

    attributes: Mapping[str, str]
    stats: ContainerStats
    running: bool = True
    cpus: float | None = None
    """CPUs in use between the last two readings."""
    cpu_limit: float | None = None
    memory_limit: int | None = None


@dataclass
class _Tracked:
    sample: Sample
    cpu_reading: tuple[float, float] | None  # (monotonic time, CPU seconds)
    gone_since: float | None = None


class _Gone:
    """A container that no longer exists."""


_GONE = _Gone()


class StatsReader:
    """The background reader; :meth:`samples` is what the instruments report."""

    def __init__(
        self,
        selector: LabelSelector,
        interval: float = DEFAULT_INTERVAL,
        *,
        max_containers: int = MAX_CONTAINERS,
        forget_after: float = FORGET_AFTER,
        min_gap: float = MIN_GAP,
        connection: Connection | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._selector = selector
        self._interval = interval
        self._max_containers = max_containers
        self._forget_after = forget_after
        self._min_gap = min(min_gap, interval)
        self._connection = connection or Connection(
            "container statistics", lambda: make_client(max_pool_size=MAX_READERS + 2)
        )
        self._clock = clock
        self._tracked: dict[str, _Tracked] = {}
        self._published: Mapping[str, Sample] = {}
        self._warned_full = False
        self._warned_error = False
        self._device_names: dict[str, str] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="vigil-docker-stats", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._connection.close()

    def wake(self) -> None:
        """Start the next round now, or once :data:`MIN_GAP` has passed since the last one began: a
        container started or stopped."""
        self._wake.set()

    def samples(self) -> Iterable[Sample]:
        # A forked worker inherits the last readings but not the thread that would renew them:
        # only the process that started the reader reports.
        if os.getpid() != self._pid:
            return ()
        return self._published.values()

    def _run(self) -> None:
        while not self._stop.is_set():
            started = self._clock()
            try:
                self.read_once()
            except Exception as error:
                if self._stop.is_set():
                    break
                if _is_connection_error(error):
                    self._connection.failed(error)
                    self._lose_all()
                    self._connection.wait_to_retry(self._stop)
                    continue
                if not self._warned_error:  # a bug of ours, or a daemon answering nonsense
                    _logger.warning("Docker collector: reading container statistics failed", exc_info=True)
                    self._warned_error = True
            self._wake.wait(max(0.0, self._interval - (self._clock() - started)))
            self._wake.clear()
            self._stop.wait(max(0.0, self._min_gap - (self._clock() - started)))

    def read_once(self) -> None:
        """One round: list, read, publish (raises when the daemon cannot be reached)."""
        client = self._connection.client()
        listed = client.containers(filters=self._selector.api_filters())  # running ones
        self._connection.succeeded()
        listed_ids = [entry["Id"] for entry in listed]
        # The ones already tracked first, so that a burst of new containers evicts none of them.
        chosen = [cid for cid in listed_ids if cid in self._tracked]
        chosen += [cid for cid in listed_ids if cid not in self._tracked]
        if len(chosen) > self._max_containers:
            if not self._warned_full:
                _logger.warning(
                    "Docker collector: %d containers match the selector; reporting %d of them",
                    len(chosen),
                    self._max_containers,
                )
                self._warned_full = True
            chosen = chosen[: self._max_containers]
        readings = self._read_all(client, chosen)
        now = self._clock()
        for cid in chosen:
            reading = readings.get(cid)
            if isinstance(reading, tuple):
                self._update(cid, *reading, local=client.base_url == "http+docker://localhost")
            elif reading is _GONE:
                self._mark_gone(cid, now)
            # None: this reading failed (timed out, say); the last one stands until the next round.
        for cid in self._tracked.keys() - set(chosen):
            self._mark_gone(cid, now)
        self._forget(now)

    def _read_all(self, client: APIClient, ids: list[str]) -> dict[str, Any]:
        """``{id: (inspect, stats, when) | _GONE | None}``, up to :data:`MAX_READERS` at a time."""
        from docker.utils import version_gte

        one_shot = True if version_gte(client.api_version, "1.41") else None
        pending: queue.SimpleQueue[str] = queue.SimpleQueue()
        for cid in ids:
            pending.put(cid)
        results: dict[str, Any] = {}

        def work() -> None:
            while not self._stop.is_set():
                try:
                    cid = pending.get_nowait()
                except queue.Empty:
                    return
                results[cid] = self._read_one(client, cid, one_shot)

        # Daemon threads, not a ThreadPoolExecutor: the interpreter joins an executor's workers
        # before atexit handlers run, so one stuck request could hold up the application's exit.
        workers = [
            threading.Thread(target=work, name=f"vigil-docker-stats-{n}", daemon=True)
            for n in range(min(MAX_READERS, len(ids)))
        ]
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 2 * REQUEST_TIMEOUT + 1
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return dict(results)

    def _read_one(self, client: APIClient, cid: str, one_shot: bool | None) -> Any:
        """``(inspect, stats, when)``, ``_GONE``, or ``None`` when the reading failed."""
        from docker.errors import NotFound

        try:
            inspect = client.inspect_container(cid)
            if not (inspect.get("State") or {}).get("Running"):
                return _GONE
            stats = client.stats(cid, stream=False, one_shot=one_shot)
            # Each container's own time: without one-shot a reading takes a second or more, and
            # the CPU rate must not count the others' waits.
            return inspect, stats, self._clock()
        except NotFound:
            return _GONE
        except Exception:
            _logger.debug("Docker collector: reading container %s failed", cid[:12], exc_info=True)
            return None

    def _update(
        self, cid: str, inspect: Mapping[str, Any], payload: Mapping[str, Any], when: float, local: bool
    ) -> None:
        config = inspect.get("Config") or {}
        attributes = self._selector.attributes(
            cid, inspect.get("Name"), config.get("Image"), config.get("Labels") or {}
        )
        stats = parse_stats(payload)
        if local and stats.disk_io:
            stats = replace(stats, disk_io={(self._device(d), op): v for (d, op), v in stats.disk_io.items()})
        previous = self._tracked.get(cid)
        cpu_reading = (when, stats.cpu_total) if stats.cpu_total is not None else None
        cpus = None
        if previous and previous.cpu_reading and cpu_reading and previous.gone_since is None:
            (then, before), (_, after) = previous.cpu_reading, cpu_reading
            # A restarted container starts its counters afresh: no rate across that.
            if when > then and after >= before:
                cpus = (after - before) / (when - then)
        cpu_limit, memory_limit = limits(inspect)
        sample = Sample(attributes, stats, True, cpus, cpu_limit, memory_limit)
        self._tracked[cid] = _Tracked(sample, cpu_reading)

    def _mark_gone(self, cid: str, now: float) -> None:
        tracked = self._tracked.get(cid)
        if tracked is not None and tracked.gone_since is None:
            tracked.gone_since = now
            tracked.sample = replace(tracked.sample, running=False, cpus=None)

    def _lose_all(self) -> None:
        """The daemon is out of reach: its containers count as stopped until it answers again."""
        now = self._clock()
        for cid in list(self._tracked):
            self._mark_gone(cid, now)
        self._forget(now)

    def _forget(self, now: float) -> None:
        for cid, tracked in list(self._tracked.items()):
            if tracked.gone_since is not None and now - tracked.gone_since >= self._forget_after:
                del self._tracked[cid]
        # Stopped containers fill what running ones leave free, the most recently stopped first.
        excess = len(self._tracked) - self._max_containers
        if excess > 0:
            gone = sorted((t.gone_since, cid) for cid, t in self._tracked.items() if t.gone_since is not None)
            for _, cid in gone[:excess]:
                del self._tracked[cid]
        # One assignment, so a collection on another thread sees either the old readings or these.
        self._published = {cid: tracked.sample for cid, tracked in self._tracked.items()}

    def _device(self, device: str) -> str:
        """``8:0`` -> ``sda`` via ``/sys/dev/block``: only asked for a daemon on this host."""
        if device not in self._device_names:
            try:
                name = os.readlink(Path("/sys/dev/block") / device).rstrip("/").rsplit("/", 1)[-1]
            except OSError:
                name = device
            self._device_names[device] = name or device
        return self._device_names[device]


def _is_connection_error(error: BaseException) -> bool:
    import requests
    from docker.errors import DockerException

    return isinstance(error, (OSError, requests.exceptions.RequestException, DockerException))


# The instruments: name, kind, unit, description, and the points of one sample.
def _cpu_time(sample: Sample) -> Iterator[Point]:
    stats = sample.stats
    if stats.cpu_user is not None and stats.cpu_system is not None:
        # The conventions: either every point of the metric has cpu.mode, or none has.
        yield stats.cpu_user, {CPU_MODE: CpuModeValues.USER.value}
        yield stats.cpu_system, {CPU_MODE: CpuModeValues.SYSTEM.value}
    elif stats.cpu_total is not None:
        yield stats.cpu_total, {}


def _one(read: Callable[[Sample], float | None]) -> Callable[[Sample], Iterator[Point]]:
    def points(sample: Sample) -> Iterator[Point]:
        if (value := read(sample)) is not None:
            yield value, {}

    return points


def _by_key(
    read: Callable[[Sample], Mapping[tuple[str, str], int]], first: str, second: str
) -> Callable[[Sample], Iterator[Point]]:
    def points(sample: Sample) -> Iterator[Point]:
        for (a, b), value in read(sample).items():
            yield value, {first: a, second: b}

    return points


def _throttling(read: Callable[[Throttling], float]) -> Callable[[Sample], float | None]:
    return lambda sample: read(sample.stats.throttling) if sample.stats.throttling else None


def _limit_utilization(sample: Sample) -> float | None:
    if sample.cpus is None or not sample.cpu_limit:
        return None
    return sample.cpus / sample.cpu_limit


def _memory_available(sample: Sample) -> int | None:
    limit, working_set = sample.memory_limit, sample.stats.memory_working_set
    return max(limit - working_set, 0) if limit is not None and working_set is not None else None


INSTRUMENTS: tuple[tuple[str, str, str, str, Callable[[Sample], Iterable[Point]]], ...] = (
    (CONTAINER_CPU_TIME, "counter", "s", "Total CPU time consumed.", _cpu_time),
    (
        CONTAINER_CPU_USAGE,
        "gauge",
        "{cpu}",
        "Container's CPU usage, measured in CPUs, between the last two readings.",
        _one(lambda s: s.cpus),
    ),
    (
        CONTAINER_CPU_LIMIT,
        "updowncounter",
        "{cpu}",
        "The container's CPU limit, in CPUs.",
        _one(lambda s: s.cpu_limit),
    ),
    (
        CONTAINER_CPU_LIMIT_UTILIZATION,
        "gauge",
        "1",
        "CPU usage over the container's CPU limit (only while there is one).",
        _one(_limit_utilization),
    ),
    (
        CONTAINER_CPU_PERIODS,
        "counter",
        "{period}",
        "CFS bandwidth enforcement periods that have elapsed.",
        _one(_throttling(lambda t: t.periods)),
    ),
    (
        CONTAINER_CPU_THROTTLED_PERIODS,
        "counter",
        "{period}",
        "Enforcement periods in which the container ran out of CPU quota.",
        _one(_throttling(lambda t: t.throttled_periods)),
    ),
    (
        CONTAINER_CPU_THROTTLED_TIME,
        "counter",
        "s",
        "Time the container's tasks were throttled for lack of CPU quota.",
        _one(_throttling(lambda t: t.throttled_seconds)),
    ),
    (
        CONTAINER_MEMORY_USAGE,
        "updowncounter",
        "By",
        "Memory usage of the container.",
        _one(lambda s: s.stats.memory_usage),
    ),
    (
        CONTAINER_MEMORY_WORKING_SET,
        "updowncounter",
        "By",
        "Container memory working set.",
        _one(lambda s: s.stats.memory_working_set),
    ),
    (
        CONTAINER_MEMORY_RSS,
        "updowncounter",
        "By",
        "Container memory RSS.",
        _one(lambda s: s.stats.memory_rss),
    ),
    (
        CONTAINER_MEMORY_LIMIT,
        "updowncounter",
        "By",
        "The container's memory limit (only while there is one).",
        _one(lambda s: s.memory_limit),
    ),
    (
        CONTAINER_MEMORY_AVAILABLE,
        "updowncounter",
        "By",
        "Memory limit less the working set (only while there is a limit).",
        _one(_memory_available),
    ),
    (
        CONTAINER_DISK_IO,
        "counter",
        "By",
        "Disk bytes for the container.",
        _by_key(lambda s: s.stats.disk_io, SYSTEM_DEVICE, DISK_IO_DIRECTION),
    ),
    (
        CONTAINER_NETWORK_IO,
        "counter",
        "By",
        "Network bytes for the container.",
        _by_key(lambda s: s.stats.network_io, NETWORK_INTERFACE_NAME, NETWORK_IO_DIRECTION),
    ),
)


def register_instruments(meter: Meter, samples: Callable[[], Iterable[Sample]]) -> list[str]:
    """Create the observable instruments, reporting ``samples()`` at each collection; returns their
    names. Nothing is read here: the callbacks only look at the latest readings."""
    create = {
        "counter": meter.create_observable_counter,
        "updowncounter": meter.create_observable_up_down_counter,
        "gauge": meter.create_observable_gauge,
    }
    for name, kind, unit, description, points in INSTRUMENTS:
        create[kind](
            name=name, callbacks=[_callback(name, samples, points)], unit=unit, description=description
        )
    return [name for name, *_ in INSTRUMENTS]


def _callback(
    name: str, samples: Callable[[], Iterable[Sample]], points: Callable[[Sample], Iterable[Point]]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    reported = False

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        nonlocal reported
        try:
            return [
                Observation(value, {**sample.attributes, **extra})
                for sample in samples()
                for value, extra in points(sample)
            ]
        except Exception:  # a bug must cost this metric, not the whole collection
            if not reported:
                _logger.debug("%s could not be collected", name, exc_info=True)
                reported = True
            return []

    return observe
