"""Hostile input to the sidecar's export path: random bytes and mutated valid requests, 10^5 and
more, must never raise anything but the gRPC aborts of the contract (INVALID_ARGUMENT for
undecodable bytes), never hang, and never leave memory behind."""

from __future__ import annotations

import random
import time
import tracemalloc

import grpc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.processors.otlp_samples import logs, metrics, traces
from vigil.processors.scoring import ScorerChain
from vigil.processors.server import ExportHandler
from vigil.processors.signals import Signal


class Aborted(Exception):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(code, details)
        self.code = code


class Context:
    """The part of grpc.ServicerContext the handler uses."""

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise Aborted(code, details)


class DiscardingForwarder:
    """Accepts every forward, keeping nothing: these tests are about decoding."""

    endpoint = "nowhere"

    def forward(self, signal: Signal, payload: bytes) -> bytes:
        return b""


HANDLER = ExportHandler(ScorerChain(), DiscardingForwarder())  # type: ignore[arg-type]
SAMPLES = {Signal.TRACES: traces(20), Signal.METRICS: metrics(20), Signal.LOGS: logs(20)}


def export(signal: Signal, payload: bytes) -> None:
    try:
        HANDLER.export(signal, payload, Context())  # type: ignore[arg-type]
    except Aborted as exc:
        assert exc.code is grpc.StatusCode.INVALID_ARGUMENT


@settings(max_examples=20_000, deadline=200, suppress_health_check=list(HealthCheck))
@given(signal=st.sampled_from(list(Signal)), payload=st.binary(max_size=2048))
def test_random_bytes(signal, payload):
    export(signal, payload)


def mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.random()
        if kind < 0.4 and data:  # flip bits
            i = rng.randrange(len(data))
            data[i] ^= 1 << rng.randrange(8)
        elif kind < 0.6 and data:  # truncate
            del data[rng.randrange(len(data)) :]
        elif kind < 0.8:  # insert random bytes
            i = rng.randrange(len(data) + 1)
            data[i:i] = rng.randbytes(rng.randint(1, 16))
        else:  # duplicate a slice (repeated fields, nested lengths that lie)
            if data:
                i = rng.randrange(len(data))
                data[i:i] = data[i : i + rng.randint(1, 64)]
    return bytes(data)


def test_a_hundred_thousand_mutated_requests_neither_crash_nor_hang_nor_leak():
    rng = random.Random(20261123)
    valid = {signal: sample.SerializeToString() for signal, sample in SAMPLES.items()}
    signals = list(Signal)
    tracemalloc.start()
    try:
        for round_ in range(2):
            slowest = 0.0
            for _ in range(50_000):
                signal = rng.choice(signals)
                payload = mutate(rng, valid[signal])
                started = time.perf_counter()
                export(signal, payload)
                slowest = max(slowest, time.perf_counter() - started)
            assert slowest < 0.5, f"one input took {slowest:.3f} s"
            current, _ = tracemalloc.get_traced_memory()
            if round_ == 0:
                after_first = current
        # The second 50,000 inputs must not have grown memory: nothing accumulates per request.
        assert current - after_first < 2 * 1024 * 1024
    finally:
        tracemalloc.stop()


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field, with a varint length."""
    length, size = b"", len(payload)
    while True:
        byte, size = size & 0x7F, size >> 7
        length += bytes([byte | (0x80 if size else 0)])
        if not size:
            return bytes([number << 3 | 2]) + length + payload


def refused(signal: Signal, payload: bytes) -> bool:
    try:
        HANDLER.export(signal, payload, Context())  # type: ignore[arg-type]
    except Aborted as exc:
        return exc.code is grpc.StatusCode.INVALID_ARGUMENT
    return False


def test_nesting_past_the_recursion_limit_and_lying_lengths_are_refused():
    # The schema allows unbounded nesting: AnyValue.array_value -> ArrayValue.values -> AnyValue
    # ... 300 levels, inside request.resource_spans.resource.attributes[0].value.
    value = b""
    for _ in range(300):
        value = _field(5, _field(1, value))
    deep = _field(1, _field(1, _field(1, _field(2, value))))
    assert refused(Signal.TRACES, deep)

    lying_length = b"\x0a\xff\xff\xff\xff\x07" + b"x" * 10  # a 2 GB field in 16 bytes
    overlong_varint = b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01"
    for payload in (lying_length, overlong_varint):
        assert refused(Signal.TRACES, payload)
