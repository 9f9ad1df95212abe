"""The ``opentelemetry_configurator`` entry point: sets up the OpenTelemetry SDK for Vigil.

It is the SDK's own configurator (exporters, processors, providers and the resource, from the
``OTEL_*`` variables) with these additions:

- Vigil's defaults (:mod:`vigil.instrumentation.distro`) are applied here too, so they hold even when
  another distro ran first; set variables still win.
- Vigil's identity on the resource, as the semantic conventions ask of a distribution:
  ``telemetry.distro.name = "vigil"`` and ``telemetry.distro.version``, unless
  ``OTEL_RESOURCE_ATTRIBUTES`` sets them.
- A bounded exit (:mod:`vigil.instrumentation.shutdown`): the last telemetry is flushed within
  ``VIGIL_SHUTDOWN_TIMEOUT`` seconds, so a collector that is down never hangs the app's exit.
  The same flush runs when SIGTERM, left at its default action, stops the process
  (:mod:`vigil.instrumentation.termination`).
- The ``container.*`` metrics of the process's cgroup on the meter provider it has just set up, in a
  container or a limited cgroup unless ``VIGIL_CONTAINER_METRICS`` says otherwise
  (:mod:`vigil.instrumentation.metrics.container`). The system and process metrics are an
  instrumentation, loaded after the configurator (:mod:`vigil.instrumentation.metrics.system`).
- Resources keep their hash once computed (:mod:`vigil.instrumentation.resource_hash`): the
  exporters hash the resource of every span and log record.
- Pre-fork servers (gunicorn, ``uvicorn --workers``): each worker exports on connections of its own,
  only what it measured itself, and host-wide metrics come from the master alone
  (:mod:`vigil.instrumentation.prefork`).
- The Docker collector, when :envvar:`VIGIL_DOCKER_LABEL_SELECTOR` names the containers to watch:
  their ``container.*`` metrics and lifecycle events, read in the background
  (:mod:`vigil.instrumentation.metrics.docker`). Off, it costs nothing at start-up.
- The root logger's level from ``OTEL_PYTHON_LOG_LEVEL`` and, with :envvar:`VIGIL_LOG_FORMAT`
  ``=json``, JSON lines on stdout (:mod:`vigil.instrumentation.logs`). The OTLP bridge for logging is
  an instrumentation, loaded after the configurator (:mod:`vigil.instrumentation.logs.bridge`).
"""

from __future__ import annotations

import logging

from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.resources import OTELResourceDetector

from vigil.instrumentation import __version__
from vigil.instrumentation._settings import positive_seconds
from vigil.instrumentation.distro import DISTRO_NAME, apply_defaults
from vigil.instrumentation.environment_variables import VIGIL_SHUTDOWN_TIMEOUT
from vigil.instrumentation.logs import configure_logs
from vigil.instrumentation.metrics.container import install_container_metrics
from vigil.instrumentation.metrics.docker import install_docker_collector
from vigil.instrumentation.prefork import install_prefork_support, spawned_by_multiprocessing
from vigil.instrumentation.resource_hash import cache_resource_hashes
from vigil.instrumentation.shutdown import install_bounded_exit
from vigil.instrumentation.termination import install_flush_on_sigterm

_logger = logging.getLogger(__name__)

DEFAULT_SHUTDOWN_TIMEOUT = 3.0


class VigilConfigurator(_OTelSDKConfigurator):
    def _configure(self, **kwargs: object) -> None:
        apply_defaults()
        resource_attributes = dict(kwargs.pop("resource_attributes", None) or {})
        # The SDK lets these attributes override OTEL_RESOURCE_ATTRIBUTES; the user's word must win.
        from_env = OTELResourceDetector().detect().attributes
        for key, value in (("telemetry.distro.name", DISTRO_NAME), ("telemetry.distro.version", __version__)):
            if key not in from_env:
                resource_attributes.setdefault(key, value)
        cache_resource_hashes()  # Vigil's resource is large; the exporters hash it per span
        super()._configure(resource_attributes=resource_attributes, **kwargs)
        try:
            # Before the container metrics are registered: a spawned worker leaves those to its master.
            install_prefork_support()
        except Exception:
            _logger.warning("Forked and spawned workers may export inherited telemetry", exc_info=True)
        try:
            configure_logs()
        except Exception:
            _logger.warning("Vigil's log settings are not applied", exc_info=True)
        install_bounded_exit(positive_seconds(VIGIL_SHUTDOWN_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT))
        install_flush_on_sigterm(positive_seconds(VIGIL_SHUTDOWN_TIMEOUT, DEFAULT_SHUTDOWN_TIMEOUT))
        try:
            install_container_metrics()
        except Exception:
            # The readers answer None for what they cannot read; whatever else goes wrong must cost
            # the application its container metrics, not its start.
            _logger.warning("Container metrics are not collected", exc_info=True)
        try:
            # After install_bounded_exit: the collector's own exit handler then runs first.
            if not spawned_by_multiprocessing():  # else the process that spawned this one runs it
                install_docker_collector()
        except Exception:
            _logger.warning("The Docker collector is not running", exc_info=True)
