"""Fixtures for the sidecar: a recording return receiver, and sidecars wired to it on ephemeral ports."""

from __future__ import annotations

import pytest

from tests.recording_receiver import RecordingReceiver
from vigil.processors.scoring import ScorerChain
from vigil.processors.server import Sidecar
from vigil.processors.settings import SidecarSettings


@pytest.fixture
def receiver():
    rec = RecordingReceiver().start()
    yield rec
    rec.stop()


def make_sidecar(return_endpoint: str, chain: ScorerChain | None = None, **settings) -> Sidecar:
    sidecar = Sidecar(
        SidecarSettings(
            endpoint="127.0.0.1:0",
            return_endpoint=return_endpoint,
            health_endpoint="127.0.0.1:0",
            **settings,
        ),
        chain=chain or ScorerChain(),
    )
    sidecar.start()
    return sidecar


@pytest.fixture
def sidecar_factory():
    started: list[Sidecar] = []

    def factory(return_endpoint: str, chain: ScorerChain | None = None, **settings) -> Sidecar:
        sidecar = make_sidecar(return_endpoint, chain, **settings)
        started.append(sidecar)
        return sidecar

    yield factory
    for sidecar in started:
        sidecar.stop(grace=0)
