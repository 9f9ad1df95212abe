"""TLS and mutual TLS on both of the sidecar's connections, with certificates from
scripts/make-certs.sh: the right peers get through, the others are refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import grpc
import pytest

from tests.installed import REPO
from tests.processors.otlp_samples import traces
from tests.recording_receiver import RecordingReceiver
from vigil.processors.credentials import server_credentials
from vigil.processors.settings import SidecarSettings
from vigil.processors.signals import Signal


def make_certs(directory: Path) -> Path:
    subprocess.run([str(REPO / "scripts" / "make-certs.sh"), str(directory)], check=True, capture_output=True)
    return directory


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Path:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory) -> Path:
    """Certificates from a different CA: a stranger's."""
    return make_certs(tmp_path_factory.mktemp("stranger"))


def read(directory: Path, name: str) -> bytes:
    return (directory / name).read_bytes()


def tls_settings(certs: Path, **extra) -> dict:
    return {
        "tls_cert_file": str(certs / "sidecar.pem"),
        "tls_key_file": str(certs / "sidecar-key.pem"),
        "tls_client_ca_file": str(certs / "ca.pem"),
        **extra,
    }


def client(sidecar, credentials: grpc.ChannelCredentials | None):
    target = f"127.0.0.1:{sidecar.port}"
    channel = (
        grpc.insecure_channel(target) if credentials is None else grpc.secure_channel(target, credentials)
    )
    return channel.unary_unary(Signal.TRACES.method), channel


def collector_credentials(certs: Path, with_client_cert: bool = True) -> grpc.ChannelCredentials:
    if not with_client_cert:
        return grpc.ssl_channel_credentials(root_certificates=read(certs, "ca.pem"))
    return grpc.ssl_channel_credentials(
        root_certificates=read(certs, "ca.pem"),
        private_key=read(certs, "collector-key.pem"),
        certificate_chain=read(certs, "collector.pem"),
    )


def test_mutual_tls_admits_the_collector_and_refuses_everyone_else(
    receiver, sidecar_factory, certs, other_ca
):
    sidecar = sidecar_factory(receiver.endpoint, **tls_settings(certs))
    assert sidecar.tls
    payload = traces().SerializeToString()

    call, channel = client(sidecar, collector_credentials(certs))
    call(payload, timeout=5)
    channel.close()
    assert len(receiver.received) == 1

    for name, credentials in (
        ("plaintext", None),
        ("TLS without a client certificate", collector_credentials(certs, with_client_cert=False)),
        ("a certificate from another CA", collector_credentials(other_ca)),
    ):
        call, channel = client(sidecar, credentials)
        with pytest.raises(grpc.RpcError) as err:
            call(payload, timeout=5)
        channel.close()
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE, name
    assert len(receiver.received) == 1


def tls_receiver(certs: Path) -> RecordingReceiver:
    credentials = grpc.ssl_server_credentials(
        [(read(certs, "collector-key.pem"), read(certs, "collector.pem"))],
        root_certificates=read(certs, "ca.pem"),
        require_client_auth=True,
    )
    return RecordingReceiver(credentials=credentials).start()


def test_forwards_over_mutual_tls_to_a_verified_return_receiver(sidecar_factory, certs):
    receiver = tls_receiver(certs)
    try:
        sidecar = sidecar_factory(
            receiver.endpoint, **tls_settings(certs, return_tls_ca_file=str(certs / "ca.pem"))
        )
        call, channel = client(sidecar, collector_credentials(certs))
        payload = traces().SerializeToString()
        call(payload, timeout=5)
        channel.close()
        assert receiver.received == [(Signal.TRACES, payload)]
    finally:
        receiver.stop()


def test_a_return_receiver_the_ca_does_not_vouch_for_gets_nothing(sidecar_factory, certs, other_ca):
    receiver = tls_receiver(other_ca)  # an impostor on the return port
    try:
        settings = tls_settings(certs, return_tls_ca_file=str(certs / "ca.pem"), forward_timeout=2.0)
        sidecar = sidecar_factory(receiver.endpoint, **settings)
        call, channel = client(sidecar, collector_credentials(certs))
        with pytest.raises(grpc.RpcError) as err:
            call(traces().SerializeToString(), timeout=10)
        channel.close()
        assert err.value.code() is grpc.StatusCode.UNAVAILABLE
        assert receiver.received == []
    finally:
        receiver.stop()


@pytest.mark.parametrize(
    "settings,message",
    [
        (
            {"tls_cert_file": "/nonexistent/sidecar.pem", "tls_key_file": "/nonexistent/key.pem"},
            "/nonexistent/",
        ),
        ({"tls_cert_file": "cert-without-key.pem"}, "go together"),
        ({"tls_client_ca_file": "ca.pem"}, "needs the sidecar's own certificate"),
    ],
)
def test_incomplete_or_unreadable_tls_settings_are_clear_errors(settings, message):
    with pytest.raises(ValueError, match=message):
        server_credentials(SidecarSettings(**settings))
