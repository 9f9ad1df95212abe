"""System and process metrics: ``opentelemetry-instrumentation-system-metrics``, as Vigil loads it.

``vigil-instrumentation`` depends on that contrib package. It is an ``opentelemetry_instrumentor``
entry point named ``system_metrics``, so ``opentelemetry-instrument`` loads it like any library
instrumentation, after the configurator has set up the meter provider, and its instruments are
exported with the application's other metrics (every ``OTEL_METRIC_EXPORT_INTERVAL``, 60 s by
default). When Vigil's distro runs, it loads the instrumentation with three changes to its defaults:

- ``process.cpu.utilization`` is Vigil's (:mod:`vigil.instrumentation.metrics.process`): divided by
  the CPUs the process may use (its cgroup quota, its CPU affinity), where the contrib one divides by
  the host's CPU count, and with the ``cpu.mode`` attribute the conventions ask for.
- The ``process.runtime.cpython.*`` metrics and ``system.thread_count`` are left out. The former are
  deprecated upstream in favour of the ``process.*`` and ``cpython.gc.*`` ones, which carry the same
  values; the latter is not in the conventions and counts this process's threads, as
  ``process.thread.count`` does.
- The attribute keys are the current conventions' (:data:`RENAMED_ATTRIBUTES`), where the contrib
  package still uses its older ones:

  ========================================  ======================================================
  metrics                                   attributes
  ========================================  ======================================================
  ``system.cpu.time``, ``.utilization``     ``state`` -> ``cpu.mode`` (``irq`` -> ``interrupt``),
                                            ``cpu`` -> ``cpu.logical_number`` (from 0, not 1)
  ``system.memory.usage``, ``.utilization`` ``state`` -> ``system.memory.state``
  ``system.swap.usage``, ``.utilization``   ``state`` -> ``system.paging.state``
  ``system.disk.io``, ``.operations``,      ``device`` -> ``system.device``, ``direction`` ->
  ``.time``                                 ``disk.io.direction``
  ``system.network.io``, ``.packets``,      ``device`` -> ``network.interface.name``,
  ``.dropped_packets``, ``.errors``         ``direction`` -> ``network.io.direction``
  ``system.network.connections``            ``protocol`` -> ``network.transport``, ``state`` ->
                                            ``network.connection.state`` (``ESTABLISHED`` ->
                                            ``established``, ...), ``family`` -> ``network.type``
                                            (``ipv4``, ``ipv6``), ``type`` left out (the transport
                                            says it)
  ``process.cpu.time``                      ``type`` -> ``cpu.mode``
  ``process.context_switches``              ``type`` -> ``process.context_switch.type``
  ``process.disk.io``                       ``direction`` -> ``disk.io.direction``
  ``cpython.gc.*``                          the legacy string ``generation`` left out
                                            (``cpython.gc.generation`` stays)
  ========================================  ======================================================

  An SDK View cannot rename an attribute key (it can only keep or drop keys), so the renaming is
  done where the values are observed: the contrib instrumentor's callbacks, wrapped on its instance
  before it registers them. They are private methods of a package pinned exactly;
  tests/instrumentation/metrics/test_system.py checks that each still exists and that the keys
  arrive renamed.

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

Those replaced names stay: an SDK View could rename a metric, but the SDK's configurator makes the
meter provider without Views.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Callable, Iterable, Mapping

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.metrics import CallbackOptions, Observation, get_meter
from opentelemetry.semconv.schemas import Schemas

from vigil.instrumentation import __version__
from vigil.instrumentation.metrics.process import ProcessCpuUtilization

ENTRY_POINT = "system_metrics"
"""The contrib instrumentation's entry point name, as ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` knows it."""

LEFT_OUT = ("process.runtime.*", "system.thread_count")
"""Patterns of the contrib defaults' keys that Vigil does not load."""

REPLACED = "process.cpu.utilization"
"""The contrib metric that Vigil's own replaces (:mod:`vigil.instrumentation.metrics.process`)."""


_CPU = {"state": "cpu.mode", "cpu": "cpu.logical_number"}
_DISK = {"device": "system.device", "direction": "disk.io.direction"}
_NETWORK = {"device": "network.interface.name", "direction": "network.io.direction"}
_GC: dict[str, str | None] = {"generation": None}

RENAMED_ATTRIBUTES: dict[str, Mapping[str, str | None]] = {
    "_get_system_cpu_time": _CPU,
    "_get_system_cpu_utilization": _CPU,
    "_get_system_memory_usage": {"state": "system.memory.state"},
    "_get_system_memory_utilization": {"state": "system.memory.state"},
    "_get_system_swap_usage": {"state": "system.paging.state"},
    "_get_system_swap_utilization": {"state": "system.paging.state"},
    "_get_system_disk_io": _DISK,
    "_get_system_disk_operations": _DISK,
    "_get_system_disk_time": _DISK,
    "_get_system_network_dropped_packets": _NETWORK,
    "_get_system_network_packets": _NETWORK,
    "_get_system_network_errors": _NETWORK,
    "_get_system_network_io": _NETWORK,
    "_get_system_network_connections": {
        "protocol": "network.transport",
        "state": "network.connection.state",
        "family": "network.type",
        "type": None,
    },
    "_get_cpu_time": {"type": "cpu.mode"},
    "_get_context_switches": {"type": "process.context_switch.type"},
    "_get_process_disk_io": {"direction": "disk.io.direction"},
    "_get_runtime_gc_collections": _GC,
    "_get_runtime_gc_collected_objects": _GC,
    "_get_runtime_gc_uncollectable_objects": _GC,
}
"""The contrib instrumentor's callback -> {its attribute key: the conventions' key, or None to leave
it out}."""

_CONNECTION_STATES = {"SYN_RECV": "syn_received", "FIN_WAIT1": "fin_wait_1", "FIN_WAIT2": "fin_wait_2"}
_ADDRESS_FAMILIES = {"AF_INET": "ipv4", "AF_INET6": "ipv6"}


def _convert_value(key: str, value: object) -> object:
    """The value the conventions give ``key`` for the contrib's ``value`` (None: leave it out)."""
    if key == "cpu.logical_number":
        return value - 1  # type: ignore[operator]  # the contrib counts CPUs from 1
    if key == "cpu.mode":
        return "interrupt" if value == "irq" else value
    if key == "network.connection.state":
        state = str(value)
        return None if state == "NONE" else _CONNECTION_STATES.get(state, state.lower())
    if key == "network.type":
        return _ADDRESS_FAMILIES.get(getattr(value, "name", str(value)))
    return value


def _renaming(
    callback: Callable[[CallbackOptions], Iterable[Observation]], keys: Mapping[str, str | None]
) -> Callable[[CallbackOptions], Iterable[Observation]]:
    @functools.wraps(callback)
    def renamed(options: CallbackOptions) -> Iterable[Observation]:
        for observation in callback(options):
            attributes = {}
            for key, value in (observation.attributes or {}).items():
                new_key = keys.get(key, key)
                if new_key is None:
                    continue
                new_value = value if new_key == key else _convert_value(new_key, value)
                if new_value is not None:
                    attributes[new_key] = new_value
            yield Observation(observation.value, attributes, observation.context)

    return renamed


def rename_attributes(instrumentor: BaseInstrumentor) -> None:
    """Make the contrib instrumentor observe with the conventions' attribute keys
    (:data:`RENAMED_ATTRIBUTES`); call it before ``instrument()``, which registers the callbacks."""
    for name, keys in RENAMED_ATTRIBUTES.items():
        # The class's method, not the instance's: this singleton may have been wrapped before.
        method = getattr(type(instrumentor), name, None)
        if method is not None:
            setattr(instrumentor, name, _renaming(method.__get__(instrumentor), keys))


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
    rename_attributes(instrumentor)
    instrumentor.instrument(**kwargs)
    if replace_cpu_utilization:
        meter = get_meter(
            __name__,
            __version__,
            kwargs.get("meter_provider"),  # type: ignore[arg-type]
            schema_url=Schemas.V1_44_0.value,
        )
        ProcessCpuUtilization().register(meter)
