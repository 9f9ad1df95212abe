"""The metrics Vigil's distro turns on besides the application's own: one module per collector.

- :mod:`~vigil.instrumentation.metrics.system`: system and process metrics (CPU, memory, disk,
  network, threads, garbage collection) from ``opentelemetry-instrumentation-system-metrics``, loaded
  by ``opentelemetry-instrument`` with Vigil's configuration; on by default, off with
  ``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=system_metrics``.
- :mod:`~vigil.instrumentation.metrics.process`: ``process.cpu.utilization`` over the CPUs the process
  may use (its cgroup quota, its affinity), in place of the contrib one over the host's CPU count.
- :mod:`~vigil.instrumentation.metrics.container`: ``container.*`` metrics from the process's cgroup,
  v1 or v2 (CPU time, usage and throttling, memory usage, limits and OOM kills, disk and network
  I/O); on by default in containers and limited cgroups, see :envvar:`VIGIL_CONTAINER_METRICS`.
- :mod:`~vigil.instrumentation.metrics.docker`: the Docker collector, for the containers the
  application starts: their ``container.*`` metrics, one series per container, and their lifecycle
  (start, death and exit code, OOM kill, restart) as log events; off unless
  :envvar:`VIGIL_DOCKER_LABEL_SELECTOR` names the containers.

All of them are observable instruments: nothing is read until the metric reader collects, every
``OTEL_METRIC_EXPORT_INTERVAL`` (60 s by default), on the reader's thread. The Docker collector is
the exception that keeps the rule: asking a daemon takes time, so it reads in a thread of its own and
its instruments report the latest readings.
"""
