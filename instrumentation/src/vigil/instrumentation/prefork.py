"""Pre-fork servers: gunicorn (with or without ``--preload``), ``uvicorn --workers N``, and any app
whose processes fork or spawn workers, with no code in the app and no server hooks.

Run the server under the wrapper as usual::

    opentelemetry-instrument gunicorn -w 4 --preload app:app
    opentelemetry-instrument uvicorn app:app --workers 4

The SDK is configured in the first process, the server's master. gunicorn then forks its workers
from it; uvicorn spawns fresh interpreters, which configure the SDK again for themselves (they inherit
the wrapper's environment). Either way, every worker exports its own spans, logs and metrics over
connections of its own, on a resource with its own ``process.pid``, ``process.parent_pid`` (the
master) and ``service.instance.id``.

What happens in a forked worker
-------------------------------
The SDK (1.45.1) already, in the child: starts new threads for the batch span and log processors
(dropping what the master had queued, so nothing the master recorded is exported twice) and for the
periodic metric reader, renews its providers' locks, and runs the process-dependent resource
detectors again (``vigil_process`` is one, so ``process.pid`` is the worker's). Vigil adds what it
leaves out:

- **New exporter connections.** The OTLP/gRPC exporters' channels belong to the master. Used from
  a child while the master is exporting too, a channel hangs the child's export forever (measured
  here with grpcio 1.85: 14 of 30 forked children hung). Each exporter gets a new channel; the
  master's is kept, unused, so that closing it cannot disturb the master's connection.
- **Empty metric storage.** The children inherit the master's aggregations: a counter the app
  added to while being preloaded would be exported again by every worker, as the worker's own, and
  a lock held by the master's metric reader at the moment of the fork would stay held in the child
  for good. Every worker starts with empty aggregations and new locks, so it reports only what it
  measured itself.
- **The worker's own process metrics.** The system-metrics instrumentation reads the process it
  was loaded in: in a worker it would report the master's CPU, memory and threads under the
  worker's pid. It reads the worker instead.

Host-wide metrics, once
-----------------------
The ``system.*`` metrics (the host's CPU, memory, disks, network), the ``container.*`` metrics of the
process's cgroup (:mod:`vigil.instrumentation.metrics.container`) and the Docker collector's
containers (:mod:`vigil.instrumentation.metrics.docker`) describe the host or the container, which
the master and its workers share: reported by each, they would be counted once per process. So they
come from the master alone, while every worker reports its ``process.*`` and ``cpython.*`` metrics
and the application's own. A worker is a process forked from an instrumented one, while that parent
runs, or any Python process that ``multiprocessing`` started with spawn or forkserver (uvicorn's
workers, a spawn ``Pool``'s, ``multiprocessing``'s resource tracker, which outlives the master at
exit). A forked worker whose master is gone (a double fork that daemonizes, as ``gunicorn --daemon``
does, leaves the child as the new master) reports the host-wide metrics from then on. The Docker
collector does not start in spawned workers, and its threads do not survive a fork.

Cost: the SDK's own work in a forked child (mostly running the resource detectors again) took 20-28
ms per worker here; Vigil's additions take well under a millisecond.

Not covered: a child forked with ``multiprocessing``'s ``fork`` start method ends with ``os._exit``
when its work is done, which skips the exit's flush, so what it recorded in its last export interval
is lost (one stopped by SIGTERM does flush: :mod:`vigil.instrumentation.termination`); exporters
other than OTLP/gRPC (OTLP/HTTP is not installed with Vigil) keep the connections they inherited.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry._logs import get_logger_provider
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

HOST_WIDE_SCOPES = frozenset(
    {"vigil.instrumentation.metrics.container", "vigil.instrumentation.metrics.docker"}
)
"""Instrumentation scopes whose every instrument describes the host or container, not the process."""

HOST_WIDE_PREFIXES = {"opentelemetry.instrumentation.system_metrics": ("system.",)}
"""Per scope, the names of its instruments that describe the host (the rest are the process's)."""

_logger = logging.getLogger(__name__)

_SYSTEM_METRICS_MODULE = "opentelemetry.instrumentation.system_metrics"

# Channels inherited from the master: never closed or collected in the child, where tearing them
# down could write to the socket the master still uses.
_inherited_channels: list[object] = []
_installed = False


def spawned_by_multiprocessing(argv: Sequence[str] | None = None) -> bool:
    """Whether this interpreter was started by ``multiprocessing`` (spawn or forkserver: uvicorn's
    workers, its forkserver or resource tracker), judged from its command line, which is known before
    any of the app's code runs: ``python -c "from multiprocessing.spawn import spawn_main; ..."
    --multiprocessing-fork``."""
    argv = list(getattr(sys, "orig_argv", sys.argv) if argv is None else argv)
    return "--multiprocessing-fork" in argv or any(arg.startswith("from multiprocessing.") for arg in argv)


def is_host_wide(instrument: Any) -> bool:
    """Whether ``instrument`` (an SDK instrument) describes the host or container rather than the process."""
    scope = getattr(getattr(instrument, "instrumentation_scope", None), "name", "")
    if scope in HOST_WIDE_SCOPES:
        return True
    return str(getattr(instrument, "name", "")).startswith(HOST_WIDE_PREFIXES.get(scope, ()))


class HostWideGate:
    """An observable instrument's callback that observes nothing while ``parent_pid`` is this process's
    parent, i.e. while the master that reports the host-wide metrics runs; with ``parent_pid`` None,
    never."""

    def __init__(self, callback: Callable[[Any], Iterable[Any]], parent_pid: int | None) -> None:
        self.callback = callback
        self.parent_pid = parent_pid

    def __call__(self, options: Any) -> Iterable[Any]:
        if self.parent_pid is None or os.getppid() == self.parent_pid:
            return ()
        return self.callback(options)


def gate_host_wide_metrics(meter_provider: MeterProvider, parent_pid: int | None) -> None:
    """Leave the host-wide observable instruments of ``meter_provider``, those registered so far and
    those to come, to the process ``parent_pid`` while it runs (``None``: to the parent, for good)."""
    consumer = meter_provider._measurement_consumer

    def gate(instrument: Any) -> None:
        if not is_host_wide(instrument):
            return
        # The SDK calls instrument.callback(options) at each collection: an instance attribute of
        # that name takes the method's place.
        current = instrument.callback
        if isinstance(current, HostWideGate):  # forked again, from a worker: the parent is new
            current.parent_pid = parent_pid
        else:
            instrument.callback = HostWideGate(current, parent_pid)

    for instrument in list(consumer._async_instruments):
        gate(instrument)
    register = consumer.register_asynchronous_instrument
    if not isinstance(register, _GatingRegistration):
        consumer.register_asynchronous_instrument = _GatingRegistration(register, gate)


class _GatingRegistration:
    def __init__(self, register: Callable[[Any], None], gate: Callable[[Any], None]) -> None:
        self.register = register
        self.gate = gate

    def __call__(self, instrument: Any) -> None:
        self.gate(instrument)
        self.register(instrument)


def exporters(tracer_provider: object, meter_provider: object, logger_provider: object) -> list[object]:
    """The exporters behind the SDK providers' span and log processors and metric readers."""
    processors: list[object] = []
    if isinstance(tracer_provider, TracerProvider):
        processors += tracer_provider._active_span_processor._span_processors
    if isinstance(logger_provider, LoggerProvider):
        processors += logger_provider._multi_log_record_processor._log_record_processors
    found: list[object] = []
    for processor in processors:
        batch = getattr(processor, "_batch_processor", None)
        for exporter in (
            getattr(batch, "_exporter", None),
            getattr(processor, "span_exporter", None),
            getattr(processor, "_exporter", None),
        ):
            if exporter is not None and not any(exporter is seen for seen in found):
                found.append(exporter)
    if isinstance(meter_provider, MeterProvider):
        for reader in meter_provider._metric_readers:
            exporter = getattr(reader, "_exporter", None)
            if exporter is not None:
                found.append(exporter)
    return found


def reset_metric_storage(meter_provider: MeterProvider) -> None:
    """Forget every aggregation the provider holds, with new locks: a worker reports only what it
    measures itself. Instruments and their callbacks stay registered."""
    from opentelemetry.sdk.metrics._internal.metric_reader_storage import MetricReaderStorage

    consumer = meter_provider._measurement_consumer
    consumer._lock = threading.Lock()
    consumer._reader_storages = {
        reader: MetricReaderStorage(
            consumer._sdk_config, reader._instrument_class_temporality, reader._instrument_class_aggregation
        )
        for reader in consumer._reader_storages
    }
    for reader in consumer._reader_storages:
        if hasattr(reader, "_export_lock"):
            reader._export_lock = threading.Lock()


def reconnect_exporters(found: Iterable[object]) -> None:
    """Give each OTLP/gRPC exporter a channel of this process's own."""
    for exporter in found:
        if hasattr(exporter, "_initialize_channel_and_stub"):
            _inherited_channels.append(getattr(exporter, "_channel", None))
            exporter._initialize_channel_and_stub()


def read_own_process() -> None:
    """Point the system-metrics instrumentation at this process (it holds the process it was loaded in)."""
    module = sys.modules.get(_SYSTEM_METRICS_MODULE)
    instrumentor = getattr(getattr(module, "SystemMetricsInstrumentor", None), "_instance", None)
    if instrumentor is not None and hasattr(instrumentor, "_proc"):
        import psutil

        instrumentor._proc = psutil.Process(os.getpid())


def after_fork_in_child(
    tracer_provider: object, meter_provider: object, logger_provider: object, parent_pid: int
) -> None:
    """What a forked child does before it runs any of its own code (see the module's documentation)."""
    reconnect_exporters(exporters(tracer_provider, meter_provider, logger_provider))
    if isinstance(meter_provider, MeterProvider):
        reset_metric_storage(meter_provider)
        gate_host_wide_metrics(meter_provider, parent_pid)
    read_own_process()


def install_prefork_support(
    tracer_provider: object = None, meter_provider: object = None, logger_provider: object = None
) -> None:
    """Called by the configurator once the SDK's providers are set (default: the global ones). In a
    worker that ``multiprocessing`` spawned, leaves the host-wide metrics to its parent; everywhere,
    prepares forked children as the module's documentation says."""
    global _installed
    tracer_provider = tracer_provider or trace.get_tracer_provider()
    meter_provider = meter_provider or metrics.get_meter_provider()
    logger_provider = logger_provider or get_logger_provider()
    if spawned_by_multiprocessing() and isinstance(meter_provider, MeterProvider):
        # For good: multiprocessing's helpers (its resource tracker) outlive the master at exit.
        gate_host_wide_metrics(meter_provider, None)
    if _installed or not hasattr(os, "register_at_fork"):
        return
    _installed = True

    def in_child() -> None:
        try:
            after_fork_in_child(tracer_provider, meter_provider, logger_provider, os.getppid())
        except Exception:  # the worker must start anyway; it may then export the master's leftovers
            _logger.warning("Preparing the telemetry of forked process %d failed", os.getpid(), exc_info=True)

    # Registered after the SDK's own handlers, which run first in the child: they start the new
    # export threads, which wait a schedule delay or an export interval before they export, far
    # longer than these few attribute changes take.
    os.register_at_fork(after_in_child=in_child)
