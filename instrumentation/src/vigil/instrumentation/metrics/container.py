"""``container.*`` metrics from the process's cgroup (v1 and v2) and network namespace.

What the container as a whole uses and how close it is to its limits, as the kernel accounts them for
the process's cgroup: every process in the container counts, the application's workers and helpers
too. On by default when the process runs in a container (a container id in its cgroup or mounts,
``/.dockerenv``, ``/run/.containerenv``, ``KUBERNETES_SERVICE_HOST``) or in a cgroup with a CPU quota
or memory limit (a systemd service with ``CPUQuota=`` or ``MemoryMax=`` too); see
:envvar:`VIGIL_CONTAINER_METRICS` to force it either way. Only what the kernel exposes is registered:
a missing file means a missing metric (logged at debug level), never an error in the application.

Named in the semantic conventions (1.44, status "development"):

- ``container.cpu.time`` (counter, ``s``): CPU time of the cgroup, with ``cpu.mode`` ``user`` and
  ``system`` where the kernel splits it (v2 ``cpu.stat``; v1 ``cpuacct.usage_user`` /
  ``cpuacct.usage_sys``, or ``cpuacct.stat`` on older kernels), else one total without attributes
  (v1 ``cpuacct.usage``).
- ``container.cpu.usage`` (gauge, ``{cpu}``): CPUs in use, the change of the total CPU time since the
  previous collection over the time between them (:mod:`vigil.instrumentation.metrics.rate`).
- ``container.memory.usage`` (updowncounter, ``By``): v1 ``memory.usage_in_bytes``, v2
  ``memory.current`` (page cache included).
- ``container.memory.working_set`` (updowncounter, ``By``): usage less inactive file pages
  (``memory.stat``; v1 the hierarchy's ``total_inactive_file``), the measure cAdvisor and the kubelet
  use for memory pressure and eviction: page cache the kernel drops first does not count.
- ``container.memory.rss`` (updowncounter, ``By``): anonymous memory (v1 ``total_rss``, v2 ``anon``).
- ``container.memory.available`` (updowncounter, ``By``): the memory limit less the working set; only
  while there is a limit.
- ``container.disk.io`` (counter, ``By``): bytes read and written, by ``disk.io.direction`` and
  ``system.device`` (the kernel's name, ``sda``, where ``/sys/dev/block`` tells it, else
  ``major:minor``). v2 ``io.stat``; v1 the first ``blkio`` byte counter that has data
  (``blkio.io_service_bytes_recursive``, ``blkio.bfq.io_service_bytes_recursive``,
  ``blkio.throttle.io_service_bytes_recursive``). On v1 these may stay empty for I/O that no I/O
  scheduler or throttling rule accounts.
- ``container.network.io`` (counter, ``By``): bytes by ``network.io.direction`` and
  ``network.interface.name``, from ``/proc/self/net/dev``: the interfaces of the process's network
  namespace, loopback left out (its traffic never leaves the container). In the host's namespace (a
  systemd service, ``--network host``) these are the host's interfaces.

Not in the semantic conventions, named after their nearest relatives there:

- ``container.cpu.limit`` (updowncounter, ``{cpu}``) and ``container.memory.limit`` (updowncounter,
  ``By``): the tightest CPU quota and memory limit on the process's cgroup path (as
  ``k8s.container.cpu.limit.current`` / ``k8s.container.memory.limit.current``, but for any cgroup);
  only while there is one. Read at every collection, so ``docker update`` is followed.
- ``container.cpu.limit.utilization`` (gauge, ``1``): ``container.cpu.usage`` over the CPU quota, as
  ``k8s.container.cpu.limit.utilization``; 1.0 is the whole quota, the point where throttling begins;
  only while there is a quota. It is the quota, not the host's CPU count, that says how busy a limited
  container is: 0.5 CPU in use is 1.0 of a 0.5-CPU quota, whether the host has 4 CPUs or 64.
- ``container.cpu.periods``, ``container.cpu.throttled.periods`` (counters, ``{period}``) and
  ``container.cpu.throttled.time`` (counter, ``s``): CFS bandwidth enforcement from ``cpu.stat``
  (``nr_periods``, ``nr_throttled``; v1 ``throttled_time`` in ns, v2 ``throttled_usec``). Throttled
  periods over periods is the share of scheduling periods in which the container ran out of quota:
  latency, even when the average usage looks low.
- ``container.memory.oom_kills`` (counter, ``{kill}``): processes killed by the OOM killer in the
  cgroup (v2 ``memory.events`` ``oom_kill``; v1 ``memory.oom_control`` ``oom_kill``, kernel 4.13+). A
  kill of the instrumented process itself ends its telemetry with it; this counts the kills it
  survives (a worker, a helper), and the Docker collector sees the rest from outside.

Everything is read under ``root`` (default ``/``), so tests point it at fixture trees.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from opentelemetry.metrics import CallbackOptions, Meter, MeterProvider, Observation, get_meter
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
from opentelemetry.semconv.schemas import Schemas

from vigil.instrumentation import __version__
from vigil.instrumentation._settings import flag
from vigil.instrumentation.cgroup import (
    ProcessCgroup,
    parse_blkio,
    parse_io_stat,
    read_int,
    read_keyed,
    read_text,
)
from vigil.instrumentation.environment_variables import VIGIL_CONTAINER_METRICS
from vigil.instrumentation.metrics.rate import Rate

_logger = logging.getLogger(__name__)

CONTAINER_CPU_LIMIT = "container.cpu.limit"
CONTAINER_CPU_LIMIT_UTILIZATION = "container.cpu.limit.utilization"
CONTAINER_CPU_PERIODS = "container.cpu.periods"
CONTAINER_CPU_THROTTLED_PERIODS = "container.cpu.throttled.periods"
CONTAINER_CPU_THROTTLED_TIME = "container.cpu.throttled.time"
CONTAINER_MEMORY_LIMIT = "container.memory.limit"
CONTAINER_MEMORY_OOM_KILLS = "container.memory.oom_kills"

# v1 byte counters of the blkio controller, best first: the I/O schedulers' (CFQ, BFQ) when one
# accounts for the device, else the throttling layer's, which sees every bio but on some kernels only
# for devices with a throttling rule.
_BLKIO_FILES = (
    "blkio.io_service_bytes_recursive",
    "blkio.bfq.io_service_bytes_recursive",
    "blkio.throttle.io_service_bytes_recursive",
)
_CONTAINER_MARKERS = ("/.dockerenv", "/run/.containerenv")

Callback = Callable[[CallbackOptions], Iterable[Observation]]


@dataclass(frozen=True)
class CpuTimes:
    """Seconds of CPU time used by the cgroup since it was created."""

    total: float
    user: float | None = None
    system: float | None = None


@dataclass(frozen=True)
class Throttling:
    periods: int
    throttled_periods: int
    throttled_seconds: float


class CgroupStats:
    """The statistics files of the process's cgroup, v1 or v2, located once (by
    :class:`~vigil.instrumentation.cgroup.ProcessCgroup`) and read at every call. Each method answers
    ``None`` when the kernel does not expose what it reads."""

    def __init__(self, cgroup: ProcessCgroup) -> None:
        self.cgroup = cgroup
        self.cpuacct = self._locate(cgroup, "cpuacct", "cpu")  # v1 accounts CPU time in cpuacct
        self.cpu = self._locate(cgroup, "cpu", "cpu")
        self.memory = self._locate(cgroup, "memory", "memory")
        self.io = self._locate(cgroup, "blkio", "io")
        self._device_names: dict[str, str] = {}

    @staticmethod
    def _locate(cgroup: ProcessCgroup, v1: str, v2: str) -> tuple[int, Path] | None:
        for controller, version in ((v1, 1), (v2, 2)):
            if cgroup.version(controller) == version and (directory := cgroup.directory(controller)):
                return version, directory
        return None

    def cpu_times(self) -> CpuTimes | None:
        if self.cpuacct is None:
            return None
        version, directory = self.cpuacct
        if version == 2:
            stat = read_keyed(directory / "cpu.stat") or {}
            if "usage_usec" not in stat:
                return None
            user, system = stat.get("user_usec"), stat.get("system_usec")
            return CpuTimes(
                stat["usage_usec"] / 1e6,
                user / 1e6 if user is not None else None,
                system / 1e6 if system is not None else None,
            )
        total = read_int(directory / "cpuacct.usage")
        if total is None:
            return None
        user, system = read_int(directory / "cpuacct.usage_user"), read_int(directory / "cpuacct.usage_sys")
        if user is not None and system is not None:
            return CpuTimes(total / 1e9, user / 1e9, system / 1e9)
        # Before Linux 4.7 the split exists only in clock ticks.
        ticks = read_keyed(directory / "cpuacct.stat") or {}
        if "user" in ticks and "system" in ticks:
            hz = os.sysconf("SC_CLK_TCK")
            return CpuTimes(total / 1e9, ticks["user"] / hz, ticks["system"] / hz)
        return CpuTimes(total / 1e9)

    def cpu_total(self) -> float | None:
        times = self.cpu_times()
        return times.total if times else None

    def throttling(self) -> Throttling | None:
        if self.cpu is None:
            return None
        version, directory = self.cpu
        stat = read_keyed(directory / "cpu.stat") or {}
        # v2 lists nr_* only where the cpu controller is enabled for the cgroup.
        if "nr_periods" not in stat or "nr_throttled" not in stat:
            return None
        if version == 2:
            throttled = stat["throttled_usec"] / 1e6 if "throttled_usec" in stat else None
        else:
            throttled = stat["throttled_time"] / 1e9 if "throttled_time" in stat else None
        if throttled is None:
            return None
        return Throttling(stat["nr_periods"], stat["nr_throttled"], throttled)

    def memory_usage(self) -> int | None:
        if self.memory is None:
            return None
        version, directory = self.memory
        return read_int(directory / ("memory.current" if version == 2 else "memory.usage_in_bytes"))

    def memory_stat(self) -> dict[str, int] | None:
        if self.memory is None:
            return None
        return read_keyed(self.memory[1] / "memory.stat")

    def working_set(self) -> int | None:
        usage, stat = self.memory_usage(), self.memory_stat()
        if usage is None or stat is None:
            return None
        # v1 reports the hierarchy's totals under total_*; the plain keys are this cgroup's alone.
        inactive = stat.get("inactive_file" if self.memory and self.memory[0] == 2 else "total_inactive_file")
        return max(usage - inactive, 0) if inactive is not None else None

    def rss(self) -> int | None:
        stat = self.memory_stat()
        if stat is None or self.memory is None:
            return None
        return stat.get("anon" if self.memory[0] == 2 else "total_rss")

    def oom_kills(self) -> int | None:
        if self.memory is None:
            return None
        version, directory = self.memory
        counters = read_keyed(directory / ("memory.events" if version == 2 else "memory.oom_control")) or {}
        return counters.get("oom_kill")

    def disk_io(self) -> dict[tuple[str, str], int] | None:
        """``{(device, "read" | "write"): bytes}``."""
        if self.io is None:
            return None
        version, directory = self.io
        if version == 2:
            text = read_text(directory / "io.stat")
            if text is None:
                return None
            keys = {"read": "rbytes", "write": "wbytes"}
            devices = parse_io_stat(text)
        else:
            texts = [text for name in _BLKIO_FILES if (text := read_text(directory / name)) is not None]
            if not texts:
                return None
            keys = {"read": "read", "write": "write"}
            devices = next((parsed for text in texts if (parsed := parse_blkio(text))), {})
        return {
            (self._device_name(device), direction): counters[key]
            for device, counters in devices.items()
            for direction, key in keys.items()
            if key in counters
        }

    def _device_name(self, device: str) -> str:
        if device not in self._device_names:
            # /sys/dev/block/8:0 -> ../../devices/.../block/sda
            link = self.cgroup.root / "sys" / "dev" / "block" / device
            try:
                name = os.readlink(link).rstrip("/").rsplit("/", 1)[-1]
            except OSError:
                name = device
            self._device_names[device] = name or device
        return self._device_names[device]


def read_net_dev(path: Path) -> dict[tuple[str, str], int] | None:
    """``{(interface, "receive" | "transmit"): bytes}`` from a ``/proc/<pid>/net/dev``, loopback left
    out; ``None`` if it cannot be read."""
    text = read_text(path)
    if text is None:
        return None
    counters = {}
    for line in text.splitlines()[2:]:  # two header lines
        interface, _, fields = line.partition(":")
        values = fields.split()
        interface = interface.strip()
        if interface == "lo" or len(values) < 9 or not (values[0].isdigit() and values[8].isdigit()):
            continue
        counters[(interface, "receive")] = int(values[0])
        counters[(interface, "transmit")] = int(values[8])
    return counters


class ContainerMetrics:
    """The ``container.*`` instruments over the cgroup of process ``pid`` as seen under ``root``."""

    def __init__(
        self,
        root: Path | str = "/",
        pid: int | str = "self",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = Path(root)
        self.cgroup = ProcessCgroup(self.root, pid)
        self.stats = CgroupStats(self.cgroup)
        self._net_dev = self.root / "proc" / str(pid) / "net" / "dev"
        self._clock = clock

    def in_container_or_limited(self, environ: Mapping[str, str] = os.environ) -> bool:
        """Whether the metrics are on by default: in a container, or in a cgroup with a limit."""
        return (
            self.cgroup.container_id() is not None
            or any(self.root.joinpath(marker.lstrip("/")).exists() for marker in _CONTAINER_MARKERS)
            or bool(environ.get("KUBERNETES_SERVICE_HOST"))
            or self.cgroup.cpu_limit() is not None
            or self.cgroup.memory_limit() is not None
        )

    def register(self, meter: Meter) -> list[str]:
        """Create the instruments whose sources the kernel exposes; returns their names."""
        stats = self.stats
        registered: list[str] = []

        def add(
            name: str, available: object, create: Callable[..., object], callback: Callback, **kw: str
        ) -> None:
            if available is None:
                _logger.debug("%s not collected: the kernel does not expose it here", name)
                return
            create(name=name, callbacks=[_guarded(name, callback)], **kw)
            registered.append(name)

        cpu = stats.cpu_times()
        usage_rate = Rate(stats.cpu_total, self._clock)
        limit_rate = Rate(stats.cpu_total, self._clock)
        add(
            CONTAINER_CPU_TIME,
            cpu,
            meter.create_observable_counter,
            self._cpu_time,
            unit="s",
            description="Total CPU time consumed.",
        )
        add(
            CONTAINER_CPU_USAGE,
            cpu,
            meter.create_observable_gauge,
            _value(usage_rate.per_second),
            unit="{cpu}",
            # The conventions' description; the average is over the time since the previous collection.
            description=(
                "Container's CPU usage, measured in CPUs. Range from 0 to the number of allocatable CPUs."
            ),
        )
        add(
            CONTAINER_CPU_LIMIT_UTILIZATION,
            cpu,
            meter.create_observable_gauge,
            self._limit_utilization(limit_rate),
            unit="1",
            description="CPU usage over the cgroup's CPU quota (only while there is one).",
        )
        has_cpu_controller = stats.cpu or stats.cpuacct
        add(
            CONTAINER_CPU_LIMIT,
            has_cpu_controller,
            meter.create_observable_up_down_counter,
            _value(self.cgroup.cpu_limit),
            unit="{cpu}",
            description="The tightest CPU quota on the cgroup's path, in CPUs (only while there is one).",
        )

        throttling = stats.throttling()
        add(
            CONTAINER_CPU_PERIODS,
            throttling,
            meter.create_observable_counter,
            self._throttling(lambda t: t.periods),
            unit="{period}",
            description="CFS bandwidth enforcement periods that have elapsed.",
        )
        add(
            CONTAINER_CPU_THROTTLED_PERIODS,
            throttling,
            meter.create_observable_counter,
            self._throttling(lambda t: t.throttled_periods),
            unit="{period}",
            description="Enforcement periods in which the cgroup ran out of CPU quota.",
        )
        add(
            CONTAINER_CPU_THROTTLED_TIME,
            throttling,
            meter.create_observable_counter,
            self._throttling(lambda t: t.throttled_seconds),
            unit="s",
            description="Time the cgroup's tasks were throttled for lack of CPU quota.",
        )

        add(
            CONTAINER_MEMORY_USAGE,
            stats.memory_usage(),
            meter.create_observable_up_down_counter,
            _value(stats.memory_usage),
            unit="By",
            description="Memory usage of the container.",
        )
        add(
            CONTAINER_MEMORY_WORKING_SET,
            stats.working_set(),
            meter.create_observable_up_down_counter,
            _value(stats.working_set),
            unit="By",
            description="Container memory working set.",
        )
        add(
            CONTAINER_MEMORY_RSS,
            stats.rss(),
            meter.create_observable_up_down_counter,
            _value(stats.rss),
            unit="By",
            description="Container memory RSS.",
        )
        add(
            CONTAINER_MEMORY_AVAILABLE,
            stats.working_set(),
            meter.create_observable_up_down_counter,
            _value(self._memory_available),
            unit="By",
            description="Memory limit less the working set (only while there is a limit).",
        )
        add(
            CONTAINER_MEMORY_LIMIT,
            stats.memory,
            meter.create_observable_up_down_counter,
            _value(self.cgroup.memory_limit),
            unit="By",
            description="The tightest memory limit on the cgroup's path (only while there is one).",
        )
        add(
            CONTAINER_MEMORY_OOM_KILLS,
            stats.oom_kills(),
            meter.create_observable_counter,
            _value(stats.oom_kills),
            unit="{kill}",
            description="Processes in the cgroup killed by the OOM killer.",
        )

        add(
            CONTAINER_DISK_IO,
            stats.disk_io(),
            meter.create_observable_counter,
            _by_key(stats.disk_io, SYSTEM_DEVICE, DISK_IO_DIRECTION),
            unit="By",
            description="Disk bytes for the container.",
        )
        add(
            CONTAINER_NETWORK_IO,
            read_net_dev(self._net_dev),
            meter.create_observable_counter,
            _by_key(lambda: read_net_dev(self._net_dev), NETWORK_INTERFACE_NAME, NETWORK_IO_DIRECTION),
            unit="By",
            description="Network bytes for the container.",
        )
        return registered

    def _cpu_time(self, options: CallbackOptions) -> Iterable[Observation]:
        times = self.stats.cpu_times()
        if times is None:
            return
        if times.user is not None and times.system is not None:
            # The conventions: either every point of the metric has cpu.mode, or none has.
            yield Observation(times.user, {CPU_MODE: CpuModeValues.USER.value})
            yield Observation(times.system, {CPU_MODE: CpuModeValues.SYSTEM.value})
        else:
            yield Observation(times.total)

    def _limit_utilization(self, rate: Rate) -> Callback:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            cpus_in_use = rate.per_second()  # advanced even without a quota, so a new one starts fresh
            quota = self.cgroup.cpu_limit()
            if cpus_in_use is not None and quota:
                yield Observation(cpus_in_use / quota)

        return observe

    def _throttling(self, field: Callable[[Throttling], float]) -> Callback:
        def observe(options: CallbackOptions) -> Iterable[Observation]:
            if (throttling := self.stats.throttling()) is not None:
                yield Observation(field(throttling))

        return observe

    def _memory_available(self) -> int | None:
        limit, working_set = self.cgroup.memory_limit(), self.stats.working_set()
        return max(limit - working_set, 0) if limit is not None and working_set is not None else None


def _value(read: Callable[[], float | None]) -> Callback:
    """A callback observing ``read()`` without attributes, or nothing when it is ``None``."""

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        if (value := read()) is not None:
            yield Observation(value)

    return observe


def _by_key(read: Callable[[], dict[tuple[str, str], int] | None], first: str, second: str) -> Callback:
    """A callback observing ``{(a, b): value}`` as points with attributes ``first=a, second=b``."""

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        for (a, b), value in (read() or {}).items():
            yield Observation(value, {first: a, second: b})

    return observe


def _guarded(name: str, callback: Callback) -> Callback:
    """The callback, made unable to fail a collection: the readers return ``None`` for what they
    cannot read, so anything else is a bug, reported once at debug level."""
    reported = False

    def observe(options: CallbackOptions) -> Iterable[Observation]:
        nonlocal reported
        try:
            return list(callback(options))
        except Exception:
            if not reported:
                _logger.debug("%s could not be collected", name, exc_info=True)
                reported = True
            return []

    return observe


def install_container_metrics(
    meter_provider: MeterProvider | None = None, root: Path | str = "/"
) -> list[str]:
    """Register the container metrics on ``meter_provider`` (default: the global one) if
    :envvar:`VIGIL_CONTAINER_METRICS` and the process's situation say so; returns what was registered."""
    setting = flag(VIGIL_CONTAINER_METRICS)
    if setting is False:
        return []
    metrics = ContainerMetrics(root)
    if setting is None and not metrics.in_container_or_limited():
        _logger.debug("container metrics off: not in a container, and no cgroup limit")
        return []
    meter = get_meter(__name__, __version__, meter_provider, schema_url=Schemas.V1_44_0.value)
    return metrics.register(meter)
