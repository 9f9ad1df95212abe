"""The scoring sidecar: an OTLP/gRPC server between two collector pipelines.

The collector exports traces, metrics and logs to the sidecar (``VIGIL_SIDECAR_ENDPOINT``). For
each export request the sidecar

1. decodes it with opentelemetry-proto's generated classes (undecodable bytes: INVALID_ARGUMENT);
2. runs the scorer chain on it, if a scorer reads that signal (otherwise the original bytes are
   kept, so forwarding is byte-identical);
3. forwards it to the collector's return receiver (``VIGIL_SIDECAR_RETURN_ENDPOINT``);
4. answers OK with the return receiver's own response only once that forward succeeded, and
   UNAVAILABLE when it failed, so the collector's retry and failover see every loss.

A request larger than ``VIGIL_SIDECAR_MAX_MESSAGE_BYTES``, or beyond the admitted concurrency,
gets RESOURCE_EXHAUSTED from gRPC itself. The standard gRPC health service is served too.

Stopping (SIGTERM, SIGINT or :meth:`Sidecar.stop`) marks the sidecar not ready, refuses new
requests, and gives the ones in flight ``VIGIL_SIDECAR_SHUTDOWN_GRACE`` seconds to finish.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent import futures

import grpc
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from vigil.processors import self_metrics
from vigil.processors.credentials import forward_credentials, server_credentials
from vigil.processors.forwarder import Forwarder, ForwardError
from vigil.processors.health import HealthServer
from vigil.processors.scoring import ScorerChain, SideOutput
from vigil.processors.settings import SidecarSettings
from vigil.processors.signals import Signal

_logger = logging.getLogger(__name__)


class ExportHandler:
    """Handles ``Export`` for every signal: decode, score, forward, answer."""

    def __init__(self, chain: ScorerChain, forwarder: Forwarder) -> None:
        self._chain = chain
        self._forwarder = forwarder

    def method_handlers(self) -> list[grpc.GenericRpcHandler]:
        """One generic handler per OTLP service, taking and returning raw bytes."""
        return [
            grpc.method_handlers_generic_handler(
                signal.service, {"Export": grpc.unary_unary_rpc_method_handler(self._bind(signal))}
            )
            for signal in Signal
        ]

    def _bind(self, signal: Signal):
        def export(payload: bytes, context: grpc.ServicerContext) -> bytes:
            return self.export(signal, payload, context)

        return export

    def export(self, signal: Signal, payload: bytes, context: grpc.ServicerContext) -> bytes:
        started = time.perf_counter()
        self_metrics.IN_FLIGHT.inc()
        self_metrics.REQUEST_BYTES.labels(signal.label).inc(len(payload))
        code = grpc.StatusCode.OK
        try:
            try:
                request = signal.parse(payload)
            except DecodeError as exc:
                code = grpc.StatusCode.INVALID_ARGUMENT
                context.abort(code, f"cannot decode {signal.request_type.__name__}: {exc}")
            items = signal.count_items(request)
            side: list[SideOutput] = []
            if self._chain.handles(signal):
                side = self._chain.apply(signal, request, payload)
                payload = request.SerializeToString()
            try:
                response = self._forwarder.forward(signal, payload)
            except ForwardError as exc:
                self_metrics.FORWARD_ERRORS.labels(signal.label, exc.code.name).inc()
                code = grpc.StatusCode.UNAVAILABLE
                context.abort(code, f"forward to {self._forwarder.endpoint} failed: {exc}")
            self_metrics.ITEMS.labels(signal.label).inc(items)
            self._forward_side_output(side)
            return response
        except Exception:
            if code is grpc.StatusCode.OK:  # not one of our aborts: a bug, reported as INTERNAL by grpc
                code = grpc.StatusCode.INTERNAL
                _logger.exception("unexpected error on a %s request", signal.label)
            raise
        finally:
            self_metrics.IN_FLIGHT.dec()
            self_metrics.REQUESTS.labels(signal.label, code.name).inc()
            self_metrics.REQUEST_DURATION.labels(signal.label).observe(time.perf_counter() - started)

    def _forward_side_output(self, side: list[SideOutput]) -> None:
        # The scored request is delivered: a failure here must not fail it (the collector would
        # send it again around the sidecar). The side output is lost, and that is counted.
        for side_signal, side_request in side:
            try:
                self._forwarder.forward(side_signal, side_request.SerializeToString())
            except ForwardError as exc:
                self_metrics.SIDE_OUTPUT_ERRORS.labels(side_signal.label).inc()
                _logger.warning("could not forward a scorer's %s side output: %s", side_signal.label, exc)


class Sidecar:
    """The gRPC server, its forwarder and its health endpoint, started and stopped together."""

    def __init__(self, settings: SidecarSettings, chain: ScorerChain | None = None) -> None:
        self.settings = settings
        self.chain = chain if chain is not None else ScorerChain.from_names(settings.scorers)
        self.forwarder = Forwarder(
            settings.return_endpoint,
            max_message_bytes=settings.max_message_bytes,
            timeout=settings.forward_timeout,
            credentials=forward_credentials(settings),
        )
        self._health_service = health.HealthServicer()
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="vigil-export"),
            handlers=ExportHandler(self.chain, self.forwarder).method_handlers(),
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
            options=[
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.max_send_message_length", settings.max_message_bytes),
                # One sidecar per port: never let a second process silently share it.
                ("grpc.so_reuseport", 0),
            ],
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health_service, self._server)
        credentials = server_credentials(settings)
        self.tls = credentials is not None
        self.port = (
            self._server.add_insecure_port(settings.endpoint)
            if credentials is None
            else self._server.add_secure_port(settings.endpoint, credentials)
        )
        if self.port == 0:
            raise OSError(f"cannot listen on {settings.endpoint}")
        self.health = HealthServer(settings.health_endpoint, readiness=self._readiness)
        self._draining = threading.Event()
        self._stopped = threading.Event()

    def _readiness(self) -> tuple[bool, dict[str, object]]:
        downstream = self.forwarder.ready()
        ready = downstream and not self._draining.is_set()
        detail = {
            "draining": self._draining.is_set(),
            "return_endpoint": self.settings.return_endpoint,
            "return_endpoint_connected": downstream,
            "scorers": [s.name for s in self.chain.scorers],
        }
        return ready, detail

    def start(self) -> None:
        self._server.start()
        self.health.start()
        self._health_service.set("", health_pb2.HealthCheckResponse.SERVING)
        _logger.info(
            "vigil sidecar serving OTLP%s on %s (port %d), forwarding to %s, health on %s, scorers: %s",
            " over TLS" if self.tls else "",
            self.settings.endpoint,
            self.port,
            self.settings.return_endpoint,
            self.health.address,
            ", ".join(s.name for s in self.chain.scorers) or "none",
        )

    def stop(self, grace: float | None = None) -> None:
        """Refuse new requests, let those in flight finish within ``grace`` seconds, then close."""
        if self._draining.is_set():
            self._stopped.wait()
            return
        self._draining.set()
        self._health_service.enter_graceful_shutdown()
        grace = self.settings.shutdown_grace if grace is None else grace
        _logger.info("vigil sidecar stopping: draining requests in flight for up to %.1f s", grace)
        self._server.stop(grace).wait()
        self.chain.close()
        self.forwarder.close()
        self.health.stop()
        self._stopped.set()

    def wait(self) -> None:
        self._stopped.wait()
