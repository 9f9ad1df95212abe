"""The sidecar's transport: what the collector relies on when it exports through it."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
import requests
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from tests.ports import free_port
from tests.processors.otlp_samples import attr, logs, metrics, traces
from tests.recording_receiver import RecordingReceiver, export_call
from vigil.processors.scoring import ScorerChain
from vigil.processors.signals import Signal


class StampScorer:
    """Marks every span and log record it sees, as a real scorer annotates."""

    name = "stamp"
    signals = frozenset({Signal.TRACES, Signal.LOGS})

    def score(self, signal, request):
        if signal is Signal.TRACES:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        span.attributes.append(attr("vigil.test.stamp", "seen"))
        else:
            for rl in request.resource_logs:
                for sl in rl.scope_logs:
                    for record in sl.log_records:
                        record.attributes.append(attr("vigil.test.stamp", "seen"))


class BrokenScorer:
    name = "broken"
    signals = frozenset({Signal.TRACES})

    def score(self, signal, request):
        raise RuntimeError("model file missing")


@pytest.mark.parametrize(
    "signal,sample", [(Signal.TRACES, traces), (Signal.METRICS, metrics), (Signal.LOGS, logs)]
)
def test_forwards_every_signal_byte_identical_without_scorers(receiver, sidecar_factory, signal, sample):
    sidecar = sidecar_factory(receiver.endpoint)
    payload = sample().SerializeToString()
    call, channel = export_call(sidecar, signal)
    response = call(payload, timeout=5)
    channel.close()
    assert receiver.received == [(signal, payload)]
    assert signal.response_type.FromString(response) == signal.response_type()


def _field(number: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (lengths here stay under 128 bytes)."""
    assert len(payload) < 128
    return bytes([number << 3 | 2, len(payload)]) + payload


def test_non_canonical_bytes_are_not_re_encoded(receiver, sidecar_factory):
    # A span whose name field appears twice: valid protobuf (the last one wins) that a decode and
    # re-encode would collapse, so equality proves the bytes went through exactly as sent.
    span = Span(trace_id=b"t" * 16, span_id=b"s" * 8, name="first").SerializeToString() + _field(5, b"second")
    payload = _field(1, _field(2, _field(2, span)))  # request.resource_spans.scope_spans.spans
    decoded = Signal.TRACES.parse(payload)
    assert decoded.resource_spans[0].scope_spans[0].spans[0].name == "second"
    assert decoded.SerializeToString() != payload
    sidecar = sidecar_factory(receiver.endpoint)
    call, channel = export_call(sidecar, Signal.TRACES)
    call(payload, timeout=5)
    channel.close()
    assert receiver.received[0][1] == payload


def test_scorer_annotations_reach_the_return_endpoint(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint, ScorerChain([StampScorer()]))
    for signal, sample in ((Signal.TRACES, traces()), (Signal.LOGS, logs()), (Signal.METRICS, metrics())):
        call, channel = export_call(sidecar, signal)
        call(sample.SerializeToString(), timeout=5)
        channel.close()
    got = {signal: signal.parse(data) for signal, data in receiver.received}
    spans = got[Signal.TRACES].resource_spans[0].scope_spans[0].spans
    assert all(attr("vigil.test.stamp", "seen") in span.attributes for span in spans)
    records = got[Signal.LOGS].resource_logs[0].scope_logs[0].log_records
    assert all(attr("vigil.test.stamp", "seen") in r.attributes for r in records)
    # No scorer reads metrics: they pass untouched.
    assert got[Signal.METRICS] == metrics()


def test_failing_scorer_does_not_lose_the_request(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint, ScorerChain([BrokenScorer(), StampScorer()]))
    call, channel = export_call(sidecar, Signal.TRACES)
    call(traces(spans=2).SerializeToString(), timeout=5)
    channel.close()
    spans = Signal.TRACES.parse(receiver.received[0][1]).resource_spans[0].scope_spans[0].spans
    assert len(spans) == 2 and all(attr("vigil.test.stamp", "seen") in s.attributes for s in spans)


def test_undecodable_bytes_get_invalid_argument_and_the_server_keeps_serving(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint)
    call, channel = export_call(sidecar, Signal.TRACES)
    for garbage in (b"\xff\xff\xff\xff", b"\x0a\xff\xff\xff\xff\x0f", b"\x0a" * 1000):
        with pytest.raises(grpc.RpcError) as err:
            call(garbage, timeout=5)
        assert err.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "cannot decode ExportTraceServiceRequest" in err.value.details()
    assert receiver.received == []
    call(traces().SerializeToString(), timeout=5)
    channel.close()
    assert len(receiver.received) == 1


def test_unavailable_while_the_return_endpoint_is_down_then_ok_when_it_returns(sidecar_factory):
    port = free_port()  # nothing listens there: connections are refused
    sidecar = sidecar_factory(f"127.0.0.1:{port}", forward_timeout=2.0)
    call, channel = export_call(sidecar, Signal.TRACES)
    payload = traces().SerializeToString()
    with pytest.raises(grpc.RpcError) as err:
        call(payload, timeout=5)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
    assert f"127.0.0.1:{port}" in err.value.details()

    back = RecordingReceiver(port).start()
    try:
        deadline = time.monotonic() + 10
        while True:  # the collector's exporter retries like this
            try:
                call(payload, timeout=5)
                break
            except grpc.RpcError as exc:
                assert exc.code() is grpc.StatusCode.UNAVAILABLE
                assert time.monotonic() < deadline, "sidecar did not reconnect within 10 s"
                time.sleep(0.2)
        assert back.received == [(Signal.TRACES, payload)]
    finally:
        channel.close()
        back.stop()


def test_downstream_refusal_is_reported_as_unavailable(receiver, sidecar_factory):
    receiver.fail_with = grpc.StatusCode.RESOURCE_EXHAUSTED  # e.g. the collector's memory_limiter
    sidecar = sidecar_factory(receiver.endpoint)
    call, channel = export_call(sidecar, Signal.LOGS)
    with pytest.raises(grpc.RpcError) as err:
        call(logs().SerializeToString(), timeout=5)
    channel.close()
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "RESOURCE_EXHAUSTED" in err.value.details()


def test_messages_over_the_size_limit_are_refused(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint, max_message_bytes=64 * 1024)
    call, channel = export_call(sidecar, Signal.TRACES)
    big = traces(spans=2000).SerializeToString()
    assert len(big) > 64 * 1024
    with pytest.raises(grpc.RpcError) as err:
        call(big, timeout=5)
    assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    call(traces(spans=10).SerializeToString(), timeout=5)  # still serving
    channel.close()
    assert len(receiver.received) == 1


def test_stop_drains_requests_in_flight_and_refuses_new_ones(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint)
    receiver.delay.clear()  # hold forwards until released
    call, channel = export_call(sidecar, Signal.TRACES)
    payload = traces().SerializeToString()
    in_flight = call.future(payload, timeout=20)
    assert receiver.arrived.acquire(timeout=5)

    stopper = threading.Thread(target=sidecar.stop, kwargs={"grace": 10})
    stopper.start()
    time.sleep(0.3)
    with pytest.raises(grpc.RpcError) as err:
        call(payload, timeout=5)
    assert err.value.code() is grpc.StatusCode.UNAVAILABLE
    assert stopper.is_alive(), "stop() returned before the request in flight finished"

    receiver.delay.set()
    in_flight.result(timeout=10)  # answered OK, after its forward succeeded
    stopper.join(timeout=10)
    channel.close()
    assert receiver.received == [(Signal.TRACES, payload)]


def test_health_and_metrics_endpoints(receiver, sidecar_factory):
    sidecar = sidecar_factory(receiver.endpoint)
    base = f"http://{sidecar.health.address}"
    assert requests.get(f"{base}/health/live", timeout=5).status_code == 200
    ready = requests.get(f"{base}/health/ready", timeout=5)
    assert ready.status_code == 200 and ready.json()["return_endpoint_connected"] is True

    call, channel = export_call(sidecar, Signal.TRACES)
    call(traces(spans=5).SerializeToString(), timeout=5)
    with pytest.raises(grpc.RpcError):
        call(b"\xff\xff", timeout=5)
    channel.close()
    text = requests.get(f"{base}/metrics", timeout=5).text
    assert 'vigil_sidecar_requests_total{code="OK",signal="traces"}' in text
    assert 'vigil_sidecar_requests_total{code="INVALID_ARGUMENT",signal="traces"}' in text
    assert 'vigil_sidecar_items_total{signal="traces"}' in text
    assert "vigil_sidecar_request_duration_seconds_bucket" in text

    receiver.stop()
    not_ready = requests.get(f"{base}/health/ready", timeout=5)
    assert not_ready.status_code == 503 and not_ready.json()["return_endpoint_connected"] is False
    assert requests.get(f"{base}/health/live", timeout=5).status_code == 200


def test_grpc_health_service_reports_serving(receiver, sidecar_factory):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    sidecar = sidecar_factory(receiver.endpoint)
    with grpc.insecure_channel(f"127.0.0.1:{sidecar.port}") as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
