"""A recording OTLP/gRPC receiver standing in for the collector's return receiver in the sidecar's
unit tests: it keeps the exact bytes it got, and can be told to fail or to hold requests."""

from __future__ import annotations

import threading
from concurrent import futures

import grpc

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
        self._server.stop(0).wait()


def export_call(sidecar: Sidecar, signal: Signal):
    """A raw-bytes Export callable against ``sidecar``, and its channel (close it)."""
    channel = grpc.insecure_channel(
        f"127.0.0.1:{sidecar.port}", options=[("grpc.max_send_message_length", 256 * 1024 * 1024)]
    )
    return channel.unary_unary(signal.method), channel
