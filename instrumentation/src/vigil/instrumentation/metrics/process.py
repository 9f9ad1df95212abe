"""``process.cpu.utilization`` over the CPUs the process may actually use.

The semantic conventions define it as the change in ``process.cpu.time`` since the last measurement,
divided by the elapsed time and by the number of CPUs available to the process. The system-metrics
instrumentation divides by the host's CPU count instead, so an application held to half a CPU on a
16-CPU host reads 0.03 when it uses all it may: it looks idle while it is being throttled. Vigil's
instrument replaces that one (:mod:`vigil.instrumentation.metrics.system`) and divides by what is
available to the process, the smaller of:

- its cgroup's CPU quota (quota / period, v1 or v2, the tightest on the process's cgroup path: a
  container's ``--cpus``, a pod's CPU limit, a systemd ``CPUQuota=``), read again at every collection
  so that a changed limit is followed;
- the CPUs it may be scheduled on (``os.sched_getaffinity``: cpusets, ``taskset``,
  ``--cpuset-cpus``), or the host's CPU count where affinity is not available.

One data point per ``cpu.mode`` (``user``, ``system``), as the conventions recommend; their sum is the
process's utilisation, and 1.0 means the process used all the CPU it may use. On a quota, that is
where throttling begins (``container.cpu.throttled.time``, :mod:`vigil.instrumentation.metrics.container`).
The CPU times come from ``os.times()``, which always describes the calling process, so the values
stay right in the children of a pre-fork server.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable

from opentelemetry.metrics import CallbackOptions, Meter, Observation
from opentelemetry.semconv._incubating.attributes.cpu_attributes import CPU_MODE, CpuModeValues
from opentelemetry.semconv._incubating.metrics.process_metrics import create_process_cpu_utilization

from vigil.instrumentation.cgroup import ProcessCgroup
from vigil.instrumentation.metrics.rate import Rate


def schedulable_cpus() -> int:
    """The CPUs this process may run on: its affinity mask, else the host's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _user_time() -> float:
    return os.times().user


def _system_time() -> float:
    return os.times().system


class ProcessCpuUtilization:
    """``process.cpu.utilization`` normalised by the CPUs available to the process.

    ``cgroup`` defaults to this process's; the readers of user and system CPU seconds, of the
    schedulable CPUs and the clock are there for tests."""

    def __init__(
        self,
        cgroup: ProcessCgroup | None = None,
        *,
        user_time: Callable[[], float] = _user_time,
        system_time: Callable[[], float] = _system_time,
        schedulable: Callable[[], int] = schedulable_cpus,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cgroup = cgroup if cgroup is not None else ProcessCgroup()
        self._readers = {CpuModeValues.USER.value: user_time, CpuModeValues.SYSTEM.value: system_time}
        self._schedulable = schedulable
        self._clock = clock
        self._rates: dict[str, Rate] = {}

    def available_cpus(self) -> float:
        """The CPUs the process may use: its cgroup quota or its schedulable CPUs, whichever is less."""
        schedulable = float(self._schedulable())
        quota = self._cgroup.cpu_limit()
        return min(quota, schedulable) if quota is not None else schedulable

    def register(self, meter: Meter) -> None:
        # The first readings are taken now, so the first export has a value.
        self._rates = {mode: Rate(read, self._clock) for mode, read in self._readers.items()}
        create_process_cpu_utilization(meter, callbacks=[self._observe])

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        cpus = self.available_cpus()
        for mode, rate in self._rates.items():
            per_second = rate.per_second()
            if per_second is not None:
                yield Observation(per_second / cpus, {CPU_MODE: mode})
