"""Forwarding scored requests to the collector's return receiver.

Requests travel as serialized bytes: the forwarder never re-encodes what it was given, so a
request that no scorer touched reaches the collector exactly as the collector sent it.
"""

from __future__ import annotations

import grpc

from vigil.processors.signals import Signal


class ForwardError(Exception):
    """The return endpoint did not accept a request."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


class Forwarder:
    """An OTLP/gRPC client for the three signals, sending and receiving raw bytes."""

    def __init__(
        self,
        endpoint: str,
        *,
        max_message_bytes: int,
        timeout: float,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._timeout = timeout
        options = [
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            # Reconnect quickly after the collector restarts: the default backoff grows to
            # two minutes, during which every forward would fail.
            ("grpc.max_reconnect_backoff_ms", 2000),
        ]
        self._channel = (
            grpc.insecure_channel(endpoint, options=options)
            if credentials is None
            else grpc.secure_channel(endpoint, credentials, options=options)
        )
        # No (de)serializers: grpc passes bytes through untouched.
        self._calls = {signal: self._channel.unary_unary(signal.method) for signal in Signal}

    def forward(self, signal: Signal, payload: bytes) -> bytes:
        """Send one serialized export request; return the serialized response.

        Raises :class:`ForwardError` when the return endpoint is unreachable, too slow, or
        answers with an error.
        """
        try:
            return self._calls[signal](payload, timeout=self._timeout)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else grpc.StatusCode.UNKNOWN
            details = exc.details() if isinstance(exc, grpc.Call) else str(exc)
            raise ForwardError(code, details or "") from None

    def ready(self, timeout: float = 0.5) -> bool:
        """Whether a connection to the return endpoint is up (or comes up within ``timeout``)."""
        try:
            grpc.channel_ready_future(self._channel).result(timeout=timeout)
        except grpc.FutureTimeoutError:
            return False
        return True

    def close(self) -> None:
        self._channel.close()
