"""A detector that hangs is abandoned within its bound with a warning; one that fails is skipped."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from opentelemetry.sdk.resources import Resource, get_aggregated_resources

from vigil.instrumentation.resources.bounded import BoundedResourceDetector, DetectorTimeoutError


class Hanging(BoundedResourceDetector):
    name = "hanging"

    def __init__(self, release: threading.Event, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.release = release

    def _detect(self) -> Resource:
        self.release.wait(60)  # a read on a dead NFS mount, an unanswered connection...
        return Resource({"late": True})


class Failing(BoundedResourceDetector):
    name = "failing"

    def _detect(self) -> Resource:
        raise OSError("permission denied")


class Quick(BoundedResourceDetector):
    name = "quick"

    def _detect(self) -> Resource:
        return Resource({"quick": 1})


@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()  # let the abandoned thread finish


def test_a_hanging_detector_is_abandoned_within_its_bound(release, caplog):
    started = time.monotonic()
    with caplog.at_level(logging.WARNING):
        resource = Hanging(release, timeout=0.3).detect()
    elapsed = time.monotonic() - started
    assert resource.attributes == {}
    assert 0.3 <= elapsed < 1.0
    assert "hanging did not finish within 0.3s" in caplog.text


def test_the_sdk_aggregation_is_not_held_up_by_a_hanging_detector(release):
    # The SDK joins its own worker threads; ours return in time, so its call returns too.
    started = time.monotonic()
    resource = get_aggregated_resources([Hanging(release, timeout=0.3), Quick()], Resource.get_empty())
    assert time.monotonic() - started < 1.0
    assert resource.attributes == {"quick": 1}


def test_raise_on_error_turns_the_timeout_into_an_error(release):
    with pytest.raises(DetectorTimeoutError):
        Hanging(release, timeout=0.1, raise_on_error=True).detect()


def test_a_failing_detector_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        assert Failing().detect().attributes == {}
    assert "failing failed" in caplog.text and "permission denied" in caplog.text
    with pytest.raises(OSError):
        Failing(raise_on_error=True).detect()


def test_the_bound_comes_from_the_environment(monkeypatch, caplog):
    monkeypatch.setenv("VIGIL_RESOURCE_DETECTOR_TIMEOUT", "0.25")
    assert Quick().timeout == 0.25
    monkeypatch.setenv("VIGIL_RESOURCE_DETECTOR_TIMEOUT", "soon")
    with caplog.at_level(logging.WARNING):
        assert Quick().timeout == 2.0
    assert "VIGIL_RESOURCE_DETECTOR_TIMEOUT='soon'" in caplog.text
    monkeypatch.setenv("VIGIL_RESOURCE_DETECTOR_TIMEOUT", "-1")
    assert Quick().timeout == 2.0
