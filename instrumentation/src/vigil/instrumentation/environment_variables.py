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

VIGIL_DOCKER_LABEL_SELECTOR = "VIGIL_DOCKER_LABEL_SELECTOR"
"""
.. envvar:: VIGIL_DOCKER_LABEL_SELECTOR

The containers the Docker collector watches (:mod:`vigil.instrumentation.metrics.docker`): a
comma-separated list of labels, each ``key`` (the container has the label, whatever its value) or
``key=value``; a container is selected when it matches all of them, as with ``docker ps --filter
label=...``. For example ``vigil.job=true``, or ``com.example.sandbox`` for every container that has
that label. Setting it turns the collector on (it needs ``pip install vigil-instrumentation[docker]``).
Default: unset, and the collector is off.
"""

VIGIL_DOCKER_COLLECTOR = "VIGIL_DOCKER_COLLECTOR"
"""
.. envvar:: VIGIL_DOCKER_COLLECTOR

``true`` or ``false``: whether the Docker collector runs (``container.*`` metrics and lifecycle events
of the selected containers; :mod:`vigil.instrumentation.metrics.docker`). ``false`` turns it off even
when :envvar:`VIGIL_DOCKER_LABEL_SELECTOR` is set; ``true`` without a selector watches every container
of the daemon (at most 256 at a time). Default: on exactly when :envvar:`VIGIL_DOCKER_LABEL_SELECTOR`
is set.
"""

VIGIL_DOCKER_HOST = "VIGIL_DOCKER_HOST"
"""
.. envvar:: VIGIL_DOCKER_HOST

The Docker daemon the Docker collector and the ``vigil_container`` resource detector talk to, as
Docker's own ``DOCKER_HOST`` spells it (``unix:///var/run/docker.sock``, ``tcp://127.0.0.1:2376``).
TLS settings come from ``DOCKER_TLS_VERIFY`` and ``DOCKER_CERT_PATH`` as usual. Default:
``DOCKER_HOST``, else the local socket ``unix:///var/run/docker.sock``.
"""

VIGIL_DOCKER_INTERVAL = "VIGIL_DOCKER_INTERVAL"
"""
.. envvar:: VIGIL_DOCKER_INTERVAL

Seconds between two readings of the selected containers' statistics by the Docker collector, in the
background; the metric export reports the latest reading. A container that starts is read at once.
Default: ``10``.
"""

VIGIL_LOG_FORMAT = "VIGIL_LOG_FORMAT"
"""
.. envvar:: VIGIL_LOG_FORMAT

``json``: write every log record that reaches the root logger to stdout as one JSON object per line,
with the trace context it was logged in (``timestamp``, ``level``, ``logger``, ``message``,
``trace_id``, ``span_id``, ``trace_flags``, ``service.name``, ``exception``; see
:mod:`vigil.instrumentation.logs.json_format`). The handler stands in for the console handler of the
application's own ``logging.basicConfig`` call, so nothing is printed twice
(:mod:`vigil.instrumentation.logs.console`). The records go over OTLP either way. The root logger's
level is the standard ``OTEL_PYTHON_LOG_LEVEL`` (:mod:`vigil.instrumentation.logs`). Default: unset,
and Vigil adds no console output.
"""

VIGIL_CONTAINER_LABELS = "VIGIL_CONTAINER_LABELS"
"""
.. envvar:: VIGIL_CONTAINER_LABELS

Docker labels of the application's own container to put on its resource, as keys separated by
commas (``com.example.team, com.docker.compose.service``): each label the container has becomes
``container.label.<key>`` (at most 256 characters). Read by the ``vigil_container`` resource
detector when it reaches the Docker daemon (:envvar:`VIGIL_DOCKER_HOST`;
:mod:`vigil.instrumentation.resources.docker_container`). Default: unset, no labels; other labels
could be anything, of any number.
"""
