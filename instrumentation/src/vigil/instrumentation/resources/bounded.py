"""Bounded, fail-soft resource detection: the base class of Vigil's resource detectors.

The SDK runs detectors in a thread pool and stops waiting for one after its timeout, but it still
joins that thread before the application can start, so a detector blocked on a slow file system or
an unanswered connection would block start-up indefinitely. A :class:`BoundedResourceDetector` runs
its work in a daemon thread of its own and gives up on it after ``VIGIL_RESOURCE_DETECTOR_TIMEOUT``
seconds (default 2): the detector then returns an empty resource with a warning, and the abandoned
thread cannot delay the exit either. An exception inside a detector is also a warning and an empty
resource, unless the detector was built with ``raise_on_error=True``, as the SDK defines.
"""

from __future__ import annotations

import logging
import os
import threading
from abc import abstractmethod
from collections.abc import Mapping
from pathlib import Path

from opentelemetry.sdk.resources import Resource, ResourceDetector

from vigil.instrumentation._settings import positive_seconds
from vigil.instrumentation.environment_variables import VIGIL_RESOURCE_DETECTOR_TIMEOUT

DEFAULT_TIMEOUT = 2.0

_logger = logging.getLogger(__name__)


class DetectorTimeoutError(TimeoutError):
    """A detector did not finish within its bound (raised only with ``raise_on_error=True``)."""


class BoundedResourceDetector(ResourceDetector):
    """Subclasses implement :meth:`_detect`; :meth:`detect` bounds it and makes failures soft."""

    name = "vigil"
    """The entry-point name, for messages."""

    def __init__(
        self,
        raise_on_error: bool = False,
        *,
        timeout: float | None = None,
        root: Path | str = "/",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """``root`` is where the file system is read from and ``environ`` the environment: tests
        point them at fixture trees and made-up environments."""
        super().__init__(raise_on_error=raise_on_error)
        self.timeout = (
            timeout
            if timeout is not None
            else positive_seconds(VIGIL_RESOURCE_DETECTOR_TIMEOUT, DEFAULT_TIMEOUT)
        )
        self.root = Path(root)
        self.environ = os.environ if environ is None else environ

    @abstractmethod
    def _detect(self) -> Resource:
        """The detection itself; may block or raise."""

    def detect(self) -> Resource:
        outcome: dict[str, object] = {}

        def run() -> None:
            try:
                outcome["resource"] = self._detect()
            except Exception as exc:  # reported by the waiting thread, which owns the policy
                outcome["error"] = exc

        worker = threading.Thread(target=run, name=f"vigil-detector-{self.name}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            _logger.warning(
                "Resource detector %s did not finish within %ss; starting without its attributes",
                self.name,
                self.timeout,
            )
            if self.raise_on_error:
                raise DetectorTimeoutError(f"resource detector {self.name} timed out after {self.timeout}s")
            return Resource.get_empty()
        if "error" in outcome:
            error = outcome["error"]
            if self.raise_on_error:
                raise error  # type: ignore[misc]
            _logger.warning("Resource detector %s failed, skipping it: %r", self.name, error)
            return Resource.get_empty()
        return outcome["resource"]  # type: ignore[return-value]
