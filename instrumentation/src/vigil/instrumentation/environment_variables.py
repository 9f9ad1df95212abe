"""Environment variables that configure Vigil's instrumentation.

Vigil's own settings are the ``VIGIL_*`` variables below. Everything else is configured with the
standard ``OTEL_*`` variables, which always win over the defaults Vigil fills in (see
:mod:`vigil.instrumentation.distro` for those defaults). A value that cannot be parsed is reported
with a warning and the default is used instead: a typo must not stop the application.
"""

VIGIL_RESOURCE_DETECTOR_TIMEOUT = "VIGIL_RESOURCE_DETECTOR_TIMEOUT"
"""
.. envvar:: VIGIL_RESOURCE_DETECTOR_TIMEOUT

Seconds that each of Vigil's resource detectors may take at start-up. A detector that has not
finished by then is abandoned with a warning and the application starts without its attributes.
The SDK runs up to four detectors at once, so start-up waits at most about twice this long even if
every detector hangs. Only the cloud detector calls network services, and only on that cloud
(:mod:`vigil.instrumentation.resources.cloud`). Default: ``2``.
"""

VIGIL_SHUTDOWN_TIMEOUT = "VIGIL_SHUTDOWN_TIMEOUT"
"""
.. envvar:: VIGIL_SHUTDOWN_TIMEOUT

Seconds that the application's exit waits for the last spans, metrics and logs to be exported. The
three signals are flushed in parallel; whatever is not exported by then is dropped with a warning,
so a collector that is down or unreachable delays the exit by at most this long. Default: ``3``.
"""

VIGIL_K8S_PODINFO_DIR = "VIGIL_K8S_PODINFO_DIR"
"""
.. envvar:: VIGIL_K8S_PODINFO_DIR

Directory where a Kubernetes downward-API volume is mounted. The Kubernetes resource detector reads
the files ``name``, ``namespace``, ``uid``, ``node_name`` and ``labels`` there when they exist (each
is optional; environment variables such as ``K8S_POD_NAME`` win over files). Default:
``/etc/podinfo``.
"""

VIGIL_CONTAINER_METRICS = "VIGIL_CONTAINER_METRICS"
"""
.. envvar:: VIGIL_CONTAINER_METRICS

``true`` or ``false``: whether to export the ``container.*`` metrics of the process's cgroup (CPU
time, usage and throttling, memory usage and limit, OOM kills, disk and network I/O; see
:mod:`vigil.instrumentation.metrics.container`). Default: on when the process runs in a container or
in a cgroup with a CPU quota or memory limit, off elsewhere (on a host without limits they would
repeat the system metrics). ``true`` exports them in any cgroup, as far as the kernel exposes them.
The system and process metrics are switched off the standard way,
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS=system_metrics``.
"""
