"""TLS and mutual TLS for the sidecar's two connections, from PEM files.

- Serving: ``VIGIL_SIDECAR_TLS_CERT_FILE`` and ``VIGIL_SIDECAR_TLS_KEY_FILE`` switch the OTLP port
  to TLS; ``VIGIL_SIDECAR_TLS_CLIENT_CA_FILE`` also requires a client certificate signed by that CA.
- Forwarding: ``VIGIL_SIDECAR_RETURN_TLS_CA_FILE`` switches the forward to TLS, verifying the return
  receiver against that CA, and presents the sidecar's own certificate if the receiver asks.

Without them both connections are plaintext, which is meant for loopback only. A file that cannot
be read, or a key without its certificate, stops the sidecar at start with a clear error.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from vigil.processors.settings import SidecarSettings


def _read(path: str | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path!r}: {exc.strerror}") from None


def _key_pair(settings: SidecarSettings) -> tuple[bytes, bytes] | None:
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        raise ValueError("VIGIL_SIDECAR_TLS_CERT_FILE and VIGIL_SIDECAR_TLS_KEY_FILE go together")
    key = _read(settings.tls_key_file, "TLS key")
    cert = _read(settings.tls_cert_file, "TLS certificate")
    return (key, cert) if key is not None and cert is not None else None


def server_credentials(settings: SidecarSettings) -> grpc.ServerCredentials | None:
    """Credentials for the OTLP port, or None for plaintext."""
    pair = _key_pair(settings)
    if pair is None:
        if settings.tls_client_ca_file is not None:
            raise ValueError("VIGIL_SIDECAR_TLS_CLIENT_CA_FILE needs the sidecar's own certificate and key")
        return None
    client_ca = _read(settings.tls_client_ca_file, "client CA")
    return grpc.ssl_server_credentials(
        [pair], root_certificates=client_ca, require_client_auth=client_ca is not None
    )


def forward_credentials(settings: SidecarSettings) -> grpc.ChannelCredentials | None:
    """Credentials for the connection to the return receiver, or None for plaintext."""
    ca = _read(settings.return_tls_ca_file, "return endpoint CA")
    if ca is None:
        return None
    pair = _key_pair(settings)
    if pair is None:
        return grpc.ssl_channel_credentials(root_certificates=ca)
    return grpc.ssl_channel_credentials(root_certificates=ca, private_key=pair[0], certificate_chain=pair[1])
