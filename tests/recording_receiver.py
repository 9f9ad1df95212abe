"""A recording OTLP/gRPC receiver: the peer that unit tests talk to where the subject under test is
the client (the sidecar's forward, an instrumented app's exporter). It keeps the exact bytes it got,
and can be told to fail or to hold requests unanswered (a collector that accepts connections but
has hung). Tests that need the collector itself run the real one (tests/e2e)."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc

from tests.otlp_values import attributes
from vigil.processors.server import Sidecar
from vigil.processors.signals import Signal


class RecordingReceiver:
    """An OTLP/gRPC server that records raw request bytes and answers as told."""

    def __init__(self, port: int = 0, credentials: grpc.ServerCredentials | None = None) -> None:
        self.received: list[tuple[Signal, bytes]] = []
        self.fail_with: grpc.StatusCode | None = None
        self.delay = threading.Event()  # set: answer at once; clear: hold requests
        self.delay.set()
        self.arrived = threading.Semaphore(0)
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        for signal in Signal:
            self._server.add_generic_rpc_handlers(
                [
                    grpc.method_handlers_generic_handler(
                        signal.service, {"Export": grpc.unary_unary_rpc_method_handler(self._bind(signal))}
                    )
                ]
            )
        address = f"127.0.0.1:{port}"
        self.port = (
            self._server.add_insecure_port(address)
            if credentials is None
            else self._server.add_secure_port(address, credentials)
        )
        self.endpoint = f"127.0.0.1:{self.port}"

    def _bind(self, signal):
        def export(payload: bytes, context: grpc.ServicerContext) -> bytes:
            self.arrived.release()
            self.delay.wait(timeout=30)
            if self.fail_with is not None:
                context.abort(self.fail_with, "told to fail")
            self.received.append((signal, payload))
            return signal.response_type().SerializeToString()

        return export

    def start(self) -> RecordingReceiver:
        self._server.start()
        return self

    def stop(self) -> None:
        self.delay.set()  # let held requests go, so that stopping does not wait for them
        self._server.stop(0).wait()

    def __enter__(self) -> RecordingReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def requests(self, signal: Signal) -> list:
        """The decoded export requests received for ``signal``, in order."""
        return [signal.parse(data) for got, data in self.received if got is signal]

    def resources(self, signal: Signal) -> list[dict]:
        """The resource attributes of every resource received for ``signal``, as plain dicts."""
        field = f"resource_{'spans' if signal is Signal.TRACES else signal.label}"
        return [
            attributes(data.resource.attributes)
            for request in self.requests(signal)
            for data in getattr(request, field)
        ]


def export_call(sidecar: Sidecar, signal: Signal):
    """A raw-bytes Export callable against ``sidecar``, and its channel (close it)."""
    channel = grpc.insecure_channel(
        f"127.0.0.1:{sidecar.port}", options=[("grpc.max_send_message_length", 256 * 1024 * 1024)]
    )
    return channel.unary_unary(signal.method), channel
