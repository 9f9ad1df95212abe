"""The Docker collector: the containers the application starts, seen from outside.

For an application that runs work in containers of its own (jobs in sandbox containers, build
steps, workers it spawns through the Docker API), the collector reports each selected container's
CPU, memory, disk and network use as ``container.*`` metrics (:mod:`.stats`), and its lifecycle
(started, died with which exit code, OOM-killed, restarted) as OpenTelemetry log events
(:mod:`.events`), over the application's own OTLP exporters and resource. So each job's resource use
and the reason it ended are there next to the application's traces and logs.

Turning it on
-------------
Install the extra and say which containers to watch by label, the label the application puts on
the containers it starts::

    pip install 'vigil-instrumentation[docker]'
    VIGIL_DOCKER_LABEL_SELECTOR=com.example.sandbox opentelemetry-instrument python app.py

- :envvar:`VIGIL_DOCKER_LABEL_SELECTOR`: ``key`` or ``key=value`` labels, comma-separated, all of
  which a container must have (:mod:`.selection`). Setting it turns the collector on.
- :envvar:`VIGIL_DOCKER_COLLECTOR`: ``false`` turns it off whatever the selector; ``true`` turns it on
  without one, for every container of the daemon.
- :envvar:`VIGIL_DOCKER_HOST`: the daemon, by default Docker's ``DOCKER_HOST`` or the local socket
  (:mod:`.connection`).
- :envvar:`VIGIL_DOCKER_INTERVAL`: seconds between statistics readings (default 10).

Off by default: a Docker socket is the key to the host, and nothing here should go looking for one
unasked. Off, start-up neither imports the docker SDK nor opens a connection. On, start-up imports
the SDK (about 0.1 s) and all the rest happens in the background. The collector only reads (lists,
inspects, statistics, events); it never changes a container.

How it runs
-----------
Two daemon threads, started by the configurator after the SDK: one reads statistics every interval
and the metric callbacks report its latest readings, so the metric export never waits on the
daemon; the other follows the event stream. A daemon that is down or restarts costs retries in the
background with growing pauses and one warning, never an error in the application. Both threads
stop at exit, before the SDK's last export. In a pre-fork server the collector runs in the process
where the SDK was configured; forked workers report none of its containers.

The metrics are emitted only when the SDK's meter provider is configured, the events only when its
logger provider is (``OTEL_LOGS_EXPORTER``, ``otlp`` by Vigil's default).
"""

from __future__ import annotations

import atexit
import logging

from opentelemetry import metrics
from opentelemetry._logs import LoggerProvider, get_logger, get_logger_provider
from opentelemetry.metrics import MeterProvider
from opentelemetry.sdk._logs import LoggerProvider as SdkLoggerProvider
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.semconv.schemas import Schemas

from vigil.instrumentation import __version__
from vigil.instrumentation._settings import flag, positive_seconds, text
from vigil.instrumentation.environment_variables import (
    VIGIL_DOCKER_COLLECTOR,
    VIGIL_DOCKER_INTERVAL,
    VIGIL_DOCKER_LABEL_SELECTOR,
)
from vigil.instrumentation.metrics.docker.events import LifecycleEvents
from vigil.instrumentation.metrics.docker.selection import LabelSelector
from vigil.instrumentation.metrics.docker.stats import DEFAULT_INTERVAL, StatsReader, register_instruments

_logger = logging.getLogger(__name__)

SCOPE = __name__


class DockerCollector:
    """The statistics reader and the event follower, started and stopped together. Either may be
    ``None`` (the SDK's meter or logger provider is not configured)."""

    def __init__(self, stats: StatsReader | None, events: LifecycleEvents | None) -> None:
        self.stats = stats
        self.events = events

    def start(self) -> None:
        for part in (self.stats, self.events):
            if part is not None:
                part.start()

    def stop(self, timeout: float = 0.5) -> None:
        for part in (self.events, self.stats):
            if part is not None:
                part.stop(timeout)


def install_docker_collector(
    meter_provider: MeterProvider | None = None, logger_provider: LoggerProvider | None = None
) -> DockerCollector | None:
    """Start the Docker collector if the settings ask for it (see the module's documentation), on
    ``meter_provider`` and ``logger_provider`` (default: the global ones); it stops at exit."""
    setting = flag(VIGIL_DOCKER_COLLECTOR)
    selector_text = text(VIGIL_DOCKER_LABEL_SELECTOR, "")
    if setting is False or (setting is None and not selector_text):
        return None
    try:
        # Imported here, on the configurator's thread, before the collector's threads start: a
        # package imported for the first time by two threads at once (one of ours, and the
        # application's own `import docker`) can fail in either with "partially initialized module",
        # as requests' circular imports do (seen in tests/instrumentation/metrics/test_docker.py).
        # `import docker` brings in everything the threads use: docker.utils, docker.errors, requests.
        import docker  # noqa: F401
    except ImportError:
        _logger.warning(
            "The Docker collector needs the docker SDK: pip install 'vigil-instrumentation[docker]'"
        )
        return None
    selector = LabelSelector.parse(selector_text)
    meter_provider = meter_provider or metrics.get_meter_provider()
    logger_provider = logger_provider or get_logger_provider()

    stats = None
    if isinstance(meter_provider, SdkMeterProvider):
        stats = StatsReader(selector, positive_seconds(VIGIL_DOCKER_INTERVAL, DEFAULT_INTERVAL))
        meter = meter_provider.get_meter(SCOPE, __version__, schema_url=Schemas.V1_44_0.value)
        register_instruments(meter, stats.samples)
    events = None
    if isinstance(logger_provider, SdkLoggerProvider):
        logger = get_logger(SCOPE, __version__, logger_provider, schema_url=Schemas.V1_44_0.value)
        # A start or a death changes what there is to read: read now rather than at the next round.
        wake = stats.wake if stats is not None else None
        events = LifecycleEvents(selector, logger, listener=(lambda _name, _id: wake()) if wake else None)
    if stats is None and events is None:
        _logger.debug("Docker collector off: neither metrics nor logs are configured in the SDK")
        return None

    collector = DockerCollector(stats, events)
    collector.start()
    # Registered after the SDK's own exit handlers, so it runs before them: no event is emitted
    # into a logger provider that has shut down.
    atexit.register(collector.stop)
    return collector
