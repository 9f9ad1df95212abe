"""The ``opentelemetry_configurator`` entry point: sets up the OpenTelemetry SDK for Vigil.

It is the SDK's own configurator (exporters, processors and providers from the ``OTEL_*``
variables) with Vigil's identity on the resource, as the semantic conventions ask of a
distribution: ``telemetry.distro.name = "vigil"`` and ``telemetry.distro.version``, unless
``OTEL_RESOURCE_ATTRIBUTES`` sets them.
"""

from __future__ import annotations

from opentelemetry.sdk._configuration import _OTelSDKConfigurator
from opentelemetry.sdk.resources import OTELResourceDetector

from vigil.instrumentation import __version__

DISTRO_NAME = "vigil"


class VigilConfigurator(_OTelSDKConfigurator):
    def _configure(self, **kwargs: object) -> None:
        resource_attributes = dict(kwargs.pop("resource_attributes", None) or {})
        # The SDK lets these attributes override OTEL_RESOURCE_ATTRIBUTES; the user's word must win.
        from_env = OTELResourceDetector().detect().attributes
        for key, value in (("telemetry.distro.name", DISTRO_NAME), ("telemetry.distro.version", __version__)):
            if key not in from_env:
                resource_attributes.setdefault(key, value)
        super()._configure(resource_attributes=resource_attributes, **kwargs)
