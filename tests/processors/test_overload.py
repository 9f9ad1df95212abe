"""Overload: the sidecar admits a bounded number of requests and sheds the rest with
RESOURCE_EXHAUSTED (which the collector's failover sends around it), instead of queueing without
bound; what it admitted still completes."""

from __future__ import annotations

import grpc
import pytest

from tests.processors.otlp_samples import traces
from tests.recording_receiver import export_call
from vigil.processors.signals import Signal


def test_requests_beyond_the_admitted_concurrency_are_shed(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint, max_concurrent_rpcs=2, workers=4)
    receiver.delay.clear()  # forwards hang until released: requests pile up in the sidecar
    call, channel = export_call(sidecar, Signal.TRACES)
    payload = traces().SerializeToString()
    admitted = [call.future(payload, timeout=20) for _ in range(2)]
    for _ in admitted:
        assert receiver.arrived.acquire(timeout=5)

    with pytest.raises(grpc.RpcError) as err:
        call(payload, timeout=5)
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED

    receiver.delay.set()
    for future in admitted:
        future.result(timeout=10)
    call(payload, timeout=5)  # capacity is back
    channel.close()
    assert len(receiver.received) == 3
