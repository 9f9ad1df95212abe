"""The rate of a cumulative counter between one collection and the next.

Gauges such as ``container.cpu.usage`` and ``process.cpu.utilization`` are the change of a cumulative
CPU time divided by the wall-clock time between two readings. Each instrument keeps its own
:class:`Rate`: the SDK calls every instrument's callback once per collection, so two instruments
sharing one previous reading would have the second see almost no time pass. With several metric
readers (say OTLP and Prometheus), each collection by either starts the next interval.

The first reading is taken when the :class:`Rate` is made (when the instrument is registered), so the
first collection reports the average since then. A counter that goes backwards (a re-created cgroup,
a forked child's own CPU times) gives no value once and is measured afresh from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class Rate:
    """Change per second of ``read()`` since the previous call of :meth:`per_second`."""

    def __init__(self, read: Callable[[], float | None], clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._clock = clock
        self._last = self._sample()

    def per_second(self) -> float | None:
        """The rate since the last reading, or ``None`` when there is none to compare with."""
        # No lock: the SDK runs one provider's callbacks under its own, one collection at a time.
        now = self._sample()
        if now is None:
            # Keep the older reading: the next rate then covers the longer interval.
            return None
        last = self._last
        if last is None or now[1] < last[1]:
            self._last = now
            return None
        elapsed = now[0] - last[0]
        if elapsed <= 0:
            return None
        self._last = now
        return (now[1] - last[1]) / elapsed

    def _sample(self) -> tuple[float, float] | None:
        value = self._read()
        return None if value is None else (self._clock(), value)
