"""System and process metrics: ``opentelemetry-instrumentation-system-metrics``, as Vigil loads it.

``vigil-instrumentation`` depends on that contrib package. It is an ``opentelemetry_instrumentor``
entry point named ``system_metrics``, so ``opentelemetry-instrument`` loads it like any library
instrumentation, after the configurator has set up the meter provider, and its instruments are
exported with the application's other metrics (every ``OTEL_METRIC_EXPORT_INTERVAL``, 60 s by
default). When Vigil's distro runs, it loads the instrumentation with two changes to its defaults:

- ``process.cpu.utilization`` is Vigil's (:mod:`vigil.instrumentation.metrics.process`): divided by
  the CPUs the process may use (its cgroup quota, its CPU affinity), where the contrib one divides by
  the host's CPU count, and with the ``cpu.mode`` attribute the conventions ask for.
- The ``process.runtime.cpython.*`` metrics and ``system.thread_count`` are left out. The former are
  deprecated upstream in favour of the ``process.*`` and ``cpython.gc.*`` ones, which carry the same
  values; the latter is not in the conventions and counts this process's threads, as
  ``process.thread.count`` does.

The standard variables still apply: ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=system_metrics`` turns all
of this off, and ``OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS`` leaves out metrics by glob pattern
(``system.*`` keeps only the process's own; in a container, the ``system.*`` metrics describe the
host, since ``/proc/stat`` and ``/proc/meminfo`` are not namespaced).

What is exported, and how it stands against the semantic conventions (1.44):

- current names: ``process.cpu.time``, ``process.cpu.utilization`` (Vigil's), ``process.memory.usage``,
  ``process.memory.virtual``, ``process.thread.count``, ``process.context_switches``,
  ``process.disk.io``, ``cpython.gc.collections``, ``cpython.gc.collected_objects``,
  ``cpython.gc.uncollectable_objects``, ``system.cpu.time``, ``system.cpu.utilization``,
  ``system.memory.usage``, ``system.memory.utilization``, ``system.disk.io``,
  ``system.disk.operations``, ``system.network.io``, ``system.network.errors``;
- names the conventions have since replaced: ``process.open_file_descriptor.count``
  (``process.unix.file_descriptor.count``), ``system.network.packets``
  (``system.network.packet.count``), ``system.network.dropped_packets``
  (``system.network.packet.dropped``), ``system.network.connections``
  (``system.network.connection.count``), ``system.disk.time`` (``system.disk.operation_time``),
  ``system.swap.usage`` and ``system.swap.utilization`` (``system.paging.*``; the contrib one states
  its unit as ``pages`` but reports bytes).

Apart from Vigil's ``process.cpu.utilization`` and the ``cpython.gc.*`` metrics, the contrib package
still uses its older attribute keys (``state``, ``type``, ``direction``, ``device``, ``cpu``) where the
conventions now have ``cpu.mode``, ``system.memory.state``, ``disk.io.direction``,
``network.io.direction``, ``system.device``, ``network.interface.name`` and ``cpu.logical_number``.
"""

from __future__ import annotations

import fnmatch

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.metrics import get_meter
from opentelemetry.semconv.schemas import Schemas

from vigil.instrumentation import __version__
from vigil.instrumentation.metrics.process import ProcessCpuUtilization

ENTRY_POINT = "system_metrics"
"""The contrib instrumentation's entry point name, as ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` knows it."""

LEFT_OUT = ("process.runtime.*", "system.thread_count")
"""Patterns of the contrib defaults' keys that Vigil does not load."""

REPLACED = "process.cpu.utilization"
"""The contrib metric that Vigil's own replaces (:mod:`vigil.instrumentation.metrics.process`)."""


def system_metrics_config() -> dict[str, list[str] | None]:
    """The contrib instrumentation's defaults, with its ``OTEL_PYTHON_SYSTEM_METRICS_EXCLUDED_METRICS``
    applied, less :data:`LEFT_OUT`."""
    # Passing a config to the instrumentor bypasses its own reading of the exclusion variable, so the
    # defaults are taken with that reading applied. A private function: the package is pinned exactly
    # and tests/instrumentation/metrics/test_system.py notices if it changes.
    from opentelemetry.instrumentation.system_metrics import _build_default_config

    return {
        key: value
        for key, value in _build_default_config().items()
        if not any(fnmatch.fnmatch(key, pattern) for pattern in LEFT_OUT)
    }


def instrument_system_metrics(instrumentor_class: type[BaseInstrumentor], **kwargs: object) -> None:
    """Load the contrib instrumentation with Vigil's configuration (what the distro does for the
    ``system_metrics`` entry point); ``kwargs`` go to ``instrument()`` (``meter_provider`` among them)."""
    config = system_metrics_config()
    replace_cpu_utilization = REPLACED in config
    config.pop(REPLACED, None)
    instrumentor = instrumentor_class(config=config)  # type: ignore[call-arg]
    if instrumentor.is_instrumented_by_opentelemetry:  # a singleton: someone instrumented it already
        return
    instrumentor.instrument(**kwargs)
    if replace_cpu_utilization:
        meter = get_meter(
            __name__,
            __version__,
            kwargs.get("meter_provider"),  # type: ignore[arg-type]
            schema_url=Schemas.V1_44_0.value,
        )
        ProcessCpuUtilization().register(meter)
